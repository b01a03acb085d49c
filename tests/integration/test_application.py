"""The write side on a real SQLite file: signatures, key history, idempotency, tamper tests.
Every rejection must record nothing: the stored chain does not grow."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from registry.audit.replay import verify_history
from registry.client.command_signer import CommandSigner
from registry.domain import commands as c
from registry.domain import rules
from registry.domain.checks import CheckCode
from registry.domain.events import Beneficiary
from registry.domain.invariants import invariant_violations
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import open_sealed, verify_sealed
from registry.support.clock import now_us
from registry.write.application import RegistryApplication
from registry.write.persistence import CHAIN_ID
from tests.support.helpers import (
    AKISHIMA,
    AUDITOR,
    ISSUER,
    IWAIZUMI,
    MUSASHINO,
    OPERATOR,
    World,
    build_world,
    retirement,
)

VINTAGE = date(2011, 4, 1)


def stored_count(app: RegistryApplication) -> int:
    return len(app.recorder.select_events(CHAIN_ID))


def assert_rejected(world: World, signed: object, code: CheckCode) -> None:
    before = stored_count(world.app)
    result = world.app.submit(signed)  # type: ignore[arg-type]
    assert not result.accepted
    assert result.code is code, result
    assert stored_count(world.app) == before, "a rejected command was recorded"


def test_transfer_and_retire_move_serial_blocks(world: World) -> None:
    batch_id = world.issue(100_000, IWAIZUMI)
    assert batch_id == "JVER-IWAIZUMI01-20110401-20120331-001"
    world.ok(
        IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 30_000, memo="forest agreement 2011-12-20")
    )
    world.ok(AKISHIMA, c.RetireCredits(AKISHIMA, 12_000, retirement("Akishima city")))
    ledger = world.app.ledger
    assert [(b.serial_start, b.serial_end) for b in ledger.holdings_of(IWAIZUMI)] == [
        (30_001, 100_000)
    ]
    assert [(b.serial_start, b.serial_end) for b in ledger.holdings_of(AKISHIMA)] == [
        (12_001, 30_000)
    ]
    assert ledger.retired[batch_id] == ((1, 12_000),)
    supply = ledger.supply[batch_id]
    assert (supply.issued_kg, supply.tradable_kg, supply.retired_kg) == (100_000, 88_000, 12_000)
    assert invariant_violations(ledger) == []


def test_retire_on_transfer(world: World) -> None:
    world.issue(5_000, IWAIZUMI)
    world.ok(
        IWAIZUMI,
        c.TransferCredits(IWAIZUMI, AKISHIMA, 2_000, retire_on_arrival=retirement("Akishima")),
    )
    assert world.app.ledger.tradable_kg(AKISHIMA) == 0
    assert world.app.ledger.tradable_kg(IWAIZUMI) == 3_000


def test_history_reloads_identically_and_chains(
    world: World, sqlite_url: str, registry_key: SigningKey
) -> None:
    world.issue(1_000, IWAIZUMI)
    world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, MUSASHINO, 400))
    reloaded = RegistryApplication(sqlite_url, registry_key)
    assert reloaded.ledger.position == world.app.ledger.position
    assert reloaded.ledger.head_hash == world.app.ledger.head_hash
    assert reloaded.ledger.holdings == world.app.ledger.holdings
    previous = bytes(32)
    for position, envelope in enumerate(reloaded.read_envelopes(), start=1):
        verify_sealed(envelope, {registry_key.key_id: registry_key.public_key}, position, previous)
        previous = envelope.hash


def test_changed_byte_in_command_is_rejected(world: World) -> None:
    """Every single-bit change of the signed bytes is refused and records nothing. Where the
    changed bytes still decode to a command of the same actor and key, the refusal is the
    signature's own code; otherwise an earlier check (decoding, actor, key) may refuse it."""
    world.issue(1_000, IWAIZUMI)
    signed = world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 100))
    before = stored_count(world.app)
    signature_refusals = 0
    for index in range(len(signed.command_bytes)):
        for bit in (0x01, 0x40):
            mutated = bytearray(signed.command_bytes)
            mutated[index] ^= bit
            result = world.app.submit(dataclasses.replace(signed, command_bytes=bytes(mutated)))
            assert not result.accepted, (index, bit)
            if _decodes_as_same_signer(world, bytes(mutated), signed):
                assert result.code is CheckCode.BAD_SIGNATURE, (index, bit, result)
                signature_refusals += 1
            else:
                assert result.code in (
                    CheckCode.MALFORMED_COMMAND,
                    CheckCode.ACTOR_MISMATCH,
                    CheckCode.UNKNOWN_KEY,
                    CheckCode.UNKNOWN_PARTY,
                    CheckCode.INVALID_IDENTIFIER,
                ), (index, bit, result)
    assert stored_count(world.app) == before, "a changed command was recorded"
    assert signature_refusals > len(signed.command_bytes) // 2  # most changes still decode
    assert world.app.ledger.tradable_kg(IWAIZUMI) == 1_000


