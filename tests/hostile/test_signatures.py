"""Forged, truncated and reused signatures, revoked, rotated and not-yet-registered keys,
replayed command ids, expired commands and clock skew, each through the real server: the
stable check code, the documented gRPC status, and nothing recorded."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import grpc
import pytest

from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.rules import CLOCK_SKEW_US_MAX, COMMAND_LIFETIME_US_MAX
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import SignedCommand
from registry.rpc.status import status_code_for
from registry.support.clock import now_us
from tests.hostile.conftest import HostileWorld
from tests.hostile.harness import Tally, serving, store_head
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO, OPERATOR

MINUTE_US = 60 * 1_000_000


def transfer(quantity_kg: int = 1) -> c.TransferCredits:
    return c.TransferCredits(IWAIZUMI, AKISHIMA, quantity_kg)


def refused(hostile: HostileWorld, signed: SignedCommand, expected: CheckCode) -> None:
    before = store_head(hostile.server)
    with pytest.raises(CommandRejected) as caught:
        hostile.client.send(signed, "TransferCredits")
    assert caught.value.code is expected, caught.value
    assert caught.value.status is status_code_for(expected)
    assert store_head(hostile.server) == before


def build_cases(hostile: HostileWorld) -> dict[str, tuple[Callable[[], SignedCommand], CheckCode]]:
    world = hostile.world
    signer = world.signer(IWAIZUMI)
    signed = signer.sign(transfer())
    other = signer.sign(transfer(2))
    impostor = SigningKey.generate()
    future_key = SigningKey.generate()  # generated, not registered: not valid yet
    return {
        "forged: signed by another key": (
            lambda: dataclasses.replace(signed, signature=impostor.sign(signed.command_bytes)),
            CheckCode.BAD_SIGNATURE,
        ),
        "truncated signature": (
            lambda: dataclasses.replace(signed, signature=signed.signature[:32]),
            CheckCode.BAD_SIGNATURE,
        ),
        "empty signature": (
            lambda: dataclasses.replace(signed, signature=b""),
            CheckCode.BAD_SIGNATURE,
        ),
        "signature reused on a different command": (
            lambda: dataclasses.replace(other, signature=signed.signature),
            CheckCode.BAD_SIGNATURE,
        ),
        "another party's key id": (
            lambda: CommandSigner(
                world.codec, IWAIZUMI, dataclasses.replace(world.keys[MUSASHINO])
            ).sign(transfer()),
            CheckCode.UNKNOWN_KEY,
        ),
        "key not registered yet": (
            lambda: CommandSigner(world.codec, IWAIZUMI, future_key).sign(transfer()),
            CheckCode.UNKNOWN_KEY,
        ),
        "unregistered actor": (
            lambda: CommandSigner(world.codec, "nobody-at-all", impostor).sign(transfer()),
            CheckCode.UNKNOWN_PARTY,
        ),
        "outer actor differs from the signed one": (
            lambda: dataclasses.replace(signer.sign(transfer()), actor_id=AKISHIMA),
            CheckCode.ACTOR_MISMATCH,
        ),
        "expired": (
            lambda: signer.sign(
                transfer(), created_at_us=now_us() - 20 * MINUTE_US, lifetime_us=10 * MINUTE_US
            ),
            CheckCode.COMMAND_EXPIRED,
        ),
        "clock skew beyond tolerance": (
            lambda: signer.sign(transfer(), created_at_us=now_us() + CLOCK_SKEW_US_MAX + MINUTE_US),
            CheckCode.COMMAND_FROM_FUTURE,
        ),
        "lifetime over seven days": (
            lambda: signer.sign(transfer(), lifetime_us=COMMAND_LIFETIME_US_MAX + MINUTE_US),
            CheckCode.MALFORMED_COMMAND,
        ),
        "command id of 10,000 characters": (
            lambda: signer.sign(transfer(), command_id="x" * 10_000),
            CheckCode.INVALID_IDENTIFIER,
        ),
        "command id with control characters": (
            lambda: signer.sign(transfer(), command_id="id\x00\x1b[31m"),
            CheckCode.INVALID_IDENTIFIER,
        ),
    }


def test_signature_and_time_checks_have_stable_codes(hostile: HostileWorld) -> None:
    tally = Tally("signatures-and-times", suite="signatures")
    for name, (make, expected) in build_cases(hostile).items():
        tally.cases += 1
        try:
            refused(hostile, make(), expected)
        except AssertionError as failure:
            raise AssertionError(name) from failure
        tally.codes[expected.name] += 1
        tally.rejected += 1
    # Within the tolerated skew, a command from a clock ahead of ours is fine.
    ahead = hostile.world.signer(IWAIZUMI).sign(
        transfer(), created_at_us=now_us() + CLOCK_SKEW_US_MAX - MINUTE_US
    )
    assert hostile.client.send(ahead, "TransferCredits").accepted
    tally.report()
    assert serving(hostile.server)


def test_replayed_command_ids(hostile: HostileWorld) -> None:
    signer = hostile.world.signer(IWAIZUMI)
    first = signer.sign(transfer(), command_id="replay-me")
    accepted = hostile.client.send(first, "TransferCredits")
    head = store_head(hostile.server)
    # The very same bytes again: the first result, flagged, nothing recorded.
    again = hostile.client.send(first, "TransferCredits")
    assert again.replayed and again.position == accepted.position
    assert again.check_code == CheckCode.DUPLICATE_COMMAND_ID.name
    assert store_head(hostile.server) == head
    # The same id with another body, or the same body signed again later: refused.
    refused(
        hostile, signer.sign(transfer(5), command_id="replay-me"), CheckCode.DUPLICATE_COMMAND_ID
    )
    refused(
        hostile, signer.sign(transfer(), command_id="replay-me"), CheckCode.DUPLICATE_COMMAND_ID
    )
    # Another party cannot take over the id either: the id is the registry's, not the actor's.
    other = hostile.world.signer(AKISHIMA).sign(
        c.TransferCredits(AKISHIMA, IWAIZUMI, 1), command_id="replay-me"
    )
    refused(hostile, other, CheckCode.DUPLICATE_COMMAND_ID)


def test_revoked_and_rotated_keys(hostile: HostileWorld) -> None:
    world = hostile.world
    client = hostile.client
    world.register("revoked-business", "business", "Revoked business")
    world.register("rotating-business", "business", "Rotating business")
    revoked = world.signer("revoked-business")
    client.execute(
        world.signer(OPERATOR), c.RevokeKey("revoked-business", revoked.key.key_id, "stolen")
    )
    body = c.RevokeKey("revoked-business", revoked.key.key_id, "again")
    before = store_head(hostile.server)
    with pytest.raises(CommandRejected) as caught:
        client.execute(revoked, body)
    assert (caught.value.status, caught.value.code) == (
        grpc.StatusCode.UNAUTHENTICATED,
        CheckCode.KEY_REVOKED,
    )
    old = world.signer("rotating-business")
    new_key = SigningKey.generate()
    client.execute(old, c.RotateKey("rotating-business", old.key.key_id, new_key.public_key))
    before = store_head(hostile.server)
    with pytest.raises(CommandRejected) as caught:
        client.execute(old, c.RevokeKey("rotating-business", new_key.key_id, "with the old key"))
    assert (caught.value.status, caught.value.code) == (
        grpc.StatusCode.UNAUTHENTICATED,
        CheckCode.KEY_ROTATED,
    )
    assert store_head(hostile.server) == before
    # The operator cannot rotate a party's key: only its holder can.
    with pytest.raises(CommandRejected) as caught:
        client.execute(
            world.signer(OPERATOR),
            c.RotateKey("rotating-business", new_key.key_id, SigningKey.generate().public_key),
        )
    assert caught.value.code is CheckCode.NOT_THE_OWNER
    assert store_head(hostile.server) == before
