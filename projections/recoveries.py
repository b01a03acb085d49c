"""Recoveries of parties' keys in the read models: the rows their events set, and the queries
that show a pending recovery (and the frozen credits it means) on every read path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa

from projections import tables as t
from projections.pending import PendingRows
from registry.domain import events as ev


class Place(Protocol):
    """Where an effect sits in the log (apply.Place)."""

    @property
    def position(self) -> int: ...


def recovery_started(rows: PendingRows, event: ev.RecoveryStarted, at: Place) -> None:
    rows.upsert(
        "recoveries",
        {"party_id": event.party_id, "recovery_id": event.recovery_id},
        {
            "key_id": event.key_id,
            "reason": event.reason,
            "started_by": event.started_by,
            "cosigned_by": " ".join(event.cosigned_by),
            "started_at_us": event.started_at_us,
            "due_at_us": event.due_at_us,
            "started_position": at.position,
        },
    )


def recovery_vetoed(rows: PendingRows, event: ev.RecoveryVetoed, at: Place) -> None:
    rows.upsert(
        "recoveries",
        {"party_id": event.party_id, "recovery_id": event.recovery_id},
        {"vetoed_with_key_id": event.vetoed_with_key_id, "vetoed_position": at.position},
    )


def recovery_completed(rows: PendingRows, event: ev.RecoveryCompleted, at: Place) -> None:
    rows.upsert(
        "recoveries",
        {"party_id": event.party_id, "recovery_id": event.recovery_id},
        {"completed_position": at.position},
    )


@dataclass(frozen=True)
class RecoveryView:
    party_id: str
    recovery_id: str
    status: str  # pending (the party's credits frozen), vetoed, completed
    key_id: str
    reason: str
    started_by: str
    cosigned_by: tuple[str, ...]
    started_at_us: int
    due_at_us: int
    started_position: int


def _status(row: sa.Row[tuple[object, ...]]) -> str:
    if row.completed_position is not None:
        return "completed"
    if row.vetoed_position is not None:
        return "vetoed"
    return "pending"


def recoveries(
    connection: sa.Connection, party_id: str | None = None, pending_only: bool = False
) -> list[RecoveryView]:
    """Recoveries whose start has been projected, oldest first."""
    r = t.recoveries.c
    query = sa.select(t.recoveries).where(r.started_position.is_not(None))
    if party_id is not None:
        query = query.where(r.party_id == party_id)
    if pending_only:
        query = query.where(r.vetoed_position.is_(None), r.completed_position.is_(None))
    views = []
    for row in connection.execute(query.order_by(r.started_position)):
        views.append(
            RecoveryView(
                row.party_id,
                row.recovery_id,
                _status(row),
                row.key_id,
                row.reason,
                row.started_by,
                tuple(row.cosigned_by.split()),
                row.started_at_us,
                row.due_at_us,
                row.started_position,
            )
        )
    return views


def pending_recovery(connection: sa.Connection, party_id: str) -> RecoveryView | None:
    found = recoveries(connection, party_id, pending_only=True)
    return found[-1] if found else None
