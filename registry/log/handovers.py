"""The records of the checkpoints topic beside the envelope topic: signed checkpoints and the
registry-key handovers, and the feed of handovers that readers of only some partitions
(projection workers of a consumer group) keep up with. See transparency/registry_keys.py."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from registry.transparency.checkpoints import Checkpoint
from registry.transparency.registry_keys import Handover, HandoverError, RegistryKeyHistory

logger = logging.getLogger(__name__)
POLL_TIMEOUT_MS = 500
IDLE_POLLS_MAX = 120  # a topic that sends nothing for a minute while behind its end is away


def side_record_key(record: Checkpoint | Handover) -> bytes:
    if isinstance(record, Handover):
        return f"handover:{record.position}".encode()
    return str(record.tree_size).encode()


def parse_side_record(value: bytes) -> Checkpoint | Handover:
    """A record of the checkpoints topic: a signed checkpoint, or a registry-key handover."""
    data = json.loads(value)
    return (
        Handover.from_json(data) if data.get("kind") == "handover" else Checkpoint.from_json(data)
    )


class HandoverFeed:
    """The registry-key handovers on the checkpoints topic, for readers that see only some
    partitions of the envelope topic. The relay publishes each handover before the envelope
    recording it, so once `refresh` has read to the end, every handover of an envelope
    already polled is known. Handovers that do not extend the history are logged and left."""

    def __init__(
        self, bootstrap_servers: str, checkpoints_topic: str, history: RegistryKeyHistory
    ) -> None:
        self.history = history
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            client_id="credit-registry-handovers",
        )
        self.partitions = [
            TopicPartition(checkpoints_topic, number)
            for number in sorted(self.consumer.partitions_for_topic(checkpoints_topic) or ())
        ]
        if self.partitions:
            self.consumer.assign(self.partitions)
            self.consumer.seek_to_beginning(*self.partitions)

    def refresh(self) -> RegistryKeyHistory:
        """Read the topic to its current end and follow any new handovers."""
        if not self.partitions:
            return self.history
        end = self.consumer.end_offsets(self.partitions)
        found: list[Handover] = []
        idle_polls = 0
        while any(self.consumer.position(p) < end[p] for p in self.partitions):
            batches = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS)
            idle_polls = 0 if batches else idle_polls + 1
            if idle_polls > IDLE_POLLS_MAX:
                raise KafkaError("the checkpoints topic stopped answering")
            for messages in batches.values():
                for message in messages:
                    try:
                        record = parse_side_record(message.value)
                    except (ValueError, KeyError, TypeError) as error:
                        logger.warning("ignored an unreadable checkpoints record: %s", error)
                        continue
                    if isinstance(record, Handover):
                        found.append(record)
        follow_handovers(self.history, found)
        return self.history

    def close(self) -> None:
        self.consumer.close()


def follow_handovers(history: RegistryKeyHistory, handovers: Sequence[Handover]) -> None:
    for handover in sorted(handovers, key=lambda h: h.position):
        try:
            history.follow(handover)
        except HandoverError as error:
            logger.warning("ignored a registry-key handover: %s", error)
