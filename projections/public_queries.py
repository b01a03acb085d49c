"""Read queries of the public view. Every one is an indexed lookup or a keyset page with a
LIMIT: a page costs the same at a thousand events as at a million."""

from __future__ import annotations

from dataclasses import dataclass, replace

import sqlalchemy as sa

from projections import merkle
from projections import public_tables as p
from projections import tables as t
from projections.queries import BatchView, RetirementView
from registry.transparency.checkpoints import Checkpoint

PAGE_ROWS_MAX = 500
DOWNLOAD_ROWS_MAX = 10_000  # a page of an open-data download
CHECKPOINTS_TRIED_MAX = 8  # the newest few; one whose leaves are not all applied is skipped
CLASSES_MAX = 1_000


@dataclass(frozen=True)
class Supply:
    issued_kg: int
    tradable_kg: int
    pending_kg: int
    retired_kg: int
    cancelled_kg: int


@dataclass(frozen=True)
class ProjectionPosition:
    last_position: int  # the highest position applied
    events_applied: int  # how many envelopes in all (equal to it when nothing is missing)


def _bounded(limit: int, maximum: int = PAGE_ROWS_MAX) -> int:
    if not 0 < limit <= maximum:
        raise ValueError(f"a page holds 1 to {maximum} rows, not {limit}")
    return limit


def projection_position(connection: sa.Connection) -> ProjectionPosition:
    g = t.progress.c  # one row per source partition
    row = connection.execute(
        sa.select(
            sa.func.coalesce(sa.func.max(g.last_position), 0),
            sa.func.coalesce(sa.func.sum(g.events_applied), 0),
        )
    ).one()
    return ProjectionPosition(int(row[0]), int(row[1]))


def _supply(row: sa.Row[tuple[int, int, int, int, int]] | None) -> Supply:
    return Supply(*(int(value or 0) for value in row)) if row else Supply(0, 0, 0, 0, 0)


def total_supply(connection: sa.Connection) -> Supply:
    classes = sa.select(p.class_supply).limit(CLASSES_MAX).subquery()
    row = connection.execute(
        sa.select(*(sa.func.sum(classes.c[name]) for name in p.SUPPLY_COLUMNS))
    ).first()
    return _supply(row)


def class_supply(connection: sa.Connection, class_id: str) -> Supply:
    s = p.class_supply.c
    return _supply(
        connection.execute(
            sa.select(*(s[name] for name in p.SUPPLY_COLUMNS)).where(s.class_id == class_id)
        ).first()
    )


def project_supply(connection: sa.Connection, class_id: str, project_id: str) -> Supply:
    s = p.project_supply.c
    return _supply(
        connection.execute(
            sa.select(*(s[name] for name in p.SUPPLY_COLUMNS)).where(
                s.class_id == class_id, s.project_id == project_id
            )
        ).first()
    )


@dataclass(frozen=True)
class CheckpointView:
    checkpoint: Checkpoint
    recorded_at_us: int | None  # when its last envelope was recorded
    matches_log: bool  # the read models' tree has the same root


def latest_checkpoint(connection: sa.Connection, covering: int = 0) -> CheckpointView | None:
    """The newest signed checkpoint whose leaves are all applied (and at least `covering`)."""
    c = p.checkpoints.c
    rows = connection.execute(
        sa.select(p.checkpoints)
        .where(c.tree_size >= covering)
        .order_by(c.tree_size.desc())
        .limit(CHECKPOINTS_TRIED_MAX)
    ).all()
    for row in rows:
        computed = merkle.root(connection, row.tree_size)
        if computed is None:
            continue
        checkpoint = Checkpoint(
            row.tree_size, bytes(row.root), row.registry_key_id, bytes(row.signature)
        )
        recorded = connection.scalar(
            sa.select(p.log_entries.c.recorded_at_us).where(
                p.log_entries.c.position == row.tree_size
            )
        )
        return CheckpointView(checkpoint, recorded, computed == checkpoint.root)
    return None


