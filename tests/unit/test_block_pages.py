"""Joining paged blocks: cut any list of disjoint blocks into pieces at random serials and
into pages at random places, and joining the pages gives the blocks back, each once."""

from __future__ import annotations

import itertools
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from registry.support.block_pages import joined_pages


class Block(NamedTuple):
    batch_id: str
    serial_start: int
    serial_end: int


def join(first: Block, then: Block) -> Block:
    return Block(first.batch_id, first.serial_start, then.serial_end)


# Per batch: (length, gap before) of each block; a gap of 0 would make two blocks one.
BLOCKS = st.lists(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 3)), max_size=6), max_size=3)


def blocks_of(layout: list[list[tuple[int, int]]]) -> list[Block]:
    blocks = []
    for index, lengths in enumerate(layout):
        serial = 0
        for length, gap in lengths:
            serial += gap
            blocks.append(Block(f"B{index}", serial, serial + length - 1))
            serial += length
    return blocks


@given(BLOCKS, st.data())
def test_pages_of_cut_blocks_join_to_the_blocks(
    layout: list[list[tuple[int, int]]], data: st.DataObject
) -> None:
    blocks = blocks_of(layout)
    parts: list[Block] = []
    for block in blocks:  # each block cut at some of its serials, as a page boundary does
        inner = range(block.serial_start + 1, block.serial_end + 1)
        cuts = sorted(data.draw(st.sets(st.sampled_from(inner), max_size=3)) if inner else ())
        starts = [block.serial_start, *cuts]
        ends = [cut - 1 for cut in cuts] + [block.serial_end]
        parts.extend(Block(block.batch_id, s, e) for s, e in zip(starts, ends, strict=True))
    boundaries = sorted(data.draw(st.sets(st.integers(0, len(parts)), max_size=len(parts) + 1)))
    edges = [0, *boundaries, len(parts)]
    pages = [parts[a:b] for a, b in itertools.pairwise(edges)]
    assert list(joined_pages(pages, join)) == blocks


def test_blocks_in_other_batches_or_with_a_gap_stay_apart() -> None:
    pages = [[Block("A", 1, 5)], [Block("B", 6, 9)], [Block("B", 11, 12)], [Block("B", 13, 13)]]
    assert list(joined_pages(pages, join)) == [
        Block("A", 1, 5),
        Block("B", 6, 9),
        Block("B", 11, 13),
    ]
    assert list(joined_pages([], join)) == []
    assert list(joined_pages([[], []], join)) == []
