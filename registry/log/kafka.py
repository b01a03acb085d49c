"""Kafka side of the log: topic settings, the idempotent publisher, and the reader that
merges partitions back into global order by the position header.

Ordering: records are keyed by actor, so they spread over partitions and each partition
is ordered. Global order is rebuilt from the `position` header, never from offsets, so
offset gaps (compaction markers, aborted batches) and duplicate re-sends after a relay
crash do not matter: a position already delivered is dropped."""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAlreadyExistsError

from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope
from registry.log import GapError, LogRecord, Quarantined, check_record, parse_position
from registry.log.handovers import HandoverFeed, side_record_key
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.registry_keys import Handover, Keys, RegistryKeyHistory, pinned_keys

logger = logging.getLogger(__name__)
QUARANTINE_SUFFIX = ".quarantine"
CHECKPOINTS_SUFFIX = ".checkpoints"
WITNESS_SUFFIX = ".witness"  # witnesses' cosignatures and evidence (registry/witness)
PENDING_RECORDS_MAX = 200_000  # out-of-order records held while a slower partition catches up
POLL_TIMEOUT_MS = 500
IDLE_POLLS_MAX = 120
# Re-sends come from the last relay batches, far fewer than this many positions back.
RECENT_DIGESTS = 100_000  # a reader that sees nothing for a minute while behind the end gives up


@dataclass(frozen=True)
class TopicSettings:
    """Defaults suit one development broker; production raises replication (see values)."""

    topic: str = "credit-registry.envelopes"
    partitions: int = 3
    replication_factor: int = 1
    min_insync_replicas: int = 1

    def configs(self) -> dict[str, str]:
        return {
            "retention.ms": "-1",  # the history is the system of record for every reader: keep forever
            "retention.bytes": "-1",
            "cleanup.policy": "delete",  # never compact: every position must stay
            "min.insync.replicas": str(self.min_insync_replicas),
            "message.timestamp.type": "CreateTime",
        }


