"""Splitting a pool exactly: integer kilograms, largest remainders, sum conserved.

The order of ties is the order of the weights given: the rules pass a pool's meetings in
registration order (their position in the history), so of two meetings whose exact shares
have the same fractional part, the one registered first gets the extra kilogram. That order
is natural (it is how the meetings arrived), total (no two registrations share a position)
and known to everyone reading the log; comparing ids as strings ("M10" before "M9") is not."""

from __future__ import annotations

from collections.abc import Sequence

RULE = (
    "largest-remainder v2: each meeting gets floor(pool_kg * calculated_kg / total_calculated_kg); "
    "the kilograms left over go one each to the largest fractional parts, equal ones to the "
    "meeting registered first"
)


def largest_remainder(pool_kg: int, weights: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Integer shares of `pool_kg` proportional to the weights; their sum is exactly pool_kg.
    `weights` are in tie order (registration order): among equal remainders, earlier first."""
    if pool_kg < 0 or not weights:
        raise ValueError("a pool of zero or more kilograms needs something to split among")
    total = sum(weight for _key, weight in weights)
    if total <= 0 or any(weight < 0 for _key, weight in weights):
        raise ValueError("weights are non-negative and not all zero")
    if len({key for key, _weight in weights}) != len(weights):
        raise ValueError("each key is weighted once")
    shares = {key: pool_kg * weight // total for key, weight in weights}
    # The fractional part of each share, as an exact integer numerator over `total`; the
    # sort is stable, so equal remainders keep the order of `weights`.
    by_remainder = sorted(weights, key=lambda item: -(pool_kg * item[1] % total))
    left_over = pool_kg - sum(shares.values())
    for key, _weight in by_remainder[:left_over]:
        shares[key] += 1
    if sum(shares.values()) != pool_kg or not 0 <= left_over < len(weights):
        raise ArithmeticError("the split does not add up to the pool")  # cannot happen
    return shares
