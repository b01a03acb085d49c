"""Rebuilding every read model from the audited envelopes, in a process of its own
(projections/writer_process.py). The replay is the audit's busiest process, so the writer
opens and collects the envelopes itself: the replay only hands over their sealed bytes."""

from __future__ import annotations

from typing import Any

from projections.writer_process import WriterProcess

PROJECTION_BATCH_ENVELOPES = 2_000
REBUILD_SOURCE = "audit"


class ProjectionRebuild:
    """Rebuilds every read model from the audited envelopes in a process of its own, fed
    through a bounded queue. Writing rows was a third of the rules' process; now the rules,
    the rows and the signature workers each have a core to run on."""

    def __init__(self, url: str, context: Any) -> None:
        self.writer = WriterProcess(url, context)
        self.pending: list[bytes] = []

    def add(self, sealed: bytes) -> None:
        self.pending.append(sealed)
        if len(self.pending) >= PROJECTION_BATCH_ENVELOPES:
            self.flush()

    def flush(self) -> None:
        self.writer.apply_sealed(REBUILD_SOURCE, self.pending)
        self.pending = []

    def finish(self) -> None:
        self.flush()
        try:
            self.writer.finish()
        except RuntimeError as error:
            raise RuntimeError(f"the projection rebuild failed: {error}") from None
