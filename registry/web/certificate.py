"""A retirement's certificate: its inclusion proof in the format `proof_verifier.py` reads
(the leaf is the sealed envelope, the path comes from the read models' Merkle nodes, the
checkpoint is the newest signed one that covers the position, with the witnesses that
cosigned it), and a QR code of its page."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import segno
import sqlalchemy as sa

from projections import merkle
from projections import public_queries as q
from projections import witness_queries as witnesses
from registry.support.presentation import tonnes

QR_CACHE_ENTRIES = 4_096


@dataclass(frozen=True)
class Proof:
    document: dict[str, Any]  # kind, position, sealed_envelope, path, checkpoint, cosignatures
    checkpoint: q.CheckpointView
    witnesses: list[witnesses.WitnessView]


def inclusion(connection: sa.Connection, position: int) -> Proof | None:
    """None while no complete signed checkpoint covers the position."""
    latest = q.latest_checkpoint(connection, covering=position)
    entry = q.log_entry(connection, position)
    if latest is None or entry is None:
        return None
    path = merkle.inclusion_path(connection, position, latest.checkpoint.tree_size)
    if path is None:
        return None
    cosigned = witnesses.cosignatures(connection, latest.checkpoint)
    document = {
        "kind": "inclusion",
        "position": position,
        "sealed_envelope": entry.sealed_envelope.hex(),
        "path": [node.hex() for node in path],
        "checkpoint": latest.checkpoint.to_json(),
        "witness_cosignatures": [view.proof_entry() for view in cosigned],
    }
    return Proof(document, latest, cosigned)


def certificate_document(
    proof: Proof, detail: q.RetirementDetail, page_url: str, registry_key: bytes | None
) -> dict[str, Any]:
    """The proof fields at the top level (what the verifier reads), the retirement beside."""
    retirement = detail.retirement
    return {
        **proof.document,
        "certificate": {
            "title": "Carbon offset retirement certificate",
            "page": page_url,
            "holder": retirement.holder_id,
            "beneficiary": retirement.beneficiary_name,
            "beneficiary_party_id": retirement.beneficiary_party_id,
            "purpose": retirement.purpose,
            "reporting_year": retirement.reporting_year,
            "quantity_kg": retirement.quantity_kg,
            "quantity_t": tonnes(retirement.quantity_kg),
            "serial_ranges": retirement.blocks.split(),
            "memo": retirement.memo,
            "reference": detail.reference,
            "retirement_position": retirement.position,
            "effect_index": detail.effect_index,
            "registry_public_key": registry_key.hex() if registry_key else None,
            "verify_with": "python3 proof_verifier.py <this file> <registry public key> "
            "[--witness-key <a witness's public key> ...]",
        },
    }


@lru_cache(maxsize=QR_CACHE_ENTRIES)
def qr_svg(url: str) -> str:
    """An inline SVG QR code (no script, no image request), medium error correction.
    Cached: a page's address never changes, and encoding is most of a certificate's cost."""
    return str(segno.make(url, error="m").svg_inline(scale=4, title=url))
