"""Sections 1 and 5: audit replay against the bare verify loop, audit time and memory at two
history sizes, balance query latency at two history sizes, serial blocks per account."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from projections import tables as t
from registry.audit.sources import ExportSource
from registry.envelope.keys import verify
from registry.envelope.sealing import OpenedEnvelope
from tests.bench.generated import History, prefix
from tests.bench.queries import equal_page_blocks, query_latency_us
from tests.bench.report import Row

VERIFY_LOOP_SIGNATURES = 20_000


def bare_verify_loop(history: History) -> float:
    """Ed25519 verifications per second on one core, over signatures from the history."""
    works = []
    for item in ExportSource(history.export).items():
        assert isinstance(item, OpenedEnvelope)
        public_key = history.registry_public_keys[item.registry_key_id]
        works.append((public_key, item.registry_signature, item.body_bytes))
        if len(works) >= VERIFY_LOOP_SIGNATURES:
            break
    started_s = time.perf_counter()
    for public_key, signature, message in works:
        if not verify(public_key, signature, message):
            raise AssertionError("a stored countersignature does not verify")
    return len(works) / (time.perf_counter() - started_s)


def audit_in_child(history: History, keep_projection: Path | None = None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "tests.bench.audit_child",
        str(history.export),
        history.registry_public_key.hex(),
    ]
    if keep_projection is not None:
        keep_projection.unlink(missing_ok=True)
        command += ["--keep-projection", str(keep_projection)]
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    if not result["clean"]:
        raise AssertionError(f"the benchmark history does not audit clean: {result}")
    return result


def serial_blocks(projection: Path) -> dict[str, float]:
    engine = sa.create_engine(f"sqlite:///{projection}")
    ranges = t.serial_ranges.c
    with engine.connect() as connection:
        counts = [
            int(count)
            for (count,) in connection.execute(
                sa.select(sa.func.count())
                .select_from(t.serial_ranges)
                .where(ranges.status == "tradable")
                .group_by(ranges.owner_id)
            )
        ]
    engine.dispose()
    return {
        "accounts": len(counts),
        "max_blocks": max(counts, default=0),
        "mean_blocks": round(statistics.fmean(counts), 1) if counts else 0.0,
    }


def run(
    full: History, medium_envelopes: int, scratch: Path, verifies_per_s: float
) -> tuple[list[Row], dict[str, Any]]:
    medium = prefix(full, medium_envelopes)
    small = prefix(full, 1_000)
    audits = {}
    for name, history in (("small", small), ("medium", medium), ("full", full)):
        audits[name] = audit_in_child(history, scratch / f"projection-{name}.sqlite")
    big, mid = audits["full"], audits["medium"]
    envelopes_per_s = big["envelopes"] / big["elapsed_s"]
    # The audit checks every actor signature and one registry countersignature a chunk (the
    # chain links the rest to it): about one Ed25519 check an envelope, so envelopes per
    # second is the figure to hold against the loop's signatures per second.
    page_blocks = equal_page_blocks(scratch / "projection-small.sqlite")
    small_queries = query_latency_us(scratch / "projection-small.sqlite", page_blocks)
    big_queries = query_latency_us(scratch / "projection-full.sqlite", page_blocks)
    blocks = serial_blocks(scratch / "projection-full.sqlite")
    per_envelope_big_us = big["elapsed_s"] / big["envelopes"] * 1e6
    per_envelope_mid_us = mid["elapsed_s"] / mid["envelopes"] * 1e6
    label = f"{big['envelopes']:,}"
    rows = [
        Row("1 audit replay", f"{label} envelopes/s", envelopes_per_s, "envelopes/s"),
        Row("1 audit replay", "bare verify loop, 1 core", verifies_per_s, "signatures/s"),
        Row(
            "1 audit replay",
            "ratio envelopes/s to loop signatures/s",
            envelopes_per_s / verifies_per_s,
            "x",
            ">= 1.0",
        ),
        Row("1 audit replay", f"peak memory main, {label}", big["peak_rss_main_mb"], "MB"),
        Row(
            "1 audit replay",
            f"peak memory main, {mid['envelopes']:,}",
            mid["peak_rss_main_mb"],
            "MB",
            "flat",
        ),
        Row("5 scale", f"audit time {mid['envelopes']:,}", mid["elapsed_s"], "s"),
        Row("5 scale", f"audit time {label}", big["elapsed_s"], "s"),
        Row(
            "5 scale",
            "audit time per envelope, large/medium",
            per_envelope_big_us / per_envelope_mid_us,
            "x",
            "1.0 (linear)",
        ),
        Row("5 scale", "balance query p50, 1k events", small_queries["balance_p50_us"], "us"),
        Row("5 scale", f"balance query p50, {label}", big_queries["balance_p50_us"], "us"),
        Row(
            "5 scale",
            "balance query p50, large/1k",
            big_queries["balance_p50_us"] / small_queries["balance_p50_us"],
            "x",
            "<= 1.5",
        ),
        Row(
            "5 scale",
            "balance query p50 after a holdings query, large/1k",
            big_queries["balance_mixed_p50_us"] / small_queries["balance_mixed_p50_us"],
            "x",
        ),
        Row("5 scale", "balance query p99, 1k events", small_queries["balance_p99_us"], "us"),
        Row("5 scale", f"balance query p99, {label}", big_queries["balance_p99_us"], "us"),
        Row("5 scale", "holdings query p50, 1k events", small_queries["holdings_p50_us"], "us"),
        Row("5 scale", f"holdings query p50, {label}", big_queries["holdings_p50_us"], "us"),
        Row(
            "5 scale",
            "holdings query p50, large/1k (large: a full page)",
            big_queries["holdings_p50_us"] / small_queries["holdings_p50_us"],
            "x",
            "<= 1.5",
        ),
        Row(
            "5 scale",
            f"holdings query p50, equal page of {page_blocks}, 1k events",
            small_queries["holdings_equal_page_p50_us"],
            "us",
        ),
        Row(
            "5 scale",
            f"holdings query p50, equal page of {page_blocks}, {label}",
            big_queries["holdings_equal_page_p50_us"],
            "us",
        ),
        Row(
            "5 scale",
            "holdings query p50, equal page, large/1k",
            big_queries["holdings_equal_page_p50_us"] / small_queries["holdings_equal_page_p50_us"],
            "x",
            "<= 1.5",
        ),
        Row("5 scale", "tradable serial blocks per account, max", blocks["max_blocks"], "blocks"),
        Row("5 scale", "tradable serial blocks per account, mean", blocks["mean_blocks"], "blocks"),
    ]
    details = {
        "verify_loop_signatures_per_s": verifies_per_s,
        "audits": audits,
        "queries_1k": small_queries,
        "queries_large": big_queries,
        "serial_blocks": blocks,
        "equal_page_blocks": page_blocks,
        "history_generated_s": full.generated_s,
    }
    return rows, details
