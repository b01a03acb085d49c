"""The rows origins, labels, buffers, reversals and retirement locations change (collected
by apply.py's dispatch table, written by write.py). Credits withheld into a buffer move
like a transfer; a reversal cancels from the buffer like a cancellation."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from projections.pending import PendingRows, batch_class_and_vintage
from registry.domain import events as ev

if TYPE_CHECKING:
    from projections.apply import Place


def origin_columns(origin: ev.Origin | None) -> dict[str, Any]:
    """The `batches` columns of an issuance's origin (all NULL without one)."""
    return {
        "origin_registry_id": origin.registry_id if origin else None,
        "origin_project_id": origin.project_id if origin else None,
        "origin_serial_start": origin.serial_start if origin else None,
        "origin_serial_end": origin.serial_end if origin else None,
    }


def retirement_columns(event: ev.CreditsRetired) -> dict[str, Any]:
    return {"location": event.location, "required_label": event.required_label}


def retirement_labels(rows: PendingRows, event: ev.CreditsRetired, at: Place) -> None:
    if not event.labels:
        return  # an empty list of rows would insert one row of defaults
    rows.inserts["retirement_labels"].extend(
        {
            "position": at.position,
            "effect_index": at.index,
            "batch_id": carried.batch_id,
            "serial_start": carried.serial_start,
            "label": carried.label,
            "serial_end": carried.serial_end,
            "valid_from": carried.valid_from,
            "valid_until": carried.valid_until,
        }
        for carried in event.labels
    )


def _buffered(rows: PendingRows, event: ev.CreditsBuffered, at: Place) -> None:
    rows.move(event.recipient_id, event.buffer_id, event.blocks, at.stamp)
    class_id, project_id, _vintage = batch_class_and_vintage(event.batch_id)
    rows.buffers[(class_id, project_id)].withheld_kg += event.quantity_kg


def _reversal(rows: PendingRows, event: ev.ReversalReported, at: Place) -> None:
    for block in event.blocks:
        quantity_kg = block.quantity_kg
        rows.balance(event.buffer_id, block, tradable=-quantity_kg)
        rows.supply_delta(block.batch_id, tradable=-quantity_kg, cancelled=quantity_kg)
        rows.place(block, event.buffer_id, "cancelled", at.stamp)
    buffer = rows.buffers[(event.class_id, event.project_id)]
    buffer.reversed_kg += event.cancelled_kg
    buffer.shortfall_kg += event.shortfall_kg
    rows.inserts["reversals"].append(
        {
            "position": at.position,
            "effect_index": at.index,
            "class_id": event.class_id,
            "project_id": event.project_id,
            "quantity_kg": event.quantity_kg,
            "cancelled_kg": event.cancelled_kg,
            "shortfall_kg": event.shortfall_kg,
            "reason": event.reason,
            "reported_by": event.reported_by,
            "recorded_at_us": at.recorded_at_us,
        }
    )


def _label_row(event: ev.LabelAdded | ev.LabelWithdrawn, at: Place) -> dict[str, Any]:
    added = isinstance(event, ev.LabelAdded)
    return {
        "batch_id": event.batch_id,
        "position": at.position,
        "effect_index": at.index,
        "action": "added" if added else "withdrawn",
        "label": event.label,
        "serial_start": event.serial_start,
        "serial_end": event.serial_end,
        "authority_id": event.authority_id,
    }


def _label_added(rows: PendingRows, event: ev.LabelAdded, at: Place) -> None:
    validity = {"valid_from": event.valid_from, "valid_until": event.valid_until, "reason": None}
    rows.inserts["label_events"].append(_label_row(event, at) | validity)


def _label_withdrawn(rows: PendingRows, event: ev.LabelWithdrawn, at: Place) -> None:
    reason = {"valid_from": None, "valid_until": None, "reason": event.reason}
    rows.inserts["label_events"].append(_label_row(event, at) | reason)


ATTRIBUTE_COLLECTORS: dict[type[Any], Callable[[PendingRows, Any, Place], None]] = {
    ev.CreditsBuffered: _buffered,
    ev.ReversalReported: _reversal,
    ev.LabelAdded: _label_added,
    ev.LabelWithdrawn: _label_withdrawn,
}
