"""A party's serial blocks of one status, a keyset page at a time: pieces of the read
model (serial_ranges, last-writer-wins, so finer than holdings) merged where adjacent.

A page reads at most `page_blocks + extra_pieces + 1` pieces through the index
serial_ranges_by_owner (owner_id, status, batch_id, serial_start), so it costs the same
whatever the party holds. The cursor is the last serial of the page's last block: the next
page starts with the first piece after it. A page ends on a whole block, except when one
block alone has more pieces than a page may read: then it comes in parts, each page's part
ending where the next page's begins (`every_holding` joins them again)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import sqlalchemy as sa

from projections import tables as t
from registry.support.block_pages import joined_pages

HOLDINGS_PAGE_BLOCKS_DEFAULT = 100
HOLDINGS_PAGE_BLOCKS_MAX = 1_000
# Pieces a page may read beyond one per block, to merge adjacent ones. In the benchmark's
# million-event history a block has at most 17 pieces; one has more than this only when,
# say, a party retired a thousand single kilograms in a row.
HOLDINGS_EXTRA_PIECES_MAX = 1_000
SERIAL_MAX = 2**63 - 1  # BIGINT

Cursor = tuple[str, int]  # (batch_id, the last serial of the last block shown)


class Holding(NamedTuple):
    # A tuple, not a frozen dataclass: a page makes up to a thousand, and a tuple is made
    # in 0.55 µs against 1.3.
    batch_id: str
    serial_start: int
    serial_end: int
    status: str

    @property
    def quantity_kg(self) -> int:
        return self.serial_end - self.serial_start + 1


@dataclass(frozen=True)
class HoldingsPage:
    blocks: tuple[Holding, ...]
    next_after: Cursor | None  # None: this is the last page


def holdings(
    connection: sa.Connection,
    party_id: str,
    status: str = "tradable",
    after: Cursor | None = None,
    page_blocks: int = HOLDINGS_PAGE_BLOCKS_DEFAULT,
    extra_pieces: int = HOLDINGS_EXTRA_PIECES_MAX,
) -> HoldingsPage:
    """Up to `page_blocks` of the party's blocks after `after`, by batch and serial."""
    if not 0 < page_blocks <= HOLDINGS_PAGE_BLOCKS_MAX:
        raise ValueError(f"a page holds 1 to {HOLDINGS_PAGE_BLOCKS_MAX} blocks, not {page_blocks}")
    if not 0 <= extra_pieces <= HOLDINGS_EXTRA_PIECES_MAX:
        raise ValueError(f"0 to {HOLDINGS_EXTRA_PIECES_MAX} extra pieces, not {extra_pieces}")
    pieces_max = page_blocks + extra_pieces
    parameters: dict[str, object] = {"owner": party_id, "status": status}
    if after is not None:
        parameters["after_batch"], parameters["after_serial"] = after
    # One piece past the budget, only looked at: it tells whether the last block goes on.
    parameters["limit"] = pieces_max + 1
    with connection.execute(_page_query(after is not None), parameters) as rows:
        blocks = _merged(rows.tuples(), page_blocks, pieces_max)
    return HoldingsPage(tuple(Holding(b, s, e, status) for b, s, e in blocks.blocks), blocks.next)


@cache
def _page_query(after: bool) -> sa.TextClause:
    """Written once as text: building the expression on every call cost more than the page
    (a first page of 8 blocks took 223 µs that way, 84 µs this way)."""
    r = t.serial_ranges
    seek = " AND (batch_id, serial_start) > (:after_batch, :after_serial)" if after else ""
    return sa.text(
        f"SELECT batch_id, serial_start, serial_end FROM {r.name} "
        f"WHERE owner_id = :owner AND status = :status{seek} "
        "ORDER BY batch_id, serial_start LIMIT :limit"
    )


Block = tuple[str, int, int]  # batch, first serial, last serial


@dataclass(frozen=True)
class _Merged:
    blocks: list[Block]
    next: Cursor | None


def _merged(pieces: Iterable[Block], page_blocks: int, pieces_max: int) -> _Merged:
    """Adjacent pieces merged into at most `page_blocks` blocks, reading at most
    `pieces_max` pieces (and looking at one more)."""
    blocks: list[Block] = []
    batch: str | None = None  # the block being merged
    start = end = 0
    for count, (piece_batch, piece_start, piece_end) in enumerate(pieces):
        continues = piece_batch == batch and end + 1 == piece_start
        if count == pieces_max:
            if batch is None:  # pieces_max is at least 1: a block is open by now
                raise ValueError(f"no block open after {count} pieces")
            blocks.append((batch, start, end))
            return _cut(blocks, open_ended=continues)
        if continues:
            end = piece_end
            continue
        if batch is not None:
            blocks.append((batch, start, end))
            if len(blocks) == page_blocks:
                return _cut(blocks, open_ended=False)
        batch, start, end = piece_batch, piece_start, piece_end
    if batch is not None:
        blocks.append((batch, start, end))
    return _Merged(blocks, None)


def _cut(blocks: list[Block], open_ended: bool) -> _Merged:
    """The page when more follows. A last block that goes on past the pieces read is left
    to the next page, which starts with it, unless it is the page's only block: then this
    page gives its first part."""
    if open_ended and len(blocks) > 1:
        blocks.pop()
    batch_id, _, last_serial = blocks[-1]
    return _Merged(blocks, (batch_id, last_serial))


def every_holding(
    connection: sa.Connection, party_id: str, status: str = "tradable"
) -> Iterator[Holding]:
    """Every block of the party, page by page, a block split across pages joined again: for
    checks and tools over a whole history, never for one request."""

    def join(first: Holding, then: Holding) -> Holding:
        return Holding(first.batch_id, first.serial_start, then.serial_end, status)

    return joined_pages(_pages(connection, party_id, status), join)


def _pages(connection: sa.Connection, party_id: str, status: str) -> Iterator[tuple[Holding, ...]]:
    after: Cursor | None = None
    while True:
        page = holdings(connection, party_id, status, after, HOLDINGS_PAGE_BLOCKS_MAX)
        yield page.blocks
        if page.next_after is None:
            return
        after = page.next_after


def page_token(after: Cursor | None) -> str:
    """The cursor as a request carries it, `BATCH:SERIAL`; empty for none."""
    return "" if after is None else f"{after[0]}:{after[1]}"


def parse_page_token(token: str) -> Cursor | None:
    """`page_token`'s inverse; ValueError for anything it could not have written."""
    if not token:
        return None
    batch_id, _, serial = token.rpartition(":")
    digits = serial.isascii() and serial.isdigit() and len(serial) <= len(str(SERIAL_MAX))
    if not batch_id or not digits or int(serial) > SERIAL_MAX:
        raise ValueError("a page token is BATCH:SERIAL, as next_page_token gave it")
    return batch_id, int(serial)
