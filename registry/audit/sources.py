"""Where an audit reads history from: an export file, a Kafka topic (with its checkpoints
topic), or the event store database. Each yields envelopes in order, or a `Broken` marker
for a record that cannot even be opened, and gives the checkpoints and the witnesses'
records (the witness topic, or the embedded witness log; an export carries none)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy
from kafka import KafkaConsumer, TopicPartition

from registry.audit.export import export_metadata, read_export, write_export
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope, open_sealed
from registry.log import GapError
from registry.log.handovers import parse_side_record
from registry.log.kafka import CHECKPOINTS_SUFFIX, WITNESS_SUFFIX, KafkaLogReader
from registry.transparency.checkpoints import Checkpoint, CheckpointStore
from registry.transparency.witnessing import (
    EmbeddedWitnessLog,
    WitnessRecord,
    parse_witness_record,
)
from registry.write.persistence import CHAIN_ID, event_store_recorder

PAGE_EVENTS = 2_000


@dataclass(frozen=True)
class Broken:
    position: int
    reason: str


Item = OpenedEnvelope | Broken


@dataclass
class Source:
    description: str
    total: int | None = None  # for the progress bar, when known up front
    checkpoints: list[Checkpoint] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    witness_records: list[WitnessRecord] = field(default_factory=list)

    def items(self) -> Iterator[Item]:
        raise NotImplementedError


class ExportSource(Source):
    def __init__(self, path: Path) -> None:
        metadata = export_metadata(path)
        super().__init__(
            f"export {path}", int(metadata["envelopes"]) if "envelopes" in metadata else None
        )
        self.path = path
        self.schemas = SchemaRegistry()
        self.checkpoints = [
            Checkpoint.from_json(json.loads(r.data))
            for r in read_export(path)
            if r.kind == "CHECKPOINT"
        ]

    def items(self) -> Iterator[Item]:
        for record in read_export(self.path):
            if record.kind != "ENVELOPE":
                continue
            try:
                yield open_sealed(self.schemas, record.data)
            except EnvelopeError as error:
                yield Broken(record.position, error.reason)


class DatabaseSource(Source):
    def __init__(self, database_url: str) -> None:
        self.recorder = event_store_recorder(database_url)
        latest = self.recorder.select_events(CHAIN_ID, desc=True, limit=1)
        engine = sqlalchemy.create_engine(database_url)
        store = CheckpointStore(engine)
        super().__init__(
            "event store database", latest[0].originator_version if latest else 0, store.all()
        )
        self.schemas = SchemaRegistry()
        self.witness_records = _parsed(value for _, value in _all_records(engine))

    def items(self) -> Iterator[Item]:
        position = 0
        while True:
            page = self.recorder.select_events(CHAIN_ID, gt=position, limit=PAGE_EVENTS)
            for stored in page:
                try:
                    yield open_sealed(self.schemas, stored.state)
                except EnvelopeError as error:
                    yield Broken(stored.originator_version, error.reason)
            if len(page) < PAGE_EVENTS:
                return
            position = page[-1].originator_version


class KafkaSource(Source):
    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        from projections.runner import kafka_head_position

        super().__init__(
            f"kafka {bootstrap_servers} topic {topic}",
            kafka_head_position(bootstrap_servers, topic),
            read_checkpoint_topic(bootstrap_servers, topic + CHECKPOINTS_SUFFIX),
        )
        # No keys for the reader: the audit checks every countersignature itself, in parallel.
        self.reader = KafkaLogReader(bootstrap_servers, topic, quarantine=False)
        self.witness_records = _parsed(read_topic_values(bootstrap_servers, topic + WITNESS_SUFFIX))

    def items(self) -> Iterator[Item]:
        try:
            yield from self.reader.read()
        except GapError as gap:
            yield Broken(gap.position, "missing from the topic")
        for quarantined in self.reader.quarantined:
            yield Broken(
                quarantined.position or 0,
                f"unreadable record at {quarantined.where}: {quarantined.reason}",
            )
        if self.reader.duplicates_dropped:
            self.notes.append(
                f"{self.reader.duplicates_dropped} re-sent duplicate records dropped (identical bytes)"
            )


def read_checkpoint_topic(bootstrap_servers: str, topic: str) -> list[Checkpoint]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        found: list[
            Checkpoint
        ] = []  # all of them: two different checkpoints of one size is itself a finding
        while any(consumer.position(p) < end[p] for p in partitions):
            for messages in consumer.poll(timeout_ms=500).values():
                for message in messages:
                    # Handovers share the topic; the audit follows them from the chain itself.
                    record = parse_side_record(message.value)
                    if isinstance(record, Checkpoint):
                        found.append(record)
        return sorted(found, key=lambda checkpoint: checkpoint.tree_size)
    finally:
        consumer.close()


def _all_records(engine: sqlalchemy.Engine) -> Iterator[tuple[int, bytes]]:
    log, after = EmbeddedWitnessLog(engine), 0
    while page := log.read(after):
        yield from page
        after = page[-1][0]


def _parsed(values: Iterable[bytes]) -> list[WitnessRecord]:
    """Readable witness records; the rest are skipped (anyone may write junk to a topic)."""
    found = []
    for value in values:
        try:
            found.append(parse_witness_record(value))
        except (ValueError, KeyError, TypeError):
            continue
    return found


def read_topic_values(bootstrap_servers: str, topic: str) -> list[bytes]:
    """Every record's value on a small topic, up to its end now ([] without the topic)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        values: list[bytes] = []
        while any(consumer.position(p) < end[p] for p in partitions):
            for messages in consumer.poll(timeout_ms=500).values():
                values.extend(message.value for message in messages)
        return values
    finally:
        consumer.close()


def export(source: Source, path: Path) -> int:
    """Write `source` to an export file; refuses a broken source. Returns the envelope count."""
    count = 0

    def envelopes() -> Iterator[tuple[int, bytes]]:
        nonlocal count
        for item in source.items():
            if isinstance(item, Broken):
                raise ValueError(f"the source is broken at position {item.position}: {item.reason}")
            count += 1
            yield item.body.position, item.sealed_bytes

    write_export(
        path,
        envelopes(),
        source.checkpoints,
        {"source": source.description, "envelopes": str(source.total or 0)},
    )
    return count
