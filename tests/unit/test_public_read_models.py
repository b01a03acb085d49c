"""The public view's read models against their definitions: the Merkle nodes stored as
leaves arrive in any order give RFC 9162 roots and audit paths equal to the transparency
module's, and the serial history's interval tree finds exactly the ranges holding a serial."""

from __future__ import annotations

import hashlib
import random

import pytest
import sqlalchemy as sa

from projections import merkle
from projections import party_queries as pq
from projections import public_tables as p
from projections import tables as t
from projections.public_apply import PublicRows, fork_of
from projections.schema import metadata
from registry.domain.serials import SerialBlock
from registry.transparency import merkle as reference
from registry.transparency.proof_verifier import verify_inclusion


def _engine() -> sa.Engine:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine, tables=[p.merkle_nodes, p.serial_history, t.batches])
    return engine


def _leaves(count: int) -> list[bytes]:
    return [reference.leaf_hash(hashlib.sha256(str(i).encode()).digest()) for i in range(count)]


@pytest.mark.parametrize("seed", range(6))
def test_nodes_written_in_any_order_give_the_reference_roots_and_paths(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(1, 300)
    leaves = _leaves(size)
    order = list(range(size))
    rng.shuffle(order)
    engine = _engine()
    while order:  # batches of scattered positions, as consumer-group workers apply them
        count = rng.randint(1, 40)
        chunk, order = order[:count], order[count:]
        with engine.begin() as connection:
            merkle.write_leaves(connection, {i: leaves[i] for i in chunk})
    with engine.begin() as connection:  # a re-sent batch changes nothing
        merkle.write_leaves(connection, {i: leaves[i] for i in range(0, size, 3)})
    with engine.connect() as connection:
        for tree_size in sorted({1, size, rng.randint(1, size)}):
            assert merkle.root(connection, tree_size) == reference.root_of(leaves[:tree_size])
            for index in {0, tree_size - 1, rng.randrange(tree_size)}:
                path = merkle.inclusion_path(connection, index + 1, tree_size)
                assert path == reference.inclusion_proof(leaves[:tree_size], index)
                root = reference.root_of(leaves[:tree_size])
                assert verify_inclusion(leaves[index], index, tree_size, path, root)


def test_a_tree_with_a_missing_leaf_has_no_root_and_no_path() -> None:
    leaves = _leaves(9)
    engine = _engine()
    with engine.begin() as connection:
        merkle.write_leaves(connection, {i: leaves[i] for i in range(9) if i != 4})
    with engine.connect() as connection:
        assert merkle.root(connection, 4) == reference.root_of(leaves[:4])
        assert merkle.root(connection, 5) is None and merkle.root(connection, 9) is None
        assert merkle.inclusion_path(connection, 1, 9) is None
        assert merkle.inclusion_path(connection, 10, 9) is None


def test_every_serial_of_a_range_shares_its_fork_node() -> None:
    rng = random.Random(3)
    for _ in range(2_000):
        start = rng.randint(1, 10**12)
        end = start + rng.randint(0, 10**6)
        level, node = fork_of(start, end)
        for serial in (start, end, rng.randint(start, end)):
            assert serial >> level == node


def test_the_history_of_a_serial_is_exactly_the_ranges_that_hold_it() -> None:
    rng = random.Random(11)
    rows = PublicRows()
    ranges = []
    for stamp in range(400):
        start = rng.randint(1, 5_000)
        end = min(start + rng.choice((0, 1, 7, 300, 2_000)), 7_000)
        ranges.append((stamp, start, end))
        rows.moved([SerialBlock("B", start, end)], stamp, stamp // 16, "transferred", f"p{stamp}")
    engine = _engine()
    batch = {"batch_id": "B", "issuer_id": "i", "recipient_id": "r", "serial_start": 1}
    with engine.begin() as connection:
        connection.execute(p.serial_history.insert(), rows.history)
        connection.execute(
            t.batches.insert(), [batch | {"serial_end": 7_000, "issued_position": 1}]
        )
    with engine.connect() as connection:
        assert pq.history_of(connection, "B", 7_001, 500) == []  # beyond the batch
        assert pq.history_of(connection, "NOPE", 1, 500) == []
        for serial in [1, 2, 4_999, 5_000, 7_000, *(rng.randint(1, 7_000) for _ in range(40))]:
            found = pq.history_of(connection, "B", serial, 500)
            expected = [(s, a, b) for s, a, b in ranges if a <= serial <= b]
            assert [(m.party_id, m.serial_start, m.serial_end) for m in found] == [
                (f"p{s}", a, b) for s, a, b in expected
            ]
