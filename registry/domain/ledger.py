"""The ledger's state, built only by applying events in global order.

Every change goes through `_put`, which can journal the old value: a batch of commands
is applied tentatively and rolled back in O(changes) if its commit loses a race. All
stored values are immutable (frozen dataclasses, tuples), so restoring is exact."""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from registry.domain import attribute_state
from registry.domain import events as ev
from registry.domain.checks import InvariantViolation, require
from registry.domain.dispatch import EventDispatch
from registry.domain.emissions import FactorTable
from registry.domain.label_spans import Spans
from registry.domain.origin_index import OriginIndex
from registry.domain.parties import KeyPurpose, KeyRecord, KeyStatus, Party, Role
from registry.domain.records import (
    Agreement,
    Batch,
    CommandRecord,
    CreditClass,
    Delivery,
    Meeting,
    Pool,
    Project,
    ProjectBuffer,
    Recovery,
    Supply,
    pool_holder,
)
from registry.domain.serials import Ranges, SerialBlock, add_range, subtract_range
from registry.domain.shared_values import intern, shared_date
from registry.domain.sorted_ids import EMPTY_IDS, SortedIds

GENESIS_HASH = bytes(32)
_MISSING = object()


def key_id_for(public_key: bytes) -> str:
    """Key ids are derived from the key, so a key id can never point at another key."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


class Ledger:
    def __init__(self) -> None:
        self.parties: dict[str, Party] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.party_keys: dict[str, tuple[str, ...]] = {}
        self.classes: dict[str, CreditClass] = {}
        self.projects: dict[str, Project] = {}
        self.batches: dict[str, Batch] = {}
        self.batch_counts: dict[tuple[str, str], int] = {}
        self.holdings: dict[tuple[str, str], Ranges] = {}
        # Running totals of the holdings, so balance checks do not re-add serial ranges.
        self.holding_kg: dict[tuple[str, str], int] = {}
        self.party_kg: dict[str, int] = {}
        # Per party, the batches it holds credits of, in order: the rules take from the first.
        self.party_batches: dict[str, SortedIds] = {}
        self.retired: dict[str, Ranges] = {}
        self.cancelled: dict[str, Ranges] = {}
        self.supply: dict[str, Supply] = {}
        self.commands: dict[str, CommandRecord] = {}
        self.pools: dict[str, Pool] = {}
        self.meetings: dict[tuple[str, str], Meeting] = {}
        self.pool_meetings: dict[str, tuple[str, ...]] = {}
        self.agreements: dict[str, Agreement] = {}
        self.deliveries: dict[str, Delivery] = {}
        self.contributions: dict[str, tuple[ev.Contribution, ...]] = {}
        self.factor_tables: dict[str, FactorTable] = {}
        self.recoveries: dict[tuple[str, str], Recovery] = {}  # (party, recovery id)
        self.pending_recoveries: dict[str, str] = {}  # party -> its pending recovery's id
        # Registry keys named by rotations (retired and new), by id: the position of the
        # rotation. The first registry key is pinned by readers, not recorded in events.
        self.registry_keys: dict[str, int] = {}
        # Origin serials issued here, per (origin registry, project there): see origin.py.
        self.origins: dict[tuple[str, str], OriginIndex] = {}
        self.labels: dict[str, Spans] = {}  # per batch: labels on its serials (labels.py)
        self.buffers: dict[str, ProjectBuffer] = {}  # per project (buffers.py)
        self.head: dict[str, Any] = {"position": 0, "hash": GENESIS_HASH}
        self._journal: list[tuple[dict[Any, Any], Any, Any]] | None = None
        # Command ids are remembered until their command expires; a heap orders forgetting.
        self._expiries: list[tuple[int, int, str]] = []

    # -- journal ------------------------------------------------------------------------
    def begin(self) -> None:
        require(self._journal is None, "nested ledger transactions are not supported")
        self._journal = []

    @property
    def in_transaction(self) -> bool:
        return self._journal is not None

    def commit(self) -> None:
        require(self._journal is not None, "commit outside a ledger transaction")
        self._journal = None

    def rollback(self) -> None:
        self.rollback_to(0)
        self._journal = None

    def savepoint(self) -> int:
        """A mark inside the transaction to undo back to: one command's changes in a group."""
        if self._journal is None:
            raise InvariantViolation("a savepoint outside a ledger transaction")
        return len(self._journal)

    def rollback_to(self, savepoint: int) -> None:
        """Undo every change made since `savepoint`; the transaction stays open."""
        journal = self._journal
        if journal is None:
            raise InvariantViolation("rollback outside a ledger transaction")
        for table, key, old in reversed(journal[savepoint:]):
            if old is _MISSING:
                del table[key]
            else:
                table[key] = old
        del journal[savepoint:]

    def _put(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if self._journal is not None:
            self._journal.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def _delete(self, table: dict[Any, Any], key: Any) -> None:
        if self._journal is not None:
            self._journal.append((table, key, table[key]))
        del table[key]

    def copy(self) -> Ledger:
        """A copy to read elsewhere (a snapshot's writer), taken outside transactions. Every
        stored value is immutable, so copying the tables, not their values, is enough: a
        pause of milliseconds under the writer lock, even at a million envelopes."""
        require(self._journal is None, "copying a ledger inside a transaction")
        copied = Ledger.__new__(Ledger)
        for name, value in vars(self).items():
            if isinstance(value, dict):
                setattr(copied, name, dict(value))
            elif isinstance(value, list):
                setattr(copied, name, list(value))
            elif value is None:
                setattr(copied, name, None)
            else:
                raise InvariantViolation(f"the ledger's {name} is neither a table nor a list")
        return copied

    # -- head of the chain --------------------------------------------------------------
    @property
    def position(self) -> int:
        return int(self.head["position"])

    @property
    def head_hash(self) -> bytes:
        return bytes(self.head["hash"])

    @property
    def registry_key_id(self) -> str | None:
        """The registry key the newest rotation handed over to; None before any rotation."""
        key_id = self.head.get("registry_key_id")
        return None if key_id is None else str(key_id)

    def advance(self, position: int, envelope_hash: bytes) -> None:
        if position != self.position + 1:
            raise InvariantViolation(f"position {position} does not follow {self.position}")
        self._put(self.head, "position", position)
        self._put(self.head, "hash", envelope_hash)

    def record_command(
        self, command_id: str, position: int, digest: bytes, expires_at_us: int
    ) -> None:
        self._put(self.commands, command_id, CommandRecord(position, digest, expires_at_us))
        heapq.heappush(self._expiries, (expires_at_us, position, command_id))

    def live_command(self, command_id: str, now_us: int) -> CommandRecord | None:
        """An earlier command with this id that has not expired at `now_us`. Only live ids
        count as duplicates, so forgetting expired ids never changes a decision."""
        record = self.commands.get(command_id)
        return record if record is not None and record.expires_at_us >= now_us else None

    def forget_expired(self, before_us: int) -> int:
        """Drop ids of commands that expired before `before_us`: memory stays bounded by the
        commands of one lifetime, however long the history. Outside transactions only."""
        require(self._journal is None, "forgetting ids inside a ledger transaction")
        forgotten = 0
        while self._expiries and self._expiries[0][0] < before_us:
            _expiry, position, command_id = heapq.heappop(self._expiries)
            record = self.commands.get(command_id)
            if record is not None and record.position == position:
                del self.commands[command_id]
                forgotten += 1
        return forgotten

    # -- queries --------------------------------------------------------------------------
    def active_keys(self, party_id: str, purpose: KeyPurpose | None = None) -> list[KeyRecord]:
        records = (self.keys[key_id] for key_id in self.party_keys.get(party_id, ()))
        return [
            record
            for record in records
            if record.status is KeyStatus.ACTIVE and purpose in (None, record.purpose)
        ]

    def pending_recovery(self, party_id: str) -> Recovery | None:
        recovery_id = self.pending_recoveries.get(party_id)
        return None if recovery_id is None else self.recoveries[(party_id, recovery_id)]

    def held(self, party_id: str, batch_id: str) -> Ranges:
        return self.holdings.get((party_id, batch_id), ())

    def tradable_kg(self, party_id: str, batch_id: str | None = None) -> int:
        if batch_id is None:
            return self.party_kg.get(party_id, 0)
        return self.holding_kg.get((party_id, batch_id), 0)

    def holdings_of(self, party_id: str) -> list[SerialBlock]:
        return [
            SerialBlock(batch_id, start, end)
            for batch_id in self.party_batches.get(party_id, ())
            for start, end in self.held(party_id, batch_id)
        ]

    # -- applying events ------------------------------------------------------------------
    def apply(self, event: ev.Event, position: int) -> None:
        handler = _APPLIERS.handler(event)
        if handler is not None:
            handler(self, event, position)

    def _apply_PartyRegistered(self, event: ev.PartyRegistered, position: int) -> None:
        party = Party(event.party_id, Role(event.role), event.name, event.name_ja)
        self._put(self.parties, event.party_id, party)

    def _add_key(
        self,
        party_id: str,
        key_id: str,
        public_key: bytes,
        position: int,
        purpose: KeyPurpose = KeyPurpose.SIGNING,
    ) -> None:
        record = KeyRecord(key_id, party_id, public_key, KeyStatus.ACTIVE, position, purpose)
        self._put(self.keys, key_id, record)
        self._put(self.party_keys, party_id, (*self.party_keys.get(party_id, ()), key_id))

    def _set_key_status(self, key_id: str, status: KeyStatus, position: int) -> None:
        self._put(
            self.keys, key_id, replace(self.keys[key_id], status=status, since_position=position)
        )

    def _apply_KeyRegistered(self, event: ev.KeyRegistered, position: int) -> None:
        self._add_key(event.party_id, event.key_id, event.public_key, position)

    def _apply_KeyRotated(self, event: ev.KeyRotated, position: int) -> None:
        self._set_key_status(event.retired_key_id, KeyStatus.ROTATED, position)
        self._add_key(event.party_id, event.key_id, event.public_key, position)

    def _apply_KeyRevoked(self, event: ev.KeyRevoked, position: int) -> None:
        self._set_key_status(event.key_id, KeyStatus.REVOKED, position)

    def _apply_RecoveryKeySet(self, event: ev.RecoveryKeySet, position: int) -> None:
        if event.replaced_key_id is not None:
            self._set_key_status(event.replaced_key_id, KeyStatus.ROTATED, position)
        self._add_key(event.party_id, event.key_id, event.public_key, position, KeyPurpose.RECOVERY)

    def _apply_KeyRecovered(self, event: ev.KeyRecovered, position: int) -> None:
        for key_id in event.revoked_key_ids:
            self._set_key_status(key_id, KeyStatus.REVOKED, position)
        self._add_key(event.party_id, event.key_id, event.public_key, position)

    def _apply_RecoveryStarted(self, event: ev.RecoveryStarted, position: int) -> None:
        recovery = Recovery(
            event.party_id, event.recovery_id, event.key_id, event.public_key, event.due_at_us
        )
        self._put(self.recoveries, (event.party_id, event.recovery_id), recovery)
        self._put(self.pending_recoveries, event.party_id, event.recovery_id)

    def _close_recovery(self, party_id: str, recovery_id: str, outcome: str) -> None:
        key = (party_id, recovery_id)
        self._put(self.recoveries, key, replace(self.recoveries[key], outcome=outcome))
        self._delete(self.pending_recoveries, party_id)

    def _apply_RecoveryVetoed(self, event: ev.RecoveryVetoed, position: int) -> None:
        self._close_recovery(event.party_id, event.recovery_id, "vetoed")

    def _apply_RecoveryCompleted(self, event: ev.RecoveryCompleted, position: int) -> None:
        self._close_recovery(event.party_id, event.recovery_id, "completed")
        for key_id in event.revoked_key_ids:
            self._set_key_status(key_id, KeyStatus.REVOKED, position)
        self._add_key(event.party_id, event.key_id, event.public_key, position)

    def _apply_RegistryKeyRotated(self, event: ev.RegistryKeyRotated, position: int) -> None:
        self._put(self.registry_keys, event.retired_key_id, position)
        self._put(self.registry_keys, event.key_id, position)
        self._put(self.head, "registry_key_id", event.key_id)

    def _apply_CreditClassRegistered(self, event: ev.CreditClassRegistered, position: int) -> None:
        credit_class = CreditClass(
            event.class_id,
            event.name,
            frozenset(event.authorised_issuers),
            event.label_authority_id,
            event.buffer_share_permille,
        )
        self._put(self.classes, event.class_id, credit_class)

    def _apply_ProjectRegistered(self, event: ev.ProjectRegistered, position: int) -> None:
        project = Project(
            event.project_id,
            event.class_id,
            event.name,
            event.location,
            event.methodology,
            event.proponent_id,
        )
        self._put(self.projects, event.project_id, project)

    def _apply_CreditsIssued(self, event: ev.CreditsIssued, position: int) -> None:
        # The batch id is kept once, shared by every table that names the batch.
        batch_id = intern(event.batch_id)
        batch = Batch(
            batch_id,
            intern(event.class_id),
            intern(event.project_id),
            intern(event.issuer_id),
            shared_date(event.vintage_start),
            shared_date(event.vintage_end),
            event.quantity_kg,
            attribute_state.shared_origin(event.origin),
        )
        self._put(self.batches, batch_id, batch)
        attribute_state.record_origin(self, event, batch_id)
        counter = (batch.class_id, batch.project_id)
        self._put(self.batch_counts, counter, self.batch_counts.get(counter, 0) + 1)
        issued_kg = event.quantity_kg
        self._put(self.supply, batch_id, Supply(issued_kg=issued_kg, tradable_kg=issued_kg))
        block = SerialBlock(batch_id, event.serial_start, event.serial_end)
        self._credit(event.recipient_id, (block,))

    def _apply_CreditsTransferred(self, event: ev.CreditsTransferred, position: int) -> None:
        self._debit(event.from_party_id, event.blocks)
        self._credit(event.to_party_id, event.blocks)

    def _apply_CreditsRetired(self, event: ev.CreditsRetired, position: int) -> None:
        self._debit(event.holder_id, event.blocks)
        self._move_out(self.retired, event.blocks, "retired_kg")

    def _apply_CreditsCancelled(self, event: ev.CreditsCancelled, position: int) -> None:
        self._debit(event.holder_id, event.blocks)
        self._move_out(self.cancelled, event.blocks, "cancelled_kg")

    def _apply_PoolOpened(self, event: ev.PoolOpened, position: int) -> None:
        pool = Pool(
            event.pool_id, event.name, event.fiscal_year, frozenset(event.members), event.opened_by
        )
        self._put(self.pools, event.pool_id, pool)

    def _apply_MeetingRegistered(self, event: ev.MeetingRegistered, position: int) -> None:
        meeting = Meeting(
            event.pool_id,
            event.meeting_id,
            event.organiser_id,
            event.name,
            event.held_on,
            event.category,
            event.expected_participants,
            event.estimate_kg,
        )
        self._put(self.meetings, (event.pool_id, event.meeting_id), meeting)
        self._put(
            self.pool_meetings,
            event.pool_id,
            (*self.pool_meetings.get(event.pool_id, ()), event.meeting_id),
        )

    def _apply_MeetingCalculated(self, event: ev.MeetingCalculated, position: int) -> None:
        key = (event.pool_id, event.meeting_id)
        updated = replace(
            self.meetings[key],
            actual_participants=event.actual_participants,
            calculated_kg=event.calculated_kg,
        )
        self._put(self.meetings, key, updated)

    def _apply_PoolAllocated(self, event: ev.PoolAllocated, position: int) -> None:
        pool = replace(self.pools[event.pool_id], allocated=True, allocated_kg=event.pool_kg)
        self._put(self.pools, event.pool_id, pool)
        for allocation in event.allocations:
            key = (event.pool_id, allocation.meeting_id)
            self._put(
                self.meetings,
                key,
                replace(self.meetings[key], allocated_kg=allocation.allocated_kg),
            )

    def _apply_MeetingOffset(self, event: ev.MeetingOffset, position: int) -> None:
        key = (event.pool_id, event.meeting_id)
        self._put(self.meetings, key, replace(self.meetings[key], retired=True))
        pool = self.pools[event.pool_id]
        self._put(
            self.pools, pool.pool_id, replace(pool, retired_kg=pool.retired_kg + event.retired_kg)
        )

    def _apply_FactorTableRegistered(self, event: ev.FactorTableRegistered, position: int) -> None:
        self._put(self.factor_tables, event.version, FactorTable(event.version, event.factors))

    def _apply_PoolFunded(self, event: ev.PoolFunded, position: int) -> None:
        self._debit(event.from_party_id, event.blocks)
        self._credit(pool_holder(event.pool_id), event.blocks)
        pool = self.pools[event.pool_id]
        funders = pool.funders | {event.from_party_id}
        self._put(self.pools, pool.pool_id, replace(pool, funders=funders))

    def _apply_PoolRemainderReturned(self, event: ev.PoolRemainderReturned, position: int) -> None:
        self._debit(pool_holder(event.pool_id), event.blocks)
        self._credit(event.to_party_id, event.blocks)

    def _apply_PoolRemainderCarried(self, event: ev.PoolRemainderCarried, position: int) -> None:
        self._debit(pool_holder(event.pool_id), event.blocks)
        self._credit(pool_holder(event.to_pool_id), event.blocks)
        # Whoever funded the credits may have them back from the later pool too.
        source, target = self.pools[event.pool_id], self.pools[event.to_pool_id]
        funders = target.funders | source.funders
        self._put(self.pools, target.pool_id, replace(target, funders=funders))

    def _apply_AgreementSigned(self, event: ev.AgreementSigned, position: int) -> None:
        earlier = self.agreements.get(event.agreement_id)
        signers = (earlier.signers if earlier else frozenset()) | {event.signer_id}
        agreement = Agreement(
            event.agreement_id,
            event.provider_id,
            event.user_id,
            event.start_date,
            event.term_years,
            event.expected_annual_kg,
            event.purpose,
            signers,
            event.in_force,
        )
        self._put(self.agreements, event.agreement_id, agreement)

    def _apply_DeliveryProposed(self, event: ev.DeliveryProposed, position: int) -> None:
        self._debit(event.provider_id, event.blocks)
        self._shift(event.blocks, "tradable_kg", "pending_kg")
        delivery = Delivery(
            event.delivery_id,
            event.agreement_id,
            event.provider_id,
            event.user_id,
            event.blocks,
            event.quantity_kg,
            event.deadline_us,
        )
        self._put(self.deliveries, event.delivery_id, delivery)

    def _apply_DeliveryResolved(self, event: ev.DeliveryResolved, position: int) -> None:
        receiver = event.user_id if event.outcome == "accepted" else event.provider_id
        self._credit(receiver, event.blocks)
        self._shift(event.blocks, "pending_kg", "tradable_kg")
        self._put(
            self.deliveries,
            event.delivery_id,
            replace(self.deliveries[event.delivery_id], outcome=event.outcome),
        )

    def _apply_ContributionsRecorded(self, event: ev.ContributionsRecorded, position: int) -> None:
        self._put(self.contributions, event.batch_id, event.contributions)

    def _shift(self, blocks: tuple[SerialBlock, ...], source: str, target: str) -> None:
        for block in blocks:
            supply = self.supply[block.batch_id]
            moved = {
                source: getattr(supply, source) - block.quantity_kg,
                target: getattr(supply, target) + block.quantity_kg,
            }
            self._put(self.supply, block.batch_id, replace(supply, **moved))

    # -- holdings bookkeeping -------------------------------------------------------------
    def _credit(self, party_id: str, blocks: tuple[SerialBlock, ...]) -> None:
        for block in blocks:
            key = (party_id, block.batch_id)
            held = self.holdings.get(key)
            if held is None:
                # A new key: its ids are kept once (later puts keep the key already there).
                key = (intern(party_id), intern(block.batch_id))
                batch_ids = self.party_batches.get(party_id, EMPTY_IDS)
                self._put(self.party_batches, key[0], batch_ids.inserted(key[1]))
                held = ()
            self._put(self.holdings, key, add_range(held, block.serial_start, block.serial_end))
            self._put(self.holding_kg, key, self.holding_kg.get(key, 0) + block.quantity_kg)
            self._put(self.party_kg, party_id, self.party_kg.get(party_id, 0) + block.quantity_kg)

    def _debit(self, party_id: str, blocks: tuple[SerialBlock, ...]) -> None:
        for block in blocks:
            key = (party_id, block.batch_id)
            ranges = subtract_range(self.held(*key), block.serial_start, block.serial_end)
            self._put(self.party_kg, party_id, self.party_kg[party_id] - block.quantity_kg)
            if ranges:
                self._put(self.holdings, key, ranges)
                self._put(self.holding_kg, key, self.holding_kg[key] - block.quantity_kg)
            else:
                # Empty holdings are removed so that a party's batch list stays short.
                self._delete(self.holdings, key)
                self._delete(self.holding_kg, key)
                batch_ids = self.party_batches[party_id].removed(block.batch_id)
                self._put(self.party_batches, party_id, batch_ids)

    def _move_out(
        self, sink: dict[str, Ranges], blocks: tuple[SerialBlock, ...], field: str
    ) -> None:
        for block in blocks:
            held = sink.get(block.batch_id)
            batch_id = block.batch_id if held is not None else intern(block.batch_id)
            ranges = add_range(held or (), block.serial_start, block.serial_end)
            self._put(sink, batch_id, ranges)
            supply = self.supply[block.batch_id]
            moved = {
                "tradable_kg": supply.tradable_kg - block.quantity_kg,
                field: getattr(supply, field) + block.quantity_kg,
            }
            self._put(self.supply, block.batch_id, replace(supply, **moved))


# Every event changes the ledger: nothing is ignored.
_APPLIERS: EventDispatch[Callable[[Ledger, Any, int], None]] = EventDispatch(
    "ledger",
    {
        ev.PartyRegistered: Ledger._apply_PartyRegistered,
        ev.KeyRegistered: Ledger._apply_KeyRegistered,
        ev.KeyRotated: Ledger._apply_KeyRotated,
        ev.KeyRevoked: Ledger._apply_KeyRevoked,
        ev.CreditClassRegistered: Ledger._apply_CreditClassRegistered,
        ev.ProjectRegistered: Ledger._apply_ProjectRegistered,
        ev.CreditsIssued: Ledger._apply_CreditsIssued,
        ev.CreditsTransferred: Ledger._apply_CreditsTransferred,
        ev.CreditsRetired: Ledger._apply_CreditsRetired,
        ev.CreditsCancelled: Ledger._apply_CreditsCancelled,
        ev.PoolOpened: Ledger._apply_PoolOpened,
        ev.MeetingRegistered: Ledger._apply_MeetingRegistered,
        ev.MeetingCalculated: Ledger._apply_MeetingCalculated,
        ev.PoolAllocated: Ledger._apply_PoolAllocated,
        ev.MeetingOffset: Ledger._apply_MeetingOffset,
        ev.AgreementSigned: Ledger._apply_AgreementSigned,
        ev.DeliveryProposed: Ledger._apply_DeliveryProposed,
        ev.DeliveryResolved: Ledger._apply_DeliveryResolved,
        ev.ContributionsRecorded: Ledger._apply_ContributionsRecorded,
        ev.FactorTableRegistered: Ledger._apply_FactorTableRegistered,
        ev.PoolFunded: Ledger._apply_PoolFunded,
        ev.PoolRemainderReturned: Ledger._apply_PoolRemainderReturned,
        ev.PoolRemainderCarried: Ledger._apply_PoolRemainderCarried,
        ev.RecoveryKeySet: Ledger._apply_RecoveryKeySet,
        ev.KeyRecovered: Ledger._apply_KeyRecovered,
        ev.RecoveryStarted: Ledger._apply_RecoveryStarted,
        ev.RecoveryVetoed: Ledger._apply_RecoveryVetoed,
        ev.RecoveryCompleted: Ledger._apply_RecoveryCompleted,
        ev.RegistryKeyRotated: Ledger._apply_RegistryKeyRotated,
        ev.CreditsBuffered: attribute_state.apply_buffered,
        ev.LabelAdded: attribute_state.apply_label_added,
        ev.LabelWithdrawn: attribute_state.apply_label_withdrawn,
        ev.ReversalReported: attribute_state.apply_reversal,
    },
)
