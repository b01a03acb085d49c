"""Protobuf messages to and from application values. Nothing here decides anything."""

from __future__ import annotations

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.domain.results import CommandResult
from registry.envelope.sealing import Cosignature, SignedCommand


def signed_command(message: pb.SignedCommand) -> SignedCommand:
    return SignedCommand(
        message.actor_id,
        message.key_id,
        message.command_bytes,
        message.signature,
        tuple(Cosignature(c.party_id, c.key_id, c.signature) for c in message.cosignatures),
    )


def signed_command_message(command: SignedCommand) -> pb.SignedCommand:
    return pb.SignedCommand(
        actor_id=command.actor_id,
        key_id=command.key_id,
        command_bytes=command.command_bytes,
        signature=command.signature,
        cosignatures=[
            pb.Cosignature(party_id=c.party_id, key_id=c.key_id, signature=c.signature)
            for c in command.cosignatures
        ],
    )


def result_message(result: CommandResult) -> pb.CommandResult:
    return pb.CommandResult(
        command_id=result.command_id,
        accepted=result.accepted,
        position=result.position or 0,
        check_code=result.code.name if result.code else "",
        check_number=result.code.number if result.code else 0,
        message=result.message,
        replayed=result.replayed,
    )
