"""RFC 9162 Merkle trees over the sealed envelopes: tree heads, inclusion proofs and
consistency proofs. Leaves are the exact sealed envelope bytes, position p at index p - 1.

`CompactTree` keeps only the roots of the perfect subtrees (O(log n) hashes), so the
write side and the auditor can follow a history of any length in flat memory."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    size = len(leaf_hashes)
    if size == 0:
        return EMPTY_ROOT
    if size == 1:
        return leaf_hashes[0]
    k = _split(size)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


class CompactTree:
    """Append-only tree state: one perfect-subtree root per set bit of the size."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (subtree size, root), sizes strictly decreasing

    def append(self, leaf: bytes) -> None:
        self._stack.append((1, leaf))
        self.size += 1
        while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
            right_size, right = self._stack.pop()
            left_size, left = self._stack.pop()
            self._stack.append((left_size + right_size, node_hash(left, right)))

    def snapshot(self) -> tuple[int, list[tuple[int, bytes]]]:
        return self.size, list(self._stack)

    def restore(self, state: tuple[int, list[tuple[int, bytes]]]) -> None:
        self.size, stack = state
        self._stack = list(stack)

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        result = self._stack[-1][1]
        for _size, subtree in reversed(self._stack[:-1]):
            result = node_hash(subtree, result)
        return result


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 9162 section 2.1.3.1: the audit path of leaf `index` in the tree of all leaves."""
    size = len(leaf_hashes)
    assert 0 <= index < size
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*inclusion_proof(leaf_hashes[:k], index), root_of(leaf_hashes[k:])]
    return [*inclusion_proof(leaf_hashes[k:], index - k), root_of(leaf_hashes[:k])]


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 9162 section 2.1.4.1: proof that the first `old_size` leaves are a prefix."""
    assert 0 < old_size <= len(leaf_hashes)
    return _subproof(old_size, leaf_hashes, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_of(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root_of(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root_of(leaves[:k])]


def consistency_proof_extending(
    old: tuple[int, list[tuple[int, bytes]]], later_leaves: Sequence[bytes]
) -> list[bytes]:
    """The RFC 9162 consistency proof from the tree `old` (a CompactTree snapshot: its size
    and perfect-subtree roots) to that tree with `later_leaves` appended: the same hashes
    `consistency_proof` gives, without the old leaves. Every node of the proof inside the
    old tree is one of its perfect-subtree roots; every other node covers later leaves only."""
    old_size, stack = old
    if old_size <= 0:
        raise ValueError("a consistency proof starts from a tree of at least one leaf")
    pieces: dict[tuple[int, int], bytes] = {}
    start = 0
    for size, root in stack:
        pieces[(start, start + size)] = root
        start += size

    def hash_of(first: int, end: int) -> bytes:
        if first >= old_size:
            return root_of(later_leaves[first - old_size : end - old_size])
        return pieces[(first, end)]  # a KeyError here would be a bug in this walk

    def walk(m: int, first: int, end: int, complete: bool) -> list[bytes]:
        n = end - first
        if m == n:
            return [] if complete else [hash_of(first, end)]
        k = _split(n)
        if m <= k:
            return [*walk(m, first, first + k, complete), hash_of(first + k, end)]
        return [*walk(m - k, first + k, end, False), hash_of(first, first + k)]

    return walk(old_size, 0, old_size + len(later_leaves), True)
