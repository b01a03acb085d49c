"""`credit-registry label add|withdraw`, `report-reversal` and `batch`: labels on serial
ranges by the class's label authority, reversals cancelled from the buffer, and one
batch as a reader sees it (supply, origin, buffer, labels)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from registry.cli import serve as cli_serve
from registry.cli.home import Home
from registry.cli.submit import submit
from registry.domain import commands as c
from registry.domain.records import buffer_holder
from registry.support.presentation import table, tonnes


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    label = commands.add_parser("label", help="add or withdraw a label on serials of a batch")
    actions = label.add_subparsers(title="label commands")
    add = actions.add_parser("add", help="label serials (the class's label authority)")
    _serial_range(add)
    add.add_argument("--from", dest="valid_from", type=date.fromisoformat, required=True)
    add.add_argument("--until", dest="valid_until", type=date.fromisoformat, required=True)
    add.set_defaults(handler=_add_label)
    withdraw = actions.add_parser("withdraw", help="take a label off serials")
    _serial_range(withdraw)
    withdraw.add_argument("--reason", required=True)
    withdraw.set_defaults(handler=_withdraw_label)

    reversal = commands.add_parser(
        "report-reversal", help="report reversed absorption (an issuer of the class, operator)"
    )
    reversal.add_argument("--as", dest="actor", required=True)
    reversal.add_argument("--project", required=True)
    reversal.add_argument("--quantity-kg", type=int, required=True)
    reversal.add_argument("--reason", required=True)
    reversal.set_defaults(handler=_report_reversal)

    batch = commands.add_parser("batch", help="a batch: supply, origin, buffer and labels")
    batch.add_argument("batch_id")
    batch.set_defaults(handler=_batch)


def _serial_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="actor", required=True, help="the label authority")
    parser.add_argument("batch_id")
    parser.add_argument("serial_start", type=int)
    parser.add_argument("serial_end", type=int)
    parser.add_argument("label", help="e.g. ICVCM-CCP, CORSIA, JCREDIT-JCL")


def _add_label(arguments: argparse.Namespace) -> int:
    body = c.AddLabel(
        arguments.batch_id,
        arguments.serial_start,
        arguments.serial_end,
        arguments.label,
        arguments.valid_from,
        arguments.valid_until,
    )
    return submit(arguments, arguments.actor, body)


def _withdraw_label(arguments: argparse.Namespace) -> int:
    body = c.WithdrawLabel(
        arguments.batch_id,
        arguments.serial_start,
        arguments.serial_end,
        arguments.label,
        arguments.reason,
    )
    return submit(arguments, arguments.actor, body)


def _report_reversal(arguments: argparse.Namespace) -> int:
    body = c.ReportReversal(arguments.project, arguments.quantity_kg, arguments.reason)
    return submit(arguments, arguments.actor, body)


def _batch(arguments: argparse.Namespace) -> int:
    if arguments.server:
        return _served_batch(arguments)
    ledger = Home(arguments.home).open().ledger
    batch = ledger.batches.get(arguments.batch_id)
    if batch is None:
        print(f"unknown batch {arguments.batch_id}", file=sys.stderr)
        return 1
    supply = ledger.supply[batch.batch_id]
    origin = batch.origin
    print(f"batch {batch.batch_id}: class {batch.class_id}, project {batch.project_id}")
    print(
        f"issued {tonnes(supply.issued_kg)} t: tradable {tonnes(supply.tradable_kg)}, pending "
        f"{tonnes(supply.pending_kg)}, retired {tonnes(supply.retired_kg)}, cancelled "
        f"{tonnes(supply.cancelled_kg)}"
    )
    if origin is not None:
        print(
            f"origin: {origin.registry_id} {origin.project_id} "
            f"kg {origin.serial_start}-{origin.serial_end}"
        )
    buffered_kg = ledger.tradable_kg(buffer_holder(batch.class_id), batch.batch_id)
    print(f"in the buffer: {tonnes(buffered_kg)} t")
    rows = [
        (s.label, f"{s.serial_start}-{s.serial_end}", s.valid_from, s.valid_until)
        for s in ledger.labels.get(batch.batch_id, ())
    ]
    print(table(("label", "serials", "valid from", "valid until"), rows))
    return 0


def _served_batch(arguments: argparse.Namespace) -> int:
    with cli_serve.client(arguments) as client:
        batch = client.batch(arguments.batch_id)
    print(f"batch {batch.batch_id}: class {batch.class_id}, project {batch.project_id}")
    print(
        f"issued {tonnes(batch.issued_kg)} t: tradable {tonnes(batch.tradable_kg)}, pending "
        f"{tonnes(batch.pending_kg)}, retired {tonnes(batch.retired_kg)}, cancelled "
        f"{tonnes(batch.cancelled_kg)}"
    )
    if batch.HasField("origin"):
        origin = batch.origin
        print(
            f"origin: {origin.registry_id} {origin.project_id} "
            f"kg {origin.serial_start}-{origin.serial_end}"
        )
    print(f"in the buffer: {tonnes(batch.buffer_held_kg)} t")
    rows = [
        (s.label, f"{s.serial_start}-{s.serial_end}", s.valid_from, s.valid_until)
        for s in batch.labels
    ]
    print(table(("label", "serials", "valid from", "valid until"), rows))
    return 0
