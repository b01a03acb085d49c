"""Section 4: single-transfer unary calls at 1, 16 and 64 in flight against the registry on
its embedded default, next to a bare grpcio echo service at the same concurrency. The client
is its own process (asyncio, one channel) and sends the same serialized request shape to
both; each registry request is a distinct signed transfer, signed before the clock starts."""

from __future__ import annotations

import asyncio
import multiprocessing
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import RegistryClient
from registry.domain import commands as c
from registry.envelope.codec import Codec
from registry.rpc.translate import signed_command_message
from tests.bench.deployment import deployed
from tests.bench.echo_server import ECHO_METHOD
from tests.bench.report import Row, percentile_us
from tests.conftest import ROOT
from tests.e2e.grpc_world import build_grpc_world, issue
from tests.support.helpers import AKISHIMA, IWAIZUMI

TRANSFER_METHOD = "/credit_registry.v1.CommandService/TransferCredits"
CONCURRENCY = (1, 16, 64)
CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Load:
    target: str
    method: str
    requests: list[bytes]
    in_flight: int


async def _drive(load: Load) -> dict[str, Any]:
    latencies_us: list[float] = []
    failures = 0
    async with grpc.aio.insecure_channel(load.target) as channel:
        call = channel.unary_unary(load.method)  # bytes in, bytes out
        queue = iter(load.requests)

        async def worker() -> None:
            nonlocal failures
            for request in queue:
                began_ns = time.perf_counter_ns()
                try:
                    await call(request, timeout=CALL_TIMEOUT_S)
                except grpc.aio.AioRpcError:
                    failures += 1
                latencies_us.append((time.perf_counter_ns() - began_ns) / 1_000)

        started_s = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(load.in_flight)))
        elapsed_s = time.perf_counter() - started_s
    return {
        "calls_per_s": len(latencies_us) / elapsed_s,
        "p50_us": percentile_us(latencies_us, 50),
        "p99_us": percentile_us(latencies_us, 99),
        "failures": failures,
    }


def _client_process(load: Load) -> dict[str, Any]:
    return asyncio.run(_drive(load))


def measure(load: Load) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(_client_process, (load,))
    return result


@contextmanager
def echo_server() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.echo_server"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        yield "127.0.0.1:" + line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=30)


DEPLOYMENTS = ("embedded", "kafka")


def _measure_registry(
    scratch: Path,
    calls: int,
    kafka_bootstrap: str | None,
    postgres_url: str | None,
    results: dict[str, dict[str, Any]],
    label: str,
) -> bytes:
    with (
        deployed(scratch, kafka_bootstrap, postgres_url) as running,
        RegistryClient(running.target, timeout_s=60) as client,
    ):
        world = build_grpc_world(client)
        issue(world, 10**9, IWAIZUMI)
        signer = CommandSigner(Codec(), IWAIZUMI, world.keys[IWAIZUMI])
        for in_flight in CONCURRENCY:
            requests = [
                pb.CommandRequest(
                    command=signed_command_message(
                        signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 1))
                    )
                ).SerializeToString()
                for _ in range(calls)
            ]
            measured = measure(Load(running.target, TRANSFER_METHOD, requests, in_flight))
            if measured["failures"]:
                raise AssertionError(f"registry calls failed: {measured}")
            results[f"{label}_{in_flight}"] = measured
    return requests[0]


def run(
    scratch: Path, calls: int, kafka_bootstrap: str, postgres_url: str
) -> tuple[list[Row], dict[str, Any]]:
    """The registry on the embedded default (one process: SQLite, the relay and projections
    in threads) and as the chart deploys it (service, relay and worker processes on
    PostgreSQL and Kafka), each next to the echo service at the same concurrency."""
    results: dict[str, dict[str, Any]] = {}
    _measure_registry(scratch, calls, None, None, results, "embedded")
    request = _measure_registry(scratch, calls, kafka_bootstrap, postgres_url, results, "kafka")
    with echo_server() as target:
        for in_flight in CONCURRENCY:
            results[f"echo_{in_flight}"] = measure(
                Load(target, ECHO_METHOD, [request] * calls, in_flight)
            )
    section = "4 unary"
    rows = []
    for in_flight in CONCURRENCY:
        echo = results[f"echo_{in_flight}"]
        rows.append(Row(section, f"echo, {in_flight} in flight", echo["calls_per_s"], "calls/s"))
        rows.append(Row(section, f"echo p50, {in_flight}", echo["p50_us"] / 1_000, "ms"))
        for label in DEPLOYMENTS:
            registry = results[f"{label}_{in_flight}"]
            name = f"transfer ({label}), {in_flight} in flight"
            rows += [
                Row(section, name, registry["calls_per_s"], "calls/s"),
                Row(
                    section,
                    f"ratio ({label}) to echo, {in_flight} in flight",
                    registry["calls_per_s"] / echo["calls_per_s"],
                    "x",
                    ">= 0.25" if in_flight == 16 else "",
                ),
                Row(
                    section,
                    f"transfer ({label}) p50, {in_flight}",
                    registry["p50_us"] / 1_000,
                    "ms",
                ),
                Row(
                    section,
                    f"transfer ({label}) p99, {in_flight}",
                    registry["p99_us"] / 1_000,
                    "ms",
                ),
            ]
        rows.append(Row(section, f"echo p99, {in_flight}", echo["p99_us"] / 1_000, "ms"))
    return rows, results
