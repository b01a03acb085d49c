"""The streaming audit. One process replays the rules in order and checks every hash link;
a pool of worker processes checks every actor signature in parallel, and the registry's
countersignature once a chunk, on its last envelope (signatures.py: one Ed25519 check per
envelope, not two). Memory stays flat: bounded chunks in flight, a compact Merkle tree,
expired command ids forgotten, projections rebuilt into a file on disk."""

from __future__ import annotations

import multiprocessing
import os
import sys
import tempfile
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from projections.store import ProjectionStore, Snapshot
from registry.audit.rebuild import ProjectionRebuild
from registry.audit.replay import FINDINGS_MAX, Discrepancy, Replayer, Stop, Unanchored
from registry.audit.signatures import SignatureChecks, Verdicts
from registry.audit.sources import Broken, Source
from registry.domain import events as ev
from registry.domain.dispatch import EventDispatch
from registry.domain.invariants import invariant_violations
from registry.envelope.sealing import OpenedEnvelope
from registry.support.presentation import tonnes
from registry.support.worker_pool import spawn_pool
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.merkle import CompactTree, leaf_hash


@dataclass
class AuditReport:
    source: str
    envelopes: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    stopped: Stop | None = None  # None: the audit read the source to its end
    _seen: set[tuple[int, str]] = field(default_factory=set, repr=False)

    @property
    def clean(self) -> bool:
        return not self.discrepancies and self.stopped is None

    def add(self, findings: Iterable[Discrepancy]) -> None:
        """Record findings once each: an envelope found altered in order is found again
        when its deferred signature check comes back."""
        for finding in findings:
            key = (finding.position, finding.reason)
            if key not in self._seen:
                self._seen.add(key)
                self.discrepancies.append(finding)

    def to_json(self) -> dict[str, Any]:
        first = sorted(self.discrepancies, key=lambda d: d.position)
        return {
            "verdict": "CLEAN" if self.clean else "DISCREPANCIES",
            "source": self.source,
            "envelopes": self.envelopes,
            "elapsed_s": round(self.elapsed_s, 3),
            "envelopes_per_s": round(self.envelopes / self.elapsed_s) if self.elapsed_s else None,
            "summary": self.summary,
            "notes": self.notes,
            "stopped_at": None
            if self.stopped is None
            else {"position": self.stopped.position, "reason": self.stopped.reason},
            "discrepancies": [
                {"position": d.position, "event": d.event, "reason": d.reason} for d in first
            ],
        }


class Progress:
    """A one-line progress bar with rate and ETA, on a terminal (or when forced)."""

    def __init__(
        self, total: int | None, stream: TextIO = sys.stderr, enabled: bool | None = None
    ) -> None:
        self.total = total
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not final and now - self.last < 0.5):
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        if self.total:
            fraction = min(done / self.total, 1.0)
            bar = "#" * int(30 * fraction) + "-" * (30 - int(30 * fraction))
            eta = (self.total - done) / rate if rate else 0
            line = f"[{bar}] {fraction:6.1%} {done:,}/{self.total:,} envelopes {rate:,.0f}/s ETA {eta:4.0f} s"
        else:
            line = f"{done:,} envelopes {rate:,.0f}/s"
        self.stream.write("\r" + line + ("\n" if final else ""))
        self.stream.flush()


