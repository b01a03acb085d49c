"""Read queries over the projection tables; the gRPC query service serves these. The joint
purchase's, one pool at a time, are in joint_purchase.py, and a party's serial blocks, a
page at a time, in holdings.py; both are served here by the same names."""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa

from projections import attribute_queries
from projections import tables as t
from projections.attribute_queries import LabelView
from projections.holdings import Holding as Holding
from projections.holdings import HoldingsPage as HoldingsPage
from projections.holdings import every_holding as every_holding
from projections.holdings import holdings as holdings
from projections.joint_purchase import KIND_GROUPS as KIND_GROUPS
from projections.joint_purchase import AllocationRow as AllocationRow
from projections.joint_purchase import AllocationTotals as AllocationTotals
from projections.joint_purchase import MeetingView as MeetingView
from projections.joint_purchase import PoolView as PoolView
from projections.joint_purchase import allocation as allocation
from projections.joint_purchase import factor_table as factor_table
from projections.joint_purchase import meetings as meetings
from projections.joint_purchase import pool as pool
from projections.recoveries import RecoveryView, pending_recovery
from registry.domain.events import Origin
from registry.domain.fiscal import term_fiscal_years


@dataclass(frozen=True)
class BalanceLine:
    class_id: str
    vintage: str
    tradable_kg: int
    pending_kg: int
    retired_kg: int


@dataclass(frozen=True)
class Balance:
    party_id: str
    lines: tuple[BalanceLine, ...]
    pending_recovery: RecoveryView | None = None  # while pending, the credits are frozen

    @property
    def tradable_kg(self) -> int:
        return sum(line.tradable_kg for line in self.lines)

    @property
    def pending_kg(self) -> int:
        return sum(line.pending_kg for line in self.lines)

    @property
    def retired_kg(self) -> int:
        return sum(line.retired_kg for line in self.lines)


def balance(connection: sa.Connection, party_id: str) -> Balance:
    b = t.balances.c
    rows = connection.execute(
        sa.select(b.class_id, b.vintage, b.tradable_kg, b.pending_kg, b.retired_kg)
        .where(b.party_id == party_id)
        .order_by(b.class_id, b.vintage)
    ).all()
    lines = tuple(BalanceLine(*row) for row in rows if any(row[2:]))
    return Balance(party_id, lines, pending_recovery(connection, party_id))


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    class_id: str
    project_id: str
    vintage: str
    issuer_id: str | None
    issued_kg: int
    tradable_kg: int
    pending_kg: int
    retired_kg: int
    cancelled_kg: int
    # Shown by `batch` (a page of batches leaves them out): where the credits already
    # exist, the labels on their serials, and what the class's buffer holds of them.
    origin: Origin | None = None
    labels: tuple[LabelView, ...] = ()
    buffer_held_kg: int = 0


def batch(connection: sa.Connection, batch_id: str) -> BatchView | None:
    s, i = t.batch_supply.c, t.batches.c
    row = connection.execute(
        sa.select(
            s.batch_id,
            s.class_id,
            s.project_id,
            s.vintage,
            i.issuer_id,
            s.issued_kg,
            s.tradable_kg,
            s.pending_kg,
            s.retired_kg,
            s.cancelled_kg,
            i.origin_registry_id,
            i.origin_project_id,
            i.origin_serial_start,
            i.origin_serial_end,
        )
        .select_from(t.batch_supply.outerjoin(t.batches, s.batch_id == i.batch_id))
        .where(s.batch_id == batch_id)
    ).first()
    if row is None:
        return None
    registry_id, project_id, origin_start, origin_end = row[10:]
    origin = Origin(registry_id, project_id, origin_start, origin_end) if registry_id else None
    return replace(
        BatchView(*row[:10]),
        origin=origin,
        labels=tuple(attribute_queries.labels(connection, batch_id)),
        buffer_held_kg=attribute_queries.buffer_held_kg(connection, row.class_id, batch_id),
    )


@dataclass(frozen=True)
class RetirementView:
    position: int
    holder_id: str
    quantity_kg: int
    blocks: str
    beneficiary_name: str
    beneficiary_party_id: str | None
    purpose: str
    reporting_year: int
    memo: str
    location: str | None = None  # where the offset emissions happened (v3)
    required_label: str | None = None
    effect_index: int = 0  # within its envelope: a transfer retired on arrival is the second


def retirements(
    connection: sa.Connection,
    holder_id: str | None = None,
    beneficiary_party_id: str | None = None,
    after_position: int = 0,
    limit: int = 1_000,
    location: str | None = None,
) -> list[RetirementView]:
    r = t.retirements.c
    query = sa.select(
        r.position,
        r.holder_id,
        r.quantity_kg,
        r.blocks,
        r.beneficiary_name,
        r.beneficiary_party_id,
        r.purpose,
        r.reporting_year,
        r.memo,
        r.location,
        r.required_label,
        r.effect_index,
    ).where(r.position > after_position)
    if holder_id is not None:
        query = query.where(r.holder_id == holder_id)
    if beneficiary_party_id is not None:
        query = query.where(r.beneficiary_party_id == beneficiary_party_id)
    if location is not None:
        query = query.where(r.location == location)
    rows = connection.execute(query.order_by(r.position, r.effect_index).limit(limit)).all()
    return [RetirementView(*row) for row in rows]


