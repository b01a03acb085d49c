"""Key history and cancellation from the command line: `keys rotate` (a party replaces its
own key), `keys revoke` (a party or the operator withdraws a key, e.g. a stolen laptop) and
`cancel` (the batch's issuer or the operator takes credits out of circulation, e.g. a
credit issued in error, with a reason)."""

from __future__ import annotations

import argparse
import os
import sys

from registry.cli.home import PASSPHRASE_VARIABLE, Home, passphrase
from registry.cli.submit import submit
from registry.domain import commands as c
from registry.envelope.keys import SigningKey


def add_commands(
    keys: argparse._SubParsersAction,  # type: ignore[type-arg]
    commands: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> None:
    rotate = keys.add_parser(
        "rotate",
        help="replace a party's key: the old key signs the new one in, then retires",
    )
    rotate.add_argument("--as", dest="actor", required=True, help="the party whose key rotates")
    rotate.set_defaults(handler=_rotate)

    revoke = keys.add_parser(
        "revoke", help="withdraw a key at once (the party itself, or the operator)"
    )
    revoke.add_argument("--as", dest="actor", required=True, help="acting party id")
    revoke.add_argument("--party", required=True, help="the party the key belongs to")
    revoke.add_argument("--key-id", required=True, help="e.g. ed25519:3051c0acb8e14ea5")
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(handler=_revoke)

    cancel = commands.add_parser(
        "cancel", help="cancel credits of a batch (its issuer or the operator, with a reason)"
    )
    cancel.add_argument("--as", dest="actor", required=True, help="the issuer or the operator")
    cancel.add_argument("--holder", required=True, help="the party holding the credits")
    cancel.add_argument("--batch", required=True)
    cancel.add_argument("--quantity-kg", type=int, required=True)
    cancel.add_argument("--reason", required=True)
    cancel.set_defaults(handler=_cancel)


def _rotate(arguments: argparse.Namespace) -> int:
    """The new key is written beside the old one first and takes the old file's place only
    once the registry has accepted it: a refused or lost rotation leaves a working key."""
    home = Home(arguments.home)
    path = home.key_path(arguments.actor)
    old_key = home.party_key(arguments.actor)
    new_key = SigningKey.generate()
    pending_path = path.with_name(path.name + ".new")
    if pending_path.exists():
        print(
            f"{pending_path} exists: an earlier rotation did not finish. If the registry "
            f"recorded it, move that file to {path}; otherwise delete it.",
            file=sys.stderr,
        )
        return 2
    new_key.save(pending_path, passphrase(PASSPHRASE_VARIABLE, f"{arguments.actor}'s new key"))
    body = c.RotateKey(arguments.actor, old_key.key_id, new_key.public_key)
    outcome = submit(arguments, arguments.actor, body, old_key)
    if outcome != 0:
        pending_path.unlink()
        return outcome
    # The old private key is overwritten, not kept: the registry refuses it from now on,
    # and a key that signs nothing is only a liability on disk.
    os.replace(pending_path, path)
    print(f"key_id     {new_key.key_id}\npublic_key {new_key.public_key.hex()}\nfile       {path}")
    print(f"retired    {old_key.key_id}")
    return 0


def _revoke(arguments: argparse.Namespace) -> int:
    body = c.RevokeKey(arguments.party, arguments.key_id, arguments.reason)
    return submit(arguments, arguments.actor, body)


def _cancel(arguments: argparse.Namespace) -> int:
    body = c.CancelCredits(
        arguments.holder, arguments.batch, arguments.quantity_kg, arguments.reason
    )
    return submit(arguments, arguments.actor, body)
