"""Every CommandService RPC (and the ExchangeService commands) fuzzed through a real
server: hostile text, bytes and integers in every field, signed bodies that reach the rules,
forged and truncated signatures, times out of bounds. Each case is a clean answer;
refusals carry a check code and record nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.service.servicers import EXCHANGE_BODIES, RPC_BODIES
from tests.hostile.commands import CommandCase, command_cases
from tests.hostile.conftest import HostileWorld
from tests.hostile.fuzzing import send_batch_case, send_command_case
from tests.hostile.harness import EXAMPLES_PER_RPC, FUZZ, Tally, serving

BODIES = {**RPC_BODIES, **EXCHANGE_BODIES}


@pytest.mark.parametrize("rpc", sorted(BODIES))
def test_fuzzed_command_rpc_answers_cleanly(hostile: HostileWorld, rpc: str) -> None:
    tally = Tally(rpc)
    stub = hostile.client.exchange if rpc in EXCHANGE_BODIES else hostile.client.commands
    method = getattr(stub, rpc)
    strategy = command_cases(hostile.signers, hostile.vocabulary, BODIES[rpc])

    @FUZZ
    @given(case=strategy)
    def one_case(case: CommandCase) -> None:
        send_command_case(hostile, method, case, tally)

    one_case()
    tally.report()
    assert tally.cases >= EXAMPLES_PER_RPC
    assert serving(hostile.server)


def test_fuzzed_submit_batch_answers_cleanly(hostile: HostileWorld) -> None:
    tally = Tally("SubmitBatch")
    cases = st.lists(command_cases(hostile.signers, hostile.vocabulary, None), max_size=4)
    # About one batch in a hundred (not 0: hypothesis favours the bounds of a range).
    oversize = st.integers(0, 99).map(lambda draw: draw == 57)

    @FUZZ
    @given(batch=cases, too_many=oversize)
    def one_case(batch: list[Any], too_many: bool) -> None:
        send_batch_case(hostile, batch, too_many, tally)

    one_case()
    tally.report()
    assert tally.cases >= EXAMPLES_PER_RPC
    assert serving(hostile.server)
