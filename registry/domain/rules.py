"""The rules: given the ledger and a decoded command, decide its effects or reject it.

`decide` never mutates the ledger; the application applies the effects only after the
envelope is sealed. Signature verification happens before this, in the application,
against the key that `verifying_key` names (co-signatures too: `decide` is told which
parties co-signed); everything else is checked here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from registry.domain import buffers, exchange, factors, labels, pool_holdings, pools, recovery
from registry.domain import commands as cmd
from registry.domain import events as ev
from registry.domain.checks import CheckCode, InvariantViolation, Rejection, require
from registry.domain.ledger import Ledger, key_id_for
from registry.domain.origin import require_new_origin
from registry.domain.parties import (
    PUBLIC_KEY_LENGTH,
    KeyPurpose,
    KeyRecord,
    KeyStatus,
    Party,
    Role,
    parse_role,
    validate_code_id,
    validate_name,
    validate_party_id,
    validate_text,
)
from registry.domain.places import validate_location
from registry.domain.serials import SerialBlock, lowest
from registry.domain.sorted_ids import EMPTY_IDS

QUANTITY_KG_MAX = 10**12  # one gigatonne: far above any real batch, far below int64
CLOCK_SKEW_US_MAX = 5 * 60 * 1_000_000
COMMAND_LIFETIME_US_MAX = 7 * 24 * 3600 * 1_000_000
# A command is recorded no later than this after its signed creation time, whatever its
# lifetime. It bounds the chain's time by the clients' clocks: a replica whose clock runs
# ahead by more than this finds every honest command stale and records nothing, instead of
# recording times that would make every other replica refuse fresh commands as expired.
RECORDING_DELAY_US_MAX = 15 * 60 * 1_000_000
COMMAND_ID_LENGTH_MAX = 128  # a UUID has 36 characters; readable ids fit easily
BENEFICIARY_ID_LENGTH_MAX = 64
# Expired command ids are forgotten this long after expiry: far more than any clock skew
# between replicas, so no replica still treats them as live when they are dropped.
FORGET_MARGIN_US = 3_600 * 1_000_000
# Limits that depend on each other, checked once where they are defined.
assert FORGET_MARGIN_US > 2 * CLOCK_SKEW_US_MAX, "ids must outlive any skew between replicas"
assert CLOCK_SKEW_US_MAX < COMMAND_LIFETIME_US_MAX
assert CLOCK_SKEW_US_MAX < RECORDING_DELAY_US_MAX < FORGET_MARGIN_US
assert buffers.REVERSAL_KG_MAX == QUANTITY_KG_MAX
PURPOSES = frozenset(
    {"facility", "meeting_event", "residual_emissions", "product", "voluntary", "other"}
)
HOLDER_ROLES = frozenset({Role.MUNICIPALITY, Role.ISSUER, Role.OPERATOR, Role.BUSINESS})
ISSUER_ROLES = frozenset({Role.ISSUER, Role.MUNICIPALITY})


def verifying_key(ledger: Ledger, command: cmd.Command) -> bytes:
    """The public key the command's signature must verify under, at this point of history."""
    if not ledger.parties:
        # Genesis: the operator registers itself and signs with the key it registers.
        body = command.body
        if not (
            isinstance(body, cmd.RegisterParty)
            and body.role == Role.OPERATOR.value
            and body.party_id == command.actor_id
            and key_id_for(body.public_key) == command.key_id
        ):
            raise Rejection(CheckCode.NOT_GENESIS, "the registry is empty")
        return body.public_key
    record = authenticate(ledger, command.actor_id, command.key_id)
    recovery.require_key_purpose(record, command.body)
    return record.public_key


def authenticate(ledger: Ledger, actor_id: str, key_id: str) -> KeyRecord:
    if actor_id not in ledger.parties:
        raise Rejection(CheckCode.UNKNOWN_PARTY, repr(actor_id))
    record = ledger.keys.get(key_id)
    if record is None or record.party_id != actor_id:
        raise Rejection(CheckCode.UNKNOWN_KEY, f"{key_id!r} for {actor_id!r}")
    if record.status is KeyStatus.REVOKED:
        raise Rejection(CheckCode.KEY_REVOKED, f"{key_id!r} since position {record.since_position}")
    if record.status is KeyStatus.ROTATED:
        raise Rejection(CheckCode.KEY_ROTATED, f"{key_id!r} since position {record.since_position}")
    return record


