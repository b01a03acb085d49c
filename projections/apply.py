"""Turning a batch of envelopes into the rows it changes (pending.py), one handler per event
type; write.py stores them. `applied_positions` makes every position count exactly once
globally."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from projections import recoveries
from projections import tables as t
from projections.attribute_rows import (
    ATTRIBUTE_COLLECTORS,
    origin_columns,
    retirement_columns,
    retirement_labels,
)
from projections.pending import PendingRows
from projections.public_apply import collect_envelope, collect_event
from registry.domain import events as ev
from registry.domain.checks import InvariantViolation
from registry.domain.dispatch import EventDispatch
from registry.domain.records import pool_holder
from registry.domain.serials import SerialBlock
from registry.envelope.codec import Codec
from registry.envelope.sealing import OpenedEnvelope

EFFECTS_PER_ENVELOPE_MAX = 16  # stamps are position * 16 + effect index

applied_positions = sa.Table(
    "applied_positions",
    t.metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where an effect sits in the log."""

    position: int
    index: int  # within its envelope's effects
    recorded_at_us: int

    @property
    def stamp(self) -> int:
        """Orders every write to serial ranges: last writer wins (see tables.py)."""
        return self.position * EFFECTS_PER_ENVELOPE_MAX + self.index


class Projector:
    def __init__(self, codec: Codec | None = None) -> None:
        self.codec = codec or Codec()

    def collect(self, envelopes: Sequence[OpenedEnvelope]) -> PendingRows:
        rows = PendingRows()
        for envelope in envelopes:
            body = envelope.body
            # Stamps order serial-range writes: more effects would collide with the next position.
            if len(body.effects) > EFFECTS_PER_ENVELOPE_MAX:
                raise InvariantViolation(f"position {body.position}: {len(body.effects)} effects")
            event_types = []
            for index, effect in enumerate(body.effects):
                event = self.codec.decode_event(effect)
                collect = _COLLECTORS.handler(event)
                place = Place(body.position, index, body.recorded_at_us)
                if collect is not None:
                    collect(rows, event, place)
                collect_event(rows.public, event, envelope, place.stamp)
                event_types.append(type(event).__name__)
            collect_envelope(rows.public, envelope, event_types)
        return rows


# -- parties and credits ----------------------------------------------------------------
def _party_registered(rows: PendingRows, event: ev.PartyRegistered, at: Place) -> None:
    rows.inserts["parties"].append(
        {
            "party_id": event.party_id,
            "role": event.role,
            "name": event.name,
            "name_ja": event.name_ja,
            "registered_position": at.position,
        }
    )


def _credits_issued(rows: PendingRows, event: ev.CreditsIssued, at: Place) -> None:
    block = SerialBlock(event.batch_id, event.serial_start, event.serial_end)
    rows.balance(event.recipient_id, block, tradable=event.quantity_kg)
    rows.supply_delta(event.batch_id, issued=event.quantity_kg, tradable=event.quantity_kg)
    rows.place(block, event.recipient_id, "tradable", at.stamp)
    rows.inserts["batches"].append(
        {
            "batch_id": event.batch_id,
            "issuer_id": event.issuer_id,
            "recipient_id": event.recipient_id,
            "serial_start": event.serial_start,
            "serial_end": event.serial_end,
            "issued_position": at.position,
            **origin_columns(event.origin),
        }
    )


def _credits_transferred(rows: PendingRows, event: ev.CreditsTransferred, at: Place) -> None:
    rows.move(event.from_party_id, event.to_party_id, event.blocks, at.stamp)


def _credits_retired(rows: PendingRows, event: ev.CreditsRetired, at: Place) -> None:
    for block in event.blocks:
        quantity_kg = block.quantity_kg
        rows.balance(event.holder_id, block, tradable=-quantity_kg, retired=quantity_kg)
        rows.supply_delta(block.batch_id, tradable=-quantity_kg, retired=quantity_kg)
        rows.place(block, event.holder_id, "retired", at.stamp)
    # A retirement counts for a pool only through the pool's own MeetingOffset beside it:
    # whoever retires "for" a member elsewhere changes no pool's table.
    rows.inserts["retirements"].append(_retirement_row(event, at))
    retirement_labels(rows, event, at)


