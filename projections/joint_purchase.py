"""Read queries of the joint purchase (model IV), one pool at a time: its table (members,
subtotals, the project's own events), its meetings in registration order with estimate and
calculation side by side, its own holding, and the factor tables. Every query is scoped to
its pool and reads only rows built from that pool's events (see tables.py). queries.py
serves these under the same names."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from projections import tables as t
from registry.domain.parties import municipality_kind
from registry.domain.records import pool_holder


@dataclass(frozen=True)
class AllocationRow:
    member_code: str
    name_ja: str
    name_en: str
    kind: str
    events_offset: int
    allocated_kg: int
    offset_kg: int
    estimate_kg: int = 0  # of the member's meetings in the pool, before them
    calculated_kg: int = 0  # and after them, as the rules decided it

    @property
    def difference_kg(self) -> int:
        """Calculated after less estimated before: positive when the events emitted more."""
        return self.calculated_kg - self.estimate_kg


@dataclass(frozen=True)
class AllocationTotals:
    label: str
    members: int
    participating: int
    events_offset: int
    allocated_kg: int
    offset_kg: int
    estimate_kg: int = 0
    calculated_kg: int = 0

    @property
    def difference_kg(self) -> int:
        return self.calculated_kg - self.estimate_kg


KIND_GROUPS = (
    ("wards", ("ward",)),
    ("cities", ("city",)),
    ("towns and villages", ("town", "village")),
)


def allocation(
    connection: sa.Connection, pool_id: str
) -> tuple[list[AllocationRow], list[AllocationTotals]]:
    """The table of one pool: a row per member it was opened with, in code order; then
    subtotals for wards, cities, towns and villages, the members' total, the project's own
    events (organised by someone not a member, i.e. the secretariat) and all offsets. Only
    the pool's own meetings count: retirements outside it, or other pools, never do."""
    rows = _member_rows(connection, pool_id)
    totals = [
        _subtotal(label, [row for row in rows if row.kind in kinds]) for label, kinds in KIND_GROUPS
    ]
    members_total = _subtotal("total", rows)  # members of an unknown kind count here too
    project = _own_events(connection, pool_id)
    totals += [
        members_total,
        project,
        AllocationTotals(
            "all offsets",
            members_total.members,
            members_total.participating,
            *(
                getattr(members_total, name) + getattr(project, name)
                for name in (
                    "events_offset",
                    "allocated_kg",
                    "offset_kg",
                    "estimate_kg",
                    "calculated_kg",
                )
            ),
        ),
    ]
    return rows, totals


def _meeting_sums(pool_id: str) -> sa.Subquery:
    """Per organiser, its meetings in the pool: retired, allocated, offset, estimated,
    calculated."""
    m = t.meetings.c
    return (
        sa.select(
            m.organiser_id,
            sa.func.count(m.retired_kg).label("events_offset"),
            sa.func.coalesce(sa.func.sum(m.allocated_kg), 0).label("allocated_kg"),
            sa.func.coalesce(sa.func.sum(m.retired_kg), 0).label("offset_kg"),
            sa.func.coalesce(sa.func.sum(m.estimate_kg), 0).label("estimate_kg"),
            sa.func.coalesce(sa.func.sum(m.calculated_kg), 0).label("calculated_kg"),
        )
        .where(m.pool_id == pool_id)
        .group_by(m.organiser_id)
        .subquery()
    )


_SUMS = ("events_offset", "allocated_kg", "offset_kg", "estimate_kg", "calculated_kg")


def _member_rows(connection: sa.Connection, pool_id: str) -> list[AllocationRow]:
    """Names are those the member's registration recorded; the kind is read from the
    Japanese name (see municipality_kind), empty while it is unknown."""
    pool_members = t.pool_members.c
    members = sa.select(pool_members.party_id).where(pool_members.pool_id == pool_id).subquery()
    sums = _meeting_sums(pool_id)
    p = t.parties.c
    query = (
        sa.select(
            members.c.party_id,
            p.name_ja,
            p.name,
            *(sa.func.coalesce(sums.c[name], 0) for name in _SUMS),
        )
        .select_from(
            members.outerjoin(t.parties, p.party_id == members.c.party_id).outerjoin(
                sums, sums.c.organiser_id == members.c.party_id
            )
        )
        .order_by(members.c.party_id)
    )
    return [
        AllocationRow(
            code, name_ja or "", name or "", municipality_kind(name_ja) or "", *map(int, counts)
        )
        for code, name_ja, name, *counts in connection.execute(query)
    ]


def _subtotal(label: str, group: list[AllocationRow]) -> AllocationTotals:
    return AllocationTotals(
        label,
        len(group),
        sum(1 for row in group if row.events_offset),
        *(sum(getattr(row, name) for row in group) for name in _SUMS),
    )


