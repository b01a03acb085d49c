"""The pure parts of origins, labels and places: the origin index against a plain list,
at the scale of a long history; label spans through splits and withdrawals; place codes."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.domain import label_spans
from registry.domain.checks import CheckCode, InvariantViolation, Rejection
from registry.domain.labels import decision_day
from registry.domain.origin_index import CHUNK_INTERVALS, IssuedOrigin, OriginIndex
from registry.domain.places import validate_location

RANGES = st.lists(
    st.tuples(st.integers(1, 5_000), st.integers(0, 300)).map(lambda p: (p[0], p[0] + p[1])),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ranges=RANGES)
def test_the_origin_index_refuses_exactly_the_overlapping_ranges(
    ranges: list[tuple[int, int]],
) -> None:
    index, issued = OriginIndex(), []
    for number, (start, end) in enumerate(ranges):
        clash = next((r for r in issued if r[0] <= end and start <= r[1]), None)
        found = index.overlapping(start, end)
        assert (found is None) == (clash is None)
        if found is not None:
            assert found.serial_start <= end and start <= found.serial_end
            with pytest.raises(InvariantViolation):
                index.inserted(IssuedOrigin(start, end, f"B{number}"))
        else:
            index = index.inserted(IssuedOrigin(start, end, f"B{number}"))
            issued.append((start, end))
    assert len(index) == len(issued)


def test_the_origin_index_stays_shallow_at_sixty_thousand_batches() -> None:
    """60,000 issuances of one origin project, in the order a registry would see them (each
    after the last) and interleaved: an insertion copies one chunk and the chunk heads."""
    started = time.perf_counter()
    index = OriginIndex()
    for number in range(60_000):
        start = (number % 2) * 40_000_000 + (number // 2) * 1_000 + 1
        index = index.inserted(IssuedOrigin(start, start + 999, f"B{number}"))
    elapsed_s = time.perf_counter() - started
    assert len(index) == 60_000
    assert all(len(chunk) <= 2 * CHUNK_INTERVALS for chunk in index.chunks)
    assert len(index.chunks) <= 60_000 // CHUNK_INTERVALS
    assert index.overlapping(500, 1_500) == IssuedOrigin(1_001, 2_000, "B2")
    assert index.overlapping(69_999_001, 80_000_000) == IssuedOrigin(
        69_999_001, 70_000_000, "B59999"
    )
    assert index.overlapping(30_000_001, 40_000_000) is None  # between the two runs
    assert elapsed_s < 20, f"{elapsed_s:.1f} s for 60,000 insertions"  # quadratic takes minutes


DAY = date(2025, 1, 1)


def span(label: str, start: int, end: int, until: date = date(2099, 1, 1)) -> label_spans.LabelSpan:
    return label_spans.LabelSpan(label, start, end, date(2020, 1, 1), until)


def test_label_spans_split_by_withdrawal_and_clip_to_blocks() -> None:
    spans = label_spans.added((), span("ICVCM-CCP", 1, 1_000))
    spans = label_spans.added(spans, span("CORSIA", 1, 1_000, until=date(2024, 12, 31)))
    with pytest.raises(InvariantViolation):
        label_spans.added(spans, span("CORSIA", 900, 1_100))
    spans = label_spans.withdrawn(spans, "ICVCM-CCP", 400, 599)
    assert [(s.label, s.serial_start, s.serial_end) for s in spans] == [
        ("CORSIA", 1, 1_000),
        ("ICVCM-CCP", 1, 399),
        ("ICVCM-CCP", 600, 1_000),
    ]
    on_block = label_spans.carried(spans, 350, 650, DAY)  # CORSIA expired on DAY
    assert [(s.label, s.serial_start, s.serial_end) for s in on_block] == [
        ("ICVCM-CCP", 350, 399),
        ("ICVCM-CCP", 600, 650),
    ]
    ccp = list(label_spans.of_label(spans, "ICVCM-CCP"))
    assert label_spans.first_uncovered(ccp, 350, 650) == 400
    assert label_spans.first_uncovered(ccp, 600, 1_000) is None
    with pytest.raises(InvariantViolation):
        label_spans.withdrawn(spans, "ICVCM-CCP", 300, 500)  # 400-599 lack it already
    assert label_spans.withdrawn(spans, "ICVCM-CCP", 300, 500, strict=False)[1].serial_end == 299


def test_the_decision_day_is_the_day_in_japan() -> None:
    midnight_in_tokyo_us = 1_735_657_200_000_000  # 2024-12-31T15:00:00Z = 2025-01-01 00:00 JST
    assert decision_day(midnight_in_tokyo_us) == date(2025, 1, 1)
    assert decision_day(midnight_in_tokyo_us - 1) == date(2024, 12, 31)


@pytest.mark.parametrize("place", ["132071", "034835", "JP-13", "JP-01", "JP-47", "US-CA"])
def test_places_that_are_accepted(place: str) -> None:
    validate_location(place)


@pytest.mark.parametrize(
    "place", ["132070", "13207", "JP-48", "JP-00", "JP-1", "jp-13", "Akishima", "", "JP-13 "]
)
def test_places_that_are_refused(place: str) -> None:
    with pytest.raises(Rejection) as refused:
        validate_location(place)
    assert refused.value.code is CheckCode.INVALID_LOCATION
