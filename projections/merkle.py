"""The log's RFC 9162 Merkle tree in the read models: the hash of every complete, aligned
subtree, so a root or an inclusion proof costs one query of O(log n) rows, never a pass
over the history.

Leaves arrive in any order (consumer-group workers own different partitions). A node is
written by the transaction that holds both its children, then its parent likewise, up the
tree; a node therefore exists exactly when every leaf below it does. Two transactions
each adding one child of the same node must not both miss the other: SQLite serialises
writers already (BEGIN IMMEDIATE), and on PostgreSQL the Merkle step takes one advisory
transaction lock, last in the transaction, so it holds that lock only until its commit."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import sqlalchemy as sa

from projections.bulk import insert_rows
from projections.public_tables import merkle_nodes
from registry.transparency.merkle import EMPTY_ROOT, node_hash

LOOKUP_CHUNK_NODES = 500
MAX_LEVELS = 64
MERKLE_LOCK_KEY = "credit-registry merkle_nodes"
Key = tuple[int, int]  # (level, node index)


def _split(size: int) -> int:
    """The largest power of two smaller than `size` (size >= 2), as RFC 9162 splits."""
    return 1 << ((size - 1).bit_length() - 1)


def _lookup(connection: sa.Connection, level: int, indices: Iterable[int]) -> dict[int, bytes]:
    wanted = sorted(indices)
    found: dict[int, bytes] = {}
    n = merkle_nodes.c
    for start in range(0, len(wanted), LOOKUP_CHUNK_NODES):
        chunk = wanted[start : start + LOOKUP_CHUNK_NODES]
        rows = connection.execute(
            sa.select(n.node_index, n.hash).where(n.level == level, n.node_index.in_(chunk))
        )
        found.update((int(index), bytes(digest)) for index, digest in rows)
    return found


def write_leaves(connection: sa.Connection, leaves: dict[int, bytes]) -> None:
    """Store new leaf hashes (index = position - 1) and every node they complete."""
    if not leaves:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": MERKLE_LOCK_KEY}
        )
    fresh = dict(leaves)
    for level in range(MAX_LEVELS):
        if not fresh:
            return
        insert_rows(
            connection,
            merkle_nodes,
            [{"level": level, "node_index": i, "hash": h} for i, h in sorted(fresh.items())],
            ignore_conflicts=True,
        )
        missing = {index ^ 1 for index in fresh} - fresh.keys()
        known = fresh | _lookup(connection, level, missing)
        parents = {}
        for parent in sorted({index >> 1 for index in fresh}):
            left, right = known.get(2 * parent), known.get(2 * parent + 1)
            if left is not None and right is not None:
                parents[parent] = node_hash(left, right)
        fresh = parents


def _range_keys(start: int, size: int) -> list[Key]:
    """The complete subtrees whose hashes make up MTH(D[start:start + size]). `start` is a
    multiple of the largest power of two not above `size`, as in every range a proof needs."""
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return [(level, start >> level)]
    k = _split(size)
    return [*_range_keys(start, k), *_range_keys(start + k, size - k)]


def _range_hash(start: int, size: int, nodes: dict[Key, bytes]) -> bytes:
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return nodes[(level, start >> level)]
    k = _split(size)
    return node_hash(_range_hash(start, k, nodes), _range_hash(start + k, size - k, nodes))


def _path_ranges(index: int, start: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.3.1 as (start, size) ranges: the audit path of leaf `index`, bottom up."""
    if size == 1:
        return []
    k = _split(size)
    if index < k:
        return [*_path_ranges(index, start, k), (start + k, size - k)]
    return [*_path_ranges(index - k, start + k, size - k), (start, k)]


@cache
def _nodes_query(count: int) -> sa.TextClause:
    """One probe of the primary key per node, OR-ed: each term is an index lookup (a row
    value IN list made SQLite scan). Written as text once per count: building the
    expression per request cost more than running it."""
    terms = " OR ".join(f"(level = :l{i} AND node_index = :i{i})" for i in range(count))
    return sa.text(f"SELECT level, node_index, hash FROM {merkle_nodes.name} WHERE {terms}")


def _nodes(connection: sa.Connection, keys: Iterable[Key]) -> dict[Key, bytes] | None:
    """The hashes of `keys`, or None when any is missing (its leaves are not all applied)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}  # a tree of one leaf: the path is empty
    parameters: dict[str, int] = {}
    for i, (level, index) in enumerate(wanted):
        parameters[f"l{i}"], parameters[f"i{i}"] = level, index
    rows = connection.execute(_nodes_query(len(wanted)), parameters).all()
    found = {(int(level), int(index)): bytes(digest) for level, index, digest in rows}
    return found if len(found) == len(wanted) else None


def root(connection: sa.Connection, tree_size: int) -> bytes | None:
    """The root of the first `tree_size` leaves; None unless all of them are applied."""
    if tree_size == 0:
        return EMPTY_ROOT
    nodes = _nodes(connection, _range_keys(0, tree_size))
    return None if nodes is None else _range_hash(0, tree_size, nodes)


def inclusion_path(connection: sa.Connection, position: int, tree_size: int) -> list[bytes] | None:
    """The audit path of `position` in the tree of `tree_size` leaves (one query)."""
    if not 0 < position <= tree_size:
        return None
    ranges = _path_ranges(position - 1, 0, tree_size)
    nodes = _nodes(connection, [key for r in ranges for key in _range_keys(*r)])
    if nodes is None:
        return None
    return [_range_hash(start, size, nodes) for start, size in ranges]
