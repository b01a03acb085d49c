"""Section 6: start-up. A RegistryApplication opening a store resumes from the newest snapshot
that verifies and replays only what follows it; without one it replays and re-verifies the
whole chain (the fallback). Both are measured at two sizes, beside baselines in the same run:
opening the database and reading the newest row, and reading every row without decoding or
verifying. Then what a snapshot costs the writer (its pause under the writer lock, and the
background work of serialising and signing), and `credit-registry serve` as the chart runs
it, from process start to /readyz answering 200. The chart's startup budget is sized from
these rows (docs/probes.md).

Stores are generated once per size and schema and kept in the cache with their key, on a
simulated clock (command ids expire as they would in service), each with a snapshot at its
head: a clean shutdown leaves one there."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from registry.write.application import CATCH_UP_PAGE_EVENTS, RegistryApplication
from registry.write.persistence import CHAIN_ID, event_store_recorder
from registry.write.snapshot_writer import SNAPSHOT_INTERVAL_ENVELOPES
from registry.write.snapshots import make_snapshot
from tests.bench.generated import CACHE_DIRECTORY, SimulatedClock, schema_digest
from tests.bench.report import Row
from tests.support.kubelet import http_check
from tests.support.processes import free_port
from tests.support.startup import Store, build_stores, serve_command, serve_environment

SECTION = "6 start-up"
READY_TIMEOUT_S = 3_600.0
READY_POLL_S = 0.1
STORE_LAYOUT = "snapshots-v1"  # in the cache's name: stores of older layouts are not reused
OPEN_RUNS = 3  # a start from a snapshot is short: the best of a few, against this machine's noise


def cached_stores(sizes: tuple[int, int]) -> list[Store]:
    name = f"startup-{sizes[0]}-{sizes[1]}-{STORE_LAYOUT}-{schema_digest()}"
    directory = CACHE_DIRECTORY / name
    homes = [directory / f"store-{size}" for size in sizes]
    if all((home / "registry.sqlite").exists() for home in homes):
        return [Store(home, stored_envelopes(home)) for home in homes]
    shutil.rmtree(directory, ignore_errors=True)
    CACHE_DIRECTORY.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-startup-", dir=CACHE_DIRECTORY))
    print(f"  generating stores of {sizes[0]:,} and {sizes[1]:,} envelopes", flush=True)
    built = build_stores(scratch, sizes, clock=SimulatedClock(), snapshots=True)
    scratch.rename(directory)  # whole, or not at all
    return [Store(directory / store.home.name, store.envelopes) for store in built]


def stored_envelopes(home: Path) -> int:
    recorder = event_store_recorder(Store(home, 0).database_url)
    latest = recorder.select_events(CHAIN_ID, desc=True, limit=1)
    return latest[0].originator_version if latest else 0


def newest_row_s(store: Store) -> float:
    """The floor of any start: open the database and read its newest row."""
    started_s = time.perf_counter()
    found = stored_envelopes(store.home)
    elapsed_s = time.perf_counter() - started_s
    if found != store.envelopes:
        raise AssertionError(f"the newest row is {found}, the store holds {store.envelopes}")
    return elapsed_s


def read_rows_s(store: Store) -> float:
    """The floor of a replay: page through every stored row and do nothing else."""
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


def open_s(store: Store, resume: bool) -> tuple[float, RegistryApplication]:
    key = store.registry_key()
    started_s = time.perf_counter()
    app = RegistryApplication(
        store.database_url, key, snapshot_interval=None, resume_from_snapshot=resume
    )
    elapsed_s = time.perf_counter() - started_s
    if app.ledger.position != store.envelopes:
        raise AssertionError(f"opened at {app.ledger.position} of {store.envelopes}")
    if resume and app.resumed_from != store.envelopes:
        raise AssertionError(f"resumed from {app.resumed_from}, not the head's snapshot")
    return elapsed_s, app


def _opened_and_closed(store: Store) -> float:
    elapsed_s, app = open_s(store, resume=True)
    app.close()
    return elapsed_s


def snapshot_costs(app: RegistryApplication) -> dict[str, float]:
    """The writer's pause (a consistent copy under the lock) and the background work."""
    with app._lock:
        started_s = time.perf_counter()
        captured = app._capture_snapshot()
        pause_s = time.perf_counter() - started_s
    if captured is None:
        raise AssertionError("nothing to snapshot")
    started_s = time.perf_counter()
    snapshot = make_snapshot(*captured)
    return {
        "pause_s": pause_s,
        "write_s": time.perf_counter() - started_s,
        "megabytes": len(snapshot.payload) / 1e6,
    }


