"""The chart's shape on one machine: two service processes on one PostgreSQL event store,
a relay and two projection workers on a real Kafka broker. Clients hit both services at
once; nothing is spent twice, the projections converge, and the audit is clean."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from projections.store import ProjectionStore
from registry.audit.auditor import Auditor
from registry.audit.sources import KafkaSource
from registry.client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.signing import SigningKey
from tests.conftest import ROOT
from tests.e2e.grpc_world import build_grpc_world, issue
from tests.helpers import AKISHIMA, IWAIZUMI, MUSASHINO


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
