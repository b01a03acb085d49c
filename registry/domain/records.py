"""What the ledger keeps about each thing it knows: immutable values, replaced whole on every
change, so the ledger's journal can restore any of them exactly."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from registry.domain.events import Origin
from registry.domain.serials import SerialBlock


@dataclass(frozen=True, slots=True)
class CreditClass:
    class_id: str
    name: str
    authorised_issuers: frozenset[str]
    label_authority_id: str | None = None  # who labels its serials; None: nobody
    buffer_share_permille: int = 0  # withheld from each issuance into buffer:<CLASS_ID>

    @property
    def buffer_id(self) -> str:
        return buffer_holder(self.class_id)


@dataclass(frozen=True, slots=True)
class Project:
    project_id: str
    class_id: str
    name: str
    location: str
    methodology: str
    proponent_id: str


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    class_id: str
    project_id: str
    issuer_id: str
    vintage_start: date
    vintage_end: date
    quantity_kg: int
    origin: Origin | None = None


# A pool's credits are held under a reserved holder id. Party ids are slugs or 6-digit
# codes, never with a colon, so no party can ever be, or move credits as, a pool.
POOL_HOLDER_PREFIX = "pool:"


def pool_holder(pool_id: str) -> str:
    return POOL_HOLDER_PREFIX + pool_id


# A class's buffer account, reserved in the same way: nobody signs for it, and its credits
# leave it only when a reversal cancels them.
BUFFER_HOLDER_PREFIX = "buffer:"


def buffer_holder(class_id: str) -> str:
    return BUFFER_HOLDER_PREFIX + class_id


@dataclass(frozen=True, slots=True)
class ProjectBuffer:
    """A project's credits in its class's buffer: withheld at issuance, cancelled by
    reversals, and what reversals asked beyond them. Held = withheld - reversed."""

    withheld_kg: int = 0
    reversed_kg: int = 0
    shortfall_kg: int = 0

    @property
    def held_kg(self) -> int:
        return self.withheld_kg - self.reversed_kg


@dataclass(frozen=True, slots=True)
class Pool:
    pool_id: str
    name: str
    fiscal_year: int
    members: frozenset[str]
    opened_by: str
    allocated: bool = False
    allocated_kg: int = 0  # the pool_kg of its allocation
    retired_kg: int = 0  # retired for its meetings so far
    funders: frozenset[str] = frozenset()  # who moved credits in: remainders go back to them

    @property
    def holder_id(self) -> str:
        return pool_holder(self.pool_id)

    @property
    def owed_kg(self) -> int:
        """Allocated to meetings and not yet retired for them: reserved in the holding."""
        return self.allocated_kg - self.retired_kg


@dataclass(frozen=True, slots=True)
class Meeting:
    pool_id: str
    meeting_id: str
    organiser_id: str
    name: str
    held_on: date
    category: str
    expected_participants: int
    estimate_kg: int
    actual_participants: int | None = None
    calculated_kg: int | None = None
    allocated_kg: int | None = None
    retired: bool = False


@dataclass(frozen=True, slots=True)
class Agreement:
    agreement_id: str
    provider_id: str
    user_id: str
    start_date: date
    term_years: int
    expected_annual_kg: int
    purpose: str
    signers: frozenset[str]
    in_force: bool


@dataclass(frozen=True, slots=True)
class Delivery:
    delivery_id: str
    agreement_id: str
    provider_id: str
    user_id: str
    blocks: tuple[SerialBlock, ...]
    quantity_kg: int
    deadline_us: int
    outcome: str | None = None  # None while pending


@dataclass(frozen=True, slots=True)
class Supply:
    """Per batch: issued = tradable + pending + retired + cancelled, always."""

    issued_kg: int = 0
    tradable_kg: int = 0
    pending_kg: int = 0
    retired_kg: int = 0
    cancelled_kg: int = 0

    def balanced(self) -> bool:
        accounted_kg = self.tradable_kg + self.pending_kg + self.retired_kg + self.cancelled_kg
        return self.issued_kg == accounted_kg


@dataclass(frozen=True, slots=True)
class CommandRecord:
    position: int
    digest: bytes
    expires_at_us: int


@dataclass(frozen=True, slots=True)
class Recovery:
    """An operator's recovery of a party's keys: pending until vetoed or completed."""

    party_id: str
    recovery_id: str
    key_id: str
    public_key: bytes
    due_at_us: int
    outcome: str | None = None  # None while pending; vetoed, completed
