"""Checks that protect credits survive `python -O`, which strips every `assert`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from registry.domain.checks import InvariantViolation
from registry.domain.ledger import Ledger
from registry.domain.serials import add_ranges, subtract_ranges


def test_a_serial_overlap_raises_even_under_python_dash_o() -> None:
    program = textwrap.dedent(
        """
        import sys
        from registry.domain.checks import InvariantViolation
        from registry.domain.serials import add_ranges
        assert False  # stripped under -O: proves the flag took effect
        try:
            add_ranges(((1, 10),), ((5, 12),))  # serial 5 to 10 in two places
        except InvariantViolation as error:
            print("refused:", error)
            sys.exit(0)
        sys.exit("the overlap was accepted")
        """
    )
    result = subprocess.run(
        [sys.executable, "-O", "-c", program], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "refused: serial overlap" in result.stdout


def test_guards_on_serials_and_the_chain_raise_a_named_error() -> None:
    with pytest.raises(InvariantViolation, match="serial overlap"):
        add_ranges(((1, 10),), ((10, 10),))
    with pytest.raises(InvariantViolation, match="not held"):
        subtract_ranges(((1, 10),), ((8, 12),))
    ledger = Ledger()
    with pytest.raises(InvariantViolation, match="does not follow"):
        ledger.advance(2, b"\0" * 32)
    with pytest.raises(InvariantViolation, match="outside a ledger transaction"):
        ledger.commit()
