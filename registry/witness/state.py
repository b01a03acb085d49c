"""The witness's own database (SQLite by default, any SQLAlchemy URL): every checkpoint it
cosigned and every split history it found, each with whether it is published yet. A record
is stored before it is published (an outbox), so a crash in between publishes it on the next
run; publishing twice is harmless (the witness log keeps one record per key).

The replay itself is not stored: a witness replays the log from its start on every run, and
checks on the way that the log still has the root of every checkpoint it cosigned before."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from registry.support.database import schema_creation_lock
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.witnessing import Cosignature, SplitHistory, WitnessRecord

metadata = sa.MetaData()
cosigned = sa.Table(
    "witness_cosigned",
    metadata,
    sa.Column("witness_key_id", sa.String(40), primary_key=True),
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # the cosignature as published (JSON)
    sa.Column("published", sa.Boolean, nullable=False),
)
evidence = sa.Table(
    "witness_evidence",
    metadata,
    sa.Column("witness_key_id", sa.String(40), primary_key=True),
    sa.Column("evidence_id", sa.String(64), primary_key=True),
    sa.Column("tree_size", sa.BigInteger, nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # the evidence as published (JSON)
    sa.Column("published", sa.Boolean, nullable=False),
)


def _insert(engine: sa.Engine) -> Any:
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class WitnessState:
    """One witness's rows (by its key id); several witnesses may share a database."""

    def __init__(self, url: str, key_id: str) -> None:
        self.engine = sa.create_engine(url)
        self.key_id = key_id
        with schema_creation_lock(self.engine):
            metadata.create_all(self.engine)

    def record(self, record: WitnessRecord) -> bool:
        """Store a cosignature or evidence; False when it was stored already."""
        table, row = self._row(record)
        with self.engine.begin() as connection:
            done = connection.execute(_insert(self.engine)(table).on_conflict_do_nothing(), row)
        return bool(done.rowcount)

    def _row(self, record: WitnessRecord) -> tuple[sa.Table, dict[str, object]]:
        text = json.dumps(record.to_json(), sort_keys=True)
        row: dict[str, object] = {"witness_key_id": self.key_id, "record": text, "published": False}
        if isinstance(record, Cosignature):
            return cosigned, {**row, "tree_size": record.tree_size, "root": record.checkpoint.root}
        return evidence, {**row, "evidence_id": record.evidence_id, "tree_size": record.tree_size}

    def cosignatures(self) -> list[Cosignature]:
        return [Cosignature.from_json(data) for data in self._records(cosigned)]

    def cosigned_checkpoints(self) -> list[Checkpoint]:
        return [c.checkpoint for c in self.cosignatures()]

    def split_histories(self) -> list[SplitHistory]:
        return [SplitHistory.from_json(data) for data in self._records(evidence)]

    def _records(self, table: sa.Table, unpublished: bool = False) -> list[dict[str, Any]]:
        query = sa.select(table.c.record).where(table.c.witness_key_id == self.key_id)
        if unpublished:
            query = query.where(table.c.published == sa.false())
        with self.engine.connect() as connection:
            texts = connection.scalars(query.order_by(table.c.tree_size)).all()
        return [json.loads(text) for text in texts]

    def unpublished(self) -> list[WitnessRecord]:
        return [
            *(Cosignature.from_json(d) for d in self._records(cosigned, unpublished=True)),
            *(SplitHistory.from_json(d) for d in self._records(evidence, unpublished=True)),
        ]

    def mark_published(self, records: Sequence[WitnessRecord]) -> None:
        with self.engine.begin() as connection:
            for record in records:
                if isinstance(record, Cosignature):
                    where = cosigned.c.tree_size == record.tree_size
                    table = cosigned
                else:
                    where = evidence.c.evidence_id == record.evidence_id
                    table = evidence
                connection.execute(
                    sa.update(table)
                    .where(table.c.witness_key_id == self.key_id, where)
                    .values(published=True)
                )

    @staticmethod
    def witnesses(url: str) -> list[str]:
        """The key ids a state database holds rows for."""
        engine = sa.create_engine(url)
        with schema_creation_lock(engine):
            metadata.create_all(engine)
        with engine.connect() as connection:
            found = set(connection.scalars(sa.select(cosigned.c.witness_key_id).distinct()))
            found |= set(connection.scalars(sa.select(evidence.c.witness_key_id).distinct()))
        return sorted(found)
