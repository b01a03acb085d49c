"""The split of a pool is the largest-remainder method and no other: each share is the
floor of its quota or one more, the extra kilograms go to the largest remainders, and
equal remainders go in the order given (the rules give registration order)."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.domain.allocation import largest_remainder


def test_worked_examples() -> None:
    # 100 kg over weights 1, 1, 1: exact shares 33 1/3 each; floors 33+33+33 = 99; the one
    # kilogram left goes to the largest fractional part, all equal, so to the first given.
    assert largest_remainder(100, [("B", 1), ("A", 1), ("C", 1)]) == {"B": 34, "A": 33, "C": 33}
    # Registration order, not string order: "M10" sorts before "M9" as text.
    assert largest_remainder(1_000, [("M9", 100), ("M10", 100), ("M11", 100)]) == {
        "M9": 334,
        "M10": 333,
        "M11": 333,
    }
    # 10 kg over 2 and 3: exact 4 and 6, nothing left over.
    assert largest_remainder(10, [("x", 2), ("y", 3)]) == {"x": 4, "y": 6}
    # 7 kg over 5, 3, 2 (total 10): exact 3.5, 2.1, 1.4 -> floors 3, 2, 1 = 6; the kilogram
    # left goes to the largest fraction, 0.5 (x).
    assert largest_remainder(7, [("x", 5), ("y", 3), ("z", 2)]) == {"x": 4, "y": 2, "z": 1}
    # 100,000 kg over 40,000 + 33,333 + 24,198 = 97,531 kg: quotas 41,012.60, 34,176.83,
    # 24,810.57; floors 99,998; two kilograms to .83 and .60.
    assert largest_remainder(100_000, [("A1", 40_000), ("M1", 33_333), ("C1", 24_198)]) == {
        "A1": 41_013,
        "M1": 34_177,
        "C1": 24_810,
    }


@pytest.mark.parametrize(
    "pool_kg, weights",
    [
        (-1, [("a", 1)]),
        (10, []),
        (10, [("a", 0)]),
        (10, [("a", -1), ("b", 2)]),
        (10, [("a", 1), ("a", 1)]),
    ],
)
def test_what_cannot_be_split_is_refused(pool_kg: int, weights: list[tuple[str, int]]) -> None:
    with pytest.raises(ValueError):
        largest_remainder(pool_kg, weights)


def expected_split(pool_kg: int, items: list[tuple[str, int]]) -> dict[str, int]:
    """Worked out independently, with exact fractions: floors of the quotas, then one
    kilogram each to the largest remainders, equal ones in the order given."""
    total = sum(weight for _key, weight in items)
    quotas = [Fraction(pool_kg * weight, total) for _key, weight in items]
    floors = [quota.numerator // quota.denominator for quota in quotas]
    ranked = sorted(range(len(items)), key=lambda index: (floors[index] - quotas[index], index))
    extra = set(ranked[: pool_kg - sum(floors)])
    return {key: floors[index] + (index in extra) for index, (key, _weight) in enumerate(items)}


pools = st.integers(0, 10**9)
weights = st.lists(
    st.tuples(st.text("ABCDEFGH", min_size=1, max_size=4), st.integers(0, 10**6)),
    min_size=1,
    max_size=80,
    unique_by=lambda item: item[0],
).filter(lambda items: sum(w for _k, w in items) > 0)
# Few distinct weights over a small pool: ties among the remainders are the common case.
tied_weights = st.lists(
    st.tuples(st.text("ABCDEFGH", min_size=1, max_size=4), st.sampled_from((1, 2, 3, 6))),
    min_size=1,
    max_size=30,
    unique_by=lambda item: item[0],
)


@given(pools, weights)
def test_the_split_is_the_largest_remainder_method(
    pool_kg: int, items: list[tuple[str, int]]
) -> None:
    shares = largest_remainder(pool_kg, items)
    assert shares == expected_split(pool_kg, items)
    assert sum(shares.values()) == pool_kg
    total = sum(w for _k, w in items)
    extra = {key for key, weight in items if shares[key] * total > pool_kg * weight}
    for key, weight in items:
        floor = pool_kg * weight // total
        assert shares[key] in (floor, floor + 1)  # the floor of its quota or one more
    # Every meeting that got an extra kilogram has a remainder at least as large as every
    # one that did not.
    remainder = {key: pool_kg * weight % total for key, weight in items}
    if extra and len(extra) < len(items):
        assert min(remainder[key] for key in extra) >= max(
            remainder[key] for key in remainder if key not in extra
        )


@given(st.integers(0, 200), tied_weights)
def test_equal_remainders_go_in_registration_order(
    pool_kg: int, items: list[tuple[str, int]]
) -> None:
    shares = largest_remainder(pool_kg, items)
    assert shares == expected_split(pool_kg, items)
    total = sum(w for _k, w in items)
    position = {key: index for index, (key, _weight) in enumerate(items)}
    remainder = {key: pool_kg * weight % total for key, weight in items}
    extra = {key for key, weight in items if shares[key] * total > pool_kg * weight}
    for got in extra:
        for missed in set(remainder) - extra:
            if remainder[got] == remainder[missed]:
                assert position[got] < position[missed]  # the earlier registration wins
