from hypothesis import given
from hypothesis import strategies as st

from registry.transparency.merkle import (
    CompactTree,
    consistency_proof,
    consistency_proof_extending,
    inclusion_proof,
    leaf_hash,
    root_of,
)
from registry.transparency.proof_verifier import verify_consistency, verify_inclusion

leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


def test_known_shapes() -> None:
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    from registry.transparency.merkle import node_hash

    assert root_of([a, b, c]) == node_hash(node_hash(a, b), c)
    assert inclusion_proof([a, b, c], 2) == [node_hash(a, b)]
    assert inclusion_proof([a, b, c], 0) == [b, c]


@given(leaves)
def test_compact_tree_matches_the_recursive_definition(data: list[bytes]) -> None:
    tree = CompactTree()
    hashes = [leaf_hash(item) for item in data]
    for count, each in enumerate(hashes, start=1):
        tree.append(each)
        assert tree.root() == root_of(hashes[:count])


@given(leaves, st.data())
def test_inclusion_proofs_verify_and_reject_the_wrong_leaf(
    data: list[bytes], draw: st.DataObject
) -> None:
    hashes = [leaf_hash(item) for item in data]
    index = draw.draw(st.integers(0, len(hashes) - 1))
    proof = inclusion_proof(hashes, index)
    root = root_of(hashes)
    assert verify_inclusion(hashes[index], index, len(hashes), proof, root)
    assert not verify_inclusion(leaf_hash(b"forged" + data[index]), index, len(hashes), proof, root)
    if len(hashes) > 1:
        assert (
            not verify_inclusion(hashes[index], (index + 1) % len(hashes), len(hashes), proof, root)
            or hashes[index] == hashes[(index + 1) % len(hashes)]
        )


@given(leaves, st.data())
def test_consistency_proofs_verify_and_reject_a_rewritten_prefix(
    data: list[bytes], draw: st.DataObject
) -> None:
    hashes = [leaf_hash(item) for item in data]
    old_size = draw.draw(st.integers(1, len(hashes)))
    proof = consistency_proof(hashes, old_size)
    assert verify_consistency(
        old_size, len(hashes), root_of(hashes[:old_size]), root_of(hashes), proof
    )
    rewritten = [leaf_hash(b"rewritten"), *hashes[1:]]
    if old_size < len(hashes):
        assert not verify_consistency(
            old_size, len(hashes), root_of(rewritten[:old_size]), root_of(hashes), proof
        )


@given(leaves, st.data())
def test_a_consistency_proof_from_the_old_trees_subtree_roots_is_the_full_one(
    data: list[bytes], draw: st.DataObject
) -> None:
    """What a witness computes from the tree it cosigned last and the leaves since: the same
    proof as from every leaf, so any RFC 9162 verifier accepts it."""
    hashes = [leaf_hash(item) for item in data]
    old_size = draw.draw(st.integers(1, len(hashes)))
    old = CompactTree()
    for each in hashes[:old_size]:
        old.append(each)
    proof = consistency_proof_extending(old.snapshot(), hashes[old_size:])
    assert proof == consistency_proof(hashes, old_size)
    assert verify_consistency(old_size, len(hashes), old.root(), root_of(hashes), proof)