def _decodes_as_same_signer(world: World, command_bytes: bytes, signed: object) -> bool:
    try:
        command = world.app.codec.decode_command(command_bytes)
    except Exception:  # any decoding failure: the bytes are not a command at all
        return False
    original = world.app.codec.decode_command(signed.command_bytes)  # type: ignore[attr-defined]
    return (command.actor_id, command.key_id) == (original.actor_id, original.key_id)


def test_wrong_key_is_rejected(world: World) -> None:
    world.issue(1_000, IWAIZUMI)
    signed = world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 100))
    forged = dataclasses.replace(signed, signature=SigningKey.generate().sign(signed.command_bytes))
    assert_rejected(world, forged, CheckCode.BAD_SIGNATURE)
    # The operator holds its own key, not Iwaizumi's: it cannot sign as Iwaizumi.
    operator_forgery = dataclasses.replace(
        signed, signature=world.keys[OPERATOR].sign(signed.command_bytes)
    )
    assert_rejected(world, operator_forgery, CheckCode.BAD_SIGNATURE)


def test_revoked_and_rotated_keys_are_rejected(world: World) -> None:
    world.issue(1_000, IWAIZUMI)
    old_signer = world.signer(IWAIZUMI)
    new_key = SigningKey.generate()
    world.ok(IWAIZUMI, c.RotateKey(IWAIZUMI, world.keys[IWAIZUMI].key_id, new_key.public_key))
    assert_rejected(
        world, old_signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 1)), CheckCode.KEY_ROTATED
    )
    world.keys[IWAIZUMI] = new_key
    world.ok(IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 1))
    world.ok(OPERATOR, c.RevokeKey(IWAIZUMI, new_key.key_id, "laptop stolen"))
    assert_rejected(
        world,
        world.signer(IWAIZUMI).sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 1)),
        CheckCode.KEY_REVOKED,
    )
    # The operator froze the stolen key; it cannot install one in its place (that would let
    # it sign as Iwaizumi). Recovery is the party's, or co-signed: test_key_recovery.py.
    installed = world.signer(OPERATOR).sign(
        c.RegisterKey(IWAIZUMI, SigningKey.generate().public_key)
    )
    assert_rejected(world, installed, CheckCode.OPERATOR_CANNOT_INSTALL_KEYS)


def test_operator_cannot_rotate_a_municipality_key(world: World) -> None:
    body = c.RotateKey(AKISHIMA, world.keys[AKISHIMA].key_id, SigningKey.generate().public_key)
    assert_rejected(world, world.signer(OPERATOR).sign(body), CheckCode.NOT_THE_OWNER)


def test_replayed_command_returns_first_result_and_records_nothing(world: World) -> None:
    world.issue(1_000, IWAIZUMI)
    signed = world.signer(IWAIZUMI).sign(
        c.TransferCredits(IWAIZUMI, AKISHIMA, 100), command_id="transfer-0001"
    )
    first = world.app.submit(signed)
    assert first.accepted and not first.replayed
    before = stored_count(world.app)
    again = world.app.submit(signed)
    assert again.replayed and again.position == first.position
    assert again.code is CheckCode.DUPLICATE_COMMAND_ID
    assert stored_count(world.app) == before
    assert world.app.ledger.tradable_kg(AKISHIMA) == 100
    # Same id, different content: rejected outright.
    other = world.signer(IWAIZUMI).sign(
        c.TransferCredits(IWAIZUMI, AKISHIMA, 200), command_id="transfer-0001"
    )
    assert_rejected(world, other, CheckCode.DUPLICATE_COMMAND_ID)