@dataclass(frozen=True)
class LogEntry:
    position: int
    recorded_at_us: int
    actor_id: str
    event_types: str
    sealed_envelope: bytes


def log_entry(connection: sa.Connection, position: int) -> LogEntry | None:
    e = p.log_entries.c
    row = connection.execute(
        sa.select(e.position, e.recorded_at_us, e.actor_id, e.event_types, e.sealed_envelope).where(
            e.position == position
        )
    ).first()
    return LogEntry(row[0], row[1], row[2], row[3], bytes(row[4])) if row else None


def log_page(
    connection: sa.Connection, after: int, limit: int, up_to: int | None = None
) -> list[LogEntry]:
    e = p.log_entries.c
    query = sa.select(e.position, e.recorded_at_us, e.actor_id, e.event_types, e.sealed_envelope)
    query = query.where(e.position > after)
    if up_to is not None:
        query = query.where(e.position <= up_to)
    rows = connection.execute(query.order_by(e.position).limit(_bounded(limit))).all()
    return [LogEntry(r[0], r[1], r[2], r[3], bytes(r[4])) for r in rows]


def checkpoints_up_to(connection: sa.Connection, tree_size: int, limit: int) -> list[Checkpoint]:
    c = p.checkpoints.c
    rows = connection.execute(
        sa.select(p.checkpoints)
        .where(c.tree_size <= tree_size)
        .order_by(c.tree_size.desc())
        .limit(limit)
    ).all()
    return sorted(
        (
            Checkpoint(r.tree_size, bytes(r.root), r.registry_key_id, bytes(r.signature))
            for r in rows
        ),
        key=lambda checkpoint: checkpoint.tree_size,
    )


@dataclass(frozen=True)
class RetirementDetail:
    retirement: RetirementView
    effect_index: int
    reference: str | None
    recorded_at_us: int


_RETIREMENT_COLUMNS = (
    t.retirements.c.position,
    t.retirements.c.holder_id,
    t.retirements.c.quantity_kg,
    t.retirements.c.blocks,
    t.retirements.c.beneficiary_name,
    t.retirements.c.beneficiary_party_id,
    t.retirements.c.purpose,
    t.retirements.c.reporting_year,
    t.retirements.c.memo,
    t.retirements.c.location,
    t.retirements.c.required_label,
)
_VIEW_COLUMNS = len(_RETIREMENT_COLUMNS)


def _detail(row: sa.Row[tuple[object, ...]]) -> RetirementDetail:
    at = _VIEW_COLUMNS  # the effect index, reference and time follow the view's columns
    view = replace(RetirementView(*row[:at]), effect_index=int(row[at]))
    return RetirementDetail(view, int(row[at]), row[at + 1], int(row[at + 2]))


def _retirement_query() -> sa.Select[tuple[object, ...]]:
    r = t.retirements.c
    return sa.select(*_RETIREMENT_COLUMNS, r.effect_index, r.reference, r.recorded_at_us)


def retirement(
    connection: sa.Connection, position: int, effect_index: int
) -> RetirementDetail | None:
    r = t.retirements.c
    row = connection.execute(
        _retirement_query().where(r.position == position, r.effect_index == effect_index)
    ).first()
    return _detail(row) if row else None


def retirements_page(
    connection: sa.Connection,
    limit: int,
    before: int | None = None,
    holder_id: str | None = None,
    beneficiary_party_id: str | None = None,
) -> list[RetirementDetail]:
    """Newest first, keyset by position: the page after `before` (exclusive)."""
    r = t.retirements.c
    query = _retirement_query()
    if before is not None:
        query = query.where(r.position < before)
    if holder_id is not None:
        query = query.where(r.holder_id == holder_id)
    if beneficiary_party_id is not None:
        query = query.where(r.beneficiary_party_id == beneficiary_party_id)
    rows = connection.execute(
        query.order_by(r.position.desc(), r.effect_index.desc()).limit(_bounded(limit))
    ).all()
    return [_detail(row) for row in rows]


