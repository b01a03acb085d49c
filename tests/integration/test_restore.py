"""`credit-registry restore`: an event store rebuilt from an export or the Kafka topic into
an empty database audits clean, starts from the snapshot the restore wrote, and accepts the
next command linked to the restored head. A tampered record stops the restore, naming its
position, and leaves the target database as it was: empty."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.audit.auditor import Auditor
from registry.audit.export import read_export, write_export
from registry.audit.sources import DatabaseSource, ExportSource, export
from registry.cli import main
from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE
from registry.domain import commands as c
from registry.envelope.codec import SchemaRegistry
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import open_sealed
from registry.log.kafka import KafkaPublisher
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.transparency.checkpoints import CheckpointStore
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID, event_store_recorder
from registry.write.snapshots import SnapshotStore
from tests.support.helpers import AKISHIMA, MUSASHINO, World, build_world
from tests.support.history import random_history

PASSPHRASE = "restore test passphrase"
CHECKPOINT_INTERVAL = 100
TAMPERED_POSITION = 321


@dataclass
class Origin:
    url: str
    key: SigningKey
    key_file: Path
    world: World

    @property
    def public_key_hex(self) -> str:
        return self.key.public_key.hex()


@pytest.fixture
def origin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Origin:
    monkeypatch.setenv(REGISTRY_PASSPHRASE_VARIABLE, PASSPHRASE)
    key = SigningKey.generate()
    key_file = tmp_path / "registry.key"
    key.save(key_file, PASSPHRASE.encode())
    url = f"sqlite:///{tmp_path / 'origin.sqlite'}?timeout=30"
    app = RegistryApplication(url, key, checkpoint_interval=CHECKPOINT_INTERVAL)
    world = build_world(app)
    random_history(world, 900, seed=11)
    app.record_checkpoint()
    return Origin(url, key, key_file, world)


def run_restore(origin: Origin, target_url: str, *source: str) -> int:
    return main(
        [
            "restore",
            *source,
            "--database-url",
            target_url,
            "--registry-public-key",
            origin.public_key_hex,
            "--registry-key",
            str(origin.key_file),
            "--workers",
            "2",
            "--no-progress",
        ]
    )


def assert_restored_and_serving(origin: Origin, target_url: str) -> None:
    pinned = {origin.key.key_id: origin.key.public_key}
    report = Auditor(pinned, workers=2, progress=False).run(DatabaseSource(target_url))
    assert report.clean, (report.discrepancies, report.stopped)
    original = [e.sealed_bytes for e in origin.world.app.read_envelopes()]
    restored_app = RegistryApplication(target_url, origin.key, snapshot_interval=None)
    assert [e.sealed_bytes for e in restored_app.read_envelopes()] == original
    checkpoints = CheckpointStore(sa.create_engine(origin.url)).all()
    assert CheckpointStore(sa.create_engine(target_url)).all() == checkpoints
    assert report.summary["checkpoints_verified"] == len(checkpoints) > 1
    head = len(original)
    assert restored_app.resumed_from == head  # the snapshot the restore wrote
    origin.world.app = restored_app
    result = origin.world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1))
    assert result.position == head + 1
    envelopes = list(restored_app.read_envelopes(head - 1))
    assert envelopes[1].body.previous_hash == envelopes[0].hash


def test_a_store_restored_from_an_export_audits_clean_and_serves(
    origin: Origin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "history.avro"
    export(DatabaseSource(origin.url), path)
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}?timeout=30"
    assert run_restore(origin, target, "--export", str(path)) == 0
    printed = capsys.readouterr().out
    assert f"restored {origin.world.app.ledger.position} envelopes" in printed
    assert_restored_and_serving(origin, target)
    # A second restore into the same database is refused: it is not empty any more.
    assert run_restore(origin, target, "--export", str(path)) == 1
    assert "holds a chain already" in capsys.readouterr().err


def _tampered_export(origin: Origin, path: Path) -> None:
    source = ExportSource(_exported(origin, path.with_name("clean.avro")))
    records = []
    for record in read_export(source.path):
        if record.kind == "ENVELOPE":
            data = record.data
            if record.position == TAMPERED_POSITION:
                opened = open_sealed(SchemaRegistry(), data)
                # One byte of the body (its recorded time), the seal left as it was.
                at = data.index(opened.body_bytes) + len(opened.body_bytes) // 2
                data = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
            records.append((record.position, data))
    write_export(path, iter(records), source.checkpoints, {"envelopes": str(len(records))})


def _exported(origin: Origin, path: Path) -> Path:
    export(DatabaseSource(origin.url), path)
    return path


def test_a_tampered_record_stops_the_restore_and_leaves_nothing(
    origin: Origin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tampered.avro"
    _tampered_export(origin, path)
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}?timeout=30"
    assert run_restore(origin, target, "--export", str(path)) == 1
    error = capsys.readouterr().err
    assert f"restore failed at position {TAMPERED_POSITION}" in error
    assert event_store_recorder(target).select_events(CHAIN_ID, limit=1) == []
    engine = sa.create_engine(target)
    assert CheckpointStore(engine).all() == [] and SnapshotStore(engine).positions() == []
    # Nothing usable, and nothing in the way: the restore from a good source can run again.
    assert (
        run_restore(origin, target, "--export", str(_exported(origin, tmp_path / "ok.avro"))) == 0
    )


@pytest.mark.kafka
def test_a_store_restored_from_kafka_audits_clean_and_serves(
    origin: Origin, tmp_path: Path, kafka_bootstrap: str, kafka_topic: str
) -> None:
    engine = sa.create_engine(origin.url)
    relay = Relay(
        event_store_recorder(origin.url),
        KafkaPublisher(kafka_bootstrap, kafka_topic),
        RelayPositions(engine),
        "kafka:" + kafka_topic,
        checkpoints=CheckpointStore(engine),
    )
    relay.run(threading.Event(), exit_when_caught_up=True)
    assert relay.lag() == 0
    target = f"sqlite:///{tmp_path / 'restored.sqlite'}?timeout=30"
    assert run_restore(origin, target, "--kafka", kafka_bootstrap, "--topic", kafka_topic) == 0
    assert_restored_and_serving(origin, target)
