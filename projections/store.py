"""The projection database: tables, progress per source partition, and applying a batch of
envelopes together with the progress it reached, in one transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from projections import tables as t
from projections.apply import Projector, applied_positions
from projections.bulk import insert_rows
from projections.pending import PendingRows
from projections.public_tables import log_entries
from projections.write import write
from registry.domain.checks import InvariantViolation
from registry.envelope.sealing import OpenedEnvelope, open_sealed
from registry.support.database import schema_creation_lock, tune_for_read_models
from registry.support.observability import PROJECTED

logger = logging.getLogger(__name__)


def projection_engine(url: str) -> sa.Engine:
    """SQLite gets BEGIN IMMEDIATE: a writer takes the lock when it starts, not when it first
    writes, so two workers never deadlock upgrading read locks."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 60})
    tune_for_read_models(engine)

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def snapshot_engine(url: str) -> sa.Engine:
    """An engine whose transactions read one consistent state: REPEATABLE READ on
    PostgreSQL; on SQLite an explicit deferred BEGIN, so every read of the transaction sees
    the one write-ahead-log snapshot its first read took (and takes no write lock)."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, isolation_level="REPEATABLE READ", poolclass=NullPool)
    engine = sa.create_engine(url, connect_args={"timeout": 60}, poolclass=NullPool)
    tune_for_read_models(engine)

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin_deferred(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


@dataclass(frozen=True)
class Snapshot:
    """Every read-model row and the positions they were built from, read at one instant."""

    positions: list[tuple[int, int]]  # applied positions as inclusive ranges, in order
    tables: dict[str, list[tuple[Any, ...]]]

    @property
    def position_count(self) -> int:
        return sum(last - first + 1 for first, last in self.positions)


@dataclass(frozen=True)
class Progress:
    next_offset: int
    last_position: int
    events_applied: int


class ProjectionStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = projection_engine(url)
        self.projector = Projector()
        with schema_creation_lock(self.engine):
            t.metadata.create_all(self.engine)

    def progress(self, source: str) -> dict[int, Progress]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(t.progress).where(t.progress.c.source == source)
            ).all()
        return {
            row.partition: Progress(row.next_offset, row.last_position, row.events_applied)
            for row in rows
        }

    def applied_count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.scalar(sa.select(sa.func.count()).select_from(applied_positions)) or 0
            )

    def has_applied_through(self, position: int) -> bool:
        """True when every position up to `position` has been applied (read your writes)."""
        with self.engine.connect() as connection:
            count = connection.scalar(
                sa.select(sa.func.count())
                .select_from(applied_positions)
                .where(applied_positions.c.position <= position)
            )
        return int(count or 0) >= position

    def apply(
        self,
        source: str,
        partition: int,
        next_offset: int,
        envelopes: Sequence[OpenedEnvelope],
        pause_before_commit_ms: int = 0,
    ) -> int:
        """Apply envelopes read from one partition up to `next_offset`. Returns how many
        were new; positions already applied anywhere are skipped."""
        return self.apply_reaching(
            source, {partition: next_offset}, envelopes, pause_before_commit_ms
        )

    def apply_reaching(
        self,
        source: str,
        next_offsets: Mapping[int, int],
        envelopes: Sequence[OpenedEnvelope],
        pause_before_commit_ms: int = 0,
    ) -> int:
        """Apply envelopes read from the partitions in `next_offsets`, each up to its
        offset there (an in-order reader takes every partition at once), in one
        transaction. Returns how many were new."""
        positions = [envelope.body.position for envelope in envelopes]
        return self._apply(
            source, next_offsets, positions, lambda: envelopes, None, pause_before_commit_ms
        )

    def apply_collected(
        self,
        source: str,
        next_offsets: Mapping[int, int],
        positions: Sequence[int],
        collected: PendingRows,
        envelopes: Callable[[], Sequence[OpenedEnvelope]],
    ) -> int:
        """As apply_reaching, with the rows a reader already collected from the envelopes
        at `positions` (projections/writer_process.py). `envelopes` opens them again, only
        when some were applied before: then only the new ones are collected here."""
        return self._apply(source, next_offsets, positions, envelopes, collected, 0)

    def _apply(
        self,
        source: str,
        next_offsets: Mapping[int, int],
        positions: Sequence[int],
        envelopes: Callable[[], Sequence[OpenedEnvelope]],
        collected: PendingRows | None,
        pause_before_commit_ms: int,
    ) -> int:
        with self.engine.begin() as connection:
            seen = self._seen(connection, positions)
            if collected is None or seen or len(set(positions)) != len(positions):
                fresh = self._fresh(envelopes(), seen)
                positions_new = [envelope.body.position for envelope in fresh]
                collected = self.projector.collect(fresh)
            else:
                positions_new = list(positions)  # every one is new: the reader's rows hold
            if positions_new:
                insert_rows(connection, applied_positions, [{"position": p} for p in positions_new])
                write(connection, collected)
            for number, (partition, next_offset) in enumerate(sorted(next_offsets.items())):
                self._advance(
                    connection,
                    source,
                    partition,
                    next_offset,
                    max(positions, default=0),
                    len(positions_new) if number == 0 else 0,
                )
            if pause_before_commit_ms:
                logger.warning("applied %d envelopes, pausing before commit", len(positions_new))
                time.sleep(pause_before_commit_ms / 1_000)
        PROJECTED.labels(source).inc(len(positions_new))
        return len(positions_new)

    @staticmethod
    def _seen(connection: sa.Connection, positions: Sequence[int]) -> set[int]:
        """Which of `positions` were applied before."""
        seen: set[int] = set()
        column = applied_positions.c.position
        for chunk_start in range(0, len(positions), 500):
            chunk = positions[chunk_start : chunk_start + 500]
            seen.update(connection.scalars(sa.select(column).where(column.in_(chunk))))
        return seen

    @staticmethod
    def _fresh(envelopes: Sequence[OpenedEnvelope], seen: set[int]) -> list[OpenedEnvelope]:
        """The envelopes whose positions are not in `seen`, each once."""
        seen = set(seen)
        fresh: list[OpenedEnvelope] = []
        for envelope in envelopes:
            if envelope.body.position not in seen:
                seen.add(envelope.body.position)  # a duplicate inside the same batch
                fresh.append(envelope)
        return fresh

    def contiguous_head(self) -> int | None:
        """P when exactly the positions 1..P are applied (an in-order reader's store, or an
        empty one: 0); None when some position below the highest is missing."""
        with self.engine.connect() as connection:
            count, highest = connection.execute(
                sa.select(sa.func.count(), sa.func.max(applied_positions.c.position))
            ).one()
        return int(highest or 0) if int(count or 0) == int(highest or 0) else None

    def handover_envelopes(self, through: int) -> list[OpenedEnvelope]:
        """The projected envelopes up to `through` that a reader following the registry's
        key history from the pinned key needs: the first, and every handover."""
        e = log_entries.c
        with self.engine.connect() as connection:
            rows = connection.scalars(
                sa.select(e.sealed_envelope)
                .where(e.position <= through)
                .where(sa.or_(e.position == 1, e.event_types.like("%RegistryKeyRotated%")))
                .order_by(e.position)
            ).all()
        return [open_sealed(self.projector.codec.schemas, bytes(row)) for row in rows]

    def sealed_at(self, position: int) -> bytes | None:
        """The sealed envelope projected at `position` (the public view keeps its bytes)."""
        with self.engine.connect() as connection:
            value = connection.scalar(
                sa.select(log_entries.c.sealed_envelope).where(log_entries.c.position == position)
            )
        return None if value is None else bytes(value)

    def _advance(
        self,
        connection: sa.Connection,
        source: str,
        partition: int,
        next_offset: int,
        position: int,
        applied: int,
    ) -> None:
        p = t.progress.c
        current = connection.execute(
            sa.select(t.progress).where(p.source == source, p.partition == partition)
        ).first()
        if current is None:
            connection.execute(
                t.progress.insert().values(
                    source=source,
                    partition=partition,
                    next_offset=next_offset,
                    last_position=position,
                    events_applied=applied,
                )
            )
            return
        if next_offset < current.next_offset:
            raise InvariantViolation(
                f"{source} partition {partition}: offset {next_offset} < {current.next_offset}"
            )
        connection.execute(
            t.progress.update()
            .where(p.source == source, p.partition == partition)
            .values(
                next_offset=next_offset,
                last_position=max(current.last_position, position),
                events_applied=p.events_applied + applied,
            )
        )

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every read-model row, sorted: two stores with equal dumps are identical."""
        with self.engine.connect() as connection:
            return _tables(connection)

    def snapshot(self) -> Snapshot:
        """The rows and the applied positions in one consistent read, while workers may
        go on applying: what a comparison with a rebuild of exactly those positions needs."""
        engine = snapshot_engine(self.url)
        try:
            with engine.begin() as connection:
                column = applied_positions.c.position
                positions: list[tuple[int, int]] = []
                for position in connection.scalars(sa.select(column).order_by(column)):
                    if positions and positions[-1][1] == position - 1:
                        positions[-1] = (positions[-1][0], position)
                    else:
                        positions.append((position, position))
                return Snapshot(positions, _tables(connection))
        finally:
            engine.dispose()


def _tables(connection: sa.Connection) -> dict[str, list[tuple[Any, ...]]]:
    result = {}
    for table in t.READ_MODEL_TABLES:
        rows = connection.execute(sa.select(table)).all()
        result[table.name] = sorted(tuple(row) for row in rows)
    return result
