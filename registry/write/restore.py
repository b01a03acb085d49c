"""Restoring an event store from the log: the disaster-recovery path when the database is
lost. Reads every envelope of a source (the Kafka topic, or an export) in global order,
verifies each one as the audit does (every hash link of the chain, the registry's
countersignature once a chunk, on its last envelope, under the key history from the pinned
key, the actor's and co-signers' signatures, the rules decided again), writes the sealed
bytes verbatim as the chain stream's events, restores the signed checkpoints that verify
against the rebuilt tree, and ends with a snapshot so that the service starts without
replaying what was just verified.

All of it is one transaction of the target database: a source that fails anywhere (a
tampered or missing record, a checkpoint that does not match) leaves the database as it
was, empty, and the error names the position. The target must be empty to begin with.

Not in the log, so not restored: kept refusals (the first refusal of a command stands for
the command's lifetime; those recorded in the last lifetime before the loss are gone) and
the relay's positions (the relay publishes the restored chain again; readers drop what
they have already, by identical bytes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy.orm import Session

from registry.audit.replay import ALTERED, ActorTask, Replayer, SignatureWork, Step, Unanchored
from registry.audit.signatures import (
    CHUNK_ENVELOPES_MAX,
    CHUNKS_IN_FLIGHT_PER_WORKER,
    verify_chunk,
)
from registry.audit.sources import Broken, Source
from registry.domain import events as ev
from registry.domain.invariants import invariant_violations
from registry.envelope.keys import SigningKey, verify
from registry.envelope.sealing import OpenedEnvelope
from registry.support.worker_pool import spawn_pool
from registry.transparency.checkpoints import Checkpoint, CheckpointStore, checkpoints_table
from registry.transparency.merkle import CompactTree, leaf_hash
from registry.write.persistence import CHAIN_ID, EnvelopeMapper, Sequenced, event_store_recorder
from registry.write.snapshots import SnapshotState, SnapshotStore, copied_history, make_snapshot

BATCH_ENVELOPES = 1_000


class RestoreError(Exception):
    def __init__(self, position: int, reason: str) -> None:
        self.position = position
        self.reason = reason
        super().__init__(f"position {position}: {reason}")


@dataclass
class RestoreReport:
    source: str
    envelopes: int = 0
    checkpoints: int = 0
    snapshot_position: int | None = None
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)


Seal = tuple[bytes, bytes, bytes]  # registry public key, countersignature, signed body


def _failures(tasks: list[ActorTask], seals: list[Seal]) -> list[tuple[int, str]]:
    """A chunk's actor signatures and co-signatures, and its last countersignature (the
    replay checked every hash link: that one covers the chunk byte for byte). When it
    fails, each envelope's own countersignature in turn finds the first altered one."""
    sealed, failures = verify_chunk(tasks, seals[-1])
    found = [(position, reason) for position, reason, _event in failures]
    if not sealed:
        for task, (key, signature, body_bytes) in zip(tasks, seals, strict=True):
            if not verify(key, signature, body_bytes):
                found.append((task[0], ALTERED))
                break
    return found


class _Signatures:
    """Every actor signature, and one countersignature a chunk, checked in worker
    processes (or here, with no workers); the first failure in position order is raised.
    A chunk ends at a registry-key handover: its countersignature is under one key."""

    def __init__(self, workers: int) -> None:
        self.pool: ProcessPoolExecutor | None = spawn_pool(workers) if workers > 1 else None
        self.in_flight_max = CHUNKS_IN_FLIGHT_PER_WORKER * max(workers, 1)
        self.pending: list[Future[list[tuple[int, str]]]] = []
        self.tasks: list[ActorTask] = []
        self.seals: list[Seal] = []

    def add(self, work: SignatureWork, envelope: OpenedEnvelope, handover: bool) -> None:
        self.tasks.append(work.task())
        self.seals.append(
            (work.registry_public_key, envelope.registry_signature, envelope.body_bytes)
        )
        if handover or len(self.tasks) >= CHUNK_ENVELOPES_MAX:
            self._submit()

    def _submit(self) -> None:
        tasks, seals = self.tasks, self.seals
        self.tasks, self.seals = [], []
        if self.pool is None:
            self._raise_first(_failures(tasks, seals))
            return
        self.pending.append(self.pool.submit(_failures, tasks, seals))
        while len(self.pending) >= self.in_flight_max:
            self._raise_first(self.pending.pop(0).result())

    def finish(self) -> None:
        if self.tasks:
            self._submit()
        while self.pending:
            self._raise_first(self.pending.pop(0).result())

    def _raise_first(self, failures: list[tuple[int, str]]) -> None:
        if failures:
            position, reason = min(failures)
            raise RestoreError(position, reason)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


def _step(replayer: Replayer, envelope: OpenedEnvelope) -> Step:
    """Check and apply one envelope as the audit does; any finding stops the restore."""
    try:
        step = replayer.step(envelope, check_signatures=False)
    except Unanchored as unanchored:
        first = unanchored.findings[0].reason if unanchored.findings else unanchored.stop.reason
        raise RestoreError(unanchored.stop.position, first) from None
    if step.findings:
        raise RestoreError(step.findings[0].position, step.findings[0].reason)
    return step


