"""Writing the public view's rows of one batch, in the batch's transaction: inserts that a
second arrival leaves alone, supply per class and project as summed deltas, and the
Merkle leaves last (they may take the tree's lock; see projections/merkle.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from projections import public_tables as p
from projections.bulk import insert_rows, plain
from projections.merkle import write_leaves
from projections.pending import SupplyDelta
from projections.public_apply import PublicRows

INSERT_CHUNK_ROWS = 500


def _insert(connection: sa.Connection) -> Any:
    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def write_public(
    connection: sa.Connection,
    rows: PublicRows,
    supply: dict[tuple[str, str], SupplyDelta],
) -> None:
    """`supply`: what the batch adds to each (class, project)."""
    insert = _insert(connection)
    for table, values in (
        (p.log_entries, rows.log_entries),
        (p.credit_classes, rows.credit_classes),
        (p.projects, rows.projects),
        (p.agreement_signatures, rows.signatures),
        (p.serial_history, rows.history),
    ):
        if plain(table):
            insert_rows(connection, table, values, ignore_conflicts=True)
            continue
        for start in range(0, len(values), INSERT_CHUNK_ROWS):
            connection.execute(
                insert(table).on_conflict_do_nothing(), values[start : start + INSERT_CHUNK_ROWS]
            )
    by_class: dict[tuple[str], SupplyDelta] = defaultdict(SupplyDelta)
    for (class_id, _project), delta in supply.items():
        by_class[(class_id,)].add(delta)
    _add_supply(connection, p.class_supply, ("class_id",), by_class)
    _add_supply(connection, p.project_supply, ("class_id", "project_id"), supply)
    write_leaves(connection, rows.leaves)


def _add_supply(
    connection: sa.Connection,
    table: sa.Table,
    key_columns: tuple[str, ...],
    deltas: Mapping[Any, SupplyDelta],
) -> None:
    if not deltas:
        return
    values = [
        dict(zip(key_columns, key, strict=True))
        | dict(zip(p.SUPPLY_COLUMNS, delta.columns(), strict=True))
        for key, delta in sorted(deltas.items())  # one row order in every worker
    ]
    statement = _insert(connection)(table)
    statement = statement.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={c: table.c[c] + statement.excluded[c] for c in p.SUPPLY_COLUMNS},
    )
    connection.execute(statement, values)
