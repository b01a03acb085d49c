"""The chart's shape on one machine: two service processes on one PostgreSQL event store,
a relay and two projection workers on a real Kafka broker. Clients hit both services at
once; nothing is spent twice, the projections converge, and the audit is clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from projections.store import ProjectionStore
from registry.audit.auditor import Auditor
from registry.audit.sources import KafkaSource
from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.write.application import RegistryApplication
from tests.conftest import ROOT
from tests.e2e.grpc_world import build_grpc_world, issue
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, build_world
from tests.support.kubelet import http_check
from tests.support.processes import ManagedProcess, free_port

SCRAPE_TIMEOUT_S = 5.0
SCRAPE_INTERVAL_S = 0.05  # well under the relay's pause per batch, so a lag above 0 is seen
WORKER_SCRAPE_INTERVAL_S = 0.5  # the worker measures its lag every few seconds
CONVERGE_TIMEOUT_S = 120.0
RELAY_PAUSE_PER_BATCH_MS = 300
READY_TIMEOUT_S = 15.0  # the worker tells it at its next lag check, every 5 s


def _serve(
    cli: list[str], environment: dict[str, str], key_file: Path, projection_url: str
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            *cli,
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--registry-key",
            str(key_file),
            "--projection-url",
            projection_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=ROOT,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("serving kafka on port"), line
    return process, "127.0.0.1:" + line.split()[-1]


@pytest.mark.kafka
@pytest.mark.postgres
def test_two_services_one_relay_two_workers(
    tmp_path: Path, postgres_url: str, kafka_topic: str, kafka_bootstrap: str
) -> None:
    registry_key = SigningKey.generate()
    key_file = tmp_path / "registry.key"
    registry_key.save(key_file, b"registry pass")
    environment = dict(
        os.environ,
        CREDIT_REGISTRY_REGISTRY_PASSPHRASE="registry pass",
        # As the chart sets it: the workers refuse to start without it.
        CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY=registry_key.public_key.hex(),
        CREDIT_REGISTRY_KAFKA=kafka_bootstrap,
        CREDIT_REGISTRY_TOPIC=kafka_topic,
        CREDIT_REGISTRY_DATABASE_URL=postgres_url,
        CREDIT_REGISTRY_LOG_FORMAT="json",
    )
    projection_url = (
        postgres_url  # read models beside the event store, as the chart's default secret suggests
    )
    cli = [sys.executable, "-m", "registry.cli", "--home", str(tmp_path)]
    processes: list[subprocess.Popen[str]] = []
    try:
        first, first_target = _serve(cli, environment, key_file, projection_url)
        second, second_target = _serve(cli, environment, key_file, projection_url)
        processes += [first, second]
        processes.append(
            subprocess.Popen(
                [*cli, "relay", "--database-url", postgres_url],
                env=environment,
                cwd=ROOT,
                text=True,
            )
        )
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [*cli, "projections", "run", "--projection-url", projection_url],
                    env=environment,
                    cwd=ROOT,
                    text=True,
                )
            )
        with RegistryClient(first_target, timeout_s=30) as setup:
            world = build_grpc_world(setup)
            issue(world, 1_000, IWAIZUMI)  # ten 100 kg transfers' worth
        signer = world.signer(IWAIZUMI)
        outcomes: list[str] = []
        positions: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(24)

        def spend(index: int) -> None:
            target = (first_target, second_target)[index % 2]
            with RegistryClient(target, timeout_s=60) as own:
                signed = signer.sign(
                    c.TransferCredits(IWAIZUMI, (AKISHIMA, MUSASHINO)[index % 2], 100)
                )
                start.wait()
                try:
                    positions.append(int(own.send(signed, "TransferCredits").position))
                    outcome = "accepted"
                except CommandRejected as rejection:
                    outcome = rejection.code.name if rejection.code else rejection.status.name
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=spend, args=(index,)) for index in range(24)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert outcomes.count("accepted") == 10, outcomes
        assert set(outcomes) == {"accepted", "INSUFFICIENT_HOLDINGS"}

        head = max(positions)
        store = ProjectionStore(projection_url)
        deadline = time.monotonic() + 120
        while not store.has_applied_through(
            head
        ):  # relay -> Kafka -> two workers -> shared read models
            assert time.monotonic() < deadline, f"projections at {store.applied_count()} of {head}"
            time.sleep(0.5)
        with RegistryClient(first_target, timeout_s=30) as reader:
            akishima, musashino, iwaizumi = (
                reader.balance(p).tradable_kg for p in (AKISHIMA, MUSASHINO, IWAIZUMI)
            )
        assert (akishima + musashino, iwaizumi) == (1_000, 0)
        report = Auditor(
            {registry_key.key_id: registry_key.public_key},
            workers=2,
            progress=False,
            compare_projection_url=projection_url,
        ).run(KafkaSource(kafka_bootstrap, kafka_topic))
        assert report.clean, report.discrepancies[:3]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)


def becomes_ready(port: int) -> bool:
    """/readyz answers 200 (docs/probes.md) within READY_TIMEOUT_S, and /livez still does."""
    ready = http_check(f"http://127.0.0.1:{port}/readyz")
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready(SCRAPE_TIMEOUT_S):
        if time.monotonic() > deadline:
            return False
        time.sleep(SCRAPE_INTERVAL_S)
    return http_check(f"http://127.0.0.1:{port}/livez")(SCRAPE_TIMEOUT_S)


def scraped_value(port: int, sample_name: str, labels: dict[str, str]) -> float | None:
    """One sample from a process's /metrics over HTTP; None until it listens and has it."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT_S
        ) as response:
            text = response.read().decode()
    except OSError:  # not listening yet
        return None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and sample.labels == labels:
                return float(sample.value)
    return None


