"""The audit's signature checks beside the replay: every actor signature (and co-signature)
in a pool of worker processes, one chunk at a time, and the registry's countersignature once
a chunk, on its last envelope. The replay checked every hash link of the chunk in order, so
that one countersignature authenticates every envelope of the chunk byte for byte. A chunk
ends early at a registry-key handover, so that it never spans two registry keys.

A chunk's envelopes reach the projection rebuild only once its countersignature verified.
When it does not, each envelope's own countersignature is checked in turn: the first that
fails is reported as altered after sealing at its own position, where the audit stops, and
only the envelopes before it are rebuilt (and their actor findings reported)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from registry.audit.replay import (
    ALTERED,
    ActorTask,
    Discrepancy,
    SignatureWork,
    Stop,
    actor_failure,
)
from registry.envelope.keys import verify
from registry.envelope.sealing import OpenedEnvelope
from registry.transparency.chain import RUN_ENVELOPES_MAX

CHUNK_ENVELOPES_MAX = 512  # a chunk ends early at a handover
CHUNKS_IN_FLIGHT_PER_WORKER = 2  # bounded: memory stays flat
assert CHUNK_ENVELOPES_MAX <= RUN_ENVELOPES_MAX, "a chunk is a run of the chain"
Verdict = tuple[bool, list[tuple[int, str, str]]]  # the seal holds; (position, reason, event)
Verdicts = list[tuple[list[Discrepancy], Stop | None]]  # settled chunks: findings, a stop


def verify_chunk(tasks: list[ActorTask], seal: tuple[bytes, bytes, bytes]) -> Verdict:
    """In a worker: the chunk's last countersignature, and every actor's signature."""
    registry_public_key, registry_signature, body_bytes = seal
    sealed = verify(registry_public_key, registry_signature, body_bytes)
    failures = []
    for task in tasks:
        reason = actor_failure(task)
        if reason is not None:
            failures.append((task[0], reason, task[1]))
    return sealed, failures


# What a chunk keeps of each envelope: its bytes, not its decoded body (twice the memory,
# for thousands of envelopes in flight). (sealed bytes, registry signature, body bytes)
Sealed = tuple[bytes, bytes, bytes]


@dataclass
class _Chunk:
    works: list[SignatureWork] = field(default_factory=list)
    envelopes: list[Sealed] = field(default_factory=list)
    rebuilt: list[bool] = field(default_factory=list)  # whether each goes to the rebuild


@dataclass
class SignatureChecks:
    """Chunks on their way through the pool, in order. `rebuild` is given the sealed bytes
    of each envelope once its chunk has verified."""

    pool: ProcessPoolExecutor
    workers: int
    rebuild: Callable[[bytes], None]
    chunk: _Chunk = field(default_factory=_Chunk)
    in_flight: deque[tuple[Future[Verdict], _Chunk]] = field(default_factory=deque)
    altered_at: int | None = None  # nothing from here on is rebuilt

    def add(
        self, work: SignatureWork, envelope: OpenedEnvelope, rebuilt: bool, last: bool = False
    ) -> Verdicts:
        """Queue one replayed envelope; `last`: it ends its chunk (a handover). Returns the
        verdicts of chunks settled meanwhile."""
        self.chunk.works.append(work)
        self.chunk.envelopes.append(
            (envelope.sealed_bytes, envelope.registry_signature, envelope.body_bytes)
        )
        self.chunk.rebuilt.append(rebuilt)
        if last or len(self.chunk.works) >= CHUNK_ENVELOPES_MAX:
            return self.flush()
        return []

    def flush(self) -> Verdicts:
        """Send the gathered chunk to the pool, then settle while too many are out."""
        chunk, self.chunk = self.chunk, _Chunk()
        if chunk.works:
            _sealed_bytes, registry_signature, body_bytes = chunk.envelopes[-1]
            seal = (chunk.works[-1].registry_public_key, registry_signature, body_bytes)
            tasks = [each.task() for each in chunk.works]
            self.in_flight.append((self.pool.submit(verify_chunk, tasks, seal), chunk))
        settled: Verdicts = []
        while len(self.in_flight) > CHUNKS_IN_FLIGHT_PER_WORKER * self.workers:
            settled.append(self._settle(*self.in_flight.popleft()))
        return settled

    def drain(self) -> Verdicts:
        settled = self.flush()
        while self.in_flight:
            settled.append(self._settle(*self.in_flight.popleft()))
        return settled

    def _settle(
        self, verdict: Future[Verdict], chunk: _Chunk
    ) -> tuple[list[Discrepancy], Stop | None]:
        sealed, failures = verdict.result()
        count, stop, findings = len(chunk.works), None, list[Discrepancy]()
        if not sealed:
            count = _first_altered(chunk)
            if count < len(chunk.works):
                work = chunk.works[count]
                findings.append(Discrepancy(work.position, ALTERED, work.event))
                stop = Stop(work.position, "altered after sealing: its true content is unknown")
        verified_before = chunk.works[count - 1].position if count else 0
        findings[:0] = [
            Discrepancy(position, reason, event)
            for position, reason, event in failures
            if position <= verified_before
        ]
        if self.altered_at is None:
            for (sealed_bytes, _signature, _body), rebuilt in zip(
                chunk.envelopes[:count], chunk.rebuilt, strict=False
            ):
                if rebuilt:
                    self.rebuild(sealed_bytes)
            if stop is not None:
                self.altered_at = stop.position
        return findings, stop


def _first_altered(chunk: _Chunk) -> int:
    """The index of the chunk's first envelope whose own countersignature fails."""
    for index, (work, (_sealed, signature, body)) in enumerate(
        zip(chunk.works, chunk.envelopes, strict=True)
    ):
        if not verify(work.registry_public_key, signature, body):
            return index
    return len(chunk.works)