def cosigner_key(ledger: Ledger, party_id: str, key_id: str) -> bytes:
    """The public key a co-signature must verify under: an active signing key of its party."""
    record = ledger.keys.get(key_id)
    if record is None or record.party_id != party_id:
        raise Rejection(CheckCode.BAD_COSIGNATURE, f"no key {key_id!r} of {party_id!r}")
    if record.status is not KeyStatus.ACTIVE or record.purpose is not KeyPurpose.SIGNING:
        raise Rejection(CheckCode.BAD_COSIGNATURE, f"{key_id!r} is not an active signing key")
    return record.public_key


def decide(
    ledger: Ledger, command: cmd.Command, now_us: int, cosigners: tuple[str, ...] = ()
) -> list[ev.Event]:
    """`cosigners`: the parties whose co-signatures over the command bytes verified."""
    if now_us > command.expires_at_us:
        raise Rejection(CheckCode.COMMAND_EXPIRED, f"expired at {command.expires_at_us} us")
    if command.created_at_us > now_us + CLOCK_SKEW_US_MAX:
        raise Rejection(CheckCode.COMMAND_FROM_FUTURE, f"created at {command.created_at_us} us")
    if now_us - command.created_at_us > RECORDING_DELAY_US_MAX:
        raise Rejection(
            CheckCode.COMMAND_STALE,
            f"created {(now_us - command.created_at_us) // 1_000_000} s before the registry's "
            f"time; a command is recorded within {RECORDING_DELAY_US_MAX // 1_000_000} s",
        )
    if command.expires_at_us - command.created_at_us > COMMAND_LIFETIME_US_MAX:
        raise Rejection(CheckCode.MALFORMED_COMMAND, "a command may live at most 7 days")
    # The id is recorded with the command and echoed in results and logs: found by fuzzing,
    # ids of megabytes or with control characters were accepted before this check.
    _require_command_id(command.command_id)
    actor = ledger.parties.get(command.actor_id)
    if actor is None:
        require(not ledger.parties, "authentication precedes decision")
        actor = Party(command.actor_id, Role.OPERATOR, "genesis", None)
    body = command.body
    recovery.require_cosigners(ledger, actor, body, cosigners)
    if type(body) in recovery.HANDLERS:
        return recovery.decide(ledger, actor, command, now_us, cosigners)
    if isinstance(body, cmd.ProposeDelivery):
        return exchange.propose_delivery(ledger, actor, body, now_us, _take)
    if isinstance(body, cmd.ResolveDelivery):
        return exchange.resolve_delivery(ledger, actor, body, now_us)
    dated = _DATED_HANDLERS.get(type(body))
    if dated is not None:  # retirements: labels are valid on the day of the decision
        return dated(ledger, actor, body, now_us)
    handler: Callable[[Ledger, Party, Any], list[ev.Event]] = _HANDLERS[type(body)]
    return handler(ledger, actor, body)


# -- helpers ----------------------------------------------------------------------------
def _require_role(actor: Party, allowed: frozenset[Role] | set[Role], action: str) -> None:
    if actor.role not in allowed:
        raise Rejection(CheckCode.ROLE_NOT_ALLOWED, f"{actor.role.value} may not {action}")


def _require_party(ledger: Ledger, party_id: str) -> Party:
    party = ledger.parties.get(party_id)
    if party is None:
        raise Rejection(CheckCode.UNKNOWN_PARTY, repr(party_id))
    return party


def _require_command_id(command_id: str) -> None:
    if not 0 < len(command_id) <= COMMAND_ID_LENGTH_MAX or not command_id.isprintable():
        raise Rejection(
            CheckCode.INVALID_IDENTIFIER,
            f"command id of {len(command_id)} characters: 1 to {COMMAND_ID_LENGTH_MAX} "
            "printable characters",
        )


def _require_quantity(quantity_kg: int) -> None:
    if not 0 < quantity_kg <= QUANTITY_KG_MAX:
        raise Rejection(CheckCode.INVALID_QUANTITY, f"{quantity_kg} kg")


def _require_new_key(ledger: Ledger, public_key: bytes) -> str:
    if len(public_key) != PUBLIC_KEY_LENGTH:
        raise Rejection(CheckCode.INVALID_PUBLIC_KEY, f"{len(public_key)} bytes")
    key_id = key_id_for(public_key)
    if key_id in ledger.keys or key_id in ledger.registry_keys:
        raise Rejection(CheckCode.KEY_ALREADY_REGISTERED, key_id)
    return key_id


