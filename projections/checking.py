"""Checking polled records before they are projected: each record is opened and, given the
registry's public keys, its countersignature verified against the key history (the key that
seals its position, per the pinned key and the handovers known when it is checked).
Verification is most of a record's cost, so with workers it runs in a process pool
(spawned: the caller may hold threads) on chunks of a batch, while this process decodes and
writes; a record that fails is skipped with its reason (the log reader moves such records to
quarantine)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from registry.domain.checks import InvariantViolation
from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope
from registry.log import check_record, parse_position
from registry.support.worker_pool import spawn_pool
from registry.transparency.registry_keys import Keys, RegistryKeyHistory, history_of

logger = logging.getLogger(__name__)
CHECK_CHUNK_RECORDS = 500  # per task: large enough to amortise the hand-over, small to share


@cache
def _worker_schemas() -> SchemaRegistry:
    """One schema registry per worker process, built on its first chunk."""
    return SchemaRegistry()


def _check_chunk(
    registry_public_keys: RegistryKeyHistory, records: Sequence[tuple[int | None, bytes]]
) -> list[str | None]:
    """In a worker: the reason each record fails, None for those that verify."""
    schemas = _worker_schemas()
    reasons: list[str | None] = []
    for position, value in records:
        try:
            check_record(schemas, registry_public_keys, position, value)
            reasons.append(None)
        except EnvelopeError as error:
            reasons.append(error.reason)
    return reasons


@dataclass
class PendingCheck:
    """A polled batch on its way through the checker: its records, and the pool's verdicts."""

    records: list[tuple[int | None, bytes]]
    offsets: list[int]
    verdicts: list[Future[list[str | None]]] = field(default_factory=list)


class RecordChecker:
    def __init__(self, registry_public_keys: Keys | None, workers: int | None = None) -> None:
        """`workers`: processes verifying signatures (None: one per core; 0: this process).
        The key history may learn handovers meanwhile (runner.py keeps it up to date)."""
        self.schemas = SchemaRegistry()
        self.registry_public_keys = (
            history_of(registry_public_keys) if registry_public_keys else None
        )
        workers = os.cpu_count() or 1 if workers is None else workers
        self.pool: ProcessPoolExecutor | None = None
        if self.registry_public_keys is not None and workers > 0:
            self.pool = spawn_pool(workers)

    def submit(self, messages: Sequence[Any]) -> PendingCheck:
        """Hand a polled batch's signatures to the pool; returns at once."""
        pending = PendingCheck(
            [(parse_position(dict(m.headers or [])), m.value) for m in messages],
            [m.offset for m in messages],
        )
        if self.pool is not None:
            if self.registry_public_keys is None:
                raise InvariantViolation("a signature pool exists only to verify")
            for start in range(0, len(pending.records), CHECK_CHUNK_RECORDS):
                chunk = pending.records[start : start + CHECK_CHUNK_RECORDS]
                pending.verdicts.append(
                    self.pool.submit(_check_chunk, self.registry_public_keys, chunk)
                )
        return pending

    def envelopes(self, partition: int, pending: PendingCheck) -> list[OpenedEnvelope]:
        """The batch's trustworthy envelopes, in order, once the pool has answered."""
        if self.pool is not None:
            reasons = [reason for verdict in pending.verdicts for reason in verdict.result()]
            keys = None  # verified in the pool: only decoding is left
        else:
            reasons = [None] * len(pending.records)
            keys = self.registry_public_keys
        result = []
        for (position, value), offset, reason in zip(
            pending.records, pending.offsets, reasons, strict=True
        ):
            try:
                if reason is not None:
                    raise EnvelopeError(reason, position)
                result.append(check_record(self.schemas, keys, position, value))
            except EnvelopeError as error:
                logger.warning(
                    "skipping partition %d offset %d: %s", partition, offset, error.reason
                )
        return result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
