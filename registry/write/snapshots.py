"""Snapshots of the decided state, so that opening a store does not replay its whole chain.

A snapshot holds everything the write side decides the next command from: the ledger
(snapshot_codec.py), the latest recorded time, the Merkle tree's frontier and the checkpoints
due. The registry signs a short statement binding it to the chain: the format, the
position, the head hash there (which commits to every envelope before it), the tree's size
and root, the SHA-256 of the snapshot's bytes, and the key history it was sealed under.

On open, a snapshot is used only if all of this holds: its key history follows from the
pinned key (each handover signed by the key it retires), its statement is signed by the
registry key of its position, its bytes have the signed digest, the store still holds the
same envelope at its position, and what it decodes to agrees with the statement. Anything
else is refused with a log line saying why, and the chain is replayed from the start.

Snapshots live in the event store's database, the newest SNAPSHOTS_KEPT of them. Their
bytes are canonical JSON, compressed: plain data, read only after the digest checks."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from registry.domain.ledger import Ledger
from registry.envelope.keys import SigningKey, verify
from registry.support.database import schema_creation_lock
from registry.transparency.merkle import CompactTree
from registry.transparency.registry_keys import Handover, HandoverError, RegistryKeyHistory
from registry.write.snapshot_codec import LAYOUT, decode_ledger, encode_ledger

SNAPSHOT_FORMAT = 1
SNAPSHOTS_KEPT = 3
STATEMENT_PREFIX = b"credit-registry snapshot v1\n"
COMPRESSION_LEVEL = 1  # four times faster than the default, a tenth larger

logger = logging.getLogger(__name__)
metadata = sa.MetaData()
snapshots_table = sa.Table(
    "registry_snapshots",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("statement", sa.LargeBinary, nullable=False),  # canonical JSON, signed
    sa.Column("registry_key_id", sa.String(40), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)


@dataclass
class SnapshotState:
    """What the next decision depends on, at one position of the chain."""

    ledger: Ledger
    chain_recorded_us: int  # the latest time the chain records up to here
    tree: tuple[int, list[tuple[int, bytes]]]  # CompactTree.snapshot()
    due_checkpoints: list[tuple[int, bytes]]
    key_history: RegistryKeyHistory

    @property
    def position(self) -> int:
        return self.ledger.position


@dataclass(frozen=True)
class Statement:
    position: int
    head_hash: bytes
    tree_size: int
    tree_root: bytes
    payload_sha256: bytes
    root_key_id: str
    handovers: tuple[Handover, ...]
    layout: str = LAYOUT
    format: int = SNAPSHOT_FORMAT

    def to_bytes(self) -> bytes:
        document = {
            "format": self.format,
            "layout": self.layout,
            "position": self.position,
            "head_hash": self.head_hash.hex(),
            "tree_size": self.tree_size,
            "tree_root": self.tree_root.hex(),
            "payload_sha256": self.payload_sha256.hex(),
            "root_registry_key_id": self.root_key_id,
            "handovers": [handover.to_json() for handover in self.handovers],
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Statement:
        document = json.loads(data)
        return cls(
            int(document["position"]),
            bytes.fromhex(document["head_hash"]),
            int(document["tree_size"]),
            bytes.fromhex(document["tree_root"]),
            bytes.fromhex(document["payload_sha256"]),
            str(document["root_registry_key_id"]),
            tuple(Handover.from_json(h) for h in document["handovers"]),
            str(document["layout"]),
            int(document["format"]),
        )


def signed_message(statement_bytes: bytes) -> bytes:
    """What the registry key signs: prefixed, so it can never pass for another signed text."""
    return STATEMENT_PREFIX + statement_bytes


@dataclass(frozen=True)
class StoredSnapshot:
    position: int
    statement: bytes
    registry_key_id: str
    signature: bytes
    payload: bytes = field(repr=False)


def root_key_id(history: RegistryKeyHistory) -> str | None:
    """The key the history starts from, once known (one pinned key, or settled by the chain)."""
    keys = history.keys_for(1)
    return next(iter(keys)) if len(keys) == 1 else None


def encode_payload(state: SnapshotState) -> bytes:
    size, stack = state.tree
    document = {
        "ledger": encode_ledger(state.ledger),
        "chain_recorded_us": state.chain_recorded_us,
        "tree": [size, [[subtree, root.hex()] for subtree, root in stack]],
        "due_checkpoints": [[tree_size, root.hex()] for tree_size, root in state.due_checkpoints],
    }
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return zlib.compress(text.encode(), COMPRESSION_LEVEL)


def make_snapshot(state: SnapshotState, key: SigningKey) -> StoredSnapshot:
    """Serialise and sign: the writer does this outside the writer lock."""
    root = root_key_id(state.key_history)
    if root is None:
        raise ValueError("a snapshot needs a key history whose first key is known")
    payload = encode_payload(state)
    tree = CompactTree()
    tree.restore(state.tree)
    statement = Statement(
        state.position,
        state.ledger.head_hash,
        tree.size,
        tree.root(),
        hashlib.sha256(payload).digest(),
        root,
        tuple(state.key_history.handovers),
    ).to_bytes()
    signature = key.sign(signed_message(statement))
    return StoredSnapshot(state.position, statement, key.key_id, signature, payload)


class SnapshotStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        with schema_creation_lock(engine):
            metadata.create_all(engine)

    def record(self, snapshot: StoredSnapshot, connection: sa.Connection | None = None) -> None:
        """Store it and drop all but the newest SNAPSHOTS_KEPT. Replicas may write one of the
        same position: the first one stays."""
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        row = {
            "position": snapshot.position,
            "statement": snapshot.statement,
            "registry_key_id": snapshot.registry_key_id,
            "signature": snapshot.signature,
            "payload": snapshot.payload,
        }
        with self._connection(connection) as conn:
            conn.execute(insert(snapshots_table).on_conflict_do_nothing(), [row])
            kept = sa.select(snapshots_table.c.position).order_by(snapshots_table.c.position.desc())
            positions = [p for (p,) in conn.execute(kept.limit(SNAPSHOTS_KEPT))]
            if len(positions) == SNAPSHOTS_KEPT:
                older = snapshots_table.c.position < positions[-1]
                conn.execute(snapshots_table.delete().where(older))

    @contextmanager
    def _connection(self, connection: sa.Connection | None) -> Iterator[sa.Connection]:
        if connection is not None:
            yield connection
            return
        with self.engine.begin() as conn:
            yield conn

    def positions(self) -> list[int]:
        """Positions of the stored snapshots, newest first."""
        query = sa.select(snapshots_table.c.position).order_by(snapshots_table.c.position.desc())
        with self.engine.connect() as connection:
            return [int(p) for (p,) in connection.execute(query)]

    def read(self, position: int) -> StoredSnapshot | None:
        query = sa.select(snapshots_table).where(snapshots_table.c.position == position)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return StoredSnapshot(
            int(row.position),
            bytes(row.statement),
            str(row.registry_key_id),
            bytes(row.signature),
            bytes(row.payload),
        )


class Refused(Exception):
    """Why a snapshot cannot be used; the caller replays instead."""


def verified_state(
    snapshot: StoredSnapshot,
    pinned: Mapping[str, bytes],
    stored_hash_at: Callable[[int], bytes | None],
) -> SnapshotState:
    """The snapshot's state, if everything about it checks (else Refused, saying why).
    `stored_hash_at(p)`: the hash of the store's envelope at p, None if there is none."""
    try:
        statement = Statement.from_bytes(snapshot.statement)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise Refused(f"its statement cannot be read ({type(error).__name__})") from None
    if statement.format != SNAPSHOT_FORMAT:
        raise Refused(f"format {statement.format}; this release reads {SNAPSHOT_FORMAT}")
    if statement.position != snapshot.position:
        raise Refused(f"stored at {snapshot.position}, its statement says {statement.position}")
    history = _followed_history(statement, pinned)
    allowed = {**history.keys_for(statement.position), **history.keys_for(statement.position + 1)}
    public_key = allowed.get(snapshot.registry_key_id)
    if public_key is None:
        raise Refused(f"signed by {snapshot.registry_key_id}, not the registry key there")
    if not verify(public_key, snapshot.signature, signed_message(snapshot.statement)):
        raise Refused("the registry's signature does not verify")
    if statement.layout != LAYOUT:
        raise Refused(f"ledger layout {statement.layout}; this release keeps {LAYOUT}")
    stored_hash = stored_hash_at(statement.position)
    if stored_hash is None:
        raise Refused(f"the store has no envelope at position {statement.position}")
    if stored_hash != statement.head_hash:
        raise Refused(f"the store's envelope at {statement.position} is not the signed head")
    if hashlib.sha256(snapshot.payload).digest() != statement.payload_sha256:
        raise Refused("its bytes differ from the signed digest")
    state = _decoded(snapshot.payload, history)
    _require_agreement(state, statement)
    return state


