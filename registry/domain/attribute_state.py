"""How the ledger applies origins, labels, buffers and reversals: the state the rules in
origin.py, labels.py and buffers.py read. Every change goes through the ledger's journal
(`_put`, `_credit`, `_debit`, `_move_out`), so a lost race undoes these exactly too."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from registry.domain import events as ev
from registry.domain import label_spans
from registry.domain.label_spans import LabelSpan
from registry.domain.origin_index import IssuedOrigin, OriginIndex
from registry.domain.records import ProjectBuffer
from registry.domain.shared_values import intern, shared_date

if TYPE_CHECKING:
    from registry.domain.ledger import Ledger


def shared_origin(origin: ev.Origin | None) -> ev.Origin | None:
    """The origin with its ids kept once (shared_values.py), as a batch keeps it."""
    if origin is None:
        return None
    return replace(
        origin, registry_id=intern(origin.registry_id), project_id=intern(origin.project_id)
    )


def record_origin(ledger: Ledger, event: ev.CreditsIssued, batch_id: str) -> None:
    """`batch_id`: the event's, as the ledger keeps it."""
    origin = event.origin
    if origin is None:
        return
    key = (intern(origin.registry_id), intern(origin.project_id))
    index = ledger.origins.get(key, OriginIndex())
    issued = IssuedOrigin(origin.serial_start, origin.serial_end, batch_id)
    ledger._put(ledger.origins, key, index.inserted(issued))


def apply_buffered(ledger: Ledger, event: ev.CreditsBuffered, position: int) -> None:
    ledger._debit(event.recipient_id, event.blocks)
    ledger._credit(event.buffer_id, event.blocks)
    project_id = ledger.batches[event.batch_id].project_id
    buffer = ledger.buffers.get(project_id, ProjectBuffer())
    withheld = ProjectBuffer(
        buffer.withheld_kg + event.quantity_kg, buffer.reversed_kg, buffer.shortfall_kg
    )
    ledger._put(ledger.buffers, project_id, withheld)


def apply_label_added(ledger: Ledger, event: ev.LabelAdded, position: int) -> None:
    span = LabelSpan(
        intern(event.label),
        event.serial_start,
        event.serial_end,
        shared_date(event.valid_from),
        shared_date(event.valid_until),
    )
    spans = ledger.labels.get(event.batch_id, ())
    ledger._put(ledger.labels, intern(event.batch_id), label_spans.added(spans, span))


def apply_label_withdrawn(ledger: Ledger, event: ev.LabelWithdrawn, position: int) -> None:
    spans = label_spans.withdrawn(
        ledger.labels.get(event.batch_id, ()), event.label, event.serial_start, event.serial_end
    )
    if spans:
        ledger._put(ledger.labels, event.batch_id, spans)
    else:
        ledger._delete(ledger.labels, event.batch_id)


def apply_reversal(ledger: Ledger, event: ev.ReversalReported, position: int) -> None:
    ledger._debit(event.buffer_id, event.blocks)
    ledger._move_out(ledger.cancelled, event.blocks, "cancelled_kg")
    buffer = ledger.buffers.get(event.project_id, ProjectBuffer())
    reversed_ = ProjectBuffer(
        buffer.withheld_kg,
        buffer.reversed_kg + event.cancelled_kg,
        buffer.shortfall_kg + event.shortfall_kg,
    )
    ledger._put(ledger.buffers, event.project_id, reversed_)
