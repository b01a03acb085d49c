"""Read queries of labels, buffers and reversals. A batch's labels are its label events
replayed in log order with the ledger's own functions (registry/domain/label_spans.py),
so the read side shows exactly the spans the rules decide with."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from projections import attribute_tables as a
from projections import tables as t
from registry.domain import label_spans
from registry.domain.records import buffer_holder

# Label events read per batch: far above what the rules let a batch carry at once
# (labels.LABEL_SPANS_PER_BATCH_MAX spans), so only an endless add-and-withdraw cycle
# could reach it; beyond it the oldest events are shown.
LABEL_EVENTS_MAX = 10_000
REVERSALS_MAX = 500


@dataclass(frozen=True)
class LabelView:
    batch_id: str
    label: str
    serial_start: int
    serial_end: int
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


def _spans(connection: sa.Connection, batch_id: str) -> label_spans.Spans:
    """Replayed leniently: a class's label events all come from its one authority, so they
    reach the read models in log order (one partition), yet a page must never fail on a
    history the rules would not have let happen."""
    e = a.label_events.c
    rows = connection.execute(
        sa.select(e.action, e.label, e.serial_start, e.serial_end, e.valid_from, e.valid_until)
        .where(e.batch_id == batch_id)
        .order_by(e.position, e.effect_index)
        .limit(LABEL_EVENTS_MAX)
    ).all()
    spans: label_spans.Spans = ()
    for row in rows:
        if row.action == "added":
            span = label_spans.LabelSpan(
                row.label, row.serial_start, row.serial_end, row.valid_from, row.valid_until
            )
            if label_spans.overlapping(spans, span.label, span.serial_start, span.serial_end):
                continue
            spans = label_spans.added(spans, span)
        else:
            spans = label_spans.withdrawn(
                spans, row.label, row.serial_start, row.serial_end, strict=False
            )
    return spans


def labels(
    connection: sa.Connection,
    batch_id: str,
    serial_start: int | None = None,
    serial_end: int | None = None,
) -> list[LabelView]:
    """The labels on a batch's serials, whatever their validity, by label and serial;
    with a serial range, only those on it, clipped to it."""
    spans = _spans(connection, batch_id)
    if serial_start is not None or serial_end is not None:
        spans = tuple(label_spans.carried(spans, serial_start or 1, serial_end or 2**63 - 1, None))
    return [
        LabelView(batch_id, s.label, s.serial_start, s.serial_end, s.valid_from, s.valid_until)
        for s in spans
    ]


def labels_of_blocks(
    connection: sa.Connection, blocks: Sequence[tuple[str, int, int]]
) -> list[list[LabelView]]:
    """For each (batch, start, end) block, the labels on it: one replay per batch."""
    by_batch = {batch_id: _spans(connection, batch_id) for batch_id in {b[0] for b in blocks}}
    return [
        [
            LabelView(batch_id, s.label, s.serial_start, s.serial_end, s.valid_from, s.valid_until)
            for s in label_spans.carried(by_batch[batch_id], start, end, None)
        ]
        for batch_id, start, end in blocks
    ]


def retirement_labels(
    connection: sa.Connection, position: int, effect_index: int
) -> list[LabelView]:
    """The labels a retirement's serials carried, valid on the day it was decided."""
    r = a.retirement_labels.c
    rows = connection.execute(
        sa.select(r.batch_id, r.label, r.serial_start, r.serial_end, r.valid_from, r.valid_until)
        .where(r.position == position, r.effect_index == effect_index)
        .order_by(r.batch_id, r.serial_start, r.label)
    ).all()
    return [LabelView(*row) for row in rows]


def label_names(views: Iterable[LabelView]) -> list[str]:
    return sorted({view.label for view in views})


@dataclass(frozen=True)
class BufferView:
    """A project's credits in its class's buffer account."""

    withheld_kg: int = 0
    reversed_kg: int = 0  # cancelled by reversals
    shortfall_kg: int = 0  # reversed beyond what the buffer held

    @property
    def held_kg(self) -> int:
        return self.withheld_kg - self.reversed_kg


def project_buffer(connection: sa.Connection, class_id: str, project_id: str) -> BufferView:
    b = a.project_buffers.c
    row = connection.execute(
        sa.select(b.withheld_kg, b.reversed_kg, b.shortfall_kg).where(
            b.class_id == class_id, b.project_id == project_id
        )
    ).first()
    return BufferView(*(int(value) for value in row)) if row else BufferView()


@dataclass(frozen=True)
class ReversalView:
    position: int
    project_id: str
    quantity_kg: int
    cancelled_kg: int
    shortfall_kg: int
    reason: str
    reported_by: str
    recorded_at_us: int


def reversals(
    connection: sa.Connection, project_id: str, limit: int = REVERSALS_MAX
) -> list[ReversalView]:
    """A project's reversals, newest first."""
    r = a.reversals.c
    rows = connection.execute(
        sa.select(
            r.position,
            r.project_id,
            r.quantity_kg,
            r.cancelled_kg,
            r.shortfall_kg,
            r.reason,
            r.reported_by,
            r.recorded_at_us,
        )
        .where(r.project_id == project_id)
        .order_by(r.position.desc(), r.effect_index.desc())
        .limit(min(limit, REVERSALS_MAX))
    ).all()
    return [ReversalView(*row) for row in rows]


def buffer_held_kg(connection: sa.Connection, class_id: str, batch_id: str) -> int:
    """What the class's buffer account holds of one batch (its owner index)."""
    s = t.serial_ranges.c
    held = connection.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(s.serial_end - s.serial_start + 1), 0)).where(
            s.owner_id == buffer_holder(class_id), s.status == "tradable", s.batch_id == batch_id
        )
    )
    return int(held or 0)
