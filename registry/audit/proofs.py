"""Inclusion and consistency proofs as JSON documents that `proof_verifier.py` checks with
nothing but the registry's public key: the key the history starts from. After rotations a
document carries the handovers from that key to the key of its checkpoints. Every document
lists the witnesses' valid cosignatures of the checkpoint it is against (the new one of a
consistency proof) as the source holds them; readers choose which witnesses they trust."""

from __future__ import annotations

from typing import Any

from registry.audit.sources import Broken, Source
from registry.envelope.codec import Codec
from registry.envelope.sealing import OpenedEnvelope
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.merkle import consistency_proof, inclusion_proof, leaf_hash
from registry.transparency.registry_keys import Handover, handover_in
from registry.transparency.witnessing import cosignatures_of


class _Handovers:
    """The handovers met while reading the log for a proof."""

    def __init__(self) -> None:
        self.codec = Codec()
        self.found: list[Handover] = []

    def note(self, envelope: OpenedEnvelope) -> None:
        handover = handover_in(self.codec, envelope)
        if handover is not None:
            self.found.append(handover)

    def fields(self, tree_size: int) -> dict[str, Any]:
        """The chain a verifier needs for a checkpoint of `tree_size`; nothing without one."""
        chain = [h.to_json() for h in self.found if h.position < tree_size]
        return {"registry_key_handovers": chain} if chain else {}


def _leaves(source: Source, up_to: int, handovers: _Handovers) -> list[bytes]:
    """Leaf hashes 1..up_to (32 bytes each: a million envelopes is 32 MB)."""
    hashes: list[bytes] = []
    for item in source.items():
        if isinstance(item, Broken):
            raise ValueError(
                f"cannot prove over a broken log: position {item.position}: {item.reason}"
            )
        hashes.append(leaf_hash(item.sealed_bytes))
        handovers.note(item)
        if len(hashes) == up_to:
            break
    if len(hashes) < up_to:
        raise ValueError(f"the log has {len(hashes)} envelopes, fewer than {up_to}")
    return hashes


def _witness_fields(source: Source, checkpoint: Checkpoint) -> dict[str, Any]:
    found = cosignatures_of(source.witness_records, checkpoint)
    return {"witness_cosignatures": [cosignature.proof_entry() for cosignature in found]}


def _checkpoint(source: Source, tree_size: int | None, at_least: int) -> Checkpoint:
    candidates = [
        c
        for c in source.checkpoints
        if c.tree_size >= at_least and (tree_size is None or c.tree_size == tree_size)
    ]
    if not candidates:
        raise ValueError(
            f"no signed checkpoint covers position {at_least}; record one with 'credit-registry checkpoint'"
        )
    return candidates[0] if tree_size is not None else candidates[-1]


def inclusion_document(
    source: Source, position: int, tree_size: int | None = None
) -> dict[str, Any]:
    return inclusion_documents(source, [position], tree_size)[position]


def consistency_document(source: Source, old_size: int, new_size: int) -> dict[str, Any]:
    old = _checkpoint(source, old_size, old_size)
    new = _checkpoint(source, new_size, new_size)
    handovers = _Handovers()
    hashes = _leaves(source, new.tree_size, handovers)
    return {
        "kind": "consistency",
        "old": old.to_json(),
        "new": new.to_json(),
        "path": [h.hex() for h in consistency_proof(hashes, old.tree_size)],
        **handovers.fields(new.tree_size),
        **_witness_fields(source, new),
    }


def inclusion_documents(
    source: Source, positions: list[int], tree_size: int | None = None
) -> dict[int, dict[str, Any]]:
    """Inclusion proofs for many positions at one checkpoint (default: the latest), reading the log once."""
    checkpoint = _checkpoint(source, tree_size, max(positions))
    wanted = set(positions)
    sealed: dict[int, bytes] = {}
    hashes: list[bytes] = []
    handovers = _Handovers()
    for item in source.items():
        if isinstance(item, Broken):
            raise ValueError(
                f"cannot prove over a broken log: position {item.position}: {item.reason}"
            )
        hashes.append(leaf_hash(item.sealed_bytes))
        handovers.note(item)
        if item.body.position in wanted:
            sealed[item.body.position] = item.sealed_bytes
        if len(hashes) == checkpoint.tree_size:
            break
    witnessed = _witness_fields(source, checkpoint)
    return {
        position: {
            "kind": "inclusion",
            "position": position,
            "sealed_envelope": sealed[position].hex(),
            "path": [h.hex() for h in inclusion_proof(hashes, position - 1)],
            "checkpoint": checkpoint.to_json(),
            **handovers.fields(checkpoint.tree_size),
            **witnessed,
        }
        for position in positions
    }
