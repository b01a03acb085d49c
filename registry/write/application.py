"""The write side: an eventsourcing application whose one stream is the registry's chain.

Why one stream: each envelope carries its global position and the hash of the previous
envelope, both countersigned, so positions must be decided before the write. The stream's
version is the position; eventsourcing's unique (originator_id, version) constraint makes two
writers (threads, processes, replicas) unable to claim the same position, so a double spend
loses the race and is re-decided against the winner's state. Throughput comes from batching
many commands into one commit, not from parallel writers.

The registry key seals; the key history (transparency/registry_keys.py) says which key
seals which positions. It starts from the pinned key (by default this process's own) and
follows rotations in the chain, so a process that does not hold the current key refuses to
write (REGISTRY_KEY_NOT_CURRENT) rather than seal with a retired one."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy
from eventsourcing.application import Application
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    OperationalError,
)
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

from registry.domain import commands as cmd
from registry.domain import rules
from registry.domain.checks import CheckCode, Rejection
from registry.domain.commands import Command
from registry.domain.events import Event
from registry.domain.ledger import Ledger
from registry.domain.results import CommandResult
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import (
    EnvelopeBody,
    OpenedEnvelope,
    SignedCommand,
    envelope_hash,
    open_sealed,
    seal,
    verify_actor_signature,
    verify_cosignature,
)
from registry.support.clock import now_us
from registry.support.database import schema_creation_lock_for_url
from registry.support.observability import CLOCK_BEHIND_SECONDS
from registry.transparency.chain import ChainHead, verified_runs
from registry.transparency.checkpoints import (
    CHECKPOINT_INTERVAL_ENVELOPES,
    Checkpoint,
    CheckpointStore,
)
from registry.transparency.merkle import CompactTree, leaf_hash
from registry.transparency.registry_keys import Handover, RegistryKeyHistory, follow_events
from registry.write import refusals
from registry.write.group_commit import GroupCommit
from registry.write.persistence import CHAIN_ID, EnvelopeMapper, Sequenced, database_environment
from registry.write.snapshot_writer import SNAPSHOT_INTERVAL_ENVELOPES, SnapshotWriter
from registry.write.snapshots import (
    SnapshotState,
    SnapshotStore,
    copied_history,
    newest_verified,
    root_key_id,
)
from registry.write.storing import DecidedGroup, GroupStore, Outcome, kept_result

BATCH_COMMANDS_MAX = 1_000
COMMIT_ATTEMPTS_MAX = 8
CATCH_UP_PAGE_EVENTS = 1_000
# A replica decides at its clock, held at the chain's latest recorded time when that reads
# later. Held by more than this, it would judge fresh commands older than they are and carry
# another replica's fast clock on as its own: it refuses to decide instead (CLOCK_BEHIND,
# gRPC UNAVAILABLE) and its gauge says by how much. Far above the offsets of hosts kept by
# NTP (milliseconds), far below what a command tolerates: a ten-minute command loses at most
# this much of its lifetime, and a client's skew allowance is larger still.
CLOCK_BEHIND_US_MAX = 60 * 1_000_000
assert CLOCK_BEHIND_US_MAX < rules.CLOCK_SKEW_US_MAX < rules.RECORDING_DELAY_US_MAX
# What makes a group's commit try again from the winner's state.
LOST_RACE = (
    IntegrityError,
    OperationalError,
    sqlalchemy.exc.IntegrityError,
    sqlalchemy.exc.OperationalError,
    refusals.LostRace,
)

logger = logging.getLogger(__name__)


class RegistryApplication(Application[UUID]):
    name = "Registry"

    def __init__(
        self,
        database_url: str,
        registry_key: SigningKey,
        clock_us: Callable[[], int] = now_us,
        checkpoint_interval: int = CHECKPOINT_INTERVAL_ENVELOPES,
        defer_catch_up: bool = False,
        further_registry_keys: Sequence[SigningKey] = (),
        pinned_registry_keys: Mapping[str, bytes] | None = None,
        snapshot_interval: int | None = SNAPSHOT_INTERVAL_ENVELOPES,
        resume_from_snapshot: bool = True,
    ) -> None:
        """With `defer_catch_up`, the ledger starts empty and the caller runs catch_up()
        itself, e.g. with a progress hook, once it is ready to wait for it (the service
        answers health first). Writing catches up before deciding either way.
        `further_registry_keys`: more keys this process holds (the next key, while it
        rotates). `pinned_registry_keys`: the key the history starts from, when it is not
        one of these (after a rotation). The first catch-up resumes from the newest snapshot
        that verifies (`resume_from_snapshot`); one is written in the background every
        `snapshot_interval` positions (None: never in the background)."""
        with schema_creation_lock_for_url(database_url):
            super().__init__(env=database_environment(database_url))
        self.codec = Codec()
        self.held_registry_keys = {
            key.key_id: key for key in (registry_key, *further_registry_keys)
        }
        self._first_registry_key = registry_key
        self.registry_public_keys = dict(
            pinned_registry_keys or {registry_key.key_id: registry_key.public_key}
        )
        self.key_history = RegistryKeyHistory(dict(self.registry_public_keys))
        self.clock_us = clock_us
        # Recorded times never go back, even when the host clock does (an NTP step, a
        # restored VM): auditors refuse a history whose time runs back past the margin in
        # which command ids are remembered, as a replay could hide there.
        self.latest_recorded_us = 0
        self.chain_recorded_us = 0  # the latest time recorded in the chain itself
        self.ledger = Ledger()
        # The Merkle tree over every sealed envelope, for signed checkpoints (flat memory).
        self.tree = CompactTree()
        self.checkpoint_interval = checkpoint_interval
        self.checkpoints = CheckpointStore(sqlalchemy.create_engine(database_url))
        self._due_checkpoints: list[tuple[int, bytes]] = []
        self.lost_races = 0  # commits that found their position already taken
        # The head this process stored last. While the ledger is there, a group is decided
        # without asking the store first: had another writer stored a position since, the
        # insert (or, for refusals alone, the head check in refusals.settle) loses the race
        # and the group is decided again after catching up. One query less a group.
        self._stored_head = -1
        self.is_sqlite = database_url.startswith("sqlite")
        # One writer per process at a time; across processes the database decides.
        self._lock = threading.RLock()
        self._group_commit: GroupCommit[CommandResult] = GroupCommit(
            self._submit_items, self._lock, BATCH_COMMANDS_MAX
        )
        if not isinstance(self.recorder, SQLAlchemyApplicationRecorder):
            raise TypeError("the registry stores its chain through SQLAlchemy")
        engine = self.recorder.datastore.engine
        if not isinstance(engine, sqlalchemy.Engine):
            raise TypeError("the event store needs an engine, not a bare connection")
        refusals.create_table(engine)
        self._group_store = GroupStore(self.recorder, self.mapper, engine)
        self.snapshot_store = SnapshotStore(self.checkpoints.engine)
        self.snapshot_writer = SnapshotWriter(
            self._capture_snapshot, self._lock, self.snapshot_store, snapshot_interval
        )
        self._resume_pending = resume_from_snapshot
        self.resumed_from: int | None = None  # the snapshot's position, once resumed
        if not defer_catch_up:
            self.catch_up()

    def construct_mapper(self) -> Mapper[UUID]:
        return EnvelopeMapper()

    # -- reading the chain ------------------------------------------------------------------
    def read_envelopes(
        self, after_position: int = 0, page_events: int = CATCH_UP_PAGE_EVENTS
    ) -> Iterator[OpenedEnvelope]:
        """Stream sealed envelopes in position order, page by page (memory stays flat)."""
        position = after_position
        engine = self._group_store.engine
        while True:
            # A Core query, not the recorder's ORM session: every commit attempt catches up
            # first, and the ORM's session and query building were most of its cost.
            with engine.connect() as connection:
                page = connection.execute(self._page_query(page_events), {"after": position}).all()
            for _position, state in page:
                yield open_sealed(self.codec.schemas, bytes(state))
            if len(page) < page_events:
                return
            position = page[-1][0]

    def _page_query(self, page_events: int) -> sqlalchemy.Select[tuple[int, bytes]]:
        table = self._group_store.events_table
        return (
            sqlalchemy.select(table.c.originator_version, table.c.state)
            .where(
                table.c.originator_id == CHAIN_ID,
                table.c.originator_version > sqlalchemy.bindparam("after"),
            )
            .order_by(table.c.originator_version)
            .limit(page_events)
        )

    @property
    def registry_key(self) -> SigningKey:
        """The key this process seals with now: the current registry key, when it holds it."""
        key = self._held_key_for(self.ledger.position + 1)
        if key is None:
            history = self.key_history
            since = history.handovers[-1].position + 1 if history.handovers else 1
            current = ", ".join(sorted(history.keys_for(self.ledger.position + 1)))
            raise Rejection(
                CheckCode.REGISTRY_KEY_NOT_CURRENT,
                f"the registry key is {current} since position {since}; this process holds "
                f"{', '.join(sorted(self.held_registry_keys))}",
            )
        return key

    def _held_key_for(self, position: int) -> SigningKey | None:
        """The held key that seals `position`; the first one while several pinned keys
        could still be the root (nothing sealed yet)."""
        allowed = self.key_history.keys_for(position)
        if self._first_registry_key.key_id in allowed:
            return self._first_registry_key
        return next(
            (self.held_registry_keys[k] for k in allowed if k in self.held_registry_keys), None
        )

    def stored_head_position(self) -> int:
        """The highest position in the store, whoever wrote it (our ledger may be behind)."""
        latest = self.recorder.select_events(CHAIN_ID, desc=True, limit=1)
        return latest[0].originator_version if latest else 0

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Apply envelopes other writers stored since our head. Returns how many.
        `progress` is told the position reached after every page and at the end; it runs
        under the writer lock, so it must be quick (a gauge, a log line)."""
        applied = 0
        with self._lock:
            if self._resume_pending:
                self._resume_from_snapshot(progress)
            # The chain, not every countersignature: each run's hash links in order and
            # its last seal, before any of it is applied (transparency/chain.py). After a
            # snapshot, the first link is to the snapshot's head hash at its position.
            head = ChainHead(self.ledger.position, self.ledger.head_hash)
            envelopes = self.read_envelopes(self.ledger.position)
            schemas = self.codec.schemas
            for run in verified_runs(envelopes, self.key_history, schemas, head):
                for envelope in run:
                    self._apply_envelope(envelope)
                    applied += 1
                    if progress is not None and applied % CATCH_UP_PAGE_EVENTS == 0:
                        progress(self.ledger.position)
            if progress is not None:
                progress(self.ledger.position)
            self._record_due_checkpoints()
            if not self.ledger.in_transaction:
                self.ledger.forget_expired(self._now_us() - rules.FORGET_MARGIN_US)
            self.snapshot_writer.note(self.ledger.position)
        return applied

    def _grow_tree(self, sealed: bytes) -> None:
        self.tree.append(leaf_hash(sealed))
        if self.tree.size % self.checkpoint_interval == 0:
            self._due_checkpoints.append((self.tree.size, self.tree.root()))

    def _record_due_checkpoints(self) -> None:
        """A checkpoint of size s is signed by the key that sealed position s; one this
        process does not hold is left to the process that does."""
        signed = []
        for size, root in self._due_checkpoints:
            key = self._held_key_for(size)
            if key is not None:
                signed.append(Checkpoint.sign(size, root, key))
        self.checkpoints.record(signed)
        self._due_checkpoints.clear()

    def record_checkpoint(self) -> Checkpoint:
        """A signed checkpoint at the current head, e.g. before handing out proofs."""
        with self._lock:
            self.catch_up()
            key = self._held_key_for(self.tree.size) or self.registry_key
            checkpoint = Checkpoint.sign(self.tree.size, self.tree.root(), key)
            self.checkpoints.record([checkpoint])
        return checkpoint

    def decision_time_us(self) -> int:
        """The time the rules would decide at now: the clock, held at the latest time
        recorded (by any writer) if it reads earlier. Reads only; safe without the lock."""
        return max(self.clock_us(), self.latest_recorded_us)

    def _now_us(self) -> int:
        """Under the writer lock: the decision time, remembered so it never goes back."""
        self.latest_recorded_us = self.decision_time_us()
        return self.latest_recorded_us

    def _apply_envelope(self, envelope: OpenedEnvelope) -> None:
        body = envelope.body
        self.latest_recorded_us = max(self.latest_recorded_us, body.recorded_at_us)
        self.chain_recorded_us = max(self.chain_recorded_us, body.recorded_at_us)
        events = [self.codec.decode_event(effect) for effect in body.effects]
        for event in events:
            self.ledger.apply(event, body.position)
        follow_events(self.key_history, envelope.registry_key_id, body.position, events)
        command = self.codec.decode_command(body.command.command_bytes)
        digest = hashlib.sha256(body.command.command_bytes).digest()
        self.ledger.record_command(command.command_id, body.position, digest, command.expires_at_us)
        self.ledger.advance(body.position, envelope.hash)
        self._grow_tree(envelope.sealed_bytes)

    # -- snapshots (write/snapshots.py) ------------------------------------------------------
    def _resume_from_snapshot(self, progress: Callable[[int], None] | None) -> None:
        """Under the writer lock, before the first catch-up: take up the newest snapshot
        that verifies; without one, the catch-up replays the whole chain (logged)."""
        self._resume_pending = False
        if self.ledger.position != 0:
            return
        started_s = time.perf_counter()
        state = newest_verified(self.snapshot_store, self.key_history.pinned, self._stored_hash_at)
        if state is None:
            return
        self.ledger = state.ledger
        self.key_history = state.key_history
        self.chain_recorded_us = state.chain_recorded_us
        self.latest_recorded_us = max(self.latest_recorded_us, state.chain_recorded_us)
        self.tree.restore(state.tree)
        self._due_checkpoints = list(state.due_checkpoints)
        self.snapshot_writer.last_position = self.resumed_from = state.position
        logger.info(
            "resumed from the snapshot at position %d (verified and loaded in %.1f s); "
            "replaying what follows it",
            state.position,
            time.perf_counter() - started_s,
        )
        if progress is not None:
            progress(state.position)

    def _stored_hash_at(self, position: int) -> bytes | None:
        stored = self.recorder.select_events(CHAIN_ID, gt=position - 1, lte=position, limit=1)
        if not stored or stored[0].originator_version != position:
            return None
        return envelope_hash(stored[0].state)

    def _capture_snapshot(self) -> tuple[SnapshotState, SigningKey] | None:
        """Under the writer lock: a consistent copy of the decided state, and the held key
        to sign it with. The snapshot writer serialises it outside the lock."""
        position = self.ledger.position
        if position == 0 or root_key_id(self.key_history) is None:
            return None
        key = self._held_key_for(position) or self._held_key_for(position + 1)
        if key is None:
            return None  # a replica left behind by a rotation: the current key's holder writes
        state = SnapshotState(
            self.ledger.copy(),
            self.chain_recorded_us,
            self.tree.snapshot(),
            list(self._due_checkpoints),
            copied_history(self.key_history),
        )
        return state, key

    def write_snapshot(self) -> int | None:
        """Catch up and write a snapshot now (clean shutdown, tools); its position, or None
        when the store has one there already or this process holds no key for it."""
        self.catch_up()
        return self.snapshot_writer.write_now()

    def close(self) -> None:
        self.snapshot_writer.close()
        super().close()

    # -- writing --------------------------------------------------------------------------
    def submit(
        self, signed: SignedCommand, expected_body: type[Any] | None = None
    ) -> CommandResult:
        """`expected_body` lets an entry point that serves one command type refuse others.
        Concurrent callers share a transaction (see group_commit)."""
        return self._group_commit.submit((signed, expected_body))

    def submit_batch(
        self, signed_commands: Sequence[SignedCommand], expected_body: type[Any] | None = None
    ) -> list[CommandResult]:
        """Decide every command in order and commit all accepted ones in one transaction.
        Each command is all-or-nothing; a rejected command does not stop the others."""
        return self._submit_items([(signed, expected_body) for signed in signed_commands])

    def clock_behind(self) -> Rejection | None:
        """A refusal to decide anything while the chain's recorded time is further ahead of
        this replica's clock than CLOCK_BEHIND_US_MAX; the gauge shows how far it is."""
        behind_us = self.latest_recorded_us - self.clock_us()
        CLOCK_BEHIND_SECONDS.set(max(behind_us, 0) / 1_000_000)
        if behind_us <= CLOCK_BEHIND_US_MAX:
            return None
        logger.warning("clock %.1f s behind the chain's recorded time", behind_us / 1_000_000)
        return Rejection(
            CheckCode.CLOCK_BEHIND,
            f"this replica's clock is {behind_us / 1_000_000:.1f} s behind the chain's recorded "
            f"time (at most {CLOCK_BEHIND_US_MAX // 1_000_000} s): nothing decided",
        )

    def _submit_items(
        self, items: Sequence[tuple[SignedCommand, type[Any] | None]]
    ) -> list[CommandResult]:
        if len(items) > BATCH_COMMANDS_MAX:
            rejection = Rejection(CheckCode.BATCH_TOO_LARGE, f"{len(items)} > {BATCH_COMMANDS_MAX}")
            return [CommandResult.rejected("", rejection) for _ in items]
        known_kept: dict[bytes, refusals.KeptRefusal] = {}  # learnt from lost races
        with self._lock:
            for attempt in range(COMMIT_ATTEMPTS_MAX):
                if attempt or self.ledger.position != self._stored_head:
                    self.catch_up()
                behind = self.clock_behind()
                if behind is not None:
                    return [CommandResult.rejected("", behind) for _ in items]
                self.ledger.begin()
                tree_state, due_count = self.tree.snapshot(), len(self._due_checkpoints)
                handovers = len(self.key_history.handovers)
                try:
                    decided = self._decide_all(items, dict(known_kept))
                    self._group_store.store(decided)
                except LOST_RACE as error:
                    # Another writer took the position first, held the database lock, or
                    # kept a refusal of one of these commands: decide again from its state.
                    if isinstance(error, refusals.KeptMeanwhile):
                        known_kept.update(error.found)
                    self.ledger.rollback()
                    self.tree.restore(tree_state)
                    del self._due_checkpoints[due_count:]
                    self.key_history.truncate(handovers)
                    self.lost_races += 1
                    logger.info(
                        "commit lost a race (attempt %d): %s", attempt + 1, type(error).__name__
                    )
                    time.sleep(min(0.001 * 2**attempt, 0.05))
                    continue
                except BaseException:
                    self.ledger.rollback()
                    self.tree.restore(tree_state)
                    del self._due_checkpoints[due_count:]
                    self.key_history.truncate(handovers)
                    raise
                self.ledger.commit()
                self._stored_head = self.ledger.position
                if decided.sequenced:
                    self.chain_recorded_us = max(self.chain_recorded_us, decided.now_us)
                self._record_due_checkpoints()
                self.ledger.forget_expired(self._now_us() - rules.FORGET_MARGIN_US)
                self.snapshot_writer.note(self.ledger.position)
                return decided.results
        conflict = Rejection(CheckCode.CONFLICT, f"gave up after {COMMIT_ATTEMPTS_MAX} attempts")
        return [CommandResult.rejected("", conflict) for _ in items]

    def _decide_all(
        self,
        items: Sequence[tuple[SignedCommand, type[Any] | None]],
        kept: dict[bytes, refusals.KeptRefusal],
    ) -> DecidedGroup:
        """Decide each command in order. `kept`: refusals known to stand (the store is read
        once, when the group is stored; see refusals.settle)."""
        now = self._now_us()
        decided = DecidedGroup(self.ledger.position, now)
        for signed, expected_body in items:
            digest = hashlib.sha256(signed.command_bytes).digest()
            submission = refusals.submission_key(signed)
            outcome = self._decide_isolated(
                signed, digest, now, expected_body, kept.get(submission)
            )
            if outcome.event is not None:
                decided.sequenced.append(outcome.event)
                decided.accepted_digests.append(submission)
            if outcome.refusal is not None:
                decided.refusal_index[submission] = len(decided.results)
                decided.refusals.append(outcome.refusal)
                kept[submission] = outcome.refusal  # the same bytes again in this group
            decided.results.append(outcome.result)
        return decided

    def _decide_isolated(
        self,
        signed: SignedCommand,
        digest: bytes,
        now: int,
        expected_body: type[Any] | None,
        kept: refusals.KeptRefusal | None,
    ) -> Outcome:
        """One command's decision, with its tentative changes undone should it fail
        unexpectedly: that command is refused with INTERNAL_ERROR, its group goes on."""
        savepoint = self.ledger.savepoint()
        tree_state, due_count = self.tree.snapshot(), len(self._due_checkpoints)
        try:
            return self._decide_one(signed, digest, now, expected_body, kept)
        except Exception as error:
            self.ledger.rollback_to(savepoint)
            self.tree.restore(tree_state)
            del self._due_checkpoints[due_count:]
            command_id = _command_id_or_blank(self.codec, signed)
            # The id and the exception's type only: messages may quote command content.
            logger.error(
                "command %r failed unexpectedly (%s): refused, the rest of its group goes on",
                command_id,
                type(error).__name__,
            )
            internal = Rejection(CheckCode.INTERNAL_ERROR, type(error).__name__)
            return Outcome(CommandResult.rejected(command_id, internal))

    def _decide_one(
        self,
        signed: SignedCommand,
        digest: bytes,
        now: int,
        expected_body: type[Any] | None,
        kept: refusals.KeptRefusal | None,
    ) -> Outcome:
        command_id = ""
        authentic = False
        try:
            registry_key = self.registry_key  # refuses at once on a replica left behind
            command = self.codec.decode_command(signed.command_bytes)
            command_id = command.command_id
            if expected_body is not None and not isinstance(command.body, expected_body):
                found = type(command.body).__name__
                raise Rejection(
                    CheckCode.MALFORMED_COMMAND,
                    f"this call takes {expected_body.__name__}, not {found}",
                )
            if (command.actor_id, command.key_id) != (signed.actor_id, signed.key_id):
                raise Rejection(CheckCode.ACTOR_MISMATCH, f"{signed.actor_id}/{signed.key_id}")
            replay = self._replayed(command_id, digest, now)
            if replay is not None:
                return Outcome(replay)
            public_key = rules.verifying_key(self.ledger, command)
            if not verify_actor_signature(signed, public_key):
                raise Rejection(CheckCode.BAD_SIGNATURE, f"{signed.actor_id}/{signed.key_id}")
            if kept is not None and kept.command_id == command_id:
                # The first refusal stands, whatever the state is now.
                return Outcome(kept_result(kept))
            authentic = True
            effects = rules.decide(self.ledger, command, now, self._cosigners(signed))
            if isinstance(command.body, cmd.RotateRegistryKey):
                self._check_handover(command.body)
        except Rejection as rejection:
            result = CommandResult.rejected(command_id, rejection)
            if not (authentic and rejection.lasting):
                return Outcome(result)
            forget_after_us = command.expires_at_us + rules.FORGET_MARGIN_US
            keep = refusals.KeptRefusal(
                refusals.submission_key(signed),
                command_id,
                rejection.code,
                rejection.message,
                forget_after_us,
            )
            return Outcome(result, refusal=keep)
        return Outcome(*self._record_one(signed, command, digest, effects, now, registry_key))

    def _replayed(self, command_id: str, digest: bytes, now: int) -> CommandResult | None:
        earlier = self.ledger.live_command(command_id, now)
        if earlier is None:
            return None
        if earlier.digest != digest:
            raise Rejection(
                CheckCode.DUPLICATE_COMMAND_ID,
                f"{command_id!r} differs from position {earlier.position}",
            )
        # The same bytes again: idempotent, the first result stands, nothing recorded.
        return CommandResult(
            command_id,
            True,
            earlier.position,
            CheckCode.DUPLICATE_COMMAND_ID,
            CheckCode.DUPLICATE_COMMAND_ID.summary,
            replayed=True,
        )

    def _record_one(
        self,
        signed: SignedCommand,
        command: Command,
        digest: bytes,
        effects: list[Event],
        now: int,
        registry_key: SigningKey,
    ) -> tuple[CommandResult, Sequenced]:
        position = self.ledger.position + 1
        body = EnvelopeBody(
            position, now, self.ledger.head_hash, signed, tuple(self.codec.encode_events(effects))
        )
        sealed = seal(self.codec.schemas, body, registry_key)
        for effect in effects:
            self.ledger.apply(effect, position)
        follow_events(self.key_history, registry_key.key_id, position, effects)
        self.ledger.record_command(command.command_id, position, digest, command.expires_at_us)
        self.ledger.advance(position, envelope_hash(sealed))
        self._grow_tree(sealed)
        timestamp = datetime.fromtimestamp(now / 1_000_000, tz=UTC)
        return CommandResult(command.command_id, True, position), Sequenced(
            CHAIN_ID, position, timestamp, sealed
        )

    def _cosigners(self, signed: SignedCommand) -> tuple[str, ...]:
        """The parties whose co-signatures verify, each under its active signing key."""
        for cosignature in signed.cosignatures:
            public_key = rules.cosigner_key(self.ledger, cosignature.party_id, cosignature.key_id)
            if not verify_cosignature(signed, cosignature, public_key):
                raise Rejection(CheckCode.BAD_COSIGNATURE, f"{cosignature.party_id}")
        return tuple(cosignature.party_id for cosignature in signed.cosignatures)

    def _check_handover(self, body: cmd.RotateRegistryKey) -> None:
        """Only the holder of the outgoing registry key can hand it over."""
        handover = Handover(
            body.effective_after_position,
            body.retired_key_id,
            body.public_key,
            body.handover_signature,
        )
        reason = self.key_history.problem(handover)
        if reason is not None:
            raise Rejection(CheckCode.BAD_HANDOVER, reason)


def _command_id_or_blank(codec: Codec, signed: SignedCommand) -> str:
    try:
        return codec.decode_command(signed.command_bytes).command_id
    except Exception:  # the id is only for the log line; the failure itself is reported
        return ""
