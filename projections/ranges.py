"""Serial-range ownership as last-writer-wins pieces, so ops may arrive in any order.

Each piece records the stamp of the write that set it. An op splits the pieces it overlaps
at its bounds and overwrites those with an older stamp; gaps take the op as is. The final
pieces depend only on the set of ops, never on their order, which is what lets several
workers build the same table from different partitions."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import NamedTuple

from registry.domain.checks import InvariantViolation


class Piece(NamedTuple):
    start: int
    end: int
    owner_id: str
    status: str
    stamp: int


def apply_op(pieces: list[Piece], op: Piece) -> list[Piece]:
    """`pieces` sorted and disjoint; returns a new sorted, disjoint list."""
    result = list(pieces)
    _apply_in_place(result, op)
    return result


def apply_ops(pieces: list[Piece], ops: Iterable[Piece]) -> list[Piece]:
    result = list(pieces)
    for op in ops:
        _apply_in_place(result, op)
    return result


def _apply_in_place(pieces: list[Piece], op: Piece) -> None:
    """Replace the pieces `op` overlaps by their split (one slice assignment: the pieces it
    does not touch are not copied, however many there are)."""
    if op.start > op.end:
        raise InvariantViolation(f"an empty serial range {op.start}-{op.end}")
    # The first piece that may overlap: the one before the first start >= op.start.
    first = max(bisect_left(pieces, (op.start,)) - 1, 0)
    if first < len(pieces) and pieces[first].end < op.start:
        first += 1
    middle: list[Piece] = []
    cursor = op.start  # the next serial of the op not yet placed
    index = first
    while index < len(pieces) and pieces[index].start <= op.end:
        piece = pieces[index]
        if piece.start < op.start:
            middle.append(piece._replace(end=op.start - 1))
        elif cursor < piece.start:
            middle.append(op._replace(start=cursor, end=piece.start - 1))  # a gap: the op fills it
        overlap_start, overlap_end = max(piece.start, op.start), min(piece.end, op.end)
        winner = op if op.stamp > piece.stamp else piece
        middle.append(winner._replace(start=overlap_start, end=overlap_end))
        cursor = overlap_end + 1
        if piece.end > op.end:
            middle.append(piece._replace(start=op.end + 1))
        index += 1
    if cursor <= op.end:
        middle.append(op._replace(start=cursor))
    pieces[first:index] = middle


def windows(ops: Iterable[Piece]) -> list[tuple[int, int]]:
    """The serial intervals `ops` cover, merged where they overlap or touch: the pieces
    overlapping these are all that applying the ops can change."""
    merged: list[tuple[int, int]] = []
    for op in sorted(ops):
        if merged and op.start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], op.end))
        else:
            merged.append((op.start, op.end))
    return merged
