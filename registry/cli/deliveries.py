"""`credit-registry deliveries expire-due`: release the credits of exchange deliveries left
unanswered past their deadline. The rules never expire a delivery by themselves (the chain
records only signed commands), so a party to the deliveries or the operator runs this on a
schedule; each run sends one signed `ResolveDelivery(expired)` per due delivery."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.cli import serve as cli_serve
from registry.cli.home import PASSPHRASE_VARIABLE, Home, passphrase
from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.domain.checks import CheckCode
from registry.envelope.codec import Codec
from registry.envelope.keys import SigningKey
from registry.support.presentation import tonnes

PAGE_DELIVERIES = 500
SEND_ATTEMPTS = 3
RETRY_PAUSE_S = 0.5
REASON_DEFAULT = "unanswered by the deadline (deliveries expire-due)"
# Transport failures, not verdicts: the same signed bytes are sent again, and if the first
# attempt was recorded the server answers with its result (idempotent by command id).
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

# What became of one due delivery, in the order the summary prints them.
EXPIRED = "expired"
ALREADY_RESOLVED = "already resolved"
NOT_YET_DUE = "not yet due"
REFUSED = "refused"
FAILED = "failed"
OUTCOMES = (EXPIRED, ALREADY_RESOLVED, NOT_YET_DUE, REFUSED, FAILED)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser(
        "deliveries", help="partner-exchange deliveries (needs --server)"
    ).add_subparsers(title="deliveries")
    expire = group.add_parser(
        "expire-due",
        help="expire every open delivery past its deadline (run on a schedule)",
        description=__doc__,
    )
    expire.add_argument(
        "--as", dest="actor", required=True, help="a party to the deliveries, or the operator"
    )
    expire.add_argument(
        "--key-file",
        type=Path,
        help="the acting party's key file (default: keys/<party>.key in --home); "
        f"its passphrase comes from {PASSPHRASE_VARIABLE}",
    )
    expire.add_argument(
        "--all",
        action="store_true",
        help="every party's deliveries, not only the acting party's (for the operator)",
    )
    expire.add_argument("--agreement", default="", help="only this agreement's deliveries")
    expire.add_argument("--reason", default=REASON_DEFAULT)
    expire.add_argument(
        "--dry-run", action="store_true", help="list the due deliveries, send nothing"
    )
    expire.set_defaults(handler=_expire_due)


@dataclass(frozen=True)
class Expiry:
    delivery: pb.Delivery
    outcome: str
    detail: str


def due_deliveries(client: RegistryClient, party_id: str, agreement_id: str) -> list[pb.Delivery]:
    """Open deliveries past their deadline by the server's clock, oldest proposal first."""
    found: list[pb.Delivery] = []
    after_position = 0
    while True:
        page = client.deliveries(
            party_id,
            agreement_id,
            due_only=True,
            after_position=after_position,
            limit=PAGE_DELIVERIES,
        ).deliveries
        found.extend(page)
        if len(page) < PAGE_DELIVERIES:
            return found
        after_position = page[-1].proposed_position


def expire_one(
    client: RegistryClient, signer: CommandSigner, delivery: pb.Delivery, reason: str
) -> Expiry:
    signed = signer.sign(c.ResolveDelivery(delivery.delivery_id, "expired", reason))
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            result = client.send_exchange(signed, "ResolveDelivery")
        except CommandRejected as rejection:
            if rejection.code is CheckCode.DELIVERY_RESOLVED:
                # Resolved since the projections listed it (accepted, rejected, or expired
                # by another run): the first resolution stands, nothing to do.
                return Expiry(delivery, ALREADY_RESOLVED, rejection.message)
            if rejection.code is CheckCode.DELIVERY_NOT_DUE:
                # Another replica's clock is behind the one that listed it: the next run.
                return Expiry(delivery, NOT_YET_DUE, rejection.message)
            if rejection.code is None and rejection.status in RETRYABLE:
                if attempt < SEND_ATTEMPTS:
                    time.sleep(RETRY_PAUSE_S * attempt)
                    continue
                return Expiry(delivery, FAILED, f"{rejection.status.name}: {rejection.message}")
            return Expiry(delivery, REFUSED, rejection.reason)
        note = " (already recorded: first result returned)" if result.replayed else ""
        return Expiry(delivery, EXPIRED, f"at position {result.position}{note}")
    raise AssertionError("every attempt returns")


def _signing_key(arguments: argparse.Namespace) -> SigningKey:
    if arguments.key_file is None:
        return Home(arguments.home).party_key(arguments.actor)
    return SigningKey.load(
        arguments.key_file, passphrase(PASSPHRASE_VARIABLE, f"{arguments.actor}'s key")
    )


def _deadline(deadline_us: int) -> str:
    return datetime.fromtimestamp(deadline_us / 1_000_000, tz=UTC).isoformat(timespec="seconds")


def _expire_due(arguments: argparse.Namespace) -> int:
    if not arguments.server:
        print("deliveries expire-due needs --server (or CREDIT_REGISTRY_SERVER)", file=sys.stderr)
        return 2
    party_id = "" if arguments.all else arguments.actor
    signer = (
        None
        if arguments.dry_run
        else CommandSigner(Codec(), arguments.actor, _signing_key(arguments))
    )
    counts: Counter[str] = Counter()
    with cli_serve.client(arguments) as client:
        try:
            due = due_deliveries(client, party_id, arguments.agreement)
        except CommandRejected as rejection:
            print(f"cannot list deliveries: {rejection}", file=sys.stderr)
            return 1
        for delivery in due:
            what = (
                f"{delivery.delivery_id} ({delivery.agreement_id}, {tonnes(delivery.quantity_kg)} t "
                f"of {delivery.provider_id} for {delivery.user_id}, "
                f"deadline {_deadline(delivery.deadline_us)})"
            )
            if signer is None:
                print(f"due      {what}")
                continue
            expiry = expire_one(client, signer, delivery, arguments.reason)
            counts[expiry.outcome] += 1
            line = f"{expiry.outcome:<16} {what}: {expiry.detail}"
            print(line, file=sys.stderr if expiry.outcome in (REFUSED, FAILED) else sys.stdout)
    summary = ", ".join(f"{outcome} {counts[outcome]}" for outcome in OUTCOMES)
    print(f"due {len(due)}: " + ("dry run, nothing sent" if signer is None else summary))
    # A refusal (wrong party, revoked key) or a server that stayed away needs a person;
    # a delivery resolved meanwhile or not yet due by another clock does not.
    return 1 if counts[REFUSED] or counts[FAILED] else 0
