"""Rebuilding every read model from the audited envelopes, in a process of its own."""

from __future__ import annotations

import os
import queue
from typing import Any

from projections.store import ProjectionStore
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import open_sealed
from registry.support.worker_pool import exit_with_parent

PROJECTION_BATCH_ENVELOPES = 2_000
PROJECTION_QUEUE_BATCHES = 4  # bounded: at most this many batches wait for the rebuilder
PUT_TIMEOUT_S = 1.0


def _rebuild_projection(url: str, batches: Any, parent_pid: int) -> None:
    """The rebuild's own process: opens each batch of sealed envelopes again (the decode is
    work this process does, not the rules' process) and applies it with its position."""
    exit_with_parent(parent_pid)
    store = ProjectionStore(url)
    schemas = SchemaRegistry()
    while (batch := batches.get()) is not None:
        envelopes = [open_sealed(schemas, sealed) for sealed in batch]
        store.apply("audit", 0, envelopes[-1].body.position + 1, envelopes)
    store.engine.dispose()


class ProjectionRebuild:
    """Rebuilds every read model from the audited envelopes in a process of its own, fed
    through a bounded queue. Writing rows was a third of the rules' process; now the rules,
    the rows and the signature workers each have a core to run on."""

    def __init__(self, url: str, context: Any) -> None:
        self.batches = context.Queue(maxsize=PROJECTION_QUEUE_BATCHES)
        self.process = context.Process(
            target=_rebuild_projection,
            args=(url, self.batches, os.getpid()),
            name="audit-projection",
        )
        self.process.start()
        self.pending: list[bytes] = []

    def add(self, sealed: bytes) -> None:
        self.pending.append(sealed)
        if len(self.pending) >= PROJECTION_BATCH_ENVELOPES:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self._put(self.pending)
            self.pending = []

    def finish(self) -> None:
        self.flush()
        self._put(None)
        self.process.join()
        if self.process.exitcode != 0:
            raise RuntimeError(f"the projection rebuild failed (exit {self.process.exitcode})")

    def _put(self, batch: list[bytes] | None) -> None:
        # A full queue waits for the rebuilder, but never for one that has died.
        while True:
            try:
                self.batches.put(batch, timeout=PUT_TIMEOUT_S)
                return
            except queue.Full:
                if not self.process.is_alive():
                    raise RuntimeError("the projection rebuild stopped") from None