def retirements_ascending(
    connection: sa.Connection, after: tuple[int, int], limit: int
) -> list[RetirementDetail]:
    """Oldest first after (position, effect index): the download's order, stable between pages."""
    r = t.retirements.c
    rows = connection.execute(
        _retirement_query()
        .where(
            sa.tuple_(r.position, r.effect_index)
            > sa.tuple_(*(sa.literal(value) for value in after))
        )
        .order_by(r.position, r.effect_index)
        .limit(_bounded(limit, DOWNLOAD_ROWS_MAX))
    ).all()
    return [_detail(row) for row in rows]


def batches_page(
    connection: sa.Connection,
    after: str,
    limit: int,
    class_id: str | None = None,
    project_id: str | None = None,
) -> list[BatchView]:
    s, i = t.batch_supply.c, t.batches.c
    query = (
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
        )
        .select_from(t.batch_supply.outerjoin(t.batches, s.batch_id == i.batch_id))
        .where(s.batch_id > after)
    )
    if class_id is not None:
        query = query.where(s.class_id == class_id)
        if project_id is not None:
            query = query.where(s.project_id == project_id)
    rows = connection.execute(query.order_by(s.batch_id).limit(_bounded(limit))).all()
    return [BatchView(*row) for row in rows]


def retirements_for_beneficiary_name(
    connection: sa.Connection, prefix: str, limit: int
) -> list[RetirementDetail]:
    """Retirements whose beneficiary's name starts with `prefix`: a range of the name index."""
    r = t.retirements.c
    rows = connection.execute(
        _retirement_query()
        .where(r.beneficiary_name >= prefix, r.beneficiary_name < prefix + "\U0010ffff")
        .order_by(r.beneficiary_name)
        .limit(_bounded(limit))
    ).all()
    return [_detail(row) for row in rows]


BATCH_COLUMNS = (
    "batch_id",
    "class_id",
    "project_id",
    "vintage",
    "issuer_id",
    "serial_start",
    "serial_end",
    *p.SUPPLY_COLUMNS,
    "origin_registry_id",  # where the credits already exist, empty for credits first issued here
    "origin_project_id",
    "origin_serial_start",
    "origin_serial_end",
)


def batch_rows(connection: sa.Connection, after: str, limit: int) -> list[tuple[object, ...]]:
    """The batches download: supply joined with the issuance, in batch id order."""
    s, i = t.batch_supply.c, t.batches.c
    rows = connection.execute(
        sa.select(
            s.batch_id,
            s.class_id,
            s.project_id,
            s.vintage,
            i.issuer_id,
            i.serial_start,
            i.serial_end,
            *(s[name] for name in p.SUPPLY_COLUMNS),
            i.origin_registry_id,
            i.origin_project_id,
            i.origin_serial_start,
            i.origin_serial_end,
        )
        .select_from(t.batch_supply.outerjoin(t.batches, s.batch_id == i.batch_id))
        .where(s.batch_id > after)
        .order_by(s.batch_id)
        .limit(_bounded(limit, DOWNLOAD_ROWS_MAX))
    ).all()
    return [tuple(row) for row in rows]


BALANCE_COLUMNS = ("party_id", "class_id", "vintage", "tradable_kg", "pending_kg", "retired_kg")


def balance_rows(
    connection: sa.Connection, after: tuple[str, str, str], limit: int
) -> list[tuple[object, ...]]:
    """The balances download, keyset by (party, class, vintage): the table's primary key."""
    b = t.balances.c
    rows = connection.execute(
        sa.select(*(b[name] for name in BALANCE_COLUMNS))
        .where(
            sa.tuple_(b.party_id, b.class_id, b.vintage)
            > sa.tuple_(*(sa.literal(value) for value in after))
        )
        .order_by(b.party_id, b.class_id, b.vintage)
        .limit(_bounded(limit, DOWNLOAD_ROWS_MAX))
    ).all()
    return [tuple(row) for row in rows]
