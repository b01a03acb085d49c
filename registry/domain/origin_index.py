"""The origin serials already issued here, per origin registry and project: sorted,
non-overlapping intervals, each naming the batch that issued it.

The index is immutable, so the ledger's journal can restore it exactly, and chunked, so
an insertion copies one chunk of at most 2 * CHUNK_INTERVALS and the list of chunk heads,
never the whole index: with 60,000 batches of one origin project that is a few hundred
entries, not 60,000. Finding the interval that may overlap a range is two bisections."""

from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass

from registry.domain.checks import InvariantViolation

CHUNK_INTERVALS = 256  # a chunk splits in two when it grows beyond twice this
_BEYOND = 2**63  # larger than any serial


@dataclass(frozen=True, slots=True, order=True)
class IssuedOrigin:
    serial_start: int
    serial_end: int
    batch_id: str


@dataclass(frozen=True, slots=True)
class OriginIndex:
    heads: tuple[int, ...] = ()  # the first serial_start of each chunk, ascending
    chunks: tuple[tuple[IssuedOrigin, ...], ...] = ()

    def __len__(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)

    def overlapping(self, serial_start: int, serial_end: int) -> IssuedOrigin | None:
        """An issued interval sharing a serial with start..end, or None. Intervals are
        disjoint and sorted, so the last one starting at or before `serial_end` reaches
        furthest: only it can overlap."""
        chunk_index = bisect_right(self.heads, serial_end) - 1
        if chunk_index < 0:
            return None
        chunk = self.chunks[chunk_index]
        found = chunk[bisect_right(chunk, IssuedOrigin(serial_end, _BEYOND, "")) - 1]
        return found if found.serial_end >= serial_start else None

    def inserted(self, issued: IssuedOrigin) -> OriginIndex:
        """A new index with `issued` added; it must overlap nothing (checked)."""
        clash = self.overlapping(issued.serial_start, issued.serial_end)
        if clash is not None or issued.serial_start > issued.serial_end:
            raise InvariantViolation(f"origin {issued} overlaps {clash}")
        if not self.chunks:
            return OriginIndex((issued.serial_start,), ((issued,),))
        chunk_index = max(bisect_right(self.heads, issued.serial_start) - 1, 0)
        chunk = list(self.chunks[chunk_index])
        insort(chunk, issued)
        pieces = (
            [chunk[: len(chunk) // 2], chunk[len(chunk) // 2 :]]
            if len(chunk) > 2 * CHUNK_INTERVALS
            else [chunk]
        )
        chunks = (
            *self.chunks[:chunk_index],
            *(tuple(piece) for piece in pieces),
            *self.chunks[chunk_index + 1 :],
        )
        return OriginIndex(tuple(chunk[0].serial_start for chunk in chunks), chunks)