def _take(
    ledger: Ledger, holder_id: str, quantity_kg: int, batch_id: str | None
) -> tuple[SerialBlock, ...]:
    """Pick the serials to move: oldest batch id first, lowest serials first. Deterministic,
    so an auditor re-deciding the command picks the very same blocks. Every debit of a
    holder comes through here, so a pending recovery freezes them all at once."""
    recovery.require_not_frozen(ledger, holder_id)
    if batch_id is not None and batch_id not in ledger.batches:
        raise Rejection(CheckCode.UNKNOWN_BATCH, repr(batch_id))
    available_kg = ledger.tradable_kg(holder_id, batch_id)
    if available_kg < quantity_kg:
        where = f" of {batch_id}" if batch_id else ""
        raise Rejection(
            CheckCode.INSUFFICIENT_HOLDINGS,
            f"{holder_id} holds {available_kg} kg{where}, needs {quantity_kg} kg",
        )
    blocks: list[SerialBlock] = []
    needed_kg = quantity_kg
    # Every batch a holder is listed with holds credits, so the walk stops at the batches
    # it takes from: a transfer costs the same however many batches the holder has.
    holder_batches: Iterable[str] = (
        (batch_id,) if batch_id else ledger.party_batches.get(holder_id, EMPTY_IDS)
    )
    for each_batch in holder_batches:
        portion_kg = min(needed_kg, ledger.tradable_kg(holder_id, each_batch))
        if portion_kg == 0:
            continue
        taken = lowest(ledger.held(holder_id, each_batch), portion_kg)
        blocks.extend(SerialBlock(each_batch, start, end) for start, end in taken)
        needed_kg -= portion_kg
        if needed_kg == 0:
            break
    # The serials taken must add up to the quantity moved, or credits would appear or vanish.
    require(
        needed_kg == 0, f"{needed_kg} kg of {quantity_kg} kg not found in {holder_id}'s serials"
    )
    return tuple(blocks)


def _require_holder(ledger: Ledger, actor: Party, holder_id: str) -> None:
    _require_party(ledger, holder_id)
    if holder_id != actor.party_id:
        raise Rejection(
            CheckCode.NOT_THE_OWNER, f"{actor.party_id} may not move {holder_id}'s credits"
        )
    _require_role(actor, HOLDER_ROLES, "hold credits")


def _retirement(
    ledger: Ledger,
    details: cmd.RetirementDetails,
    holder_id: str,
    blocks: tuple[SerialBlock, ...],
    now_us: int,
) -> ev.CreditsRetired:
    if details.purpose not in PURPOSES:
        raise Rejection(
            CheckCode.INVALID_PURPOSE, f"{details.purpose!r}; one of {sorted(PURPOSES)}"
        )
    if not 1990 <= details.reporting_year <= 2200:
        raise Rejection(CheckCode.INVALID_REPORTING_YEAR, str(details.reporting_year))
    validate_name("beneficiary name", details.beneficiary.name)
    if details.beneficiary.party_id is not None:
        # Recorded and printed on certificates: the same checks as every other text.
        validate_name(
            "beneficiary party id", details.beneficiary.party_id, BENEFICIARY_ID_LENGTH_MAX
        )
    validate_text("memo", details.memo)
    quantity_kg = sum(block.quantity_kg for block in blocks)
    if details.reference is not None:
        validate_text("reference", details.reference, 120)
    if details.location is not None:
        validate_location(details.location)
    carried = labels.carried_labels(ledger, blocks, labels.decision_day(now_us))
    if details.required_label is not None:
        labels.require_label(details.required_label, blocks, carried)
    return ev.CreditsRetired(
        holder_id,
        blocks,
        quantity_kg,
        details.beneficiary,
        details.purpose,
        details.reporting_year,
        details.memo,
        details.reference,
        details.location,
        details.required_label,
        carried,
    )


