"""The benchmark: every figure beside a baseline measured in the same run. Not a test: it
asserts behaviour (histories audit clean, every transfer accepted) but never a timing.

    .venv/bin/python -m tests.bench [--scale full|quick] [--sections audit,ingest,...]

`scripts/bench.sh` starts PostgreSQL and Kafka and runs this. Prints a table; writes JSON."""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench import audit, catchup, ingest, restore, startup, unary, web
from tests.bench.generated import history, prefix
from tests.bench.report import Row, print_table, write_json
from tests.conftest import ROOT

SECTIONS = ("audit", "ingest", "catchup", "unary", "startup", "restore", "web")
SCALES = {
    # events in the large history, the medium one, ingest batches per client, unary calls,
    # the two store sizes of the start-up rows (generated with their own key, on a simulated
    # clock; the 1,000,000 store takes a while to generate once, then comes from the cache)
    "full": {
        "large": 1_000_000,
        "medium": 100_000,
        "ingest_batches": 100,
        "unary_calls": 3_000,
        "startup": (100_000, 1_000_000),
    },
    "quick": {
        "large": 20_000,
        "medium": 5_000,
        "ingest_batches": 10,
        "unary_calls": 300,
        "startup": (5_000, 20_000),
    },
}
INGEST_BATCH_SIZE = 100


def _postgres_url() -> str:
    url = os.environ.get("CREDIT_REGISTRY_TEST_POSTGRES_URL")
    if url:
        return url
    finished = subprocess.run(
        ["bash", str(ROOT / "scripts/postgres.sh"), "url"],
        check=True,
        capture_output=True,
        text=True,
    )
    return finished.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument(
        "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA", "127.0.0.1:9092")
    )
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"))
    arguments = parser.parse_args()
    sections = [name.strip() for name in arguments.sections.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {SECTIONS}")
    scale = SCALES[arguments.scale]
    rows: list[Row] = []
    details: dict[str, Any] = {"scale": arguments.scale}
    started_s = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as directory:
        scratch = Path(directory)
        if set(sections) - {"startup"}:  # the start-up row generates its own stores
            print(
                f"history of {scale['large']:,} envelopes (generated once, then cached)", flush=True
            )
            large = history(scale["large"])
            # The loop needs only its first 20,000 signatures: a small prefix opens faster.
            verifies_per_s = audit.bare_verify_loop(prefix(large, scale["medium"]))
            details["verify_loop_signatures_per_s"] = verifies_per_s
        for name in sections:
            print(f"== {name}", flush=True)
            if name == "audit":
                found, more = audit.run(large, scale["medium"], scratch, verifies_per_s)
            elif name == "ingest":
                found, more = ingest.run(
                    scratch,
                    arguments.kafka,
                    _postgres_url(),
                    scale["ingest_batches"],
                    INGEST_BATCH_SIZE,
                    verifies_per_s,
                )
            elif name == "catchup":
                found, more = catchup.run(prefix(large, scale["medium"]), arguments.kafka, scratch)
            elif name == "startup":
                found, more = startup.run(scale["startup"])
            elif name == "restore":
                found, more = restore.run(large, scratch)
            elif name == "web":
                found, more = web.run(large, scratch)
            else:
                found, more = unary.run(
                    scratch, scale["unary_calls"], arguments.kafka, _postgres_url()
                )
            rows += found
            details[name] = more
            print_table(found)
    details["elapsed_s"] = time.perf_counter() - started_s
    print()
    print_table(rows)
    write_json(arguments.json, rows, details)
    print(f"\nwrote {arguments.json}")


if __name__ == "__main__":
    main()