def _retirement_row(event: ev.CreditsRetired, at: Place) -> dict[str, Any]:
    return {
        "position": at.position,
        "effect_index": at.index,
        "holder_id": event.holder_id,
        "quantity_kg": event.quantity_kg,
        "blocks": " ".join(f"{b.batch_id}:{b.serial_start}-{b.serial_end}" for b in event.blocks),
        "beneficiary_name": event.beneficiary.name,
        "beneficiary_party_id": event.beneficiary.party_id,
        "purpose": event.purpose,
        "reporting_year": event.reporting_year,
        "memo": event.memo,
        "reference": event.reference,
        "recorded_at_us": at.recorded_at_us,
        **retirement_columns(event),
    }


def _credits_cancelled(rows: PendingRows, event: ev.CreditsCancelled, at: Place) -> None:
    for block in event.blocks:
        rows.balance(event.holder_id, block, tradable=-block.quantity_kg)
        rows.supply_delta(block.batch_id, tradable=-block.quantity_kg, cancelled=block.quantity_kg)
        rows.place(block, event.holder_id, "cancelled", at.stamp)


def _contributions_recorded(rows: PendingRows, event: ev.ContributionsRecorded, at: Place) -> None:
    rows.inserts["contributions"].extend(
        {
            "batch_id": event.batch_id,
            "serial_start": c.serial_start,
            "serial_end": c.serial_end,
            "contributor": c.contributor,
        }
        for c in event.contributions
    )


# -- the joint purchase (model IV) -------------------------------------------------------
def _pool_opened(rows: PendingRows, event: ev.PoolOpened, at: Place) -> None:
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
    rows.inserts["pool_members"].extend(
        {"pool_id": event.pool_id, "party_id": member} for member in event.members
    )


def _meeting_registered(rows: PendingRows, event: ev.MeetingRegistered, at: Place) -> None:
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
            "estimate_table_version": event.factor_table_version,
            "registered_position": at.position,
        },
    )


def _meeting_calculated(rows: PendingRows, event: ev.MeetingCalculated, at: Place) -> None:
    rows.upsert(
        "meetings",
        {"pool_id": event.pool_id, "meeting_id": event.meeting_id},
        {
            "actual_participants": event.actual_participants,
            "calculated_kg": event.calculated_kg,
            "calculation_basis": event.calculation_basis,
            "calculation_table_version": event.factor_table_version,
        },
    )


def _pool_allocated(rows: PendingRows, event: ev.PoolAllocated, at: Place) -> None:
    rows.upsert("pools", {"pool_id": event.pool_id}, {"pool_kg": event.pool_kg, "rule": event.rule})
    for share in event.allocations:
        rows.upsert(
            "meetings",
            {"pool_id": event.pool_id, "meeting_id": share.meeting_id},
            {"organiser_id": share.organiser_id, "allocated_kg": share.allocated_kg},
        )


def _meeting_offset(rows: PendingRows, event: ev.MeetingOffset, at: Place) -> None:
    rows.upsert(
        "meetings",
        {"pool_id": event.pool_id, "meeting_id": event.meeting_id},
        {
            "organiser_id": event.organiser_id,
            "retired_kg": event.retired_kg,
            "retired_position": at.position,
        },
    )


def _factor_table_registered(rows: PendingRows, event: ev.FactorTableRegistered, at: Place) -> None:
    rows.inserts["emission_factors"].extend(
        {
            "version": event.version,
            "item": factor.item,
            "unit": factor.unit,
            "mg_per_unit": factor.mg_per_unit,
            "source": factor.source,
            "registered_position": at.position,
        }
        for factor in event.factors
    )


def _flow(at: Place, pool_id: str, kind: str, counterparty: str, kg: int) -> dict[str, Any]:
    return {
        "pool_id": pool_id,
        "position": at.position,
        "effect_index": at.index,
        "kind": kind,
        "counterparty_id": counterparty,
        "quantity_kg": kg,
    }


