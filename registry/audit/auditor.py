"""The streaming audit. One process replays the rules in order; a pool of worker processes
checks the two Ed25519 signatures of every envelope in parallel (verification is the
floor, so it gets every core). Memory stays flat: bounded chunks in flight, a compact
Merkle tree, expired command ids forgotten, projections rebuilt into a file on disk."""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from projections.store import ProjectionStore
from registry.audit.replay import Discrepancy, Replayer, SignatureWork
from registry.audit.sources import Broken, Source
from registry.domain import events as ev
from registry.domain.invariants import invariant_violations
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope, open_sealed
from registry.support.presentation import tonnes
from registry.support.worker_pool import exit_with_parent, spawn_pool
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.merkle import CompactTree, leaf_hash

CHUNK_ENVELOPES = 512
PROJECTION_BATCH_ENVELOPES = 2_000
PROJECTION_QUEUE_BATCHES = 4  # bounded: at most this many batches wait for the rebuilder
PUT_TIMEOUT_S = 1.0


def _rebuild_projection(url: str, batches: Any, parent_pid: int) -> None:
    """The rebuild's own process: opens each batch of sealed envelopes again (the decode is
    work this process does, not the rules' process) and applies it with its position."""
    exit_with_parent(parent_pid)
    store = ProjectionStore(url)
    schemas = SchemaRegistry()
    while (batch := batches.get()) is not None:
        envelopes = [open_sealed(schemas, sealed) for sealed in batch]
        store.apply("audit", 0, envelopes[-1].body.position + 1, envelopes)
    store.engine.dispose()


class ProjectionRebuild:
    """Rebuilds every read model from the audited envelopes in a process of its own, fed
    through a bounded queue. Writing rows was a third of the rules' process; now the rules,
    the rows and the signature workers each have a core to run on."""

    def __init__(self, url: str, context: Any) -> None:
        self.batches = context.Queue(maxsize=PROJECTION_QUEUE_BATCHES)
        self.process = context.Process(
            target=_rebuild_projection,
            args=(url, self.batches, os.getpid()),
            name="audit-projection",
        )
        self.process.start()
        self.pending: list[bytes] = []

    def add(self, sealed: bytes) -> None:
        self.pending.append(sealed)
        if len(self.pending) >= PROJECTION_BATCH_ENVELOPES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self._put(self.pending)
            self.pending = []

    def finish(self) -> None:
        self.flush()
        self._put(None)
        self.process.join()
        if self.process.exitcode != 0:
            raise RuntimeError(f"the projection rebuild failed (exit {self.process.exitcode})")

    def _put(self, batch: list[bytes] | None) -> None:
        # A full queue waits for the rebuilder, but never for one that has died.
        while True:
            try:
                self.batches.put(batch, timeout=PUT_TIMEOUT_S)
                return
            except queue.Full:
                if not self.process.is_alive():
                    raise RuntimeError("the projection rebuild stopped") from None


def _verify_chunk(works: list[SignatureWork]) -> list[Discrepancy]:
    failures = []
    for work in works:
        reason = work.failure()
        if reason is not None:
            failures.append(Discrepancy(work.position, reason, work.event))
    return failures


