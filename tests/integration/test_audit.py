"""The audit on a real recorded history and its export: clean when untouched; each kind of
tampering detected at its exact position, with its reason. Proofs verify standalone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import fastavro
import pytest
import sqlalchemy

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.audit.auditor import Auditor, AuditReport
from registry.audit.export import EXPORT_SCHEMA, ExportRecord, read_export, write_export
from registry.audit.proofs import consistency_document, inclusion_document
from registry.audit.replay import ALTERED
from registry.audit.sources import DatabaseSource, ExportSource
from registry.audit.sources import export as export_history
from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain import events as ev
from registry.domain import rules
from registry.domain.emissions import Factor, MeetingInputs
from registry.domain.serials import SerialBlock
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import (
    EnvelopeBody,
    OpenedEnvelope,
    SignedCommand,
    open_sealed,
    seal,
    verify_sealed,
)
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.support.clock import now_us
from registry.transparency.proof_verifier import verify_proof_document
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID, Sequenced, event_store_recorder
from tests.conftest import ROOT
from tests.support.helpers import (
    AKISHIMA,
    ISSUER,
    IWAIZUMI,
    MUSASHINO,
    OPERATOR,
    PROJECT,
    World,
    build_world,
)
from tests.support.history import random_history


@pytest.fixture
def recorded(sqlite_url: str, registry_key: SigningKey, tmp_path: Path) -> tuple[World, Path]:
    app = RegistryApplication(sqlite_url, registry_key, checkpoint_interval=250)
    world = build_world(app)
    random_history(world, 1_200, seed=3)
    world.ok(OPERATOR, c.RevokeKey(MUSASHINO, world.keys[MUSASHINO].key_id, "compromised"))
    app.record_checkpoint()
    export = tmp_path / "history.avro"
    source = DatabaseSource(sqlite_url)
    write_export(
        export,
        ((e.body.position, e.sealed_bytes) for e in source.items()),
        source.checkpoints,
        {"envelopes": str(source.total)},
    )
    return world, export


def audit(world: World, path: Path, **options: object) -> AuditReport:
    return Auditor(world.app.registry_public_keys, workers=2, progress=False, **options).run(
        ExportSource(path)
    )  # type: ignore[arg-type]


def rewrite(
    source: Path, target: Path, change: Callable[[list[ExportRecord]], list[ExportRecord]]
) -> Path:
    records = change(list(read_export(source)))
    with target.open("wb") as file:
        fastavro.writer(
            file,
            EXPORT_SCHEMA,
            [{"kind": r.kind, "position": r.position, "data": r.data} for r in records],
        )
    return target


def envelopes_only(records: list[ExportRecord]) -> list[ExportRecord]:
    return [r for r in records if r.kind == "ENVELOPE"]


def test_clean_history_audits_clean_with_summary_and_checkpoints(
    recorded: tuple[World, Path],
) -> None:
    world, export = recorded
    report = audit(world, export)
    assert report.clean, report.discrepancies
    ledger = world.app.ledger
    assert report.envelopes == ledger.position
    summary = report.summary
    assert summary["events"] == ledger.position
    assert summary["batches"] == len(ledger.batches)
    assert summary["issued_kg"] == sum(s.issued_kg for s in ledger.supply.values())
    assert summary["retired_kg"] == sum(s.retired_kg for s in ledger.supply.values())
    assert summary["cancelled_kg"] == sum(s.cancelled_kg for s in ledger.supply.values())
    assert summary["checkpoints_verified"] == ledger.position // 250 + 1
    assert summary["root"] == world.app.tree.root().hex()


def test_each_tampering_is_detected_at_its_position(
    recorded: tuple[World, Path], tmp_path: Path
) -> None:
    world, export = recorded
    schemas = world.app.codec.schemas
    k = 400

    def flip(records: list[ExportRecord]) -> list[ExportRecord]:
        out = []
        for r in records:
            if r.kind == "ENVELOPE" and r.position == k:
                data = bytearray(r.data)
                data[len(data) // 2] ^= 0x01
                r = ExportRecord(r.kind, r.position, bytes(data))
            out.append(r)
        return out

    def delete(records: list[ExportRecord]) -> list[ExportRecord]:
        return [r for r in records if not (r.kind == "ENVELOPE" and r.position == k)]

    def swap(records: list[ExportRecord]) -> list[ExportRecord]:
        index = next(i for i, r in enumerate(records) if r.kind == "ENVELOPE" and r.position == k)
        records[index], records[index + 1] = records[index + 1], records[index]
        return records

    def duplicate(records: list[ExportRecord]) -> list[ExportRecord]:
        index = next(i for i, r in enumerate(records) if r.kind == "ENVELOPE" and r.position == k)
        return [*records[: index + 1], records[index], *records[index + 1 :]]

    def forge_countersignature(records: list[ExportRecord]) -> list[ExportRecord]:
        impostor = SigningKey.generate()
        out = []
        for r in records:
            if r.kind == "ENVELOPE" and r.position == k:
                opened = open_sealed(schemas, r.data)
                forged = schemas.encode(
                    "credit_registry.v1.SealedEnvelope",
                    {
                        "body": opened.body_bytes,
                        "registry_key_id": opened.registry_key_id,
                        "registry_signature": impostor.sign(opened.body_bytes),
                    },
                )
                r = ExportRecord(r.kind, r.position, forged)
            out.append(r)
        return out

    def revoked_key(records: list[ExportRecord]) -> list[ExportRecord]:
        # A registry that countersigns a command made with a key revoked earlier in the log.
        envelopes = [open_sealed(schemas, r.data) for r in envelopes_only(records)]
        last = envelopes[-1]
        signer = CommandSigner(world.app.codec, MUSASHINO, world.keys[MUSASHINO])
        signed = signer.sign(
            c.RotateKey(MUSASHINO, world.keys[MUSASHINO].key_id, SigningKey.generate().public_key)
        )
        body = EnvelopeBody(
            last.body.position + 1, last.body.recorded_at_us + 1, last.hash, signed, ()
        )
        sealed = seal(schemas, body, world.app.registry_key)
        return [*envelopes_only(records), ExportRecord("ENVELOPE", body.position, sealed)]

    # (position, any of these reasons, where the audit stops: None when it can go on)
    expected = {
        flip: (k, (ALTERED, "undecodable"), k),
        delete: (k, ("is missing",), k),
        swap: (k, ("is missing or out of order",), k),
        duplicate: (k, ("appears again", "identical bytes, skipped"), None),
        forge_countersignature: (k, (ALTERED,), k),
        revoked_key: (world.app.ledger.position + 1, ("actor key not valid here", "revoked"), None),
    }
    for change, (position, reasons, stopped_at) in expected.items():
        report = audit(world, rewrite(export, tmp_path / f"{change.__name__}.avro", change))
        assert not report.clean, change.__name__
        first = min(report.discrepancies, key=lambda d: d.position)
        assert first.position == position, (change.__name__, report.discrepancies[:3])
        assert any(reason in first.reason for reason in reasons), (change.__name__, first)
        assert (report.stopped.position if report.stopped else None) == stopped_at, (
            change.__name__,
            report.stopped,
        )
        # Never "the log ends at" when the log goes on: checkpoints past a stop are unchecked.
        assert not any("the log ends at" in d.reason for d in report.discrepancies), change


def test_tampered_checkpoint_is_detected(recorded: tuple[World, Path], tmp_path: Path) -> None:
    world, export = recorded

    def bend(records: list[ExportRecord]) -> list[ExportRecord]:
        out = []
        for r in records:
            if r.kind == "CHECKPOINT" and r.position == 500:
                document = json.loads(r.data)
                document["root"] = "00" * 32
                r = ExportRecord(r.kind, r.position, json.dumps(document).encode())
            out.append(r)
        return out

    report = audit(world, rewrite(export, tmp_path / "bent.avro", bend))
    assert [(d.position, d.reason) for d in report.discrepancies] == [
        (500, "checkpoint signature does not verify")
    ]


def test_live_projections_are_compared_with_a_rebuild(
    recorded: tuple[World, Path], sqlite_url: str, tmp_path: Path
) -> None:
    world, export = recorded
    engine = sqlalchemy.create_engine(sqlite_url)
    log = EmbeddedLog(engine)
    Relay(event_store_recorder(sqlite_url), log, RelayPositions(engine), "embedded").run(
        threading.Event(), exit_when_caught_up=True
    )
    live_url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    catch_up_embedded(ProjectionStore(live_url), log)
    assert audit(world, export, compare_projection_url=live_url).clean
    with sqlalchemy.create_engine(live_url).begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "UPDATE balances SET tradable_kg = tradable_kg + 1 WHERE party_id = '132071'"
            )
        )
    report = audit(world, export, compare_projection_url=live_url)
    assert [d.reason.split(":")[0] for d in report.discrepancies] == [
        "live projection table balances differs"
    ]


def test_inclusion_and_consistency_proofs_verify_with_the_standalone_verifier(
    recorded: tuple[World, Path], tmp_path: Path
) -> None:
    world, export = recorded
    source = ExportSource(export)
    retired_name = "credit_registry.v1.CreditsRetired"
    fingerprint = world.app.codec.schemas.latest[retired_name].fingerprint
    retirement_position = next(
        item.body.position
        for item in source.items()
        if isinstance(item, OpenedEnvelope)
        and any(effect[2:10] == fingerprint for effect in item.body.effects)
    )
    public_hex = world.app.registry_key.public_key.hex()
    inclusion = inclusion_document(source, retirement_position)
    assert verify_proof_document(inclusion, bytes.fromhex(public_hex))[0]
    path = tmp_path / "inclusion.json"
    path.write_text(json.dumps(inclusion))
    verifier = [
        sys.executable,
        str(ROOT / "registry/transparency/proof_verifier.py"),
        str(path),
        public_hex,
    ]
    result = subprocess.run(
        verifier, capture_output=True, text=True, cwd=tmp_path
    )  # standalone: outside the project
    assert result.returncode == 0 and result.stdout.startswith("VALID: included"), (
        result.stdout + result.stderr
    )
    last_byte = int(inclusion["sealed_envelope"][-2:], 16) ^ 0x01  # always a different byte
    forged = dict(inclusion, sealed_envelope=inclusion["sealed_envelope"][:-2] + f"{last_byte:02x}")
    path.write_text(json.dumps(forged))
    assert subprocess.run(verifier, capture_output=True, text=True).returncode == 1

    consistency = consistency_document(source, 250, 1_000)
    assert verify_proof_document(consistency, bytes.fromhex(public_hex)) == (
        True,
        "consistent: checkpoint 1000 extends checkpoint 250",
    )
    other_key = SigningKey.generate().public_key
    assert not verify_proof_document(consistency, other_key)[0]


def test_audit_cli_writes_a_report_and_exits_non_zero_on_tampering(
    recorded: tuple[World, Path], tmp_path: Path
) -> None:
    world, export = recorded
    command = [
        sys.executable,
        "-m",
        "registry.cli",
        "audit",
        "--export",
        str(export),
        "--registry-public-key",
        world.app.registry_key.public_key.hex(),
        "--report",
        str(tmp_path / "report.json"),
        "--progress",
    ]
    clean = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "CLEAN" in clean.stdout
    assert "ETA" in clean.stderr  # the progress bar
    assert json.loads((tmp_path / "report.json").read_text())["verdict"] == "CLEAN"
    broken = rewrite(
        export,
        tmp_path / "broken.avro",
        lambda records: [r for r in records if r.position != 77 or r.kind != "ENVELOPE"],
    )
    failed = subprocess.run(
        [*command[:5], str(broken), *command[6:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert failed.returncode == 1
    assert "DISCREPANCY at position 77" in failed.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["verdict"] == "DISCREPANCIES" and report["discrepancies"][0]["position"] == 77


def test_unknown_registry_key_fails_everything(recorded: tuple[World, Path]) -> None:
    _world, export = recorded
    report = Auditor({"ed25519:0000": bytes(32)}, workers=1, progress=False).run(
        ExportSource(export)
    )
    assert not report.clean and report.discrepancies[0].position == 1


@pytest.mark.kafka
def test_audit_from_kafka_with_published_checkpoints(
    recorded: tuple[World, Path], sqlite_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    from registry.audit.sources import KafkaSource
    from registry.log.kafka import KafkaPublisher
    from registry.transparency.checkpoints import CheckpointStore

    world, _export = recorded
    engine = sqlalchemy.create_engine(sqlite_url)
    relay = Relay(
        event_store_recorder(sqlite_url),
        KafkaPublisher(kafka_bootstrap, kafka_topic),
        RelayPositions(engine),
        "kafka",
        batch_events=300,
        checkpoints=CheckpointStore(engine),
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    source = KafkaSource(kafka_bootstrap, kafka_topic)
    assert [c.tree_size for c in source.checkpoints] == [
        c.tree_size for c in world.app.checkpoints.all()
    ]
    report = Auditor(world.app.registry_public_keys, workers=2, progress=False).run(source)
    assert report.clean, report.discrepancies
    assert report.summary["checkpoints_verified"] == len(source.checkpoints) > 1
    assert report.envelopes == world.app.ledger.position


# -- Rule-breaking histories countersigned by the real registry key ----------------------
# Auditors trust only the public keys and the log, so a registry that seals a command the
# rules refuse, with a valid countersignature and a correct hash chain, must still be caught:
# the audit decides every command again and compares with what was recorded.


@dataclass(frozen=True)
class Forgery:
    """What a dishonest registry puts in one envelope: a signed command and its effects."""

    signed: SignedCommand
    effects: list[ev.Event]
    recorded_at_us: int


POOL = "AUDIT-FY2011"
KWH_TABLE = c.RegisterFactorTable(
    "audit-one-kg-per-kwh", (Factor("electricity", "kWh", 10**6, "1 kg"),)
)
MEETING_INPUTS = MeetingInputs(electricity_kwh=120)  # 120 kg under KWH_TABLE


def small_world(sqlite_url: str, registry_key: SigningKey) -> World:
    """Parties, a factor table, a pool with one meeting of Akishima's (estimated, not yet
    calculated), one batch of 50 t at Akishima, and a 5 t transfer to Iwaizumi at the head."""
    world = build_world(RegistryApplication(sqlite_url, registry_key))
    world.ok(OPERATOR, KWH_TABLE)
    world.ok(OPERATOR, c.OpenPool(POOL, "Audited pool", 2011, (AKISHIMA,)))
    world.ok(
        AKISHIMA,
        c.RegisterMeeting(
            POOL,
            "A1",
            "Forum",
            date(2011, 7, 1),
            "event",
            10,
            120,
            "",
            KWH_TABLE.version,
            MEETING_INPUTS,
        ),
    )
    world.issue(50_000, AKISHIMA)
    world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, IWAIZUMI, 5_000, memo="first"))
    world.app.record_checkpoint()
    return world


def decide(world: World, command: c.Command, now: int) -> list[ev.Event]:
    """The effects the rules give at the head (the write side's ledger is at the head)."""
    return rules.decide(world.app.ledger, command, now)


def altered_effects(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # Akishima signs 1 t; the registry records effects that move 2 t (consistent in themselves).
    signer = world.signer(AKISHIMA)
    body = c.TransferCredits(AKISHIMA, IWAIZUMI, 1_000, memo="one tonne")
    command = signer.command(body)
    larger = replace(command, body=replace(body, quantity_kg=2_000))
    return Forgery(signer.sign_command(command), decide(world, larger, now), now)


def same_command_recorded_twice(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # The head's transfer, the very same signed bytes, executed a second time.
    command = world.app.codec.decode_command(head.body.command.command_bytes)
    return Forgery(head.body.command, decide(world, command, now), now)


def command_id_reused(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # A different command under an id the log already holds (live, not yet expired).
    signer = world.signer(AKISHIMA)
    first_id = world.app.codec.decode_command(head.body.command.command_bytes).command_id
    command = signer.command(c.TransferCredits(AKISHIMA, IWAIZUMI, 700), command_id=first_id)
    return Forgery(signer.sign_command(command), decide(world, command, now), now)


def overspend(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # Akishima holds 45 t and signs a transfer of 46 t; the registry moves serials it lacks.
    held = world.app.ledger.tradable_kg(AKISHIMA)
    signer = world.signer(AKISHIMA)
    signed = signer.sign(c.TransferCredits(AKISHIMA, IWAIZUMI, held + 1_000))
    blocks = world.app.ledger.holdings_of(AKISHIMA)
    last = blocks[-1]
    invented = SerialBlock(last.batch_id, last.serial_end + 1, last.serial_end + 1_000)
    moved = ev.CreditsTransferred(AKISHIMA, IWAIZUMI, (*blocks, invented), held + 1_000, "")
    return Forgery(signed, [moved], now)


def bad_actor_signature(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # A valid command in Akishima's name and key id, signed by a key that is not Akishima's.
    signer = world.signer(AKISHIMA)
    command = signer.command(c.TransferCredits(AKISHIMA, IWAIZUMI, 1_000))
    genuine = signer.sign_command(command)
    impostor = SigningKey.generate().sign(genuine.command_bytes)
    forged = SignedCommand(genuine.actor_id, genuine.key_id, genuine.command_bytes, impostor)
    return Forgery(forged, decide(world, command, now), now)


def unauthorised_issuer(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # Iwaizumi is not an authorised issuer of the J-VER class; the effects are the issuer's.
    signer = world.signer(IWAIZUMI)
    body = c.IssueCredits(PROJECT, date(2011, 4, 1), date(2012, 3, 31), 9_000, IWAIZUMI)
    command = signer.command(body)
    as_issuer = replace(command, actor_id=ISSUER, key_id=world.keys[ISSUER].key_id)
    return Forgery(signer.sign_command(command), decide(world, as_issuer, now), now)


def someone_elses_credits(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # Iwaizumi signs a transfer out of Akishima's holdings.
    signer = world.signer(IWAIZUMI)
    command = signer.command(c.TransferCredits(AKISHIMA, IWAIZUMI, 3_000))
    as_owner = replace(command, actor_id=AKISHIMA, key_id=world.keys[AKISHIMA].key_id)
    return Forgery(signer.sign_command(command), decide(world, as_owner, now), now)


def calculation_recorded_larger(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # Akishima signs its meeting's inputs and the 120 kg they give; the registry records 150.
    signer = world.signer(AKISHIMA)
    body = c.RecordMeetingResult(POOL, "A1", 10, 120, "after", KWH_TABLE.version, MEETING_INPUTS)
    command = signer.command(body)
    (calculated,) = decide(world, command, now)
    assert isinstance(calculated, ev.MeetingCalculated)
    return Forgery(signer.sign_command(command), [replace(calculated, calculated_kg=150)], now)


def calculation_taken_as_sent(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # Akishima signs 150 kg for inputs that give 120 kg; the registry records it as sent.
    signer = world.signer(AKISHIMA)
    version = KWH_TABLE.version
    body = c.RecordMeetingResult(POOL, "A1", 10, 150, "after", version, MEETING_INPUTS)
    recorded = ev.MeetingCalculated(POOL, "A1", 10, 150, "after", version, MEETING_INPUTS)
    return Forgery(signer.sign_command(signer.command(body)), [recorded], now)


def recorded_long_after_creation(world: World, head: OpenedEnvelope, now: int) -> Forgery:
    # A command signed an hour ago (to live two days), recorded now at the rules' effects of
    # then: a registry whose clock ran ahead, or that held the command back. The bound on
    # recording time applies in the audit as in the write side.
    signer = world.signer(AKISHIMA)
    hour_us, two_days_us = 3_600 * 1_000_000, 2 * 24 * 3_600 * 1_000_000
    body = c.TransferCredits(AKISHIMA, IWAIZUMI, 1_000)
    command = signer.command(body, created_at_us=now - hour_us, lifetime_us=two_days_us)
    return Forgery(signer.sign_command(command), decide(world, command, now - hour_us), now)


FORGERIES: dict[str, tuple[Callable[[World, OpenedEnvelope, int], Forgery], tuple[str, ...]]] = {
    "altered_effects": (
        altered_effects,
        ("recorded effects differ from the effects the rules give",),
    ),
    "same_command_recorded_twice": (same_command_recorded_twice, ("recorded twice",)),
    "command_id_reused": (command_id_reused, ("recorded twice",)),
    "overspend": (
        overspend,
        ("a rule rejects this command", "does not have enough tradable credits"),
    ),
    "bad_actor_signature": (
        bad_actor_signature,
        ("actor signature does not verify under the key active at this position",),
    ),
    "unauthorised_issuer": (
        unauthorised_issuer,
        ("a rule rejects this command", "not an authorised issuer"),
    ),
    "someone_elses_credits": (
        someone_elses_credits,
        ("a rule rejects this command", "may not move 132071's credits"),
    ),
    "calculation_recorded_larger": (
        calculation_recorded_larger,
        ("recorded effects differ from the effects the rules give",),
    ),
    "calculation_taken_as_sent": (
        calculation_taken_as_sent,
        ("a rule rejects this command", "differs from the one the rules calculate"),
    ),
    "recorded_long_after_creation": (
        recorded_long_after_creation,
        ("a rule rejects this command", "created 3600 s before the registry's time"),
    ),
}


def countersign_after(world: World, head: OpenedEnvelope, forgery: Forgery) -> OpenedEnvelope:
    """Seal the forgery with the registry's own key as the next envelope, chained to the head,
    and store it in the event store as the write side stores envelopes."""
    app = world.app
    body = EnvelopeBody(
        head.body.position + 1,
        forgery.recorded_at_us,
        head.hash,
        forgery.signed,
        tuple(app.codec.encode_events(forgery.effects)),
    )
    sealed = seal(app.codec.schemas, body, app.registry_key)
    forged = open_sealed(app.codec.schemas, sealed)
    # What an auditor cannot object to: the real key's countersignature, the right place.
    verify_sealed(forged, app.registry_public_keys, head.body.position + 1, head.hash)
    timestamp = datetime.fromtimestamp(forgery.recorded_at_us / 1_000_000, tz=UTC)
    app.save(Sequenced(CHAIN_ID, body.position, timestamp, sealed))
    return forged


def forge(world: World, make: Callable[[World, OpenedEnvelope, int], Forgery]) -> OpenedEnvelope:
    app = world.app
    head = list(app.read_envelopes(app.ledger.position - 1))[-1]
    now = max(now_us(), head.body.recorded_at_us + 1)
    return countersign_after(world, head, make(world, head, now))


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_rule_breaking_envelope_sealed_by_the_real_registry_key_is_reported(
    name: str, sqlite_url: str, registry_key: SigningKey, tmp_path: Path
) -> None:
    world = small_world(sqlite_url, registry_key)
    make, reasons = FORGERIES[name]
    forged = forge(world, make)
    position = forged.body.position
    event = ",".join(type(world.app.codec.decode_event(e)).__name__ for e in forged.body.effects)
    path = tmp_path / "forged.avro"
    assert export_history(DatabaseSource(sqlite_url), path) == position
    for source in (ExportSource(path), DatabaseSource(sqlite_url)):
        report = Auditor(world.app.registry_public_keys, workers=2, progress=False).run(source)
        found = [(d.position, d.event) for d in report.discrepancies]
        assert found == [(position, event)], (name, source.description, report.discrepancies)
        reason = report.discrepancies[0].reason
        assert all(part in reason for part in reasons), (name, source.description, reason)
        assert report.to_json()["verdict"] == "DISCREPANCIES"


def test_the_untouched_small_history_audits_clean(
    sqlite_url: str, registry_key: SigningKey, tmp_path: Path
) -> None:
    # The control for the forgeries above: the same history without the forged envelope.
    world = small_world(sqlite_url, registry_key)
    path = tmp_path / "clean.avro"
    assert export_history(DatabaseSource(sqlite_url), path) == world.app.ledger.position
    for source in (ExportSource(path), DatabaseSource(sqlite_url)):
        report = Auditor(world.app.registry_public_keys, workers=2, progress=False).run(source)
        assert report.clean, (source.description, report.discrepancies)


def test_audit_cli_reports_an_overspend_countersigned_by_the_real_registry_key(
    sqlite_url: str, registry_key: SigningKey, tmp_path: Path
) -> None:
    world = small_world(sqlite_url, registry_key)
    position = forge(world, overspend).body.position
    path = tmp_path / "forged.avro"
    export_history(DatabaseSource(sqlite_url), path)
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "audit",
            "--export",
            str(path),
            "--registry-public-key",
            registry_key.public_key.hex(),
            "--report",
            str(report_path),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "DISCREPANCIES" in result.stdout
    line = f"DISCREPANCY at position {position} [CreditsTransferred]: a rule rejects this command"
    assert line in result.stdout, result.stdout
    document = json.loads(report_path.read_text())
    assert document["verdict"] == "DISCREPANCIES"
    [discrepancy] = document["discrepancies"]
    assert discrepancy["position"] == position
    assert discrepancy["event"] == "CreditsTransferred"
    assert "does not have enough tradable credits" in discrepancy["reason"]


def test_a_command_replayed_with_a_backdated_time_after_its_id_was_forgotten_is_reported(
    sqlite_url: str, registry_key: SigningKey, tmp_path: Path
) -> None:
    # The audit forgets the ids of commands long expired (memory stays flat). A registry that
    # records such a command again, with a recorded time from before it expired, must not
    # get past that: time may step back a little (writers' clocks), never past the margin.
    clock = [now_us()]
    world = build_world(RegistryApplication(sqlite_url, registry_key, clock_us=lambda: clock[0]))
    world.issue(50_000, AKISHIMA)
    world.issue(50_000, IWAIZUMI)
    first = world.signer(AKISHIMA).sign(
        c.TransferCredits(AKISHIMA, MUSASHINO, 5_000), created_at_us=clock[0]
    )
    assert world.app.submit(first).accepted
    first_recorded_at = clock[0]
    clock[0] += rules.FORGET_MARGIN_US + 3_600 * 1_000_000  # two hours on: the id is forgotten
    while world.app.ledger.position < 1_005:  # the audit forgets every 1,000 positions
        signer = world.signer(IWAIZUMI)
        filler = [
            signer.sign(c.TransferCredits(IWAIZUMI, MUSASHINO, 1), created_at_us=clock[0])
            for _ in range(200)
        ]
        assert all(result.accepted for result in world.app.submit_batch(filler))
        clock[0] += 1_000_000

    def slightly_earlier(world: World, head: OpenedEnvelope, now: int) -> Forgery:
        # An honest writer whose clock is a minute behind: allowed.
        recorded_at = head.body.recorded_at_us - 60 * 1_000_000
        signer = world.signer(AKISHIMA)
        command = signer.command(c.TransferCredits(AKISHIMA, IWAIZUMI, 10), created_at_us=now)
        effects = decide(world, command, recorded_at)
        return Forgery(signer.sign_command(command), effects, recorded_at)

    def replayed(world: World, head: OpenedEnvelope, now: int) -> Forgery:
        recorded_at = first_recorded_at + 1_000_000  # when the command was still live
        command = world.app.codec.decode_command(first.command_bytes)
        return Forgery(first, decide(world, command, recorded_at), recorded_at)

    allowed = forge(world, slightly_earlier)
    assert world.app.catch_up() == 1  # the write side takes it in; the next one chains on it
    forged = forge(world, replayed)
    assert forged.body.position == allowed.body.position + 1
    path = tmp_path / "forged.avro"
    assert export_history(DatabaseSource(sqlite_url), path) == forged.body.position
    report = Auditor(world.app.registry_public_keys, workers=2, progress=False).run(
        ExportSource(path)
    )
    assert [(d.position, d.event) for d in report.discrepancies] == [
        (forged.body.position, "CreditsTransferred")
    ], report.discrepancies
    reason = report.discrepancies[0].reason
    assert reason.startswith("recorded time is 72") and "s behind an earlier envelope's" in reason
    assert "more than the 3600 s a replay of command ids allows" in reason


# -- An auditor's order of reasoning ---------------------------------------------------------


def alter_body_after_sealing(schemas: object, sealed: bytes, codec: object) -> bytes:
    """Change the recorded effects inside a sealed envelope and keep the registry's original
    countersignature: what someone with write access to the store, but not the key, can do."""
    opened = open_sealed(schemas, sealed)  # type: ignore[arg-type]
    events = [codec.decode_event(effect) for effect in opened.body.effects]  # type: ignore[attr-defined]
    events[0] = replace(events[0], memo="altered")
    body = replace(opened.body, effects=tuple(codec.encode_events(events)))  # type: ignore[attr-defined]
    resealed = open_sealed(schemas, seal(schemas, body, SigningKey.generate()))  # type: ignore[arg-type]
    return schemas.encode(  # type: ignore[attr-defined,no-any-return]
        "credit_registry.v1.SealedEnvelope",
        {
            "body": resealed.body_bytes,
            "registry_key_id": opened.registry_key_id,
            "registry_signature": opened.registry_signature,
        },
    )


def test_a_body_altered_after_sealing_is_reported_as_altered_at_its_position(
    recorded: tuple[World, Path], tmp_path: Path
) -> None:
    world, export = recorded
    codec = world.app.codec
    k = next(
        r.position
        for r in read_export(export)
        if r.kind == "ENVELOPE"
        and r.position > 300
        and isinstance(
            codec.decode_event(open_sealed(codec.schemas, r.data).body.effects[0]),
            ev.CreditsTransferred,
        )
    )

    def alter(records: list[ExportRecord]) -> list[ExportRecord]:
        return [
            ExportRecord(r.kind, r.position, alter_body_after_sealing(codec.schemas, r.data, codec))
            if r.kind == "ENVELOPE" and r.position == k
            else r
            for r in records
        ]

    altered = rewrite(export, tmp_path / "altered.avro", alter)
    report = audit(world, altered)
    assert [(d.position, d.event, d.reason) for d in report.discrepancies] == [
        (k, "CreditsTransferred", ALTERED)
    ]
    assert report.stopped is not None and report.stopped.position == k
    assert "altered after sealing" in report.stopped.reason
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "registry.cli",
            "audit",
            "--export",
            str(altered),
            "--registry-public-key",
            world.app.registry_key.public_key.hex(),
            "--report",
            "-",
            "--no-progress",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"DISCREPANCY at position {k} [CreditsTransferred]: {ALTERED}" in result.stderr
    assert f"stopped at {k}: altered after sealing" in result.stderr
    assert "effects the rules give" not in result.stderr and "log ends at" not in result.stderr
    document = json.loads(result.stdout)
    assert document["stopped_at"]["position"] == k


def test_two_independent_rule_findings_are_both_reported_and_the_audit_goes_on(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    """A registry that twice records what the rules refuse, with its own key and a sound
    chain: both are reported, at their positions, and the honest envelopes after them are
    replayed on the state as the registry recorded it."""
    world = small_world(sqlite_url, registry_key)
    first = forge(world, someone_elses_credits).body.position
    assert world.app.catch_up() == 1
    world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1_000))
    second = forge(world, unauthorised_issuer).body.position
    assert world.app.catch_up() == 1
    world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, MUSASHINO, 9_000))
    report = Auditor(world.app.registry_public_keys, workers=2, progress=False).run(
        DatabaseSource(sqlite_url)
    )
    found = [(d.position, d.reason.split(":")[0]) for d in report.discrepancies]
    assert found == [
        (first, "a rule rejects this command"),
        (second, "a rule rejects this command"),
    ]
    assert "may not move 132071's credits" in report.discrepancies[0].reason
    assert "not an authorised issuer" in report.discrepancies[1].reason
    assert report.stopped is None
    assert report.envelopes == world.app.ledger.position


def test_the_audit_reports_findings_up_to_its_bound_and_says_where_it_stopped(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    from registry.audit.replay import FINDINGS_MAX

    world = small_world(sqlite_url, registry_key)
    positions = []
    for _ in range(FINDINGS_MAX + 5):
        positions.append(forge(world, unauthorised_issuer).body.position)
        world.app.catch_up()
    report = Auditor(world.app.registry_public_keys, workers=2, progress=False).run(
        DatabaseSource(sqlite_url)
    )
    assert [d.position for d in report.discrepancies] == positions[: FINDINGS_MAX + 1]
    assert report.stopped is not None
    assert report.stopped.position == positions[FINDINGS_MAX]
    assert report.stopped.reason == f"more than {FINDINGS_MAX} findings"
    assert report.to_json()["stopped_at"]["reason"] == f"more than {FINDINGS_MAX} findings"
