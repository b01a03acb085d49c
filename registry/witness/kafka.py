"""The witness on Kafka: it tails the envelope topic and the checkpoints topic with its own
consumers (no group: it reads every partition, from the beginning on every start), merges
the partitions back into global order by the position header, and publishes its records on
`<topic>.witness`.

As in KafkaLogReader, a position already delivered is dropped (a relay re-send after a
restart), and a record not sealed by the key its position needs (per the handovers on the
checkpoints topic, published before the envelopes recording them) is set aside, so nothing
written onto the topic can take an envelope's place. The witness's replay then checks every
seal again, in order, from the chain itself."""

from __future__ import annotations

import hashlib
import heapq
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from registry.envelope.codec import SchemaRegistry
from registry.envelope.sealing import EnvelopeError, OpenedEnvelope
from registry.log import Quarantined, check_record, parse_position
from registry.log.handovers import follow_handovers, parse_side_record
from registry.log.kafka import CHECKPOINTS_SUFFIX, WITNESS_SUFFIX
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.registry_keys import Handover, Keys, RegistryKeyHistory, pinned_keys
from registry.transparency.witnessing import WitnessRecord, record_key, record_value

logger = logging.getLogger(__name__)
POLL_TIMEOUT_MS = 500
IDLE_POLLS_MAX = 120  # a topic that sends nothing for a minute while behind its end is away
PENDING_RECORDS_MAX = 200_000  # out-of-order records held while a slower partition catches up
RECENT_DIGESTS = 100_000  # re-sends come from the last relay batches, far fewer back than this
FLUSH_TIMEOUT_S = 60.0


def _consumer(bootstrap_servers: str, client_id: str) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        client_id=client_id,
        max_poll_records=2_000,
        fetch_max_bytes=32 * 1024 * 1024,
    )


