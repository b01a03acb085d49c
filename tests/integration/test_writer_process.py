"""The projection writer in a process of its own (what a long catch-up uses): it builds the
rows the in-process store builds, counts only new positions, and a writer that cannot write
stops the reader with an error instead of leaving it waiting."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from projections.store import ProjectionStore
from projections.writer_process import WriterProcess
from registry.audit.sources import DatabaseSource
from registry.envelope.sealing import OpenedEnvelope
from tests.support.history import World, random_history

BATCH_ENVELOPES = 40


def _envelopes(sqlite_url: str) -> list[OpenedEnvelope]:
    found = [item for item in DatabaseSource(sqlite_url).items()]
    assert all(isinstance(item, OpenedEnvelope) for item in found)
    return [item for item in found if isinstance(item, OpenedEnvelope)]


def test_the_writer_process_builds_what_the_store_builds(
    world: World, sqlite_url: str, tmp_path: Path
) -> None:
    random_history(world, 120, seed=11)
    envelopes = _envelopes(sqlite_url)
    in_process = ProjectionStore(f"sqlite:///{tmp_path / 'in-process.sqlite'}")
    separate = ProjectionStore(f"sqlite:///{tmp_path / 'separate.sqlite'}")
    writer = WriterProcess(separate.url, multiprocessing.get_context("spawn"))
    for start in range(0, len(envelopes), BATCH_ENVELOPES):
        batch = envelopes[start : start + BATCH_ENVELOPES]
        offsets = {0: start + len(batch)}
        in_process.apply_reaching("kafka:t", offsets, batch)
        assert writer.apply_reaching("kafka:t", offsets, batch) == 0  # counted at the end
    again = {0: len(envelopes)}, envelopes[:5]  # positions applied before: not new
    assert in_process.apply_reaching("kafka:t", *again) == 0
    writer.apply_reaching("kafka:t", *again)
    assert writer.finish() == len(envelopes)
    assert in_process.dump() == separate.dump()
    assert separate.progress("kafka:t")[0].next_offset == len(envelopes)


def test_a_writer_that_cannot_write_stops_the_reader(world: World, sqlite_url: str) -> None:
    random_history(world, 10, seed=12)
    envelopes = _envelopes(sqlite_url)
    writer = WriterProcess(
        "sqlite:////nonexistent-directory/projections.sqlite", multiprocessing.get_context("spawn")
    )
    with pytest.raises(RuntimeError, match="the projection writer stopped"):
        for _ in range(100):  # the queue holds a few batches; then the death is seen
            writer.apply_reaching("kafka:t", {0: len(envelopes)}, envelopes)
        writer.finish()
    writer.abort()
