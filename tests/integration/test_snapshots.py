"""Start-up from a snapshot: written in the background, countersigned by the registry, and
used on open only when it verifies. A process started from one decides exactly as a process
that replayed the whole chain (the same next envelopes, byte for byte, for the same signed
commands); a tampered snapshot is refused with a log line and the chain is replayed."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain.events import Origin
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import SignedCommand
from registry.support.clock import now_us
from registry.transparency.registry_keys import Handover, rotation_command
from registry.write.application import RegistryApplication
from registry.write.snapshots import (
    SnapshotStore,
    Statement,
    StoredSnapshot,
    make_snapshot,
    signed_message,
    snapshots_table,
)
from tests.support.helpers import (
    AKISHIMA,
    AUDITOR,
    ISSUER,
    IWAIZUMI,
    MUSASHINO,
    OPERATOR,
    PROJECT,
    World,
    build_world,
    retirement,
)
from tests.support.history import programme_history, random_history

HISTORY_COMMANDS = 2_500
SNAPSHOT_INTERVAL = 1_000
SNAPSHOT_WAIT_S = 120.0
FALLBACK = "no snapshot verifies: replaying the whole chain"


@dataclass
class Built:
    """A store of a few thousand envelopes whose snapshots were written in the background,
    and a few envelopes after the newest one."""

    origin: Path
    key: SigningKey
    world: World
    snapshot_threads: set[str]

    def copy(self, target: Path) -> str:
        """A copy of the store (SQLite's backup: consistent in write-ahead-log mode)."""
        with sqlite3.connect(self.origin) as reading, sqlite3.connect(target) as writing:
            reading.backup(writing)
        reading.close()
        writing.close()
        return url_of(target)


def url_of(path: Path) -> str:
    return f"sqlite:///{path}?timeout=30"


class _Threads(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        if "snapshot at position" in record.getMessage():
            self.names.add(record.threadName or "")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline_s = time.monotonic() + SNAPSHOT_WAIT_S
    while not condition():
        if time.monotonic() > deadline_s:
            raise AssertionError(f"{what} within {SNAPSHOT_WAIT_S} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    origin = tmp_path_factory.mktemp("snapshots") / "origin.sqlite"
    key = SigningKey.generate()
    threads = _Threads()
    logging.getLogger("registry.write.snapshot_writer").addHandler(threads)
    logging.getLogger("registry.write.snapshot_writer").setLevel(logging.INFO)
    try:
        app = RegistryApplication(url_of(origin), key, snapshot_interval=SNAPSHOT_INTERVAL)
        world = build_world(app)
        random_history(world, HISTORY_COMMANDS, seed=5)
        wait_for(lambda: len(app.snapshot_store.positions()) >= 2, "two snapshots written")
        app.snapshot_writer.close(timeout_s=SNAPSHOT_WAIT_S)
        # A tail after the newest snapshot: a resumed process replays these itself.
        for _ in range(3):
            world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1))
        app.close()
    finally:
        logging.getLogger("registry.write.snapshot_writer").removeHandler(threads)
    return Built(origin, key, world, threads.names)


def next_commands(world: World) -> list[SignedCommand]:
    """Commands of every kind that moves credits, signed once, for two processes to decide."""
    created_us = now_us()

    def sign(party: str, body: c.CommandBody) -> SignedCommand:
        signer = CommandSigner(world.app.codec, party, world.keys[party])
        return signer.sign(body, created_at_us=created_us)

    transfer = sign(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 7_777))
    return [
        sign(ISSUER, c.IssueCredits(PROJECT, date(2012, 4, 1), date(2013, 3, 31), 5_000, IWAIZUMI)),
        transfer,
        sign(AKISHIMA, c.RetireCredits(AKISHIMA, 1_234, retirement(AKISHIMA))),
        sign(MUSASHINO, c.TransferCredits(MUSASHINO, IWAIZUMI, 10**9)),  # refused: too much
        transfer,  # the same bytes again: the first result stands, nothing recorded
    ]


def opened(url: str, key: SigningKey, clock: int, **options: Any) -> RegistryApplication:
    return RegistryApplication(url, key, clock_us=lambda: clock, snapshot_interval=None, **options)


def state_of(app: RegistryApplication) -> dict[str, Any]:
    """Everything the next decision depends on. The expiry heap is compared as a set: its
    array order depends on when ids were forgotten, its pops (in total order) do not."""
    ledger = dict(vars(app.ledger))
    ledger["_expiries"] = sorted(ledger["_expiries"])
    return {
        "ledger": ledger,
        "handovers": app.key_history.handovers,
        "keys": app.key_history.keys_for(app.ledger.position + 1),
        "tree": (app.tree.size, app.tree.root()),
        "chain_recorded_us": app.chain_recorded_us,
        "latest_recorded_us": app.latest_recorded_us,
    }


