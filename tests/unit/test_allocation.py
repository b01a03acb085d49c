from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from registry.domain.allocation import largest_remainder


def test_worked_example() -> None:
    # 100 kg over weights 1, 1, 1: exact shares 33 1/3 each; floors 33+33+33 = 99; the one
    # kilogram left goes to the largest fractional part, all equal, so to the lowest id.
    assert largest_remainder(100, [("B", 1), ("A", 1), ("C", 1)]) == {"A": 34, "B": 33, "C": 33}
    # 10 kg over 2 and 3: exact 4 and 6, nothing left over.
    assert largest_remainder(10, [("x", 2), ("y", 3)]) == {"x": 4, "y": 6}
    # 7 kg over 5, 3, 2 (total 10): exact 3.5, 2.1, 1.4 -> floors 3, 2, 1 = 6; the kilogram
    # left goes to the largest fraction, 0.5 (x).
    assert largest_remainder(7, [("x", 5), ("y", 3), ("z", 2)]) == {"x": 4, "y": 2, "z": 1}


pools = st.integers(0, 10**9)
weights = st.lists(
    st.tuples(st.text("ABCDEFGH", min_size=1, max_size=4), st.integers(0, 10**6)),
    min_size=1,
    max_size=80,
    unique_by=lambda item: item[0],
).filter(lambda items: sum(w for _k, w in items) > 0)


@given(pools, weights)
def test_pool_is_conserved_exactly_and_fairly(pool_kg: int, items: list[tuple[str, int]]) -> None:
    shares = largest_remainder(pool_kg, items)
    assert sum(shares.values()) == pool_kg
    total = sum(w for _k, w in items)
    for key, weight in items:
        exact = Fraction(pool_kg * weight, total)
        assert (
            exact - 1 < shares[key] < exact + 1
        )  # never more than one kilogram from the exact share
    assert (
        largest_remainder(pool_kg, list(reversed(items))) == shares
    )  # order of input does not matter
