"""Fuzzed signed commands: a body drawn by the strategies, signed by a real party's key
(so most cases reach the rules), sometimes tampered with on the way. Each case knows which
outcomes are allowed, so a forged or expired command that got through fails the test."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from registry.client.command_signer import LIFETIME_US_DEFAULT
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.domain.parties import TEXT_LENGTH_MAX
from registry.domain.rules import (
    CLOCK_SKEW_US_MAX,
    COMMAND_LIFETIME_US_MAX,
    RECORDING_DELAY_US_MAX,
)
from registry.envelope.codec import to_record
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import SignedCommand
from registry.support.clock import now_us
from tests.e2e.grpc_world import GrpcWorld
from tests.hostile.strategies import (
    Vocabulary,
    any_body,
    body_strategy,
    hostile_bytes,
    hostile_text,
    mostly,
)

TAMPERING = (
    "signature_flipped",
    "signature_truncated",
    "signature_other_key",
    "signature_reused",
    "actor_mismatch",
    "bytes_truncated",
    "raw",
)
SIGNATURE_TAMPERING = frozenset(mode for mode in TAMPERING if mode.startswith("signature"))
# Codes a tampered-signature command may get: checks that run before the signature's.
# The key's status is one of them: a fuzzed RevokeKey or RotateKey signed by the sacrificial
# party can retire the key the world still signs with (CI found the rotation case). So is
# the key's purpose: recovery commands must be signed with the recovery key, and the
# recovery key signs nothing else; the rules name the key before its signature is checked.
BEFORE_SIGNATURE = frozenset(
    {
        CheckCode.BAD_SIGNATURE,
        CheckCode.MALFORMED_COMMAND,
        CheckCode.DUPLICATE_COMMAND_ID,
        CheckCode.KEY_REVOKED,
        CheckCode.KEY_ROTATED,
        CheckCode.RECOVERY_KEY_REQUIRED,
        CheckCode.RECOVERY_KEY_MISUSED,
    }
)
BOUNDARY_MARGIN_US = 2_000_000  # client and server clocks read a few ms apart
REUSED_IDS = ("reused-command-1", "reused-command-2")


@dataclass(frozen=True)
class CommandCase:
    signer: str
    body: c.CommandBody
    command_id: str | None
    created_offset_us: int
    lifetime_us: int
    tamper: str
    raw: bytes = b""
    raw_text: str = ""

    def time_code(self) -> CheckCode | str | None:
        """The time check this case must fail, None if it passes, "edge" if too close to say."""
        created = self.created_offset_us
        expires = created + self.lifetime_us
        if (
            abs(expires) < BOUNDARY_MARGIN_US
            or abs(created - CLOCK_SKEW_US_MAX) < BOUNDARY_MARGIN_US
            or abs(created + RECORDING_DELAY_US_MAX) < BOUNDARY_MARGIN_US
        ):
            return "edge"
        if expires < 0:
            return CheckCode.COMMAND_EXPIRED
        if created > CLOCK_SKEW_US_MAX:
            return CheckCode.COMMAND_FROM_FUTURE
        if created < -RECORDING_DELAY_US_MAX:
            return CheckCode.COMMAND_STALE
        if self.lifetime_us > COMMAND_LIFETIME_US_MAX:
            return CheckCode.MALFORMED_COMMAND
        return None


def command_cases(
    signers: tuple[str, ...], vocabulary: Vocabulary, body: type[Any] | None
) -> SearchStrategy[CommandCase]:
    """Bodies of the RPC's own type most of the time, any command type otherwise."""
    bodies = any_body(vocabulary)
    if body is not None:
        bodies = mostly(body_strategy(body, vocabulary), bodies)
    return st.builds(
        CommandCase,
        signer=st.sampled_from(signers),
        body=bodies,
        command_id=st.one_of(st.none(), st.none(), st.sampled_from(REUSED_IDS), hostile_text()),
        created_offset_us=st.one_of(
            st.just(0),
            st.just(0),
            st.just(0),
            st.integers(-(10**12), 10**12),
            st.sampled_from([CLOCK_SKEW_US_MAX + 60_000_000, -LIFETIME_US_DEFAULT - 60_000_000]),
        ),
        lifetime_us=st.one_of(
            st.just(LIFETIME_US_DEFAULT),
            st.just(LIFETIME_US_DEFAULT),
            st.integers(-(10**12), 10**13),
        ),
        tamper=mostly(st.just("none"), st.sampled_from(TAMPERING)),
        raw=hostile_bytes(),
        raw_text=hostile_text(signers),
    )


def sign_case(world: GrpcWorld, case: CommandCase) -> SignedCommand:
    """Sign at the moment of sending: the case's times are offsets from now."""
    if case.tamper == "raw":
        return SignedCommand(case.raw_text, case.raw_text[:80], case.raw, case.raw[:64])
    signer = world.signer(case.signer)
    command = signer.command(
        case.body,
        case.command_id,
        created_at_us=now_us() + case.created_offset_us,
        lifetime_us=case.lifetime_us,
    )
    signed = signer.sign_command(command)
    signature = signed.signature
    if case.tamper == "signature_flipped":
        signature = bytes([signature[0] ^ 0x01]) + signature[1:]
    elif case.tamper == "signature_truncated":
        signature = signature[: len(case.raw) % 64]
    elif case.tamper == "signature_other_key":
        signature = SigningKey.generate().sign(signed.command_bytes)
    elif case.tamper == "signature_reused":
        other = dataclasses.replace(command, command_id=command.command_id + "-other")
        signature = signer.sign_command(other).signature
    elif case.tamper == "actor_mismatch":
        others = [party for party in world.keys if party != case.signer]
        return dataclasses.replace(signed, actor_id=others[len(case.raw) % len(others)])
    elif case.tamper == "bytes_truncated":
        cut = len(case.raw) % max(len(signed.command_bytes), 1)
        return dataclasses.replace(signed, command_bytes=signed.command_bytes[:cut])
    return dataclasses.replace(signed, signature=signature)


def allowed_refusals(case: CommandCase) -> frozenset[CheckCode] | None:
    """The codes a refusal of this case may carry; None when any published code may do."""
    if case.tamper in ("raw", "bytes_truncated"):
        return frozenset({CheckCode.MALFORMED_COMMAND})
    if case.tamper == "actor_mismatch":
        return frozenset({CheckCode.ACTOR_MISMATCH, CheckCode.MALFORMED_COMMAND})
    if case.tamper in SIGNATURE_TAMPERING:
        return BEFORE_SIGNATURE
    return None


def must_be_refused(case: CommandCase) -> bool:
    time_code = case.time_code()
    return case.tamper != "none" or (time_code is not None and time_code != "edge")


def check_refusal(case: CommandCase, code: CheckCode | None) -> None:
    allowed = allowed_refusals(case)
    if allowed is not None:
        assert code in allowed, (case.tamper, code)
        return
    time_code = case.time_code()
    if isinstance(time_code, CheckCode):
        # The time checks come first in the rules; only earlier checks may pre-empt them.
        assert code in BEFORE_SIGNATURE | {time_code}, (time_code, code)


def texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item)


def check_accepted_text(case: CommandCase) -> None:
    """What is recorded is readable: no control characters, no text beyond the limits."""
    recorded = [case.command_id or "", *texts(to_record(case.body))]
    for text in recorded:
        assert len(text) <= TEXT_LENGTH_MAX, f"{len(text)} characters recorded"
        assert not any(ord(char) < 0x20 and char not in "\n\t" for char in text), repr(text)
