"""Lost and stolen keys on the write side (SQLite), as a party, the operator and an auditor
meet them: the operator cannot take a party over; a party recovers with its recovery key;
the operator's recovery of a party that lost both needs an auditor's co-signature and the
public waiting period, the party's credits frozen meanwhile, and the party may veto it.
Every refusal records nothing, and the whole history audits clean."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from projections import queries
from projections.recoveries import recoveries
from projections.runner import catch_up_embedded
from projections.store import ProjectionStore
from registry.audit.replay import verify_history
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.parties import KeyStatus
from registry.domain.recovery import RECOVERY_WAIT_US_MIN
from registry.domain.results import CommandResult
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import Cosignature, SignedCommand
from registry.log.embedded import EmbeddedLog
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.support.clock import now_us
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID, event_store_recorder
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

HOUR_US = 3_600 * 1_000_000


class Clocked:
    """A world on a clock the test moves, signing every command at the clock's time."""

    def __init__(self, sqlite_url: str, registry_key: SigningKey) -> None:
        self.now = [now_us()]
        self.app = RegistryApplication(sqlite_url, registry_key, clock_us=lambda: self.now[0])
        self.world = build_world(self.app)

    def sign(
        self, party_id: str, body: c.CommandBody, key: SigningKey | None = None
    ) -> SignedCommand:
        signer = self.world.signer(party_id)
        if key is not None:
            signer = dataclasses.replace(signer, key=key)
        return signer.sign(body, created_at_us=self.now[0])

    def cosigned(self, signed: SignedCommand, *cosigners: str) -> SignedCommand:
        for cosigner in cosigners:
            signed = self.world.signer(cosigner).cosign(signed)
        return signed

    def submit(self, signed: SignedCommand) -> CommandResult:
        return self.app.submit(signed)

    def ok(self, signed: SignedCommand) -> CommandResult:
        result = self.submit(signed)
        assert result.accepted, result
        return result

    def refused(self, signed: SignedCommand, code: CheckCode) -> None:
        before = len(self.app.recorder.select_events(CHAIN_ID))
        result = self.submit(signed)
        assert (result.accepted, result.code) == (False, code), result
        assert len(self.app.recorder.select_events(CHAIN_ID)) == before, "a refusal recorded"

    def issue(self, quantity_kg: int, recipient: str) -> None:
        body = c.IssueCredits(PROJECT, date(2011, 4, 1), date(2012, 3, 31), quantity_kg, recipient)
        self.ok(self.sign(ISSUER, body))


@pytest.fixture
def clocked(sqlite_url: str, registry_key: SigningKey) -> Clocked:
    clocked = Clocked(sqlite_url, registry_key)
    clocked.issue(10_000, AKISHIMA)
    return clocked


def assert_refused(world: World, signed: SignedCommand, code: CheckCode) -> None:
    before = len(world.app.recorder.select_events(CHAIN_ID))
    result = world.app.submit(signed)
    assert (result.accepted, result.code) == (False, code), result
    assert len(world.app.recorder.select_events(CHAIN_ID)) == before, "a refusal recorded"


def test_the_operator_cannot_take_over_a_party(world: World) -> None:
    """The takeover: revoke Akishima's key, register one the operator holds, then move
    Akishima's credits as 132071. The revocation (a freeze) stands; nothing else passes."""
    world.issue(10_000, AKISHIMA)
    world.ok(OPERATOR, c.RevokeKey(AKISHIMA, world.keys[AKISHIMA].key_id, "reported stolen"))
    operator_held = SigningKey.generate()
    takeover = world.signer(OPERATOR).sign(c.RegisterKey(AKISHIMA, operator_held.public_key))
    assert_refused(world, takeover, CheckCode.OPERATOR_CANNOT_INSTALL_KEYS)
    as_akishima = dataclasses.replace(world.signer(AKISHIMA), key=operator_held)
    transfer = as_akishima.sign(c.TransferCredits(AKISHIMA, MUSASHINO, 10_000))
    assert_refused(world, transfer, CheckCode.UNKNOWN_KEY)
    assert world.app.ledger.tradable_kg(AKISHIMA) == 10_000
    # Not by the operator's own key either, nor through a recovery of its own making.
    forged = dataclasses.replace(
        transfer, signature=world.keys[OPERATOR].sign(transfer.command_bytes)
    )
    assert_refused(world, forged, CheckCode.UNKNOWN_KEY)
    alone = world.signer(OPERATOR).sign(
        c.StartRecovery(AKISHIMA, "takeover", operator_held.public_key, "the operator wants it")
    )
    assert_refused(world, alone, CheckCode.COSIGNATURE_REQUIRED)


