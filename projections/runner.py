"""Feeding the projection store from a source: the embedded log, one Kafka reader over all
partitions (catch-up and rebuild), or a Kafka consumer-group worker (several processes
share the partitions). Every path ends in ProjectionStore.apply, one transaction a batch."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from itertools import islice
from typing import Any

import sqlalchemy as sa
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError

from projections import witnesses
from projections.checking import PendingCheck, RecordChecker
from projections.checkpoints import KafkaCheckpointFollower, copy_from_event_store
from projections.ordered import catch_up_in_order
from projections.store import ProjectionStore
from registry.log import parse_position
from registry.log.embedded import EmbeddedLog
from registry.log.handovers import HandoverFeed
from registry.log.kafka import CHECKPOINTS_SUFFIX
from registry.support.health import PROCESS_HEALTH, ProcessHealth
from registry.support.observability import PROJECTION_LAG
from registry.transparency.registry_keys import Keys, history_of

logger = logging.getLogger(__name__)
EMBEDDED_SOURCE = "embedded"
BATCH_ENVELOPES = 2_000
POLL_TIMEOUT_MS = 500
POLLS_IN_FLIGHT = 3  # catch-up reads this far ahead of the writer while the pool verifies
LAG_CHECK_INTERVAL_S = 5.0
# A lag figure is not worth stalling the worker for: with the broker away the default wait
# is 30 s, and applying records waits behind it.
LAG_CHECK_TIMEOUT_MS = 2_000
# The projection database refusing or cutting connections: a worker waits and retries.
DATABASE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)
BACKOFF_MS_MIN = 100
BACKOFF_MS_MAX = 5_000
assert 0 < BACKOFF_MS_MIN <= BACKOFF_MS_MAX
assert LAG_CHECK_TIMEOUT_MS < LAG_CHECK_INTERVAL_S * 1_000, "a lag check ends before the next"
# A group worker is ready (caught up) once its partitions are this close to their ends: one
# poll's worth, which a steady stream of new records cannot keep it from reaching.
READY_LAG_RECORDS_MAX = BATCH_ENVELOPES


def kafka_source(topic: str) -> str:
    return "kafka:" + topic


def catch_up_embedded(
    store: ProjectionStore, log: EmbeddedLog, batch_envelopes: int = BATCH_ENVELOPES
) -> int:
    progress = store.progress(EMBEDDED_SOURCE).get(0)
    after = progress.last_position if progress else 0
    applied = 0
    envelopes = log.read(after)
    while chunk := list(islice(envelopes, batch_envelopes)):
        applied += store.apply(EMBEDDED_SOURCE, 0, chunk[-1].body.position + 1, chunk)
        after = chunk[-1].body.position
    copy_from_event_store(store.engine, log.engine, after)  # the log is contiguous up to here
    witnesses.copy_from_event_store(store.engine, log.engine)
    return applied


def _consumer(bootstrap_servers: str, group_id: str | None) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id="credit-registry-projections",
        enable_auto_commit=False,  # offsets live in the projection database, with the rows
        auto_offset_reset="earliest",
        max_poll_records=BATCH_ENVELOPES,
        fetch_max_bytes=32 * 1024 * 1024,
        # A killed worker's partitions move to the others after this long (broker minimum).
        session_timeout_ms=6_000,
        heartbeat_interval_ms=2_000,
    )


Checked = list[tuple[Any, list[Any], PendingCheck]]  # (partition, records, their check)


class _NoFeed:
    """Stands in for the handover feed when records are not checked at all."""

    def refresh(self) -> None: ...

    def close(self) -> None: ...


def _handover_feed(
    checker: RecordChecker, bootstrap_servers: str, topic: str
) -> HandoverFeed | _NoFeed:
    history = checker.registry_public_keys
    if history is None:
        return _NoFeed()
    return HandoverFeed(bootstrap_servers, topic + CHECKPOINTS_SUFFIX, history)


def _submit_polled(
    checker: RecordChecker, feed: HandoverFeed | _NoFeed, batches: Mapping[Any, list[Any]]
) -> Checked:
    """Every partition's records go to the checker at once, so the pool verifies them all
    while this process writes them one partition after another. The handovers are read to
    the end first: the relay published each before the envelopes just polled."""
    if not any(batches.values()):
        return []
    feed.refresh()
    return [
        (partition, messages, checker.submit(messages))
        for partition, messages in sorted(batches.items(), key=lambda item: item[0].partition)
        if messages
    ]


def _apply_checked(
    store: ProjectionStore,
    source: str,
    checker: RecordChecker,
    checks: Checked,
    pause_before_commit_ms: int = 0,
) -> int:
    applied = 0
    for partition, messages, check in checks:
        applied += store.apply(
            source,
            partition.partition,
            messages[-1].offset + 1,
            checker.envelopes(partition.partition, check),
            pause_before_commit_ms,
        )
    return applied


def catch_up_kafka(
    store: ProjectionStore,
    bootstrap_servers: str,
    topic: str,
    registry_public_keys: Keys | None = None,
    workers: int | None = None,
    writer_process: bool | None = None,
) -> int:
    """One reader over every partition, up to the end offsets seen at the start. With keys,
    it reads in global order and verifies the chain (projections/ordered.py), writing a
    long backlog in a process of its own (`writer_process`: None decides by the backlog),
    unless the store holds positions out of order (a consumer group fed it): then every
    countersignature is verified, by `workers` processes (default: one per core) working a
    few polls ahead of the writer."""
    source = kafka_source(topic)
    history = history_of(registry_public_keys) if registry_public_keys else None
    applied_through = store.contiguous_head() if history is not None else None
    in_order = history is not None and applied_through is not None
    checker = RecordChecker(None if in_order else history, workers)
    feed: HandoverFeed | _NoFeed = _NoFeed()
    if history is not None:
        feed = HandoverFeed(bootstrap_servers, topic + CHECKPOINTS_SUFFIX, history)
    consumer = _consumer(bootstrap_servers, None)
    try:
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        consumer.assign(partitions)
        if history is not None and applied_through is not None:
            feed.refresh()  # the handovers before the first position it reads
            applied = catch_up_in_order(
                store,
                consumer,
                partitions,
                source,
                history,
                applied_through,
                BATCH_ENVELOPES,
                POLL_TIMEOUT_MS,
                writer_process,
            )
        else:
            applied = _catch_up_by_partition(store, consumer, partitions, source, checker, feed)
        follower = KafkaCheckpointFollower(bootstrap_servers, topic, history)
        witness_follower = witnesses.KafkaWitnessFollower(bootstrap_servers, topic)
        try:
            follower.catch_up(store.engine)
            witness_follower.catch_up(store.engine)
        finally:
            follower.close()
            witness_follower.close()
    finally:
        consumer.close()
        feed.close()
        checker.close()
    return applied


def _catch_up_by_partition(
    store: ProjectionStore,
    consumer: KafkaConsumer,
    partitions: list[TopicPartition],
    source: str,
    checker: RecordChecker,
    feed: HandoverFeed | _NoFeed,
) -> int:
    """Each partition's records in their own order, each checked on its own (or not at
    all, without keys), the checker working a few polls ahead of the writer."""
    progress = store.progress(source)
    for partition in partitions:
        known = progress.get(partition.partition)
        consumer.seek(partition, known.next_offset) if known else consumer.seek_to_beginning(
            partition
        )
    end_offsets = consumer.end_offsets(partitions)
    in_flight: deque[Checked] = deque()
    applied = 0
    while True:
        behind = any(consumer.position(p) < end_offsets[p] for p in partitions)
        if behind and len(in_flight) < POLLS_IN_FLIGHT:
            polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
            in_flight.append(_submit_polled(checker, feed, polled))
            continue
        if not in_flight:
            return applied
        applied += _apply_checked(store, source, checker, in_flight.popleft())  # in order


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: KafkaConsumer, store: ProjectionStore, source: str) -> None:
        self.consumer = consumer
        self.store = store
        self.source = source
        self.joined = False  # a first assignment came (possibly of no partitions)

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Nothing to flush: each polled batch was committed before the next poll."""

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.joined = True
        self.seek(assigned)
        logger.info("assigned partitions %s", sorted(p.partition for p in assigned))

    def seek(self, assigned: Any) -> None:
        progress = self.store.progress(self.source)
        for partition in assigned:
            known = progress.get(partition.partition)
            if known:
                self.consumer.seek(partition, known.next_offset)
            else:
                self.consumer.seek_to_beginning(partition)


