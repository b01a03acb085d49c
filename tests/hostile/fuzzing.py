"""Running fuzzed commands through a real server: each case must end as a clean refusal
that recorded nothing, or as an accepted command recorded at exactly the next position."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.domain.checks import CheckCode
from registry.rpc.translate import signed_command_message
from registry.service.server import MESSAGE_BYTES_MAX_DEFAULT
from tests.hostile.commands import (
    CommandCase,
    allowed_refusals,
    check_accepted_text,
    check_refusal,
    must_be_refused,
    sign_case,
)
from tests.hostile.conftest import HostileWorld
from tests.hostile.harness import CALL_TIMEOUT_S, Tally, store_head

Method = Callable[..., Any]


def send_command_case(
    hostile: HostileWorld, method: Method, case: CommandCase, tally: Tally
) -> None:
    signed = sign_case(hostile.world, case)
    before = store_head(hostile.server)
    tally.cases += 1
    request = pb.CommandRequest(command=signed_command_message(signed))
    try:
        response = method(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        check_refusal(case, tally.refuse(error))
        assert store_head(hostile.server) == before, f"refused {case.tamper} case recorded"
        return
    result = response.result
    assert result.accepted and not must_be_refused(case), (case.tamper, result)
    assert not result.replayed, "fresh times make every signed command unique"
    assert result.position == before + 1 == store_head(hostile.server)
    check_accepted_text(case)
    tally.accept()


def send_batch_case(
    hostile: HostileWorld, cases: list[CommandCase], oversize: bool, tally: Tally
) -> None:
    signed = [sign_case(hostile.world, case) for case in cases]
    oversize = oversize and bool(signed)
    if oversize:
        signed = signed * (1_001 // len(signed) + 1)  # past the 1,000-command limit
    before = store_head(hostile.server)
    tally.cases += 1
    request = pb.CommandBatchRequest(commands=[signed_command_message(each) for each in signed])
    try:
        response = hostile.client.commands.SubmitBatch(request, timeout=CALL_TIMEOUT_S)
    except grpc.RpcError as error:
        if request.ByteSize() > MESSAGE_BYTES_MAX_DEFAULT:  # refused by gRPC before any work
            assert tally.refuse(error, require_code=False) is None
            assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        else:
            assert tally.refuse(error) is CheckCode.BATCH_TOO_LARGE and oversize
        assert store_head(hostile.server) == before
        return
    assert not oversize and len(response.results) == len(cases)
    recorded = 0
    for case, result in zip(cases, response.results, strict=True):
        if not result.accepted:
            tally.refuse_in_result(result.check_code)
            allowed = allowed_refusals(case)
            assert allowed is None or CheckCode[result.check_code] in allowed, result
            continue
        assert not must_be_refused(case), (case.tamper, result)
        if not result.replayed:
            recorded += 1
            check_accepted_text(case)
        tally.accept()
    assert store_head(hostile.server) == before + recorded
