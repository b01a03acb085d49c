"""The registry's countersigning key rotates in the chain: a handover signed by the outgoing
key, the new key sealing every later envelope. A history that rotated twice audits clean
from the first key alone (from the store and from an export), proofs carry the handovers to
the standalone verifier, and a seal or checkpoint by a key outside its positions is refused
by the write side, the audit and the readers that feed the projections."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from projections.checking import RecordChecker
from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.audit.auditor import Auditor
from registry.audit.proofs import consistency_document, inclusion_document
from registry.audit.replay import verify_history
from registry.audit.sources import DatabaseSource, ExportSource, export
from registry.domain import commands as c
from registry.domain import rules
from registry.domain.checks import CheckCode
from registry.envelope.codec import SchemaRegistry
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import (
    SEALED_SCHEMA,
    EnvelopeBody,
    EnvelopeError,
    SignedCommand,
    open_sealed,
    seal,
)
from registry.log import GapError
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.rpc.status import status_code_for
from registry.transparency.checkpoints import Checkpoint, CheckpointStore, checkpoints_table
from registry.transparency.proof_verifier import verify_proof_document
from registry.transparency.registry_keys import (
    RegistryKeyHistory,
    follow_envelope,
    rotation_command,
)
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID, Sequenced, event_store_recorder
from tests.conftest import ROOT
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, OPERATOR, World, build_world

CHECKPOINT_INTERVAL = 5
VERIFIER = ROOT / "registry/transparency/proof_verifier.py"


@dataclasses.dataclass
class Rotated:
    """A history sealed by three registry keys in turn: first, second, third."""

    world: World
    url: str
    keys: tuple[SigningKey, SigningKey, SigningKey]
    rotations: tuple[int, int]  # the positions of the two handovers

    @property
    def pinned(self) -> dict[str, bytes]:
        return {self.keys[0].key_id: self.keys[0].public_key}


def rotate(world: World, outgoing: SigningKey, incoming: SigningKey) -> int:
    position = world.app.ledger.position + 1
    world.ok(OPERATOR, rotation_command(outgoing, incoming.public_key, position))
    return position


def trade(world: World, rounds: int) -> None:
    for _ in range(rounds):
        world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 10))
        world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 5))


@pytest.fixture
def rotated(sqlite_url: str) -> Rotated:
    first, second, third = (SigningKey.generate() for _ in range(3))
    app = RegistryApplication(
        sqlite_url, first, checkpoint_interval=CHECKPOINT_INTERVAL, further_registry_keys=[second]
    )
    world = build_world(app)
    world.issue(10_000, IWAIZUMI)
    trade(world, 3)
    one = rotate(world, first, second)
    assert app.registry_key.key_id == second.key_id  # the rotating process seals with it now
    trade(world, 3)
    # Restarted with the second key file only, and the first key pinned: it catches up.
    restarted = RegistryApplication(
        sqlite_url,
        second,
        checkpoint_interval=CHECKPOINT_INTERVAL,
        further_registry_keys=[third],
        pinned_registry_keys={first.key_id: first.public_key},
    )
    world.app = restarted
    two = rotate(world, second, third)
    trade(world, 3)
    world.app = RegistryApplication(
        sqlite_url,
        third,
        checkpoint_interval=CHECKPOINT_INTERVAL,
        pinned_registry_keys=world.app.registry_public_keys,
    )
    world.app.record_checkpoint()
    return Rotated(world, sqlite_url, (first, second, third), (one, two))


def test_a_history_that_rotated_twice_audits_clean_from_the_first_key(
    rotated: Rotated, tmp_path: Path
) -> None:
    envelopes = list(rotated.world.app.read_envelopes())
    sealers = [e.registry_key_id for e in envelopes]
    one, two = rotated.rotations
    first, second, third = (key.key_id for key in rotated.keys)
    assert sealers == [first] * one + [second] * (two - one) + [third] * (len(envelopes) - two)
    assert verify_history(envelopes, rotated.pinned).clean
    store_report = Auditor(rotated.pinned, workers=2, progress=False).run(
        DatabaseSource(rotated.url)
    )
    assert store_report.clean, store_report.discrepancies
    checkpoints = CheckpointStore(sa.create_engine(rotated.url)).all()
    assert {c.registry_key_id for c in checkpoints} == {first, second, third}
    assert store_report.summary["checkpoints_verified"] == len(checkpoints)
    path = tmp_path / "history.avro"
    export(DatabaseSource(rotated.url), path)
    export_report = Auditor(rotated.pinned, workers=2, progress=False).run(ExportSource(path))
    assert export_report.clean, export_report.discrepancies
    # Only the first key anchors the history: a later one alone does not vouch for it.
    later = {rotated.keys[2].key_id: rotated.keys[2].public_key}
    report = Auditor(later, workers=2, progress=False).run(ExportSource(path))
    assert [(d.position, d.reason) for d in report.discrepancies][:1] == [
        (1, f"unknown registry key {first}")
    ]


def test_the_readers_of_the_log_follow_the_rotations(rotated: Rotated, tmp_path: Path) -> None:
    engine = sa.create_engine(rotated.url)
    Relay(event_store_recorder(rotated.url), EmbeddedLog(engine), RelayPositions(engine)).run(
        threading.Event(), exit_when_caught_up=True
    )
    log = EmbeddedLog(engine, registry_public_keys=rotated.pinned)
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert catch_up_embedded(store, log) == rotated.world.app.ledger.position
    # A reader starting after both rotations takes them up from the log first.
    later = [e.body.position for e in log.read(rotated.rotations[1] + 1)]
    assert later == list(range(rotated.rotations[1] + 2, rotated.world.app.ledger.position + 1))


def test_a_replica_left_with_the_old_key_refuses_to_write(rotated: Rotated) -> None:
    first = rotated.keys[0]
    replica = RegistryApplication(rotated.url, first)  # catches up: the history is fine
    assert replica.ledger.position == rotated.world.app.ledger.position
    signer = rotated.world.signer(AKISHIMA)
    result = replica.submit(signer.sign(c.TransferCredits(AKISHIMA, MUSASHINO, 1)))
    assert (result.accepted, result.code) == (False, CheckCode.REGISTRY_KEY_NOT_CURRENT)
    assert rotated.keys[2].key_id in result.message
    assert status_code_for(CheckCode.REGISTRY_KEY_NOT_CURRENT).name == "UNAVAILABLE"
    assert replica.ledger.position == rotated.world.app.ledger.position


def test_only_the_holder_of_the_current_key_rotates_it(rotated: Rotated) -> None:
    world = rotated.world
    first, _second, third = rotated.keys
    position = world.app.ledger.position + 1
    stranger = SigningKey.generate()
    cases = {
        "signed by a retired key": (
            rotation_command(first, stranger.public_key, position),
            CheckCode.BAD_HANDOVER,
        ),
        "signed by a stranger": (
            dataclasses.replace(
                rotation_command(stranger, stranger.public_key, position),
                retired_key_id=third.key_id,
            ),
            CheckCode.BAD_HANDOVER,
        ),
        "for another position": (
            rotation_command(third, stranger.public_key, position + 1),
            CheckCode.BAD_HANDOVER,
        ),
        "back to a retired key": (
            rotation_command(third, first.public_key, position),
            CheckCode.KEY_ALREADY_REGISTERED,
        ),
    }
    for name, (body, code) in cases.items():
        result = world.run(OPERATOR, body)
        assert (result.accepted, result.code) == (False, code), (name, result)
    body = rotation_command(third, stranger.public_key, position)
    assert world.run(AKISHIMA, body).code is CheckCode.ROLE_NOT_ALLOWED
    assert world.app.ledger.position == position - 1


def seal_after(app: RegistryApplication, key: SigningKey, signed: SignedCommand) -> bytes:
    """The next envelope, chained to the head, sealed by `key`, stored as the write side would."""
    head = list(app.read_envelopes(app.ledger.position - 1))[-1]
    recorded_at = head.body.recorded_at_us + 1
    effects = rules.decide(app.ledger, app.codec.decode_command(signed.command_bytes), recorded_at)
    encoded = tuple(app.codec.encode_events(effects))
    body = EnvelopeBody(head.body.position + 1, recorded_at, head.hash, signed, encoded)
    sealed = seal(app.codec.schemas, body, key)
    timestamp = datetime.fromtimestamp(recorded_at / 1_000_000, tz=UTC)
    app.save(Sequenced(CHAIN_ID, body.position, timestamp, sealed))
    return sealed


def test_a_seal_by_the_old_key_after_its_rotation_is_refused_everywhere(rotated: Rotated) -> None:
    app = rotated.world.app
    first = rotated.keys[0]  # a thief holding the first key, long retired
    signed = rotated.world.signer(AKISHIMA).sign(c.TransferCredits(AKISHIMA, MUSASHINO, 1))
    sealed = seal_after(app, first, signed)
    position = app.ledger.position + 1
    reason = f"registry key {first.key_id} does not seal position {position}"
    # The write side, catching up, refuses it.
    with pytest.raises(EnvelopeError, match=reason):
        app.catch_up()
    with pytest.raises(EnvelopeError, match=reason):
        RegistryApplication(rotated.url, rotated.keys[2], pinned_registry_keys=rotated.pinned)
    # The audit, at its position.
    report = Auditor(rotated.pinned, workers=2, progress=False).run(DatabaseSource(rotated.url))
    assert [(d.position, d.reason[: len(reason)]) for d in report.discrepancies] == [
        (position, reason)
    ]
    # The readers that feed the projections: in order, and record by record.
    engine = sa.create_engine(rotated.url)
    Relay(event_store_recorder(rotated.url), EmbeddedLog(engine), RelayPositions(engine)).run(
        threading.Event(), exit_when_caught_up=True
    )
    log = EmbeddedLog(engine, registry_public_keys=rotated.pinned)
    with pytest.raises(GapError):
        list(log.read())
    assert [q.reason[: len(reason)] for q in log.quarantined] == [reason]
    # A consumer-group member checks records one by one against the history it learned.
    history = RegistryKeyHistory(dict(rotated.pinned))
    for envelope in app.read_envelopes():
        follow_envelope(history, app.codec, envelope)
    checker = RecordChecker(history, workers=0)
    record = SimpleNamespace(headers=[("position", str(position).encode())], value=sealed, offset=0)
    assert checker.envelopes(0, checker.submit([record])) == []
    resealed = SimpleNamespace(
        headers=record.headers, value=seal_again(sealed, rotated.keys[2]), offset=1
    )
    assert [e.body.position for e in checker.envelopes(0, checker.submit([resealed]))] == [position]
    checker.close()


def seal_again(sealed: bytes, key: SigningKey) -> bytes:
    """The same envelope body sealed by another key."""
    schemas = SchemaRegistry()
    body = open_sealed(schemas, sealed).body_bytes
    record = {"body": body, "registry_key_id": key.key_id, "registry_signature": key.sign(body)}
    return schemas.encode(SEALED_SCHEMA, record)


def test_a_checkpoint_signed_by_a_retired_key_is_refused(rotated: Rotated) -> None:
    store = CheckpointStore(sa.create_engine(rotated.url))
    genuine = store.latest()
    assert genuine is not None and genuine.tree_size > rotated.rotations[1]
    # A thief with the second key signs the head's checkpoint, after that key's retirement.
    with store.engine.begin() as connection:
        connection.execute(
            sa.delete(checkpoints_table).where(checkpoints_table.c.tree_size == genuine.tree_size)
        )
    forged = Checkpoint.sign(genuine.tree_size, genuine.root, rotated.keys[1])
    store.record([forged])
    report = Auditor(rotated.pinned, workers=2, progress=False).run(DatabaseSource(rotated.url))
    assert [(d.position, d.reason) for d in report.discrepancies] == [
        (genuine.tree_size, "checkpoint signature does not verify")
    ]
    assert genuine.verifies(report_history(rotated)) and not forged.verifies(
        report_history(rotated)
    )


def report_history(rotated: Rotated) -> RegistryKeyHistory:
    history = RegistryKeyHistory(dict(rotated.pinned))
    app = rotated.world.app
    for envelope in app.read_envelopes():
        follow_envelope(history, app.codec, envelope)
    return history


def run_verifier(path: Path, public_key: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFIER), str(path), public_key.hex()], capture_output=True, text=True
    )


def test_the_standalone_verifier_follows_the_handovers_from_the_first_key(
    rotated: Rotated, tmp_path: Path
) -> None:
    first, second, third = rotated.keys
    source = DatabaseSource(rotated.url)
    document = inclusion_document(source, 3)
    assert document["checkpoint"]["registry_key_id"] == third.key_id
    assert [h["key_id"] for h in document["registry_key_handovers"]] == [
        second.key_id,
        third.key_id,
    ]
    assert verify_proof_document(document, first.public_key)[0]
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document))
    valid = run_verifier(path, first.public_key)
    assert valid.returncode == 0 and valid.stdout.startswith("VALID"), valid.stdout
    # A bent handover, a missing one, or a later key pinned: not valid.
    for bend in ("signature", "key", "drop"):
        bent = json.loads(path.read_text())
        chain = bent["registry_key_handovers"]
        if bend == "signature":
            chain[1]["handover_signature"] = chain[1]["handover_signature"][::-1]
        elif bend == "key":
            chain[0]["public_key"] = SigningKey.generate().public_key.hex()
        else:
            del chain[0]
        bent_path = tmp_path / f"bent-{bend}.json"
        bent_path.write_text(json.dumps(bent))
        refused = run_verifier(bent_path, first.public_key)
        assert refused.returncode == 1 and refused.stdout.startswith("INVALID"), (
            bend,
            refused.stdout,
        )
    assert not verify_proof_document(document, third.public_key)[0]
    # A consistency proof across the rotations, from a checkpoint of the first key's time.
    sizes = [c.tree_size for c in source.checkpoints]
    consistency = consistency_document(source, sizes[0], sizes[-1])
    assert verify_proof_document(consistency, first.public_key)[0]


@pytest.mark.kafka
def test_kafka_readers_learn_the_rotations_from_the_checkpoints_topic(
    rotated: Rotated, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    """Group members see only some partitions: the relay publishes each handover on the
    checkpoints topic before the envelope recording it, and every reader follows them."""
    from projections.runner import catch_up_kafka
    from registry.log.kafka import KafkaLogReader, KafkaPublisher

    engine = sa.create_engine(rotated.url)
    publisher = KafkaPublisher(kafka_bootstrap, kafka_topic)
    relay = Relay(
        event_store_recorder(rotated.url),
        publisher,
        RelayPositions(engine),
        "kafka:" + kafka_topic,
        checkpoints=CheckpointStore(engine),
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    head = rotated.world.app.ledger.position
    reader = KafkaLogReader(kafka_bootstrap, kafka_topic, registry_public_keys=rotated.pinned)
    assert [e.body.position for e in reader.read()] == list(range(1, head + 1))
    assert reader.quarantined == []
    store = ProjectionStore(f"sqlite:///{tmp_path / 'projections.sqlite'}")
    assert catch_up_kafka(store, kafka_bootstrap, kafka_topic, rotated.pinned, workers=0) == head
    # A seal by the retired first key after the rotations: quarantined, the rest delivered.
    signed = rotated.world.signer(AKISHIMA).sign(c.TransferCredits(AKISHIMA, MUSASHINO, 1))
    seal_after(rotated.world.app, rotated.keys[0], signed)
    relay.run(threading.Event(), exit_when_caught_up=True)
    reader = KafkaLogReader(kafka_bootstrap, kafka_topic, registry_public_keys=rotated.pinned)
    assert [e.body.position for e in reader.read()] == list(range(1, head + 1))
    assert [q.position for q in reader.quarantined] == [head + 1]
    assert reader.quarantined[0].reason.startswith(f"registry key {rotated.keys[0].key_id}")
    publisher.close()