def run_group_worker(
    store: ProjectionStore,
    bootstrap_servers: str,
    topic: str,
    group_id: str,
    stop: threading.Event,
    registry_public_keys: Keys | None = None,
    pause_before_commit_ms: int = 0,
    workers: int | None = None,
    health: ProcessHealth = PROCESS_HEALTH,
) -> int:
    """One member of a consumer group; runs until `stop` is set. With keys, every
    countersignature is verified, by `workers` processes (default: one per core), against
    the key history: the member sees only some partitions, so it learns rotations from
    the handovers on the checkpoints topic. Alive while the loop turns; ready once in the
    group with its partitions' lag measured within READY_LAG_RECORDS_MAX (or with no
    partitions to read)."""
    source = kafka_source(topic)
    checker = RecordChecker(registry_public_keys, workers)
    feed = _handover_feed(checker, bootstrap_servers, topic)
    consumer = _consumer(bootstrap_servers, group_id)
    seek_to_stored = _SeekToStoredOffsets(consumer, store, source)
    consumer.subscribe([topic], listener=seek_to_stored)
    follower = KafkaCheckpointFollower(bootstrap_servers, topic, checker.registry_public_keys)
    witness_follower = witnesses.KafkaWitnessFollower(bootstrap_servers, topic)
    applied = 0
    next_lag_check = 0.0
    backoff_ms = BACKOFF_MS_MIN
    rewind = False
    try:
        while not stop.is_set():
            health.progress()
            try:
                if rewind:
                    seek_to_stored.seek(consumer.assignment())
                    rewind = False
                polled = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
                checks = _submit_polled(checker, feed, polled)
                applied += _apply_checked(store, source, checker, checks, pause_before_commit_ms)
                if time.monotonic() >= next_lag_check:
                    next_lag_check = time.monotonic() + LAG_CHECK_INTERVAL_S
                    _report_readiness(health, seek_to_stored, _report_lag(consumer, source))
                    follower.poll(store.engine)  # signed checkpoints, for inclusion proofs
                    witness_follower.poll(store.engine)  # and who cosigned them
            except (*DATABASE_UNAVAILABLE, KafkaError) as error:
                # The database or the broker is away. Records just polled may not all be
                # committed: once both answer, go back to the offsets stored with the rows
                # and read again. Nothing is skipped; positions already applied are skipped
                # on apply. The worker waits and retries, never exits.
                logger.warning("projection batch failed, retrying in %d ms: %s", backoff_ms, error)
                stop.wait(backoff_ms / 1_000)
                backoff_ms = min(backoff_ms * 2, BACKOFF_MS_MAX)
                rewind = True
                continue
            backoff_ms = BACKOFF_MS_MIN
    finally:
        follower.close()
        witness_follower.close()
        consumer.close()
        feed.close()
        checker.close()
    return applied


