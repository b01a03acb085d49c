"""The lag gauges never read 0 ("caught up") before the lag has been measured: a labelled
Prometheus gauge exists, at 0, from the moment labels() is called, so the value must be
read first. A scrape in that window would tell an alert that a stalled relay is fine."""

from __future__ import annotations

import threading
import uuid
from typing import Any, cast

import sqlalchemy
from kafka import TopicPartition
from prometheus_client import REGISTRY

from projections.runner import _report_lag
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.write.persistence import event_store_recorder
from tests.support.helpers import IWAIZUMI, World

END_OFFSET = 10
CONSUMED_OFFSET = 4


def test_the_relay_lag_gauge_has_no_value_until_the_first_lag_is_read(
    world: World, sqlite_url: str
) -> None:
    world.issue(1_000, IWAIZUMI)
    head = world.app.ledger.position
    engine = sqlalchemy.create_engine(sqlite_url)
    seen: list[float | None] = []  # the exported value each time the relay starts to measure

    class Probe(Relay):
        def lag(self) -> int:
            seen.append(
                REGISTRY.get_sample_value(
                    "credit_registry_relay_lag_positions", {"relay": self.relay_name}
                )
            )
            return super().lag()

    relay = Probe(
        event_store_recorder(sqlite_url),
        EmbeddedLog(engine),
        RelayPositions(engine),
        "probe-" + uuid.uuid4().hex[:8],  # a label no other test in this process has set
        batch_events=1,
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    # One batch a position, then the empty batch that finds it caught up.
    assert seen == [None, *(float(lag) for lag in range(head - 1, -1, -1))]


def test_the_projection_lag_gauge_has_no_value_until_the_offsets_are_read() -> None:
    source = "kafka:probe-" + uuid.uuid4().hex[:8]
    seen: list[float | None] = []

    class Consumer:
        def assignment(self) -> set[TopicPartition]:
            return {TopicPartition("probe", 0)}

        def end_offsets(
            self, partitions: list[TopicPartition], timeout_ms: int
        ) -> dict[TopicPartition, int]:
            seen.append(
                REGISTRY.get_sample_value(
                    "credit_registry_projection_lag_positions", {"source": source}
                )
            )
            return {partition: END_OFFSET for partition in partitions}

        def position(self, partition: TopicPartition) -> int:
            return CONSUMED_OFFSET

    _report_lag(cast(Any, Consumer()), source)
    assert seen == [None]
    assert REGISTRY.get_sample_value(
        "credit_registry_projection_lag_positions", {"source": source}
    ) == float(END_OFFSET - CONSUMED_OFFSET)
