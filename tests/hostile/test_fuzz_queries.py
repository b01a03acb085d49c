"""Every QueryService RPC and the ExchangeService reads fuzzed through a real server:
hostile ids, statuses, limits, page tokens and positions. A read answers or refuses with a
check code, never records anything, and a stream returns exactly the envelopes after its
position."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from projections.holdings import HOLDINGS_PAGE_BLOCKS_MAX, parse_page_token
from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.domain.checks import CheckCode
from tests.hostile.conftest import AGREEMENT, HostileWorld
from tests.hostile.harness import (
    CALL_TIMEOUT_S,
    EXAMPLES_PER_RPC,
    FUZZ,
    Tally,
    serving,
    store_head,
)
from tests.hostile.strategies import INT32, hostile_int, hostile_text

STATUSES = ("tradable", "pending", "retired", "cancelled")


def requests(hostile: HostileWorld, rpc: str) -> SearchStrategy[Any]:
    vocabulary = hostile.vocabulary
    head = store_head(hostile.server)
    # Positions past the head would make a read wait for its deadline: tested on their own.
    min_position = st.one_of(st.integers(0, head), st.integers(-(2**63), 0))
    after = hostile_int(typical=(0, head + 2))
    party = hostile_text(vocabulary.parties)
    builders: dict[str, SearchStrategy[Any]] = {
        "GetBalance": st.builds(pb.BalanceRequest, party_id=party, min_position=min_position),
        "GetHoldings": st.builds(
            pb.HoldingsRequest,
            party_id=party,
            status=hostile_text(STATUSES),
            limit=hostile_int(INT32, (0, 100)),
            min_position=min_position,
            page_size=hostile_int(INT32, (0, 100)),
            page_token=hostile_text([f"{b}:{n}" for b in vocabulary.batches for n in (0, 900)]),
        ),
        "GetBatch": st.builds(
            pb.BatchRequest, batch_id=hostile_text(vocabulary.batches), min_position=min_position
        ),
        "ListRetirements": st.builds(
            pb.RetirementsRequest,
            holder_id=party,
            beneficiary_party_id=party,
            after_position=after,
            limit=hostile_int(INT32, (0, 100)),
            min_position=min_position,
        ),
        "GetAllocation": st.builds(pb.AllocationRequest, min_position=min_position),
        "StreamEvents": st.builds(
            pb.StreamEventsRequest, after_position=after, follow=st.booleans()
        ),
        "WatchAgreement": st.builds(
            pb.WatchAgreementRequest,
            agreement_id=hostile_text(vocabulary.agreements),
            after_position=after,
            follow=st.booleans(),
        ),
        "GetStatement": st.builds(
            pb.StatementRequest,
            agreement_id=hostile_text(vocabulary.agreements),
            fiscal_year=hostile_int(INT32, (2_005, 2_030)),
            min_position=min_position,
        ),
        "ListDeliveries": st.builds(
            pb.DeliveriesRequest,
            party_id=st.one_of(st.just(""), party),
            agreement_id=st.one_of(st.just(""), hostile_text(vocabulary.agreements)),
            due_only=st.booleans(),
            after_position=after,
            limit=hostile_int(INT32, (0, 100)),
            min_position=min_position,
        ),
    }
    return builders[rpc]


def _holdings_request_valid(request: pb.HoldingsRequest) -> bool:
    page_blocks = request.page_size or request.limit  # limit: the old name of page_size
    try:
        parse_page_token(request.page_token)
    except ValueError:
        return False
    return request.status in ("", *STATUSES) and 0 <= page_blocks <= HOLDINGS_PAGE_BLOCKS_MAX


def expected_refusal(rpc: str, request: Any) -> CheckCode | None:
    if rpc == "GetHoldings" and not _holdings_request_valid(request):
        return CheckCode.MALFORMED_COMMAND
    if rpc == "GetBatch":
        return CheckCode.UNKNOWN_BATCH  # when refused: the only reason a batch read fails
    if rpc == "GetStatement":
        return CheckCode.UNKNOWN_AGREEMENT
    return None


def read_stream(method: Callable[..., Any], request: Any, expected: list[int]) -> list[int]:
    """A stream that follows never ends: take what must be there, then cancel it."""
    call = method(request, timeout=CALL_TIMEOUT_S)
    if not request.follow:
        return [record.position for record in call]
    positions = [next(call).position for _ in expected]
    call.cancel()
    return positions


def stream_expectation(
    hostile: HostileWorld, rpc: str, request: Any, watched: list[int]
) -> list[int]:
    after = max(request.after_position, 0)
    if rpc == "StreamEvents":
        return list(range(after + 1, store_head(hostile.server) + 1))
    return (
        [position for position in watched if position > after]
        if (request.agreement_id == AGREEMENT)
        else []
    )


QUERY_RPCS = ("GetBalance", "GetHoldings", "GetBatch", "ListRetirements", "GetAllocation")
EXCHANGE_READS = ("GetStatement", "ListDeliveries")
STREAMS = ("StreamEvents", "WatchAgreement")


@pytest.mark.parametrize("rpc", QUERY_RPCS + EXCHANGE_READS + STREAMS)
def test_fuzzed_read_rpc_answers_cleanly(hostile: HostileWorld, rpc: str) -> None:
    tally = Tally(rpc)
    stub = (
        hostile.client.exchange
        if rpc in ("GetStatement", "ListDeliveries", "WatchAgreement")
        else (hostile.client.queries)
    )
    method = getattr(stub, rpc)
    watched = [
        record.position
        for record in hostile.client.exchange.WatchAgreement(
            pb.WatchAgreementRequest(agreement_id=AGREEMENT), timeout=CALL_TIMEOUT_S
        )
    ]
    head = store_head(hostile.server)

    @FUZZ
    @given(request=requests(hostile, rpc))
    def one_case(request: Any) -> None:
        tally.cases += 1
        try:
            if rpc in STREAMS:
                expected = stream_expectation(hostile, rpc, request, watched)
                assert read_stream(method, request, expected) == expected
            else:
                method(request, timeout=CALL_TIMEOUT_S)
            tally.accept()
        except grpc.RpcError as error:
            code = tally.refuse(error)
            assert code is expected_refusal(rpc, request), (code, request)
        assert store_head(hostile.server) == head, "a read recorded something"

    one_case()
    tally.report()
    assert tally.cases >= EXAMPLES_PER_RPC
    assert serving(hostile.server)


def test_reads_past_the_head_give_up_at_their_deadline(hostile: HostileWorld) -> None:
    """A read-your-writes position that never comes: a clean DEADLINE_EXCEEDED or
    UNAVAILABLE within the caller's deadline, whatever the position."""
    for position in (store_head(hostile.server) + 1, 2**63 - 1):
        with pytest.raises(grpc.RpcError) as caught:
            hostile.client.queries.GetBalance(
                pb.BalanceRequest(party_id="132071", min_position=position), timeout=0.3
            )
        assert caught.value.code() in (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            grpc.StatusCode.UNAVAILABLE,
        )
    assert serving(hostile.server)
