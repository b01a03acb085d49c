"""Projections built from the stream must equal the write side, and must be the same rows
however they were built: one worker or several, clean or after a crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from projections import merkle, public_queries, queries, tables
from projections.runner import catch_up_embedded, catch_up_kafka, kafka_head_position
from projections.store import ProjectionStore
from registry import reference
from registry.domain import commands as c
from registry.domain import events as ev
from registry.domain.invariants import invariant_violations
from registry.domain.serials import SerialBlock
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import EnvelopeBody, SignedCommand, seal
from registry.log import POSITION_HEADER
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import KafkaPublisher
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.scenario import partners, tokyo62
from registry.transparency.checkpoints import Checkpoint, CheckpointStore
from registry.transparency.merkle import leaf_hash
from registry.transparency.proof_verifier import verify_inclusion
from registry.write.application import RegistryApplication
from registry.write.persistence import event_store_recorder
from tests.conftest import ROOT
from tests.support.helpers import IWAIZUMI, OPERATOR, World
from tests.support.history import (
    DELIVERY_OUTCOMES,
    MEMBERS,
    OPEN_DELIVERY_KG,
    programme_history,
    random_history,
)


@dataclass
class WriteSide:
    """What the write side implies for the read models, worked out from the ledger's state
    and the recorded events, without the projection code: per party and (class, vintage),
    [tradable, pending, retired] kg; serial blocks per party pending and retired; and
    every CreditsRetired effect as a row of the retirements table."""

    lines: dict[str, dict[tuple[str, str], list[int]]]
    pending_blocks: dict[str, list[SerialBlock]]
    retired_blocks: dict[str, list[SerialBlock]]
    retirements: list[tuple[Any, ...]]


def write_side(app: RegistryApplication) -> WriteSide:
    ledger = app.ledger

    def class_and_vintage(batch_id: str) -> tuple[str, str]:
        b = ledger.batches[batch_id]
        return b.class_id, f"{b.vintage_start:%Y%m%d}-{b.vintage_end:%Y%m%d}"

    lines: dict[str, dict[tuple[str, str], list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0])
    )
    pending_blocks: dict[str, list[SerialBlock]] = defaultdict(list)
    retired_blocks: dict[str, list[SerialBlock]] = defaultdict(list)
    for (party_id, batch_id), kg in ledger.holding_kg.items():
        lines[party_id][class_and_vintage(batch_id)][0] += kg
    for delivery in ledger.deliveries.values():
        if delivery.outcome is None:  # reserved: still the provider's, spendable by nobody
            for block in delivery.blocks:
                lines[delivery.provider_id][class_and_vintage(block.batch_id)][1] += (
                    block.quantity_kg
                )
                pending_blocks[delivery.provider_id].append(block)
    retirements: list[tuple[Any, ...]] = []
    for envelope in app.read_envelopes():
        for index, effect in enumerate(envelope.body.effects):
            event = app.codec.decode_event(effect)
            if not isinstance(event, ev.CreditsRetired):
                continue
            for block in event.blocks:
                lines[event.holder_id][class_and_vintage(block.batch_id)][2] += block.quantity_kg
                retired_blocks[event.holder_id].append(block)
            retirements.append(
                (
                    envelope.body.position,
                    index,
                    event.holder_id,
                    event.quantity_kg,
                    " ".join(f"{b.batch_id}:{b.serial_start}-{b.serial_end}" for b in event.blocks),
                    event.beneficiary.name,
                    event.beneficiary.party_id,
                    event.purpose,
                    event.reporting_year,
                    event.memo,
                    event.reference,
                    envelope.body.recorded_at_us,
                )
            )
    return WriteSide(lines, pending_blocks, retired_blocks, retirements)


def merged(blocks: list[SerialBlock]) -> list[tuple[str, int, int]]:
    """Blocks as the holdings query lists them: by batch and serial, adjacent ones joined."""
    result: list[tuple[str, int, int]] = []
    for block in sorted(blocks, key=lambda b: (b.batch_id, b.serial_start)):
        if result and result[-1][0] == block.batch_id and result[-1][2] + 1 == block.serial_start:
            result[-1] = (block.batch_id, result[-1][1], block.serial_end)
        else:
            result.append((block.batch_id, block.serial_start, block.serial_end))
    return result


def assert_matches_write_side(store: ProjectionStore, app: RegistryApplication) -> None:
    """Every party's balance lines, totals and serial blocks, every batch's supply and
    every retirement equal what the write side implies, to the kilogram."""
    ledger = app.ledger
    expected = write_side(app)
    with store.engine.connect() as connection:
        projected = set(connection.scalars(sa.select(tables.balances.c.party_id).distinct()))
        for party_id in sorted({*MEMBERS, *ledger.parties, *expected.lines, *projected}):
            balance = queries.balance(connection, party_id)
            lines = expected.lines.get(party_id, {})
            assert [
                (line.class_id, line.vintage, line.tradable_kg, line.pending_kg, line.retired_kg)
                for line in balance.lines
            ] == sorted((*key, *kg) for key, kg in lines.items() if any(kg)), party_id
            assert (balance.tradable_kg, balance.pending_kg, balance.retired_kg) == (
                ledger.tradable_kg(party_id),
                sum(b.quantity_kg for b in expected.pending_blocks.get(party_id, ())),
                sum(b.quantity_kg for b in expected.retired_blocks.get(party_id, ())),
            ), party_id
            for status, blocks in (
                ("tradable", ledger.holdings_of(party_id)),
                ("pending", expected.pending_blocks.get(party_id, [])),
                ("retired", expected.retired_blocks.get(party_id, [])),
            ):
                assert [
                    (h.batch_id, h.serial_start, h.serial_end)
                    for h in queries.every_holding(connection, party_id, status)
                ] == merged(blocks), (party_id, status)
        for batch_id, supply in ledger.supply.items():
            view = queries.batch(connection, batch_id)
            assert view is not None
            counted = (
                view.issued_kg,
                view.tradable_kg,
                view.pending_kg,
                view.retired_kg,
                view.cancelled_kg,
            )
            assert counted == (
                supply.issued_kg,
                supply.tradable_kg,
                supply.pending_kg,
                supply.retired_kg,
                supply.cancelled_kg,
            ), batch_id
        r = tables.retirements.c
        rows = connection.execute(
            sa.select(
                r.position,
                r.effect_index,
                r.holder_id,
                r.quantity_kg,
                r.blocks,
                r.beneficiary_name,
                r.beneficiary_party_id,
                r.purpose,
                r.reporting_year,
                r.memo,
                r.reference,
                r.recorded_at_us,
            ).order_by(r.position, r.effect_index)
        ).all()
        assert [tuple(row) for row in rows] == expected.retirements
        served = queries.retirements(connection, limit=len(rows) + 1)
        # What the read API serves: the same, less the reference and time, with the place
        # and required label (none in this history) and the effect index last.
        assert [astuple(v) for v in served] == [
            (row[0], *row[2:10], None, None, row[1]) for row in expected.retirements
        ]
    retired_kg = sum(row[3] for row in expected.retirements)
    assert retired_kg == sum(s.retired_kg for s in ledger.supply.values())


def relay_to_embedded(url: str) -> EmbeddedLog:
    engine = sa.create_engine(url)
    log = EmbeddedLog(engine)
    Relay(event_store_recorder(url), log, RelayPositions(engine), "embedded").run(
        threading.Event(), exit_when_caught_up=True
    )
    return log


def test_projected_balances_equal_the_write_side(
    world: World, sqlite_url: str, tmp_path: Path
) -> None:
    # Members of a pool with their official Japanese names (so their kind is known); the
    # world's Akishima and Musashino were registered without one.
    for member in ("131016", "131121", "132012", "133086"):
        municipality = next(m for m in reference.municipalities() if m.code == member)
        world.keys[member] = SigningKey.generate()
        world.ok(
            OPERATOR,
            c.RegisterParty(
                member,
                "municipality",
                municipality.name_en,
                world.keys[member].public_key,
                municipality.name_ja,
            ),
        )
    pool = tuple(sorted(m for m in MEMBERS if m != IWAIZUMI))
    world.ok(OPERATOR, c.OpenPool("RANDOM-FY2012", "Random meetings", 2012, pool))
    accepted = random_history(world, 3_000)
    assert accepted > 2_000  # a history of thousands of accepted events
    log = relay_to_embedded(sqlite_url)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert catch_up_embedded(store, log, batch_envelopes=333) == world.app.ledger.position
    assert_matches_write_side(store, world.app)
    assert catch_up_embedded(store, log) == 0  # idempotent: nothing new, nothing twice
    with store.engine.connect() as connection:
        rows, totals = queries.allocation(connection, "RANDOM-FY2012")
    # The pool's members and nobody else (not Iwaizumi).
    assert [(row.member_code, row.kind) for row in rows] == [
        ("131016", "ward"),
        ("131121", "ward"),
        ("132012", "city"),
        ("132039", ""),
        ("132071", ""),
        ("133086", "town"),
    ]
    offsets: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in write_side(world.app).retirements:
        if row[7] == "meeting_event" and row[6] in pool:
            offsets[row[6]][0] += 1
            offsets[row[6]][1] += row[3]
    # Members retired "for meetings" outside the pool, many times; none of it is the pool's.
    assert len(offsets) >= 4
    assert [(row.events_offset, row.offset_kg) for row in rows] == [(0, 0)] * len(rows)
    labels = [
        "wards",
        "cities",
        "towns and villages",
        "total",
        "project's own events",
        "all offsets",
    ]
    assert [s.label for s in totals] == labels
    assert [s.members for s in totals] == [2, 1, 1, 6, 0, 6]  # unknown kinds: the total only
    assert [(s.events_offset, s.offset_kg) for s in totals] == [(0, 0)] * len(labels)


def publish(world: World, sqlite_url: str, bootstrap: str, topic: str) -> int:
    engine = sa.create_engine(sqlite_url)
    relay = Relay(
        event_store_recorder(sqlite_url),
        KafkaPublisher(bootstrap, topic),
        RelayPositions(engine),
        "kafka",
        batch_events=1_000,
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    return world.app.ledger.position


def worker(projection_url: str, bootstrap: str, topic: str, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "registry.cli",
        "projections",
        "run",
        "--projection-url",
        projection_url,
        "--kafka",
        bootstrap,
        "--topic",
        topic,
        "--group",
        "group-" + topic,
        *extra,
    ]
    return subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)


def wait_until_applied(store: ProjectionStore, head: int, timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while store.applied_count() < head:
        assert time.monotonic() < deadline, f"stuck at {store.applied_count()} of {head}"
        time.sleep(0.3)


# Not functions of the envelope stream: progress, and the signed checkpoints and witness
# cosignatures copied from streams of their own (dump() leaves them out; see
# projections/public_tables.py).
BOOKKEEPING_TABLES = {
    tables.progress.name,
    "applied_positions",
    "signed_checkpoints",
    "witness_cosignatures",  # copied from the witnesses' topic, like the checkpoints
}


def assert_same_tables(
    actual: dict[str, list[tuple[Any, ...]]], expected: dict[str, list[tuple[Any, ...]]]
) -> None:
    """Two dumps hold the same rows, table by table; a dump covers every read model."""
    read_models = set(tables.metadata.tables) - BOOKKEEPING_TABLES
    assert set(expected) == set(actual) == read_models
    for name in sorted(read_models):
        if actual[name] != expected[name]:
            missing = [row for row in expected[name] if row not in set(actual[name])]
            extra = [row for row in actual[name] if row not in set(expected[name])]
            raise AssertionError(
                f"table {name}: {len(missing)} rows missing, {len(extra)} unexpected; "
                f"first missing {missing[:1]}, first unexpected {extra[:1]}"
            )


def assert_group_builds_what_one_reader_builds(
    world: World,
    sqlite_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
    postgres_url: str,
    tmp_path: Path,
) -> ProjectionStore:
    """Relay the write side's history to the (three-partition) topic; one reader builds
    SQLite tables, which must match the write side; three worker processes in one consumer
    group build PostgreSQL tables, which must equal the reader's, table by table. Returns
    the reader's store."""
    head = publish(world, sqlite_url, kafka_bootstrap, kafka_topic)
    assert kafka_head_position(kafka_bootstrap, kafka_topic) == head

    # Both verify every countersignature: the reader in a pool of two, each worker in its own.
    keys = world.app.registry_public_keys
    single = ProjectionStore(f"sqlite:///{tmp_path / 'single.sqlite'}")
    assert catch_up_kafka(single, kafka_bootstrap, kafka_topic, keys, workers=2) == head
    assert_matches_write_side(single, world.app)

    group_store = ProjectionStore(postgres_url)  # three processes, one PostgreSQL database
    key_hex = world.app.registry_key.public_key.hex()
    workers = [
        worker(postgres_url, kafka_bootstrap, kafka_topic, "--registry-public-key", key_hex)
        for _ in range(3)
    ]
    try:
        wait_until_applied(group_store, head)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        for process in workers:
            process.wait(timeout=60)
    assert_same_tables(group_store.dump(), single.dump())
    progress = group_store.progress("kafka:" + kafka_topic)
    assert sum(p.events_applied for p in progress.values()) == head
    assert len(progress) == 3
    return single