def _pool_funded(rows: PendingRows, event: ev.PoolFunded, at: Place) -> None:
    rows.move(event.from_party_id, pool_holder(event.pool_id), event.blocks, at.stamp)
    rows.inserts["pool_flows"].append(
        _flow(at, event.pool_id, "funded", event.from_party_id, event.quantity_kg)
    )


def _pool_remainder_returned(rows: PendingRows, event: ev.PoolRemainderReturned, at: Place) -> None:
    rows.move(pool_holder(event.pool_id), event.to_party_id, event.blocks, at.stamp)
    rows.inserts["pool_flows"].append(
        _flow(at, event.pool_id, "returned", event.to_party_id, event.quantity_kg)
    )


def _pool_remainder_carried(rows: PendingRows, event: ev.PoolRemainderCarried, at: Place) -> None:
    source, target = pool_holder(event.pool_id), pool_holder(event.to_pool_id)
    rows.move(source, target, event.blocks, at.stamp)
    rows.inserts["pool_flows"] += [
        _flow(at, event.pool_id, "carried_out", target, event.quantity_kg),
        _flow(at, event.to_pool_id, "carried_in", source, event.quantity_kg),
    ]


# -- partner exchange (model II) ---------------------------------------------------------
def _agreement_signed(rows: PendingRows, event: ev.AgreementSigned, at: Place) -> None:
    terms = {
        "provider_id": event.provider_id,
        "user_id": event.user_id,
        "start_date": event.start_date,
        "term_years": event.term_years,
        "expected_annual_kg": event.expected_annual_kg,
        "purpose": event.purpose,
    }
    if event.in_force:
        terms |= {"in_force": True, "in_force_position": at.position}
    rows.upsert("exchange_agreements", {"agreement_id": event.agreement_id}, terms)


def _delivery_proposed(rows: PendingRows, event: ev.DeliveryProposed, at: Place) -> None:
    rows.reserve(event.provider_id, event.blocks, at.stamp)
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
            "proposed_position": at.position,
        },
    )


def _delivery_resolved(rows: PendingRows, event: ev.DeliveryResolved, at: Place) -> None:
    receiver = event.user_id if event.outcome == "accepted" else event.provider_id
    rows.settle(event.provider_id, receiver, event.blocks, at.stamp)
    rows.upsert(
        "exchange_deliveries",
        {"delivery_id": event.delivery_id},
        {"outcome": event.outcome, "resolved_position": at.position},
    )


_COLLECTORS: EventDispatch[Callable[[PendingRows, Any, Place], None]] = EventDispatch(
    "projections",
    {
        ev.PartyRegistered: _party_registered,
        ev.CreditsIssued: _credits_issued,
        ev.CreditsTransferred: _credits_transferred,
        ev.CreditsRetired: _credits_retired,
        ev.CreditsCancelled: _credits_cancelled,
        ev.ContributionsRecorded: _contributions_recorded,
        ev.PoolOpened: _pool_opened,
        ev.MeetingRegistered: _meeting_registered,
        ev.MeetingCalculated: _meeting_calculated,
        ev.PoolAllocated: _pool_allocated,
        ev.MeetingOffset: _meeting_offset,
        ev.AgreementSigned: _agreement_signed,
        ev.DeliveryProposed: _delivery_proposed,
        ev.DeliveryResolved: _delivery_resolved,
        ev.FactorTableRegistered: _factor_table_registered,
        ev.PoolFunded: _pool_funded,
        ev.PoolRemainderReturned: _pool_remainder_returned,
        ev.PoolRemainderCarried: _pool_remainder_carried,
        ev.RecoveryStarted: recoveries.recovery_started,
        ev.RecoveryVetoed: recoveries.recovery_vetoed,
        ev.RecoveryCompleted: recoveries.recovery_completed,
        **ATTRIBUTE_COLLECTORS,
    },
    ignored=(  # key history and the registers of classes and projects have no read model yet
        ev.KeyRegistered,
        ev.KeyRotated,
        ev.KeyRevoked,
        ev.RecoveryKeySet,
        ev.KeyRecovered,
        ev.RegistryKeyRotated,
        ev.CreditClassRegistered,
        ev.ProjectRegistered,
    ),
)
