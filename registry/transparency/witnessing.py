"""What witnesses publish: cosignatures of the registry's signed checkpoints, and evidence
of a split history. A witness is an independent party (a partner municipality, an audit
office) that follows the log, verifies every envelope and every rule with its own copy of
them, and cosigns each checkpoint it found consistent with the last one it cosigned. Its
records go to a log of their own: the `<topic>.witness` Kafka topic, or the embedded
`witness_log` table beside the embedded log. The registry refuses nothing because of them;
readers show them beside a checkpoint (certificates, `proof_verifier.py`).

A cosignature signs `cosignature_message` (in proof_verifier.py, which checks it): the
witness's name and public key, the tree size and the root. It carries the checkpoint it
cosigns and, from the second one on, the RFC 9162 consistency proof between that checkpoint
and the last one the witness cosigned before, so any reader can recheck the step.

Evidence of a split history names both signed checkpoints: two of one size with different
roots, or one whose root is not the root of the witness's verified log at its size (it
cannot extend the checkpoint the witness cosigned last)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from registry.envelope.keys import SigningKey, verify
from registry.support.database import schema_creation_lock
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.proof_verifier import cosignature_message, key_id_of, verify_consistency

# A name goes into the signed message line by line: no spaces, no newlines.
WITNESS_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
SAME_SIZE = "same-size"  # two signed checkpoints of one size, different roots
INCONSISTENT = "inconsistent"  # a signed checkpoint the witness's verified log contradicts


def check_witness_id(witness_id: str) -> str:
    if not WITNESS_ID.match(witness_id):
        raise ValueError(
            f"witness name {witness_id!r}: lower-case letters, digits, '.', '_', '-' "
            "(at most 63, starting with a letter or digit)"
        )
    return witness_id


@dataclass(frozen=True, slots=True)
class ConsistencyStep:
    """The RFC 9162 consistency proof between the cosigned checkpoint and `other_size`
    (`other_root`): the checkpoint the witness had cosigned last before it."""

    other_size: int
    other_root: bytes
    path: tuple[bytes, ...]

    def verifies(self, tree_size: int, root: bytes) -> bool:
        if self.other_size <= tree_size:
            return verify_consistency(
                self.other_size, tree_size, self.other_root, root, list(self.path)
            )
        return verify_consistency(
            tree_size, self.other_size, root, self.other_root, list(self.path)
        )

    def to_json(self) -> dict[str, object]:
        return {
            "tree_size": self.other_size,
            "root": self.other_root.hex(),
            "path": [node.hex() for node in self.path],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsistencyStep:
        return cls(
            int(data["tree_size"]),
            bytes.fromhex(str(data["root"])),
            tuple(bytes.fromhex(str(node)) for node in data["path"]),
        )


@dataclass(frozen=True, slots=True)
class Cosignature:
    witness_id: str
    public_key: bytes
    checkpoint: Checkpoint
    signature: bytes
    consistency: ConsistencyStep | None = None  # None: the witness's first cosignature

    @property
    def key_id(self) -> str:
        return key_id_of(self.public_key)

    @property
    def tree_size(self) -> int:
        return self.checkpoint.tree_size

    @classmethod
    def sign(
        cls,
        witness_id: str,
        key: SigningKey,
        checkpoint: Checkpoint,
        consistency: ConsistencyStep | None,
    ) -> Cosignature:
        message = cosignature_message(
            check_witness_id(witness_id), key.public_key, checkpoint.tree_size, checkpoint.root
        )
        return cls(witness_id, key.public_key, checkpoint, key.sign(message), consistency)

    def verifies(self) -> bool:
        """The witness's signature over this checkpoint (whoever the witness is: a reader
        decides which witness keys it trusts), and its consistency step when it has one."""
        checkpoint = self.checkpoint
        message = cosignature_message(
            self.witness_id, self.public_key, checkpoint.tree_size, checkpoint.root
        )
        if not verify(self.public_key, self.signature, message):
            return False
        step = self.consistency
        return step is None or step.verifies(checkpoint.tree_size, checkpoint.root)

    def proof_entry(self) -> dict[str, str]:
        """As a proof document lists it, for the document's checkpoint."""
        return {
            "witness_id": self.witness_id,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "cosignature",
            **self.proof_entry(),
            "key_id": self.key_id,
            "checkpoint": self.checkpoint.to_json(),
            "consistency": None if self.consistency is None else self.consistency.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cosignature:
        step = data.get("consistency")
        return cls(
            str(data["witness_id"]),
            bytes.fromhex(str(data["public_key"])),
            Checkpoint.from_json(data["checkpoint"]),
            bytes.fromhex(str(data["signature"])),
            None if step is None else ConsistencyStep.from_json(step),
        )


@dataclass(frozen=True, slots=True)
class SplitHistory:
    """Evidence: `checkpoints` are signed by the registry and cannot all be true of one
    append-only log. `witness_root` is the root of the witness's verified log at
    `tree_size` (None when its log is shorter)."""

    witness_id: str
    public_key: bytes
    kind: str
    tree_size: int
    reason: str
    checkpoints: tuple[Checkpoint, ...]
    witness_root: bytes | None

    @property
    def evidence_id(self) -> str:
        """The same evidence found again (after a restart) has the same id."""
        signed = sorted(json.dumps(c.to_json(), sort_keys=True) for c in self.checkpoints)
        text = "\n".join([self.kind, *signed])
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "split-history",
            "evidence": self.kind,
            "evidence_id": self.evidence_id,
            "witness_id": self.witness_id,
            "public_key": self.public_key.hex(),
            "key_id": key_id_of(self.public_key),
            "tree_size": self.tree_size,
            "reason": self.reason,
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "witness_root": None if self.witness_root is None else self.witness_root.hex(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SplitHistory:
        root = data.get("witness_root")
        return cls(
            str(data["witness_id"]),
            bytes.fromhex(str(data["public_key"])),
            str(data["evidence"]),
            int(data["tree_size"]),
            str(data["reason"]),
            tuple(Checkpoint.from_json(c) for c in data["checkpoints"]),
            None if root is None else bytes.fromhex(str(root)),
        )


WitnessRecord = Cosignature | SplitHistory


def record_key(record: WitnessRecord) -> bytes:
    """The record's key on the witness log: one cosignature per witness and size."""
    key_id = key_id_of(record.public_key)
    if isinstance(record, Cosignature):
        return f"cosignature:{key_id}:{record.tree_size}".encode()
    return f"split-history:{key_id}:{record.evidence_id}".encode()


def record_value(record: WitnessRecord) -> bytes:
    return json.dumps(record.to_json(), sort_keys=True).encode()


def parse_witness_record(value: bytes) -> WitnessRecord:
    """A record of the witness log; raises ValueError, KeyError or TypeError when malformed."""
    data = json.loads(value)
    if data.get("kind") == "cosignature":
        return Cosignature.from_json(data)
    if data.get("kind") == "split-history":
        return SplitHistory.from_json(data)
    raise ValueError(f"not a witness record: kind {data.get('kind')!r}")


def cosignatures_of(records: Sequence[WitnessRecord], checkpoint: Checkpoint) -> list[Cosignature]:
    """The valid cosignatures of exactly this checkpoint (size and root), one per witness
    key, in the order they came."""
    found: dict[bytes, Cosignature] = {}
    for record in records:
        if (
            isinstance(record, Cosignature)
            and record.public_key not in found
            and (record.checkpoint.tree_size, record.checkpoint.root)
            == (checkpoint.tree_size, checkpoint.root)
            and record.verifies()
        ):
            found[record.public_key] = record
    return list(found.values())


metadata = sa.MetaData()
witness_log = sa.Table(
    "witness_log",
    metadata,
    sa.Column(
        "sequence",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("record_key", sa.String(200), nullable=False, unique=True),
    sa.Column("record_value", sa.LargeBinary, nullable=False),
)


class EmbeddedWitnessLog:
    """The witness log of embedded mode: a table in the database of the embedded log, so one
    command runs a registry and its witnesses without a broker. A key appears once."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with schema_creation_lock(engine):
            metadata.create_all(engine)

    def publish(self, records: Sequence[WitnessRecord]) -> None:
        rows = [
            {"record_key": record_key(r).decode(), "record_value": record_value(r)} for r in records
        ]
        if not rows:
            return
        insert: Any = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )
        with self.engine.begin() as connection:
            connection.execute(insert(witness_log).on_conflict_do_nothing(), rows)

    def read(self, after_sequence: int = 0, limit: int = 10_000) -> list[tuple[int, bytes]]:
        """(sequence, value) of the records after `after_sequence`, oldest first."""
        c = witness_log.c
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(c.sequence, c.record_value)
                .where(c.sequence > after_sequence)
                .order_by(c.sequence)
                .limit(limit)
            ).all()
        return [(int(row.sequence), bytes(row.record_value)) for row in rows]
