"""Permanence: a class may withhold a share of every issuance in its buffer account
(`buffer:<CLASS_ID>`), as Verra's and Gold Standard's buffer pools do, and a reversal of a
project's absorption (fire, storm, development) cancels the reversed quantity from that
project's credits in the buffer, reporting what the buffer could not cover as a shortfall.
No holder loses credits to a reversal.

The share withheld is the floor of quantity * share / 1000: the recipient never receives
less than its share of the whole kilograms. The buffer takes the batch's highest serials,
so the recipient's serials still start at 1. Buffered credits are tradable credits held
by the buffer account: the supply rule counts them there, and nobody can move them, as
no party can sign for a reserved holder id."""

from __future__ import annotations

from bisect import bisect_left

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection, require
from registry.domain.ledger import Ledger
from registry.domain.parties import Party, Role, validate_name
from registry.domain.records import CreditClass
from registry.domain.serials import SerialBlock, take_lowest

BUFFER_SHARE_PERMILLE_MAX = 999
PERMILLE = 1_000
REVERSAL_KG_MAX = 10**12  # rules.QUANTITY_KG_MAX, checked equal there


def validate_buffer_share(share_permille: int) -> None:
    if not 0 <= share_permille <= BUFFER_SHARE_PERMILLE_MAX:
        raise Rejection(CheckCode.INVALID_BUFFER_SHARE, f"{share_permille} per mille")


def withheld(credit_class: CreditClass, issued: ev.CreditsIssued) -> list[ev.Event]:
    """The buffer's share of a new batch, moved from its recipient in the same envelope."""
    share_kg = issued.quantity_kg * credit_class.buffer_share_permille // PERMILLE
    if share_kg == 0:
        return []
    block = SerialBlock(issued.batch_id, issued.serial_end - share_kg + 1, issued.serial_end)
    return [
        ev.CreditsBuffered(
            issued.batch_id,
            issued.recipient_id,
            credit_class.buffer_id,
            (block,),
            share_kg,
            credit_class.buffer_share_permille,
        )
    ]


def report_reversal(ledger: Ledger, actor: Party, body: cmd.ReportReversal) -> list[ev.Event]:
    project = ledger.projects.get(body.project_id)
    if project is None:
        raise Rejection(CheckCode.UNKNOWN_PROJECT, repr(body.project_id))
    credit_class = ledger.classes[project.class_id]
    if actor.role is not Role.OPERATOR and actor.party_id not in credit_class.authorised_issuers:
        raise Rejection(
            CheckCode.ISSUER_NOT_AUTHORISED,
            f"a reversal of {project.project_id} is reported by an issuer of "
            f"{credit_class.class_id} or the operator",
        )
    if not 0 < body.quantity_kg <= REVERSAL_KG_MAX:
        raise Rejection(CheckCode.INVALID_QUANTITY, f"{body.quantity_kg} kg")
    validate_name("reason", body.reason)
    blocks = _project_buffer_blocks(ledger, credit_class, project.project_id, body.quantity_kg)
    cancelled_kg = sum(block.quantity_kg for block in blocks)
    return [
        ev.ReversalReported(
            project.project_id,
            credit_class.class_id,
            body.quantity_kg,
            body.reason,
            actor.party_id,
            credit_class.buffer_id,
            blocks,
            cancelled_kg,
            body.quantity_kg - cancelled_kg,
        )
    ]


def _project_buffer_blocks(
    ledger: Ledger, credit_class: CreditClass, project_id: str, quantity_kg: int
) -> tuple[SerialBlock, ...]:
    """Up to `quantity_kg` of the project's credits in the buffer: oldest batch id first,
    lowest serials first (deterministic, so the audit re-decides the same blocks). A
    project's batch ids share the prefix CLASS-PROJECT-, so they sit together in the
    buffer's sorted batch list."""
    buffer_id = credit_class.buffer_id
    batch_ids = ledger.party_batches.get(buffer_id, ())
    prefix = f"{credit_class.class_id}-{project_id}-"
    blocks: list[SerialBlock] = []
    needed_kg = quantity_kg
    for batch_id in batch_ids[bisect_left(batch_ids, prefix) :]:
        if not batch_id.startswith(prefix) or needed_kg == 0:
            break
        require(ledger.batches[batch_id].project_id == project_id, f"{batch_id} in {prefix}")
        portion_kg = min(needed_kg, ledger.tradable_kg(buffer_id, batch_id))
        taken, _ = take_lowest(ledger.held(buffer_id, batch_id), portion_kg)
        blocks.extend(SerialBlock(batch_id, start, end) for start, end in taken)
        needed_kg -= portion_kg
    return tuple(blocks)
