"""`credit-registry register-class`, `register-project`, `issue`, `transfer`, `retire` and
`balance`: credits from their class and project to their retirement, each command signed
by the acting party's key file and sent with `submit`."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from registry.cli import serve as cli_serve
from registry.cli.home import Home
from registry.cli.recovery import pending_note
from registry.cli.submit import submit
from registry.domain import commands as c
from registry.domain import label_spans
from registry.domain.events import Beneficiary, Origin
from registry.support.presentation import table, tonnes


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    credit_class = commands.add_parser("register-class", help="register a credit class (operator)")
    credit_class.add_argument("class_id")
    credit_class.add_argument("--name", required=True)
    credit_class.add_argument("--issuer", action="append", required=True, dest="issuers")
    credit_class.add_argument("--label-authority", help="the party that labels its serials")
    credit_class.add_argument(
        "--buffer-permille",
        type=int,
        default=0,
        help="share of each issuance withheld in buffer:<CLASS_ID>, per mille (100 = 10 %%)",
    )
    credit_class.set_defaults(handler=_register_class)

    project = commands.add_parser("register-project", help="register a project under a class")
    _actor(project)
    project.add_argument("project_id")
    for option in ("--class", "--name", "--location", "--methodology", "--proponent"):
        project.add_argument(option, required=True)
    project.set_defaults(handler=_register_project)

    issue = commands.add_parser("issue", help="issue a batch of credits (an authorised issuer)")
    _actor(issue)
    issue.add_argument("--project", required=True)
    issue.add_argument("--vintage-start", type=date.fromisoformat, required=True)
    issue.add_argument("--vintage-end", type=date.fromisoformat, required=True)
    issue.add_argument("--quantity-kg", type=int, required=True)
    issue.add_argument("--to", required=True)
    issue.add_argument(
        "--origin",
        type=parse_origin,
        help="where the credits already exist: REGISTRY:PROJECT:START-END, in kilograms "
        "there (e.g. JP-JVER:0012:1-12000)",
    )
    issue.set_defaults(handler=_issue)

    _add_transfer_and_retire(commands)

    balance = commands.add_parser("balance", help="a party's holdings by batch")
    balance.add_argument("party_id")
    balance.set_defaults(handler=_balance)


def _add_transfer_and_retire(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    transfer = commands.add_parser("transfer", help="transfer credits to another party")
    _actor(transfer)
    transfer.add_argument("--to", required=True)
    transfer.add_argument("--quantity-kg", type=int, required=True)
    transfer.add_argument("--batch")
    transfer.add_argument("--memo", default="")
    transfer.set_defaults(handler=_transfer)

    retire = commands.add_parser("retire", help="retire credits for a beneficiary")
    _actor(retire)
    retire.add_argument("--quantity-kg", type=int, required=True)
    retire.add_argument("--beneficiary", required=True, help="beneficiary name")
    retire.add_argument("--beneficiary-party", help="beneficiary party id, when registered")
    retire.add_argument("--purpose", required=True)
    retire.add_argument("--year", type=int, required=True, help="reporting year")
    retire.add_argument("--batch")
    retire.add_argument("--memo", default="")
    retire.add_argument(
        "--location", help="where the offset emissions happened: municipality code or JP-13"
    )
    retire.add_argument("--require-label", help="refuse unless every kilogram carries it")
    retire.set_defaults(handler=_retire)


def _actor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--as", dest="actor", required=True, help="acting party id (its key file signs)"
    )


def parse_origin(text: str) -> Origin:
    """REGISTRY:PROJECT:START-END; the project id there may itself hold colons."""
    registry_id, _, rest = text.partition(":")
    project_id, _, serials = rest.rpartition(":")
    start, _, end = serials.partition("-")
    if not (registry_id and project_id and start.isdigit() and end.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not REGISTRY:PROJECT:START-END")
    return Origin(registry_id, project_id, int(start), int(end))


def _register_class(arguments: argparse.Namespace) -> int:
    body = c.RegisterCreditClass(
        arguments.class_id,
        arguments.name,
        tuple(arguments.issuers),
        arguments.label_authority,
        arguments.buffer_permille,
    )
    return submit(arguments, Home(arguments.home).operator_id(), body)


def _register_project(arguments: argparse.Namespace) -> int:
    body = c.RegisterProject(
        arguments.project_id,
        getattr(arguments, "class"),
        arguments.name,
        arguments.location,
        arguments.methodology,
        arguments.proponent,
    )
    return submit(arguments, arguments.actor, body)


def _issue(arguments: argparse.Namespace) -> int:
    body = c.IssueCredits(
        arguments.project,
        arguments.vintage_start,
        arguments.vintage_end,
        arguments.quantity_kg,
        arguments.to,
        arguments.origin,
    )
    return submit(arguments, arguments.actor, body)


def _transfer(arguments: argparse.Namespace) -> int:
    body = c.TransferCredits(
        arguments.actor, arguments.to, arguments.quantity_kg, arguments.batch, arguments.memo
    )
    return submit(arguments, arguments.actor, body)


def _retire(arguments: argparse.Namespace) -> int:
    details = c.RetirementDetails(
        Beneficiary(arguments.beneficiary, arguments.beneficiary_party),
        arguments.purpose,
        arguments.year,
        arguments.memo,
        location=arguments.location,
        required_label=arguments.require_label,
    )
    return submit(
        arguments,
        arguments.actor,
        c.RetireCredits(arguments.actor, arguments.quantity_kg, details, arguments.batch),
    )


def _balance(arguments: argparse.Namespace) -> int:
    if arguments.server:
        return _served_balance(arguments)
    app = Home(arguments.home).open()
    ledger = app.ledger
    if arguments.party_id not in ledger.parties:
        print(f"unknown party {arguments.party_id}", file=sys.stderr)
        return 1
    rows = []
    for batch_id in ledger.party_batches.get(arguments.party_id, ()):
        blocks = ledger.held(arguments.party_id, batch_id)
        quantity_kg = sum(end - start + 1 for start, end in blocks)
        spans = ledger.labels.get(batch_id, ())
        on_held = {s.label for a, b in blocks for s in label_spans.carried(spans, a, b, None)}
        labels = ",".join(sorted(on_held)) or "-"
        rows.append((batch_id, len(blocks), quantity_kg, tonnes(quantity_kg), labels))
    print(table(("batch", "blocks", "kg", "t-CO2", "labels"), rows, right=(1, 2, 3)))
    print(f"tradable total: {tonnes(ledger.tradable_kg(arguments.party_id))} t-CO2")
    pending = ledger.pending_recovery(arguments.party_id)
    if pending is not None:
        print(pending_note(arguments.party_id, pending.recovery_id, pending.due_at_us))
    return 0


def _served_balance(arguments: argparse.Namespace) -> int:
    """The server answers from its projections: holdings by class and vintage, not by batch."""
    with cli_serve.client(arguments) as client:
        balance = client.balance(arguments.party_id)
    lines = [
        (
            line.class_id,
            line.vintage,
            tonnes(line.tradable_kg),
            tonnes(line.pending_kg),
            tonnes(line.retired_kg),
        )
        for line in balance.lines
    ]
    print(
        table(("class", "vintage", "tradable t", "pending t", "retired t"), lines, right=(2, 3, 4))
    )
    print(f"tradable total: {tonnes(balance.tradable_kg)} t-CO2")
    if balance.HasField("pending_recovery"):
        pending = balance.pending_recovery
        print(pending_note(arguments.party_id, pending.recovery_id, pending.due_at_us))
    return 0
