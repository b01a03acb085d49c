"""`serve --kafka`: the service, the relay and a projection worker as separate processes on
a real PostgreSQL database and a real Kafka broker; a client sees its own writes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from registry.client.grpc_client import RegistryClient
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from tests.conftest import ROOT
from tests.e2e.grpc_world import build_grpc_world, issue
from tests.support.helpers import AKISHIMA, IWAIZUMI, retirement


@pytest.mark.kafka
@pytest.mark.postgres
def test_service_relay_and_projection_worker_as_processes(
    tmp_path: Path, postgres_url: str, kafka_topic: str, kafka_bootstrap: str
) -> None:
    key_file = tmp_path / "registry.key"
    registry_key = SigningKey.generate()
    registry_key.save(key_file, b"registry pass")
    environment = dict(
        os.environ,
        CREDIT_REGISTRY_REGISTRY_PASSPHRASE="registry pass",
        CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY=registry_key.public_key.hex(),  # the workers need it
        CREDIT_REGISTRY_KAFKA=kafka_bootstrap,
        CREDIT_REGISTRY_TOPIC=kafka_topic,
        CREDIT_REGISTRY_DATABASE_URL=postgres_url,
    )
    projection_url = f"sqlite:///{tmp_path / 'projections.sqlite'}"
    cli = [sys.executable, "-m", "registry.cli", "--home", str(tmp_path)]
    service = subprocess.Popen(
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
    relay = subprocess.Popen(
        [*cli, "relay", "--database-url", postgres_url], env=environment, cwd=ROOT
    )
    worker = subprocess.Popen(
        [*cli, "projections", "run", "--projection-url", projection_url], env=environment, cwd=ROOT
    )
    try:
        assert service.stdout is not None
        line = service.stdout.readline()
        assert line.startswith("serving kafka on port"), line
        with RegistryClient("127.0.0.1:" + line.split()[-1], timeout_s=30) as client:
            world = build_grpc_world(client)
            issue(world, 50_000, IWAIZUMI)
            client.transfer(world.signer(IWAIZUMI), AKISHIMA, 20_000)
            retired = client.retire(world.signer(AKISHIMA), 5_000, retirement("Akishima"))
            balance = client.balance(
                AKISHIMA, min_position=retired.position
            )  # waits for relay + worker
            assert (balance.tradable_kg, balance.retired_kg) == (15_000, 5_000)
            refused = client.send_batch(
                [world.signer(AKISHIMA).sign(c.TransferCredits(AKISHIMA, IWAIZUMI, 20_000))]
            )
            assert refused[0].check_code == "INSUFFICIENT_HOLDINGS"
    finally:
        for process in (service, relay, worker):
            process.terminate()
        for process in (service, relay, worker):
            process.wait(timeout=60)