def _followed_history(statement: Statement, pinned: Mapping[str, bytes]) -> RegistryKeyHistory:
    """The snapshot's key history, rebuilt from the pinned keys: a forged one fails here."""
    history = RegistryKeyHistory(dict(pinned))
    if statement.root_key_id not in pinned:
        raise Refused(f"its key history starts from {statement.root_key_id}, not a pinned key")
    history.settle_root(1, statement.root_key_id)
    if root_key_id(history) != statement.root_key_id:
        raise Refused(f"its key history starts from {statement.root_key_id}, not the pinned key")
    for handover in statement.handovers:
        if handover.position > statement.position:
            raise Refused(f"a handover at {handover.position}, after the snapshot")
        try:
            history.follow(handover)
        except HandoverError as error:
            raise Refused(f"its key history does not follow: {error}") from None
    return history


def _decoded(payload: bytes, history: RegistryKeyHistory) -> SnapshotState:
    # Loading makes millions of objects and no cycles: the collector would only slow it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        document: dict[str, Any] = json.loads(zlib.decompress(payload))
        size, stack = document["tree"]
        return SnapshotState(
            decode_ledger(document["ledger"]),
            int(document["chain_recorded_us"]),
            (int(size), [(int(s), bytes.fromhex(root)) for s, root in stack]),
            [(int(s), bytes.fromhex(root)) for s, root in document["due_checkpoints"]],
            history,
        )
    except (ValueError, KeyError, TypeError, AttributeError, zlib.error) as error:
        raise Refused(f"its content cannot be read ({type(error).__name__}: {error})") from None
    finally:
        if collecting:
            gc.enable()