def serve_to_ready_s(store: Store) -> float:
    """`credit-registry serve` from process start until /readyz answers 200 (it writes no
    snapshot of its own, so every run starts from the same one)."""
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


def _one_size(store: Store) -> tuple[list[Row], dict[str, Any]]:
    label = f"{store.envelopes:,}"
    newest_s, read_s = newest_row_s(store), read_rows_s(store)
    resumed_s = min(_opened_and_closed(store) for _ in range(OPEN_RUNS))
    ready_s = serve_to_ready_s(store)
    replayed_s, replayed = open_s(store, resume=False)
    costs = snapshot_costs(replayed)
    replayed.close()
    rows = [
        Row(SECTION, f"open the database, read the newest row, {label} (baseline)", newest_s, "s"),
        Row(SECTION, f"read {label} stored rows, no verifying (baseline)", read_s, "s"),
        Row(SECTION, f"open from the snapshot at the head, {label} (best of 3)", resumed_s, "s"),
        Row(SECTION, f"serve: process start to ready, {label}", ready_s, "s", "< 5 s"),
        Row(SECTION, f"full replay, no snapshot (the fallback), {label}", replayed_s, "s"),
        Row(SECTION, f"snapshot at {label}: writer paused", costs["pause_s"] * 1e3, "ms"),
        Row(SECTION, f"snapshot at {label}: serialise + sign (background)", costs["write_s"], "s"),
        Row(SECTION, f"snapshot at {label}: size", costs["megabytes"], "MB"),
    ]
    details = {
        "newest_row_s": newest_s,
        "read_rows_s": read_s,
        "snapshot_open_s": resumed_s,
        "serve_ready_s": ready_s,
        "replay_s": replayed_s,
        "snapshot": costs,
    }
    return rows, details


def run(sizes: tuple[int, int]) -> tuple[list[Row], dict[str, Any]]:
    small, large = cached_stores(sizes)
    rows: list[Row] = []
    details: dict[str, Any] = {}
    for store in (small, large):
        found, details[store.envelopes] = _one_size(store)
        rows += found

    def both(name: str) -> tuple[float, float]:
        return details[small.envelopes][name], details[large.envelopes][name]

    opened, ready, replays = both("snapshot_open_s"), both("serve_ready_s"), both("replay_s")
    # What each further envelope adds to a start without a snapshot, and so to one whose
    # snapshot is an interval behind (a crash, not a clean shutdown).
    per_envelope_us = (replays[1] - replays[0]) / (large.envelopes - small.envelopes) * 1e6
    worst_s = ready[1] + per_envelope_us * SNAPSHOT_INTERVAL_ENVELOPES / 1e6
    rows += [
        Row(SECTION, "serve to ready: large over small", ready[1] / ready[0], "x", "<= 1.5"),
        Row(SECTION, "open from the snapshot: large over small", opened[1] / opened[0], "x"),
        Row(SECTION, "full replay per envelope (slope)", per_envelope_us, "µs/envelope"),
        Row(
            SECTION,
            f"serve after a crash, snapshot {SNAPSHOT_INTERVAL_ENVELOPES:,} behind (estimate)",
            worst_s,
            "s",
        ),
    ]
    details.update({"per_envelope_us": per_envelope_us, "crash_start_estimate_s": worst_s})
    return rows, details
