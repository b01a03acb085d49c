"""Witnesses as a partner meets them: `credit-registry witness` follows the log in a process
of its own, verifies every envelope and rule itself, and cosigns each signed checkpoint it
found consistent with the last one it cosigned; it keeps doing so while the relay is killed
and restarted, and after its own restart. A fork signed with the registry's real key (a
second checkpoint of one size over a different history, or a later one the log
contradicts) is reported with both signed checkpoints and never cosigned. Certificates and
the standalone verifier list who cosigned.

The embedded log (SQLite) runs here; the same on Kafka is marked `kafka`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice, pairwise
from pathlib import Path

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer
from starlette.testclient import TestClient

from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.audit.sources import read_topic_values
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import CHECKPOINTS_SUFFIX, WITNESS_SUFFIX
from registry.relay.positions import RelayPositions
from registry.transparency.checkpoints import Checkpoint, checkpoints_table
from registry.transparency.merkle import leaf_hash, root_of
from registry.transparency.proof_verifier import verify_consistency
from registry.transparency.registry_keys import rotation_command
from registry.transparency.witnessing import (
    INCONSISTENT,
    SAME_SIZE,
    Cosignature,
    EmbeddedWitnessLog,
    SplitHistory,
    WitnessRecord,
    parse_witness_record,
)
from registry.web.app import WebConfig, create_app
from registry.write.application import RegistryApplication
from tests.conftest import ROOT
from tests.support.helpers import (
    AKISHIMA,
    IWAIZUMI,
    OPERATOR,
    World,
    build_world,
    retirement,
)
from tests.support.processes import ManagedProcess

INTERVAL = 20  # a signed checkpoint every 20 envelopes
WITNESS = "iwaizumi-witness"
CLI = [sys.executable, "-m", "registry.cli"]
VERIFIER = ROOT / "registry/transparency/proof_verifier.py"
WAIT_S = 120.0


@pytest.fixture
def world(sqlite_url: str, registry_key: SigningKey) -> World:
    registry = build_world(
        RegistryApplication(sqlite_url, registry_key, checkpoint_interval=INTERVAL)
    )
    registry.issue(100_000, IWAIZUMI)
    return registry


def grow_to(world: World, head: int) -> None:
    signer = world.signer(IWAIZUMI)
    count = head - world.app.ledger.position
    bodies = [c.TransferCredits(IWAIZUMI, AKISHIMA, 1) for _ in range(count)]
    assert all(r.accepted for r in world.app.submit_batch([signer.sign(b) for b in bodies]))
    assert world.app.ledger.position == head


def environment(world: World) -> dict[str, str]:
    return dict(
        os.environ,
        CREDIT_REGISTRY_WITNESS_PASSPHRASE="the witness's own passphrase",
        CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY=world.app.registry_key.public_key.hex(),
    )


@dataclass(frozen=True)
class Partner:
    """A witness as its operator sets it up: a home of its own, a key made by `init`."""

    name: str
    home: Path
    public_key: bytes
    env: dict[str, str]

    def command(self, *arguments: str) -> list[str]:
        return [*CLI, "--home", str(self.home), "witness", *arguments]

    def run(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*arguments), capture_output=True, text=True, env=self.env, cwd=ROOT
        )

    def status(self) -> tuple[int, list[SplitHistory]]:
        done = self.run("status", self.name, "--json")
        (mine,) = json.loads(done.stdout)["witnesses"]
        return done.returncode, [SplitHistory.from_json(e) for e in mine["split_histories"]]


def partner(tmp_path: Path, world: World, name: str = WITNESS) -> Partner:
    env = environment(world)
    made = subprocess.run(
        [*CLI, "--home", str(tmp_path / name), "witness", "init", name],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert made.returncode == 0, made.stderr
    found = re.search(r"public key ([0-9a-f]{64})", made.stdout)
    assert found, made.stdout
    return Partner(name, tmp_path / name, bytes.fromhex(found.group(1)), env)


def relay_command(sqlite_url: str, *kafka: str) -> list[str]:
    return [*CLI, "relay", "--database-url", sqlite_url, *kafka, "--batch-events", "10"]


def relay_caught_up(sqlite_url: str, *kafka: str) -> None:
    done = subprocess.run(
        [*relay_command(sqlite_url, *kafka), "--exit-when-caught-up"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def embedded_records(sqlite_url: str) -> list[WitnessRecord]:
    log = EmbeddedWitnessLog(sa.create_engine(sqlite_url))
    return [parse_witness_record(value) for _, value in log.read()]


def cosignatures_by(records: list[WitnessRecord], witness: Partner) -> list[Cosignature]:
    found = [
        r for r in records if isinstance(r, Cosignature) and r.public_key == witness.public_key
    ]
    return sorted(found, key=lambda cosignature: cosignature.tree_size)


def wait_for_sizes(
    read: Callable[[], list[WitnessRecord]],
    witness: Partner,
    sizes: list[int],
    running: ManagedProcess,
) -> list[Cosignature]:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = cosignatures_by(read(), witness)
        if [cosignature.tree_size for cosignature in found] == sizes:
            return found
        assert running.process.poll() is None, f"the witness exited; see {running.log_path}"
        assert time.monotonic() < deadline, f"cosigned {[f.tree_size for f in found]}, not {sizes}"
        time.sleep(0.2)


def assert_each_extends_the_last(cosignatures: list[Cosignature], signed: set[Checkpoint]) -> None:
    """Every cosignature is of a checkpoint the registry signed, verifies, and carries the
    consistency proof from the checkpoint cosigned just before it (the first has none)."""
    assert all(cosignature.checkpoint in signed for cosignature in cosignatures)
    assert all(cosignature.verifies() for cosignature in cosignatures)
    assert cosignatures[0].consistency is None
    for before, after in pairwise(cosignatures):
        step = after.consistency
        assert step is not None
        assert (step.other_size, step.other_root) == (before.tree_size, before.checkpoint.root)
        old, new = before.checkpoint, after.checkpoint
        assert verify_consistency(old.tree_size, new.tree_size, old.root, new.root, list(step.path))


def forged_checkpoint(app: RegistryApplication, size: int) -> Checkpoint:
    """The registry's real key signs `size` envelopes of a history in which one differs."""
    leaves = [leaf_hash(e.sealed_bytes) for e in islice(app.read_envelopes(), size)]
    leaves[size // 2] = leaf_hash(b"an envelope this log never held")
    return Checkpoint.sign(size, root_of(leaves), app.registry_key)


def real_checkpoint(app: RegistryApplication, size: int) -> Checkpoint:
    (found,) = [checkpoint for checkpoint in app.checkpoints.all() if checkpoint.tree_size == size]
    return found


def test_a_witness_cosigns_each_checkpoint_in_turn_across_a_relay_restart(
    world: World, sqlite_url: str, tmp_path: Path
) -> None:
    grow_to(world, 45)  # checkpoints 20 and 40
    relay_caught_up(sqlite_url)
    witness = partner(tmp_path, world)
    log = tmp_path / "processes.log"
    follow = witness.command("run", WITNESS, "--database-url", sqlite_url, "--interval-ms", "100")
    running = ManagedProcess("witness", follow, witness.env, log)
    started: list[ManagedProcess] = [running]
    try:
        wait_for_sizes(lambda: embedded_records(sqlite_url), witness, [20, 40], running)
        grow_to(world, 85)  # checkpoints 60 and 80
        relay = relay_command(sqlite_url)
        victim = ManagedProcess(
            "relay", [*relay, "--pause-before-commit-ms", "60000"], dict(os.environ), log
        )
        started.append(victim)
        victim.wait_for_line("pausing before commit", WAIT_S)
        victim.kill()  # a batch is in the log, the relay's position is not recorded
        engine = sa.create_engine(sqlite_url)
        assert RelayPositions(engine).get("embedded") == 45
        started.append(ManagedProcess("relay", relay, dict(os.environ), log))
        cosigned = wait_for_sizes(
            lambda: embedded_records(sqlite_url), witness, [20, 40, 60, 80], running
        )
        assert_each_extends_the_last(cosigned, set(world.app.checkpoints.all()))
    finally:
        for process in reversed(started):
            process.stop()
    assert running.process.returncode == 0  # one process throughout, stopped by SIGTERM
    assert "cosigned last checkpoint 80; split histories 0" in "".join(running.lines)

    # The witness restarts too: from its own state it cosigns the next checkpoint, with the
    # proof that it extends checkpoint 80, cosigned before the restart.
    grow_to(world, 105)
    relay_caught_up(sqlite_url)
    again = witness.run("run", WITNESS, "--database-url", sqlite_url, "--exit-when-caught-up")
    assert again.returncode == 0, again.stdout + again.stderr
    cosigned = cosignatures_by(embedded_records(sqlite_url), witness)
    assert [cosignature.tree_size for cosignature in cosigned] == [20, 40, 60, 80, 100]
    assert_each_extends_the_last(cosigned, set(world.app.checkpoints.all()))
    assert witness.status() == (0, [])


def test_a_forged_fork_is_reported_with_both_signed_checkpoints_and_never_cosigned(
    world: World, sqlite_url: str, tmp_path: Path
) -> None:
    grow_to(world, 45)
    relay_caught_up(sqlite_url)
    witness = partner(tmp_path, world)
    run = ("run", WITNESS, "--database-url", sqlite_url, "--exit-when-caught-up")
    assert witness.run(*run).returncode == 0
    real = real_checkpoint(world.app, 40)
    forged = forged_checkpoint(world.app, 40)
    keys = world.app.registry_public_keys
    assert forged.verifies(keys) and forged.root != real.root  # the real key, another history
    signed = set(world.app.checkpoints.all())
    # Readers of this database are now shown the forged checkpoint in the real one's place.
    with sa.create_engine(sqlite_url).begin() as connection:
        connection.execute(
            sa.update(checkpoints_table)
            .where(checkpoints_table.c.tree_size == 40)
            .values(root=forged.root, signature=forged.signature)
        )

    reported = witness.run(*run)
    assert reported.returncode == 1 and "split histories 1" in reported.stdout, reported.stdout
    code, evidence = witness.status()
    assert code == 1
    (fork,) = evidence
    assert (fork.kind, fork.tree_size, fork.witness_root) == (SAME_SIZE, 40, real.root)
    assert fork.checkpoints == (real, forged)  # both, each signed by the registry's key
    assert all(checkpoint.verifies(keys) for checkpoint in fork.checkpoints)
    records = embedded_records(sqlite_url)
    assert fork in records  # published on the witness log for every reader
    assert [c.checkpoint for c in cosignatures_by(records, witness)] == [
        real_checkpoint(world.app, 20),
        real,
    ]

    # A later checkpoint over a history the log contradicts cannot extend checkpoint 40.
    grow_to(world, 55)
    relay_caught_up(sqlite_url)
    later = forged_checkpoint(world.app, 50)
    world.app.checkpoints.record([later])
    assert witness.run(*run).returncode == 1
    _code, evidence = witness.status()
    (inconsistent,) = [e for e in evidence if e.kind == INCONSISTENT]
    assert inconsistent.checkpoints == (later, real)  # the contradicted one, the last cosigned
    assert inconsistent.witness_root == root_of(
        [leaf_hash(e.sealed_bytes) for e in islice(world.app.read_envelopes(), 50)]
    )

    # The registry refuses nothing because of it, and the witness goes on with the real log.
    grow_to(world, 65)
    relay_caught_up(sqlite_url)
    assert witness.run(*run).returncode == 1  # the evidence stays
    cosigned = cosignatures_by(embedded_records(sqlite_url), witness)
    assert [cosignature.tree_size for cosignature in cosigned] == [20, 40, 60]
    assert_each_extends_the_last(cosigned, {*signed, real_checkpoint(world.app, 60)})


def test_a_registry_showing_the_witness_another_history_later_stops_it_with_evidence(
    registry_key: SigningKey, tmp_path: Path
) -> None:
    """Two histories sealed by the same registry key: the witness cosigned the first; shown
    the second, it reports the checkpoint it cosigned and the new one, and stops."""
    worlds = []
    for name in ("first", "second"):
        url = f"sqlite:///{tmp_path / name}.sqlite?timeout=30"
        world = build_world(RegistryApplication(url, registry_key, checkpoint_interval=INTERVAL))
        world.issue(100_000, IWAIZUMI)
        grow_to(world, 45)
        relay_caught_up(url)
        worlds.append((world, url))
    (first, first_url), (second, second_url) = worlds
    witness = partner(tmp_path, first)
    assert (
        witness.run("run", WITNESS, "--database-url", first_url, "--exit-when-caught-up").returncode
        == 0
    )

    shown = witness.run("run", WITNESS, "--database-url", second_url, "--exit-when-caught-up")
    assert shown.returncode == 1 and "stopped: the log's tree at 20" in shown.stdout, shown.stdout
    _code, evidence = witness.status()
    (rewritten,) = evidence
    assert rewritten.kind == INCONSISTENT
    assert rewritten.checkpoints == (
        real_checkpoint(first.app, 20),
        real_checkpoint(second.app, 20),
    )
    assert cosignatures_by(embedded_records(second_url), witness) == []  # nothing cosigned there


def test_certificates_and_the_standalone_verifier_list_the_witness_cosignatures(
    world: World, sqlite_url: str, tmp_path: Path
) -> None:
    world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 500))
    retired = world.ok(AKISHIMA, c.RetireCredits(AKISHIMA, 100, retirement("Akishima city")))
    grow_to(world, 45)
    relay_caught_up(sqlite_url)
    witnesses = [partner(tmp_path, world, name) for name in (WITNESS, "metropolitan-audit")]
    for witness in witnesses:
        run = ("run", witness.name, "--database-url", sqlite_url, "--exit-when-caught-up")
        assert witness.run(*run).returncode == 0

    projection_url = f"sqlite:///{tmp_path / 'projections.sqlite'}"
    catch_up_embedded(ProjectionStore(projection_url), EmbeddedLog(sa.create_engine(sqlite_url)))
    registry_public = world.app.registry_key.public_key
    with TestClient(create_app(WebConfig(projection_url, registry_public))) as client:
        page = client.get(f"/retirements/{retired.position}/certificate?lang=en").text
        document = client.get(f"/retirements/{retired.position}/proof.json").json()
    assert "Witnesses cosigning this checkpoint" in page
    for witness in witnesses:
        assert witness.name in page and SigningKey.key_id_of(witness.public_key) in page
    assert document["checkpoint"]["tree_size"] == 40
    listed = {entry["public_key"] for entry in document["witness_cosignatures"]}
    assert listed == {witness.public_key.hex() for witness in witnesses}

    certificate = tmp_path / "certificate.json"
    certificate.write_text(json.dumps(document))
    verify = [sys.executable, str(VERIFIER), str(certificate), registry_public.hex()]

    def verifier(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*verify, *arguments], capture_output=True, text=True, cwd=tmp_path)

    plain = verifier()
    assert plain.returncode == 0 and plain.stdout.startswith("VALID: included"), plain.stdout
    assert "witnesses: 2 cosignature(s) of checkpoint 40" in plain.stdout
    for witness in witnesses:
        assert f"{witness.name} {SigningKey.key_id_of(witness.public_key)}" in plain.stdout
    assert plain.stdout.count(": valid") == 2
    required = [arg for w in witnesses for arg in ("--witness-key", w.public_key.hex())]
    assert verifier(*required).returncode == 0
    stranger = SigningKey.generate().public_key
    refused = verifier("--witness-key", stranger.hex())
    assert refused.returncode == 1 and refused.stdout.startswith("INVALID"), refused.stdout
    assert f"required witness {SigningKey.key_id_of(stranger)} has no valid" in refused.stdout

    # One cosignature bent: listed as invalid, and refused when that witness is required.
    entry = document["witness_cosignatures"][0]
    entry["signature"] = entry["signature"][:-1] + ("0" if entry["signature"][-1] != "0" else "1")
    certificate.write_text(json.dumps(document))
    bent = verifier()
    assert bent.returncode == 0 and "INVALID: the cosignature does not verify" in bent.stdout
    required_bent = verifier("--witness-key", entry["public_key"])
    assert required_bent.returncode == 1 and required_bent.stdout.startswith("INVALID")

    # `credit-registry prove` puts the same cosignatures in the documents it writes.
    proof = tmp_path / "proof.json"
    where = ("--database-url", sqlite_url, "--position", str(retired.position))
    proved = subprocess.run(
        [*CLI, "prove", *where, "--out", str(proof)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proved.returncode == 0, proved.stderr
    written = json.loads(proof.read_text())["witness_cosignatures"]
    assert {e["public_key"] for e in written} == listed


def test_a_witness_follows_a_registry_key_rotation_and_ignores_the_retired_keys_checkpoint(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A checkpoint of size s counts only when signed by the key that sealed position s: after
    the handover the new key's, never the retired one's (no cosignature, no evidence)."""
    first, second = SigningKey.generate(), SigningKey.generate()
    app = RegistryApplication(
        sqlite_url, first, checkpoint_interval=INTERVAL, further_registry_keys=[second]
    )
    world = build_world(app)
    world.issue(100_000, IWAIZUMI)
    grow_to(world, 25)
    world.ok(OPERATOR, rotation_command(first, second.public_key, 26))
    grow_to(world, 45)
    # The retired key signs another history of 40: were it the key for 40, a split history.
    stale = Checkpoint.sign(40, forged_checkpoint(app, 40).root, first)
    relay_caught_up(sqlite_url)
    witness = partner(tmp_path, world)
    witness.env["CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY"] = first.public_key.hex()  # pinned: the first
    assert (
        witness.run(
            "run", WITNESS, "--database-url", sqlite_url, "--exit-when-caught-up"
        ).returncode
        == 0
    )
    cosigned = cosignatures_by(embedded_records(sqlite_url), witness)
    assert [(c.tree_size, c.checkpoint.registry_key_id) for c in cosigned] == [
        (20, first.key_id),
        (40, second.key_id),
    ]
    assert_each_extends_the_last(cosigned, set(app.checkpoints.all()))

    # The retired key's checkpoint shown in place of the real one: not the registry's word.
    with sa.create_engine(sqlite_url).begin() as connection:
        connection.execute(
            sa.update(checkpoints_table)
            .where(checkpoints_table.c.tree_size == 40)
            .values(root=stale.root, registry_key_id=first.key_id, signature=stale.signature)
        )
    assert (
        witness.run(
            "run", WITNESS, "--database-url", sqlite_url, "--exit-when-caught-up"
        ).returncode
        == 0
    )
    assert witness.status() == (0, [])


# -- the same on Kafka ----------------------------------------------------------------
def kafka_records(bootstrap: str, topic: str) -> list[WitnessRecord]:
    return [parse_witness_record(v) for v in read_topic_values(bootstrap, topic + WITNESS_SUFFIX)]


@pytest.mark.kafka
def test_on_kafka_a_witness_cosigns_each_checkpoint_in_turn_across_a_relay_restart(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    kafka = ("--kafka", kafka_bootstrap, "--topic", kafka_topic)
    grow_to(world, 45)
    relay_caught_up(sqlite_url, *kafka)
    witness = partner(tmp_path, world)
    log = tmp_path / "processes.log"
    running = ManagedProcess(
        "witness", witness.command("run", WITNESS, *kafka, "--interval-ms", "200"), witness.env, log
    )
    started: list[ManagedProcess] = [running]

    def published() -> list[WitnessRecord]:
        return kafka_records(kafka_bootstrap, kafka_topic)

    try:
        wait_for_sizes(published, witness, [20, 40], running)
        grow_to(world, 85)
        relay = relay_command(sqlite_url, *kafka)
        victim = ManagedProcess(
            "relay", [*relay, "--pause-before-commit-ms", "60000"], dict(os.environ), log
        )
        started.append(victim)
        victim.wait_for_line("pausing before commit", WAIT_S)
        victim.kill()  # its batch is on the topic; the restarted relay sends it again
        started.append(ManagedProcess("relay", relay, dict(os.environ), log))
        cosigned = wait_for_sizes(published, witness, [20, 40, 60, 80], running)
        assert_each_extends_the_last(cosigned, set(world.app.checkpoints.all()))
        on_topic = len(read_topic_values(kafka_bootstrap, kafka_topic))
        assert on_topic == 85 + 10  # the killed batch twice on the topic, verified once
    finally:
        for process in reversed(started):
            process.stop()
    assert running.process.returncode == 0
    assert "cosigned last checkpoint 80; split histories 0" in "".join(running.lines)


@pytest.mark.kafka
def test_on_kafka_a_forged_fork_on_the_checkpoints_topic_is_reported_with_both(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    kafka = ("--kafka", kafka_bootstrap, "--topic", kafka_topic)
    grow_to(world, 45)
    relay_caught_up(sqlite_url, *kafka)
    witness = partner(tmp_path, world)
    run = ("run", WITNESS, *kafka, "--exit-when-caught-up")
    assert witness.run(*run).returncode == 0
    forged = forged_checkpoint(world.app, 40)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    producer.send(
        kafka_topic + CHECKPOINTS_SUFFIX, key=b"40", value=json.dumps(forged.to_json()).encode()
    )
    producer.flush(timeout=30)
    producer.close()

    reported = witness.run(*run)
    assert reported.returncode == 1 and "split histories 1" in reported.stdout, reported.stdout
    real = real_checkpoint(world.app, 40)
    (fork,) = [
        r for r in kafka_records(kafka_bootstrap, kafka_topic) if isinstance(r, SplitHistory)
    ]
    assert (fork.kind, fork.checkpoints) == (SAME_SIZE, (real, forged))
    assert witness.status() == (1, [fork])
    cosigned = cosignatures_by(kafka_records(kafka_bootstrap, kafka_topic), witness)
    assert [cosignature.checkpoint for cosignature in cosigned] == [
        real_checkpoint(world.app, 20),
        real,
    ]


@pytest.mark.kafka
def test_on_kafka_the_standalone_verifier_lists_a_proofs_witness_cosignatures(
    world: World, sqlite_url: str, kafka_bootstrap: str, kafka_topic: str, tmp_path: Path
) -> None:
    kafka = ("--kafka", kafka_bootstrap, "--topic", kafka_topic)
    grow_to(world, 45)
    relay_caught_up(sqlite_url, *kafka)
    witness = partner(tmp_path, world)
    assert witness.run("run", WITNESS, *kafka, "--exit-when-caught-up").returncode == 0
    proof = tmp_path / "proof.json"
    proved = subprocess.run(
        [*CLI, "prove", *kafka, "--position", "12", "--out", str(proof)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proved.returncode == 0, proved.stderr
    verify = [sys.executable, str(VERIFIER), str(proof), world.app.registry_key.public_key.hex()]
    listed = subprocess.run(
        [*verify, "--witness-key", witness.public_key.hex()], capture_output=True, text=True
    )
    assert listed.returncode == 0 and listed.stdout.startswith("VALID: included"), listed.stdout
    assert f"{WITNESS} {SigningKey.key_id_of(witness.public_key)}" in listed.stdout
    assert "witnesses: 1 cosignature(s) of checkpoint 40" in listed.stdout
    stranger = SigningKey.generate().public_key.hex()
    refused = subprocess.run([*verify, "--witness-key", stranger], capture_output=True, text=True)
    assert refused.returncode == 1
