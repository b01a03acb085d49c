"""The README's by-hand walkthrough, as scripts/walkthrough.sh runs it on a fresh home: every
step is accepted and the balances it prints are what its commands add up to."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "walkthrough.sh"
BATCH = "JVER-FOREST-20110401-20120331-001"

# What the script's commands move for Akishima (132071), in kilograms.
ISSUED_KG = 100_000
TRANSFERRED_KG = 30_000  # to Iwaizumi
RETIRED_KG = 12_000
CANCELLED_KG = 500  # by the issuer, after the first balance
COMMANDS_RECORDED = 13  # init's operator, 3 parties, class, project, issue, transfer,
# retire, rotate, revoke, recover, cancel


def tonnes_text(quantity_kg: int) -> str:
    return f"{quantity_kg // 1000}.{quantity_kg % 1000:03d}"


def run_walkthrough(home: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CREDIT_REGISTRY_")}
    environment["CREDIT_REGISTRY_PASSPHRASE"] = "walkthrough parties"
    environment["CREDIT_REGISTRY_REGISTRY_PASSPHRASE"] = "walkthrough registry"
    return subprocess.run(
        ["bash", str(SCRIPT), str(home)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_walkthrough_runs_on_a_fresh_home_and_prints_the_implied_balance(tmp_path: Path) -> None:
    result = run_walkthrough(tmp_path / "home")
    assert result.returncode == 0, result.stdout + result.stderr
    after_retirement_kg = ISSUED_KG - TRANSFERRED_KG - RETIRED_KG
    final_kg = after_retirement_kg - CANCELLED_KG
    held_kg = re.findall(rf"^{BATCH}\s+1\s+(\d+)\s", result.stdout, re.MULTILINE)
    assert [int(kg) for kg in held_kg] == [after_retirement_kg, final_kg]
    totals = re.findall(r"^tradable total: (\S+) t-CO2$", result.stdout, re.MULTILINE)
    assert totals == [tonnes_text(after_retirement_kg), tonnes_text(final_kg)]
    assert result.stdout.count("accepted at position") == COMMANDS_RECORDED
    assert f"relay stopped at position {COMMANDS_RECORDED}" in result.stdout
    assert "+ credit-registry --home" in result.stdout  # each step is shown before it runs


def test_walkthrough_refuses_a_home_that_exists(tmp_path: Path) -> None:
    result = run_walkthrough(tmp_path)
    assert result.returncode != 0
    assert "accepted" not in result.stdout