@dataclass
class AuditReport:
    source: str
    envelopes: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def clean(self) -> bool:
        return not self.discrepancies

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
        with tempfile.TemporaryDirectory(dir=self.scratch_directory, prefix="audit-") as scratch:
            rebuilt = self.keep_projection or Path(scratch) / "rebuilt.sqlite"
            projection = ProjectionStore(f"sqlite:///{rebuilt}")  # creates the tables
            # spawn, not fork: the gRPC server may be running threads in this process
            context = multiprocessing.get_context("spawn")
            rebuild = ProjectionRebuild(projection.url, context)
            try:
                with spawn_pool(self.workers) as pool:
                    self._replay(source, report, pool, rebuild)
            finally:
                rebuild.finish()
            if self.compare_projection_url and report.clean:
                self._compare(projection, report)
        report.notes.extend(source.notes)
        report.elapsed_s = time.perf_counter() - started
        return report

    def _replay(
        self,
        source: Source,
        report: AuditReport,
        pool: ProcessPoolExecutor,
        rebuild: ProjectionRebuild,
    ) -> None:
        replayer = Replayer(self.registry_public_keys)
        tree = CompactTree()
        checkpoints: dict[int, list[Checkpoint]] = {}
        for checkpoint in source.checkpoints:
            checkpoints.setdefault(checkpoint.tree_size, []).append(checkpoint)
        in_flight: deque[Future[list[Discrepancy]]] = deque()
        chunk: list[SignatureWork] = []
        totals = {"issued_kg": 0, "retired_kg": 0, "cancelled_kg": 0, "checkpoints_verified": 0}
        progress = Progress(source.total, enabled=self.progress_enabled)

        def flush_chunk() -> None:
            if chunk:
                in_flight.append(pool.submit(_verify_chunk, list(chunk)))
                chunk.clear()
            while len(in_flight) > 2 * self.workers:  # bounded: memory stays flat
                report.discrepancies.extend(in_flight.popleft().result())

        for item in source.items():
            if isinstance(item, Broken):
                report.discrepancies.append(Discrepancy(item.position, item.reason))
                break
            report.envelopes += 1
            try:
                events, work = replayer.step(item, check_signatures=False)
            except EnvelopeError as error:
                report.discrepancies.append(
                    Discrepancy(
                        error.position or item.body.position, error.reason, _names(item, replayer)
                    )
                )
                break  # what follows an untrustworthy envelope is unanchored
            chunk.append(work)
            if len(chunk) >= CHUNK_ENVELOPES:
                flush_chunk()
            for event in events:
                if isinstance(event, ev.CreditsIssued):
                    totals["issued_kg"] += event.quantity_kg
                elif isinstance(event, ev.CreditsRetired):
                    totals["retired_kg"] += event.quantity_kg
                elif isinstance(event, ev.CreditsCancelled):
                    totals["cancelled_kg"] += event.quantity_kg
            tree.append(leaf_hash(item.sealed_bytes))
            for checkpoint in checkpoints.pop(tree.size, []):
                self._check_checkpoint(checkpoint, tree, report)
                totals["checkpoints_verified"] += 1
            rebuild.add(item.sealed_bytes)
            progress.update(report.envelopes)
        flush_chunk()
        while in_flight:
            report.discrepancies.extend(in_flight.popleft().result())
        progress.update(report.envelopes, final=True)
        for size, unmatched in sorted(checkpoints.items()):
            for _checkpoint in unmatched:
                report.discrepancies.append(
                    Discrepancy(
                        size,
                        f"a signed checkpoint covers {size} envelopes; the log ends at {tree.size}",
                    )
                )
        if report.clean:
            ledger = replayer.ledger
            report.discrepancies.extend(
                Discrepancy(ledger.position, problem) for problem in invariant_violations(ledger)
            )
        ledger = replayer.ledger
        report.summary = {
            "events": ledger.position,
            "parties": len(ledger.parties),
            "batches": len(ledger.batches),
            "issued_t": tonnes(totals["issued_kg"]),
            "retired_t": tonnes(totals["retired_kg"]),
            "cancelled_t": tonnes(totals["cancelled_kg"]),
            **{key: value for key, value in totals.items()},
            "tree_size": tree.size,
            "root": tree.root().hex(),
        }

    def _check_checkpoint(
        self, checkpoint: Checkpoint, tree: CompactTree, report: AuditReport
    ) -> None:
        if not checkpoint.verifies(self.registry_public_keys):
            report.discrepancies.append(
                Discrepancy(checkpoint.tree_size, "checkpoint signature does not verify")
            )
        elif checkpoint.root != tree.root():
            report.discrepancies.append(
                Discrepancy(checkpoint.tree_size, "checkpoint root differs from the log's tree")
            )

    def _compare(self, rebuilt: ProjectionStore, report: AuditReport) -> None:
        assert self.compare_projection_url is not None
        live = ProjectionStore(self.compare_projection_url).dump()
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
        report.notes.append("live projections compared with a rebuild from the log")


def _names(envelope: OpenedEnvelope, replayer: Replayer) -> str:
    try:
        return ",".join(
            type(replayer.codec.decode_event(effect)).__name__ for effect in envelope.body.effects
        )
    except Exception:
        return ""