def test_expired_and_future_commands(world: World) -> None:
    world.issue(1_000, IWAIZUMI)
    signer = world.signer(IWAIZUMI)
    now = world.app.clock_us()
    expired = signer.sign(
        c.TransferCredits(IWAIZUMI, AKISHIMA, 1), created_at_us=now - 20 * 60 * 10**6
    )
    assert_rejected(world, expired, CheckCode.COMMAND_EXPIRED)
    future = signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 1), created_at_us=now + 3600 * 10**6)
    assert_rejected(world, future, CheckCode.COMMAND_FROM_FUTURE)


@pytest.mark.parametrize(
    ("actor", "body", "code"),
    [
        (AKISHIMA, c.TransferCredits(IWAIZUMI, AKISHIMA, 10), CheckCode.NOT_THE_OWNER),
        (IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 10_000), CheckCode.INSUFFICIENT_HOLDINGS),
        (IWAIZUMI, c.TransferCredits(IWAIZUMI, "131016", 10), CheckCode.UNKNOWN_PARTY),
        (IWAIZUMI, c.TransferCredits(IWAIZUMI, IWAIZUMI, 10), CheckCode.SAME_PARTY),
        (IWAIZUMI, c.TransferCredits(IWAIZUMI, AUDITOR, 10), CheckCode.ROLE_NOT_ALLOWED),
        (IWAIZUMI, c.TransferCredits(IWAIZUMI, AKISHIMA, 0), CheckCode.INVALID_QUANTITY),
        (
            IWAIZUMI,
            c.TransferCredits(IWAIZUMI, AKISHIMA, 10, batch_id="NOPE"),
            CheckCode.UNKNOWN_BATCH,
        ),
        (
            AKISHIMA,
            c.IssueCredits("IWAIZUMI01", VINTAGE, VINTAGE, 10, AKISHIMA),
            CheckCode.ISSUER_NOT_AUTHORISED,
        ),
        (ISSUER, c.IssueCredits("NOPE", VINTAGE, VINTAGE, 10, AKISHIMA), CheckCode.UNKNOWN_PROJECT),
        (
            AKISHIMA,
            c.RegisterCreditClass("LOCAL", "Local", (AKISHIMA,)),
            CheckCode.ROLE_NOT_ALLOWED,
        ),
        (
            OPERATOR,
            c.RegisterParty("132072", "municipality", "Bad digit", bytes(range(32))),
            CheckCode.INVALID_MUNICIPALITY_CODE,
        ),
        (
            OPERATOR,
            c.RegisterParty(AKISHIMA, "municipality", "Again", bytes(range(32))),
            CheckCode.PARTY_EXISTS,
        ),
        (
            IWAIZUMI,
            c.RetireCredits(IWAIZUMI, 10, c.RetirementDetails(Beneficiary("x"), "bribery", 2011)),
            CheckCode.INVALID_PURPOSE,
        ),
        (
            MUSASHINO,
            c.CancelCredits(IWAIZUMI, "JVER-IWAIZUMI01-20110401-20120331-001", 10, "no"),
            CheckCode.ROLE_NOT_ALLOWED,
        ),
        (
            IWAIZUMI,
            c.TransferCredits(IWAIZUMI, AKISHIMA, 10, memo="bell\x07"),
            CheckCode.MALFORMED_COMMAND,
        ),
    ],
)
def test_rule_violations_have_codes_and_record_nothing(
    world: World, actor: str, body: c.CommandBody, code: CheckCode
) -> None:
    world.issue(1_000, IWAIZUMI)
    assert_rejected(world, world.signer(actor).sign(body), code)


def test_genesis_must_be_the_operator_self_signed(app: RegistryApplication) -> None:
    key = SigningKey.generate()
    municipality_first = CommandSigner(app.codec, AKISHIMA, key).sign(
        c.RegisterParty(AKISHIMA, "municipality", "Akishima", key.public_key)
    )
    result = app.submit(municipality_first)
    assert result.code is CheckCode.NOT_GENESIS
    assert stored_count(app) == 0


def test_batch_commits_accepted_commands_and_reports_each(world: World) -> None:
    world.issue(100, IWAIZUMI)
    signer = world.signer(IWAIZUMI)
    batch = [signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 40)) for _ in range(3)]
    results = world.app.submit_batch(batch)
    assert [r.accepted for r in results] == [True, True, False]
    assert results[2].code is CheckCode.INSUFFICIENT_HOLDINGS
    assert results[1].position == results[0].position + 1  # type: ignore[operator]
    assert world.app.ledger.tradable_kg(AKISHIMA) == 80


