"""Inserting many plain rows in one driver call, without SQLAlchemy's per-row parameter
processing: for the tables a batch writes several rows per envelope into (the applied
positions, the log, its Merkle nodes, serial pieces and their history), that processing
cost more than SQLite's own work (cProfile of a projection rebuild: a quarter of it).

Only for columns whose values the driver takes as they are (text, integers, bytes); a
table with any other column type is refused, so nothing is stored in another form than
SQLAlchemy would store it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

PLAIN_TYPES = (sa.String, sa.Integer, sa.LargeBinary)  # Text, BigInteger, ... are kinds of these


@cache
def plain(table: sa.Table) -> bool:
    """Whether every column takes its values as they are (insert_rows may write it)."""
    return all(isinstance(column.type, PLAIN_TYPES) for column in table.columns)


@cache
def _insert_sql(
    dialect: str, paramstyle: str, table: sa.Table, columns: tuple[str, ...], ignore_conflicts: bool
) -> str:
    if not plain(table):
        raise TypeError(f"{table.name} has columns the driver cannot take as they are")
    unknown = set(columns) - set(table.columns.keys())
    if unknown:
        raise KeyError(f"{table.name} has no columns {sorted(unknown)}")
    if paramstyle == "qmark":
        values = ", ".join("?" for _ in columns)
    elif paramstyle in ("pyformat", "named"):
        mark = "%({})s" if paramstyle == "pyformat" else ":{}"
        values = ", ".join(mark.format(column) for column in columns)
    else:
        raise ValueError(f"parameter style {paramstyle} is not supported")
    names = ", ".join(f'"{column}"' for column in columns)
    conflict = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    if dialect not in ("sqlite", "postgresql"):
        raise ValueError(f"{dialect}: the read models run on SQLite or PostgreSQL")
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({values}){conflict}'


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    ignore_conflicts: bool = False,
) -> None:
    """Insert `rows` (dicts with the same keys) in one executemany; with `ignore_conflicts`,
    a row whose key is there already is left alone."""
    if not rows:
        return
    columns = tuple(rows[0])
    dialect = connection.dialect
    sql = _insert_sql(dialect.name, dialect.paramstyle, table, columns, ignore_conflicts)
    connection.exec_driver_sql(sql, _parameters(dialect.paramstyle, columns, rows))


def _parameters(
    paramstyle: str, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> list[Any]:
    """The driver's parameters for `rows`: tuples in `columns` order for qmark (built in C
    by itemgetter, which gives a scalar for one column), else dicts."""
    if paramstyle != "qmark":
        return [dict(row) for row in rows]
    values = itemgetter(*columns)
    if len(columns) > 1:
        return list(map(values, rows))
    return [(value,) for value in map(values, rows)]


@cache
def _delete_sql(paramstyle: str, table: sa.Table, columns: tuple[str, ...]) -> str:
    marks = {"qmark": "?", "pyformat": "%({})s", "named": ":{}"}
    if paramstyle not in marks:
        raise ValueError(f"parameter style {paramstyle} is not supported")
    unknown = set(columns) - set(table.columns.keys())
    if unknown:
        raise KeyError(f"{table.name} has no columns {sorted(unknown)}")
    terms = " AND ".join(f'"{column}" = {marks[paramstyle].format(column)}' for column in columns)
    return f'DELETE FROM "{table.name}" WHERE {terms}'


def delete_rows(
    connection: sa.Connection, table: sa.Table, keys: Sequence[Mapping[str, Any]]
) -> None:
    """Delete the rows with these keys (dicts with the same columns), one probe of the
    table's index each. (A row-value IN list made SQLite scan the whole table.)"""
    if not keys:
        return
    columns = tuple(keys[0])
    if not plain(table):
        raise TypeError(f"{table.name} has columns the driver cannot take as they are")
    sql = _delete_sql(connection.dialect.paramstyle, table, columns)
    connection.exec_driver_sql(sql, _parameters(connection.dialect.paramstyle, columns, keys))