def _require_agreement(state: SnapshotState, statement: Statement) -> None:
    tree = CompactTree()
    tree.restore(state.tree)
    if (state.position, state.ledger.head_hash) != (statement.position, statement.head_hash):
        raise Refused("its ledger's head differs from its statement")
    if (tree.size, tree.root()) != (statement.tree_size, statement.tree_root):
        raise Refused("its Merkle tree differs from its statement")
    if tree.size != statement.position:
        raise Refused(f"a tree of {tree.size} envelopes at position {statement.position}")


def copied_history(history: RegistryKeyHistory) -> RegistryKeyHistory:
    """A copy of a key history for a snapshot (handovers are re-followed: a few µs each)."""
    copy = RegistryKeyHistory(dict(history.pinned))
    root = root_key_id(history)
    if root is not None:
        copy.settle_root(1, root)
    for handover in history.handovers:
        copy.follow(handover)
    return copy


def newest_verified(
    store: SnapshotStore,
    pinned: Mapping[str, bytes],
    stored_hash_at: Callable[[int], bytes | None],
) -> SnapshotState | None:
    """The state of the newest snapshot that verifies; each refused one is logged with the
    reason, and so is the full replay when none is left."""
    positions = store.positions()
    if not positions:
        logger.info("no snapshot in the store: replaying the whole chain")
        return None
    for position in positions:
        try:
            snapshot = store.read(position)
            if snapshot is None:  # dropped by another writer meanwhile
                continue
            return verified_state(snapshot, pinned, stored_hash_at)
        except Refused as refusal:
            logger.warning("snapshot at position %d refused: %s", position, refusal)
        except Exception as error:  # whatever it is, the replay does not depend on it
            logger.warning(
                "snapshot at position %d refused: %s: %s", position, type(error).__name__, error
            )
    logger.warning("no snapshot verifies: replaying the whole chain")
    return None
