"""Section 2: end-to-end ingest. Client processes send signed transfers through the batch RPC
to the service, which verifies, decides, countersigns and stores them in PostgreSQL; the relay
publishes them to Kafka and a projection worker applies them. Sustained rate runs from the
first send to the moment the projections have applied the last transfer."""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from tests.bench import plain_baseline
from tests.bench.deployment import deployed
from tests.bench.report import Row, percentile_us
from tests.conftest import create_database
from tests.e2e.grpc_world import build_grpc_world, issue
from tests.support.helpers import OPERATOR

SENDERS = ("131016", "131121")
RECIPIENTS = ("132039", "132071")
ISSUED_KG = 10**9
PROJECTION_WAIT_S = 600
START_DELAY_S = 2.0


@dataclass(frozen=True)
class ClientPlan:
    target: str
    sender_id: str
    seed: bytes
    recipient_id: str
    batches: int
    batch_size: int
    start_at_s: float  # wall clock, shared by every client process


def _client(plan: ClientPlan) -> dict[str, Any]:
    """One client process: sign everything first (signing is the client's work, not the
    registry's), then send the batches one after another and time each round trip."""
    signer = CommandSigner(Codec(), plan.sender_id, SigningKey.from_seed(plan.seed))
    batches = [
        [
            signer.sign(
                c.TransferCredits(plan.sender_id, plan.recipient_id, 1 + (number * 7 + index) % 50)
            )
            for index in range(plan.batch_size)
        ]
        for number in range(plan.batches)
    ]
    latencies_us: list[float] = []
    accepted = 0
    last_position = 0
    with RegistryClient(plan.target, timeout_s=120) as client:
        time.sleep(max(0.0, plan.start_at_s - time.time()))
        for batch in batches:
            began_ns = time.perf_counter_ns()
            results = client.send_batch(batch)
            latencies_us.append((time.perf_counter_ns() - began_ns) / 1_000)
            for result in results:
                if result.accepted:
                    accepted += 1
                    last_position = max(last_position, result.position)
    return {
        "accepted": accepted,
        "latencies_us": latencies_us,
        "last_position": last_position,
        "finished_at_s": time.time(),
    }


def _wait_for_projection(client: RegistryClient, party_id: str, position: int) -> None:
    deadline_s = time.monotonic() + PROJECTION_WAIT_S
    while True:
        try:
            client.balance(party_id, min_position=position)
            return
        except CommandRejected:  # not there yet (UNAVAILABLE after the read wait)
            if time.monotonic() > deadline_s:
                raise


def run_registry(
    scratch: Path, kafka_bootstrap: str, postgres_url: str, batches: int, batch_size: int
) -> dict[str, Any]:
    with (
        deployed(scratch, kafka_bootstrap, postgres_url) as running,
        RegistryClient(running.target, timeout_s=60) as client,
    ):
        world = build_grpc_world(client)
        seeds = {}
        for number, party_id in enumerate(SENDERS):
            seeds[party_id] = bytes([number + 1]) * 32
            key = SigningKey.from_seed(seeds[party_id])
            world.keys[party_id] = key
            client.execute(
                world.signer(OPERATOR),
                c.RegisterParty(party_id, "municipality", party_id, key.public_key),
            )
            issue(world, ISSUED_KG, party_id)
        start_at_s = time.time() + START_DELAY_S
        plans = [
            ClientPlan(
                running.target,
                sender,
                seeds[sender],
                recipient,
                batches,
                batch_size,
                start_at_s,
            )
            for sender, recipient in zip(SENDERS, RECIPIENTS, strict=True)
        ]
        context = multiprocessing.get_context("spawn")
        with context.Pool(len(plans)) as pool:
            outcomes = pool.map(_client, plans)
        committed_s = max(o["finished_at_s"] for o in outcomes) - start_at_s
        head = max(o["last_position"] for o in outcomes)
        _wait_for_projection(client, RECIPIENTS[0], head)
        projected_s = time.time() - start_at_s
    accepted = sum(o["accepted"] for o in outcomes)
    if accepted != len(plans) * batches * batch_size:
        raise AssertionError(f"only {accepted} transfers were accepted")
    latencies = [value for o in outcomes for value in o["latencies_us"]]
    return {
        "clients": len(plans),
        "batch_size": batch_size,
        "transfers": accepted,
        "committed_per_s": accepted / committed_s,
        "sustained_per_s": accepted / projected_s,
        "batch_p50_us": percentile_us(latencies, 50),
        "batch_p99_us": percentile_us(latencies, 99),
    }


def run(
    scratch: Path,
    kafka_bootstrap: str,
    postgres_url: str,
    batches: int,
    batch_size: int,
    verifies_per_s: float,
) -> tuple[list[Row], dict[str, Any]]:
    registry = run_registry(scratch, kafka_bootstrap, postgres_url, batches, batch_size)
    plain = plain_baseline.run(create_database(postgres_url, "bench_plain"), registry["transfers"])
    label = f"{registry['clients']} clients x batches of {batch_size}"
    rows = [
        Row(
            "2 ingest",
            f"sustained to projections, {label}",
            registry["sustained_per_s"],
            "events/s",
        ),
        Row("2 ingest", "committed (acknowledged)", registry["committed_per_s"], "events/s"),
        Row("2 ingest", "commit latency p50 (one batch)", registry["batch_p50_us"] / 1_000, "ms"),
        Row("2 ingest", "commit latency p99 (one batch)", registry["batch_p99_us"] / 1_000, "ms"),
        Row(
            "2 ingest",
            "plain eventsourcing, 1 per transaction",
            plain["transfers_per_s"],
            "events/s",
        ),
        Row("2 ingest", "plain commit latency p50", plain["p50_us"] / 1_000, "ms"),
        Row("2 ingest", "plain commit latency p99", plain["p99_us"] / 1_000, "ms"),
        Row(
            "2 ingest",
            "ratio sustained to plain",
            registry["sustained_per_s"] / plain["transfers_per_s"],
            "x",
            ">= 1.0",
        ),
        Row(
            "2 ingest",
            "ratio sustained to bare verify loop",
            registry["sustained_per_s"] / verifies_per_s,
            "x",
        ),
    ]
    return rows, {"registry": registry, "plain": plain}
