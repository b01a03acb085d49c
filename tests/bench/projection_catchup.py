"""Benchmark: projection catch-up from Kafka, next to raw kafka-python consumption of the
same topic, measured in the same run. Not a test: it asserts nothing about time.

    .venv/bin/python -m tests.bench.projection_catchup --events 100000 [--projection-url URL]

Needs a running broker (scripts/kafka.sh start). Prints a table and writes JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
import uuid
from pathlib import Path

import sqlalchemy
from kafka import KafkaConsumer, TopicPartition

from projections.runner import catch_up_kafka
from projections.store import ProjectionStore
from registry.application import RegistryApplication
from registry.log.kafka import KafkaPublisher, TopicSettings, ensure_topics
from registry.relay import Relay, RelayPositions, event_store_recorder
from registry.signing import SigningKey
from tests.helpers import build_world
from tests.history import random_history


def raw_consume(bootstrap: str, topic: str) -> tuple[int, float]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=2_000,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    started = time.perf_counter()
    count = 0
    while any(consumer.position(p) < end[p] for p in partitions):
        for messages in consumer.poll(timeout_ms=500).values():
            count += len(messages)
    elapsed = time.perf_counter() - started
    consumer.close()
    return count, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument(
        "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--projection-url", help="default: a fresh SQLite file")
    parser.add_argument("--json", type=Path, default=Path("bench-projection-catchup.json"))
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        store_url = f"sqlite:///{directory}/registry.sqlite?timeout=30"
        started = time.perf_counter()
        world = build_world(RegistryApplication(store_url, SigningKey.generate()))
        seed = 1
        while (
            world.app.ledger.position < arguments.events
        ):  # refused commands record nothing: top up
            random_history(
                world,
                min(20_000, arguments.events - world.app.ledger.position + 100),
                seed=seed,
                batch_size=1_000,
            )
            seed += 1
        head = world.app.ledger.position
        generate_s = time.perf_counter() - started

        topic = "bench-" + uuid.uuid4().hex[:8]
        ensure_topics(arguments.kafka, TopicSettings(topic=topic))
        started = time.perf_counter()
        engine = sqlalchemy.create_engine(store_url)
        relay = Relay(
            event_store_recorder(store_url),
            KafkaPublisher(arguments.kafka, topic),
            RelayPositions(engine),
            "bench",
            2_000,
        )
        relay.run(threading.Event(), exit_when_caught_up=True)
        relay_s = time.perf_counter() - started

        raw_count, raw_s = raw_consume(arguments.kafka, topic)
        projection_url = arguments.projection_url or f"sqlite:///{directory}/projections.sqlite"
        store = ProjectionStore(projection_url)
        started = time.perf_counter()
        applied = catch_up_kafka(store, arguments.kafka, topic)
        projection_s = time.perf_counter() - started
        assert applied == head == raw_count, (applied, head, raw_count)

    results = {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "events": head,
        "history_generation_events_per_s": round(head / generate_s),
        "relay_events_per_s": round(head / relay_s),
        "raw_kafka_python_events_per_s": round(raw_count / raw_s),
        "projection_catch_up_events_per_s": round(applied / projection_s),
        "projection_database": projection_url.split(":")[0],
    }
    results["catch_up_ratio_to_raw"] = round(
        results["projection_catch_up_events_per_s"] / results["raw_kafka_python_events_per_s"], 3
    )
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    arguments.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
