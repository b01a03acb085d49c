"""The fault suite's own Kafka broker. Stopping a broker under load must not disturb the
shared one other tests use, so the broker drill gets a separate single-node broker from
scripts/kafka.sh on its own ports and data directory, thrown away afterwards. A broker that
cannot start fails the drill (never skips it)."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from registry.log.kafka import TopicSettings, ensure_topics
from tests.conftest import ROOT

FAULT_KAFKA_PORT = 19092
FAULT_KAFKA_CONTROLLER_PORT = 19093
FAULT_KAFKA_DATA_DIR = "/tmp/credit-registry-fault-kafka"
BROKER_SCRIPT_TIMEOUT_S = 150.0  # the script bounds its own waits (60 s start, 30 s stop)


@dataclass(frozen=True)
class FaultBroker:
    bootstrap: str
    environment: dict[str, str]

    def run(self, action: str) -> None:
        """`start` waits until the broker serves requests; `stop` until it has exited."""
        subprocess.run(
            ["bash", str(ROOT / "scripts/kafka.sh"), action],
            check=True,
            env=self.environment,
            stdout=subprocess.DEVNULL,
            timeout=BROKER_SCRIPT_TIMEOUT_S,
        )


@pytest.fixture
def fault_broker() -> Iterator[FaultBroker]:
    environment = dict(
        os.environ,
        KAFKA_PORT=str(FAULT_KAFKA_PORT),
        KAFKA_CONTROLLER_PORT=str(FAULT_KAFKA_CONTROLLER_PORT),
        KAFKA_DATA_DIR=FAULT_KAFKA_DATA_DIR,
    )
    broker = FaultBroker(f"127.0.0.1:{FAULT_KAFKA_PORT}", environment)
    broker.run("reset")  # a clean data directory: nothing left from an earlier run
    broker.run("start")
    try:
        yield broker
    finally:
        broker.run("reset")  # stops the broker and deletes its data


@pytest.fixture
def fault_broker_topic(fault_broker: FaultBroker) -> str:
    name = "fault-envelopes-" + uuid.uuid4().hex[:10]
    ensure_topics(fault_broker.bootstrap, TopicSettings(topic=name, partitions=3))
    return name
