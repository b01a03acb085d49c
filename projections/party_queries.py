"""Read queries of the public view about things with an id: parties, credit classes,
projects, the serial ranges of a batch or a holder, agreements, and each kilogram's
history. Indexed lookups and keyset pages only (see public_queries.py)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from projections import public_tables as p
from projections import tables as t
from projections.public_queries import _bounded


@dataclass(frozen=True)
class PartyView:
    party_id: str
    role: str
    name: str
    name_ja: str | None
    registered_position: int


def party(connection: sa.Connection, party_id: str) -> PartyView | None:
    row = connection.execute(sa.select(t.parties).where(t.parties.c.party_id == party_id)).first()
    return PartyView(*row) if row else None


def parties_page(connection: sa.Connection, after: str, limit: int) -> list[PartyView]:
    c = t.parties.c
    rows = connection.execute(
        sa.select(t.parties).where(c.party_id > after).order_by(c.party_id).limit(_bounded(limit))
    ).all()
    return [PartyView(*row) for row in rows]


def find_parties(connection: sa.Connection, text: str, limit: int) -> list[PartyView]:
    """Parties whose id is `text`, or whose name in either language contains it."""
    c = t.parties.c
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = connection.execute(
        sa.select(t.parties)
        .where(
            sa.or_(
                c.party_id == text,
                c.name.ilike(pattern, escape="\\"),
                c.name_ja.like(pattern, escape="\\"),
            )
        )
        .order_by(c.party_id)
        .limit(_bounded(limit))
    ).all()
    return [PartyView(*row) for row in rows]


@dataclass(frozen=True)
class ClassView:
    class_id: str
    name: str
    issuers: tuple[str, ...]
    registered_position: int


def credit_class(connection: sa.Connection, class_id: str) -> ClassView | None:
    row = connection.execute(
        sa.select(p.credit_classes).where(p.credit_classes.c.class_id == class_id)
    ).first()
    return (
        ClassView(row.class_id, row.name, tuple(row.issuers.split()), row.registered_position)
        if row
        else None
    )


def credit_classes(connection: sa.Connection, limit: int) -> list[ClassView]:
    rows = connection.execute(
        sa.select(p.credit_classes).order_by(p.credit_classes.c.class_id).limit(_bounded(limit))
    ).all()
    return [
        ClassView(r.class_id, r.name, tuple(r.issuers.split()), r.registered_position) for r in rows
    ]


@dataclass(frozen=True)
class ProjectView:
    project_id: str
    class_id: str
    name: str
    location: str
    methodology: str
    proponent_id: str
    registered_position: int


def project(connection: sa.Connection, project_id: str) -> ProjectView | None:
    row = connection.execute(
        sa.select(p.projects).where(p.projects.c.project_id == project_id)
    ).first()
    return ProjectView(*row) if row else None


def projects_of_class(connection: sa.Connection, class_id: str, limit: int) -> list[ProjectView]:
    c = p.projects.c
    rows = connection.execute(
        sa.select(p.projects)
        .where(c.class_id == class_id)
        .order_by(c.project_id)
        .limit(_bounded(limit))
    ).all()
    return [ProjectView(*row) for row in rows]


@dataclass(frozen=True)
class RangeView:
    batch_id: str
    serial_start: int
    serial_end: int
    owner_id: str
    status: str
    position: int  # of the change that left it so

    @property
    def quantity_kg(self) -> int:
        return self.serial_end - self.serial_start + 1


def _ranges(rows: list[sa.Row[tuple[str, int, int, str, str, int]]]) -> list[RangeView]:
    return [RangeView(r[0], r[1], r[2], r[3], r[4], r[5] // 16) for r in rows]


def batch_ranges(
    connection: sa.Connection, batch_id: str, after_serial: int, limit: int
) -> list[RangeView]:
    """Who holds, reserved, retired or cancelled which serials of a batch, in serial order."""
    r = t.serial_ranges.c
    rows = connection.execute(
        sa.select(r.batch_id, r.serial_start, r.serial_end, r.owner_id, r.status, r.stamp)
        .where(r.batch_id == batch_id, r.serial_start > after_serial)
        .order_by(r.serial_start)
        .limit(_bounded(limit))
    ).all()
    return _ranges(list(rows))


def party_ranges(
    connection: sa.Connection,
    party_id: str,
    status: str,
    after: tuple[str, int],
    limit: int,
) -> list[RangeView]:
    """A holder's ranges of one status by batch and serial (index serial_ranges_by_owner)."""
    r = t.serial_ranges.c
    rows = connection.execute(
        sa.select(r.batch_id, r.serial_start, r.serial_end, r.owner_id, r.status, r.stamp)
        .where(
            r.owner_id == party_id,
            r.status == status,
            sa.tuple_(r.batch_id, r.serial_start)
            > sa.tuple_(*(sa.literal(value) for value in after)),
        )
        .order_by(r.batch_id, r.serial_start)
        .limit(_bounded(limit))
    ).all()
    return _ranges(list(rows))


def holder_of(connection: sa.Connection, batch_id: str, serial: int) -> RangeView | None:
    """The range holding one kilogram now: the last piece starting at or before it."""
    r = t.serial_ranges.c
    row = connection.execute(
        sa.select(r.batch_id, r.serial_start, r.serial_end, r.owner_id, r.status, r.stamp)
        .where(r.batch_id == batch_id, r.serial_start <= serial)
        .order_by(r.serial_start.desc())
        .limit(1)
    ).first()
    if row is None or row.serial_end < serial:
        return None
    return _ranges([row])[0]


@dataclass(frozen=True)
class Move:
    position: int
    action: str
    party_id: str
    counterparty_id: str | None
    serial_start: int
    serial_end: int


