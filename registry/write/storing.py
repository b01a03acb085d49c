"""Storing one group's decisions: its envelopes and its kept refusals in one transaction of
the event store, under the chain's write lock (see refusals.py for why both together)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy
from eventsourcing.persistence import Mapper, OperationalError
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy.orm import Session

from registry.domain.results import CommandResult
from registry.write import refusals
from registry.write.persistence import CHAIN_ID, Sequenced


@dataclass
class DecidedGroup:
    """A group's decisions: what to store, and the chain's head they were decided at."""

    head: int
    now_us: int
    results: list[CommandResult] = field(default_factory=list)
    sequenced: list[Sequenced] = field(default_factory=list)
    accepted_digests: list[bytes] = field(default_factory=list)
    refusals: list[refusals.KeptRefusal] = field(default_factory=list)
    refusal_index: dict[bytes, int] = field(default_factory=dict)  # digest -> its result


@dataclass(frozen=True)
class Outcome:
    """One command's decision: its result, its envelope if accepted, its refusal to keep."""

    result: CommandResult
    event: Sequenced | None = None
    refusal: refusals.KeptRefusal | None = None


def kept_result(kept: refusals.KeptRefusal) -> CommandResult:
    return CommandResult(kept.command_id, False, code=kept.code, message=kept.message)


class GroupStore:
    def __init__(
        self,
        recorder: SQLAlchemyApplicationRecorder,
        mapper: Mapper[UUID],
        engine: sqlalchemy.Engine,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        record: Any = recorder.events_record_cls
        self.events_table: sqlalchemy.Table = record.__table__

    def store(self, decided: DecidedGroup) -> None:
        """Raises a lost race (refusals.LostRace, or the store's integrity and operational
        errors) when another writer came first; the group is then decided again."""
        if not decided.sequenced and not decided.refusals:
            return
        recorder = self.recorder
        with recorder.transaction(commit=True) as session:
            if not self.is_sqlite:
                # The lock every chain writer takes on insert (eventsourcing's recorder does
                # the same), so that they commit in the order they insert.
                session.execute(
                    sqlalchemy.text(f"LOCK TABLE {recorder.events_table_name} IN EXCLUSIVE MODE")
                )
            if decided.sequenced:
                # One Core insert of the group's rows, as the recorder would store them: its
                # ORM objects, session flush and NOTIFY (which nothing listens to) were most
                # of the time a group held the writer lock (py-spy of the service).
                stored = [self.mapper.to_stored_event(event) for event in decided.sequenced]
                session.execute(
                    self.events_table.insert(),
                    [
                        {
                            "originator_id": event.originator_id,
                            "originator_version": event.originator_version,
                            "topic": event.topic,
                            "state": event.state,
                        }
                        for event in stored
                    ],
                )
            kept = refusals.settle(
                session,
                decided.refusals,
                decided.accepted_digests,
                None if decided.sequenced else lambda: self._stored_head(session),
                decided.head,
                decided.now_us,
            )
        self._confirm_stored(decided)
        for refusal in decided.refusals:
            earlier = kept.get(refusal.digest)
            if earlier is not None:  # refused before, by another replica: that answer stands
                decided.results[decided.refusal_index[refusal.digest]] = kept_result(earlier)

    def _stored_head(self, session: Session) -> int:
        record: Any = self.recorder.events_record_cls
        head = session.scalar(
            sqlalchemy.select(sqlalchemy.func.max(record.originator_version)).where(
                record.originator_id == CHAIN_ID
            )
        )
        return int(head or 0)

    def _confirm_stored(self, decided: DecidedGroup) -> None:
        """SQLite only: the SQLAlchemy recorder can swallow a 'database is locked' error on
        commit, so read back what was written and treat a mismatch as a lost race."""
        if not self.is_sqlite:
            return
        sequenced = decided.sequenced
        if sequenced:
            first, last = sequenced[0].originator_version, sequenced[-1].originator_version
            stored = self.recorder.select_events(CHAIN_ID, gt=first - 1, lte=last)
            if [event.state for event in stored] != [event.sealed for event in sequenced]:
                raise OperationalError("stored envelopes differ from the ones just written")
        if decided.refusals:
            digests = [refusal.digest for refusal in decided.refusals]
            with self.engine.connect() as connection:
                if len(refusals.find(connection, digests)) != len(digests):
                    raise OperationalError("kept refusals were not stored")
