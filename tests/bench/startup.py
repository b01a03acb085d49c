"""Section 6: start-up. The service replays and re-verifies the whole chain before it serves;
this measures that replay (RegistryApplication over a store of N envelopes) at two sizes,
beside a baseline in the same run: opening the same database and reading every row without
decoding or verifying. And `credit-registry serve` as the chart runs it, from process start
to /readyz answering 200. The chart's startup budget is sized from these rows
(docs/probes.md): per envelope times the history size, plus the fixed part, with margin.

Stores are generated once per size and schema and kept in the cache with their key."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from registry.write.application import CATCH_UP_PAGE_EVENTS, RegistryApplication
from registry.write.persistence import CHAIN_ID, event_store_recorder
from tests.bench.generated import CACHE_DIRECTORY, schema_digest
from tests.bench.report import Row
from tests.support.kubelet import http_check
from tests.support.processes import free_port
from tests.support.startup import Store, build_stores, serve_command, serve_environment

SECTION = "6 start-up"
READY_TIMEOUT_S = 3_600.0
READY_POLL_S = 0.1


def cached_stores(sizes: tuple[int, int]) -> list[Store]:
    directory = CACHE_DIRECTORY / f"startup-{sizes[0]}-{sizes[1]}-{schema_digest()}"
    homes = [directory / f"store-{size}" for size in sizes]
    if all((home / "registry.sqlite").exists() for home in homes):
        return [Store(home, stored_envelopes(home)) for home in homes]
    shutil.rmtree(directory, ignore_errors=True)
    CACHE_DIRECTORY.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=CACHE_DIRECTORY))
    print(f"  generating stores of {sizes[0]:,} and {sizes[1]:,} envelopes", flush=True)
    built = build_stores(scratch, sizes)
    scratch.rename(directory)  # whole, or not at all
    return [Store(directory / store.home.name, store.envelopes) for store in built]


def stored_envelopes(home: Path) -> int:
    recorder = event_store_recorder(Store(home, 0).database_url)
    latest = recorder.select_events(CHAIN_ID, desc=True, limit=1)
    return latest[0].originator_version if latest else 0


def read_rows_s(store: Store) -> float:
    """The floor: page through every stored row, as the replay does, and do nothing else."""
    started_s = time.perf_counter()
    recorder = event_store_recorder(store.database_url)
    position, rows = 0, 0
    while page := recorder.select_events(CHAIN_ID, gt=position, limit=CATCH_UP_PAGE_EVENTS):
        rows += len(page)
        position = page[-1].originator_version
    elapsed_s = time.perf_counter() - started_s
    if rows != store.envelopes:
        raise AssertionError(f"read {rows} rows, the store holds {store.envelopes}")
    return elapsed_s


def replay_s(store: Store) -> float:
    key = store.registry_key()
    started_s = time.perf_counter()
    app = RegistryApplication(store.database_url, key)
    elapsed_s = time.perf_counter() - started_s
    if app.ledger.position != store.envelopes:
        raise AssertionError(f"replayed to {app.ledger.position} of {store.envelopes}")
    return elapsed_s


def serve_to_ready_s(store: Store) -> float:
    """`credit-registry serve` from process start until /readyz answers 200."""
    metrics_port = free_port()
    ready = http_check(f"http://127.0.0.1:{metrics_port}/readyz")
    started_s = time.perf_counter()
    process = subprocess.Popen(
        serve_command(store, f"127.0.0.1:{free_port()}"),
        env=serve_environment(metrics_port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not ready(1.0):
            if process.poll() is not None or time.perf_counter() - started_s > READY_TIMEOUT_S:
                raise AssertionError(f"serve exited or never became ready ({process.poll()})")
            time.sleep(READY_POLL_S)
        return time.perf_counter() - started_s
    finally:
        process.terminate()
        process.wait(timeout=60)


def run(sizes: tuple[int, int]) -> tuple[list[Row], dict[str, Any]]:
    small, large = cached_stores(sizes)
    rows: list[Row] = []
    details: dict[str, Any] = {}
    replays = {}
    for store in (small, large):
        label = f"{store.envelopes:,}"
        read_s, replayed_s = read_rows_s(store), replay_s(store)
        replays[store.envelopes] = replayed_s
        rows += [
            Row(SECTION, f"read {label} stored rows, no verifying", read_s, "s"),
            Row(SECTION, f"replay {label} (RegistryApplication)", replayed_s, "s"),
        ]
        details[store.envelopes] = {"read_rows_s": read_s, "replay_s": replayed_s}
    # The slope between the two sizes: what each further envelope adds to a start-up.
    per_envelope_us = (
        (replays[large.envelopes] - replays[small.envelopes])
        / (large.envelopes - small.envelopes)
        * 1e6
    )
    ready_s = serve_to_ready_s(large)
    fixed_s = ready_s - per_envelope_us * large.envelopes / 1e6
    rows += [
        Row(SECTION, "replay per envelope (slope)", per_envelope_us, "µs/envelope"),
        Row(SECTION, f"serve: process start to ready, {large.envelopes:,}", ready_s, "s"),
        Row(SECTION, "serve: fixed part (ready less the replay)", fixed_s, "s"),
    ]
    details.update(
        {"per_envelope_us": per_envelope_us, "serve_ready_s": ready_s, "fixed_s": fixed_s}
    )
    return rows, details
