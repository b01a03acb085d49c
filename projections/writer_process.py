"""The projection writer in a process of its own, fed through a bounded queue.

A reader that has verified what it read (a long catch-up from Kafka, the audit's rebuild)
hands each batch's sealed bytes and the progress it reached to this process, which opens
them again and applies them in one transaction a batch, as ProjectionStore.apply_reaching
does in-process. Reading, opening and verifying then run on one core and writing rows on
the other: in one process the reader's work and the writer's took turns (the writer is
about two thirds of a catch-up). Only verified bytes cross the queue; opening them again
here costs less than sending opened envelopes would (pickling them is as dear as decoding).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Mapping, Sequence
from typing import Any

from projections.store import ProjectionStore
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import OpenedEnvelope, open_sealed
from registry.support.worker_pool import exit_with_parent

WRITER_QUEUE_BATCHES = 4  # bounded: at most this many batches wait for the writer
PUT_TIMEOUT_S = 1.0
RESULT_TIMEOUT_S = 1.0
Batch = tuple[str, dict[int, int], list[bytes]]  # source, next offset per partition, sealed


def _write(url: str, batches: Any, results: Any, parent_pid: int) -> None:
    """The writer's own process: applies each batch; at the end, reports how many were new."""
    exit_with_parent(parent_pid)
    store = ProjectionStore(url)
    schemas = SchemaRegistry()
    applied = 0
    while (batch := batches.get()) is not None:
        source, next_offsets, sealed = batch
        envelopes = [open_sealed(schemas, each) for each in sealed]
        applied += store.apply_reaching(source, next_offsets, envelopes)
    store.engine.dispose()
    results.put(applied)


class WriterProcess:
    """ProjectionStore.apply_reaching, in a process of its own; `finish` says how many of
    the envelopes were new. Fails loudly, never silently: a writer that died stops the
    reader at its next batch."""

    def __init__(self, url: str, context: Any) -> None:
        self.batches = context.Queue(maxsize=WRITER_QUEUE_BATCHES)
        self.results = context.Queue(maxsize=1)
        self.process = context.Process(
            target=_write,
            args=(url, self.batches, self.results, os.getpid()),
            name="projection-writer",
        )
        self.process.start()

    def apply_reaching(
        self, source: str, next_offsets: Mapping[int, int], envelopes: Sequence[OpenedEnvelope]
    ) -> int:
        """Queued, not yet applied: counted by `finish`."""
        self._put((source, dict(next_offsets), [each.sealed_bytes for each in envelopes]))
        return 0

    def finish(self) -> int:
        self._put(None)
        while True:
            try:
                applied: int = self.results.get(timeout=RESULT_TIMEOUT_S)
                break
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError(self._stopped()) from None
        self.process.join()
        return applied

    def abort(self) -> None:
        """The reader failed: what the writer has not committed is dropped (the progress
        stored with each batch says where a next reader resumes)."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join()
        # Batches still buffered for a writer that is gone must not hold this process's
        # exit: without this the queue's feeder thread waits for a reader forever.
        self.batches.cancel_join_thread()

    def _put(self, batch: Batch | None) -> None:
        # A full queue waits for the writer, but never for one that has died.
        while True:
            try:
                self.batches.put(batch, timeout=PUT_TIMEOUT_S)
                return
            except queue.Full:
                if not self.process.is_alive():
                    raise RuntimeError(self._stopped()) from None

    def _stopped(self) -> str:
        return f"the projection writer stopped (exit {self.process.exitcode})"
