"""The relay against a real Apache Kafka broker: byte-identical, ordered, exactly once in
effect — through a SIGKILL mid-batch and a broker restart. Bad records are quarantined."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from registry.domain import commands as c
from registry.envelope.codec import HEADER_LENGTH, SchemaRegistry
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import EnvelopeBody, SignedCommand, open_sealed, seal
from registry.log import (
    EVENT_TYPES_HEADER,
    FINGERPRINT_HEADER,
    POSITION_HEADER,
    GapError,
    record_for,
)
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import (
    CHECKPOINTS_SUFFIX,
    QUARANTINE_SUFFIX,
    KafkaLogReader,
    KafkaPublisher,
)
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID, event_store_recorder
from tests.conftest import ROOT
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, World, retirement

pytestmark = pytest.mark.kafka


def grow_history(world: World, transfers: int) -> int:
    """Issue, then many small transfers in batches; returns the head position."""
    world.issue(10 * transfers + 1_000, IWAIZUMI)
    signer = world.signer(IWAIZUMI)
    for start in range(0, transfers, 500):
        count = min(500, transfers - start)
        bodies = [
            c.TransferCredits(IWAIZUMI, (AKISHIMA, MUSASHINO)[i % 2], 10) for i in range(count)
        ]
        assert all(r.accepted for r in world.app.submit_batch([signer.sign(b) for b in bodies]))
    return world.app.ledger.position


def stored_values(app: RegistryApplication) -> dict[int, bytes]:
    return {event.originator_version: event.state for event in app.recorder.select_events(CHAIN_ID)}


def raw_topic(bootstrap: str, topic: str) -> list[tuple[int, int, int, bytes]]:
    """(partition, offset, position, value) of every record on the topic."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    rows = []
    while any(consumer.position(p) < end[p] for p in partitions):
        for partition, messages in consumer.poll(timeout_ms=1_000).items():
            for m in messages:
                rows.append(
                    (
                        partition.partition,
                        m.offset,
                        int(dict(m.headers).get(POSITION_HEADER, b"-1")),
                        m.value,
                    )
                )
    consumer.close()
    return rows


def relay_for(sqlite_url: str, bootstrap: str, topic: str, **options: int) -> Relay:
    engine = sqlalchemy.create_engine(sqlite_url)
    return Relay(
        event_store_recorder(sqlite_url),
        KafkaPublisher(bootstrap, topic),
        RelayPositions(engine),
        "kafka:" + topic,
        **options,
    )


