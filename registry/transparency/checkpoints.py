"""Signed checkpoints: the size and RFC 9162 root of the envelope tree, signed by the
registry key that sealed position tree_size. Recorded every CHECKPOINT_INTERVAL_ENVELOPES
positions (and on demand), stored beside the event store, published beside the envelopes,
verified by the audit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from registry.envelope.keys import SigningKey, verify
from registry.support.database import schema_creation_lock
from registry.transparency.proof_verifier import checkpoint_message
from registry.transparency.registry_keys import RegistryKeyHistory

CHECKPOINT_INTERVAL_ENVELOPES = 1_000

metadata = sa.MetaData()
checkpoints_table = sa.Table(
    "registry_checkpoints",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("registry_key_id", sa.String(40), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tree_size: int
    root: bytes
    registry_key_id: str
    signature: bytes

    @classmethod
    def sign(cls, tree_size: int, root: bytes, key: SigningKey) -> Checkpoint:
        return cls(tree_size, root, key.key_id, key.sign(checkpoint_message(tree_size, root)))

    def verifies(self, registry_public_keys: Mapping[str, bytes] | RegistryKeyHistory) -> bool:
        """Given a key history, only the key that sealed position `tree_size` may sign it:
        a checkpoint by a key after its rotation (or before its handover) is refused."""
        if isinstance(registry_public_keys, RegistryKeyHistory):
            registry_public_keys = registry_public_keys.keys_for(self.tree_size)
        public_key = registry_public_keys.get(self.registry_key_id)
        return public_key is not None and verify(
            public_key, self.signature, checkpoint_message(self.tree_size, self.root)
        )

    def to_json(self) -> dict[str, object]:
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "registry_key_id": self.registry_key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Checkpoint:
        return cls(
            int(str(data["tree_size"])),
            bytes.fromhex(str(data["root"])),
            str(data["registry_key_id"]),
            bytes.fromhex(str(data["signature"])),
        )


class CheckpointStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with schema_creation_lock(engine):
            metadata.create_all(engine)

    def record(self, checkpoints: Iterable[Checkpoint]) -> None:
        rows = [
            {
                "tree_size": c.tree_size,
                "root": c.root,
                "registry_key_id": c.registry_key_id,
                "signature": c.signature,
            }
            for c in checkpoints
        ]
        if not rows:
            return
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with self.engine.begin() as connection:
            # Replicas compute identical checkpoints (Ed25519 is deterministic): first one wins.
            connection.execute(insert(checkpoints_table).on_conflict_do_nothing(), rows)

    def all(self, up_to_size: int | None = None) -> list[Checkpoint]:
        query = sa.select(checkpoints_table).order_by(checkpoints_table.c.tree_size)
        if up_to_size is not None:
            query = query.where(checkpoints_table.c.tree_size <= up_to_size)
        with self.engine.connect() as connection:
            return [
                Checkpoint(row.tree_size, row.root, row.registry_key_id, row.signature)
                for row in connection.execute(query)
            ]

    def latest(self) -> Checkpoint | None:
        found = self.all()
        return found[-1] if found else None
