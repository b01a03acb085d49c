"""Section 5: the public web view's page latency over read models of 1,000 envelopes and of
the large history, beside two same-run baselines on the same server: a static file and the
health route (one tiny query). `credit-registry web` runs as its own process; the client
sends requests one at a time on a kept-alive connection."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from projections import checkpoints
from projections import public_queries as q
from projections.store import ProjectionStore
from registry.audit.sources import ExportSource
from registry.envelope.sealing import OpenedEnvelope
from tests.bench.generated import History, prefix
from tests.bench.report import Row, percentile_us
from tests.support.history import MEMBERS

SMALL_ENVELOPES = 1_000
COST_ENVELOPES = 5_000  # the apply-cost comparison, at every scale
APPLY_CHUNK_ENVELOPES = 2_000
REQUESTS_PER_PAGE = 200
WARM_UP_REQUESTS = 10
PARTY = MEMBERS[4]  # Akishima, one of the generated history's busiest parties


def build_read_models(history: History, path: Path) -> tuple[str, float]:
    """Project an export into a fresh SQLite read-model database, checkpoints included."""
    url = f"sqlite:///{path}"
    store = ProjectionStore(url)
    source = ExportSource(history.export)
    started_s = time.perf_counter()
    chunk: list[OpenedEnvelope] = []
    for item in source.items():
        assert isinstance(item, OpenedEnvelope), item
        chunk.append(item)
        if len(chunk) == APPLY_CHUNK_ENVELOPES:
            store.apply("embedded", 0, chunk[-1].body.position + 1, chunk)
            chunk = []
    if chunk:
        store.apply("embedded", 0, chunk[-1].body.position + 1, chunk)
    checkpoints.record(store.engine, source.checkpoints, history.registry_public_keys)
    return url, time.perf_counter() - started_s


def targets(url: str) -> dict[str, str]:
    """The pages to time, chosen from the read models: a retirement from the middle of the
    log, and a serial in the middle of the first batch."""
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        head = q.projection_position(connection).last_position
        (middle,) = q.retirements_page(connection, 1, before=head // 2 + 1) or q.retirements_page(
            connection, 1
        )
        (batch,) = q.batch_rows(connection, "", 1)
    rid = f"{middle.retirement.position}-{middle.effect_index}"
    serial = (int(str(batch[5])) + int(str(batch[6]))) // 2
    return {
        "baseline: static file": "/static/style.css",
        "baseline: health route": "/healthz",
        "home": "/",
        "party page": f"/parties/{PARTY}",
        "retirement certificate": f"/retirements/{rid}/certificate",
        "serial search": f"/search?batch={batch[0]}&serial={serial}",
    }


@contextmanager
def web_server(url: str, public_key: bytes) -> Iterator[str]:
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "registry.cli", "web"),
            *("--projection-url", url, "--listen", "127.0.0.1:0"),
            *("--registry-public-key", public_key.hex()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    found = re.search(r"web view on (http://\S+)/", process.stdout.readline())
    try:
        assert found, "the web view did not start"
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=20)


def time_pages(base: str, pages: dict[str, str]) -> dict[str, list[float]]:
    """Round robin over the pages, so that the machine's noise falls on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in pages}
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(WARM_UP_REQUESTS):
            for path in pages.values():
                client.get(path).raise_for_status()
        for _ in range(REQUESTS_PER_PAGE):
            for name, path in pages.items():
                started = time.perf_counter()
                response = client.get(path)
                samples[name].append((time.perf_counter() - started) * 1e6)
                response.raise_for_status()
    return samples


@contextmanager
def without_public_tables() -> Iterator[None]:
    """The projections as they were before the public view's tables: the baseline of what
    those tables cost a catch-up (collected still, never written)."""
    from projections import write

    kept = write.write_public
    write.write_public = lambda *_arguments: None
    try:
        yield
    finally:
        write.write_public = kept


def apply_cost(large: History, scratch: Path) -> list[Row]:
    history = prefix(large, COST_ENVELOPES)
    label = f"first {history.envelopes:,} events"
    with without_public_tables():
        _url, without_s = build_read_models(history, scratch / "web-without.sqlite")
    _url, with_s = build_read_models(history, scratch / "web-with.sqlite")
    return [
        Row(
            "5 web",
            f"projection apply, public tables, {label}",
            history.envelopes / with_s,
            "events/s",
        ),
        Row(
            "5 web",
            f"projection apply, without them, {label}",
            history.envelopes / without_s,
            "events/s",
        ),
    ]


def run(large: History, scratch: Path) -> tuple[list[Row], dict[str, Any]]:
    rows: list[Row] = apply_cost(large, scratch)
    details: dict[str, Any] = {}
    for history in (prefix(large, SMALL_ENVELOPES), large):
        label = f"{history.envelopes:,} events"
        url, build_s = build_read_models(history, scratch / f"web-{history.envelopes}.sqlite")
        details[label] = {"read_models_built_s": build_s}
        rows.append(
            Row("5 web", f"read models built, {label}", history.envelopes / build_s, "events/s")
        )
        pages = targets(url)
        with web_server(url, history.registry_public_key) as base:
            samples = time_pages(base, pages)
        for name, taken in samples.items():
            rows.append(Row("5 web", f"{name} p50, {label}", percentile_us(taken, 50) / 1e3, "ms"))
            rows.append(Row("5 web", f"{name} p99, {label}", percentile_us(taken, 99) / 1e3, "ms"))
        details[label]["pages"] = pages
    return rows, details
