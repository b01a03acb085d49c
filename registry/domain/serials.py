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


def take_lowest(ranges: Ranges, quantity_kg: int) -> tuple[Ranges, Ranges]:
    """Split off the lowest `quantity_kg` serials. Returns (taken, remaining)."""
    require(quantity_kg > 0, f"taking {quantity_kg} kg")
    taken: list[Range] = []
    needed_kg = quantity_kg
    index = 0
    while needed_kg > 0:
        require(index < len(ranges), "taking more serials than are held")
        start, end = ranges[index]
        size_kg = end - start + 1
        if size_kg <= needed_kg:
            taken.append((start, end))
            needed_kg -= size_kg
            index += 1
        else:
            taken.append((start, start + needed_kg - 1))
            remaining = ((start + needed_kg, end), *ranges[index + 1 :])
            return tuple(taken), remaining
    return tuple(taken), ranges[index:]


def add_ranges(ranges: Ranges, added: Ranges) -> Ranges:
    """Union of disjoint range sets, merging neighbours so holdings stay compact."""
    result = list(ranges)
    for start, end in added:
        position = bisect_left(result, (start, end))
        # An overlap would mean one serial in two places: a broken invariant, not bad input.
        if position > 0 and result[position - 1][1] >= start:
            raise InvariantViolation(f"serial overlap: {start}-{end} and {result[position - 1]}")
        if position < len(result) and result[position][0] <= end:
            raise InvariantViolation(f"serial overlap: {start}-{end} and {result[position]}")
        result.insert(position, (start, end))
        if position + 1 < len(result) and result[position + 1][0] == end + 1:
            result[position] = (start, result[position + 1][1])
            del result[position + 1]
        if position > 0 and result[position - 1][1] == start - 1:
            result[position - 1] = (result[position - 1][0], result[position][1])
            del result[position]
    return tuple(result)


def subtract_ranges(ranges: Ranges, removed: Ranges) -> Ranges:
    """Remove ranges that must be fully contained in `ranges` (checked)."""
    result = list(ranges)
    for start, end in removed:
        # The last held range starting at or before `start` must contain the removed range.
        position = bisect_right(result, (start, _BEYOND)) - 1
        if position < 0:
            raise InvariantViolation(f"removing serials {start}-{end} that are not held")
        held_start, held_end = result[position]
        if not (held_start <= start and end <= held_end):
            raise InvariantViolation(f"removing serials {start}-{end} that are not held")
        pieces = []
        if held_start < start:
            pieces.append((held_start, start - 1))
        if end < held_end:
            pieces.append((end + 1, held_end))
        result[position : position + 1] = pieces
    return tuple(result)