def _assign(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of `topic`, from the beginning ([] while the topic does not exist)."""
    numbers = sorted(consumer.partitions_for_topic(topic) or ())
    partitions = [TopicPartition(topic, number) for number in numbers]
    if partitions:
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
    return partitions


def _read_to_end(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> Iterator[Any]:
    """The messages up to the end offsets as they are now, partition by partition."""
    end = consumer.end_offsets(partitions)
    idle_polls = 0
    while any(consumer.position(p) < end[p] for p in partitions):
        batches = consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
        idle_polls = 0 if batches else idle_polls + 1
        if idle_polls > IDLE_POLLS_MAX:
            raise KafkaError(f"no records for {IDLE_POLLS_MAX * POLL_TIMEOUT_MS} ms behind the end")
        for messages in batches.values():
            yield from messages


class KafkaFollow:
    def __init__(self, bootstrap_servers: str, topic: str, registry_public_keys: Keys) -> None:
        self.description = f"kafka {bootstrap_servers} topic {topic}"
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.schemas = SchemaRegistry()
        self.history = RegistryKeyHistory(pinned_keys(registry_public_keys))
        self.envelope_consumer = _consumer(bootstrap_servers, "credit-registry-witness")
        self.side_consumer = _consumer(bootstrap_servers, "credit-registry-witness-checkpoints")
        self._envelope_partitions: list[TopicPartition] = []
        self._side_partitions: list[TopicPartition] = []
        self._side_checkpoints: list[Checkpoint] = []  # read while refreshing the handovers
        self._producer: KafkaProducer | None = None
        self.next_position = 1
        self._pending: list[tuple[int, OpenedEnvelope]] = []  # heap by position, unique
        self._pending_digests: dict[int, bytes] = {}
        self._recent: OrderedDict[int, bytes] = OrderedDict()  # delivered: re-send or forgery?
        self.quarantined: list[Quarantined] = []
        self.duplicates_dropped = 0

    # -- the checkpoints topic ----------------------------------------------------------
    def checkpoints(self) -> list[Checkpoint]:
        self._refresh_side()
        found, self._side_checkpoints = self._side_checkpoints, []
        return found

    def _refresh_side(self) -> None:
        """Read the checkpoints topic to its end: keep the checkpoints, follow the handovers."""
        if not self._side_partitions:
            self._side_partitions = _assign(self.side_consumer, self.topic + CHECKPOINTS_SUFFIX)
            if not self._side_partitions:
                return
        handovers: list[Handover] = []
        for message in _read_to_end(self.side_consumer, self._side_partitions):
            try:
                record = parse_side_record(message.value)
            except (ValueError, KeyError, TypeError) as error:
                logger.warning("ignored an unreadable checkpoints record: %s", error)
                continue
            if isinstance(record, Handover):
                handovers.append(record)
            else:
                self._side_checkpoints.append(record)
        follow_handovers(self.history, handovers)

    # -- the envelope topic -------------------------------------------------------------
    def envelopes(self) -> Iterator[OpenedEnvelope]:
        if not self._envelope_partitions:
            self._envelope_partitions = _assign(self.envelope_consumer, self.topic)
            if not self._envelope_partitions:
                raise KafkaError(f"topic {self.topic} does not exist")
        for message in _read_to_end(self.envelope_consumer, self._envelope_partitions):
            self._take(message)
            yield from self._ready()
        yield from self._ready()

    def _take(self, message: Any) -> None:
        where = f"partition {message.partition} offset {message.offset}"
        position = parse_position(dict(message.headers or []))
        if position is None:
            self._set_aside(None, where, "missing or malformed position header")
            return
        envelope = self._checked(position, message.value, where)
        if envelope is None:
            return
        digest = hashlib.sha256(message.value).digest()
        earlier = self._pending_digests.get(position) or self._recent.get(position)
        if earlier is not None or position < self.next_position:
            if earlier is not None and earlier != digest:
                self._set_aside(position, where, "a different record already holds this position")
            else:
                self.duplicates_dropped += 1  # a relay re-send: the same bytes again
            return
        heapq.heappush(self._pending, (position, envelope))
        self._pending_digests[position] = digest
        if len(self._pending) > PENDING_RECORDS_MAX:
            raise RuntimeError("a partition is too far behind the others")

    def _checked(self, position: int, value: bytes, where: str) -> OpenedEnvelope | None:
        """Opened and sealed by the key for its position; a record that fails is checked once
        more after reading the handovers published since (a rotation just relayed)."""
        for attempt in range(2):
            try:
                return check_record(self.schemas, self.history, position, value)
            except EnvelopeError as error:
                if attempt == 1:
                    self._set_aside(position, where, error.reason)
                    return None
                self._refresh_side()
        return None

    def _ready(self) -> Iterator[OpenedEnvelope]:
        while self._pending and self._pending[0][0] == self.next_position:
            position, envelope = heapq.heappop(self._pending)
            self._recent[position] = self._pending_digests.pop(position)
            if len(self._recent) > RECENT_DIGESTS:
                self._recent.popitem(last=False)
            self.next_position += 1
            yield envelope

    def _set_aside(self, position: int | None, where: str, reason: str) -> None:
        self.quarantined.append(Quarantined(position, where, reason))
        logger.warning(
            "witness set aside the record at %s (position %s): %s", where, position, reason
        )

    def waiting(self) -> bool:
        return bool(self._pending)

    # -- the witness topic --------------------------------------------------------------
    def publish(self, records: Sequence[WitnessRecord]) -> None:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.bootstrap_servers,
                client_id="credit-registry-witness",
                acks="all",
                enable_idempotence=True,
            )
        try:
            futures = [
                self._producer.send(
                    self.topic + WITNESS_SUFFIX, key=record_key(r), value=record_value(r)
                )
                for r in records
            ]
            self._producer.flush(timeout=FLUSH_TIMEOUT_S)
            for future in futures:
                future.get(timeout=0)
        except KafkaError:
            self._producer.close(timeout=5)
            self._producer = None
            raise

    def close(self) -> None:
        self.envelope_consumer.close()
        self.side_consumer.close()
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