class Auditor:
    def __init__(
        self,
        registry_public_keys: Mapping[str, bytes],
        workers: int | None = None,
        compare_projection_url: str | None = None,
        progress: bool | None = None,
        scratch_directory: Path | None = None,
        keep_projection: Path | None = None,
    ) -> None:
        self.registry_public_keys = dict(registry_public_keys)
        self.workers = workers or os.cpu_count() or 1
        self.compare_projection_url = compare_projection_url
        self.progress_enabled = progress
        self.scratch_directory = scratch_directory
        self.keep_projection = keep_projection  # rebuild into this file and leave it there

    def run(self, source: Source) -> AuditReport:
        started = time.perf_counter()
        report = AuditReport(source.description)
        # The live read models first, at one consistent position: every position they hold
        # was in the log before, so the replay meets them all, and the rebuild takes exactly
        # those. Workers may go on applying meanwhile; what they add later is not compared.
        live = (
            ProjectionStore(self.compare_projection_url).snapshot()
            if self.compare_projection_url
            else None
        )
        with tempfile.TemporaryDirectory(dir=self.scratch_directory, prefix="audit-") as scratch:
            rebuilt = self.keep_projection or Path(scratch) / "rebuilt.sqlite"
            projection = ProjectionStore(f"sqlite:///{rebuilt}")  # creates the tables
            # spawn, not fork: the gRPC server may be running threads in this process
            context = multiprocessing.get_context("spawn")
            rebuild = ProjectionRebuild(projection.url, context)
            try:
                with spawn_pool(self.workers) as pool:
                    self._replay(source, report, pool, rebuild, live)
            finally:
                rebuild.finish()
            if live is not None and report.clean:
                self._compare(projection, live, report)
        report.notes.extend(source.notes)
        report.elapsed_s = time.perf_counter() - started
        return report

    def _replay(
        self,
        source: Source,
        report: AuditReport,
        pool: ProcessPoolExecutor,
        rebuild: ProjectionRebuild,
        live: Snapshot | None,
    ) -> None:
        run = _Pass(
            Replayer(self.registry_public_keys),
            SignatureChecks(pool, self.workers, rebuild.add),
            Progress(source.total, enabled=self.progress_enabled),
            _by_tree_size(source.checkpoints),
            None if live is None else _Positions(live.positions),
        )
        for item in source.items():
            if not self._step(run, item, report):
                break  # what follows is unanchored, or the findings are too many
        _settled(report, run.checks.drain())
        run.progress.update(report.envelopes, final=True)
        report.discrepancies.extend(
            _unmatched_checkpoints(run.checkpoints, run.tree.size, report.stopped)
        )
        if report.stopped is None:
            ledger = run.replayer.ledger
            report.add(
                Discrepancy(ledger.position, problem) for problem in invariant_violations(ledger)
            )
        report.summary = _summary(run)

    def _step(self, run: _Pass, item: OpenedEnvelope | Broken, report: AuditReport) -> bool:
        """Replay one envelope in order and queue its signatures; False where the audit
        stops (the history cannot be followed further, or too much is wrong)."""
        if isinstance(item, Broken):
            report.add([Discrepancy(item.position, item.reason)])
            report.stopped = Stop(
                item.position, "a record that cannot be opened: its effects are unknown"
            )
            return False
        report.envelopes += 1
        try:
            step = run.replayer.step(item, check_signatures=False)
        except Unanchored as unanchored:
            report.add(unanchored.findings)
            report.stopped = unanchored.stop
            return False
        report.add(step.findings)
        if len(report.discrepancies) > FINDINGS_MAX:
            report.stopped = Stop(item.body.position, f"more than {FINDINGS_MAX} findings")
            return False
        if not step.applied:
            return True
        handover = False
        for event in step.events:
            count = _TOTALS.handler(event)
            if count is not None:
                count(run.totals, event)
            handover = handover or isinstance(event, ev.RegistryKeyRotated)
        rebuilt = run.live_positions is None or item.body.position in run.live_positions
        # A chunk ends at a handover: its one countersignature is under one registry key.
        _settled(report, run.checks.add(step.work, item, rebuilt, last=handover))
        run.tree.append(leaf_hash(item.sealed_bytes))
        for checkpoint in run.checkpoints.pop(run.tree.size, []):
            self._check_checkpoint(checkpoint, run.tree, run.replayer, report)
            run.totals.checkpoints_verified += 1
        run.progress.update(report.envelopes)
        return report.stopped is None

    def _check_checkpoint(
        self, checkpoint: Checkpoint, tree: CompactTree, replayer: Replayer, report: AuditReport
    ) -> None:
        """Signed by the key that sealed position tree_size, per the history replayed so far."""
        if not checkpoint.verifies(replayer.key_history):
            report.discrepancies.append(
                Discrepancy(checkpoint.tree_size, "checkpoint signature does not verify")
            )
        elif checkpoint.root != tree.root():
            report.discrepancies.append(
                Discrepancy(checkpoint.tree_size, "checkpoint root differs from the log's tree")
            )

    def _compare(self, rebuilt: ProjectionStore, snapshot: Snapshot, report: AuditReport) -> None:
        """The live rows against a rebuild of exactly the positions they were built from."""
        if rebuilt.applied_count() != snapshot.position_count:
            report.add(
                [
                    Discrepancy(
                        0,
                        f"the live read models hold {snapshot.position_count} positions, "
                        f"the log gave {rebuilt.applied_count()} of them",
                    )
                ]
            )
        live = snapshot.tables
        for table, rows in rebuilt.dump().items():
            if live.get(table) != rows:
                live_rows = set(live.get(table, []))
                missing = [row for row in rows if row not in live_rows]
                extra = [row for row in live.get(table, []) if row not in set(rows)]
                sample = (missing or extra)[:1]
                report.discrepancies.append(
                    Discrepancy(
                        0,
                        f"live projection table {table} differs: {len(missing)} rows missing, "
                        f"{len(extra)} unexpected, e.g. {sample}",
                    )
                )
        last = snapshot.positions[-1][1] if snapshot.positions else 0
        report.notes.append(
            f"live projections compared with a rebuild from the log, at the {snapshot.position_count}"
            f" positions they held when read (up to {last})"
        )


@dataclass(slots=True)
class Totals:
    """Quantities the audit adds up while replaying, and the checkpoints it verified."""

    issued_kg: int = 0
    retired_kg: int = 0
    cancelled_kg: int = 0
    checkpoints_verified: int = 0


