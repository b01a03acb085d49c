"""Labels on the serials of one batch: spans of serial numbers, each with its label and the
days it is valid. Labels belong to serial numbers, not to holdings, so however credits are
split, moved, pooled or delivered, each kilogram keeps the labels of its serial.

Spans of one label never overlap (an authority adds a label once per serial and withdraws
it before adding it again with another validity). A batch's spans are an immutable tuple
sorted by (label, serial_start): the ledger's journal restores it exactly, and the read
side replays the same functions over the label events to show the same spans."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from registry.domain.checks import InvariantViolation

Spans = tuple["LabelSpan", ...]


@dataclass(frozen=True, slots=True, order=True)
class LabelSpan:
    label: str
    serial_start: int
    serial_end: int
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


def of_label(spans: Spans, label: str) -> Iterator[LabelSpan]:
    return (span for span in spans if span.label == label)


def overlapping(spans: Spans, label: str, serial_start: int, serial_end: int) -> LabelSpan | None:
    """A span of `label` sharing a serial with serial_start..serial_end, or None."""
    for span in of_label(spans, label):
        if span.serial_start <= serial_end and serial_start <= span.serial_end:
            return span
    return None


def first_uncovered(spans: Iterable[LabelSpan], serial_start: int, serial_end: int) -> int | None:
    """The first serial of the range that none of `spans` (one label, disjoint) covers."""
    expected = serial_start
    for span in sorted(spans):
        if span.serial_end < expected or span.serial_start > serial_end:
            continue
        if span.serial_start > expected:
            return expected
        expected = span.serial_end + 1
        if expected > serial_end:
            return None
    return expected if expected <= serial_end else None


def added(spans: Spans, span: LabelSpan) -> Spans:
    if overlapping(spans, span.label, span.serial_start, span.serial_end) is not None:
        raise InvariantViolation(f"label {span.label} added twice on a serial of {span}")
    return tuple(sorted((*spans, span)))


def withdrawn(
    spans: Spans, label: str, serial_start: int, serial_end: int, strict: bool = True
) -> Spans:
    """The spans with `label` taken off serial_start..serial_end, which it must cover
    (unless not `strict`: then off whichever of those serials carry it)."""
    if strict and first_uncovered(of_label(spans, label), serial_start, serial_end) is not None:
        raise InvariantViolation(f"withdrawing {label} from serials that lack it")
    kept: list[LabelSpan] = []
    for span in spans:
        if span.label != label or span.serial_end < serial_start or span.serial_start > serial_end:
            kept.append(span)
            continue
        if span.serial_start < serial_start:
            kept.append(_clipped(span, span.serial_start, serial_start - 1))
        if span.serial_end > serial_end:
            kept.append(_clipped(span, serial_end + 1, span.serial_end))
    return tuple(sorted(kept))


def carried(spans: Spans, serial_start: int, serial_end: int, day: date | None) -> list[LabelSpan]:
    """The spans on serial_start..serial_end, clipped to it; with `day`, only those valid
    on that day."""
    return [
        _clipped(span, max(span.serial_start, serial_start), min(span.serial_end, serial_end))
        for span in spans
        if span.serial_start <= serial_end
        and serial_start <= span.serial_end
        and (day is None or span.valid_on(day))
    ]


def _clipped(span: LabelSpan, serial_start: int, serial_end: int) -> LabelSpan:
    return LabelSpan(span.label, serial_start, serial_end, span.valid_from, span.valid_until)
