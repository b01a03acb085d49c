"""The first refusal stands: lasting refusals kept beside the chain, in the event store.

A command refused for a lasting reason (INSUFFICIENT_HOLDINGS, UNKNOWN_PARTY, ...) and sent
again, the same signed bytes within their lifetime, gets the same refusal on every replica,
even after the state that refused it has changed (the funds arrived). A refusal changes no
state, so it is not an envelope: the chain says what happened, this table what was refused.

What is kept, and when:
- only refusals of authentic commands (the actor's signature verified) that the rules gave:
  nobody can make a refusal stick to bytes they did not sign;
- only lasting ones (`Rejection.lasting`): never those that depend on the deciding
  replica's clock, whose wrong clock must not make its answer everyone's, nor transient ones;
- in the same transaction as the group's envelopes, under the chain's write lock, and only
  if the chain has not moved since the group was decided; a group that lost that race is
  decided again. The table is read there too, once per group: an accepted command whose
  bytes were refused, by another replica or earlier, loses the race the same way and is
  decided again knowing the refusal, which then stands; so one command never has both
  results, and a group pays one indexed read for it.
Rows are forgotten `FORGET_MARGIN_US` after their command expires: by then the command
would be refused as expired anyway, so the table stays bounded by one lifetime of refusals.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.domain.checks import CheckCode
from registry.envelope.sealing import SignedCommand
from registry.support.database import schema_creation_lock

DIGESTS_PER_QUERY = 500  # far below any database's limit on bound parameters

metadata = sa.MetaData()
first_refusals = sa.Table(
    "first_refusals",
    metadata,
    sa.Column(
        "digest", sa.LargeBinary(32), primary_key=True
    ),  # submission_key: bytes + cosignatures
    sa.Column("command_id", sa.String(128), primary_key=True),
    sa.Column("code", sa.String(40), nullable=False),  # the check code's name
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("forget_after_us", sa.BigInteger, nullable=False, index=True),
)


class LostRace(Exception):
    """The chain moved, or another replica kept a refusal, between deciding and storing."""


class KeptMeanwhile(LostRace):
    """A command the group accepted has a kept refusal: it is decided again knowing it."""

    def __init__(self, found: dict[bytes, KeptRefusal]) -> None:
        self.found = found
        super().__init__(f"{len(found)} commands of the group have kept refusals")


@dataclass(frozen=True, slots=True)
class KeptRefusal:
    digest: bytes
    command_id: str
    code: CheckCode
    message: str
    forget_after_us: int


def create_table(engine: sa.Engine) -> None:
    with schema_creation_lock(engine):
        metadata.create_all(engine)


def submission_key(signed: SignedCommand) -> bytes:
    """What a kept refusal is the answer to: the signed command bytes and, when there are
    any, the co-signatures beside them. A refusal for a missing or wrong co-signature is
    the answer to that submission, not to the command once it is properly co-signed; and
    a command that takes no co-signature refuses any, so adding one never escapes a kept
    refusal."""
    if not signed.cosignatures:
        return hashlib.sha256(signed.command_bytes).digest()
    hasher = hashlib.sha256(signed.command_bytes)
    for cosignature in signed.cosignatures:
        for part in (
            cosignature.party_id.encode(),
            cosignature.key_id.encode(),
            cosignature.signature,
        ):
            hasher.update(len(part).to_bytes(4, "big") + part)
    return hasher.digest()


def _chunks(digests: Sequence[bytes]) -> Iterable[Sequence[bytes]]:
    for start in range(0, len(digests), DIGESTS_PER_QUERY):
        yield digests[start : start + DIGESTS_PER_QUERY]


def find(connection: sa.Connection | Session, digests: Sequence[bytes]) -> dict[bytes, KeptRefusal]:
    """The kept refusals among these command digests."""
    found: dict[bytes, KeptRefusal] = {}
    c = first_refusals.c
    for chunk in _chunks(digests):
        for row in connection.execute(sa.select(first_refusals).where(c.digest.in_(chunk))):
            digest = bytes(row.digest)
            found[digest] = KeptRefusal(
                digest, row.command_id, CheckCode[row.code], row.message, row.forget_after_us
            )
    return found


def settle(
    session: Session,
    refusals: Sequence[KeptRefusal],
    accepted_digests: Sequence[bytes],
    chain_head: Callable[[], int] | None,
    expected_head: int,
    now_us: int,
) -> dict[bytes, KeptRefusal]:
    """Inside the transaction that stores the group, once it holds the chain's write lock
    where it has envelopes to store (or on PostgreSQL, the table locked): one look at what
    is kept for the group's commands. An accepted command that another writer refused
    meanwhile loses the race (`KeptMeanwhile`). The group's own refusals are kept unless one
    already is, which then stands instead (returned). With no envelopes of its own the group
    reads the chain's head (`chain_head`) after its inserts, when SQLite holds its write lock
    too: a chain that moved since the group was decided may have accepted what it refused."""
    found = find(session, [*accepted_digests, *(refusal.digest for refusal in refusals)])
    if any(digest in found for digest in accepted_digests):
        raise KeptMeanwhile(found)
    fresh = [refusal for refusal in refusals if refusal.digest not in found]
    if not fresh:
        return found
    session.execute(
        first_refusals.insert(),
        [
            {
                "digest": refusal.digest,
                "command_id": refusal.command_id,
                "code": refusal.code.name,
                "message": refusal.message,
                "forget_after_us": refusal.forget_after_us,
            }
            for refusal in fresh
        ],
    )
    session.execute(first_refusals.delete().where(first_refusals.c.forget_after_us < now_us))
    if chain_head is not None:
        head = chain_head()
        if head != expected_head:
            raise LostRace(f"the chain moved to {head} while the group expected {expected_head}")
    return found
