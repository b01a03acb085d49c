"""The audit on a real recorded history and its export: clean when untouched; each kind of
tampering detected at its exact position, with its reason. Proofs verify standalone."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import fastavro
import pytest
import sqlalchemy

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.application import RegistryApplication
from registry.audit.auditor import Auditor, AuditReport
from registry.audit.export import EXPORT_SCHEMA, ExportRecord, read_export, write_export
from registry.audit.proofs import consistency_document, inclusion_document
from registry.audit.sources import DatabaseSource, ExportSource
from registry.domain import commands as c
from registry.envelope import EnvelopeBody, OpenedEnvelope, open_sealed, seal
from registry.log.embedded import EmbeddedLog
from registry.proof_verifier import verify_proof_document
from registry.relay import Relay, RelayPositions, event_store_recorder
from registry.signer import CommandSigner
from registry.signing import SigningKey
from tests.conftest import ROOT
from tests.helpers import MUSASHINO, OPERATOR, World, build_world
from tests.history import random_history


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

    expected = {
        flip: (k, ("registry countersignature does not verify", "undecodable")),
        delete: (k, ("is missing",)),
        swap: (k, ("is missing or out of order",)),
        duplicate: (k, ("appears again",)),
        forge_countersignature: (k, ("registry countersignature does not verify",)),
        revoked_key: (world.app.ledger.position + 1, ("actor key not valid here", "revoked")),
    }
    for change, (position, reasons) in expected.items():
        report = audit(world, rewrite(export, tmp_path / f"{change.__name__}.avro", change))
        assert not report.clean, change.__name__
        first = min(report.discrepancies, key=lambda d: d.position)
        assert first.position == position, (change.__name__, report.discrepancies[:3])
        assert any(reason in first.reason for reason in reasons), (change.__name__, first)


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
    verifier = [sys.executable, str(ROOT / "registry/proof_verifier.py"), str(path), public_hex]
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
    from registry.checkpoints import CheckpointStore
    from registry.log.kafka import KafkaPublisher

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