# -- one handler per command --------------------------------------------------------------
def _register_party(ledger: Ledger, actor: Party, body: cmd.RegisterParty) -> list[ev.Event]:
    _require_role(actor, {Role.OPERATOR}, "register parties")
    role = parse_role(body.role)
    validate_party_id(body.party_id, role)
    validate_name("name", body.name)
    if body.name_ja is not None:
        validate_name("name_ja", body.name_ja)
    if body.party_id in ledger.parties:
        raise Rejection(CheckCode.PARTY_EXISTS, repr(body.party_id))
    key_id = _require_new_key(ledger, body.public_key)
    if body.recovery_public_key == body.public_key:
        raise Rejection(CheckCode.KEY_ALREADY_REGISTERED, f"{key_id} as both signing and recovery")
    code = body.party_id if role is Role.MUNICIPALITY else None
    return [
        ev.PartyRegistered(
            body.party_id, role.value, body.name, body.name_ja, code, actor.party_id
        ),
        ev.KeyRegistered(body.party_id, key_id, body.public_key),
        *recovery.recovery_key_events(ledger, body.party_id, body.recovery_public_key),
    ]


def _rotate_key(ledger: Ledger, actor: Party, body: cmd.RotateKey) -> list[ev.Event]:
    # Only the key holder rotates: the operator must never be able to take over a party.
    if body.party_id != actor.party_id:
        raise Rejection(CheckCode.NOT_THE_OWNER, "only a party may rotate its own keys")
    retired = authenticate(ledger, actor.party_id, body.retired_key_id)
    if retired.purpose is KeyPurpose.RECOVERY:
        raise Rejection(CheckCode.RECOVERY_KEY_PROTECTED, body.retired_key_id)
    key_id = _require_new_key(ledger, body.public_key)
    return [ev.KeyRotated(body.party_id, body.retired_key_id, key_id, body.public_key)]


def _revoke_key(ledger: Ledger, actor: Party, body: cmd.RevokeKey) -> list[ev.Event]:
    if body.party_id != actor.party_id and actor.role is not Role.OPERATOR:
        raise Rejection(CheckCode.NOT_THE_OWNER, "a key is revoked by its party or the operator")
    _require_party(ledger, body.party_id)
    record = ledger.keys.get(body.key_id)
    if record is None or record.party_id != body.party_id:
        raise Rejection(CheckCode.UNKNOWN_KEY, f"{body.key_id!r} for {body.party_id!r}")
    if record.status is KeyStatus.REVOKED:
        raise Rejection(CheckCode.KEY_REVOKED, body.key_id)
    if body.party_id == actor.party_id and record.purpose is KeyPurpose.RECOVERY:
        # The operator may freeze a stolen recovery key; a party's signing key may not.
        raise Rejection(CheckCode.RECOVERY_KEY_PROTECTED, body.key_id)
    pending = ledger.pending_recovery(body.party_id)
    if pending is not None and actor.party_id != body.party_id:
        # The party's keys are its veto: nobody else takes them away while it may use them.
        raise Rejection(
            CheckCode.RECOVERY_PENDING, f"{pending.recovery_id!r}: the party's keys may veto it"
        )
    validate_name("reason", body.reason)
    return [ev.KeyRevoked(body.party_id, body.key_id, body.reason, actor.party_id)]


def _register_key(ledger: Ledger, actor: Party, body: cmd.RegisterKey) -> list[ev.Event]:
    """Kept so that the command decodes; no one may install a key for another party. Before
    command schema v4 the operator could give a key to a party without one, which let it
    revoke a party's key and then sign as the party."""
    _require_role(actor, {Role.OPERATOR}, "register keys for other parties")
    raise Rejection(
        CheckCode.OPERATOR_CANNOT_INSTALL_KEYS,
        f"{body.party_id}: RecoverKey with its recovery key, or StartRecovery with an auditor",
    )


def _register_class(ledger: Ledger, actor: Party, body: cmd.RegisterCreditClass) -> list[ev.Event]:
    _require_role(actor, {Role.OPERATOR}, "register credit classes")
    validate_code_id("class", body.class_id)
    validate_name("name", body.name)
    if body.class_id in ledger.classes:
        raise Rejection(CheckCode.CLASS_EXISTS, repr(body.class_id))
    for issuer_id in body.authorised_issuers:
        issuer = _require_party(ledger, issuer_id)
        if issuer.role not in ISSUER_ROLES:
            raise Rejection(
                CheckCode.ROLE_NOT_ALLOWED, f"{issuer_id} ({issuer.role.value}) cannot issue"
            )
    if body.label_authority_id is not None:
        _require_party(ledger, body.label_authority_id)
    buffers.validate_buffer_share(body.buffer_share_permille)
    issuers = tuple(sorted(set(body.authorised_issuers)))
    return [
        ev.CreditClassRegistered(
            body.class_id,
            body.name,
            issuers,
            body.label_authority_id,
            body.buffer_share_permille,
        )
    ]