@pytest.mark.kafka
@pytest.mark.postgres
def test_several_workers_build_the_same_tables_as_one(
    world: World,
    sqlite_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    random_history(world, 2_500, seed=11)
    assert_group_builds_what_one_reader_builds(
        world, sqlite_url, kafka_bootstrap, kafka_topic, postgres_url, tmp_path
    )


@pytest.mark.kafka
@pytest.mark.postgres
def test_several_workers_build_the_programme_and_exchange_tables_as_one(
    world: World,
    sqlite_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """Pools, meetings, the 62-row allocation, agreements, deliveries (pending ones too)
    and contributions, amid random transfers, retirements and cancellations."""
    programme_history(world, 1_500, seed=13)
    assert invariant_violations(world.app.ledger) == []
    single = assert_group_builds_what_one_reader_builds(
        world, sqlite_url, kafka_bootstrap, kafka_topic, postgres_url, tmp_path
    )
    # The history holds what this test is about, so a changed scenario cannot hollow it out.
    with single.engine.connect() as connection:
        _rows, totals = queries.allocation(connection, tokyo62.POOL_ID)
        meetings = queries.meetings(connection, tokyo62.POOL_ID)
        d = tables.deliveries.c
        outcomes: dict[str, str | None] = {
            row.delivery_id: row.outcome
            for row in connection.execute(sa.select(d.delivery_id, d.outcome))
        }
        iwaizumi = queries.balance(connection, partners.IWAIZUMI)
        contributions = connection.scalar(
            sa.select(sa.func.count()).select_from(tables.contributions)
        )
        pool_rule = connection.scalar(
            sa.select(tables.pools.c.rule).where(tables.pools.c.pool_id == tokyo62.POOL_ID)
        )
    by_label = {total.label: total for total in totals}
    assert by_label["project's own events"].offset_kg == 40_000
    assert by_label["total"].offset_kg == 60_000  # random meeting retirements are not the pool's
    assert len(meetings) == 80 and all(m.retired_kg for m in meetings) and pool_rule
    assert outcomes == DELIVERY_OUTCOMES
    assert iwaizumi.pending_kg == OPEN_DELIVERY_KG
    assert contributions == partners.HOUSEHOLDS


@pytest.mark.kafka
def test_worker_killed_mid_batch_ends_identical_to_a_clean_rebuild(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    random_history(world, 2_000, seed=5)
    head = publish(world, sqlite_url, kafka_bootstrap, kafka_topic)
    url = f"sqlite:///{tmp_path / 'crashed.sqlite'}"
    key = ("--registry-public-key", world.app.registry_key.public_key.hex())
    victim = worker(url, kafka_bootstrap, kafka_topic, "--pause-before-commit-ms", "60000", *key)
    assert victim.stderr is not None
    deadline = time.monotonic() + 120
    while "pausing before commit" not in victim.stderr.readline():
        assert victim.poll() is None and time.monotonic() < deadline
    victim.send_signal(signal.SIGKILL)  # rows written, transaction open: killed right there
    victim.wait(timeout=30)
    store = ProjectionStore(url)
    assert store.applied_count() == 0  # the open transaction died with the process

    restarted = worker(url, kafka_bootstrap, kafka_topic, *key)
    try:
        wait_until_applied(store, head)
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
    rebuilt = ProjectionStore(f"sqlite:///{tmp_path / 'rebuilt.sqlite'}")
    catch_up_kafka(rebuilt, kafka_bootstrap, kafka_topic)
    assert_same_tables(store.dump(), rebuilt.dump())
    assert_matches_write_side(store, world.app)


@pytest.mark.kafka
def test_catch_up_verifies_countersignatures_and_skips_forgeries(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    """Whoever can write to the topic cannot write to the read models: a record sealed by
    another key (registering a party) and garbage are skipped, whether the signatures are
    checked in this process or by a pool, and both build the same rows. Without the key the
    forgery would be projected."""
    random_history(world, 300, seed=5)
    head = publish(world, sqlite_url, kafka_bootstrap, kafka_topic)
    intruder = ev.PartyRegistered("intruder", "municipality", "Intruder", None, None, "x")
    forged = seal(
        world.app.codec.schemas,
        EnvelopeBody(
            head + 1,
            0,
            bytes(32),
            SignedCommand("intruder", "ed25519:0", b"", b""),
            (world.app.codec.encode_event(intruder),),
        ),
        SigningKey.generate(),
    )
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for value, position in ((forged, head + 1), (b"garbage", head + 2)):
        producer.send(
            kafka_topic, key=b"x", value=value, headers=[(POSITION_HEADER, str(position).encode())]
        )
    producer.flush()
    producer.close()

    keys = world.app.registry_public_keys
    dumps = []
    # In this process, in a pool of two, and writing in a process of its own (what a long
    # backlog gets): the same rows, the forgery in none.
    for workers, writer_process in ((0, False), (2, False), (0, True)):
        name = f"verified-{workers}-{writer_process}.sqlite"
        store = ProjectionStore(f"sqlite:///{tmp_path / name}")
        applied = catch_up_kafka(store, kafka_bootstrap, kafka_topic, keys, workers, writer_process)
        assert applied == head
        assert "intruder" not in {row[0] for row in store.dump()["parties"]}
        dumps.append(store.dump())
    assert_same_tables(dumps[0], dumps[1])
    assert_same_tables(dumps[0], dumps[2])
    trusting = ProjectionStore(f"sqlite:///{tmp_path / 'trusting.sqlite'}")
    assert catch_up_kafka(trusting, kafka_bootstrap, kafka_topic) == head + 1
    assert "intruder" in {row[0] for row in trusting.dump()["parties"]}


@pytest.mark.kafka
def test_signed_checkpoints_reach_the_read_models_after_their_envelopes(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    """The relay publishes checkpoints to <topic>.checkpoints; a catch-up copies those whose
    signature verifies, and the read models' Merkle tree has the same root, so the web view
    can prove any position. A checkpoint signed by another key is not copied."""
    random_history(world, 300, seed=9)
    checkpoint = world.app.record_checkpoint()
    engine = sa.create_engine(sqlite_url)
    Relay(
        event_store_recorder(sqlite_url),
        KafkaPublisher(kafka_bootstrap, kafka_topic),
        RelayPositions(engine),
        "kafka",
        checkpoints=CheckpointStore(engine),
    ).run(threading.Event(), exit_when_caught_up=True)
    stranger = KafkaPublisher(kafka_bootstrap, kafka_topic)
    stranger.publish_checkpoints([Checkpoint.sign(3, bytes(32), SigningKey.generate())])
    stranger.close()
    store = ProjectionStore(f"sqlite:///{tmp_path / 'proofs.sqlite'}")
    catch_up_kafka(store, kafka_bootstrap, kafka_topic, world.app.registry_public_keys, 0)
    with store.engine.connect() as connection:
        latest = public_queries.latest_checkpoint(connection)
        sizes = [c.tree_size for c in public_queries.checkpoints_up_to(connection, 10**9, 100)]
        path = merkle.inclusion_path(connection, 7, checkpoint.tree_size)
    assert latest is not None and latest.checkpoint == checkpoint and latest.matches_log
    assert 3 not in sizes and checkpoint.tree_size in sizes
    assert path is not None
    leaf = leaf_hash(next(world.app.read_envelopes(6)).sealed_bytes)  # position 7
    assert verify_inclusion(leaf, 6, checkpoint.tree_size, path, checkpoint.root)
