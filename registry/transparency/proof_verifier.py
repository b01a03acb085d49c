#!/usr/bin/env python3
"""Standalone verifier for credit-registry proofs. Depends on nothing of the registry: only
the Python standard library, plus `cryptography` to check the registry's checkpoint
signature. Copy this one file anywhere.

    python3 proof_verifier.py PROOF.json REGISTRY_PUBLIC_KEY_HEX [--witness-key HEX ...]

An inclusion proof shows that one sealed envelope (for example a retirement, for its
beneficiary) is in the log at a signed checkpoint; a consistency proof shows that a later
checkpoint extends an earlier one (the log was only appended to). Algorithms: RFC 9162,
sections 2.1.3.2 and 2.1.4.2.

A document may carry witnesses' cosignatures of the checkpoint it is against (the new one
of a consistency proof): independent parties that replayed the log themselves and vouch
that this checkpoint extends every one they cosigned before, so the registry cannot show
them one history and the reader another. Each is listed, valid or not; with --witness-key
the proof is valid only if each of those witnesses cosigned, validly."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys


def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def checkpoint_message(tree_size: int, root: bytes) -> bytes:
    return f"credit-registry checkpoint v1\n{tree_size}\n{root.hex()}\n".encode()


def cosignature_message(
    witness_id: str, witness_public_key: bytes, tree_size: int, root: bytes
) -> bytes:
    """What a witness signs for a checkpoint it verified: its name and key, the size, the root."""
    return (
        f"credit-registry witness cosignature v1\n{witness_id}\n{witness_public_key.hex()}\n"
        f"{tree_size}\n{root.hex()}\n"
    ).encode()


def key_id_of(public_key: bytes) -> str:
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def handover_message(position: int, old_public_key: bytes, new_public_key: bytes) -> bytes:
    """What the outgoing registry key signs to hand over to a new key: the new key seals
    every envelope after `position`."""
    return (
        f"credit-registry registry-key handover v1\n{position}\n"
        f"{old_public_key.hex()}\n{new_public_key.hex()}\n"
    ).encode()


def _signature_verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


def verify_checkpoint(checkpoint: dict, public_key: bytes) -> bool:  # type: ignore[type-arg]
    message = checkpoint_message(checkpoint["tree_size"], bytes.fromhex(checkpoint["root"]))
    return _signature_verifies(public_key, bytes.fromhex(checkpoint["signature"]), message)


def key_for_tree_size(
    handovers: list[dict],  # type: ignore[type-arg]
    pinned_key: bytes,
    tree_size: int,
) -> tuple[bytes | None, str]:
    """The registry key that sealed position `tree_size`, following the handover chain from
    the pinned key; (None, why) when a handover does not verify or the chain is disordered."""
    current, last_position, sealing = pinned_key, 0, pinned_key
    for handover in handovers:
        position = int(handover["effective_after_position"])
        new_key = bytes.fromhex(handover["public_key"])
        if position <= last_position:
            return None, f"the handover at position {position} is out of order"
        signature = bytes.fromhex(handover["handover_signature"])
        if not _signature_verifies(
            current, signature, handover_message(position, current, new_key)
        ):
            return None, f"the handover at position {position} is not signed by the key before it"
        if position < tree_size:
            sealing = new_key
        current, last_position = new_key, position
    return sealing, ""


def _checkpoint_verifies(
    document: dict,  # type: ignore[type-arg]
    checkpoint: dict,  # type: ignore[type-arg]
    pinned_key: bytes,
) -> tuple[bool, str]:
    size = checkpoint["tree_size"]
    key, why = key_for_tree_size(document.get("registry_key_handovers", []), pinned_key, size)
    if key is None:
        return False, why
    if not verify_checkpoint(checkpoint, key):
        return (
            False,
            f"checkpoint {size} does not verify under the registry key for position {size}",
        )
    return True, ""


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, path: list[bytes], root: bytes
) -> bool:
    if index >= tree_size:
        return False
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    size1: int, size2: int, root1: bytes, root2: bytes, path: list[bytes]
) -> bool:
    if size1 > size2:
        return False
    if size1 == size2:
        return not path and root1 == root2
    if size1 == 0:
        return not path
    if not path:
        return False
    if size1 & (size1 - 1) == 0:  # a power of two: the old root is the first node
        path = [root1, *path]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


def verify_proof_document(document: dict, public_key: bytes) -> tuple[bool, str]:  # type: ignore[type-arg]
    """Checks a proof file as written by `credit-registry prove`."""
    if document["kind"] == "inclusion":
        checkpoint = document["checkpoint"]
        ok, why = _checkpoint_verifies(document, checkpoint, public_key)
        if not ok:
            return False, why
        leaf = _leaf(bytes.fromhex(document["sealed_envelope"]))
        path = [bytes.fromhex(h) for h in document["path"]]
        ok = verify_inclusion(
            leaf,
            document["position"] - 1,
            checkpoint["tree_size"],
            path,
            bytes.fromhex(checkpoint["root"]),
        )
        where = f"position {document['position']} in the log of {checkpoint['tree_size']} envelopes"
        return ok, (f"included: {where}" if ok else f"NOT included: {where}")
    if document["kind"] == "consistency":
        old, new = document["old"], document["new"]
        for checkpoint in (old, new):
            ok, why = _checkpoint_verifies(document, checkpoint, public_key)
            if not ok:
                return False, why
        path = [bytes.fromhex(h) for h in document["path"]]
        ok = verify_consistency(
            old["tree_size"],
            new["tree_size"],
            bytes.fromhex(old["root"]),
            bytes.fromhex(new["root"]),
            path,
        )
        what = f"checkpoint {new['tree_size']} extends checkpoint {old['tree_size']}"
        return ok, (f"consistent: {what}" if ok else f"INCONSISTENT: not true that {what}")
    return False, f"unknown proof kind {document['kind']!r}"


def cosigned_checkpoint(document: dict) -> dict:  # type: ignore[type-arg]
    """The checkpoint a document's witness cosignatures are for."""
    key = "new" if document.get("kind") == "consistency" else "checkpoint"
    return document.get(key) or {"tree_size": 0, "root": ""}


