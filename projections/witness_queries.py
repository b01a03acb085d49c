"""The public view's question about witnesses: who cosigned a checkpoint (the rows
projections/witnesses.py copies from the witness log)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from projections.public_tables import witness_cosignatures as rows_table
from registry.transparency.checkpoints import Checkpoint


@dataclass(frozen=True)
class WitnessView:
    witness_id: str
    key_id: str
    public_key: bytes
    signature: bytes

    def proof_entry(self) -> dict[str, str]:
        """As proof documents list a cosignature (see proof_verifier.py)."""
        return {
            "witness_id": self.witness_id,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }


def cosignatures(connection: sa.Connection, checkpoint: Checkpoint) -> list[WitnessView]:
    """The witnesses that cosigned exactly this checkpoint (its size and root), by name."""
    c = rows_table.c
    rows = connection.execute(
        sa.select(c.witness_id, c.witness_key_id, c.public_key, c.signature)
        .where(c.tree_size == checkpoint.tree_size, c.root == checkpoint.root)
        .order_by(c.witness_id, c.witness_key_id)
    ).all()
    return [
        WitnessView(row.witness_id, row.witness_key_id, bytes(row.public_key), bytes(row.signature))
        for row in rows
    ]
