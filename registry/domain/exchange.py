"""Rules of the closed loop between partner municipalities (model II): an agreement both
parties sign, and two-phase deliveries of absorption value under it. A proposal reserves
the provider's credits (pending: nobody can spend them); the user accepts (they move) or
rejects (released); at its deadline an unanswered delivery can only expire (released).
Whichever of these comes first in the log wins; a delivery resolves exactly once. A
delivery is for one fiscal year of the agreement's term (fiscal.term_fiscal_years)."""

from __future__ import annotations

import re
from collections.abc import Callable

from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection, require
from registry.domain.fiscal import term_fiscal_years
from registry.domain.ledger import Ledger
from registry.domain.parties import TEXT_LENGTH_MAX, Party, Role, validate_name, validate_text
from registry.domain.serials import SerialBlock

AGREEMENT_ROLES = frozenset({Role.MUNICIPALITY, Role.ISSUER, Role.OPERATOR, Role.BUSINESS})

_ID = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,63}$")
DEADLINE_US_MAX = 400 * 24 * 3600 * 1_000_000
OUTCOMES = ("accepted", "rejected", "expired")
Take = Callable[[Ledger, str, int, str | None], tuple[SerialBlock, ...]]


def _identifier(kind: str, value: str) -> None:
    if not _ID.match(value):
        raise Rejection(
            CheckCode.INVALID_IDENTIFIER,
            f"{kind} id {value!r}: 2-64 upper-case letters, digits or '-'",
        )


def sign_agreement(ledger: Ledger, actor: Party, body: cmd.SignAgreement) -> list[ev.Event]:
    _identifier("agreement", body.agreement_id)
    if actor.party_id not in (body.provider_id, body.user_id):
        raise Rejection(CheckCode.NOT_THE_OWNER, "only the provider or the user signs an agreement")
    if body.provider_id == body.user_id:
        raise Rejection(CheckCode.SAME_PARTY, repr(body.provider_id))
    for party_id in (body.provider_id, body.user_id):
        party = ledger.parties.get(party_id)
        if party is None:
            raise Rejection(CheckCode.UNKNOWN_PARTY, repr(party_id))
        # Deliveries move credits between the two: each must be a party that can hold them
        # (an auditor, which only reads, cannot be bound by an exchange agreement).
        if party.role not in AGREEMENT_ROLES:
            raise Rejection(
                CheckCode.ROLE_NOT_ALLOWED, f"{party.role.value} may not be party to an agreement"
            )
    if not 1 <= body.term_years <= 50 or not 0 <= body.expected_annual_kg <= 10**9:
        raise Rejection(
            CheckCode.MALFORMED_COMMAND, "term 1-50 years, expected absorption 0-10^9 kg a year"
        )
    validate_name("purpose", body.purpose)
    validate_text("purpose", body.purpose, TEXT_LENGTH_MAX)
    terms = (
        body.provider_id,
        body.user_id,
        body.start_date,
        body.term_years,
        body.expected_annual_kg,
        body.purpose,
    )
    earlier = ledger.agreements.get(body.agreement_id)
    if earlier is not None:
        signed = (
            earlier.provider_id,
            earlier.user_id,
            earlier.start_date,
            earlier.term_years,
            earlier.expected_annual_kg,
            earlier.purpose,
        )
        if signed != terms:
            raise Rejection(CheckCode.AGREEMENT_TERMS_DIFFER, body.agreement_id)
        if actor.party_id in earlier.signers:
            raise Rejection(CheckCode.ALREADY_SIGNED, f"{actor.party_id} on {body.agreement_id}")
    in_force = earlier is not None  # the second signature puts it in force
    return [ev.AgreementSigned(body.agreement_id, *terms, actor.party_id, in_force)]