def test_a_party_recovers_a_stolen_signing_key_with_its_recovery_key(world: World) -> None:
    world.issue(10_000, AKISHIMA)
    recovery_key = SigningKey.generate()
    # An existing party adds a recovery key, signed by its signing key (it had none).
    world.ok(AKISHIMA, c.SetRecoveryKey(AKISHIMA, recovery_key.public_key))
    by_recovery = dataclasses.replace(world.signer(AKISHIMA), key=recovery_key)
    # The recovery key stays offline: it signs no everyday command.
    assert_refused(
        world,
        by_recovery.sign(c.TransferCredits(AKISHIMA, MUSASHINO, 1)),
        CheckCode.RECOVERY_KEY_MISUSED,
    )
    # A thief with the signing key cannot touch the recovery key...
    thief = world.signer(AKISHIMA)
    for body in (
        c.SetRecoveryKey(AKISHIMA, SigningKey.generate().public_key),
        c.RevokeKey(AKISHIMA, recovery_key.key_id, "thief"),
        c.RotateKey(AKISHIMA, recovery_key.key_id, SigningKey.generate().public_key),
    ):
        assert_refused(world, thief.sign(body), CheckCode.RECOVERY_KEY_PROTECTED)
    # ...nor recover with it; it can rotate the signing key to one of its own.
    new_for_party = SigningKey.generate()
    assert_refused(
        world,
        thief.sign(c.RecoverKey(AKISHIMA, new_for_party.public_key)),
        CheckCode.RECOVERY_KEY_REQUIRED,
    )
    thiefs_key = SigningKey.generate()
    world.ok(AKISHIMA, c.RotateKey(AKISHIMA, world.keys[AKISHIMA].key_id, thiefs_key.public_key))
    # The party signs RecoverKey with its recovery key: every signing key goes, its new one comes.
    recovered = world.app.submit(by_recovery.sign(c.RecoverKey(AKISHIMA, new_for_party.public_key)))
    assert recovered.accepted, recovered
    assert world.app.ledger.keys[thiefs_key.key_id].status is KeyStatus.REVOKED
    assert world.app.ledger.keys[recovery_key.key_id].status is KeyStatus.ACTIVE
    as_thief = dataclasses.replace(world.signer(AKISHIMA), key=thiefs_key)
    assert_refused(
        world, as_thief.sign(c.TransferCredits(AKISHIMA, MUSASHINO, 1)), CheckCode.KEY_REVOKED
    )
    world.keys[AKISHIMA] = new_for_party
    world.ok(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1_000))
    assert world.app.ledger.tradable_kg(AKISHIMA) == 9_000
    # A recovery key recovers its own party only, and replaces itself.
    assert_refused(
        world,
        by_recovery.sign(c.RecoverKey(IWAIZUMI, SigningKey.generate().public_key)),
        CheckCode.NOT_THE_OWNER,
    )
    replacement = SigningKey.generate()
    world.app.submit(by_recovery.sign(c.SetRecoveryKey(AKISHIMA, replacement.public_key)))
    assert world.app.ledger.keys[recovery_key.key_id].status is KeyStatus.ROTATED
    assert_refused(
        world,
        by_recovery.sign(c.RecoverKey(AKISHIMA, SigningKey.generate().public_key)),
        CheckCode.KEY_ROTATED,
    )
    assert verify_history(world.app.read_envelopes(), world.app.registry_public_keys).clean


def test_a_party_registered_with_a_recovery_key_recovers_at_once(world: World) -> None:
    signing, recovery_key = SigningKey.generate(), SigningKey.generate()
    world.ok(
        OPERATOR,
        c.RegisterParty(
            "131016",
            "municipality",
            "Chiyoda",
            signing.public_key,
            "千代田区",
            recovery_key.public_key,
        ),
    )
    both_the_same = c.RegisterParty("131121", "municipality", "Sumida", signing.public_key)
    assert world.run(OPERATOR, both_the_same).code is CheckCode.KEY_ALREADY_REGISTERED
    world.keys["131016"] = recovery_key
    new_key = SigningKey.generate()
    world.ok("131016", c.RecoverKey("131016", new_key.public_key))
    assert world.app.ledger.keys[signing.key_id].status is KeyStatus.REVOKED


