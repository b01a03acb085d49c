"""Stable check codes. Every rejection names one; clients, logs and auditors rely on them.

Numbers follow the spirit of the UN registry transaction log's numbered checks: the
thousands digit says the family (1 input, 2 identity, 3 authority, 4 ledger, 5 sequencing).
A code, once published, never changes meaning; new rules get new numbers."""

from __future__ import annotations

from enum import Enum


class CheckCode(Enum):
    # 1xxx: the command itself is malformed or out of time.
    MALFORMED_COMMAND = (1001, "the command could not be decoded or is structurally invalid")
    INVALID_QUANTITY = (1002, "quantity_kg must be a positive whole number of kilograms")
    INVALID_IDENTIFIER = (1003, "an identifier does not have the required form")
    INVALID_MUNICIPALITY_CODE = (1004, "not a valid 6-digit local government code")
    TEXT_TOO_LONG = (1005, "a text field is longer than allowed")
    INVALID_VINTAGE = (1006, "vintage_start must not be after vintage_end")
    COMMAND_EXPIRED = (1007, "the command's expiry time has passed")
    COMMAND_FROM_FUTURE = (1008, "the command was created too far in the future (clock skew)")
    INVALID_PUBLIC_KEY = (1009, "public keys are 32-byte Ed25519 keys")
    INVALID_ROLE = (1010, "unknown role")
    INVALID_PURPOSE = (1011, "unknown retirement purpose code")
    INVALID_REPORTING_YEAR = (1012, "reporting year is out of range")
    COMMAND_STALE = (
        1013,
        "the command was created too long before the registry's time (a clock ahead, or a late retry)",
    )
    INVALID_FACTOR = (
        1017,
        "a factor names a known item in its unit, a source, and whole mg CO2e per unit",
    )
    INVALID_CALCULATION_INPUTS = (
        1018,
        "calculator inputs are whole, non-negative quantities of known items, within limits",
    )
    INVALID_LABEL = (
        1020,
        "a label is 2-40 upper-case letters, digits and single hyphens, e.g. ICVCM-CCP",
    )
    INVALID_LOCATION = (
        1021,
        "a location is a 6-digit municipality code with its check digit, or an ISO 3166-2 "
        "code such as JP-13",
    )
    INVALID_ORIGIN = (
        1022,
        "an origin names its registry, its project there and a serial range there as long "
        "as the quantity issued, in kilograms",
    )
    INVALID_VALIDITY = (1023, "a validity period must not end before it starts")
    INVALID_BUFFER_SHARE = (1024, "a buffer share is 0 to 999 per mille of each issuance")
    # 2xxx: who is speaking.
    UNKNOWN_PARTY = (2001, "no such party")
    UNKNOWN_KEY = (2002, "no such key for this party")
    KEY_REVOKED = (2003, "the key has been revoked")
    KEY_ROTATED = (2004, "the key was rotated out and is no longer active")
    BAD_SIGNATURE = (2005, "the signature does not verify over the command bytes")
    ACTOR_MISMATCH = (2006, "the signed actor or key differs from the one inside the command")
    KEY_ALREADY_REGISTERED = (2007, "this public key is already registered")
    PARTY_HAS_ACTIVE_KEY = (2008, "the party already has an active key; rotate it instead")
    BAD_COSIGNATURE = (
        2009,
        "a co-signature does not verify over the command bytes under an active signing key "
        "of its co-signer",
    )
    RECOVERY_KEY_MISUSED = (
        2010,
        "a recovery key signs only SetRecoveryKey, RecoverKey and VetoRecovery",
    )
    RECOVERY_KEY_REQUIRED = (2011, "this must be signed with the party's active recovery key")
    PARTY_FROZEN = (
        2012,
        "a recovery of the party's keys is pending: its credits are frozen until the recovery "
        "completes or is vetoed",
    )
    RECOVERY_PENDING = (2013, "a recovery of this party is pending")
    UNKNOWN_RECOVERY = (2014, "no such recovery for this party")
    RECOVERY_NOT_DUE = (2015, "the recovery's public waiting period has not passed")
    RECOVERY_CLOSED = (2016, "the recovery was vetoed or has completed; it changes no more")
    RECOVERY_KEY_PROTECTED = (
        2017,
        "a recovery key is replaced only with itself: a signing key cannot rotate, revoke or "
        "replace it",
    )
    BAD_HANDOVER = (
        2018,
        "the registry-key handover is not the current registry key's signature over this "
        "position and the new key",
    )
    REGISTRY_KEY_NOT_CURRENT = (
        2019,
        "this replica does not hold the current registry key, so it cannot seal; restart it "
        "with the current key file",
    )
    # 3xxx: may this actor do this.
    ROLE_NOT_ALLOWED = (3001, "the actor's role may not perform this command")
    NOT_THE_OWNER = (3002, "only the holder may move or retire these credits")
    ISSUER_NOT_AUTHORISED = (3003, "the actor is not an authorised issuer of this credit class")
    NOT_A_MEMBER = (3004, "the party is not a member of this joint-purchase pool")
    OPERATOR_CANNOT_INSTALL_KEYS = (
        3005,
        "the operator cannot install a party's key: the party recovers with its recovery key, "
        "or through a recovery co-signed by an auditor and open to the party's veto",
    )
    COSIGNATURE_REQUIRED = (3006, "this command needs the co-signature of an auditor")
    COSIGNER_NOT_AUDITOR = (3007, "the co-signer is not an auditor")
    COSIGNER_NOT_INDEPENDENT = (
        3008,
        "a co-signer must be a party other than the actor and the party concerned, and sign once",
    )
    UNEXPECTED_COSIGNATURE = (3009, "this command takes no co-signatures")
    # 4xxx: the ledger's rules.
    INSUFFICIENT_HOLDINGS = (4001, "the holder does not have enough tradable credits")
    UNKNOWN_BATCH = (4002, "no such batch")
    UNKNOWN_CLASS = (4003, "no such credit class")
    UNKNOWN_PROJECT = (4004, "no such project")
    PARTY_EXISTS = (4005, "a party with this id already exists")
    CLASS_EXISTS = (4006, "a credit class with this id already exists")
    PROJECT_EXISTS = (4007, "a project with this id already exists")
    SAME_PARTY = (4008, "sender and recipient are the same party")
    NOT_GENESIS = (
        4009,
        "only the first command may be self-signed, and it must register the operator",
    )
    UNKNOWN_POOL = (4010, "no such joint-purchase pool")
    POOL_EXISTS = (4011, "a pool with this id already exists")
    UNKNOWN_MEETING = (4012, "no such meeting or event in this pool")
    MEETING_EXISTS = (4013, "a meeting with this id is already registered in this pool")
    POOL_STATE = (4014, "the pool or meeting is not in a state that allows this")
    ALREADY_RETIRED = (4015, "this meeting's allocation has already been retired")
    UNKNOWN_AGREEMENT = (4016, "no such exchange agreement")
    AGREEMENT_TERMS_DIFFER = (4017, "the terms differ from those the other party signed")
    AGREEMENT_NOT_IN_FORCE = (4018, "the agreement is not in force (both parties must sign)")
    UNKNOWN_DELIVERY = (4019, "no such delivery")
    DELIVERY_EXISTS = (4020, "a delivery with this id already exists")
    DELIVERY_RESOLVED = (
        4021,
        "the delivery has already been resolved; a delivery resolves exactly once",
    )
    DELIVERY_EXPIRED = (4022, "the delivery's deadline has passed; it can only expire")
    DELIVERY_NOT_DUE = (4023, "the delivery's deadline has not passed yet")
    ALREADY_SIGNED = (4024, "this party has already signed the agreement")
    POOL_UNDERFUNDED = (4025, "the pool does not hold enough free credits for this")
    OUTSIDE_FISCAL_YEAR = (4026, "the meeting's date lies outside its pool's fiscal year")
    CALCULATION_DIFFERS = (
        4027,
        "the figure sent differs from the one the rules calculate from its inputs",
    )
    FACTOR_TABLE_EXISTS = (4028, "a factor table with this version is already registered")
    UNKNOWN_FACTOR_TABLE = (4029, "no factor table with this version is registered")
    MISSING_FACTOR = (4030, "the factor table has no factor for an item the inputs use")
    OUTSIDE_AGREEMENT_TERM = (
        4031,
        "the delivery's fiscal year lies outside the agreement's term",
    )
    NOT_A_FUNDER = (4032, "a pool's remainder is returned only to a party that funded it")
    INVALID_CARRY = (
        4033,
        "a remainder is carried only into another, later, unallocated pool of the same operator",
    )
    ORIGIN_ALREADY_ISSUED = (
        4050,
        "some of these origin serials were already issued here, by any issuer: a kilogram "
        "is issued once",
    )
    NOT_THE_LABEL_AUTHORITY = (
        4051,
        "only the label authority the credit class names adds or withdraws its labels",
    )
    LABEL_OVERLAP = (4052, "some of these serials already carry this label")
    LABEL_NOT_PRESENT = (4053, "not every serial of the range carries this label")
    LABEL_REQUIRED = (
        4054,
        "the retirement requires a label that not every retired kilogram carries validly today",
    )
    SERIALS_OUTSIDE_BATCH = (4055, "the serial range is not within the batch")
    TOO_MANY_LABELS = (4056, "the batch carries as many label ranges as it may")
    # 5xxx: sequencing and idempotency.
    DUPLICATE_COMMAND_ID = (5001, "this command id was already used; the first result stands")
    CONFLICT = (5002, "another writer kept winning the race for the next position; retry")
    BATCH_TOO_LARGE = (5003, "too many commands in one batch")
    CLOCK_BEHIND = (
        5004,
        "this replica's clock is behind the chain's recorded time; it decides nothing until it "
        "catches up (another replica may answer)",
    )
    INTERNAL_ERROR = (
        5005,
        "the registry failed on this command unexpectedly; nothing was recorded",
    )

    @property
    def number(self) -> int:
        return self.value[0]

    @property
    def summary(self) -> str:
        return self.value[1]