def test_envelope_carries_the_exact_signed_bytes(world: World) -> None:
    signed = world.signer(IWAIZUMI).sign(c.RevokeKey(IWAIZUMI, world.keys[IWAIZUMI].key_id, "test"))
    position = world.app.submit(signed).position
    stored = world.app.recorder.select_events(CHAIN_ID, gt=position - 1, lte=position)  # type: ignore[operator]
    envelope = open_sealed(world.app.codec.schemas, stored[0].state)
    assert envelope.body.command.command_bytes == signed.command_bytes
    assert envelope.body.command.signature == signed.signature


def test_recorded_time_never_goes_back_when_the_host_clock_does(
    sqlite_url: str, registry_key: SigningKey
) -> None:
    """An NTP step of thirty seconds back: the registry keeps recording at its latest time (an
    auditor refuses a history whose time runs back past the id-forgetting margin), and a
    second writer on the same database holds to the first one's times as well. A step of two
    hours is more than a replica may hold its time for: it decides nothing until it catches up."""
    clock = [now_us()]
    world = build_world(RegistryApplication(sqlite_url, registry_key, clock_us=lambda: clock[0]))
    world.issue(1_000, IWAIZUMI)
    before_step = clock[0]  # every command so far was recorded at this time
    clock[0] -= 30 * 1_000_000
    signer = world.signer(IWAIZUMI)
    moved = world.app.submit(
        signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10), created_at_us=before_step)
    )
    assert moved.accepted, moved
    other_writer = RegistryApplication(sqlite_url, registry_key, clock_us=lambda: clock[0])
    assert other_writer.latest_recorded_us == before_step  # learnt from the stored history
    also = other_writer.submit(
        signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10), created_at_us=before_step)
    )
    assert also.accepted, also
    times = [envelope.body.recorded_at_us for envelope in world.app.read_envelopes()]
    assert times == sorted(times) and times[-1] == before_step
    report = verify_history(world.app.read_envelopes(), world.app.registry_public_keys)
    assert report.clean, report.discrepancies
    clock[0] = before_step - 2 * 3_600 * 1_000_000
    before = stored_count(world.app)
    stepped = world.app.submit(signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 10)))
    assert stepped.code is CheckCode.CLOCK_BEHIND, stepped
    assert "clock is 7200.0 s behind the chain's recorded time" in stepped.message
    assert stored_count(world.app) == before


def test_a_failing_command_in_a_group_leaves_the_others_committed(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """One command of a group fails unexpectedly twice over: while deciding (a handler that
    raises) and after its effects were applied to the ledger (sealing it into the tree). Each
    time only that command is refused, with INTERNAL_ERROR; its tentative changes are undone
    and the others of the group are committed, at consecutive positions of a clean chain."""
    world.issue(1_000, IWAIZUMI)
    signer = world.signer(IWAIZUMI)
    monkeypatch.setitem(
        rules._HANDLERS, c.CancelCredits, lambda *_: (_ for _ in ()).throw(KeyError("boom"))
    )
    grow_tree = world.app._grow_tree
    failing = signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 300, memo="fails late"))

    def grow_or_fail(sealed: bytes) -> None:
        if failing.command_bytes in sealed:
            raise RuntimeError("disk full")
        grow_tree(sealed)

    monkeypatch.setattr(world.app, "_grow_tree", grow_or_fail)
    batch = [
        signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 100)),
        world.signer(ISSUER).sign(c.CancelCredits(IWAIZUMI, "JVER-X", 1, "fails early")),
        failing,
        signer.sign(c.TransferCredits(IWAIZUMI, MUSASHINO, 50)),
    ]
    head = world.app.ledger.position
    results = world.app.submit_batch(batch)
    assert [r.code for r in results] == [
        None,
        CheckCode.INTERNAL_ERROR,
        CheckCode.INTERNAL_ERROR,
        None,
    ], results
    assert [r.position for r in results] == [head + 1, None, None, head + 2]
    assert world.app.ledger.tradable_kg(AKISHIMA) == 100  # the late failure's 300 kg undone
    assert world.app.ledger.tradable_kg(MUSASHINO) == 50
    assert stored_count(world.app) == head + 2
    assert "failed unexpectedly (RuntimeError)" in caplog.text
    assert "failed unexpectedly (KeyError)" in caplog.text
    report = verify_history(world.app.read_envelopes(), world.app.registry_public_keys)
    assert report.clean, report.discrepancies
