"""Hostile Avro on a real Kafka topic, beside the cases the relay tests already cover
(garbage, an all-zero fingerprint, an impostor registry key, no headers): a genuine envelope
cut short, a genuine body under a fingerprint nobody knows, a genuine envelope whose
countersignature was tampered with, a command where an envelope belongs, and a position
header that lies. Each is quarantined with its position and reason; the reader delivers the
genuine history in full."""

from __future__ import annotations

import threading

import pytest
from kafka import KafkaProducer

from registry.domain import commands as c
from registry.log import POSITION_HEADER
from registry.log.kafka import QUARANTINE_SUFFIX, KafkaLogReader
from registry.write.persistence import CHAIN_ID
from tests.hostile.harness import Tally
from tests.integration.test_kafka_relay import grow_history, raw_topic, relay_for
from tests.support.helpers import AKISHIMA, IWAIZUMI, World

pytestmark = pytest.mark.kafka


def test_hostile_avro_is_quarantined_and_the_reader_keeps_going(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    head = grow_history(world, 20)
    relay_for(sqlite_url, kafka_bootstrap, kafka_topic).run(
        threading.Event(), exit_when_caught_up=True
    )
    stored = {e.originator_version: e.state for e in world.app.recorder.select_events(CHAIN_ID)}
    genuine = stored[head]
    tampered = genuine[:-1] + bytes([genuine[-1] ^ 0x01])  # the signature's last byte
    command = world.signer(IWAIZUMI).sign(world_transfer()).command_bytes
    bad = {  # position header -> value
        head + 1: genuine[: len(genuine) // 2],
        head + 2: genuine[:2] + b"\x13\x37" * 4 + genuine[10:],
        head: tampered,  # its own position: only the countersignature is wrong
        head + 4: command,
        head + 5: stored[2],  # a genuine envelope under a lying position header
    }
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for position, value in bad.items():
        producer.send(
            kafka_topic,
            key=b"attacker",
            value=value,
            headers=[(POSITION_HEADER, str(position).encode())],
        )
    producer.flush()
    producer.close()

    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    delivered = [envelope.body.position for envelope in reader.read()]
    assert delivered == list(range(1, head + 1))  # the genuine history, complete and in order
    reasons = {q.position: q.reason for q in reader.quarantined}
    assert reasons[head + 1].startswith(
        "undecodable envelope: undecodable credit_registry.v1.SealedEnvelope"
    )
    assert reasons[head + 2] == "undecodable envelope: unknown schema 1337133713371337"
    assert reasons[head] == "registry countersignature does not verify"
    assert reasons[head + 4] == "expected a sealed envelope, found credit_registry.v1.Command"
    assert reasons[head + 5] == f"position header {head + 5} differs from the envelope's"
    assert all("partition" in q.where and "offset" in q.where for q in reader.quarantined)
    assert len(raw_topic(kafka_bootstrap, kafka_topic + QUARANTINE_SUFFIX)) == len(bad)
    tally = Tally("kafka-envelope-topic", suite="avro", cases=len(bad), rejected=len(bad))
    tally.codes.update(reason.split(":")[0] for reason in reasons.values())
    tally.report()


def world_transfer() -> c.TransferCredits:
    return c.TransferCredits(IWAIZUMI, AKISHIMA, 1)