def json_log_entry(line: str) -> dict[str, str]:
    """A CREDIT_REGISTRY_LOG_FORMAT=json line: one object with time, level, logger, message."""
    entry = json.loads(line)
    assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= entry.keys(), line
    datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S")
    return entry


@pytest.mark.kafka
@pytest.mark.postgres
def test_relay_and_worker_serve_their_lag_over_http_and_log_json(
    tmp_path: Path, postgres_url: str, kafka_topic: str, kafka_bootstrap: str
) -> None:
    """What the chart's ServiceMonitor scrapes from the relay and projection pods: each
    process, started as the chart starts it with CREDIT_REGISTRY_METRICS_PORT, serves its
    lag gauge, and the values follow the work actually done; once caught up, each answers
    the chart's readiness probe."""
    registry_key = SigningKey.generate()
    world = build_world(RegistryApplication(postgres_url, registry_key))
    world.issue(1_000, IWAIZUMI)
    for index in range(4):
        world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, (AKISHIMA, MUSASHINO)[index % 2], 100))
    head = world.app.ledger.position
    relay_port, worker_port = free_port(), free_port()
    while worker_port == relay_port:
        worker_port = free_port()
    environment = dict(
        os.environ,
        CREDIT_REGISTRY_KAFKA=kafka_bootstrap,
        CREDIT_REGISTRY_TOPIC=kafka_topic,
        CREDIT_REGISTRY_DATABASE_URL=postgres_url,
        CREDIT_REGISTRY_PROJECTION_GROUP="group-" + kafka_topic,
        CREDIT_REGISTRY_LOG_FORMAT="json",
        CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY=registry_key.public_key.hex(),
    )
    cli = [sys.executable, "-m", "registry.cli", "--home", str(tmp_path)]
    log_path = tmp_path / "processes.log"
    started: list[ManagedProcess] = []
    try:
        worker = ManagedProcess(
            "worker",
            [*cli, "projections", "run", "--projection-url", postgres_url],
            dict(environment, CREDIT_REGISTRY_METRICS_PORT=str(worker_port)),
            log_path,
        )
        started.append(worker)
        # One envelope a batch with a pause before each commit: the relay is behind for a
        # few seconds, long enough to scrape a lag above zero before it reaches zero.
        relay = ManagedProcess(
            "relay",
            [
                *cli,
                "relay",
                "--database-url",
                postgres_url,
                "--batch-events",
                "1",
                "--pause-before-commit-ms",
                str(RELAY_PAUSE_PER_BATCH_MS),
            ],
            dict(environment, CREDIT_REGISTRY_METRICS_PORT=str(relay_port)),
            log_path,
        )
        started.append(relay)

        relay_labels = {"relay": "kafka:" + kafka_topic}
        relay_lags: list[float] = []
        deadline = time.monotonic() + CONVERGE_TIMEOUT_S
        while not relay_lags or relay_lags[-1] != 0:
            assert relay.process.poll() is None, f"relay exited; see {log_path}"
            assert time.monotonic() < deadline, f"relay lag {relay_lags[-5:]}; see {log_path}"
            lag = scraped_value(relay_port, "credit_registry_relay_lag_positions", relay_labels)
            if lag is not None:
                relay_lags.append(lag)
            time.sleep(SCRAPE_INTERVAL_S)
        # The first batch leaves head - 1 behind; the scrapes saw the relay catching up.
        assert 0 < max(relay_lags) <= head - 1, relay_lags
        assert relay_lags == sorted(relay_lags, reverse=True), relay_lags
        assert becomes_ready(relay_port), f"relay never ready; see {log_path}"

        source_labels = {"source": "kafka:" + kafka_topic}
        projected: float | None = None
        projection_lag: float | None = None
        while projected != head or projection_lag != 0:
            assert worker.process.poll() is None, f"worker exited; see {log_path}"
            assert time.monotonic() < deadline, (
                f"worker projected {projected} of {head}, lag {projection_lag}; see {log_path}"
            )
            projected = scraped_value(
                worker_port, "credit_registry_projected_envelopes_total", source_labels
            )
            projection_lag = scraped_value(
                worker_port, "credit_registry_projection_lag_positions", source_labels
            )
            time.sleep(WORKER_SCRAPE_INTERVAL_S)
        assert becomes_ready(worker_port), f"worker never ready; see {log_path}"

        assigned = json_log_entry(worker.wait_for_line("assigned partitions", 10))
        assert (assigned["level"], assigned["logger"]) == ("INFO", "projections.runner")
        # The first assignment of a fresh group may be empty, before the rebalance settles.
        assert assigned["message"].startswith("assigned partitions ["), assigned
        paused = json_log_entry(relay.wait_for_line("pausing before commit", 10))
        assert (paused["level"], paused["logger"]) == ("WARNING", "registry.relay.publishing")
        assert paused["message"] == "sent positions 1..1, pausing before commit"
    finally:
        for process in started:
            process.stop()
