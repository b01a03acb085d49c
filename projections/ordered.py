"""The projection catch-up as one in-order reader of every partition: records merged back into
global order by their position header, the chain verified (every hash link, one
countersignature a run: transparency/chain.py) before a batch is applied, and each
partition's progress stored with the rows: its first record not yet applied or dropped.

Records keyed by actor spread over partitions, so one partition runs ahead of another; its
records wait until the positions before them arrive. A re-sent record (the same bytes
again) is dropped. Two different records for one waiting position are each checked on their
own at once: one whose countersignature fails is dropped, and of two that verify (an
equivocation) the second is dropped, with a warning. A record that does not open, or whose
place or seal fails in the chain, is dropped with a warning and its position waited for
again: a forged record cannot take the place of the real one."""

from __future__ import annotations

import heapq
import logging
import multiprocessing
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from projections.store import ProjectionStore
from projections.writer_process import WriterProcess
from registry.domain.ledger import GENESIS_HASH
from registry.envelope.codec import Codec
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope, envelope_hash, open_sealed
from registry.log import parse_position
from registry.transparency.chain import ChainHead, verified_runs
from registry.transparency.registry_keys import RegistryKeyHistory, follow_envelope

logger = logging.getLogger(__name__)
RECENT_POSITIONS = 100_000  # re-sends come from the last relay batches, far fewer back
WAITING_RECORDS_MAX = 200_000  # records held while a slower partition catches up
IDLE_POLLS_MAX = 120  # a topic that sends nothing this many polls while behind is away
# A backlog this long is written by a process of its own (projections/writer_process.py):
# starting one takes about a second, which a shorter catch-up would not win back.
WRITER_PROCESS_BACKLOG_RECORDS_MIN = 50_000


class Sink(Protocol):
    """Where verified batches go: the store itself, or its writer process."""

    def apply_reaching(
        self, source: str, next_offsets: Mapping[int, int], envelopes: Sequence[OpenedEnvelope]
    ) -> int: ...


@dataclass(frozen=True, slots=True)
class Waiting:
    envelope: OpenedEnvelope
    digest: bytes
    partition: int
    offset: int

    @property
    def position(self) -> int:
        return self.envelope.body.position


@dataclass
class OrderedMerge:
    """Polled records in; contiguous batches of opened (not yet verified) envelopes out."""

    next_position: int
    history: RegistryKeyHistory
    codec: Codec = field(default_factory=Codec)
    waiting: dict[int, Waiting] = field(default_factory=dict)
    heap: list[int] = field(default_factory=list)  # the waiting positions
    recent: OrderedDict[int, bytes] = field(default_factory=OrderedDict)  # applied: digests
    consumed: dict[int, int] = field(default_factory=dict)  # partition -> next offset read

    def add(self, partition: int, message: Any) -> None:
        self.consumed[partition] = message.offset + 1
        where = f"partition {partition} offset {message.offset}"
        position = parse_position(dict(message.headers or []))
        try:
            if position is None:
                raise EnvelopeError("missing or malformed position header")
            envelope = open_sealed(self.codec.schemas, message.value)
            if envelope.body.position != position:
                raise EnvelopeError(f"position header {position} differs from the envelope's")
        except EnvelopeError as error:
            logger.warning("skipping %s: %s", where, error.reason)
            return
        digest = envelope_hash(message.value)
        if position < self.next_position or position in self.recent:
            if self.recent.get(position, digest) != digest:
                logger.warning("skipping %s: a different record holds position %d", where, position)
            return  # already applied (a re-send, or a restart's overlap)
        self._wait(Waiting(envelope, digest, partition, message.offset), where)

    def _wait(self, record: Waiting, where: str) -> None:
        earlier = self.waiting.get(record.position)
        if earlier is None:
            if len(self.waiting) >= WAITING_RECORDS_MAX:
                raise RuntimeError("a partition is too far behind the others")
            self.put_back([record])
        elif earlier.digest == record.digest:
            return  # a re-send while the first copy waits
        elif not self._sealed(earlier.envelope):
            self.waiting[record.position] = record
            logger.warning("dropped the record waiting at %d: its seal fails", record.position)
        elif self._sealed(record.envelope):
            logger.warning("skipping %s: equivocation at position %d", where, record.position)
        else:
            logger.warning("skipping %s: its seal fails", where)

    def _sealed(self, envelope: OpenedEnvelope) -> bool:
        try:
            self.history.check(envelope)
        except EnvelopeError:
            return False
        return True

    def take(self, envelopes_max: int) -> list[Waiting]:
        """The waiting records from the next position on, without a gap, taken out."""
        found: list[Waiting] = []
        while self.heap and self.heap[0] == self.next_position and len(found) < envelopes_max:
            found.append(self.waiting.pop(heapq.heappop(self.heap)))
            self.next_position += 1
        return found

    def put_back(self, records: Sequence[Waiting]) -> None:
        for record in records:
            self.waiting[record.position] = record
            heapq.heappush(self.heap, record.position)
            self.next_position = min(self.next_position, record.position)

    def applied(self, records: Sequence[Waiting]) -> None:
        for record in records:
            self.recent[record.position] = record.digest
        while len(self.recent) > RECENT_POSITIONS:
            self.recent.popitem(last=False)

    def next_offsets(self) -> dict[int, int]:
        """Per partition: the first offset not yet applied or dropped (every record before
        it is one or the other), where a restarted reader seeks."""
        offsets = dict(self.consumed)
        for record in self.waiting.values():
            offsets[record.partition] = min(offsets[record.partition], record.offset)
        return offsets