@dataclass(frozen=True)
class Statement:
    agreement_id: str
    fiscal_year: int
    provider_id: str
    user_id: str
    expected_annual_kg: int
    in_force: bool
    proposed_kg: int
    accepted_kg: int
    rejected_kg: int
    expired_kg: int
    pending_kg: int
    retired_by_user_kg: int
    in_term: bool = False  # the year is one of the agreement's term
    expected_kg: int = 0  # the expected annual absorption, in a year of the term

    @property
    def difference_kg(self) -> int:
        """Absorption delivered (accepted) less expected: negative is a shortfall."""
        return self.accepted_kg - self.expected_kg


def statement(connection: sa.Connection, agreement_id: str, fiscal_year: int) -> Statement | None:
    """A year of an exchange agreement: delivered (proposed), accepted, released, pending,
    what the user retired against its residual emissions under the agreement, and the
    expected annual absorption (in a year of the term) against what was accepted."""
    a = t.agreements.c
    agreement = connection.execute(
        sa.select(t.agreements).where(a.agreement_id == agreement_id)
    ).first()
    if agreement is None:
        return None
    d = t.deliveries.c
    by_outcome: dict[str, int] = dict(
        (outcome, int(kg or 0))
        for outcome, kg in connection.execute(
            sa.select(sa.func.coalesce(d.outcome, "pending"), sa.func.sum(d.quantity_kg))
            .where(d.agreement_id == agreement_id, d.fiscal_year == fiscal_year)
            .group_by(sa.func.coalesce(d.outcome, "pending"))
        ).all()
    )
    r = t.retirements.c
    retired = connection.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(r.quantity_kg), 0)).where(
            r.holder_id == agreement.user_id,
            r.reference == f"agreement:{agreement_id}",
            r.purpose == "residual_emissions",
            r.reporting_year == fiscal_year,
        )
    )
    total = sum(int(v or 0) for v in by_outcome.values())
    in_term = agreement.start_date is not None and fiscal_year in term_fiscal_years(
        agreement.start_date, int(agreement.term_years or 0)
    )
    expected_kg = int(agreement.expected_annual_kg or 0)
    return Statement(
        agreement_id,
        fiscal_year,
        agreement.provider_id,
        agreement.user_id,
        int(agreement.expected_annual_kg or 0),
        bool(agreement.in_force),
        total,
        int(by_outcome.get("accepted") or 0),
        int(by_outcome.get("rejected") or 0),
        int(by_outcome.get("expired") or 0),
        int(by_outcome.get("pending") or 0),
        int(retired or 0),
        in_term,
        expected_kg if in_term else 0,
    )


@dataclass(frozen=True)
class DeliveryView:
    delivery_id: str
    agreement_id: str
    provider_id: str
    user_id: str
    fiscal_year: int
    quantity_kg: int
    deadline_us: int
    proposed_position: int
    outcome: str | None  # None while open
    resolved_position: int | None


def deliveries(
    connection: sa.Connection,
    party_id: str | None = None,
    agreement_id: str | None = None,
    due_at_us: int | None = None,
    after_position: int = 0,
    limit: int = 1_000,
) -> list[DeliveryView]:
    """Deliveries a party provides or receives, in proposal order. With `due_at_us`, only
    the open ones whose deadline is at or before it: an expiry is accepted from the
    deadline on (`now >= deadline`), so the bound is inclusive, as in the rule."""
    d = t.deliveries.c
    query = sa.select(
        d.delivery_id,
        d.agreement_id,
        d.provider_id,
        d.user_id,
        d.fiscal_year,
        d.quantity_kg,
        d.deadline_us,
        d.proposed_position,
        d.outcome,
        d.resolved_position,
    ).where(d.proposed_position > after_position)
    if party_id:
        query = query.where(sa.or_(d.provider_id == party_id, d.user_id == party_id))
    if agreement_id:
        query = query.where(d.agreement_id == agreement_id)
    if due_at_us is not None:
        query = query.where(d.outcome.is_(None), d.deadline_us <= due_at_us)
    rows = connection.execute(query.order_by(d.proposed_position).limit(limit)).all()
    return [DeliveryView(*row) for row in rows]


def contributor_of(connection: sa.Connection, batch_id: str, serial: int) -> str | None:
    """Who a given kilogram of an aggregated batch came from (e.g. which household)."""
    k = t.contributions.c
    return connection.scalar(
        sa.select(k.contributor).where(
            k.batch_id == batch_id, k.serial_start <= serial, k.serial_end >= serial
        )
    )


def contributions(connection: sa.Connection, batch_id: str) -> list[tuple[str, int, int]]:
    k = t.contributions.c
    rows = connection.execute(
        sa.select(k.contributor, k.serial_start, k.serial_end)
        .where(k.batch_id == batch_id)
        .order_by(k.serial_start)
    )
    return [(row.contributor, row.serial_start, row.serial_end) for row in rows]