# Refusals another replica, or the same one a moment later, may rightly answer otherwise:
# those that depend on the deciding replica's clock, and those about the attempt rather than
# the command. They are never kept as a command's first result (see registry/write/refusals.py):
# a replica whose clock is wrong must not make its refusals everyone's.
CLOCK_DEPENDENT = frozenset(
    {
        CheckCode.COMMAND_EXPIRED,
        CheckCode.COMMAND_FROM_FUTURE,
        CheckCode.COMMAND_STALE,
        CheckCode.DELIVERY_NOT_DUE,
        CheckCode.DELIVERY_EXPIRED,
    }
)
TRANSIENT = frozenset(
    {
        CheckCode.CONFLICT,
        CheckCode.CLOCK_BEHIND,
        CheckCode.INTERNAL_ERROR,
        CheckCode.BATCH_TOO_LARGE,
        CheckCode.DUPLICATE_COMMAND_ID,  # the chain itself keeps the answer
    }
)


class Rejection(Exception):
    """A rule said no. Carries a stable code and a message that names the values involved.
    `depends_on_clock` marks a refusal whose code does not say so itself (a deadline that
    must lie in the future is MALFORMED_COMMAND, but only by this replica's clock)."""

    def __init__(self, code: CheckCode, detail: str = "", depends_on_clock: bool = False) -> None:
        self.code = code
        self.detail = detail
        self.depends_on_clock = depends_on_clock or code in CLOCK_DEPENDENT
        super().__init__(self.message)

    @property
    def lasting(self) -> bool:
        """True when the same command decided again later, anywhere, must get this answer."""
        return not self.depends_on_clock and self.code not in TRANSIENT

    @property
    def message(self) -> str:
        return f"{self.code.summary}: {self.detail}" if self.detail else self.code.summary

    def __repr__(self) -> str:
        return f"Rejection({self.code.name}, {self.detail!r})"


class InvariantViolation(Exception):
    """A check that protects credits or the chain failed: a bug or corrupted state, never a
    user's error (those are Rejections). Raised by explicit checks that `python -O` keeps."""


def require(condition: bool, what: str) -> None:
    """Raise InvariantViolation(what) unless `condition`: for guards on credits and the chain."""
    if not condition:
        raise InvariantViolation(what)
