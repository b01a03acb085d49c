"""Keys and trust from the command line, as an operator, a party and an auditor meet them:
projection workers that refuse to start without the registry's key, a party recovering its
own key, the operator's recovery that needs an auditor and shows as frozen credits, and a
registry key rotated twice that audits clean from the first key."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.e2e.test_cli import CLI, public_key, run, setup_steps

REFUSAL = "refusing to project unchecked records"


def run_without_pinned_key(home: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY"
    }
    return subprocess.run(
        [*CLI, "--home", str(home), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def field(output: str, name: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith(name + " "))


def test_projection_workers_refuse_to_start_without_the_registry_key(tmp_path: Path) -> None:
    projection = f"sqlite:///{tmp_path / 'projections.sqlite'}"
    # No broker listens there: the refusal comes before any connection is tried.
    for command in ("run", "catch-up", "rebuild"):
        refused = run_without_pinned_key(
            tmp_path / "home",
            "projections",
            command,
            "--kafka",
            "127.0.0.1:9",
            "--projection-url",
            projection,
        )
        assert refused.returncode == 2, (command, refused.stderr)
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()], refused.stderr
        assert REFUSAL in refused.stderr and "--trust-topic" in refused.stderr
        assert "Traceback" not in refused.stderr
    # Another store's embedded log: the same, unless told to trust it.
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    other = f"sqlite:///{home / 'registry.sqlite'}"
    args = ("projections", "catch-up", "--database-url", other, "--projection-url", projection)
    refused = run_without_pinned_key(home, *args)
    assert refused.returncode == 2 and REFUSAL in refused.stderr
    assert run(home, "relay", "--exit-when-caught-up").returncode == 0
    trusted = run_without_pinned_key(home, *args, "--trust-topic")
    assert trusted.returncode == 0 and "applied 1 envelopes" in trusted.stdout, trusted.stderr
    # The home's own store is checked against the key the home recorded at init.
    own = run_without_pinned_key(home, "projections", "catch-up")
    assert own.returncode == 0 and "applied 1 envelopes" in own.stdout, own.stderr


def test_a_party_recovers_its_key_and_an_operator_recovery_needs_an_auditor(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    steps = setup_steps(home)
    made = run(home, "keys", "show", "132071")
    assert (home / "keys" / "132071.recovery.key").exists()
    steps[1] += ["--recovery-public-key", field(made.stdout, "recovery_public_key")]
    for step in steps:
        assert run(home, *step).returncode == 0, step
    # The party lost its signing key: its recovery key signs the new one in.
    old_key_id = field(made.stdout, "key_id")
    recovered = run(home, "recovery", "recover", "--as", "132071")
    assert recovered.returncode == 0, recovered.stderr
    assert field(run(home, "keys", "show", "132071").stdout, "key_id") != old_key_id
    transfer = ["transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "1"]
    assert run(home, *transfer).returncode == 0

    # The operator's recovery needs an auditor's co-signature.
    auditor = public_key(run(home, "keys", "new", "metro-audit").stdout)
    register = ["register-party", "metro-audit", "--role", "auditor", "--name", "Audit office"]
    assert run(home, *register, "--public-key", auditor).returncode == 0
    replacement = public_key(run(home, "keys", "new", "spare").stdout)
    start = ["recovery", "start", "--party", "132071", "--recovery-id", "R-1"]
    start += ["--public-key", replacement, "--reason", "both keys lost"]
    alone = run(home, *start)
    assert alone.returncode == 1 and "COSIGNATURE_REQUIRED (3006)" in alone.stderr, alone.stderr
    started = run(home, *start, "--cosign-as", "metro-audit")
    assert started.returncode == 0, started.stderr
    balance = run(home, "balance", "132071").stdout
    assert "FROZEN: recovery R-1 of 132071's keys is pending" in balance, balance
    listed = run(home, "recoveries", "--pending").stdout
    assert "R-1" in listed and "pending" in listed
    frozen = run(home, *transfer)
    assert frozen.returncode == 1 and "PARTY_FROZEN (2012)" in frozen.stderr
    early = run(home, "recovery", "complete", "--party", "132071", "--recovery-id", "R-1")
    assert early.returncode == 1 and "RECOVERY_NOT_DUE (2015)" in early.stderr
    # The party still holds a key: it vetoes, and its credits move again.
    assert run(home, "recovery", "veto", "--as", "132071", "--recovery-id", "R-1").returncode == 0
    assert "FROZEN" not in run(home, "balance", "132071").stdout
    assert run(home, *transfer).returncode == 0


def test_the_registry_key_rotates_twice_and_audits_clean_from_the_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    for step in setup_steps(home):
        assert run(home, *step).returncode == 0, step
    first = public_key(run(home, "registry-key").stdout)
    transfer = ["transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "1"]
    for number in (1, 2):
        rotated = run(
            home, "registry-key", "rotate", "--new-key-file", str(tmp_path / f"k{number}.key")
        )
        assert rotated.returncode == 0, rotated.stderr
        assert "handed over to" in rotated.stdout and first in rotated.stdout
        assert run(home, *transfer).returncode == 0  # the home now seals with the new key
    shown = run(home, "registry-key").stdout
    assert public_key(shown) != first and field(shown, "root_public_key") == first
    report = tmp_path / "audit.json"
    audit = ["audit", "--workers", "1", "--report", str(report), "--registry-public-key"]
    clean = run(home, *audit, first)
    assert clean.returncode == 0 and "CLEAN" in clean.stdout, clean.stdout + clean.stderr
    only_current = run(home, *audit, public_key(shown))
    assert only_current.returncode == 1 and "unknown registry key" in only_current.stdout
    # The workers of the embedded log follow the rotations from the key the home pinned.
    assert run(home, "relay", "--exit-when-caught-up").returncode == 0
    caught_up = run(home, "projections", "catch-up")
    assert caught_up.returncode == 0, caught_up.stderr
    # The operator's registration, five setup steps, and two rotations each with a transfer.
    assert "applied 10 envelopes" in caught_up.stdout, caught_up.stdout
