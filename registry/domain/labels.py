"""Labels and eligibility: the label authority a credit class names (ICVCM for CCP, the
J-Credit secretariat, the Tokyo Metropolitan Government for its cap-and-trade) adds labels
on serial ranges of a batch, valid for a period of days, and withdraws them. A retirement
may require a label for its purpose: every retired kilogram must carry it, valid on the
day the retirement is decided, or the retirement is refused (LABEL_REQUIRED).

Only the class's label authority adds and withdraws its labels: eligibility is that
authority's word, not the operator's. The operator names the authority when it registers
the class; a class that names none carries no labels.

Days are days in Japan (UTC+9, no daylight saving): the day of the registry's recorded
time, which the audit re-decides with, so every replica and the audit agree on validity."""

from __future__ import annotations

import re
from datetime import date

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain import label_spans
from registry.domain.checks import CheckCode, Rejection
from registry.domain.ledger import Ledger
from registry.domain.parties import Party, validate_name
from registry.domain.records import Batch
from registry.domain.serials import SerialBlock

_LABEL = re.compile(r"^[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*$")
LABEL_LENGTH_MIN, LABEL_LENGTH_MAX = 2, 40
# Every retirement from a batch looks at its spans: a bound keeps that cheap, far above
# what any authority's labelling produces (a few labels, a few ranges each).
LABEL_SPANS_PER_BATCH_MAX = 1_000
DAY_OFFSET_US = 9 * 3_600 * 1_000_000  # Japan Standard Time, UTC+9
DAY_US = 86_400 * 1_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def decision_day(now_us: int) -> date:
    """The day in Japan of a time in microseconds since the epoch (whole numbers only)."""
    return date.fromordinal(_EPOCH_ORDINAL + (now_us + DAY_OFFSET_US) // DAY_US)


def validate_label(label: str) -> None:
    if not (_LABEL.match(label) and LABEL_LENGTH_MIN <= len(label) <= LABEL_LENGTH_MAX):
        raise Rejection(CheckCode.INVALID_LABEL, repr(label[:60]))


def _labelled_batch(ledger: Ledger, actor: Party, batch_id: str, start: int, end: int) -> Batch:
    batch = ledger.batches.get(batch_id)
    if batch is None:
        raise Rejection(CheckCode.UNKNOWN_BATCH, repr(batch_id))
    authority_id = ledger.classes[batch.class_id].label_authority_id
    if actor.party_id != authority_id:
        named = f"{authority_id} labels" if authority_id else "names no label authority"
        raise Rejection(
            CheckCode.NOT_THE_LABEL_AUTHORITY, f"{batch.class_id} {named}, not {actor.party_id}"
        )
    if not 1 <= start <= end <= batch.quantity_kg:
        raise Rejection(
            CheckCode.SERIALS_OUTSIDE_BATCH,
            f"{start}-{end} in {batch_id}, whose serials are 1-{batch.quantity_kg}",
        )
    return batch


def add_label(ledger: Ledger, actor: Party, body: cmd.AddLabel) -> list[ev.Event]:
    validate_label(body.label)
    _labelled_batch(ledger, actor, body.batch_id, body.serial_start, body.serial_end)
    if body.valid_from > body.valid_until:
        raise Rejection(CheckCode.INVALID_VALIDITY, f"{body.valid_from} > {body.valid_until}")
    spans = ledger.labels.get(body.batch_id, ())
    clash = label_spans.overlapping(spans, body.label, body.serial_start, body.serial_end)
    if clash is not None:
        raise Rejection(
            CheckCode.LABEL_OVERLAP,
            f"{body.label} is on {body.batch_id} {clash.serial_start}-{clash.serial_end} "
            f"({clash.valid_from} to {clash.valid_until}): withdraw it first",
        )
    if len(spans) >= LABEL_SPANS_PER_BATCH_MAX:
        raise Rejection(CheckCode.TOO_MANY_LABELS, f"{body.batch_id} has {len(spans)}")
    return [
        ev.LabelAdded(
            body.batch_id,
            body.serial_start,
            body.serial_end,
            body.label,
            body.valid_from,
            body.valid_until,
            actor.party_id,
        )
    ]


def withdraw_label(ledger: Ledger, actor: Party, body: cmd.WithdrawLabel) -> list[ev.Event]:
    validate_label(body.label)
    _labelled_batch(ledger, actor, body.batch_id, body.serial_start, body.serial_end)
    validate_name("reason", body.reason)
    spans = ledger.labels.get(body.batch_id, ())
    missing = label_spans.first_uncovered(
        label_spans.of_label(spans, body.label), body.serial_start, body.serial_end
    )
    if missing is not None:
        raise Rejection(
            CheckCode.LABEL_NOT_PRESENT, f"{body.batch_id} serial {missing} lacks {body.label}"
        )
    # Withdrawing from the middle of a span splits it in two: the same bound as adding.
    after = label_spans.withdrawn(spans, body.label, body.serial_start, body.serial_end)
    if len(after) > LABEL_SPANS_PER_BATCH_MAX:
        raise Rejection(CheckCode.TOO_MANY_LABELS, f"{body.batch_id} has {len(spans)}")
    return [
        ev.LabelWithdrawn(
            body.batch_id,
            body.serial_start,
            body.serial_end,
            body.label,
            body.reason,
            actor.party_id,
        )
    ]


def carried_labels(
    ledger: Ledger, blocks: tuple[SerialBlock, ...], day: date
) -> tuple[ev.CarriedLabel, ...]:
    """The labels the blocks' serials carry, valid on `day`, clipped to the blocks."""
    return tuple(
        ev.CarriedLabel(
            block.batch_id,
            span.label,
            span.serial_start,
            span.serial_end,
            span.valid_from,
            span.valid_until,
        )
        for block in blocks
        for span in label_spans.carried(
            ledger.labels.get(block.batch_id, ()), block.serial_start, block.serial_end, day
        )
    )


def require_label(
    label: str, blocks: tuple[SerialBlock, ...], carried: tuple[ev.CarriedLabel, ...]
) -> None:
    """Every kilogram of the blocks must carry `label` among the labels valid today."""
    validate_label(label)
    for block in blocks:
        spans = [
            label_spans.LabelSpan(
                c.label, c.serial_start, c.serial_end, c.valid_from, c.valid_until
            )
            for c in carried
            if c.batch_id == block.batch_id and c.label == label
        ]
        missing = label_spans.first_uncovered(spans, block.serial_start, block.serial_end)
        if missing is not None:
            raise Rejection(
                CheckCode.LABEL_REQUIRED,
                f"{block.batch_id} serial {missing} does not carry {label} valid today",
            )
