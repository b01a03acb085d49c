"""Processes that start together each create the tables they need; on PostgreSQL the
check-then-create must not race (it once failed a relay that started beside the service)."""

from __future__ import annotations

import multiprocessing

import sqlalchemy as sa

from projections import tables as projection_tables
from projections.apply import applied_positions

START_METHOD = "spawn"
PROCESSES = 12


def _create_every_table(database_url: str) -> str:
    from projections.store import ProjectionStore
    from registry.log.embedded import EmbeddedLog
    from registry.relay.positions import RelayPositions
    from registry.transparency.checkpoints import CheckpointStore
    from registry.write.persistence import event_store_recorder

    event_store_recorder(database_url)
    engine = sa.create_engine(database_url)
    RelayPositions(engine)
    CheckpointStore(engine)
    EmbeddedLog(engine)
    ProjectionStore(database_url)
    engine.dispose()
    return "ok"


def test_processes_starting_together_create_the_schema_once(postgres_url: str) -> None:
    context = multiprocessing.get_context(START_METHOD)
    with context.Pool(PROCESSES) as pool:
        outcomes = pool.map(_create_every_table, [postgres_url] * PROCESSES)
    assert outcomes == ["ok"] * PROCESSES
    engine = sa.create_engine(postgres_url)
    created = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    assert {applied_positions.name, *projection_tables.metadata.tables} <= created
