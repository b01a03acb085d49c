"""Sending one signed command from the command line: through a gRPC server when `--server`
is given, to the embedded store otherwise. Both print the same two outcomes and exit 0 on
acceptance, 1 on a refusal (with its check code)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from registry.cli import serve as cli_serve
from registry.cli.home import Home
from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected
from registry.domain import commands as c
from registry.domain.results import CommandResult
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey


def submit(
    arguments: argparse.Namespace,
    actor: str,
    body: c.CommandBody,
    key: SigningKey | None = None,
    cosigners: Sequence[str] = (),
) -> int:
    """Sign `body` as `actor` with `key` (default: the actor's key file in --home), add the
    co-signatures of `cosigners` (their key files in --home), and send it."""
    home = Home(arguments.home)
    signing_key = key or home.party_key(actor)
    codec = Codec()
    signed = CommandSigner(codec, actor, signing_key).sign(body)
    for cosigner in cosigners:
        signed = CommandSigner(codec, cosigner, home.party_key(cosigner)).cosign(signed)
    if arguments.server:
        with cli_serve.client(arguments) as client:
            try:
                answer = client.deliver(signed, body)
            except CommandRejected as rejection:
                print(f"rejected: {rejection.reason}", file=sys.stderr)
                return 1
        note = " (already recorded: first result returned)" if answer.replayed else ""
        print(f"accepted at position {answer.position}{note}")
        return 0
    return report(home.open().submit(signed))


def report(result: CommandResult) -> int:
    if result.accepted:
        note = " (already recorded: first result returned)" if result.replayed else ""
        print(f"accepted at position {result.position}{note}")
        return 0
    assert result.code is not None
    print(f"rejected: {result.code.name} ({result.code.number}): {result.message}", file=sys.stderr)
    return 1