def _register_project(ledger: Ledger, actor: Party, body: cmd.RegisterProject) -> list[ev.Event]:
    credit_class = ledger.classes.get(body.class_id)
    if credit_class is None:
        raise Rejection(CheckCode.UNKNOWN_CLASS, repr(body.class_id))
    if actor.role is not Role.OPERATOR and actor.party_id not in credit_class.authorised_issuers:
        raise Rejection(CheckCode.ISSUER_NOT_AUTHORISED, f"{actor.party_id} for {body.class_id}")
    validate_code_id("project", body.project_id)
    for field in ("name", "location", "methodology"):
        validate_name(field, getattr(body, field))
    _require_party(ledger, body.proponent_id)
    if body.project_id in ledger.projects:
        raise Rejection(CheckCode.PROJECT_EXISTS, repr(body.project_id))
    return [
        ev.ProjectRegistered(
            body.project_id,
            body.class_id,
            body.name,
            body.location,
            body.methodology,
            body.proponent_id,
        )
    ]


def _issue(ledger: Ledger, actor: Party, body: cmd.IssueCredits) -> list[ev.Event]:
    project = ledger.projects.get(body.project_id)
    if project is None:
        raise Rejection(CheckCode.UNKNOWN_PROJECT, repr(body.project_id))
    credit_class = ledger.classes[project.class_id]
    if actor.party_id not in credit_class.authorised_issuers:
        raise Rejection(
            CheckCode.ISSUER_NOT_AUTHORISED, f"{actor.party_id} for {credit_class.class_id}"
        )
    _require_quantity(body.quantity_kg)
    if body.vintage_start > body.vintage_end:
        raise Rejection(CheckCode.INVALID_VINTAGE, f"{body.vintage_start} > {body.vintage_end}")
    recipient = _require_party(ledger, body.recipient_id)
    if recipient.role not in HOLDER_ROLES:
        raise Rejection(CheckCode.ROLE_NOT_ALLOWED, f"{recipient.role.value} may not hold credits")
    if body.origin is not None:
        require_new_origin(ledger, body.origin, body.quantity_kg)
    sequence = ledger.batch_counts.get((project.class_id, project.project_id), 0) + 1
    batch_id = "-".join(
        (
            project.class_id,
            project.project_id,
            body.vintage_start.strftime("%Y%m%d"),
            body.vintage_end.strftime("%Y%m%d"),
            f"{sequence:03d}",
        )
    )
    issued = ev.CreditsIssued(
        batch_id,
        project.class_id,
        project.project_id,
        actor.party_id,
        body.vintage_start,
        body.vintage_end,
        1,
        body.quantity_kg,
        body.quantity_kg,
        body.recipient_id,
        body.origin,
    )
    return [issued, *buffers.withheld(credit_class, issued)]


def _issue_aggregated(ledger: Ledger, actor: Party, body: cmd.IssueAggregated) -> list[ev.Event]:
    """One batch from many small reports (e.g. households' HEMS reductions); each report
    keeps its own serial range, so every kilogram stays traceable to its contributor."""
    quantity_kg = exchange.validate_contributions(body)
    issued, *withheld = _issue(
        ledger,
        actor,
        cmd.IssueCredits(
            body.project_id,
            body.vintage_start,
            body.vintage_end,
            quantity_kg,
            body.recipient_id,
            body.origin,
        ),
    )
    if not isinstance(issued, ev.CreditsIssued):
        raise InvariantViolation(f"issuing gave {type(issued).__name__}")
    return [issued, *withheld, exchange.contributions(issued, body)]


