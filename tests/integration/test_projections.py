"""Projections built from the stream must equal the write side, and must be the same rows
however they were built: one worker or several, clean or after a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy

from projections import queries
from projections.runner import catch_up_embedded, catch_up_kafka, kafka_head_position
from projections.store import ProjectionStore
from registry.domain.ledger import Ledger
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import KafkaPublisher
from registry.relay import Relay, RelayPositions, event_store_recorder
from tests.conftest import ROOT
from tests.helpers import World
from tests.history import MEMBERS, random_history


def assert_matches_write_side(store: ProjectionStore, ledger: Ledger) -> None:
    with store.engine.connect() as connection:
        for party_id in (*MEMBERS, *ledger.parties):
            balance = queries.balance(connection, party_id)
            assert balance.tradable_kg == ledger.tradable_kg(party_id), party_id
            expected = [
                (b.batch_id, b.serial_start, b.serial_end) for b in ledger.holdings_of(party_id)
            ]
            assert [
                (h.batch_id, h.serial_start, h.serial_end)
                for h in queries.holdings(connection, party_id)
            ] == expected
        for batch_id, supply in ledger.supply.items():
            view = queries.batch(connection, batch_id)
            assert view is not None
            counted = (
                view.issued_kg,
                view.tradable_kg,
                view.pending_kg,
                view.retired_kg,
                view.cancelled_kg,
            )
            assert counted == (
                supply.issued_kg,
                supply.tradable_kg,
                supply.pending_kg,
                supply.retired_kg,
                supply.cancelled_kg,
            )
        retired_kg = sum(r.quantity_kg for r in queries.retirements(connection, limit=1_000_000))
        assert retired_kg == sum(s.retired_kg for s in ledger.supply.values())


def relay_to_embedded(url: str) -> EmbeddedLog:
    engine = sqlalchemy.create_engine(url)
    log = EmbeddedLog(engine)
    Relay(event_store_recorder(url), log, RelayPositions(engine), "embedded").run(
        threading.Event(), exit_when_caught_up=True
    )
    return log


def test_projected_balances_equal_the_write_side(world: World, sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    accepted = random_history(world, 3_000)
    assert accepted > 2_000  # a history of thousands of accepted events
    log = relay_to_embedded(sqlite_url)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert catch_up_embedded(store, log, batch_envelopes=333) == world.app.ledger.position
    assert_matches_write_side(store, world.app.ledger)
    assert catch_up_embedded(store, log) == 0  # idempotent: nothing new, nothing twice
    with store.engine.connect() as connection:
        rows, totals = queries.allocation(connection)
    assert len(rows) == 62
    labels = [
        "wards",
        "cities",
        "towns and villages",
        "total",
        "project's own events",
        "all offsets",
    ]
    assert [s.label for s in totals] == labels
    assert [s.members for s in totals] == [23, 26, 13, 62, 0, 62]
    by_label = {s.label: s for s in totals}
    assert by_label["total"].offset_kg == sum(s.offset_kg for s in totals[:3]) > 0


def publish(world: World, sqlite_url: str, bootstrap: str, topic: str) -> int:
    engine = sqlalchemy.create_engine(sqlite_url)
    relay = Relay(
        event_store_recorder(sqlite_url),
        KafkaPublisher(bootstrap, topic),
        RelayPositions(engine),
        "kafka",
        batch_events=1_000,
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    return world.app.ledger.position


def worker(projection_url: str, bootstrap: str, topic: str, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "registry.cli",
        "projections",
        "run",
        "--projection-url",
        projection_url,
        "--kafka",
        bootstrap,
        "--topic",
        topic,
        "--group",
        "group-" + topic,
        *extra,
    ]
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)


def wait_until_applied(store: ProjectionStore, head: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while store.applied_count() < head:
        assert time.monotonic() < deadline, f"stuck at {store.applied_count()} of {head}"
        time.sleep(0.3)


@pytest.mark.kafka
@pytest.mark.postgres
def test_several_workers_build_the_same_tables_as_one(
    world: World,
    sqlite_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
    postgres_url: str,
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    random_history(world, 2_500, seed=11)
    head = publish(world, sqlite_url, kafka_bootstrap, kafka_topic)
    assert kafka_head_position(kafka_bootstrap, kafka_topic) == head

    single = ProjectionStore(f"sqlite:///{tmp_path / 'single.sqlite'}")
    assert catch_up_kafka(single, kafka_bootstrap, kafka_topic) == head
    assert_matches_write_side(single, world.app.ledger)

    group_store = ProjectionStore(
        postgres_url
    )  # three processes writing into one PostgreSQL database
    workers = [worker(postgres_url, kafka_bootstrap, kafka_topic) for _ in range(3)]
    try:
        wait_until_applied(group_store, head)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=60)
    assert group_store.dump() == single.dump()
    progress = group_store.progress("kafka:" + kafka_topic)
    assert sum(p.events_applied for p in progress.values()) == head
    assert len(progress) == 3


@pytest.mark.kafka
def test_worker_killed_mid_batch_ends_identical_to_a_clean_rebuild(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    random_history(world, 2_000, seed=5)
    head = publish(world, sqlite_url, kafka_bootstrap, kafka_topic)
    url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    victim = worker(url, kafka_bootstrap, kafka_topic, "--pause-before-commit-ms", "60000")
    assert victim.stderr is not None
    deadline = time.monotonic() + 120
    while "pausing before commit" not in victim.stderr.readline():
        assert victim.poll() is None and time.monotonic() < deadline
    victim.send_signal(signal.SIGKILL)  # rows written, transaction open: killed right there
    victim.wait(timeout=30)
    store = ProjectionStore(url)
    assert store.applied_count() == 0  # the open transaction died with the process

    restarted = worker(url, kafka_bootstrap, kafka_topic)
    try:
        wait_until_applied(store, head)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
    rebuilt = ProjectionStore(f"sqlite:///{tmp_path / 'rebuilt.sqlite'}")
    catch_up_kafka(rebuilt, kafka_bootstrap, kafka_topic)
    assert store.dump() == rebuilt.dump()
    assert_matches_write_side(store, world.app.ledger)
