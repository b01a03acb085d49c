"""The witness's own Merkle tree over the envelopes it verified: every leaf hash (32 bytes
each, in one buffer), the live tree, and the tree at the anchor (the checkpoint it cosigned
last), so a root or a consistency proof from there costs only the leaves since."""

from __future__ import annotations

from registry.transparency.merkle import CompactTree, consistency_proof_extending

LEAF_BYTES = 32


def _copy(tree: CompactTree) -> CompactTree:
    copied = CompactTree()
    copied.restore(tree.snapshot())
    return copied


class VerifiedTree:
    def __init__(self) -> None:
        self._leaves = bytearray()
        self._live = CompactTree()
        self._anchor = CompactTree()

    @property
    def size(self) -> int:
        return self._live.size

    def append(self, leaf: bytes) -> None:
        if len(leaf) != LEAF_BYTES:
            raise ValueError(f"a leaf hash is {LEAF_BYTES} bytes, not {len(leaf)}")
        self._leaves += leaf
        self._live.append(leaf)

    def leaves(self, first: int, end: int) -> list[bytes]:
        """Leaf hashes of positions first + 1 .. end (tree indexes first .. end - 1)."""
        data = self._leaves
        return [bytes(data[i * LEAF_BYTES : (i + 1) * LEAF_BYTES]) for i in range(first, end)]

    def tree_at(self, size: int) -> CompactTree:
        """The tree of the first `size` leaves (size at most the tree's own)."""
        if not 0 <= size <= self.size:
            raise ValueError(f"the verified tree has {self.size} leaves, not {size}")
        if size == self.size:
            return _copy(self._live)
        # From the anchor when it is below; from nothing for an older size (a rare late record).
        tree = _copy(self._anchor) if self._anchor.size <= size else CompactTree()
        for leaf in self.leaves(tree.size, size):
            tree.append(leaf)
        return tree

    def root_at(self, size: int) -> bytes:
        return self.tree_at(size).root()

    def consistency(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 9162 proof that the tree at new_size extends the tree at old_size."""
        old = self.tree_at(old_size)
        return consistency_proof_extending(old.snapshot(), self.leaves(old_size, new_size))

    def anchor_at(self, size: int) -> None:
        """Roots and proofs from here on start at `size` (only ever moves forward)."""
        if size > self._anchor.size:
            self._anchor = self.tree_at(size)
