"""After a fault: read the whole history back and hold it against what the client was told.

The event store and the Kafka topic (through the product's ordered, de-duplicating reader)
must hold the same envelopes, byte for byte; per command id, every acknowledged command is
recorded exactly once at the position the client was given, and no refused command left
anything. The live projections must equal a clean rebuild from the topic into a fresh
database, and the `audit` command must find the history clean. The counts are printed and
appended as a JSON line to the fault report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from projections.runner import catch_up_kafka
from projections.store import ProjectionStore
from registry.audit.sources import DatabaseSource
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import OpenedEnvelope
from registry.log.kafka import KafkaLogReader
from registry.write.persistence import CHAIN_ID, event_store_recorder
from tests.conftest import ROOT
from tests.faults.load import Outcomes
from tests.support.processes import RegistryStack

REPORT_VARIABLE = "CREDIT_REGISTRY_FAULT_REPORT"
DEFAULT_REPORT = ROOT / "build" / "fault-report.jsonl"
CONVERGE_TIMEOUT_S = 120.0
AUDIT_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class FaultCounts:
    fault: str
    acknowledged: int
    recorded: int  # acknowledged commands found in the log
    duplicates: int  # command ids recorded more than once
    lost: int  # acknowledged but not recorded
    failed: int  # definitively refused, as the client saw it
    failed_without_effect: int
    unresolved: int  # the client gave up without an answer
    replayed: int  # acknowledged on a retry by the first result, recorded once
    retries: int
    events: int  # envelopes in the whole log, set-up included
    resent_records_dropped: int  # relay re-sends on the topic, dropped by the reader
    projections_equal_rebuild: bool
    audit: str  # the audit command's verdict
    elapsed_s: float

    def line(self) -> str:
        return (
            f"fault={self.fault} acknowledged={self.acknowledged} recorded={self.recorded} "
            f"duplicates={self.duplicates} lost={self.lost} "
            f"failed_without_effect={self.failed_without_effect} failed={self.failed} "
            f"unresolved={self.unresolved} replayed={self.replayed} retries={self.retries} "
            f"events={self.events} "
            f"resent_records_dropped={self.resent_records_dropped} "
            f"projections_equal_rebuild={self.projections_equal_rebuild} audit={self.audit} "
            f"elapsed_s={self.elapsed_s}"
        )


def event_store_head(database_url: str) -> int:
    latest = event_store_recorder(database_url).select_events(CHAIN_ID, desc=True, limit=1)
    return latest[0].originator_version if latest else 0


def wait_until_projected(stack: RegistryStack, timeout_s: float = CONVERGE_TIMEOUT_S) -> int:
    """Everything in the store has gone store -> relay -> Kafka -> workers -> read models."""
    head = event_store_head(stack.config.database_url)
    store = ProjectionStore(stack.config.projection_url)
    deadline = time.monotonic() + timeout_s
    while not store.has_applied_through(head):
        assert time.monotonic() < deadline, (
            f"projections at {store.applied_count()} of {head} after {timeout_s} s"
        )
        time.sleep(0.5)
    store.engine.dispose()
    return head


def _command_ids(envelopes: list[OpenedEnvelope]) -> list[str]:
    codec = Codec()
    return [
        codec.decode_command(envelope.body.command.command_bytes).command_id
        for envelope in envelopes
    ]


def _audit(stack: RegistryStack, registry_public_key: bytes) -> str:
    """The auditor's own command, as a process: replay from Kafka, compare the live read
    models with its rebuild. Returns CLEAN, or the verdict with what went wrong."""
    report_path = stack.config.directory / "audit-report.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "audit",
            "--kafka",
            stack.config.kafka_bootstrap,
            "--topic",
            stack.config.topic,
            "--registry-public-key",
            registry_public_key.hex(),
            "--compare-projections",
            stack.config.projection_url,
            "--report",
            str(report_path),
            "--workers",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=AUDIT_TIMEOUT_S,
    )
    if not report_path.exists():
        return f"no report (exit {completed.returncode}): {completed.stderr[-2_000:]}"
    document = json.loads(report_path.read_text("utf-8"))
    verdict = str(document["verdict"])
    if completed.returncode != 0 or verdict != "CLEAN":
        return f"{verdict} (exit {completed.returncode}): {document['discrepancies'][:3]}"
    return verdict


def verify_and_report(
    fault: str,
    stack: RegistryStack,
    outcomes: Outcomes,
    registry_public_key: bytes,
    started_monotonic: float,
) -> FaultCounts:
    """Call once every process has caught up and stopped. Asserts; returns the counts."""
    config = stack.config
    stored = [
        item
        for item in DatabaseSource(config.database_url).items()
        if isinstance(item, OpenedEnvelope)
    ]
    reader = KafkaLogReader(
        config.kafka_bootstrap,
        config.topic,
        registry_public_keys={SigningKey.key_id_of(registry_public_key): registry_public_key},
        quarantine=False,
    )
    published = list(reader.read())
    assert not reader.quarantined, reader.quarantined[:3]
    assert [e.body.position for e in stored] == list(range(1, len(stored) + 1))
    assert [e.sealed_bytes for e in published] == [e.sealed_bytes for e in stored]

    ids = _command_ids(published)
    recorded_at = {
        command_id: envelope.body.position
        for command_id, envelope in zip(ids, published, strict=True)
    }
    per_id = Counter(ids)
    duplicates = sum(1 for count in per_id.values() if count > 1)
    acknowledged = outcomes.acknowledged
    recorded = sum(1 for command_id in acknowledged if per_id[command_id] >= 1)
    misplaced = [
        command_id
        for command_id, position in acknowledged.items()
        if command_id in recorded_at and recorded_at[command_id] != position
    ]
    failed_without_effect = sum(1 for command_id in outcomes.failed if per_id[command_id] == 0)

    rebuilt = ProjectionStore(f"sqlite:///{config.directory / f'rebuilt-{fault}.sqlite'}")
    catch_up_kafka(rebuilt, config.kafka_bootstrap, config.topic)
    live = ProjectionStore(config.projection_url)
    live_tables, rebuilt_tables = live.dump(), rebuilt.dump()
    live.engine.dispose()
    differing = [name for name in rebuilt_tables if live_tables.get(name) != rebuilt_tables[name]]
    audit = _audit(stack, registry_public_key)

    counts = FaultCounts(
        fault=fault,
        acknowledged=len(acknowledged),
        recorded=recorded,
        duplicates=duplicates,
        lost=len(acknowledged) - recorded,
        failed=len(outcomes.failed),
        failed_without_effect=failed_without_effect,
        unresolved=len(outcomes.unresolved),
        replayed=outcomes.replayed,
        retries=outcomes.retries,
        events=len(published),
        resent_records_dropped=reader.duplicates_dropped,
        projections_equal_rebuild=not differing,
        audit=audit.split(" ", 1)[0],
        elapsed_s=round(time.monotonic() - started_monotonic, 1),
    )
    _report(counts)
    assert counts.duplicates == 0 and counts.lost == 0, counts.line()
    assert not misplaced, f"acknowledged at one position, recorded at another: {misplaced[:3]}"
    assert counts.failed_without_effect == counts.failed, counts.line()
    # The only definitive failures are the load's deliberate overdrafts: an outage must come
    # back as a retryable status, never as a verdict on the command (e.g. UNKNOWN).
    assert set(outcomes.failed.values()) <= {"INSUFFICIENT_HOLDINGS"}, Counter(
        outcomes.failed.values()
    )
    assert counts.unresolved == 0, counts.line()
    assert counts.acknowledged > 0 and counts.failed > 0, "the load never got going"
    assert not differing, f"live projections differ from a clean rebuild in {differing}"
    assert audit == "CLEAN", audit
    return counts


def _report(counts: FaultCounts) -> None:
    print(counts.line(), flush=True)
    path = Path(os.environ.get(REPORT_VARIABLE) or DEFAULT_REPORT)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as report:
        report.write(json.dumps({**asdict(counts), "recorded_at_unix_s": int(time.time())}) + "\n")