def assert_decide_alike(
    resumed: RegistryApplication, replayed: RegistryApplication, commands: list[SignedCommand]
) -> None:
    assert state_of(resumed) == state_of(replayed)
    head = resumed.ledger.position
    assert [r.code for r in resumed.submit_batch(commands)] == [
        r.code for r in replayed.submit_batch(commands)
    ]
    written = [e.sealed_bytes for e in resumed.read_envelopes(head)]
    assert len(written) == 3
    assert written == [e.sealed_bytes for e in replayed.read_envelopes(head)]
    assert state_of(resumed) == state_of(replayed)


def test_the_snapshots_were_written_in_the_background(built: Built) -> None:
    assert built.snapshot_threads == {"snapshots"}
    positions = SnapshotStore(sa.create_engine(url_of(built.origin))).positions()
    assert len(positions) >= 2 and positions == sorted(positions, reverse=True)


def test_a_process_started_from_a_snapshot_decides_as_one_that_replayed(
    built: Built, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = now_us() + 1_000_000
    caplog.set_level(logging.INFO, logger="registry.write")
    resumed = opened(built.copy(tmp_path / "a.sqlite"), built.key, clock)
    newest = resumed.snapshot_store.positions()[0]
    assert resumed.resumed_from == newest
    assert 0 < newest < resumed.ledger.position == resumed.stored_head_position()
    assert f"resumed from the snapshot at position {newest}" in caplog.text
    replayed = opened(
        built.copy(tmp_path / "b.sqlite"), built.key, clock, resume_from_snapshot=False
    )
    assert replayed.resumed_from is None
    assert_decide_alike(resumed, replayed, next_commands(built.world))


def _only_newest(url: str) -> tuple[SnapshotStore, StoredSnapshot]:
    store = SnapshotStore(sa.create_engine(url))
    newest, *older = store.positions()
    with store.engine.begin() as connection:
        connection.execute(snapshots_table.delete().where(snapshots_table.c.position.in_(older)))
    snapshot = store.read(newest)
    assert snapshot is not None
    return store, snapshot


def _replace(store: SnapshotStore, snapshot: StoredSnapshot) -> None:
    with store.engine.begin() as connection:
        connection.execute(snapshots_table.delete())
    store.record(snapshot)


def _flip_a_byte(snapshot: StoredSnapshot, key: SigningKey, url: str) -> StoredSnapshot:
    payload = bytearray(snapshot.payload)
    payload[len(payload) // 2] ^= 0x01
    return dataclasses.replace(snapshot, payload=bytes(payload))


def _signed_by_another_key(snapshot: StoredSnapshot, key: SigningKey, url: str) -> StoredSnapshot:
    other = SigningKey.generate()
    signature = other.sign(signed_message(snapshot.statement))
    return dataclasses.replace(snapshot, registry_key_id=other.key_id, signature=signature)


def _bad_signature(snapshot: StoredSnapshot, key: SigningKey, url: str) -> StoredSnapshot:
    signature = SigningKey.generate().sign(signed_message(snapshot.statement))
    return dataclasses.replace(snapshot, signature=signature)


def _forged_key_history(snapshot: StoredSnapshot, key: SigningKey, url: str) -> StoredSnapshot:
    """An impostor's key, handed over to by a handover it signed itself, signs the rest."""
    impostor = SigningKey.generate()
    forged = rotation_command(impostor, impostor.public_key, 1)
    handover = Handover(1, key.key_id, forged.public_key, forged.handover_signature)
    statement = Statement.from_bytes(snapshot.statement)
    statement_bytes = dataclasses.replace(statement, handovers=(handover,)).to_bytes()
    signature = impostor.sign(signed_message(statement_bytes))
    return dataclasses.replace(
        snapshot, statement=statement_bytes, registry_key_id=impostor.key_id, signature=signature
    )


def _another_layout(snapshot: StoredSnapshot, key: SigningKey, url: str) -> StoredSnapshot:
    """As a release whose ledger records differ would write it: signed, but not readable."""
    statement = Statement.from_bytes(snapshot.statement)
    statement_bytes = dataclasses.replace(statement, layout="0123456789abcdef").to_bytes()
    signature = key.sign(signed_message(statement_bytes))
    return dataclasses.replace(snapshot, statement=statement_bytes, signature=signature)


def _another_chains_head(snapshot: StoredSnapshot, key: SigningKey, url: str) -> StoredSnapshot:
    """Well signed by the registry key, but of a state whose head is not the store's
    envelope at its position (as a snapshot of another history would be)."""
    app = RegistryApplication(url, key, snapshot_interval=None)
    with app._lock:
        captured = app._capture_snapshot()
    assert captured is not None
    state, _key = captured
    state.ledger.head["hash"] = bytes(32)
    app.close()
    return make_snapshot(state, key)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_flip_a_byte, "its bytes differ from the signed digest"),
        (_signed_by_another_key, "not the registry key there"),
        (_bad_signature, "the registry's signature does not verify"),
        (_forged_key_history, "its key history does not follow"),
        (_another_chains_head, "is not the signed head"),
        (_another_layout, "ledger layout 0123456789abcdef"),
    ],
)
def test_a_tampered_snapshot_is_refused_and_the_chain_replayed(
    built: Built,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    tamper: Callable[[StoredSnapshot, SigningKey, str], StoredSnapshot],
    reason: str,
) -> None:
    clock = now_us() + 1_000_000
    url = built.copy(tmp_path / "a.sqlite")
    store, snapshot = _only_newest(url)
    tampered = tamper(snapshot, built.key, url)
    _replace(store, tampered)
    caplog.set_level(logging.INFO, logger="registry.write")
    refusing = opened(url, built.key, clock)
    assert refusing.resumed_from is None
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and refused[0].startswith(
        f"snapshot at position {tampered.position} refused: "
    )
    assert reason in refused[0]
    assert FALLBACK in caplog.text
    replayed = opened(
        built.copy(tmp_path / "b.sqlite"), built.key, clock, resume_from_snapshot=False
    )
    assert_decide_alike(refusing, replayed, next_commands(built.world))