def _own_events(connection: sa.Connection, pool_id: str) -> AllocationTotals:
    """The joint project's own meetings in the pool: organised by someone who is not one
    of the pool's members (the secretariat)."""
    members = sa.select(t.pool_members.c.party_id).where(t.pool_members.c.pool_id == pool_id)
    sums = _meeting_sums(pool_id)
    own = connection.execute(
        sa.select(*(sa.func.coalesce(sa.func.sum(sums.c[name]), 0) for name in _SUMS)).where(
            sums.c.organiser_id.not_in(members)
        )
    ).one()
    return AllocationTotals("project's own events", 0, 0, *map(int, own))


@dataclass(frozen=True)
class MeetingView:
    pool_id: str
    meeting_id: str
    organiser_id: str
    name: str
    held_on: object
    category: str
    expected_participants: int
    estimate_kg: int
    actual_participants: int | None
    calculated_kg: int | None
    allocated_kg: int | None
    retired_kg: int | None
    retired_position: int | None
    registered_position: int | None = None
    estimate_table_version: str | None = None
    calculation_table_version: str | None = None

    @property
    def difference_kg(self) -> int | None:
        """Calculated after less estimated before; None until calculated."""
        if self.calculated_kg is None or self.estimate_kg is None:
            return None
        return self.calculated_kg - self.estimate_kg


def meetings(connection: sa.Connection, pool_id: str | None = None) -> list[MeetingView]:
    """A pool's meetings in registration order (the split's tie order), estimate and
    calculation side by side (`difference_kg`)."""
    m = t.meetings.c
    query = sa.select(
        m.pool_id,
        m.meeting_id,
        m.organiser_id,
        m.name,
        m.held_on,
        m.category,
        m.expected_participants,
        m.estimate_kg,
        m.actual_participants,
        m.calculated_kg,
        m.allocated_kg,
        m.retired_kg,
        m.retired_position,
        m.registered_position,
        m.estimate_table_version,
        m.calculation_table_version,
    )
    if pool_id is not None:
        query = query.where(m.pool_id == pool_id)
    order = (m.pool_id, m.registered_position, m.meeting_id)
    return [MeetingView(*row) for row in connection.execute(query.order_by(*order))]


@dataclass(frozen=True)
class PoolView:
    pool_id: str
    name: str | None
    fiscal_year: int | None
    opened_by: str | None
    members: int | None
    allocated_kg: int | None  # the pool_kg of its split, None before it
    rule: str | None
    funded_kg: int  # bought in by its funders
    carried_in_kg: int  # from earlier pools
    returned_kg: int  # to its funders
    carried_out_kg: int  # into later pools
    held_kg: int  # in its own holding now (pool:<pool_id>), owed to meetings or free
    retired_kg: int  # retired from its holding for its meetings


def pool(connection: sa.Connection, pool_id: str) -> PoolView | None:
    """A pool and its own holding: what came in, what went out, what it holds."""
    row = connection.execute(sa.select(t.pools).where(t.pools.c.pool_id == pool_id)).first()
    f = t.pool_flows.c
    flows: dict[str, int] = {
        kind: int(kg)
        for kind, kg in connection.execute(
            sa.select(f.kind, sa.func.sum(f.quantity_kg))
            .where(f.pool_id == pool_id)
            .group_by(f.kind)
        )
    }
    if row is None and not flows:
        return None
    b = t.balances.c
    held_kg, retired_kg = connection.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(b.tradable_kg), 0),
            sa.func.coalesce(sa.func.sum(b.retired_kg), 0),
        ).where(b.party_id == pool_holder(pool_id))
    ).one()
    return PoolView(
        pool_id,
        row.name if row else None,
        row.fiscal_year if row else None,
        row.opened_by if row else None,
        row.members if row else None,
        row.pool_kg if row else None,
        row.rule if row else None,
        funded_kg=flows.get("funded", 0),
        carried_in_kg=flows.get("carried_in", 0),
        returned_kg=flows.get("returned", 0),
        carried_out_kg=flows.get("carried_out", 0),
        held_kg=int(held_kg),
        retired_kg=int(retired_kg),
    )


def factor_table(connection: sa.Connection, version: str) -> list[tuple[str, str, int, str]]:
    """A registered factor table: (item, unit, mg CO2e per unit, source) by item."""
    e = t.emission_factors.c
    rows = connection.execute(
        sa.select(e.item, e.unit, e.mg_per_unit, e.source)
        .where(e.version == version)
        .order_by(e.item)
    )
    return [(row.item, row.unit, int(row.mg_per_unit), row.source) for row in rows]
