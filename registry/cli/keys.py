"""Parties and their keys from the command line: `keys new` (a party makes its signing key
file and its recovery key file, the latter to keep offline), `keys show` (what the key files
hold, public parts only), `keys rotate` (a party replaces its
own key), `keys revoke` (a party or the operator withdraws a key, e.g. a stolen laptop),
`register-party` (the operator registers a party with its public keys) and `cancel` (the
batch's issuer or the operator takes credits out of circulation, e.g. a credit issued in
error, with a reason)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from registry import reference
from registry.cli.home import PASSPHRASE_VARIABLE, Home, passphrase, recovery_passphrase
from registry.cli.submit import submit
from registry.domain import commands as c
from registry.envelope.keys import SigningKey


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    keys = commands.add_parser("keys", help="key files").add_subparsers(title="keys")
    new_key = keys.add_parser(
        "new", help="create a party's signing key file and recovery key file (passphrase-protected)"
    )
    new_key.add_argument("party_id")
    new_key.set_defaults(handler=_new)

    show = keys.add_parser(
        "show", help="print the key id and public key of a party's existing key file"
    )
    show.add_argument("party_id")
    show.set_defaults(handler=_show)

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

    _add_register_party(commands)


def _add_register_party(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    party = commands.add_parser(
        "register-party", help="register a party with its public key (operator)"
    )
    party.add_argument("party_id")
    party.add_argument(
        "--role",
        required=True,
        choices=["municipality", "issuer", "operator", "auditor", "business"],
    )
    party.add_argument(
        "--name", help="defaults to the shipped name for the 62 municipalities and Iwaizumi"
    )
    party.add_argument("--name-ja")
    party.add_argument("--public-key", required=True, help="hex, as printed by 'keys new'")
    party.add_argument(
        "--recovery-public-key",
        help="hex recovery_public_key printed by 'keys new': lets the party replace a lost "
        "signing key itself",
    )
    party.set_defaults(handler=_register_party)


def _new(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    path = home.key_path(arguments.party_id)
    recovery_path = home.recovery_key_path(arguments.party_id)
    # Checked before the passphrase is asked for; the exclusive create in `save` still
    # refuses a file that appears in between, and an existing key is never overwritten.
    for existing in (path, recovery_path):
        if existing.exists():
            return _key_file_exists(existing, arguments.party_id)
    key, recovery_key = SigningKey.generate(), SigningKey.generate()
    try:
        key.save(path, passphrase(PASSPHRASE_VARIABLE, f"{arguments.party_id}'s key"))
        recovery_key.save(recovery_path, recovery_passphrase(arguments.party_id))
    except FileExistsError as error:
        return _key_file_exists(Path(str(error.filename)), arguments.party_id)
    _print_key(key, path, recovery_key, recovery_path)
    print(
        f"keep {recovery_path} offline (not on this machine): it signs only the recovery of "
        f"{arguments.party_id}'s keys, and only the party should ever hold it",
        file=sys.stderr,
    )
    return 0


def _key_file_exists(path: Path, party_id: str) -> int:
    print(
        f"{path} exists: {party_id} already has a key file ('keys show {party_id}' "
        f"prints it, 'keys rotate --as {party_id}' replaces it)",
        file=sys.stderr,
    )
    return 2


def _show(arguments: argparse.Namespace) -> int:
    path = Home(arguments.home).key_path(arguments.party_id)
    if not path.exists():
        print(
            f"no key file for {arguments.party_id} at {path}; "
            f"create one with 'keys new {arguments.party_id}'",
            file=sys.stderr,
        )
        return 2
    # A passphrase that does not open the file is a ValueError: `main` prints it, exit 2.
    key = SigningKey.load(path, passphrase(PASSPHRASE_VARIABLE, f"{arguments.party_id}'s key"))
    recovery_path = Home(arguments.home).recovery_key_path(arguments.party_id)
    if recovery_path.exists():
        recovery_key = SigningKey.load(recovery_path, recovery_passphrase(arguments.party_id))
        _print_key(key, path, recovery_key, recovery_path)
    else:
        _print_key(key, path)
    return 0


def _print_key(
    key: SigningKey,
    path: Path,
    recovery_key: SigningKey | None = None,
    recovery_path: Path | None = None,
) -> None:
    print(f"key_id     {key.key_id}\npublic_key {key.public_key.hex()}\nfile       {path}")
    if recovery_key is not None:
        print(
            f"recovery_key_id     {recovery_key.key_id}\n"
            f"recovery_public_key {recovery_key.public_key.hex()}\n"
            f"recovery_file       {recovery_path}"
        )


def _register_party(arguments: argparse.Namespace) -> int:
    name = arguments.name
    name_ja = arguments.name_ja
    if name is None:
        known = {m.code: m for m in reference.municipalities()}.get(arguments.party_id)
        if known is None:
            print("--name is required for parties outside the shipped list", file=sys.stderr)
            return 2
        name, name_ja = known.name_en, name_ja or known.name_ja
    recovery = arguments.recovery_public_key
    body = c.RegisterParty(
        arguments.party_id,
        arguments.role,
        name,
        bytes.fromhex(arguments.public_key),
        name_ja,
        bytes.fromhex(recovery) if recovery else None,
    )
    return submit(arguments, Home(arguments.home).operator_id(), body)


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
    _print_key(new_key, path)
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
