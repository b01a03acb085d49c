"""Collecting the public view's rows from a batch of envelopes (written by public_write.py):
one log entry (its sealed bytes) and one Merkle leaf per envelope, credit
classes, projects, signatures on agreements, and a history row per serial block moved."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from registry.domain import events as ev
from registry.domain.dispatch import EventDispatch
from registry.domain.records import pool_holder
from registry.domain.serials import SerialBlock
from registry.envelope.sealing import OpenedEnvelope
from registry.transparency.merkle import leaf_hash


def fork_of(serial_start: int, serial_end: int) -> tuple[int, int]:
    """The relational-interval-tree node of a range: the level of the highest bit where its
    bounds differ, and the bits above it. Every serial of the range shares that prefix."""
    level = (serial_start ^ serial_end).bit_length()
    return level, serial_start >> level


@dataclass
class PublicRows:
    log_entries: list[dict[str, Any]] = field(default_factory=list)
    leaves: dict[int, bytes] = field(default_factory=dict)  # leaf index -> hash
    credit_classes: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)
    signatures: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def moved(
        self,
        blocks: Sequence[SerialBlock],
        stamp: int,
        position: int,
        action: str,
        party_id: str,
        counterparty_id: str | None = None,
    ) -> None:
        for block in blocks:
            level, node = fork_of(block.serial_start, block.serial_end)
            self.history.append(
                {
                    "batch_id": block.batch_id,
                    "stamp": stamp,
                    "serial_start": block.serial_start,
                    "serial_end": block.serial_end,
                    "fork_level": level,
                    "fork_node": node,
                    "action": action,
                    "party_id": party_id,
                    "counterparty_id": counterparty_id,
                    "position": position,
                }
            )


def collect_envelope(rows: PublicRows, envelope: OpenedEnvelope, event_types: list[str]) -> None:
    position = envelope.body.position
    rows.leaves[position - 1] = leaf_hash(envelope.sealed_bytes)
    rows.log_entries.append(
        {
            "position": position,
            "recorded_at_us": envelope.body.recorded_at_us,
            "actor_id": envelope.body.command.actor_id,
            "event_types": ",".join(event_types)[:400],
            "sealed_envelope": envelope.sealed_bytes,
        }
    )


def collect_event(rows: PublicRows, event: ev.Event, envelope: OpenedEnvelope, stamp: int) -> None:
    collect = _PUBLIC_COLLECTORS.handler(event)
    if collect is not None:
        collect(rows, event, Moment(envelope.body.position, envelope.body.recorded_at_us, stamp))


@dataclass(frozen=True, slots=True)
class Moment:
    """Where an event sits: its envelope's position and time, and its stamp (see tables.py)."""

    position: int
    recorded_at_us: int
    stamp: int


def _class_registered(rows: PublicRows, event: ev.CreditClassRegistered, at: Moment) -> None:
    rows.credit_classes.append(
        {
            "class_id": event.class_id,
            "name": event.name,
            "issuers": " ".join(event.authorised_issuers),
            "registered_position": at.position,
        }
    )


def _project_registered(rows: PublicRows, event: ev.ProjectRegistered, at: Moment) -> None:
    rows.projects.append(
        {
            "project_id": event.project_id,
            "class_id": event.class_id,
            "name": event.name,
            "location": event.location,
            "methodology": event.methodology,
            "proponent_id": event.proponent_id,
            "registered_position": at.position,
        }
    )


def _agreement_signed(rows: PublicRows, event: ev.AgreementSigned, at: Moment) -> None:
    rows.signatures.append(
        {
            "agreement_id": event.agreement_id,
            "position": at.position,
            "signer_id": event.signer_id,
            "recorded_at_us": at.recorded_at_us,
            "in_force": event.in_force,
        }
    )


def _issued(rows: PublicRows, event: ev.CreditsIssued, at: Moment) -> None:
    block = SerialBlock(event.batch_id, event.serial_start, event.serial_end)
    rows.moved([block], at.stamp, at.position, "issued", event.recipient_id, event.issuer_id)


def _transferred(rows: PublicRows, event: ev.CreditsTransferred, at: Moment) -> None:
    rows.moved(
        event.blocks, at.stamp, at.position, "transferred", event.to_party_id, event.from_party_id
    )


