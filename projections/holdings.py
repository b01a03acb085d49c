"""A party's serial blocks of one status, a keyset page at a time: pieces of the read
model (serial_ranges, last-writer-wins, so finer than holdings) merged where adjacent.

A page reads at most `page_blocks + extra_pieces + 1` pieces through the index
serial_ranges_by_owner (owner_id, status, batch_id, serial_start), so it costs the same
whatever the party holds. The cursor is the last serial of the page's last block: the next
page starts with the first piece after it. A page ends on a whole block, except when one
block alone has more pieces than a page may read: then it comes in parts, each page's part
ending where the next page's begins (`every_holding` joins them again)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Holding:
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
    r = t.serial_ranges.c
    query = sa.select(r.batch_id, r.serial_start, r.serial_end).where(
        r.owner_id == party_id, r.status == status
    )
    if after is not None:
        query = query.where(
            sa.tuple_(r.batch_id, r.serial_start) > sa.tuple_(*(sa.literal(v) for v in after))
        )
    # One piece past the budget, only looked at: it tells whether the last block goes on.
    query = query.order_by(r.batch_id, r.serial_start).limit(pieces_max + 1)
    merged: list[Holding] = []
    with connection.execute(query) as rows:
        for pieces, (batch_id, start, end) in enumerate(rows):
            last = merged[-1] if merged else None
            continues = (
                last is not None and last.batch_id == batch_id and last.serial_end + 1 == start
            )
            if pieces == pieces_max:
                return _cut(merged, open_ended=continues)
            if last is not None and continues:
                merged[-1] = Holding(batch_id, last.serial_start, end, status)
            elif len(merged) == page_blocks:
                return _cut(merged, open_ended=False)
            else:
                merged.append(Holding(batch_id, start, end, status))
    return HoldingsPage(tuple(merged), None)


def _cut(merged: list[Holding], open_ended: bool) -> HoldingsPage:
    """The page when more follows. A last block that goes on past the pieces read is left
    to the next page, which starts with it, unless it is the page's only block: then this
    page gives its first part."""
    if open_ended and len(merged) > 1:
        merged = merged[:-1]
    last = merged[-1]
    return HoldingsPage(tuple(merged), (last.batch_id, last.serial_end))


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