def restore(
    source: Source,
    database_url: str,
    pinned: Mapping[str, bytes],
    signing_keys: Sequence[SigningKey] = (),
    workers: int = 0,
    progress: Callable[[int], None] | None = None,
) -> RestoreReport:
    """Restore `source` into the empty database at `database_url`, trusting only `pinned`
    (the registry key the history starts from). `signing_keys`: registry keys to sign the
    final snapshot with (none: no snapshot; the first start replays instead)."""
    started_s = time.perf_counter()
    report = RestoreReport(source.description)
    recorder = event_store_recorder(database_url)
    if not isinstance(recorder, SQLAlchemyApplicationRecorder):
        raise TypeError("a restore writes through the SQLAlchemy recorder")
    engine = sa.create_engine(database_url)
    checkpoints, snapshots = CheckpointStore(engine), SnapshotStore(engine)
    _require_empty(recorder, checkpoints, snapshots)
    replayer, tree = Replayer(dict(pinned)), CompactTree()
    signatures = _Signatures(workers)
    try:
        with recorder.transaction(commit=True) as session:
            roots = _write_chain(source, replayer, tree, signatures, recorder, session, progress)
            report.envelopes = replayer.ledger.position
            report.checkpoints = _write_checkpoints(source.checkpoints, roots, replayer, session)
            report.snapshot_position = _write_snapshot(
                replayer, tree, signing_keys, snapshots, session
            )
    finally:
        signatures.close()
    _confirm(recorder, replayer)
    if report.snapshot_position is None:
        report.notes.append("no snapshot: no key given that seals the head's position")
    report.notes.extend(source.notes)
    report.elapsed_s = time.perf_counter() - started_s
    return report


def _require_empty(
    recorder: SQLAlchemyApplicationRecorder, checkpoints: CheckpointStore, snapshots: SnapshotStore
) -> None:
    if recorder.select_events(CHAIN_ID, limit=1):
        raise RestoreError(
            0, "the target database holds a chain already: restore into an empty one"
        )
    if checkpoints.latest() is not None or snapshots.positions():
        raise RestoreError(0, "the target database holds checkpoints or snapshots already")


def _write_chain(
    source: Source,
    replayer: Replayer,
    tree: CompactTree,
    signatures: _Signatures,
    recorder: SQLAlchemyApplicationRecorder,
    session: Session,
    progress: Callable[[int], None] | None,
) -> dict[int, bytes]:
    """Verify and write every envelope; returns the tree's root at each checkpoint size."""
    mapper = EnvelopeMapper()
    sizes = {checkpoint.tree_size for checkpoint in source.checkpoints}
    roots: dict[int, bytes] = {}
    batch: list[Sequenced] = []
    for item in source.items():
        if isinstance(item, Broken):
            raise RestoreError(item.position, item.reason)
        step = _step(replayer, item)
        handover = any(isinstance(event, ev.RegistryKeyRotated) for event in step.events)
        signatures.add(step.work, item, handover)
        tree.append(leaf_hash(item.sealed_bytes))
        if tree.size in sizes:
            roots[tree.size] = tree.root()
        recorded = datetime.fromtimestamp(item.body.recorded_at_us / 1_000_000, tz=UTC)
        batch.append(Sequenced(CHAIN_ID, item.body.position, recorded, item.sealed_bytes))
        if len(batch) >= BATCH_ENVELOPES:
            recorder.insert_events([mapper.to_stored_event(e) for e in batch], session=session)
            batch.clear()
            if progress is not None:
                progress(replayer.ledger.position)
    if batch:
        recorder.insert_events([mapper.to_stored_event(e) for e in batch], session=session)
    signatures.finish()
    head = replayer.ledger.position
    if head == 0:
        raise RestoreError(0, "the source holds no envelopes")
    problems = invariant_violations(replayer.ledger)
    if problems:
        raise RestoreError(head, f"the restored ledger does not add up: {problems[0]}")
    if progress is not None:
        progress(head)
    return roots


def _write_checkpoints(
    found: Iterable[Checkpoint], roots: Mapping[int, bytes], replayer: Replayer, session: Session
) -> int:
    """Every checkpoint must verify (signed by the key sealing its position) and match the
    rebuilt tree; one beyond the last envelope means the source lacks envelopes."""
    head = replayer.ledger.position
    rows = {}
    for checkpoint in found:
        if checkpoint.tree_size > head:
            raise RestoreError(
                head,
                f"a signed checkpoint covers {checkpoint.tree_size} envelopes: some are missing",
            )
        if not checkpoint.verifies(replayer.key_history):
            raise RestoreError(checkpoint.tree_size, "a checkpoint's signature does not verify")
        if roots.get(checkpoint.tree_size) != checkpoint.root:
            raise RestoreError(checkpoint.tree_size, "a checkpoint's root differs from the tree")
        rows[checkpoint.tree_size] = {
            "tree_size": checkpoint.tree_size,
            "root": checkpoint.root,
            "registry_key_id": checkpoint.registry_key_id,
            "signature": checkpoint.signature,
        }
    if rows:
        session.execute(sa.insert(checkpoints_table), list(rows.values()))
    return len(rows)


def _write_snapshot(
    replayer: Replayer,
    tree: CompactTree,
    signing_keys: Sequence[SigningKey],
    snapshots: SnapshotStore,
    session: Session,
) -> int | None:
    head = replayer.ledger.position
    history = replayer.key_history
    allowed = {**history.keys_for(head), **history.keys_for(head + 1)}
    key = next((k for k in signing_keys if allowed.get(k.key_id) == k.public_key), None)
    if key is None:
        return None
    state = SnapshotState(
        replayer.ledger.copy(),
        replayer.latest_time_us,
        tree.snapshot(),
        [],
        copied_history(history),
    )
    snapshots.record(make_snapshot(state, key), connection=session.connection())
    return head


def _confirm(recorder: SQLAlchemyApplicationRecorder, replayer: Replayer) -> None:
    """Read back the head: SQLite's recorder can swallow a failed commit."""
    stored = recorder.select_events(CHAIN_ID, desc=True, limit=1)
    if not stored or stored[0].originator_version != replayer.ledger.position:
        raise RestoreError(replayer.ledger.position, "the restored chain was not committed")