def ensure_topics(bootstrap_servers: str, settings: TopicSettings) -> None:
    """Create the envelope topic and the topics beside it (quarantine, checkpoints, witness);
    existing topics are left alone."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="credit-registry-admin")
    try:
        for name in (
            settings.topic,
            settings.topic + QUARANTINE_SUFFIX,
            settings.topic + CHECKPOINTS_SUFFIX,
            settings.topic + WITNESS_SUFFIX,
        ):
            spec = {
                name: {
                    "num_partitions": settings.partitions,
                    "replication_factor": settings.replication_factor,
                    "configs": settings.configs(),
                }
            }
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(spec, wait_for_metadata=True)
    finally:
        admin.close()


def _producer(bootstrap_servers: str, client_id: str) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,  # no duplicates from the producer's own retries
        max_in_flight_requests_per_connection=5,  # the most idempotence keeps in order
        linger_ms=5,
        batch_size=256 * 1024,
        compression_type=None,
        delivery_timeout_ms=60_000,
        request_timeout_ms=20_000,
        max_block_ms=30_000,
    )


class KafkaPublisher:
    def __init__(self, bootstrap_servers: str, topic: str, flush_timeout_s: float = 90.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self._producer: KafkaProducer | None = None

    def publish(self, records: Sequence[LogRecord]) -> None:
        if self._producer is None:
            self._producer = _producer(self.bootstrap_servers, "credit-registry-relay")
        producer = self._producer
        try:
            futures = [
                producer.send(
                    self.topic,
                    key=record.key,
                    value=record.value,
                    headers=list(record.headers.items()),
                )
                for record in records
            ]
            producer.flush(timeout=self.flush_timeout_s)
            for future in futures:
                future.get(timeout=0)
        except KafkaError:
            # A failed idempotent producer may hold a broken sequence: start afresh next time.
            self.close()
            raise

    def publish_checkpoints(self, checkpoints: Sequence[Checkpoint | Handover]) -> None:
        if self._producer is None:
            self._producer = _producer(self.bootstrap_servers, "credit-registry-relay")
        try:
            futures = [
                self._producer.send(
                    self.topic + CHECKPOINTS_SUFFIX,
                    key=side_record_key(c),
                    value=json.dumps(c.to_json()).encode(),
                )
                for c in checkpoints
            ]
            self._producer.flush(timeout=self.flush_timeout_s)
            for future in futures:
                future.get(timeout=0)
        except KafkaError:
            self.close()
            raise

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


class KafkaLogReader:
    """Reads the envelope topic from the beginning up to the end offsets seen at start."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        schemas: SchemaRegistry | None = None,
        registry_public_keys: Keys | None = None,
        quarantine: bool = True,
    ) -> None:
        """With keys, every record is checked against the key history: the pinned keys
        and the handovers on the checkpoints topic."""
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.schemas = schemas or SchemaRegistry()
        self.registry_public_keys = registry_public_keys
        self.quarantine_enabled = quarantine
        self.quarantined: list[Quarantined] = []
        self.duplicates_dropped = 0
        self._quarantine_producer: KafkaProducer | None = None
        self._history: RegistryKeyHistory | None = None  # per read: pinned keys + handovers

    def read(self, after_position: int = 0) -> Iterator[OpenedEnvelope]:
        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="credit-registry-reader",
            max_poll_records=2_000,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        self._history = None
        if self.registry_public_keys is not None:
            self._history = RegistryKeyHistory(pinned_keys(self.registry_public_keys))
            checkpoints = self.topic + CHECKPOINTS_SUFFIX
            feed = HandoverFeed(self.bootstrap_servers, checkpoints, self._history)
            try:
                feed.refresh()
            finally:
                feed.close()
        try:
            yield from self._merge(consumer, after_position)
        finally:
            consumer.close()
            if self._quarantine_producer is not None:
                self._quarantine_producer.flush(timeout=30)
                self._quarantine_producer.close(timeout=5)
                self._quarantine_producer = None

    def _merge(self, consumer: KafkaConsumer, after_position: int) -> Iterator[OpenedEnvelope]:
        partition_ids = consumer.partitions_for_topic(self.topic)
        if not partition_ids:
            raise KafkaError(f"topic {self.topic} does not exist")
        partitions = [TopicPartition(self.topic, number) for number in sorted(partition_ids)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end_offsets = consumer.end_offsets(partitions)
        next_position = after_position + 1
        pending: list[
            tuple[int, OpenedEnvelope]
        ] = []  # heap by position; positions are unique in it
        pending_values: dict[int, bytes] = {}  # position -> SHA-256 of the value
        recent: OrderedDict[int, bytes] = (
            OrderedDict()
        )  # delivered positions, to tell re-sends from forgeries
        idle_polls = 0
        while any(consumer.position(p) < end_offsets[p] for p in partitions):
            batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
            idle_polls = 0 if batches else idle_polls + 1
            if idle_polls > IDLE_POLLS_MAX:
                raise KafkaError(
                    f"no records from {self.topic} for {IDLE_POLLS_MAX * POLL_TIMEOUT_MS} ms"
                )
            for partition, messages in batches.items():
                for message in messages:
                    where = f"partition {partition.partition} offset {message.offset}"
                    headers = {name: value for name, value in (message.headers or [])}
                    position = parse_position(headers)
                    if position is None:
                        self._quarantine(
                            message, None, where, "missing or malformed position header"
                        )
                        continue
                    try:
                        envelope = check_record(
                            self.schemas, self._history, position, message.value
                        )
                    except EnvelopeError as error:
                        self._quarantine(message, position, where, error.reason)
                        continue
                    digest = hashlib.sha256(message.value).digest()
                    earlier = pending_values.get(position) or recent.get(position)
                    if earlier is not None or position < next_position:
                        if earlier is not None and earlier != digest:
                            # Two validly countersigned envelopes for one position: equivocation.
                            self._quarantine(
                                message,
                                position,
                                where,
                                "a different record already holds this position",
                            )
                        else:
                            self.duplicates_dropped += 1  # a relay re-send: same bytes, dropped
                        continue
                    heapq.heappush(pending, (position, envelope))
                    pending_values[position] = digest
                    if len(pending) > PENDING_RECORDS_MAX:
                        raise RuntimeError("a partition is too far behind the others")
            while pending and pending[0][0] == next_position:
                position, ready = heapq.heappop(pending)
                recent[position] = pending_values.pop(position)
                if len(recent) > RECENT_DIGESTS:
                    recent.popitem(last=False)
                yield ready
                next_position += 1
        if pending:
            raise GapError(next_position)

    def _quarantine(self, message: object, position: int | None, where: str, reason: str) -> None:
        record = Quarantined(position, where, reason)
        self.quarantined.append(record)
        logger.warning("quarantined record at %s (position %s): %s", where, position, reason)
        if not self.quarantine_enabled:
            return
        if self._quarantine_producer is None:
            self._quarantine_producer = _producer(
                self.bootstrap_servers, "credit-registry-quarantine"
            )
        headers = list(getattr(message, "headers", None) or [])
        headers += [("quarantine-reason", reason.encode()), ("quarantine-source", where.encode())]
        self._quarantine_producer.send(
            self.topic + QUARANTINE_SUFFIX,
            key=getattr(message, "key", None),
            value=getattr(message, "value", b""),
            headers=headers,
        )