def _count_issued(totals: Totals, event: ev.CreditsIssued) -> None:
    totals.issued_kg += event.quantity_kg


def _count_retired(totals: Totals, event: ev.CreditsRetired) -> None:
    totals.retired_kg += event.quantity_kg


def _count_cancelled(totals: Totals, event: ev.CreditsCancelled) -> None:
    totals.cancelled_kg += event.quantity_kg


def _count_reversed(totals: Totals, event: ev.ReversalReported) -> None:
    totals.cancelled_kg += event.cancelled_kg  # from the buffer; a shortfall cancels nothing


_TOTALS: EventDispatch[Callable[[Totals, Any], None]] = EventDispatch(
    "audit totals",
    {
        ev.CreditsIssued: _count_issued,
        ev.CreditsRetired: _count_retired,
        ev.CreditsCancelled: _count_cancelled,
        ev.ReversalReported: _count_reversed,
    },
    ignored=(  # they move no credits into or out of supply
        ev.PartyRegistered,
        ev.KeyRegistered,
        ev.KeyRotated,
        ev.KeyRevoked,
        ev.CreditClassRegistered,
        ev.ProjectRegistered,
        ev.CreditsTransferred,
        ev.PoolOpened,
        ev.MeetingRegistered,
        ev.MeetingCalculated,
        ev.PoolAllocated,
        ev.MeetingOffset,
        ev.AgreementSigned,
        ev.DeliveryProposed,
        ev.DeliveryResolved,
        ev.ContributionsRecorded,
        ev.FactorTableRegistered,
        ev.PoolFunded,  # credits move into a pool's holding and out of it: supply stays
        ev.PoolRemainderReturned,
        ev.PoolRemainderCarried,
        ev.RecoveryKeySet,
        ev.KeyRecovered,
        ev.RecoveryStarted,
        ev.RecoveryVetoed,
        ev.RecoveryCompleted,
        ev.RegistryKeyRotated,
        ev.CreditsBuffered,  # withheld into the buffer account: still tradable, held there
        ev.LabelAdded,
        ev.LabelWithdrawn,
    ),
)


@dataclass
class _Pass:
    """What one replay carries from envelope to envelope."""

    replayer: Replayer
    checks: SignatureChecks
    progress: Progress
    checkpoints: dict[int, list[Checkpoint]]  # by tree size, popped as the tree reaches it
    live_positions: _Positions | None = None  # rebuild only these, to compare with the live rows
    tree: CompactTree = field(default_factory=CompactTree)
    totals: Totals = field(default_factory=Totals)


def _settled(report: AuditReport, verdicts: Verdicts) -> None:
    """Findings of chunks whose signatures came back. A chunk found altered stops the audit
    at its altered envelope, even if the replay went on (or stopped) past it: findings
    after it are about what cannot be anchored, and are dropped."""
    for findings, stop in verdicts:
        stopped_at = report.stopped.position if report.stopped else None
        report.add(f for f in findings if stopped_at is None or f.position <= stopped_at)
        if stop is not None and (report.stopped is None or stop.position < report.stopped.position):
            report.stopped = stop
            report.discrepancies = [d for d in report.discrepancies if d.position <= stop.position]


def _by_tree_size(checkpoints: Iterable[Checkpoint]) -> dict[int, list[Checkpoint]]:
    by_size: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_size.setdefault(checkpoint.tree_size, []).append(checkpoint)
    return by_size


def _unmatched_checkpoints(
    checkpoints: Mapping[int, list[Checkpoint]], log_size: int, stopped: Stop | None
) -> list[Discrepancy]:
    """Checkpoints the replay never reached. Past a stop they were simply not checked (the
    stop is the finding); otherwise the log is shorter than the registry once signed."""
    if stopped is not None:
        return []
    return [
        Discrepancy(
            size, f"a signed checkpoint covers {size} envelopes; the log ends at {log_size}"
        )
        for size, unmatched in sorted(checkpoints.items())
        for _checkpoint in unmatched
    ]


class _Positions:
    """A set of positions held as sorted inclusive ranges (flat memory for millions)."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self.firsts = [first for first, _last in ranges]
        self.ranges = ranges

    def __contains__(self, position: int) -> bool:
        index = bisect_right(self.firsts, position) - 1
        return index >= 0 and position <= self.ranges[index][1]


def _summary(run: _Pass) -> dict[str, Any]:
    ledger, totals = run.replayer.ledger, run.totals
    return {
        "events": ledger.position,
        "parties": len(ledger.parties),
        "batches": len(ledger.batches),
        "issued_t": tonnes(totals.issued_kg),
        "retired_t": tonnes(totals.retired_kg),
        "cancelled_t": tonnes(totals.cancelled_kg),
        **asdict(totals),
        "tree_size": run.tree.size,
        "root": run.tree.root().hex(),
    }
