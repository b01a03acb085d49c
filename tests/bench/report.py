"""The benchmark's table and JSON: every figure beside its baseline, with the machine and
versions it was measured on."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "eventsourcing",
    "eventsourcing-sqlalchemy",
    "SQLAlchemy",
    "kafka-python",
    "fastavro",
    "cryptography",
    "grpcio",
    "psycopg",
)


@dataclass(frozen=True)
class Row:
    section: str
    metric: str
    value: float
    unit: str
    target: str = ""


def percentile_us(samples: list[float], percent: int) -> float:
    """Nearest-rank percentile; the samples need not be sorted."""
    assert samples, "no samples"
    ordered = sorted(samples)
    rank = max(1, -(-percent * len(ordered) // 100))  # ceiling without floats
    return ordered[rank - 1]


def machine() -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "kafka_broker": os.environ.get("KAFKA_VERSION", "4.4.0"),
        "packages": {name: metadata.version(name) for name in PACKAGES},
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _format(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def print_table(rows: list[Row]) -> None:
    widths = (
        max(len(row.section) for row in rows),
        max(len(row.metric) for row in rows),
        max(len(_format(row.value)) for row in rows),
    )
    header = f"{'section':<{widths[0]}}  {'metric':<{widths[1]}}  {'value':>{widths[2]}}  unit"
    print(header + "          target")
    print("-" * (len(header) + 16))
    for row in rows:
        print(
            f"{row.section:<{widths[0]}}  {row.metric:<{widths[1]}}  "
            f"{_format(row.value):>{widths[2]}}  {row.unit:<12}  {row.target}"
        )


def write_json(path: Path, rows: list[Row], details: dict[str, Any]) -> None:
    document = {"machine": machine(), "rows": [asdict(row) for row in rows], "details": details}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
