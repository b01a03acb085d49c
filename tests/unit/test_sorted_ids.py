"""The structures that keep a transfer's cost flat, against simple models: a party's batch
ids (chunked) against a sorted list, and serial-range updates by bisection against a plain
set of serials. Small chunks in the model test make splits and empty chunks frequent."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.domain import sorted_ids
from registry.domain.checks import InvariantViolation
from registry.domain.serials import add_range, lowest, subtract_range, total_kg
from registry.domain.sorted_ids import EMPTY_IDS, SortedIds

# Ids as batch ids look, whose string order is not numeric: "...-1000" sorts before "...-101".
IDS = st.integers(1, 400).map(lambda n: f"JVER-P-20110401-20120331-{n:03d}")
OPERATIONS = st.lists(st.tuples(st.booleans(), IDS), max_size=300)


def _check(ids: SortedIds, model: list[str]) -> None:
    assert list(ids) == model
    assert len(ids) == len(model) and bool(ids) == bool(model)
    if model:
        assert ids[0] == model[0] and ids[-1] == model[-1]
        assert ids[len(model) // 2] == model[len(model) // 2]
    assert ids == SortedIds.of(reversed(model))


@settings(max_examples=300)
@given(OPERATIONS)
def test_sorted_ids_behave_as_a_sorted_list(operations: list[tuple[bool, str]]) -> None:
    original = sorted_ids.CHUNK_IDS_MAX
    sorted_ids.CHUNK_IDS_MAX = 4
    try:
        ids, model = EMPTY_IDS, []
        for insert, item in operations:
            before = ids
            if insert == (item in model):  # inserting a present id, removing an absent one
                with pytest.raises(InvariantViolation):
                    ids.inserted(item) if insert else ids.removed(item)
                continue
            ids = ids.inserted(item) if insert else ids.removed(item)
            model = sorted({*model, item}) if insert else [m for m in model if m != item]
            assert (item in ids) == insert
            _check(ids, model)
            assert before != ids  # the old value is untouched: the journal may restore it
    finally:
        sorted_ids.CHUNK_IDS_MAX = original


def test_a_long_list_changes_one_chunk() -> None:
    ids = SortedIds.of(f"B{n:06d}" for n in range(10_000))
    grown = ids.inserted("B005000x")
    untouched = [a is b for a, b in zip(ids._chunks, grown._chunks, strict=False)]
    assert untouched.count(False) == 1 and len(grown) == 10_001


RANGE = st.tuples(st.integers(1, 300), st.integers(0, 20)).map(lambda p: (p[0], p[0] + p[1]))


@given(st.lists(st.tuples(st.booleans(), RANGE), max_size=80), st.integers(1, 2_000))
def test_range_updates_behave_as_a_set_of_serials(
    operations: list[tuple[bool, tuple[int, int]]], quantity_kg: int
) -> None:
    ranges: tuple[tuple[int, int], ...] = ()
    serials: set[int] = set()
    for adding, (start, end) in operations:
        block = set(range(start, end + 1))
        if adding and not block & serials:
            ranges = add_range(ranges, start, end)
            serials |= block
        elif not adding and any(block <= set(range(s, e + 1)) for s, e in ranges):
            ranges = subtract_range(ranges, start, end)
            serials -= block
        else:
            with pytest.raises(InvariantViolation):
                add_range(ranges, start, end) if adding else subtract_range(ranges, start, end)
        assert {s for start_, end_ in ranges for s in range(start_, end_ + 1)} == serials
        # Sorted, disjoint and never adjacent: each range starts past its neighbour's end + 1.
        assert all(a[1] + 1 < b[0] for a, b in pairwise(ranges))
    if serials and quantity_kg <= len(serials):
        taken = lowest(ranges, quantity_kg)
        assert total_kg(taken) == quantity_kg
        assert {s for a, b in taken for s in range(a, b + 1)} == set(sorted(serials)[:quantity_kg])