def propose_delivery(
    ledger: Ledger, actor: Party, body: cmd.ProposeDelivery, now_us: int, take: Take
) -> list[ev.Event]:
    agreement = ledger.agreements.get(body.agreement_id)
    if agreement is None:
        raise Rejection(CheckCode.UNKNOWN_AGREEMENT, repr(body.agreement_id))
    if not agreement.in_force:
        raise Rejection(CheckCode.AGREEMENT_NOT_IN_FORCE, body.agreement_id)
    if actor.party_id != agreement.provider_id:
        raise Rejection(
            CheckCode.NOT_THE_OWNER, f"only the provider {agreement.provider_id} delivers"
        )
    _identifier("delivery", body.delivery_id)
    if body.delivery_id in ledger.deliveries:
        raise Rejection(CheckCode.DELIVERY_EXISTS, repr(body.delivery_id))
    if not now_us < body.deadline_us <= now_us + DEADLINE_US_MAX:
        raise Rejection(
            CheckCode.MALFORMED_COMMAND,
            "the deadline must lie in the future, within 400 days",
            depends_on_clock=True,
        )
    if not 0 < body.quantity_kg <= 10**12:
        raise Rejection(CheckCode.INVALID_QUANTITY, f"{body.quantity_kg} kg")
    if not 1990 <= body.fiscal_year <= 2200:
        raise Rejection(CheckCode.INVALID_REPORTING_YEAR, str(body.fiscal_year))
    term = term_fiscal_years(agreement.start_date, agreement.term_years)
    if body.fiscal_year not in term:
        raise Rejection(
            CheckCode.OUTSIDE_AGREEMENT_TERM,
            f"FY{body.fiscal_year}; {agreement.agreement_id} covers FY{term[0]} to FY{term[-1]}",
        )
    blocks = take(ledger, actor.party_id, body.quantity_kg, body.batch_id)
    return [
        ev.DeliveryProposed(
            agreement.agreement_id,
            body.delivery_id,
            agreement.provider_id,
            agreement.user_id,
            body.fiscal_year,
            blocks,
            body.quantity_kg,
            body.deadline_us,
        )
    ]


def resolve_delivery(
    ledger: Ledger, actor: Party, body: cmd.ResolveDelivery, now_us: int
) -> list[ev.Event]:
    delivery = ledger.deliveries.get(body.delivery_id)
    if delivery is None:
        raise Rejection(CheckCode.UNKNOWN_DELIVERY, repr(body.delivery_id))
    if body.outcome not in OUTCOMES:
        raise Rejection(CheckCode.MALFORMED_COMMAND, f"outcome {body.outcome!r}; one of {OUTCOMES}")
    if delivery.outcome is not None:
        raise Rejection(
            CheckCode.DELIVERY_RESOLVED, f"{delivery.delivery_id} was {delivery.outcome}"
        )
    validate_text("reason", body.reason)
    if body.outcome == "expired":
        if (
            actor.party_id not in (delivery.provider_id, delivery.user_id)
            and actor.role is not Role.OPERATOR
        ):
            raise Rejection(
                CheckCode.NOT_THE_OWNER, "a delivery is expired by its parties or the operator"
            )
        if now_us < delivery.deadline_us:
            raise Rejection(CheckCode.DELIVERY_NOT_DUE, f"deadline {delivery.deadline_us} us")
    else:
        if actor.party_id != delivery.user_id:
            raise Rejection(
                CheckCode.NOT_THE_OWNER, f"only the user {delivery.user_id} accepts or rejects"
            )
        if now_us >= delivery.deadline_us:
            raise Rejection(CheckCode.DELIVERY_EXPIRED, f"deadline {delivery.deadline_us} us")
    return [
        ev.DeliveryResolved(
            delivery.agreement_id,
            delivery.delivery_id,
            body.outcome,
            delivery.provider_id,
            delivery.user_id,
            delivery.blocks,
            delivery.quantity_kg,
            body.reason,
        )
    ]


def contributions(issued: ev.CreditsIssued, body: cmd.IssueAggregated) -> ev.ContributionsRecorded:
    """Each contributor gets the next serial range of the batch, in the order reported."""
    ranges = []
    start = issued.serial_start
    for report in body.contributions:
        ranges.append(ev.Contribution(report.contributor, start, start + report.quantity_kg - 1))
        start += report.quantity_kg
    require(start - 1 == issued.serial_end, "contributions must cover the batch's serials exactly")
    return ev.ContributionsRecorded(issued.batch_id, tuple(ranges))


def validate_contributions(body: cmd.IssueAggregated) -> int:
    if not 0 < len(body.contributions) <= 100_000:
        raise Rejection(CheckCode.MALFORMED_COMMAND, "1 to 100,000 contributions")
    for report in body.contributions:
        validate_name("contributor", report.contributor)
        if len(report.contributor) > 64:
            raise Rejection(
                CheckCode.TEXT_TOO_LONG, "contributor references are at most 64 characters"
            )
        if report.quantity_kg <= 0:
            raise Rejection(
                CheckCode.INVALID_QUANTITY, f"{report.contributor}: {report.quantity_kg} kg"
            )
    return sum(report.quantity_kg for report in body.contributions)