def _transfer(
    ledger: Ledger, actor: Party, body: cmd.TransferCredits, now_us: int
) -> list[ev.Event]:
    _require_holder(ledger, actor, body.from_party_id)
    recipient = _require_party(ledger, body.to_party_id)
    if recipient.role not in HOLDER_ROLES:
        raise Rejection(CheckCode.ROLE_NOT_ALLOWED, f"{recipient.role.value} may not hold credits")
    if body.to_party_id == body.from_party_id:
        raise Rejection(CheckCode.SAME_PARTY, repr(body.to_party_id))
    _require_quantity(body.quantity_kg)
    validate_text("memo", body.memo)
    blocks = _take(ledger, body.from_party_id, body.quantity_kg, body.batch_id)
    effects: list[ev.Event] = [
        ev.CreditsTransferred(
            body.from_party_id, body.to_party_id, blocks, body.quantity_kg, body.memo
        )
    ]
    if body.retire_on_arrival is not None:
        effects.append(
            _retirement(ledger, body.retire_on_arrival, body.to_party_id, blocks, now_us)
        )
    return effects


def _retire(ledger: Ledger, actor: Party, body: cmd.RetireCredits, now_us: int) -> list[ev.Event]:
    _require_holder(ledger, actor, body.holder_id)
    _require_quantity(body.quantity_kg)
    blocks = _take(ledger, body.holder_id, body.quantity_kg, body.batch_id)
    return [_retirement(ledger, body.details, body.holder_id, blocks, now_us)]


def _cancel(ledger: Ledger, actor: Party, body: cmd.CancelCredits) -> list[ev.Event]:
    batch = ledger.batches.get(body.batch_id)
    if batch is None:
        raise Rejection(CheckCode.UNKNOWN_BATCH, repr(body.batch_id))
    if actor.role is not Role.OPERATOR and actor.party_id != batch.issuer_id:
        raise Rejection(
            CheckCode.ROLE_NOT_ALLOWED, "only the batch's issuer or the operator cancels"
        )
    _require_party(ledger, body.holder_id)
    _require_quantity(body.quantity_kg)
    validate_name("reason", body.reason)
    blocks = _take(ledger, body.holder_id, body.quantity_kg, body.batch_id)
    return [
        ev.CreditsCancelled(body.holder_id, blocks, body.quantity_kg, body.reason, actor.party_id)
    ]


def _retire_for_meeting(
    ledger: Ledger, actor: Party, body: cmd.RetireForMeeting, now_us: int
) -> list[ev.Event]:
    """The pool's retirement records the labels its serials carry, like every other."""
    day = labels.decision_day(now_us)
    return [
        replace(effect, labels=labels.carried_labels(ledger, effect.blocks, day))
        if isinstance(effect, ev.CreditsRetired)
        else effect
        for effect in pools.retire_for_meeting(ledger, actor, body, _take)
    ]


_HANDLERS: dict[type[Any], Callable[[Ledger, Party, Any], list[ev.Event]]] = {
    cmd.RegisterParty: _register_party,
    cmd.RotateKey: _rotate_key,
    cmd.RevokeKey: _revoke_key,
    cmd.RegisterKey: _register_key,
    cmd.RegisterCreditClass: _register_class,
    cmd.RegisterProject: _register_project,
    cmd.IssueCredits: _issue,
    cmd.CancelCredits: _cancel,
    cmd.OpenPool: pools.open_pool,
    cmd.RegisterMeeting: pools.register_meeting,
    cmd.RecordMeetingResult: pools.record_result,
    cmd.AllocatePool: pools.allocate,
    cmd.SignAgreement: exchange.sign_agreement,
    cmd.IssueAggregated: _issue_aggregated,
    cmd.RegisterFactorTable: factors.register_factor_table,
    cmd.FundPool: partial(pool_holdings.fund_pool, take=_take),
    cmd.ReturnPoolRemainder: partial(pool_holdings.return_remainder, take=_take),
    cmd.CarryPoolRemainder: partial(pool_holdings.carry_remainder, take=_take),
    cmd.AddLabel: labels.add_label,
    cmd.WithdrawLabel: labels.withdraw_label,
    cmd.ReportReversal: buffers.report_reversal,
}
_DATED_HANDLERS: dict[type[Any], Callable[[Ledger, Party, Any, int], list[ev.Event]]] = {
    cmd.TransferCredits: _transfer,
    cmd.RetireCredits: _retire,
    cmd.RetireForMeeting: _retire_for_meeting,
}
_NOW_AWARE = {cmd.ProposeDelivery, cmd.ResolveDelivery, *_DATED_HANDLERS}
assert set(_HANDLERS) | _NOW_AWARE | set(recovery.HANDLERS) == set(cmd.COMMAND_TYPES)
