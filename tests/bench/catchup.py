"""Section 3: projection catch-up from a real Kafka topic next to raw kafka-python
consumption of the same topic, in the same run."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from projections.runner import catch_up_kafka
from projections.store import ProjectionStore
from registry.audit.sources import ExportSource
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import OpenedEnvelope
from registry.log import record_for
from registry.log.kafka import KafkaPublisher, TopicSettings, ensure_topics
from tests.bench.generated import History
from tests.bench.report import Row

PUBLISH_BATCH_RECORDS = 2_000
POLL_TIMEOUT_MS = 500
EMPTY_POLLS_MAX = 120


def publish(history: History, bootstrap: str, topic: str) -> tuple[int, float]:
    schemas = SchemaRegistry()
    publisher = KafkaPublisher(bootstrap, topic)
    started_s = time.perf_counter()
    batch = []
    published = 0
    for item in ExportSource(history.export).items():
        assert isinstance(item, OpenedEnvelope)
        batch.append(record_for(schemas, item.sealed_bytes))
        if len(batch) >= PUBLISH_BATCH_RECORDS:
            publisher.publish(batch)
            published += len(batch)
            batch.clear()
    publisher.publish(batch)
    published += len(batch)
    elapsed_s = time.perf_counter() - started_s
    publisher.close()
    return published, elapsed_s


def raw_consume(bootstrap: str, topic: str) -> tuple[int, float]:
    """The floor: kafka-python fetching every record of the topic and doing nothing else."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=2_000,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    partitions = [
        TopicPartition(topic, number)
        for number in sorted(consumer.partitions_for_topic(topic) or ())
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end_offsets = consumer.end_offsets(partitions)
    started_s = time.perf_counter()
    count = 0
    empty_polls = 0
    while any(consumer.position(p) < end_offsets[p] for p in partitions):
        polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        empty_polls = 0 if polled else empty_polls + 1
        assert empty_polls < EMPTY_POLLS_MAX, "the topic stopped delivering"
        count += sum(len(messages) for messages in polled.values())
    elapsed_s = time.perf_counter() - started_s
    consumer.close()
    return count, elapsed_s


def run(history: History, bootstrap: str, scratch: Path) -> tuple[list[Row], dict[str, Any]]:
    topic = "bench-catchup-" + uuid.uuid4().hex[:8]
    ensure_topics(bootstrap, TopicSettings(topic=topic))
    published, publish_s = publish(history, bootstrap, topic)
    raw_count, raw_s = raw_consume(bootstrap, topic)
    per_s = {}
    # As a long catch-up runs (its writer in a process of its own), and all in one process.
    for name, writer_process in (("catch-up", True), ("one process", False)):
        store = ProjectionStore(f"sqlite:///{scratch / f'catchup-{writer_process}.sqlite'}")
        started_s = time.perf_counter()
        applied = catch_up_kafka(
            store, bootstrap, topic, history.registry_public_keys, writer_process=writer_process
        )
        per_s[name] = applied / (time.perf_counter() - started_s)
        if not applied == raw_count == published:
            raise AssertionError(f"applied {applied}, consumed {raw_count}, published {published}")
    raw_per_s = raw_count / raw_s
    label = f"{published:,} events"
    rows = [
        Row("3 catch-up", f"publish to Kafka, {label}", published / publish_s, "events/s"),
        Row("3 catch-up", "raw kafka-python consumption", raw_per_s, "events/s"),
        Row("3 catch-up", "projection catch-up (SQLite)", per_s["catch-up"], "events/s"),
        Row("3 catch-up", "ratio catch-up to raw", per_s["catch-up"] / raw_per_s, "x", ">= 0.3"),
        Row("3 catch-up", "catch-up in one process", per_s["one process"], "events/s"),
    ]
    return rows, {"topic": topic, "events": published}
