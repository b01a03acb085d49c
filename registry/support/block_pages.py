"""Serial blocks read a page at a time, joined again where a page cut one: the service's
holdings query and its gRPC client both page, and both give callers whole blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar


class SerialBlock(Protocol):
    """What joining needs of a block: a read model row and a protobuf message both have it."""

    @property
    def batch_id(self) -> str: ...

    @property
    def serial_start(self) -> int: ...

    @property
    def serial_end(self) -> int: ...


Block = TypeVar("Block", bound=SerialBlock)


def joined_pages(
    pages: Iterable[Iterable[Block]], join: Callable[[Block, Block], Block]
) -> Iterator[Block]:
    """Every block of `pages` in order; two that touch (one batch, the serials run on) are
    one block cut by a page boundary, given as `join(first, then)`. Within a page blocks
    never touch, so only a page's first block is ever joined."""
    pending: Block | None = None
    for page in pages:
        for block in page:
            if pending is not None and _continues(pending, block):
                pending = join(pending, block)
                continue
            if pending is not None:
                yield pending
            pending = block
    if pending is not None:
        yield pending


def _continues(block: SerialBlock, then: SerialBlock) -> bool:
    return block.batch_id == then.batch_id and block.serial_end + 1 == then.serial_start
