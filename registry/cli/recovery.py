"""Recovering lost keys from the command line.

`recovery set-key` gives a party a recovery key (or replaces it, signed by the old one);
`recovery recover` replaces a lost or stolen signing key, signed by the recovery key;
`recovery start` is the operator's recovery of a party that lost both, co-signed by an
auditor (`--cosign-as`); `recovery veto` cancels one with any active key of the party;
`recovery complete` installs the key once the waiting period is over; `recoveries` lists
them. A new key file is written beside the old one and takes its place only once the
registry has accepted it, as in `keys rotate`."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from registry.cli import serve as cli_serve
from registry.cli.home import PASSPHRASE_VARIABLE, Home, passphrase, recovery_passphrase
from registry.cli.submit import submit
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.support.presentation import table


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser("recovery", help="recover lost keys").add_subparsers(
        title="recovery"
    )
    set_key = group.add_parser("set-key", help="give a party a (new) recovery key")
    set_key.add_argument("--as", dest="actor", required=True)
    set_key.set_defaults(handler=_set_key)

    recover = group.add_parser(
        "recover", help="replace the party's signing key, signed by its recovery key"
    )
    recover.add_argument("--as", dest="actor", required=True)
    recover.set_defaults(handler=_recover)

    start = group.add_parser("start", help="the operator's recovery of a party that lost both keys")
    start.add_argument("--as", dest="actor", help="the operator (default: --home's)")
    start.add_argument("--party", required=True)
    start.add_argument("--recovery-id", required=True)
    start.add_argument("--public-key", required=True, help="the party's new key (hex)")
    start.add_argument("--reason", required=True)
    start.add_argument(
        "--cosign-as", action="append", default=[], help="the auditor who co-signs it"
    )
    start.set_defaults(handler=_start)

    veto = group.add_parser("veto", help="cancel a pending recovery (any active key of the party)")
    veto.add_argument("--as", dest="actor", required=True)
    veto.add_argument("--recovery-id", required=True)
    veto.add_argument("--with-recovery-key", action="store_true")
    veto.set_defaults(handler=_veto)

    complete = group.add_parser("complete", help="install the key after the waiting period")
    complete.add_argument("--as", dest="actor", help="any party (default: the operator)")
    complete.add_argument("--party", required=True)
    complete.add_argument("--recovery-id", required=True)
    complete.set_defaults(handler=_complete)

    listing = commands.add_parser("recoveries", help="recoveries of parties' keys")
    listing.add_argument("--party")
    listing.add_argument("--pending", action="store_true", help="only pending ones")
    listing.set_defaults(handler=_list)


def _replace_after(
    arguments: argparse.Namespace,
    path: Path,
    secret: bytes,
    body: c.CommandBody,
    signer: SigningKey,
    new_key: SigningKey,
) -> int:
    """Write `new_key` beside `path`, submit, and move it into place once accepted."""
    pending = path.with_name(path.name + ".new")
    if pending.exists():
        print(
            f"{pending} exists: an earlier change did not finish; remove it first", file=sys.stderr
        )
        return 2
    new_key.save(pending, secret)
    outcome = submit(arguments, arguments.actor, body, signer)
    if outcome != 0:
        pending.unlink()
        return outcome
    os.replace(pending, path)
    print(f"key_id     {new_key.key_id}\nfile       {path}")
    return 0


def _set_key(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    path = home.recovery_key_path(arguments.actor)
    # A recovery key is replaced only with itself; a party without one signs with its key.
    signer = (
        home.recovery_key(arguments.actor) if path.exists() else home.party_key(arguments.actor)
    )
    new_key = SigningKey.generate()
    body = c.SetRecoveryKey(arguments.actor, new_key.public_key)
    secret = recovery_passphrase(arguments.actor)
    return _replace_after(arguments, path, secret, body, signer, new_key)


def _recover(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    recovery_key = home.recovery_key(arguments.actor)
    new_key = SigningKey.generate()
    body = c.RecoverKey(arguments.actor, new_key.public_key)
    secret = passphrase(PASSPHRASE_VARIABLE, f"{arguments.actor}'s new key")
    return _replace_after(
        arguments, home.key_path(arguments.actor), secret, body, recovery_key, new_key
    )


def _start(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    actor = arguments.actor or home.operator_id()
    body = c.StartRecovery(
        arguments.party,
        arguments.recovery_id,
        bytes.fromhex(arguments.public_key),
        arguments.reason,
    )
    return submit(arguments, actor, body, cosigners=arguments.cosign_as)


def _veto(arguments: argparse.Namespace) -> int:
    home = Home(arguments.home)
    key = home.recovery_key(arguments.actor) if arguments.with_recovery_key else None
    body = c.VetoRecovery(arguments.actor, arguments.recovery_id)
    return submit(arguments, arguments.actor, body, key)


def _complete(arguments: argparse.Namespace) -> int:
    actor = arguments.actor or Home(arguments.home).operator_id()
    return submit(arguments, actor, c.CompleteRecovery(arguments.party, arguments.recovery_id))


def _when(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1_000_000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _list(arguments: argparse.Namespace) -> int:
    rows: list[tuple[object, ...]] = []
    if arguments.server:
        with cli_serve.client(arguments) as client:
            found = client.recoveries(arguments.party or "", arguments.pending)
        rows = [(r.party_id, r.recovery_id, r.status, _when(r.due_at_us), r.reason) for r in found]
    else:
        ledger = Home(arguments.home).open().ledger
        for (party_id, recovery_id), recovery in sorted(ledger.recoveries.items()):
            status = recovery.outcome or "pending"
            if (arguments.party in (None, party_id)) and (
                status == "pending" or not arguments.pending
            ):
                rows.append((party_id, recovery_id, status, _when(recovery.due_at_us), ""))
    print(table(("party", "recovery", "status", "due", "reason"), rows))
    return 0


def pending_note(party_id: str, recovery_id: str, due_at_us: int) -> str:
    """What `balance` prints while a recovery of the party's keys is pending."""
    return (
        f"FROZEN: recovery {recovery_id} of {party_id}'s keys is pending until "
        f"{_when(due_at_us)}; any active key of {party_id} may veto it"
    )