def witness_cosignatures(document: dict) -> list[tuple[str, bytes, bool]]:  # type: ignore[type-arg]
    """(witness id, public key, valid) for each cosignature the document carries; none in
    documents written before witnesses. A malformed entry is listed as not valid."""
    checkpoint = cosigned_checkpoint(document)
    size, root = int(checkpoint["tree_size"]), bytes.fromhex(checkpoint["root"])
    found = []
    for cosignature in document.get("witness_cosignatures", []):
        try:
            witness_id = str(cosignature["witness_id"])
            public_key = bytes.fromhex(cosignature["public_key"])
            signature = bytes.fromhex(cosignature["signature"])
        except (KeyError, TypeError, ValueError, AttributeError):
            found.append(("(malformed)", b"", False))
            continue
        message = cosignature_message(witness_id, public_key, size, root)
        found.append((witness_id, public_key, _signature_verifies(public_key, signature, message)))
    return found


def check_witnesses(
    document: dict,  # type: ignore[type-arg]
    required_keys: list[bytes],
) -> tuple[bool, list[str]]:
    """Whether every required witness key validly cosigned, and one line per cosignature."""
    size = cosigned_checkpoint(document)["tree_size"]
    found = witness_cosignatures(document)
    lines = [f"witnesses: {len(found)} cosignature(s) of checkpoint {size}"]
    for witness_id, public_key, valid in found:
        verdict = "valid" if valid else "INVALID: the cosignature does not verify"
        lines.append(f"  {witness_id} {key_id_of(public_key)} ({public_key.hex()}): {verdict}")
    ok = True
    for required in required_keys:
        if not any(valid and key == required for _id, key, valid in found):
            ok = False
            lines.append(
                f"  required witness {key_id_of(required)} has no valid cosignature "
                f"of checkpoint {size}"
            )
    return ok, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="proof_verifier.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("proof", help="a proof document (JSON)")
    parser.add_argument(
        "registry_public_key", help="hex: the key the registry's history starts from"
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        default=[],
        metavar="HEX",
        help="require a valid cosignature by this witness key (repeat for several)",
    )
    arguments = parser.parse_args(argv)
    with open(arguments.proof, encoding="utf-8") as file:
        document = json.load(file)
    ok, message = verify_proof_document(document, bytes.fromhex(arguments.registry_public_key))
    witnessed, lines = check_witnesses(
        document, [bytes.fromhex(key) for key in arguments.witness_key]
    )
    if ok and not witnessed:
        ok, message = False, f"a required witness did not cosign ({message})"
    print(("VALID: " if ok else "INVALID: ") + message)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
