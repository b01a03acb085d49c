"""Building and signing commands on the client side: the actor signs the exact command bytes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from registry.domain import rules
from registry.domain.commands import Command, CommandBody
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import Cosignature, SignedCommand
from registry.support.clock import now_us

LIFETIME_US_DEFAULT = 10 * 60 * 1_000_000  # long enough for retries, short against replays
assert 0 < LIFETIME_US_DEFAULT <= rules.COMMAND_LIFETIME_US_MAX


@dataclass
class CommandSigner:
    codec: Codec
    actor_id: str
    key: SigningKey

    def command(
        self,
        body: CommandBody,
        command_id: str | None = None,
        created_at_us: int | None = None,
        lifetime_us: int = LIFETIME_US_DEFAULT,
    ) -> Command:
        created = now_us() if created_at_us is None else created_at_us
        return Command(
            command_id=command_id or str(uuid.uuid4()),
            actor_id=self.actor_id,
            key_id=self.key.key_id,
            created_at_us=created,
            expires_at_us=created + lifetime_us,
            body=body,
        )

    def sign_command(self, command: Command) -> SignedCommand:
        command_bytes = self.codec.encode_command(command)
        return SignedCommand(
            command.actor_id, command.key_id, command_bytes, self.key.sign(command_bytes)
        )

    def sign(
        self, body: CommandBody, command_id: str | None = None, **options: int
    ) -> SignedCommand:
        return self.sign_command(self.command(body, command_id, **options))

    def cosign(self, signed: SignedCommand) -> SignedCommand:
        """Add this party's co-signature: its signature over the very bytes the actor
        signed (e.g. an auditor's on the operator's StartRecovery). The command is decoded
        first, so a co-signer sees what it signs."""
        self.codec.decode_command(signed.command_bytes)
        cosignature = Cosignature(
            self.actor_id, self.key.key_id, self.key.sign(signed.command_bytes)
        )
        return replace(signed, cosignatures=(*signed.cosignatures, cosignature))
