"""The holdings query a page at a time against one merge of every piece: for any layout of
pieces and any page size, the pages hold exactly the merged blocks, none lost or twice, a
block cut across a page boundary only when it alone has more pieces than a page reads."""

from __future__ import annotations

import itertools

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from projections import tables as t
from projections.holdings import (
    HOLDINGS_PAGE_BLOCKS_MAX,
    SERIAL_MAX,
    Cursor,
    Holding,
    HoldingsPage,
    every_holding,
    holdings,
    page_token,
    parse_page_token,
)
from projections.schema import metadata

PARTY, OTHER = "132071", "131016"
Piece = tuple[str, int, int, str, str]  # batch, start, end, owner, status
COLUMNS = ("batch_id", "serial_start", "serial_end", "owner_id", "status", "stamp")

# Per batch, consecutive pieces (a length and a gap before it) and whose each is: mostly the
# party's tradable ones, so that runs of adjacent pieces make blocks of many pieces.
PIECE = st.tuples(
    st.integers(1, 5),
    st.sampled_from((0, 0, 0, 1, 7)),
    st.sampled_from(((PARTY, "tradable"),) * 4 + ((OTHER, "tradable"), (PARTY, "retired"))),
)
LAYOUT = st.lists(st.lists(PIECE, max_size=25), max_size=4)


def _pieces(layout: list[list[tuple[int, int, tuple[str, str]]]]) -> list[Piece]:
    pieces = []
    for number, batch in enumerate(layout):
        serial = 1
        for length, gap, (owner, status) in batch:
            start = serial + gap
            pieces.append((f"B{number}", start, start + length - 1, owner, status))
            serial = start + length
    return pieces


def _engine(pieces: list[Piece]) -> sa.Engine:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine, tables=[t.serial_ranges])
    if pieces:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(t.serial_ranges),
                [
                    dict(zip(COLUMNS, (*piece, number), strict=True))
                    for number, piece in enumerate(pieces)
                ],
            )
    return engine


def _merged(pieces: list[Piece], owner: str, status: str) -> list[tuple[str, int, int]]:
    """The reference: every piece of the owner and status, adjacent ones joined."""
    blocks: list[tuple[str, int, int]] = []
    for batch_id, start, end, _owner, _status in sorted(
        p for p in pieces if (p[3], p[4]) == (owner, status)
    ):
        if blocks and blocks[-1][0] == batch_id and blocks[-1][2] + 1 == start:
            blocks[-1] = (batch_id, blocks[-1][1], end)
        else:
            blocks.append((batch_id, start, end))
    return blocks


def _pages(
    connection: sa.Connection, status: str, page_blocks: int, extra_pieces: int
) -> list[HoldingsPage]:
    pages, after = [], None
    while True:
        page = holdings(connection, PARTY, status, after, page_blocks, extra_pieces)
        pages.append(page)
        if page.next_after is None:
            return pages
        assert page.next_after > (after or ("", -1)), "a cursor moves forward"
        after = page.next_after


def _adjacent(first: Holding, then: Holding) -> bool:
    return first.batch_id == then.batch_id and first.serial_end + 1 == then.serial_start


def _joined(pages: list[HoldingsPage]) -> list[tuple[str, int, int]]:
    blocks: list[tuple[str, int, int]] = []
    previous: Holding | None = None
    for block in (block for page in pages for block in page.blocks):
        if previous is not None and _adjacent(previous, block):
            blocks[-1] = (block.batch_id, blocks[-1][1], block.serial_end)
        else:
            blocks.append((block.batch_id, block.serial_start, block.serial_end))
        previous = block
    return blocks


def _pieces_in(pieces: list[Piece], block: Holding) -> int:
    return sum(
        1
        for batch_id, start, end, owner, status in pieces
        if (batch_id, owner, status) == (block.batch_id, PARTY, block.status)
        and block.serial_start <= start <= block.serial_end
    )


