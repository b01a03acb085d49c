from hypothesis import given
from hypothesis import strategies as st

from registry.domain.serials import add_ranges, subtract_ranges, take_lowest, total_kg


def test_partial_take_splits_a_block() -> None:
    taken, remaining = take_lowest(((1, 100_000),), 30_000)
    assert taken == ((1, 30_000),)
    assert remaining == ((30_001, 100_000),)


def test_adjacent_blocks_merge() -> None:
    assert add_ranges(((1, 10), (21, 30)), ((11, 20),)) == ((1, 30),)
    assert add_ranges(((5, 9),), ((1, 3),)) == ((1, 3), (5, 9))


def test_subtract_from_the_middle() -> None:
    assert subtract_ranges(((1, 100),), ((40, 60),)) == ((1, 39), (61, 100))
    assert subtract_ranges(((1, 10), (20, 30)), ((20, 30),)) == ((1, 10),)


@st.composite
def range_sets(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    cuts = sorted(draw(st.sets(st.integers(1, 10_000), min_size=2, max_size=40)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    return tuple((start, end) for start, end in pairs)


@given(range_sets(), st.integers(1, 5_000))
def test_take_then_add_back_is_identity(
    ranges: tuple[tuple[int, int], ...], quantity_kg: int
) -> None:
    normal = add_ranges((), ranges)  # merge neighbours first
    quantity_kg = min(quantity_kg, total_kg(normal))
    if quantity_kg == 0:
        return
    taken, remaining = take_lowest(normal, quantity_kg)
    assert total_kg(taken) == quantity_kg
    assert total_kg(taken) + total_kg(remaining) == total_kg(normal)
    assert subtract_ranges(normal, taken) == remaining
    assert add_ranges(remaining, taken) == normal
