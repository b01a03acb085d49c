"""Serial blocks: every kilogram has a serial within its batch, and holdings are
sorted, disjoint, non-adjacent ranges of those serials. All functions are pure and
return new tuples, which lets the ledger undo a failed batch by restoring old values."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from registry.domain.checks import InvariantViolation, require

Range = tuple[int, int]  # (serial_start, serial_end), both inclusive
Ranges = tuple[Range, ...]
_BEYOND = 2**63  # larger than any serial


@dataclass(frozen=True, slots=True, order=True)
class SerialBlock:
    batch_id: str
    serial_start: int
    serial_end: int

    @property
    def quantity_kg(self) -> int:
        return self.serial_end - self.serial_start + 1


def total_kg(ranges: Ranges) -> int:
    return sum(end - start + 1 for start, end in ranges)


def lowest(ranges: Ranges, quantity_kg: int) -> Ranges:
    """The lowest `quantity_kg` serials, reading only the ranges that supply them."""
    require(quantity_kg > 0, f"taking {quantity_kg} kg")
    taken: list[Range] = []
    needed_kg = quantity_kg
    for start, end in ranges:
        size_kg = end - start + 1
        if size_kg >= needed_kg:
            taken.append((start, start + needed_kg - 1))
            return tuple(taken)
        taken.append((start, end))
        needed_kg -= size_kg
    raise InvariantViolation("taking more serials than are held")


def take_lowest(ranges: Ranges, quantity_kg: int) -> tuple[Ranges, Ranges]:
    """Split off the lowest `quantity_kg` serials. Returns (taken, remaining)."""
    taken = lowest(ranges, quantity_kg)
    return taken, subtract_ranges(ranges, taken)


# Ranges are immutable tuples (the ledger's journal keeps old values). A change finds its
# place by bisection and joins the untouched slices around the pieces it changes: it never
# walks the other ranges in Python, however many a holding has.
def add_range(ranges: Ranges, start: int, end: int) -> Ranges:
    """`ranges` with start-end added, merged with its neighbours so holdings stay compact."""
    index = bisect_left(ranges, (start, end))
    # An overlap would mean one serial in two places: a broken invariant, not bad input.
    if index > 0 and ranges[index - 1][1] >= start:
        raise InvariantViolation(f"serial overlap: {start}-{end} and {ranges[index - 1]}")
    if index < len(ranges) and ranges[index][0] <= end:
        raise InvariantViolation(f"serial overlap: {start}-{end} and {ranges[index]}")
    low, high = index, index
    if index > 0 and ranges[index - 1][1] == start - 1:
        low, start = index - 1, ranges[index - 1][0]
    if index < len(ranges) and ranges[index][0] == end + 1:
        high, end = index + 1, ranges[index][1]
    return (*ranges[:low], (start, end), *ranges[high:])


def subtract_range(ranges: Ranges, start: int, end: int) -> Ranges:
    """`ranges` without start-end, which must lie inside one held range (checked)."""
    # The last held range starting at or before `start` must contain the removed range.
    index = bisect_right(ranges, (start, _BEYOND)) - 1
    if index < 0 or not (ranges[index][0] <= start and end <= ranges[index][1]):
        raise InvariantViolation(f"removing serials {start}-{end} that are not held")
    held_start, held_end = ranges[index]
    pieces: Ranges = ()
    if held_start < start:
        pieces = ((held_start, start - 1),)
    if end < held_end:
        pieces += ((end + 1, held_end),)
    return ranges[:index] + pieces + ranges[index + 1 :]


def add_ranges(ranges: Ranges, added: Ranges) -> Ranges:
    """Union of disjoint range sets, merging neighbours so holdings stay compact."""
    for start, end in added:
        ranges = add_range(ranges, start, end)
    return ranges


def subtract_ranges(ranges: Ranges, removed: Ranges) -> Ranges:
    """Remove ranges that must be fully contained in `ranges` (checked)."""
    for start, end in removed:
        ranges = subtract_range(ranges, start, end)
    return ranges
