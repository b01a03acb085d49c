"""The export file: an Avro object container an auditor can take away. It holds every
sealed envelope, byte for byte, in position order, and the signed checkpoints after the
envelope at their tree size. Written and read as a stream."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import fastavro

from registry.transparency.checkpoints import Checkpoint

EXPORT_SCHEMA = fastavro.parse_schema(
    {
        "type": "record",
        "name": "ExportRecord",
        "namespace": "credit_registry.v1.export",
        "doc": "One envelope (data = the sealed envelope bytes) or one checkpoint (data = its JSON).",
        "fields": [
            {
                "name": "kind",
                "type": {"type": "enum", "name": "Kind", "symbols": ["ENVELOPE", "CHECKPOINT"]},
            },
            {
                "name": "position",
                "type": "long",
                "doc": "Envelope position, or the checkpoint's tree size.",
            },
            {"name": "data", "type": "bytes"},
        ],
    }
)


@dataclass(frozen=True, slots=True)
class ExportRecord:
    kind: str
    position: int
    data: bytes


def _records(
    envelopes: Iterable[tuple[int, bytes]], checkpoints: Iterable[Checkpoint]
) -> Iterator[dict[str, object]]:
    pending = sorted(checkpoints, key=lambda c: c.tree_size)
    index = 0
    for position, sealed in envelopes:
        yield {"kind": "ENVELOPE", "position": position, "data": sealed}
        while index < len(pending) and pending[index].tree_size <= position:
            checkpoint = pending[index]
            yield {
                "kind": "CHECKPOINT",
                "position": checkpoint.tree_size,
                "data": json.dumps(checkpoint.to_json()).encode(),
            }
            index += 1


def write_export(
    path: Path,
    envelopes: Iterable[tuple[int, bytes]],
    checkpoints: Iterable[Checkpoint],
    metadata: dict[str, str],
) -> None:
    with path.open("wb") as file:
        fastavro.writer(
            file,
            EXPORT_SCHEMA,
            _records(envelopes, checkpoints),
            codec="deflate",
            metadata={f"credit_registry.{key}": value for key, value in metadata.items()},
            sync_interval=1 << 20,
        )


def read_export(path: Path) -> Iterator[ExportRecord]:
    with path.open("rb") as file:
        for record in fastavro.reader(file):
            if not isinstance(record, dict):
                raise ValueError(f"{path}: not an export record")
            yield ExportRecord(record["kind"], record["position"], record["data"])


def export_metadata(path: Path) -> dict[str, str]:
    with path.open("rb") as file:
        reader = fastavro.reader(file)
        return {
            key.removeprefix("credit_registry."): value
            for key, value in reader.metadata.items()
            if key.startswith("credit_registry.")
        }
