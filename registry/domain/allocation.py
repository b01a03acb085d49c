"""Splitting a pool exactly: integer kilograms, largest remainders, sum conserved."""

from __future__ import annotations

from collections.abc import Sequence

from registry.domain.checks import require

RULE = (
    "largest-remainder v1: each meeting gets floor(pool_kg * calculated_kg / total_calculated_kg); "
    "the kilograms left over go one each to the largest fractional parts, ties to the lower meeting id"
)


def largest_remainder(pool_kg: int, weights: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Integer shares of `pool_kg` proportional to the weights; their sum is exactly pool_kg."""
    require(pool_kg >= 0 and bool(weights), "a pool needs something to split among")
    total = sum(weight for _key, weight in weights)
    require(total > 0 and all(weight >= 0 for _key, weight in weights), "weights must be >= 0")
    shares = {key: pool_kg * weight // total for key, weight in weights}
    # The fractional part of each share, as an exact integer numerator over `total`.
    remainders = sorted(weights, key=lambda item: (-(pool_kg * item[1] % total), item[0]))
    left_over = pool_kg - sum(shares.values())
    require(0 <= left_over < len(weights), f"{left_over} kg left over for {len(weights)} shares")
    for key, _weight in remainders[:left_over]:
        shares[key] += 1
    require(sum(shares.values()) == pool_kg, "the shares must add up to the pool exactly")
    return shares
