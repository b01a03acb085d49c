"""Database settings every process of the product shares.

SQLite runs in write-ahead-log mode. The embedded default puts the writer, the relay and the
projections on one file; in SQLite's default rollback-journal mode a reader blocks the writer
and each commit flushes several times. With the log, readers run beside the writer and a
commit flushes once, still at every commit (synchronous=FULL): an acknowledged command
survives a power cut.

One schema creator at a time.

`CREATE TABLE` with `checkfirst` is two statements in PostgreSQL: look, then create. The
service, the relay and the projection workers start together as separate processes and
would all look, see nothing and create, and every one but the first fails with
DuplicateTable. A transaction-wide advisory lock makes them take turns; the later ones then
see the tables and create nothing. SQLite serialises DDL on its file lock already."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

# Any fixed 64-bit number, the same in every process of the product ("credreg" in ASCII).
SCHEMA_LOCK_KEY = 0x6372656472656701


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # a no-op answer "memory" for :memory:
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


@contextmanager
def schema_creation_lock(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})


@contextmanager
def schema_creation_lock_for_url(database_url: str) -> Iterator[None]:
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        with schema_creation_lock(engine):
            yield
    finally:
        engine.dispose()