def test_an_operator_recovery_needs_an_independent_auditor(clocked: Clocked) -> None:
    new_key = SigningKey.generate()
    start = c.StartRecovery(AKISHIMA, "R-001", new_key.public_key, "both keys lost in a fire")
    signed = clocked.sign(OPERATOR, start)
    clocked.refused(signed, CheckCode.COSIGNATURE_REQUIRED)
    clocked.refused(clocked.cosigned(signed, OPERATOR), CheckCode.COSIGNER_NOT_INDEPENDENT)
    clocked.refused(clocked.cosigned(signed, AKISHIMA), CheckCode.COSIGNER_NOT_INDEPENDENT)
    clocked.refused(clocked.cosigned(signed, MUSASHINO), CheckCode.COSIGNER_NOT_AUDITOR)
    clocked.refused(clocked.cosigned(signed, AUDITOR, AUDITOR), CheckCode.COSIGNER_NOT_INDEPENDENT)
    impostor = SigningKey.generate().sign(signed.command_bytes)
    bent = dataclasses.replace(
        signed, cosignatures=(Cosignature(AUDITOR, clocked.world.keys[AUDITOR].key_id, impostor),)
    )
    clocked.refused(bent, CheckCode.BAD_COSIGNATURE)
    # Only the operator starts one, and a co-signature on anything else is refused.
    by_auditor = clocked.cosigned(clocked.sign(MUSASHINO, start), AUDITOR)
    clocked.refused(by_auditor, CheckCode.ROLE_NOT_ALLOWED)
    transfer = clocked.sign(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1))
    clocked.refused(clocked.cosigned(transfer, AUDITOR), CheckCode.UNEXPECTED_COSIGNATURE)
    clocked.ok(clocked.cosigned(signed, AUDITOR))
    # A second auditor joins only with the first one's co-signature: the operator cannot
    # appoint an auditor of its own to co-sign its recoveries.
    register = c.RegisterParty(
        "second-audit", "auditor", "Second audit office", SigningKey.generate().public_key
    )
    clocked.refused(clocked.sign(OPERATOR, register), CheckCode.COSIGNATURE_REQUIRED)
    clocked.ok(clocked.cosigned(clocked.sign(OPERATOR, register), AUDITOR))
    history = verify_history(clocked.app.read_envelopes(), clocked.app.registry_public_keys)
    assert history.clean, history.discrepancies


def start_recovery(clocked: Clocked, recovery_id: str, new_key: SigningKey) -> None:
    start = c.StartRecovery(AKISHIMA, recovery_id, new_key.public_key, "both keys lost")
    clocked.ok(clocked.cosigned(clocked.sign(OPERATOR, start), AUDITOR))


def project(sqlite_url: str, registry_key: SigningKey, tmp_path_url: str) -> ProjectionStore:
    """Relay the store to its embedded log and project it, checking every countersignature."""
    engine = sa.create_engine(sqlite_url)
    Relay(event_store_recorder(sqlite_url), EmbeddedLog(engine), RelayPositions(engine)).run(
        threading.Event(), exit_when_caught_up=True
    )
    store = ProjectionStore(tmp_path_url)
    log = EmbeddedLog(engine, registry_public_keys={registry_key.key_id: registry_key.public_key})
    catch_up_embedded(store, log)
    return store