def _probe(level: int, serial: int) -> str:
    """The ranges at the fork node of `level` on the way to `serial` that contain it: left
    of the fork they must start by it, right of it they must reach it (one index each)."""
    at_node = f"batch_id = :batch AND fork_level = {level} AND fork_node = :n{level}"
    if level == 0:
        side = "serial_start = :serial"
    elif serial >> (level - 1) & 1:
        side = "serial_end >= :serial"
    else:
        side = "serial_start <= :serial"
    return (
        "SELECT position, stamp, action, party_id, counterparty_id, serial_start, serial_end "
        f"FROM {p.serial_history.name} WHERE {at_node} AND {side}"
    )


def history_of(connection: sa.Connection, batch_id: str, serial: int, limit: int) -> list[Move]:
    """Every change to one kilogram, oldest first: one indexed probe per level of the
    interval tree (see public_tables.serial_history), up to the batch's highest serial's
    bit length, which bounds every fork level in it. Text SQL: composing the expression
    for each request cost ten times running it."""
    b = t.batches.c
    highest = connection.scalar(sa.select(b.serial_end).where(b.batch_id == batch_id))
    if highest is None or serial > highest:
        return []
    levels = range(int(highest).bit_length() + 1)
    union = " UNION ALL ".join(_probe(level, serial) for level in levels)
    parameters: dict[str, object] = {"batch": batch_id, "serial": serial, "limit": _bounded(limit)}
    parameters |= {f"n{level}": serial >> level for level in levels}
    rows = connection.execute(
        sa.text(f"SELECT * FROM ({union}) AS moves ORDER BY stamp LIMIT :limit"), parameters
    ).all()
    return [
        Move(r.position, r.action, r.party_id, r.counterparty_id, r.serial_start, r.serial_end)
        for r in rows
    ]


@dataclass(frozen=True)
class AgreementView:
    agreement_id: str
    provider_id: str
    user_id: str
    start_date: object
    term_years: int
    expected_annual_kg: int
    purpose: str
    in_force: bool
    in_force_position: int | None


def agreement(connection: sa.Connection, agreement_id: str) -> AgreementView | None:
    a = t.agreements.c
    row = connection.execute(sa.select(t.agreements).where(a.agreement_id == agreement_id)).first()
    return _agreement(row) if row else None


def _agreement(row: sa.Row[tuple[object, ...]]) -> AgreementView:
    return AgreementView(
        str(row.agreement_id),
        str(row.provider_id),
        str(row.user_id),
        row.start_date,
        int(row.term_years or 0),
        int(row.expected_annual_kg or 0),
        str(row.purpose or ""),
        bool(row.in_force),
        row.in_force_position,
    )


def agreements_of(connection: sa.Connection, party_id: str, limit: int) -> list[AgreementView]:
    a = t.agreements.c
    rows = connection.execute(
        sa.select(t.agreements)
        .where(sa.or_(a.provider_id == party_id, a.user_id == party_id))
        .order_by(a.agreement_id)
        .limit(_bounded(limit))
    ).all()
    return [_agreement(row) for row in rows]


@dataclass(frozen=True)
class SignatureView:
    signer_id: str
    position: int
    recorded_at_us: int
    in_force: bool


def signatures(connection: sa.Connection, agreement_id: str, limit: int) -> list[SignatureView]:
    s = p.agreement_signatures.c
    rows = connection.execute(
        sa.select(s.signer_id, s.position, s.recorded_at_us, s.in_force)
        .where(s.agreement_id == agreement_id)
        .order_by(s.position)
        .limit(_bounded(limit))
    ).all()
    return [SignatureView(*row) for row in rows]


@dataclass(frozen=True)
class Issuance:
    issuer_id: str
    recipient_id: str
    serial_start: int
    serial_end: int
    issued_position: int


def issuance(connection: sa.Connection, batch_id: str) -> Issuance | None:
    b = t.batches.c
    row = connection.execute(
        sa.select(
            b.issuer_id, b.recipient_id, b.serial_start, b.serial_end, b.issued_position
        ).where(b.batch_id == batch_id)
    ).first()
    return Issuance(*row) if row else None


def contributions_page(
    connection: sa.Connection, batch_id: str, limit: int
) -> list[tuple[str, int, int]]:
    k = t.contributions.c
    rows = connection.execute(
        sa.select(k.contributor, k.serial_start, k.serial_end)
        .where(k.batch_id == batch_id)
        .order_by(k.serial_start)
        .limit(_bounded(limit))
    )
    return [(row.contributor, row.serial_start, row.serial_end) for row in rows]


@dataclass(frozen=True)
class PoolView:
    pool_id: str
    name: str | None
    fiscal_year: int | None
    members: int | None
    opened_by: str | None
    pool_kg: int | None
    rule: str | None


def pool(connection: sa.Connection, pool_id: str) -> PoolView | None:
    row = connection.execute(sa.select(t.pools).where(t.pools.c.pool_id == pool_id)).first()
    return PoolView(*row) if row else None


def pools(connection: sa.Connection, limit: int) -> list[PoolView]:
    rows = connection.execute(
        sa.select(t.pools).order_by(t.pools.c.pool_id).limit(_bounded(limit))
    ).all()
    return [PoolView(*row) for row in rows]


def meetings_page(
    connection: sa.Connection, pool_id: str, after: str, limit: int
) -> list[sa.RowMapping]:
    """A page of a pool's meetings by id, each row's columns by name (tables.meetings)."""
    m = t.meetings.c
    rows = connection.execute(
        sa.select(t.meetings)
        .where(m.pool_id == pool_id, m.meeting_id > after)
        .order_by(m.meeting_id)
        .limit(_bounded(limit))
    ).mappings()
    return list(rows)
