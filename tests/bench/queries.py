"""Query latency on read models of two history sizes (part of section 5), also on its own:

    python -m tests.bench.queries SMALL.sqlite LARGE.sqlite

Each query is timed in a loop of its own, and the balance query once more interleaved with
the holdings query, as a service's mixed traffic runs them: what a holdings query leaves
behind (the rows it allocated, the pages it read) is part of what the next balance query
meets. The holdings query is the call GetHoldings makes by default: the first page at the
default page size, which on the large history's read models is a hundred of the party's
thousands of serial blocks, but on the small one all the few dozen it holds. So the
holdings query is timed once more at a page every member fills at both sizes (the fewest
blocks any member holds in the small history): the same work asked of both histories."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from projections import queries
from projections.holdings import HOLDINGS_PAGE_BLOCKS_DEFAULT
from projections.store import projection_engine
from tests.bench.report import percentile_us
from tests.support.history import MEMBERS

QUERY_SAMPLES = 2_000


def first_holdings_page(
    connection: sa.Connection, party_id: str, page_blocks: int = HOLDINGS_PAGE_BLOCKS_DEFAULT
) -> queries.HoldingsPage:
    return queries.holdings(connection, party_id, "tradable", None, page_blocks)


def equal_page_blocks(projection: Path) -> int:
    """The largest page every member's first page fills (at most the default page)."""
    engine = projection_engine(f"sqlite:///{projection}")
    with engine.connect() as connection:
        fewest = min(len(first_holdings_page(connection, party_id).blocks) for party_id in MEMBERS)
    engine.dispose()
    return max(fewest, 1)


def _timed_us(
    connection: sa.Connection, query: Callable[[sa.Connection, str], object], then: bool
) -> list[float]:
    """`query` for random members; with `then`, each followed (untimed) by a holdings query."""
    rng = random.Random(5)
    latencies_us = []
    for _ in range(QUERY_SAMPLES):
        party_id = rng.choice(MEMBERS)
        started_ns = time.perf_counter_ns()
        query(connection, party_id)
        latencies_us.append((time.perf_counter_ns() - started_ns) / 1_000)
        if then:
            first_holdings_page(connection, party_id)
    return latencies_us


def query_latency_us(projection: Path, page_blocks: int) -> dict[str, float]:
    """p50 and p99 of each query; `page_blocks`, the equal page (`equal_page_blocks`)."""
    engine = projection_engine(f"sqlite:///{projection}")  # as the service queries it
    found: dict[str, float] = {}

    def equal_page(connection: sa.Connection, party_id: str) -> queries.HoldingsPage:
        return first_holdings_page(connection, party_id, page_blocks)

    with engine.connect() as connection:
        for name, query, then in (
            ("balance", queries.balance, False),
            ("holdings", first_holdings_page, False),
            ("holdings_equal_page", equal_page, False),
            ("balance_mixed", queries.balance, True),
        ):
            latencies_us = _timed_us(connection, query, then)
            found[f"{name}_p50_us"] = percentile_us(latencies_us, 50)
            found[f"{name}_p99_us"] = percentile_us(latencies_us, 99)
    engine.dispose()
    return found


def main() -> None:
    page_blocks = equal_page_blocks(Path(sys.argv[1]))
    print(f"equal page: {page_blocks} blocks")
    small, large = (query_latency_us(Path(argument), page_blocks) for argument in sys.argv[1:3])
    for key in small:
        print(f"{key:22} {small[key]:10,.0f} {large[key]:10,.0f}  x{large[key] / small[key]:.2f}")


if __name__ == "__main__":
    main()
