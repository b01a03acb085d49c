"""Section 7: restore from the log. `restore` rebuilds an event store from an export of the
large history, verifying every envelope (signatures in worker processes, as the audit does),
into an empty SQLite database in one transaction; beside it, in the same run, the raw read
of the same export (every envelope opened, nothing verified or written). The history's
private key is not kept, so this restore writes no snapshot (the service would replay once)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from registry.audit.sources import ExportSource
from registry.envelope.sealing import OpenedEnvelope
from registry.write.restore import restore
from tests.bench.generated import History
from tests.bench.report import Row

SECTION = "7 restore"


def raw_read_s(history: History) -> float:
    started_s = time.perf_counter()
    count = sum(isinstance(item, OpenedEnvelope) for item in ExportSource(history.export).items())
    elapsed_s = time.perf_counter() - started_s
    if count != history.envelopes:
        raise AssertionError(f"read {count} envelopes of {history.envelopes}")
    return elapsed_s


def run(history: History, scratch: Path) -> tuple[list[Row], dict[str, Any]]:
    label = f"{history.envelopes:,}"
    read_s = raw_read_s(history)
    target = f"sqlite:///{scratch / 'restored.sqlite'}?timeout=30"
    workers = os.cpu_count() or 1
    report = restore(
        ExportSource(history.export), target, history.registry_public_keys, (), workers
    )
    if report.envelopes != history.envelopes:
        raise AssertionError(f"restored {report.envelopes} of {history.envelopes}")
    rows = [
        Row(SECTION, f"read the export of {label}, no verifying (baseline)", read_s, "s"),
        Row(SECTION, "read the export (baseline)", history.envelopes / read_s, "envelopes/s"),
        Row(SECTION, f"restore {label} from the export, all verified", report.elapsed_s, "s"),
        Row(SECTION, "restore", history.envelopes / report.elapsed_s, "envelopes/s"),
    ]
    details = {
        "envelopes": history.envelopes,
        "read_s": read_s,
        "restore_s": report.elapsed_s,
        "checkpoints": report.checkpoints,
        "workers": workers,
    }
    return rows, details
