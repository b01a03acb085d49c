"""The rows one batch of envelopes changes, gathered in memory before write.py stores them.

Deltas are summed per batch for one upsert per key; serial-range ops are gathered per credit
batch to be merged and written as a diff. Both commute across workers (see tables.py). The
delta records' field names are the columns they add to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.public_apply import PublicRows
from projections.ranges import Piece
from registry.domain.serials import SerialBlock


def batch_class_and_vintage(batch_id: str) -> tuple[str, str, str]:
    """Batch ids are CLASS-PROJECT-YYYYMMDD-YYYYMMDD-SEQ, so any event can be classified
    even when its issuance sits in another partition that has not been read yet."""
    class_id, project_id, start, end, _sequence = batch_id.split("-")
    return class_id, project_id, f"{start}-{end}"


@dataclass(slots=True)
class BalanceDelta:
    """What a batch adds to one (party, class, vintage) row of `balances`."""

    tradable_kg: int = 0
    pending_kg: int = 0
    retired_kg: int = 0


@dataclass(slots=True)
class SupplyDelta:
    """What a batch adds to one credit batch's row of `batch_supply`."""

    issued_kg: int = 0
    tradable_kg: int = 0
    pending_kg: int = 0
    retired_kg: int = 0
    cancelled_kg: int = 0

    def add(self, other: SupplyDelta) -> None:
        self.issued_kg += other.issued_kg
        self.tradable_kg += other.tradable_kg
        self.pending_kg += other.pending_kg
        self.retired_kg += other.retired_kg
        self.cancelled_kg += other.cancelled_kg

    def columns(self) -> tuple[int, int, int, int, int]:
        """In the order of the supply tables' columns (public_tables.SUPPLY_COLUMNS)."""
        return (
            self.issued_kg,
            self.tradable_kg,
            self.pending_kg,
            self.retired_kg,
            self.cancelled_kg,
        )


@dataclass(slots=True)
class BufferDelta:
    """What a batch adds to one (class, project) row of `project_buffers`."""

    withheld_kg: int = 0
    reversed_kg: int = 0
    shortfall_kg: int = 0


@dataclass
class PendingRows:
    balances: defaultdict[tuple[str, str, str], BalanceDelta] = field(
        default_factory=lambda: defaultdict(BalanceDelta)
    )
    supply: defaultdict[str, SupplyDelta] = field(default_factory=lambda: defaultdict(SupplyDelta))
    buffers: defaultdict[tuple[str, str], BufferDelta] = field(
        default_factory=lambda: defaultdict(BufferDelta)
    )
    range_ops: defaultdict[str, list[Piece]] = field(default_factory=lambda: defaultdict(list))
    inserts: defaultdict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # (table, key columns) -> key -> the columns this batch sets; merged per key in order.
    upserts: defaultdict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], dict[str, Any]]] = (
        field(default_factory=lambda: defaultdict(dict))
    )
    public: PublicRows = field(default_factory=PublicRows)  # the public view's tables

    def upsert(self, table: str, keys: dict[str, Any], values: dict[str, Any]) -> None:
        key_columns = tuple(keys)
        row = self.upserts[(table, key_columns)].setdefault(tuple(keys.values()), dict(keys))
        row.update(values)

    def balance(
        self,
        party_id: str,
        block: SerialBlock,
        tradable: int = 0,
        pending: int = 0,
        retired: int = 0,
    ) -> None:
        class_id, _project, vintage = batch_class_and_vintage(block.batch_id)
        row = self.balances[(party_id, class_id, vintage)]
        row.tradable_kg += tradable
        row.pending_kg += pending
        row.retired_kg += retired

    def supply_delta(
        self,
        batch_id: str,
        issued: int = 0,
        tradable: int = 0,
        pending: int = 0,
        retired: int = 0,
        cancelled: int = 0,
    ) -> None:
        row = self.supply[batch_id]
        row.issued_kg += issued
        row.tradable_kg += tradable
        row.pending_kg += pending
        row.retired_kg += retired
        row.cancelled_kg += cancelled

    def place(self, block: SerialBlock, owner_id: str, status: str, stamp: int) -> None:
        """The block's serials now belong to `owner_id` with `status`, as of `stamp`."""
        self.range_ops[block.batch_id].append(
            Piece(block.serial_start, block.serial_end, owner_id, status, stamp)
        )

    # -- update rules of two-phase exchange deliveries (model II) ------------------------
    # The exchange events call these: a proposal reserves blocks (pending, still owned by
    # the provider), acceptance moves them to the user, rejection or expiry releases them.
    def reserve(self, provider_id: str, blocks: Sequence[SerialBlock], stamp: int) -> None:
        for block in blocks:
            self.balance(provider_id, block, tradable=-block.quantity_kg, pending=block.quantity_kg)
            self.supply_delta(
                block.batch_id, tradable=-block.quantity_kg, pending=block.quantity_kg
            )
            self.place(block, provider_id, "pending", stamp)

    def settle(
        self, provider_id: str, receiver_id: str, blocks: Sequence[SerialBlock], stamp: int
    ) -> None:
        """Accepted: pending at the provider becomes tradable at the receiver. Rejected or
        expired: call with receiver_id = provider_id to release the reservation."""
        for block in blocks:
            self.balance(provider_id, block, pending=-block.quantity_kg)
            self.balance(receiver_id, block, tradable=block.quantity_kg)
            self.supply_delta(
                block.batch_id, pending=-block.quantity_kg, tradable=block.quantity_kg
            )
            self.place(block, receiver_id, "tradable", stamp)

    def move(self, from_id: str, to_id: str, blocks: Sequence[SerialBlock], stamp: int) -> None:
        """Tradable blocks change holder (a transfer, or into or out of a pool's holding)."""
        for block in blocks:
            self.balance(from_id, block, tradable=-block.quantity_kg)
            self.balance(to_id, block, tradable=block.quantity_kg)
            self.place(block, to_id, "tradable", stamp)
