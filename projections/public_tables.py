"""Read models of the public view: credit classes and projects, supply per class and per
project, the log's entries (sealed bytes included) and its Merkle tree, the signed checkpoints
and the witnesses' cosignatures of them, signatures on agreements, and each kilogram's history.

Each stays a pure function of the envelope stream under any interleaving of partitions:
rows keyed by position or stamp are inserted once (a conflict is the same row again),
supply is a sum of deltas, and a Merkle node is a function of its two children, written by
whichever transaction sees both (see projections/merkle.py for why that needs one lock on
PostgreSQL)."""

from __future__ import annotations

import sqlalchemy as sa

from projections.schema import metadata

SUPPLY_COLUMNS = ("issued_kg", "tradable_kg", "pending_kg", "retired_kg", "cancelled_kg")


def _supply_columns() -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger, nullable=False, default=0) for name in SUPPLY_COLUMNS]


credit_classes = sa.Table(
    "credit_classes",
    metadata,
    sa.Column("class_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("issuers", sa.Text, nullable=False),  # authorised issuer ids joined by spaces
    sa.Column("registered_position", sa.BigInteger, nullable=False),
)

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("project_id", sa.String(32), primary_key=True),
    sa.Column("class_id", sa.String(32), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("location", sa.String(200), nullable=False),
    sa.Column("methodology", sa.String(200), nullable=False),
    sa.Column("proponent_id", sa.String(64), nullable=False),
    sa.Column("registered_position", sa.BigInteger, nullable=False),
)

class_supply = sa.Table(
    "class_supply",
    metadata,
    sa.Column("class_id", sa.String(32), primary_key=True),
    *_supply_columns(),
)

project_supply = sa.Table(
    "project_supply",
    metadata,
    sa.Column("class_id", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.String(32), primary_key=True),
    *_supply_columns(),
)

# The log itself, one row per position: the sealed envelope byte for byte (a certificate's
# leaf, a page of the Avro export), when it was recorded, whose command, what it did.
log_entries = sa.Table(
    "log_entries",
    metadata,
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    sa.Column("actor_id", sa.String(64), nullable=False),
    sa.Column("event_types", sa.String(400), nullable=False),  # comma-separated
    sa.Column("sealed_envelope", sa.LargeBinary, nullable=False),
)

# RFC 9162 hashes of complete, aligned subtrees: level 0 holds leaf hashes (index =
# position - 1); the node (level L, index i) covers leaves i * 2**L .. (i + 1) * 2**L - 1.
merkle_nodes = sa.Table(
    "merkle_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("node_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

# Signed checkpoints as published beside the envelopes (copied; the registry signs them).
checkpoints = sa.Table(
    "signed_checkpoints",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("registry_key_id", sa.String(40), nullable=False),
    sa.Column("signature", sa.LargeBinary(64), nullable=False),
)

# Witnesses' cosignatures of signed checkpoints, copied from the witness log (each verified
# first), so a certificate can show who vouches for the checkpoint it is against.
witness_cosignatures = sa.Table(
    "witness_cosignatures",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), primary_key=True),
    sa.Column("witness_key_id", sa.String(40), primary_key=True),
    sa.Column("witness_id", sa.String(64), nullable=False),
    sa.Column("public_key", sa.LargeBinary(32), nullable=False),
    sa.Column("signature", sa.LargeBinary(64), nullable=False),
)

agreement_signatures = sa.Table(
    "agreement_signatures",
    metadata,
    sa.Column("agreement_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("signer_id", sa.String(64), nullable=False),
    sa.Column("recorded_at_us", sa.BigInteger, nullable=False),
    sa.Column("in_force", sa.Boolean, nullable=False),
)

# Every change of owner or status of a serial range, as a relational interval tree: a
# range [start, end] sits at its fork node (level = bit length of start XOR end, node =
# start >> level), so "which ranges contain serial s" is one indexed probe per level,
# never a scan of the batch (Kriegel, Pötke, Seidl: Managing intervals efficiently in
# object-relational databases, VLDB 2000).
serial_history = sa.Table(
    "serial_history",
    metadata,
    sa.Column("batch_id", sa.String(120), primary_key=True),
    sa.Column("stamp", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("serial_start", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("serial_end", sa.BigInteger, nullable=False),
    sa.Column("fork_level", sa.SmallInteger, nullable=False),
    sa.Column("fork_node", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(12), nullable=False),  # issued, transferred, retired, ...
    sa.Column("party_id", sa.String(64), nullable=False),  # who holds it after the change
    sa.Column("counterparty_id", sa.String(64)),  # who it came from, when it moved
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Index("serial_history_by_start", "batch_id", "fork_level", "fork_node", "serial_start"),
    sa.Index("serial_history_by_end", "batch_id", "fork_level", "fork_node", "serial_end"),
)

# The read models that are functions of the envelope stream. `checkpoints` and
# `witness_cosignatures` are not: they copy other streams (the relay's checkpoints, the
# witnesses' log), so two stores may differ in them by timing.
PUBLIC_TABLES = (
    credit_classes,
    projects,
    class_supply,
    project_supply,
    log_entries,
    merkle_nodes,
    agreement_signatures,
    serial_history,
)
