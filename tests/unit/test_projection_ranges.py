import itertools

from hypothesis import given
from hypothesis import strategies as st

from projections.ranges import Piece, apply_ops


def test_later_stamp_wins_and_earlier_fills_gaps() -> None:
    issue = Piece(1, 100, "iwaizumi", "tradable", 10)
    transfer = Piece(1, 30, "akishima", "tradable", 20)
    retire = Piece(1, 12, "akishima", "retired", 30)
    expected = [
        Piece(1, 12, "akishima", "retired", 30),
        Piece(13, 30, "akishima", "tradable", 20),
        Piece(31, 100, "iwaizumi", "tradable", 10),
    ]
    assert apply_ops([], [issue, transfer, retire]) == expected
    assert apply_ops([], [retire, issue, transfer]) == expected  # order does not matter


ops = st.lists(
    st.builds(
        lambda start, length, owner, stamp: Piece(start, start + length, owner, "tradable", stamp),
        st.integers(1, 200),
        st.integers(0, 60),
        st.sampled_from("abc"),
        st.integers(1, 10_000),
    ),
    max_size=25,
    unique_by=lambda piece: piece.stamp,
)


@given(ops, st.randoms())
def test_result_is_independent_of_order(operations: list[Piece], random) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(operations)
    random.shuffle(shuffled)
    result = apply_ops([], operations)
    assert result == apply_ops([], shuffled)
    assert all(a.end < b.start for a, b in itertools.pairwise(result))
    for serial in range(1, 262):  # each serial belongs to the latest op covering it
        covering = [op for op in operations if op.start <= serial <= op.end]
        owners = [p.owner_id for p in result if p.start <= serial <= p.end]
        assert owners == ([max(covering, key=lambda op: op.stamp).owner_id] if covering else [])
