"""The nightly audit runs against live read models while commands keep arriving: it must say
CLEAN then, and still find one altered row. Commands are submitted, relayed and projected
continuously in threads; the audit is the chart's CronJob command, run as its own process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from projections.runner import catch_up_embedded, run_group_worker
from projections.store import ProjectionStore
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.log import Publisher
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.write.application import RegistryApplication
from registry.write.persistence import event_store_recorder
from tests.conftest import ROOT
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, World, build_world

CRONJOB = ROOT / "deploy/helm/credit-registry/templates/cronjob-audit.yaml"
LOAD_BATCH_COMMANDS = 5


def cronjob_command() -> str:
    """The shell command of the audit CronJob, exactly as the chart runs it."""
    found = re.search(r'command: \["sh", "-c", "(.*)"\]\n', CRONJOB.read_text(encoding="utf-8"))
    assert found, "the CronJob's command line"
    return found.group(1).replace('\\"', '"')


def run_audit(command: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", "-c", command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={
            **os.environ,
            **environment,
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        },
    )


class Load:
    """Transfers of a kilogram or two, a few at a time, until stopped."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="load", daemon=True)

    def _run(self) -> None:
        signer = self.world.signer(IWAIZUMI)
        number = 0
        while not self.stop.is_set():
            batch = [
                signer.sign(c.TransferCredits(IWAIZUMI, (AKISHIMA, MUSASHINO)[n % 2], 1 + n % 2))
                for n in range(number, number + LOAD_BATCH_COMMANDS)
            ]
            number += LOAD_BATCH_COMMANDS
            self.accepted += sum(r.accepted for r in self.world.app.submit_batch(batch))
            self.stop.wait(0.01)


@contextmanager
def running(*targets: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    stop = threading.Event()
    threads = [threading.Thread(target=target, args=(stop,), daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


def audits_clean_then_finds_an_altered_row(
    world: World,
    load: Load,
    command: str,
    environment: dict[str, str],
    live_url: str,
) -> None:
    while load.accepted < 50:  # the pipeline is flowing
        time.sleep(0.05)
    before = load.accepted
    clean = run_audit(command, environment)
    assert load.accepted > before, "the load kept running during the audit"
    assert clean.returncode == 0, clean.stdout + clean.stderr
    document = json.loads(clean.stdout)
    assert document["verdict"] == "CLEAN", document["discrepancies"][:3]
    assert any("live projections compared" in note for note in document["notes"])
    with sa.create_engine(live_url).begin() as connection:
        altered = connection.execute(
            sa.text("UPDATE balances SET tradable_kg = tradable_kg + 1 WHERE party_id = :party"),
            {"party": AKISHIMA},
        )
        assert altered.rowcount >= 1
    found = run_audit(command, environment)
    assert found.returncode == 1, found.stdout + found.stderr
    discrepancies = json.loads(found.stdout)["discrepancies"]
    assert [d["reason"].split(":")[0] for d in discrepancies] == [
        "live projection table balances differs"
    ]


def _world(sqlite_url: str, registry_key: SigningKey) -> World:
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    world.issue(10_000_000, IWAIZUMI)
    return world


def test_the_audit_cronjob_is_clean_under_load_and_finds_an_altered_row(
    sqlite_url: str, registry_key: SigningKey, tmp_path: Path
) -> None:
    world = _world(sqlite_url, registry_key)
    engine = sa.create_engine(sqlite_url)
    log = EmbeddedLog(engine)
    relay = Relay(event_store_recorder(sqlite_url), log, RelayPositions(engine), "embedded")
    live_url = f"sqlite:///{tmp_path / 'live-projections.sqlite'}"
    live = ProjectionStore(live_url)

    def relay_loop(stop: threading.Event) -> None:
        relay.run(stop, idle_ms=20)

    def projection_loop(stop: threading.Event) -> None:
        while not stop.is_set():
            catch_up_embedded(live, log, batch_envelopes=7)  # small batches: always moving
            stop.wait(0.02)

    # The chart reads the topic; this deployment's log is the event store itself.
    command = cronjob_command().replace(
        '--kafka "$CREDIT_REGISTRY_KAFKA"', '--database-url "$CREDIT_REGISTRY_DATABASE_URL"'
    )
    environment = {
        "CREDIT_REGISTRY_DATABASE_URL": sqlite_url,
        "CREDIT_REGISTRY_PROJECTION_URL": live_url,
        "CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY": registry_key.public_key.hex(),
    }
    load = Load(world)
    with running(relay_loop, projection_loop):
        load.thread.start()
        try:
            audits_clean_then_finds_an_altered_row(world, load, command, environment, live_url)
        finally:
            load.stop.set()
            load.thread.join(timeout=60)


@pytest.mark.kafka
def test_the_audit_cronjob_is_clean_under_load_on_kafka(
    sqlite_url: str,
    registry_key: SigningKey,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_topic: str,
) -> None:
    """The chart's deployment: relay to a three-partition topic, two projection workers of
    one consumer group applying partitions in any interleaving, the audit reading the topic."""
    from registry.log.kafka import KafkaPublisher

    world = _world(sqlite_url, registry_key)
    publisher: Publisher = KafkaPublisher(kafka_bootstrap, kafka_topic)
    engine = sa.create_engine(sqlite_url)
    relay = Relay(event_store_recorder(sqlite_url), publisher, RelayPositions(engine), "kafka")
    live_url = f"sqlite:///{tmp_path / 'live-projections.sqlite'}"
    live = ProjectionStore(live_url)

    def relay_loop(stop: threading.Event) -> None:
        relay.run(stop, idle_ms=20)

    def worker(stop: threading.Event) -> None:
        run_group_worker(live, kafka_bootstrap, kafka_topic, "audit-under-load", stop, workers=1)

    environment = {
        "CREDIT_REGISTRY_KAFKA": kafka_bootstrap,
        "CREDIT_REGISTRY_TOPIC": kafka_topic,
        "CREDIT_REGISTRY_PROJECTION_URL": live_url,
        "CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY": registry_key.public_key.hex(),
    }
    load = Load(world)
    with running(relay_loop, worker, worker):
        load.thread.start()
        try:
            audits_clean_then_finds_an_altered_row(
                world, load, cronjob_command(), environment, live_url
            )
        finally:
            load.stop.set()
            load.thread.join(timeout=60)