def catch_up_in_order(
    store: ProjectionStore,
    consumer: KafkaConsumer,
    partitions: list[TopicPartition],
    source: str,
    history: RegistryKeyHistory,
    applied_through: int,
    batch_envelopes: int,
    poll_timeout_ms: int,
    writer_process: bool | None = None,
) -> int:
    """Read every partition to the end offsets seen at the start, applying verified
    batches after position `applied_through` (all of 1..applied_through are applied).
    `writer_process`: write in a process of its own (None: when the backlog is long)."""
    merge = OrderedMerge(applied_through + 1, history)
    head = ChainHead(applied_through, GENESIS_HASH)
    if applied_through:
        sealed = store.sealed_at(applied_through)  # the first link's anchor, when kept
        head.hash = None if sealed is None else envelope_hash(sealed)
        for envelope in store.handover_envelopes(applied_through):
            history.check(envelope)  # the key history up to there, from what was projected
            follow_envelope(history, merge.codec, envelope)
    progress = store.progress(source)
    for partition in partitions:
        known = progress.get(partition.partition)
        offset = known.next_offset if known else consumer.beginning_offsets([partition])[partition]
        consumer.seek(partition, offset)
        merge.consumed[partition.partition] = offset
    end_offsets = consumer.end_offsets(partitions)
    backlog = sum(end_offsets[p] - merge.consumed[p.partition] for p in partitions)
    if writer_process is None:
        writer_process = backlog >= WRITER_PROCESS_BACKLOG_RECORDS_MIN
    if not writer_process:
        return _read_to_end(
            consumer, end_offsets, merge, head, store, source, batch_envelopes, poll_timeout_ms
        )
    writer = WriterProcess(store.url, multiprocessing.get_context("spawn"))
    try:
        _read_to_end(
            consumer, end_offsets, merge, head, writer, source, batch_envelopes, poll_timeout_ms
        )
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def _read_to_end(
    consumer: KafkaConsumer,
    end_offsets: Mapping[TopicPartition, int],
    merge: OrderedMerge,
    head: ChainHead,
    sink: Sink,
    source: str,
    batch_envelopes: int,
    poll_timeout_ms: int,
) -> int:
    applied = idle_polls = 0
    while any(consumer.position(p) < end for p, end in end_offsets.items()):
        polled = consumer.poll(timeout_ms=poll_timeout_ms)
        idle_polls = 0 if polled else idle_polls + 1
        if idle_polls > IDLE_POLLS_MAX:
            raise KafkaError(f"no records for {IDLE_POLLS_MAX * poll_timeout_ms} ms")
        for partition, messages in polled.items():
            for message in messages:
                merge.add(partition.partition, message)
        while batch := merge.take(batch_envelopes):
            applied += _apply_verified(sink, source, merge, head, batch)
    if merge.waiting:
        logger.warning(
            "%d records wait for position %d, which the topic does not hold",
            len(merge.waiting),
            merge.next_position,
        )
    return applied


def _apply_verified(
    sink: Sink, source: str, merge: OrderedMerge, head: ChainHead, batch: list[Waiting]
) -> int:
    """Verify a contiguous batch as a chain and apply what verifies, with every partition's
    progress, in one transaction. The first record that fails is dropped; those after it
    wait again (the real record for its position may still come)."""
    good: list[Waiting] = []
    runs = verified_runs(
        (record.envelope for record in batch), merge.history, merge.codec.schemas, head
    )
    try:
        for run in runs:
            for envelope in run:
                follow_envelope(merge.history, merge.codec, envelope)
                good.append(batch[len(good)])
    except EnvelopeError as error:
        failed = batch[len(good)]
        logger.warning(
            "skipping partition %d offset %d (position %d): %s",
            failed.partition,
            failed.offset,
            failed.position,
            error.reason,
        )
        merge.put_back(batch[len(good) + 1 :])
        merge.next_position = failed.position
    merge.applied(good)
    return sink.apply_reaching(source, merge.next_offsets(), [r.envelope for r in good])
