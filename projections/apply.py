"""Turning a batch of envelopes into the rows it changes, in memory (written by write.py).

Deltas are summed per batch for one upsert per key; serial-range ops are gathered per credit
batch to be merged and written as a diff. Both commute across workers (see tables.py), and
`applied_positions` makes every position count exactly once globally."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from projections import tables as t
from projections.public_apply import PublicRows, collect_envelope, collect_event
from projections.ranges import Piece
from registry import reference
from registry.domain import events as ev
from registry.domain.serials import SerialBlock
from registry.envelope.codec import Codec
from registry.envelope.sealing import OpenedEnvelope

MAX_EFFECTS_PER_ENVELOPE = 16  # stamps are position * 16 + effect index
TOKYO_62 = frozenset(m.code for m in reference.tokyo_62())

applied_positions = sa.Table(
    "applied_positions",
    t.metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
)


def batch_class_and_vintage(batch_id: str) -> tuple[str, str, str]:
    """Batch ids are CLASS-PROJECT-YYYYMMDD-YYYYMMDD-SEQ, so any event can be classified
    even when its issuance sits in another partition that has not been read yet."""
    class_id, project_id, start, end, _sequence = batch_id.split("-")
    return class_id, project_id, f"{start}-{end}"


@dataclass
class PendingRows:
    balances: dict[tuple[str, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])
    )
    supply: dict[str, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0, 0])
    )
    range_ops: dict[str, list[Piece]] = field(default_factory=lambda: defaultdict(list))
    allocation: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    inserts: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # (table, key columns) -> key -> the columns this batch sets; merged per key in order.
    upserts: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(dict)
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
        row[0] += tradable
        row[1] += pending
        row[2] += retired

    def supply_delta(
        self,
        batch_id: str,
        issued: int = 0,
        tradable: int = 0,
        retired: int = 0,
        cancelled: int = 0,
    ) -> None:
        row = self.supply[batch_id]
        row[0] += issued
        row[1] += tradable
        row[3] += retired
        row[4] += cancelled

    # -- update rules of two-phase exchange deliveries (model II) ------------------------
    # The exchange events call these: a proposal reserves blocks (pending, still owned by
    # the provider), acceptance moves them to the user, rejection or expiry releases them.
    def reserve(self, provider_id: str, blocks: Sequence[SerialBlock], stamp: int) -> None:
        for block in blocks:
            self.balance(provider_id, block, tradable=-block.quantity_kg, pending=block.quantity_kg)
            self.supply[block.batch_id][1] -= block.quantity_kg
            self.supply[block.batch_id][2] += block.quantity_kg
            self.range_ops[block.batch_id].append(
                Piece(block.serial_start, block.serial_end, provider_id, "pending", stamp)
            )

    def settle(
        self, provider_id: str, receiver_id: str, blocks: Sequence[SerialBlock], stamp: int
    ) -> None:
        """Accepted: pending at the provider becomes tradable at the receiver. Rejected or
        expired: call with receiver_id = provider_id to release the reservation."""
        for block in blocks:
            self.balance(provider_id, block, pending=-block.quantity_kg)
            self.balance(receiver_id, block, tradable=block.quantity_kg)
            self.supply[block.batch_id][2] -= block.quantity_kg
            self.supply[block.batch_id][1] += block.quantity_kg
            self.range_ops[block.batch_id].append(
                Piece(block.serial_start, block.serial_end, receiver_id, "tradable", stamp)
            )


class Projector:
    def __init__(self, codec: Codec | None = None) -> None:
        self.codec = codec or Codec()

    def collect(self, envelopes: Sequence[OpenedEnvelope]) -> PendingRows:
        rows = PendingRows()
        for envelope in envelopes:
            effects = envelope.body.effects
            assert len(effects) <= MAX_EFFECTS_PER_ENVELOPE
            event_types = []
            for index, effect in enumerate(effects):
                event = self.codec.decode_event(effect)
                stamp = envelope.body.position * MAX_EFFECTS_PER_ENVELOPE + index
                self._collect(rows, event, envelope, stamp, index)
                collect_event(rows.public, event, envelope, stamp)
                event_types.append(type(event).__name__)
            collect_envelope(rows.public, envelope, event_types)
        return rows

    def _collect(
        self, rows: PendingRows, event: ev.Event, envelope: OpenedEnvelope, stamp: int, index: int
    ) -> None:
        position = envelope.body.position
        match event:
            case ev.PartyRegistered():
                rows.inserts["parties"].append(
                    {
                        "party_id": event.party_id,
                        "role": event.role,
                        "name": event.name,
                        "name_ja": event.name_ja,
                        "registered_position": position,
                    }
                )
            case ev.CreditsIssued():
                block = SerialBlock(event.batch_id, event.serial_start, event.serial_end)
                rows.balance(event.recipient_id, block, tradable=event.quantity_kg)
                rows.supply_delta(
                    event.batch_id, issued=event.quantity_kg, tradable=event.quantity_kg
                )
                rows.range_ops[event.batch_id].append(
                    Piece(
                        event.serial_start, event.serial_end, event.recipient_id, "tradable", stamp
                    )
                )
                rows.inserts["batches"].append(
                    {
                        "batch_id": event.batch_id,
                        "issuer_id": event.issuer_id,
                        "recipient_id": event.recipient_id,
                        "serial_start": event.serial_start,
                        "serial_end": event.serial_end,
                        "issued_position": position,
                    }
                )
            case ev.CreditsTransferred():
                for block in event.blocks:
                    rows.balance(event.from_party_id, block, tradable=-block.quantity_kg)
                    rows.balance(event.to_party_id, block, tradable=block.quantity_kg)
                    rows.range_ops[block.batch_id].append(
                        Piece(
                            block.serial_start,
                            block.serial_end,
                            event.to_party_id,
                            "tradable",
                            stamp,
                        )
                    )
            case ev.CreditsRetired():
                for block in event.blocks:
                    rows.balance(
                        event.holder_id,
                        block,
                        tradable=-block.quantity_kg,
                        retired=block.quantity_kg,
                    )
                    rows.supply_delta(
                        block.batch_id, tradable=-block.quantity_kg, retired=block.quantity_kg
                    )
                    rows.range_ops[block.batch_id].append(
                        Piece(
                            block.serial_start, block.serial_end, event.holder_id, "retired", stamp
                        )
                    )
                rows.inserts["retirements"].append(
                    {
                        "position": position,
                        "effect_index": index,
                        "holder_id": event.holder_id,
                        "quantity_kg": event.quantity_kg,
                        "blocks": " ".join(
                            f"{b.batch_id}:{b.serial_start}-{b.serial_end}" for b in event.blocks
                        ),
                        "beneficiary_name": event.beneficiary.name,
                        "beneficiary_party_id": event.beneficiary.party_id,
                        "purpose": event.purpose,
                        "reporting_year": event.reporting_year,
                        "memo": event.memo,
                        "reference": event.reference,
                        "recorded_at_us": envelope.body.recorded_at_us,
                    }
                )
                member = event.beneficiary.party_id
                if event.purpose == "meeting_event" and member in TOKYO_62:
                    offset = rows.allocation[member]
                    offset[0] += 1
                    offset[2] += event.quantity_kg
            case ev.CreditsCancelled():
                for block in event.blocks:
                    rows.balance(event.holder_id, block, tradable=-block.quantity_kg)
                    rows.supply_delta(
                        block.batch_id, tradable=-block.quantity_kg, cancelled=block.quantity_kg
                    )
                    rows.range_ops[block.batch_id].append(
                        Piece(
                            block.serial_start,
                            block.serial_end,
                            event.holder_id,
                            "cancelled",
                            stamp,
                        )
                    )
            case ev.PoolOpened():
                rows.upsert(
                    "pools",
                    {"pool_id": event.pool_id},
                    {
                        "name": event.name,
                        "fiscal_year": event.fiscal_year,
                        "members": len(event.members),
                        "opened_by": event.opened_by,
                    },
                )
            case ev.MeetingRegistered():
                rows.upsert(
                    "meetings",
                    {"pool_id": event.pool_id, "meeting_id": event.meeting_id},
                    {
                        "organiser_id": event.organiser_id,
                        "name": event.name,
                        "held_on": event.held_on,
                        "category": event.category,
                        "expected_participants": event.expected_participants,
                        "estimate_kg": event.estimate_kg,
                        "estimate_basis": event.estimate_basis,
                    },
                )
            case ev.MeetingCalculated():
                rows.upsert(
                    "meetings",
                    {"pool_id": event.pool_id, "meeting_id": event.meeting_id},
                    {
                        "actual_participants": event.actual_participants,
                        "calculated_kg": event.calculated_kg,
                        "calculation_basis": event.calculation_basis,
                    },
                )
            case ev.PoolAllocated():
                rows.upsert(
                    "pools",
                    {"pool_id": event.pool_id},
                    {"pool_kg": event.pool_kg, "rule": event.rule},
                )
                for share in event.allocations:
                    rows.upsert(
                        "meetings",
                        {"pool_id": event.pool_id, "meeting_id": share.meeting_id},
                        {"allocated_kg": share.allocated_kg},
                    )
                    if share.organiser_id in TOKYO_62:
                        rows.allocation[share.organiser_id][1] += share.allocated_kg
            case ev.MeetingOffset():
                rows.upsert(
                    "meetings",
                    {"pool_id": event.pool_id, "meeting_id": event.meeting_id},
                    {"retired_kg": event.retired_kg, "retired_position": position},
                )
            case ev.AgreementSigned():
                terms = {
                    "provider_id": event.provider_id,
                    "user_id": event.user_id,
                    "start_date": event.start_date,
                    "term_years": event.term_years,
                    "expected_annual_kg": event.expected_annual_kg,
                    "purpose": event.purpose,
                }
                if event.in_force:
                    terms |= {"in_force": True, "in_force_position": position}
                rows.upsert("exchange_agreements", {"agreement_id": event.agreement_id}, terms)
            case ev.DeliveryProposed():
                rows.reserve(event.provider_id, event.blocks, stamp)
                rows.upsert(
                    "exchange_deliveries",
                    {"delivery_id": event.delivery_id},
                    {
                        "agreement_id": event.agreement_id,
                        "provider_id": event.provider_id,
                        "user_id": event.user_id,
                        "fiscal_year": event.fiscal_year,
                        "quantity_kg": event.quantity_kg,
                        "deadline_us": event.deadline_us,
                        "proposed_position": position,
                    },
                )
            case ev.DeliveryResolved():
                receiver = event.user_id if event.outcome == "accepted" else event.provider_id
                rows.settle(event.provider_id, receiver, event.blocks, stamp)
                rows.upsert(
                    "exchange_deliveries",
                    {"delivery_id": event.delivery_id},
                    {"outcome": event.outcome, "resolved_position": position},
                )
            case ev.ContributionsRecorded():
                rows.inserts["contributions"].extend(
                    {
                        "batch_id": event.batch_id,
                        "serial_start": c.serial_start,
                        "serial_end": c.serial_end,
                        "contributor": c.contributor,
                    }
                    for c in event.contributions
                )
            case _:
                pass  # key history and registrations of classes and projects have no read model yet