def _report_lag(consumer: KafkaConsumer, source: str) -> int | None:
    """Records behind the end of this member's partitions (None: it has none)."""
    assigned = list(consumer.assignment())
    if not assigned:
        return None
    ends = consumer.end_offsets(assigned, timeout_ms=LAG_CHECK_TIMEOUT_MS)
    # Summed before labels(): a new labelled gauge shows 0 ("caught up") until set.
    lag = sum(ends[p] - consumer.position(p) for p in assigned)
    PROJECTION_LAG.labels(source).set(lag)
    return int(lag)


def _report_readiness(health: ProcessHealth, group: _SeekToStoredOffsets, lag: int | None) -> None:
    if not group.joined:
        health.progress("joining the consumer group")
        return
    detail = "no partitions assigned" if lag is None else f"lag {lag} records"
    if health.caught_up:
        health.progress(detail)
    elif lag is None or lag <= READY_LAG_RECORDS_MAX:
        health.mark_caught_up(detail)
        logger.info("caught up: %s", detail)
    else:
        health.progress(f"catching up: {detail}")
        logger.info("catching up: %s behind the ends of the assigned partitions", detail)


def kafka_head_position(bootstrap_servers: str, topic: str) -> int:
    """The highest position on the topic: the last record of each partition, read back."""
    consumer = _consumer(bootstrap_servers, None)
    try:
        partitions = [
            TopicPartition(topic, number)
            for number in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        consumer.assign(partitions)
        end_offsets = consumer.end_offsets(partitions)
        head = 0
        for partition in partitions:
            if end_offsets[partition] == 0:
                continue
            consumer.seek(partition, end_offsets[partition] - 1)
        remaining = {p for p in partitions if end_offsets[p] > 0}
        for _ in range(120):
            if not remaining:
                break
            for partition, messages in consumer.poll(timeout_ms=POLL_TIMEOUT_MS).items():
                for message in messages:
                    head = max(head, parse_position(dict(message.headers or [])) or 0)
                remaining.discard(partition)
        return head
    finally:
        consumer.close()
