"""Large histories for the benchmarks, generated once and kept as export files.

Generated on a simulated clock, a tenth of a second per command, so that a million commands
span a day: command ids expire and are forgotten as they would be in service, which is what
lets the audit's memory stay flat. (A batch of a thousand commands spans 100 s, well inside
a command's ten-minute lifetime.) The file name carries a digest of the schemas, so a
schema change regenerates instead of replaying stale bytes."""

from __future__ import annotations

import hashlib
import itertools
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from registry.audit.export import export_metadata, write_export
from registry.audit.sources import DatabaseSource, ExportSource
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import OpenedEnvelope
from registry.write.application import RegistryApplication
from schemas import SCHEMA_DIRECTORY
from tests.support.helpers import build_world
from tests.support.history import random_history

CACHE_DIRECTORY = Path.home() / ".cache" / "credit-registry" / "bench"
SIMULATED_STEP_US = 100_000
GENERATION_CHUNK_COMMANDS = 20_000


@dataclass(frozen=True)
class History:
    export: Path
    registry_public_key: bytes
    envelopes: int
    generated_s: float | None  # None when it came from the cache

    @property
    def registry_public_keys(self) -> dict[str, bytes]:
        return {SigningKey.key_id_of(self.registry_public_key): self.registry_public_key}


class SimulatedClock:
    def __init__(self) -> None:
        # Starts at the real time: the world's parties are registered with real clocks.
        self.now_us = time.time_ns() // 1_000

    def tick(self) -> int:
        self.now_us += SIMULATED_STEP_US
        return self.now_us

    def read(self) -> int:
        return self.now_us


def schema_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(SCHEMA_DIRECTORY.rglob("*.avsc")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def history(envelopes: int, seed: int = 1) -> History:
    """An export of at least `envelopes` envelopes, from the cache when it is there."""
    CACHE_DIRECTORY.mkdir(parents=True, exist_ok=True)
    stem = CACHE_DIRECTORY / f"history-{envelopes}-seed{seed}-{schema_digest()}"
    export, key_file = stem.with_suffix(".avro"), stem.with_suffix(".key")
    if export.exists() and key_file.exists():
        public_key = bytes.fromhex(key_file.read_text().strip())
        # The count is in the file's header; opening an ExportSource would read it all.
        total = int(export_metadata(export)["envelopes"])
        return History(export, public_key, total, None)
    started_s = time.perf_counter()
    clock = SimulatedClock()
    key = SigningKey.generate()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as directory:
        url = f"sqlite:///{directory}/registry.sqlite?timeout=30"
        app = RegistryApplication(url, key, clock_us=clock.read)
        world = build_world(app)
        while app.ledger.position < envelopes:
            # Refused commands record nothing, so top up until the count is reached.
            wanted = min(GENERATION_CHUNK_COMMANDS, envelopes - app.ledger.position)
            random_history(world, wanted, seed=seed, batch_size=1_000, clock_us=clock.tick)
            seed += 1_000
            print(f"  generated {app.ledger.position:,} envelopes", flush=True)
        app.record_checkpoint()
        source = DatabaseSource(url)
        partial = export.with_suffix(".partial")
        write_export(
            partial,
            ((item.body.position, item.sealed_bytes) for item in _envelopes(source)),
            source.checkpoints,
            {"envelopes": str(source.total)},
        )
        partial.rename(export)
        key_file.write_text(key.public_key.hex() + "\n")
        total = source.total or 0
    return History(export, key.public_key, total, time.perf_counter() - started_s)


def _envelopes(source: DatabaseSource | ExportSource) -> Iterator[OpenedEnvelope]:
    for item in source.items():
        assert isinstance(item, OpenedEnvelope), item
        yield item


def prefix(full: History, envelopes: int) -> History:
    """The first `envelopes` envelopes of a history, with the checkpoints that fall inside."""
    target = full.export.with_name(full.export.stem + f"-first{envelopes}.avro")
    if not target.exists():
        source = ExportSource(full.export)
        partial = target.with_suffix(".partial")
        write_export(
            partial,
            (
                (item.body.position, item.sealed_bytes)
                for item in itertools.takewhile(
                    lambda item: item.body.position <= envelopes, _envelopes(source)
                )
            ),
            [c for c in source.checkpoints if c.tree_size <= envelopes],
            {"envelopes": str(envelopes)},
        )
        partial.rename(target)
    return History(target, full.registry_public_key, envelopes, None)
