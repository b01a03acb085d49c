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
# Read models on SQLite: a page cache per connection sized for the pages their queries and
# merges keep coming back to (indexes of balances and serial pieces), well above SQLite's
# default 2 MiB. No memory map: its pages count in a process's memory, which then grows
# with the file (the audit's rebuild at 100,000 envelopes: 138 -> 219 MB).
READ_MODEL_CACHE_KIB = 32 * 1024


@sa.event.listens_for(sa.Engine, "connect")
def _sqlite_write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # a no-op answer "memory" for :memory:
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


def tune_for_read_models(engine: sa.Engine) -> None:
    """SQLite read models: the page cache above, temporary tables in memory, and
    synchronous=NORMAL. In write-ahead-log mode that still never corrupts the file; a power
    cut may lose the last few commits, and with them the progress stored beside their rows,
    so the projection reads those envelopes again from the log. The event store keeps FULL:
    an acknowledged command must survive."""
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _read_model_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA cache_size=-{READ_MODEL_CACHE_KIB}")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute("PRAGMA synchronous=NORMAL")
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