def _retired(rows: PublicRows, event: ev.CreditsRetired, at: Moment) -> None:
    rows.moved(event.blocks, at.stamp, at.position, "retired", event.holder_id)


def _cancelled(rows: PublicRows, event: ev.CreditsCancelled, at: Moment) -> None:
    rows.moved(
        event.blocks, at.stamp, at.position, "cancelled", event.holder_id, event.cancelled_by
    )


def _proposed(rows: PublicRows, event: ev.DeliveryProposed, at: Moment) -> None:
    rows.moved(event.blocks, at.stamp, at.position, "reserved", event.provider_id, event.user_id)


def _resolved(rows: PublicRows, event: ev.DeliveryResolved, at: Moment) -> None:
    if event.outcome == "accepted":
        rows.moved(
            event.blocks, at.stamp, at.position, "delivered", event.user_id, event.provider_id
        )
    else:
        rows.moved(event.blocks, at.stamp, at.position, "released", event.provider_id)


def _pool_funded(rows: PublicRows, event: ev.PoolFunded, at: Moment) -> None:
    rows.moved(
        event.blocks,
        at.stamp,
        at.position,
        "pooled",
        pool_holder(event.pool_id),
        event.from_party_id,
    )


def _remainder_returned(rows: PublicRows, event: ev.PoolRemainderReturned, at: Moment) -> None:
    rows.moved(
        event.blocks,
        at.stamp,
        at.position,
        "returned",
        event.to_party_id,
        pool_holder(event.pool_id),
    )


def _remainder_carried(rows: PublicRows, event: ev.PoolRemainderCarried, at: Moment) -> None:
    rows.moved(
        event.blocks,
        at.stamp,
        at.position,
        "carried",
        pool_holder(event.to_pool_id),
        pool_holder(event.pool_id),
    )


def _buffered(rows: PublicRows, event: ev.CreditsBuffered, at: Moment) -> None:
    rows.moved(event.blocks, at.stamp, at.position, "buffered", event.buffer_id, event.recipient_id)


def _reversed(rows: PublicRows, event: ev.ReversalReported, at: Moment) -> None:
    rows.moved(event.blocks, at.stamp, at.position, "reversed", event.buffer_id, event.reported_by)


_PUBLIC_COLLECTORS: EventDispatch[Callable[[PublicRows, Any, Moment], None]] = EventDispatch(
    "public view rows",
    {
        ev.CreditClassRegistered: _class_registered,
        ev.ProjectRegistered: _project_registered,
        ev.AgreementSigned: _agreement_signed,
        ev.CreditsIssued: _issued,
        ev.CreditsTransferred: _transferred,
        ev.CreditsRetired: _retired,
        ev.CreditsCancelled: _cancelled,
        ev.DeliveryProposed: _proposed,
        ev.DeliveryResolved: _resolved,
        ev.PoolFunded: _pool_funded,
        ev.PoolRemainderReturned: _remainder_returned,
        ev.PoolRemainderCarried: _remainder_carried,
        ev.CreditsBuffered: _buffered,
        ev.ReversalReported: _reversed,
    },
    ignored=(
        # Parties, keys, pools, meetings and contributions have read models of their own
        # (apply.py); the public view adds only what those lack.
        ev.PartyRegistered,
        ev.KeyRegistered,
        ev.KeyRotated,
        ev.KeyRevoked,
        ev.PoolOpened,
        ev.MeetingRegistered,
        ev.MeetingCalculated,
        ev.PoolAllocated,
        ev.MeetingOffset,
        ev.ContributionsRecorded,
        ev.FactorTableRegistered,
        # Key events: recoveries have a read model of their own (recoveries.py); the
        # registry's key history is the log's own business (transparency/registry_keys.py).
        ev.RecoveryKeySet,
        ev.KeyRecovered,
        ev.RecoveryStarted,
        ev.RecoveryVetoed,
        ev.RecoveryCompleted,
        ev.RegistryKeyRotated,
        ev.LabelAdded,  # labels have a read model of their own (attribute_rows.py)
        ev.LabelWithdrawn,
    ),
)