@settings(max_examples=300, deadline=None)
@given(layout=LAYOUT, page_blocks=st.integers(1, 6), extra_pieces=st.integers(0, 4))
def test_pages_hold_exactly_the_merged_blocks_whatever_the_layout_and_page_size(
    layout: list[list[tuple[int, int, tuple[str, str]]]], page_blocks: int, extra_pieces: int
) -> None:
    pieces = _pieces(layout)
    engine = _engine(pieces)
    with engine.connect() as connection:
        for status in ("tradable", "retired"):
            expected = _merged(pieces, PARTY, status)
            pages = _pages(connection, status, page_blocks, extra_pieces)
            assert _joined(pages) == expected
            assert [
                (h.batch_id, h.serial_start, h.serial_end)
                for h in every_holding(connection, PARTY, status)
            ] == expected
            for page, following in itertools.pairwise(pages):
                assert 0 < len(page.blocks) <= page_blocks
                assert page.next_after == (page.blocks[-1].batch_id, page.blocks[-1].serial_end)
                if _adjacent(page.blocks[-1], following.blocks[0]):
                    # Cut only when one block alone fills what a page may read.
                    assert len(page.blocks) == 1
                    assert _pieces_in(pieces, page.blocks[0]) == page_blocks + extra_pieces
            assert len(pages[-1].blocks) <= page_blocks
            whole = holdings(connection, PARTY, status, None, HOLDINGS_PAGE_BLOCKS_MAX)
            assert [(h.batch_id, h.serial_start, h.serial_end) for h in whole.blocks] == expected
    engine.dispose()


def test_a_block_across_the_page_boundary_is_read_whole_on_the_next_page_or_in_parts() -> None:
    # B0: 1-2 alone, then 4-9 in three adjacent pieces (one block), then 11-11 alone.
    pieces: list[Piece] = [
        ("B0", 1, 2, PARTY, "tradable"),
        ("B0", 4, 5, PARTY, "tradable"),
        ("B0", 6, 7, PARTY, "tradable"),
        ("B0", 8, 9, PARTY, "tradable"),
        ("B0", 11, 11, PARTY, "tradable"),
    ]
    engine = _engine(pieces)

    def page(after: Cursor | None, page_blocks: int, extra: int) -> tuple[object, ...]:
        found = holdings(connection, PARTY, "tradable", after, page_blocks, extra)
        return tuple((h.serial_start, h.serial_end) for h in found.blocks), found.next_after

    with engine.connect() as connection:
        # Room for two pieces: the block of three goes on past them, so it is left whole to
        # the next page, which reads it in parts, as the only block there is room for.
        assert page(None, 2, 0) == (((1, 2),), ("B0", 2))
        assert page(("B0", 2), 2, 0) == (((4, 7),), ("B0", 7))
        assert page(("B0", 7), 2, 0) == (((8, 9), (11, 11)), None)
        # Room for four pieces: two whole blocks, the page full.
        assert page(None, 2, 2) == (((1, 2), (4, 9)), ("B0", 9))
        assert page(("B0", 9), 2, 2) == (((11, 11),), None)
        # Exactly full at the last piece: no page after it.
        assert page(None, 3, 2) == (((1, 2), (4, 9), (11, 11)), None)
    engine.dispose()


def test_a_party_with_nothing_has_one_empty_last_page() -> None:
    engine = _engine([("B0", 1, 5, OTHER, "tradable")])
    with engine.connect() as connection:
        assert holdings(connection, PARTY) == HoldingsPage((), None)
        assert list(every_holding(connection, PARTY)) == []
    engine.dispose()


@pytest.mark.parametrize("page_blocks", [0, -1, HOLDINGS_PAGE_BLOCKS_MAX + 1])
def test_a_page_size_out_of_bounds_is_refused(page_blocks: int) -> None:
    engine = _engine([])
    with engine.connect() as connection, pytest.raises(ValueError, match="1 to 1000 blocks"):
        holdings(connection, PARTY, "tradable", None, page_blocks)
    engine.dispose()


def test_a_page_token_is_the_cursor_and_back() -> None:
    assert page_token(None) == "" and parse_page_token("") is None
    for cursor in (("JVER-IWAIZUMI01-20110401-20120331-001", 30_000), ("a:b", 0)):
        assert parse_page_token(page_token(cursor)) == cursor
    assert parse_page_token(f"B:{SERIAL_MAX}") == ("B", SERIAL_MAX)


BAD_TOKENS = ["nonsense", ":12", "B:", "B:-1", "B:+1", "B:1.5", "B: 1", "B:\u0663"]
BAD_TOKENS += [f"B:{SERIAL_MAX + 1}", "B:" + "9" * 5_000]


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_a_token_it_could_not_have_written_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="BATCH:SERIAL"):
        parse_page_token(token)