def test_every_event_reaches_the_topic_identical_in_order(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    head = grow_history(world, 2_000)
    relay = relay_for(sqlite_url, kafka_bootstrap, kafka_topic, batch_events=300)
    relay.run(threading.Event(), exit_when_caught_up=True)
    assert relay.lag() == 0

    rows = raw_topic(kafka_bootstrap, kafka_topic)
    stored = stored_values(world.app)
    assert len(rows) == head  # no duplicates on the topic itself
    assert sorted(position for _, _, position, _ in rows) == list(range(1, head + 1))  # no gaps
    assert all(value == stored[position] for _, _, position, value in rows)  # byte-identical
    assert len({partition for partition, _, _, _ in rows}) > 1  # spread over partitions by actor
    for partition in {row[0] for row in rows}:
        positions = [position for p, _, position, _ in sorted(rows) if p == partition]
        assert positions == sorted(positions)  # each partition in order

    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    assert [envelope.body.position for envelope in reader.read()] == list(range(1, head + 1))
    assert [envelope.body.position for envelope in reader.read(after_position=head - 5)] == list(
        range(head - 4, head + 1)
    )
    assert reader.quarantined == []


def test_topics_keep_everything_and_records_carry_key_and_headers(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    """The broker reports the retention the project set, on the envelope topic and beside it;
    each record is keyed by its actor and names its position, event types and schema."""
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    names = [kafka_topic + suffix for suffix in ("", QUARANTINE_SUFFIX, CHECKPOINTS_SUFFIX)]
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )["topic"]
    admin.close()
    for name in names:
        configs = {key: entry["value"] for key, entry in described[name].items()}
        assert configs["retention.ms"] == "-1" and configs["retention.bytes"] == "-1", name
        assert configs["cleanup.policy"] == "delete", name  # never compacted away

    world.issue(1_000, IWAIZUMI)
    world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 300))
    world.ok(AKISHIMA, c.RetireCredits(AKISHIMA, 100, retirement("Akishima city")))
    relay = relay_for(sqlite_url, kafka_bootstrap, kafka_topic)
    relay.run(threading.Event(), exit_when_caught_up=True)

    consumer = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    partitions = [TopicPartition(kafka_topic, p) for p in range(3)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    messages = []
    while any(consumer.position(p) < end[p] for p in partitions):
        for polled in consumer.poll(timeout_ms=1_000).values():
            messages.extend(polled)
    consumer.close()
    assert len(messages) == world.app.ledger.position
    schemas = SchemaRegistry()
    seen_types: set[str] = set()
    for message in messages:
        envelope = open_sealed(schemas, message.value)
        headers = dict(message.headers)
        assert message.key == envelope.body.command.actor_id.encode()
        assert headers[POSITION_HEADER] == str(envelope.body.position).encode()
        assert headers[FINGERPRINT_HEADER] == message.value[2:HEADER_LENGTH].hex().encode()
        types = [
            schemas.by_fingerprint[effect[2:HEADER_LENGTH]].name.rsplit(".", 1)[-1]
            for effect in envelope.body.effects
        ]
        assert headers[EVENT_TYPES_HEADER].decode().split(",") == types
        seen_types.update(types)
    assert {"CreditsIssued", "CreditsTransferred", "CreditsRetired"} <= seen_types


def test_relay_killed_mid_batch_resumes_exactly_once_in_effect(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    head = grow_history(world, 1_500)
    command = [
        sys.executable,
        "-m",
        "registry.cli",
        "relay",
        "--database-url",
        sqlite_url,
        "--kafka",
        kafka_bootstrap,
        "--topic",
        kafka_topic,
        "--batch-events",
        "200",
    ]
    # The drill pause opens a window after a durable send and before the position commit.
    victim = subprocess.Popen(
        [*command, "--pause-before-commit-ms", "60000"], stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert victim.stderr is not None
    deadline = time.monotonic() + 120
    line = ""
    while "pausing before commit" not in line:
        line = victim.stderr.readline()
        assert line or victim.poll() is None, "relay exited early"
        assert time.monotonic() < deadline
    # The first batch is on the topic, its position not yet recorded: kill it right there.
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    positions = RelayPositions(sqlalchemy.create_engine(sqlite_url))
    assert positions.get("kafka:" + kafka_topic) == 0
    assert len(raw_topic(kafka_bootstrap, kafka_topic)) == 200

    restarted = subprocess.run(
        [*command, "--exit-when-caught-up"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert restarted.returncode == 0, restarted.stderr
    rows = raw_topic(kafka_bootstrap, kafka_topic)
    counts = Counter(position for _, _, position, _ in rows)
    assert set(counts) == set(range(1, head + 1))  # nothing lost
    assert sum(n - 1 for n in counts.values()) == 200  # the killed batch was sent twice...
    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    delivered = [envelope.body.position for envelope in reader.read()]
    assert delivered == list(range(1, head + 1))  # ...and delivered once
    assert reader.duplicates_dropped == 200


def test_relay_killed_at_arbitrary_points_while_publishing_loses_and_repeats_nothing(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    """No drill pause this time: the relay is SIGKILLed five times, a few milliseconds after
    it has made progress, wherever it then is (reading, sending, committing its position)."""
    head = grow_history(world, 4_000)
    command = [
        *(sys.executable, "-m", "registry.cli", "relay", "--database-url", sqlite_url),
        *("--kafka", kafka_bootstrap, "--topic", kafka_topic, "--batch-events", "20"),
    ]
    positions = RelayPositions(sqlalchemy.create_engine(sqlite_url))
    name = "kafka:" + kafka_topic
    reached = []
    for delay_s in (0.0, 0.004, 0.013, 0.029, 0.061):  # spread over a batch's phases
        before = positions.get(name)
        victim = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while positions.get(name) == before:
            assert victim.poll() is None, "relay exited early"
            assert time.monotonic() < deadline, "relay made no progress"
            time.sleep(0.005)
        time.sleep(delay_s)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        reached.append(positions.get(name))
    assert reached == sorted(reached) and reached[-1] < head  # every kill landed mid-way
    finished = subprocess.run(
        [*command, "--exit-when-caught-up"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert finished.returncode == 0, finished.stderr
    counts = Counter(position for _, _, position, _ in raw_topic(kafka_bootstrap, kafka_topic))
    assert set(counts) == set(range(1, head + 1))  # nothing lost
    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    assert [e.body.position for e in reader.read()] == list(range(1, head + 1))  # once each
    assert reader.duplicates_dropped == sum(n - 1 for n in counts.values())


def test_broker_restart_during_publishing_loses_nothing(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    if os.environ.get("CREDIT_REGISTRY_TEST_KAFKA") and not os.environ.get(
        "CREDIT_REGISTRY_TEST_KAFKA_RESTARTABLE"
    ):
        pytest.fail("this test restarts the broker: run it with the broker from scripts/kafka.sh")
    grow_history(world, 500)
    relay = relay_for(sqlite_url, kafka_bootstrap, kafka_topic, batch_events=50)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle_ms": 50}, daemon=True)
    worker.start()
    subprocess.run(
        ["bash", str(ROOT / "scripts/kafka.sh"), "stop"], check=True, stdout=subprocess.DEVNULL
    )
    signer = world.signer(IWAIZUMI)
    for _ in range(4):  # the registry keeps accepting commands while the broker is down
        assert all(
            r.accepted
            for r in world.app.submit_batch(
                [signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 1)) for _ in range(100)]
            )
        )
    time.sleep(2)
    # The relay is stuck mid-publish: the 400 commands of the outage wait unpublished.
    assert relay.lag() >= 400
    subprocess.run(
        ["bash", str(ROOT / "scripts/kafka.sh"), "start"], check=True, stdout=subprocess.DEVNULL
    )
    head = world.app.ledger.position
    deadline = time.monotonic() + 180
    while relay.lag() > 0:
        assert time.monotonic() < deadline, f"relay stuck at lag {relay.lag()}"
        time.sleep(0.2)
    stop.set()
    worker.join(timeout=30)
    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    stored = stored_values(world.app)
    delivered = list(reader.read())
    assert [envelope.body.position for envelope in delivered] == list(range(1, head + 1))
    assert all(envelope.sealed_bytes == stored[envelope.body.position] for envelope in delivered)


def test_reader_reads_across_offset_gaps(
    world: World, kafka_bootstrap: str, kafka_topic: str
) -> None:
    """Offsets need not be contiguous (transaction markers, compaction elsewhere): the reader
    orders by the position each record carries. Here every record was written in its own
    committed transaction, so each is followed by a marker that takes an offset."""
    head = grow_history(world, 30)
    schemas = world.app.codec.schemas
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id="gaps-" + kafka_topic
    )
    producer.init_transactions()
    for envelope in world.app.read_envelopes():
        record = record_for(schemas, envelope.sealed_bytes)
        producer.begin_transaction()
        producer.send(
            kafka_topic, key=record.key, value=record.value, headers=list(record.headers.items())
        )
        producer.commit_transaction()
    producer.close()

    rows = raw_topic(kafka_bootstrap, kafka_topic)
    assert len(rows) == head
    for partition in {row[0] for row in rows}:
        offsets = sorted(offset for p, offset, _, _ in rows if p == partition)
        assert offsets != list(range(offsets[0], offsets[0] + len(offsets)))  # gaps exist
    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    assert [e.body.position for e in reader.read()] == list(range(1, head + 1))
    assert reader.quarantined == []


def test_bad_records_are_quarantined_and_the_reader_keeps_going(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    head = grow_history(world, 20)
    relay_for(sqlite_url, kafka_bootstrap, kafka_topic).run(
        threading.Event(), exit_when_caught_up=True
    )
    schemas = world.app.codec.schemas
    impostor = SigningKey.generate()
    forged = seal(
        schemas,
        EnvelopeBody(head + 1, 0, bytes(32), SignedCommand("x", "y", b"", b""), ()),
        impostor,
    )
    unknown_schema = b"\xc3\x01" + bytes(8) + b"\x02\x04"
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    bad = [
        (b"garbage \xff\xfe", [(POSITION_HEADER, b"3")]),
        (unknown_schema, [(POSITION_HEADER, b"5")]),
        (forged, [(POSITION_HEADER, str(head + 1).encode())]),
        (b"no headers at all", []),
    ]
    for value, headers in bad:
        producer.send(kafka_topic, key=b"attacker", value=value, headers=headers)
    producer.flush()
    producer.close()

    reader = KafkaLogReader(
        kafka_bootstrap, kafka_topic, registry_public_keys=world.app.registry_public_keys
    )
    delivered = [envelope.body.position for envelope in reader.read()]
    assert delivered == list(range(1, head + 1))  # the genuine history, untouched
    reasons = {q.position: q.reason for q in reader.quarantined}
    assert reasons[3] == "undecodable envelope: not Avro single-object encoding"
    assert reasons[5] == "undecodable envelope: unknown schema 0000000000000000"
    assert reasons[head + 1] == f"unknown registry key {impostor.key_id}"
    assert reasons[None] == "missing or malformed position header"
    assert all("partition" in q.where and "offset" in q.where for q in reader.quarantined)
    assert len(raw_topic(kafka_bootstrap, kafka_topic + QUARANTINE_SUFFIX)) == 4


def test_embedded_log_is_exactly_once_without_a_broker(world: World, sqlite_url: str) -> None:
    head = grow_history(world, 300)
    engine = sqlalchemy.create_engine(sqlite_url)
    log = EmbeddedLog(engine, registry_public_keys=world.app.registry_public_keys)
    relay = Relay(
        event_store_recorder(sqlite_url), log, RelayPositions(engine), "embedded", batch_events=64
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    log.publish([])  # harmless
    RelayPositions(engine).set(
        "embedded", 0
    )  # as if the position had been lost: re-send everything
    relay.run(threading.Event(), exit_when_caught_up=True)
    assert log.head_position() == head
    assert [envelope.body.position for envelope in log.read()] == list(range(1, head + 1))
    with pytest.raises(GapError):
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("DELETE FROM embedded_log WHERE position = 7"))
        list(log.read())