def test_an_older_snapshot_is_used_when_the_newest_is_refused(
    built: Built, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = built.copy(tmp_path / "a.sqlite")
    store = SnapshotStore(sa.create_engine(url))
    newest, older, *_ = store.positions()
    with store.engine.begin() as connection:
        connection.execute(
            snapshots_table.update()
            .where(snapshots_table.c.position == newest)
            .values(payload=b"not a snapshot")
        )
    caplog.set_level(logging.INFO, logger="registry.write")
    clock = now_us() + 1_000_000
    resumed = opened(url, built.key, clock)
    assert resumed.resumed_from == older
    assert f"snapshot at position {newest} refused" in caplog.text
    assert FALLBACK not in caplog.text
    replayed = opened(
        built.copy(tmp_path / "b.sqlite"), built.key, clock, resume_from_snapshot=False
    )
    assert_decide_alike(resumed, replayed, next_commands(built.world))


def test_without_a_snapshot_the_whole_chain_is_replayed_and_said_so(
    built: Built, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = built.copy(tmp_path / "a.sqlite")
    with sa.create_engine(url).begin() as connection:
        connection.execute(snapshots_table.delete())
    caplog.set_level(logging.INFO, logger="registry.write")
    app = opened(url, built.key, now_us())
    assert app.resumed_from is None
    assert app.ledger.position == app.stored_head_position()
    assert "no snapshot in the store: replaying the whole chain" in caplog.text


def _origins_labels_and_a_buffer(world: World) -> None:
    """A labelled class with a buffer, an issuance with its origin, a label, a reversal."""
    forest = c.RegisterCreditClass("FORESTB", "Forest with a buffer", (ISSUER,), ISSUER, 100)
    world.ok(OPERATOR, forest)
    world.ok(ISSUER, c.RegisterProject("FORESTB1", "FORESTB", "Forest", "Iwate", "FM", ISSUER))
    origin = Origin("JP-JVER", "JVER-0099", 1, 1_000)
    vintage = (date(2011, 4, 1), date(2012, 3, 31))
    world.ok(ISSUER, c.IssueCredits("FORESTB1", *vintage, 1_000, AKISHIMA, origin))
    batch_id = next(b for b in world.app.ledger.batches if b.startswith("FORESTB-"))
    validity = (date(2020, 4, 1), date(2099, 3, 31))
    world.ok(ISSUER, c.AddLabel(batch_id, 1, 500, "ICVCM-CCP", *validity))
    world.ok(ISSUER, c.ReportReversal("FORESTB1", 40, "storm"))


def test_every_ledger_table_survives_a_snapshot_taken_after_a_rotation(sqlite_url: str) -> None:
    """A programme history (pools, meetings, deliveries, contributions, factor tables), a
    pending recovery and a registry-key rotation: every table of the ledger has rows, and
    a process holding only the new key, with the first one pinned, resumes to the same."""
    first, second = SigningKey.generate(), SigningKey.generate()
    app = RegistryApplication(
        sqlite_url, first, further_registry_keys=[second], snapshot_interval=None
    )
    world = build_world(app)
    programme_history(world, 300, seed=3)
    _origins_labels_and_a_buffer(world)
    position = app.ledger.position + 1
    world.ok(OPERATOR, rotation_command(first, second.public_key, position))
    world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1))
    start = c.StartRecovery(MUSASHINO, "R-1", SigningKey.generate().public_key, "keys lost")
    world.app.submit(world.signer(AUDITOR).cosign(world.signer(OPERATOR).sign(start)))
    written = app.write_snapshot()
    assert written == app.ledger.position
    world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, IWAIZUMI, 1))  # replayed after it
    pinned = {first.key_id: first.public_key}
    clock = now_us() + 1_000_000
    resumed = opened(sqlite_url, second, clock, pinned_registry_keys=pinned)
    assert resumed.resumed_from == written
    replayed = opened(
        sqlite_url, second, clock, pinned_registry_keys=pinned, resume_from_snapshot=False
    )
    assert state_of(resumed) == state_of(replayed)
    empty = [name for name, table in vars(resumed.ledger).items() if table == {}]
    assert empty == []
    assert resumed.key_history.handovers[0].position == position