def test_a_pending_recovery_freezes_the_party_and_completes_after_the_wait(
    clocked: Clocked, sqlite_url: str, registry_key: SigningKey, tmp_path: Path
) -> None:
    new_key = SigningKey.generate()
    start_recovery(clocked, "R-001", new_key)
    # Frozen: nothing leaves Akishima's holdings, whoever signs; credits may still arrive.
    moves: list[Callable[[], SignedCommand]] = [
        lambda: clocked.sign(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1)),
        lambda: clocked.sign(AKISHIMA, c.RetireCredits(AKISHIMA, 1, retirement("Akishima"))),
        lambda: clocked.sign(
            ISSUER,
            c.CancelCredits(AKISHIMA, "JVER-IWAIZUMI01-20110401-20120331-001", 1, "error"),
        ),
    ]
    for move in moves:
        clocked.refused(move(), CheckCode.PARTY_FROZEN)
    clocked.issue(500, MUSASHINO)
    clocked.ok(clocked.sign(MUSASHINO, c.TransferCredits(MUSASHINO, AKISHIMA, 500)))
    # One recovery at a time, and the party's keys stay as they are while it may veto.
    clocked.refused(
        clocked.cosigned(
            clocked.sign(
                OPERATOR,
                c.StartRecovery(AKISHIMA, "R-002", SigningKey.generate().public_key, "again"),
            ),
            AUDITOR,
        ),
        CheckCode.RECOVERY_PENDING,
    )
    revoke = c.RevokeKey(AKISHIMA, clocked.world.keys[AKISHIMA].key_id, "frozen to stop a veto")
    clocked.refused(clocked.sign(OPERATOR, revoke), CheckCode.RECOVERY_PENDING)
    # Public on the read side: the pending recovery shows with the balance.
    url = f"sqlite:///{tmp_path}/projections.sqlite"
    store = project(sqlite_url, registry_key, url)
    with store.engine.connect() as connection:
        pending = queries.balance(connection, AKISHIMA).pending_recovery
    assert pending is not None and (pending.recovery_id, pending.status) == ("R-001", "pending")
    assert pending.cosigned_by == (AUDITOR,) and pending.key_id == new_key.key_id
    # Not before the waiting period, counted in decision time.
    clocked.now[0] += RECOVERY_WAIT_US_MIN - HOUR_US
    complete = c.CompleteRecovery(AKISHIMA, "R-001")
    clocked.refused(clocked.sign(OPERATOR, complete), CheckCode.RECOVERY_NOT_DUE)
    clocked.now[0] += HOUR_US
    clocked.ok(clocked.sign(OPERATOR, complete))
    old_key = clocked.world.keys[AKISHIMA]
    clocked.refused(
        clocked.sign(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 1)), CheckCode.KEY_REVOKED
    )
    clocked.world.keys[AKISHIMA] = new_key
    clocked.ok(clocked.sign(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 10_500)))
    clocked.refused(clocked.sign(OPERATOR, complete), CheckCode.RECOVERY_CLOSED)
    assert clocked.app.ledger.keys[old_key.key_id].status is KeyStatus.REVOKED
    store = project(sqlite_url, registry_key, url)
    with store.engine.connect() as connection:
        assert queries.balance(connection, AKISHIMA).pending_recovery is None
        assert [(r.recovery_id, r.status) for r in recoveries(connection, AKISHIMA)] == [
            ("R-001", "completed")
        ]
    history = verify_history(clocked.app.read_envelopes(), clocked.app.registry_public_keys)
    assert history.clean, history.discrepancies


def test_the_party_vetoes_a_recovery_with_any_active_key(clocked: Clocked) -> None:
    start_recovery(clocked, "R-001", SigningKey.generate())
    # Only the party vetoes, and only an open recovery.
    veto = c.VetoRecovery(AKISHIMA, "R-001")
    clocked.refused(clocked.sign(MUSASHINO, veto), CheckCode.NOT_THE_OWNER)
    clocked.refused(
        clocked.sign(AKISHIMA, c.VetoRecovery(AKISHIMA, "R-999")), CheckCode.UNKNOWN_RECOVERY
    )
    clocked.ok(clocked.sign(AKISHIMA, veto))
    clocked.now[0] += RECOVERY_WAIT_US_MIN
    clocked.refused(
        clocked.sign(OPERATOR, c.CompleteRecovery(AKISHIMA, "R-001")), CheckCode.RECOVERY_CLOSED
    )
    clocked.ok(clocked.sign(AKISHIMA, c.TransferCredits(AKISHIMA, MUSASHINO, 100)))  # unfrozen
    # A party that kept its recovery key vetoes with it, by recovering itself.
    recovery_key = SigningKey.generate()
    clocked.ok(clocked.sign(AKISHIMA, c.SetRecoveryKey(AKISHIMA, recovery_key.public_key)))
    start_recovery(clocked, "R-002", SigningKey.generate())
    own = SigningKey.generate()
    clocked.ok(clocked.sign(AKISHIMA, c.RecoverKey(AKISHIMA, own.public_key), key=recovery_key))
    assert clocked.app.ledger.pending_recovery(AKISHIMA) is None
    assert clocked.app.ledger.recoveries[(AKISHIMA, "R-002")].outcome == "vetoed"
    history = verify_history(clocked.app.read_envelopes(), clocked.app.registry_public_keys)
    assert history.clean, history.discrepancies
