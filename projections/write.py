"""Writing one batch's collected rows in its transaction: inserts and per-key upserts, summed
deltas added in one statement per table, and serial ranges merged with what is stored and
written back as a difference. Every statement commutes with other workers' (see tables.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from projections import tables as t
from projections.bulk import delete_rows, insert_rows, plain
from projections.pending import PendingRows, SupplyDelta, batch_class_and_vintage
from projections.public_write import write_public
from projections.ranges import Piece, apply_ops, windows

WINDOWS_PER_QUERY = 300  # three parameters each


def _insert(connection: sa.Connection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def write(connection: sa.Connection, rows: PendingRows) -> None:
    insert = _insert(connection)
    for table_name, values in rows.inserts.items():
        table = t.metadata.tables[table_name]
        if plain(table):
            insert_rows(connection, table, values, ignore_conflicts=True)
        else:
            connection.execute(insert(table).on_conflict_do_nothing(), values)
    for (table_name, key_columns), by_key in rows.upserts.items():
        table = t.metadata.tables[table_name]
        for row in by_key.values():  # each row sets only the columns its events own
            statement = insert(table).values(row)
            updates = {
                column: statement.excluded[column] for column in row if column not in key_columns
            }
            connection.execute(
                statement.on_conflict_do_update(index_elements=list(key_columns), set_=updates)
            )
    # Zero sums are written too: a row exists iff any event touched it, however batched.
    _increment(
        connection,
        t.balances,
        ("party_id", "class_id", "vintage"),
        ("tradable_kg", "pending_kg", "retired_kg"),
        rows.balances,
    )
    supply_keys = {}
    project_deltas: dict[tuple[str, str], SupplyDelta] = defaultdict(SupplyDelta)
    for batch_id, delta in rows.supply.items():
        class_id, project_id, vintage = batch_class_and_vintage(batch_id)
        supply_keys[(batch_id, class_id, project_id, vintage)] = delta
        project_deltas[(class_id, project_id)].add(delta)
    _increment(
        connection,
        t.batch_supply,
        ("batch_id", "class_id", "project_id", "vintage"),
        ("issued_kg", "tradable_kg", "pending_kg", "retired_kg", "cancelled_kg"),
        supply_keys,
        conflict=("batch_id",),
    )
    _increment(
        connection,
        t.metadata.tables["project_buffers"],
        ("class_id", "project_id"),
        ("withheld_kg", "reversed_kg", "shortfall_kg"),
        rows.buffers,
    )
    _write_ranges(connection, rows.range_ops)
    write_public(connection, rows.public, dict(project_deltas))  # last: may take a lock


def _increment(
    connection: sa.Connection,
    table: sa.Table,
    key_columns: Sequence[str],
    value_columns: Sequence[str],
    deltas: Mapping[tuple[Any, ...], object],
    conflict: Sequence[str] | None = None,
) -> None:
    """Add each delta record (fields named as `value_columns`) to its row, inserting it."""
    if not deltas:
        return
    insert = _insert(connection)
    values = [
        dict(zip(key_columns, key, strict=True))
        | {column: getattr(delta, column) for column in value_columns}
        for key, delta in sorted(deltas.items(), key=itemgetter(0))
    ]  # sorted: the same row order in every worker
    statement = insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(conflict or key_columns),
        set_={column: table.c[column] + statement.excluded[column] for column in value_columns},
    )
    connection.execute(statement, values)


@cache
def _windows_query(count: int) -> sa.TextClause:
    """The stored pieces overlapping `count` (batch, low, high) windows, each found with
    bounded probes of the primary key: the pieces starting inside the window, and the one
    piece before it, if it reaches in. (A bound on the start alone scans every piece of the
    batch before the window, which grows with history.) Written as text once per count:
    building and compiling expressions for every batch was a fifth of a catch-up."""
    if not 0 < count <= WINDOWS_PER_QUERY:
        raise ValueError(f"{count} windows: 1 to {WINDOWS_PER_QUERY} per query")
    rows = ", ".join(f"(:b{i}, :l{i}, :h{i})" for i in range(count))
    columns = ", ".join(
        f"s.{name}"
        for name in ("batch_id", "serial_start", "serial_end", "owner_id", "status", "stamp")
    )
    table = t.serial_ranges.name
    return sa.text(
        f"WITH w (b, l, h) AS (VALUES {rows}) "
        f"SELECT {columns} FROM w JOIN {table} s "
        "ON s.batch_id = w.b AND s.serial_start BETWEEN w.l AND w.h "
        f"UNION ALL SELECT {columns} FROM w JOIN {table} s ON s.batch_id = w.b "
        f"AND s.serial_start = (SELECT max(x.serial_start) FROM {table} x "
        "WHERE x.batch_id = w.b AND x.serial_start < w.l) "
        "WHERE s.serial_end >= w.l"
    )


def _existing_pieces(
    connection: sa.Connection, ops_by_batch: dict[str, list[Piece]], batch_ids: list[str]
) -> dict[str, list[Piece]]:
    """The stored pieces the ops overlap, by batch, sorted: only those, never a batch's
    whole history."""
    found: dict[str, dict[int, Piece]] = defaultdict(dict)
    wanted = [(b, low, high) for b in batch_ids for low, high in windows(ops_by_batch[b])]
    for chunk_start in range(0, len(wanted), WINDOWS_PER_QUERY):  # bounded statements
        chunk = wanted[chunk_start : chunk_start + WINDOWS_PER_QUERY]
        parameters: dict[str, Any] = {}
        for index, (batch_id, low, high) in enumerate(chunk):
            parameters[f"b{index}"], parameters[f"l{index}"] = batch_id, low
            parameters[f"h{index}"] = high
        query = _windows_query(len(chunk))
        for row in connection.execute(query, parameters):
            found[row.batch_id][row.serial_start] = Piece(
                row.serial_start, row.serial_end, row.owner_id, row.status, row.stamp
            )
    return {batch_id: sorted(pieces.values()) for batch_id, pieces in found.items()}


def _write_ranges(connection: sa.Connection, ops_by_batch: dict[str, list[Piece]]) -> None:
    """Load the pieces the ops overlap, merge in memory, write back only the difference."""
    if not ops_by_batch:
        return
    batch_ids = sorted(ops_by_batch)  # one lock order for every worker: no deadlocks
    if connection.dialect.name == "postgresql":
        # Serialise writers of the same credit batches; other batches proceed in parallel.
        for batch_id in batch_ids:
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": batch_id}
            )
    existing = _existing_pieces(connection, ops_by_batch, batch_ids)
    gone: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for batch_id in batch_ids:
        before = existing.get(batch_id, [])
        after = apply_ops(before, ops_by_batch[batch_id])
        old, new = set(before), set(after)
        gone.extend(
            {"batch_id": batch_id, "serial_start": piece.start}
            for piece in before
            if piece not in new
        )
        added.extend(
            {
                "batch_id": batch_id,
                "serial_start": p.start,
                "serial_end": p.end,
                "owner_id": p.owner_id,
                "status": p.status,
                "stamp": p.stamp,
            }
            for p in after
            if p not in old
        )
    delete_rows(connection, t.serial_ranges, gone)
    insert_rows(connection, t.serial_ranges, added)
