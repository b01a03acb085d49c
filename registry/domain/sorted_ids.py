"""A sorted set of ids, immutable, whose updates cost the same however long it grows.

A party's batch ids are kept in order (the rules take the oldest batch id first) and change
on every credit of a new batch and every debit that empties one. A flat sorted tuple is
copied whole on each change: at a million envelopes a municipality holds thousands of
batches, and the copies grew with the history. Here the ids are split into chunks of at
most CHUNK_IDS_MAX; a change copies one chunk and the short tuple of chunks, so it costs
about CHUNK_IDS_MAX + n / CHUNK_IDS_MAX slot copies (some two hundred at ten thousand
ids) instead of n. Values stay immutable, so the ledger's journal can keep the old one."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import overload

from registry.domain.checks import InvariantViolation

CHUNK_IDS_MAX = 128
_CHUNK_IDS_FILL = CHUNK_IDS_MAX // 2  # chunks built in one go are half full: room to grow

Chunk = tuple[str, ...]


class SortedIds:
    __slots__ = ("_chunks", "_firsts", "_length")

    def __init__(
        self,
        chunks: tuple[Chunk, ...] = (),
        length: int | None = None,
        firsts: tuple[str, ...] | None = None,
    ) -> None:
        """Chunks are sorted, non-empty and in order; use `of` to build from any ids."""
        self._chunks = chunks
        self._firsts = tuple(chunk[0] for chunk in chunks) if firsts is None else firsts
        self._length = sum(map(len, chunks)) if length is None else length

    @classmethod
    def of(cls, ids: Iterable[str]) -> SortedIds:
        ordered = sorted(set(ids))
        chunks = tuple(
            tuple(ordered[start : start + _CHUNK_IDS_FILL])
            for start in range(0, len(ordered), _CHUNK_IDS_FILL)
        )
        return cls(chunks, len(ordered))

    def _find(self, item: str) -> tuple[int, int, bool]:
        """(chunk number, index in the chunk, whether `item` is there); a chunk exists."""
        number = bisect_right(self._firsts, item) - 1
        if number < 0:
            number = 0
        chunk = self._chunks[number]
        index = bisect_left(chunk, item)
        return number, index, index < len(chunk) and chunk[index] == item

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str) or not self._chunks:
            return False
        return self._find(item)[2]

    def inserted(self, item: str) -> SortedIds:
        """A copy with `item` added; it must not be there yet (a broken invariant if it is)."""
        if not self._chunks:
            return SortedIds(((item,),), 1, (item,))
        number, index, present = self._find(item)
        if present:
            raise InvariantViolation(f"batch {item} already listed")
        chunk = self._chunks[number]
        grown = (*chunk[:index], item, *chunk[index:])
        if len(grown) > CHUNK_IDS_MAX:
            half = len(grown) // 2
            pieces: tuple[Chunk, ...] = (grown[:half], grown[half:])
            firsts: tuple[str, ...] = (grown[0], grown[half])
        else:
            pieces, firsts = (grown,), (grown[0],)
        return SortedIds(
            self._chunks[:number] + pieces + self._chunks[number + 1 :],
            self._length + 1,
            self._firsts[:number] + firsts + self._firsts[number + 1 :],
        )

    def removed(self, item: str) -> SortedIds:
        """A copy without `item`, which must be there (a broken invariant if it is not)."""
        number, index, present = self._find(item) if self._chunks else (0, 0, False)
        if not present:
            raise InvariantViolation(f"batch {item} not listed")
        chunk = self._chunks[number]
        shrunk = chunk[:index] + chunk[index + 1 :]
        pieces: tuple[Chunk, ...] = (shrunk,) if shrunk else ()
        firsts: tuple[str, ...] = (shrunk[0],) if shrunk else ()
        return SortedIds(
            self._chunks[:number] + pieces + self._chunks[number + 1 :],
            self._length - 1,
            self._firsts[:number] + firsts + self._firsts[number + 1 :],
        )

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._chunks)

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("SortedIds index out of range")
        for chunk in self._chunks:
            if index < len(chunk):
                return chunk[index]
            index -= len(chunk)
        raise IndexError("SortedIds index out of range")

    def __eq__(self, other: object) -> bool:
        """Equal when they hold the same ids, however they are chunked."""
        if not isinstance(other, SortedIds):
            return NotImplemented
        return self._length == other._length and all(
            mine == theirs for mine, theirs in zip(self, other, strict=True)
        )

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"SortedIds({list(self)!r})"


EMPTY_IDS = SortedIds()
