"""The operator's and auditor's commands as a person runs them on the embedded store:
projections catch-up, lag, rebuild and the allocation table, and a consistency proof
between two checkpoints checked by the standalone verifier."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.test_cli import RETIRE, public_key, run, setup_steps

VERIFIER = Path(__file__).parents[2] / "registry/transparency/proof_verifier.py"


def lag_of(output: str) -> tuple[int, int, int]:
    found = re.search(r"head (\d+), applied (\d+), lag (-?\d+)", output)
    assert found, output
    head, applied, lag = (int(group) for group in found.groups())
    return head, applied, lag


def test_projection_commands_and_a_consistency_proof(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    for step in setup_steps(home):
        assert run(home, *step).returncode == 0, step
    first = run(home, "checkpoint")
    assert first.returncode == 0, first.stderr
    old_size = int(re.search(r"tree size (\d+)", first.stdout).group(1))  # type: ignore[union-attr]
    assert run(home, *RETIRE).returncode == 0
    second = run(home, "checkpoint")
    new_size = int(re.search(r"tree size (\d+)", second.stdout).group(1))  # type: ignore[union-attr]
    assert new_size == old_size + 1

    # The relay publishes the store to the embedded log; nothing is projected yet, so the
    # lag is the whole history, and a catch-up closes it.
    relayed = run(home, "relay", "--exit-when-caught-up")
    assert relayed.returncode == 0 and f"stopped at position {new_size}" in relayed.stdout
    head, applied, lag = lag_of(run(home, "projections", "lag").stdout)
    assert (head, applied, lag) == (new_size, 0, new_size)
    caught_up = run(home, "projections", "catch-up")
    assert caught_up.returncode == 0 and f"applied {new_size} envelopes" in caught_up.stdout
    assert lag_of(run(home, "projections", "lag").stdout) == (new_size, new_size, 0)
    assert "applied 0 envelopes" in run(home, "projections", "catch-up").stdout  # idempotent

    # A rebuild goes into a fresh database only, and ends with the same tables.
    fresh = f"sqlite:///{tmp_path / 'rebuilt.sqlite'}"
    rebuilt = run(home, "projections", "rebuild", "--projection-url", fresh)
    assert rebuilt.returncode == 0 and f"applied {new_size} envelopes" in rebuilt.stdout
    again = run(home, "projections", "rebuild", "--projection-url", fresh)
    assert again.returncode == 2 and "needs a fresh database" in again.stderr
    table = ("projections", "allocation", "--pool", "TOKYO62-FY2011")
    live = run(home, *table).stdout
    assert live == run(home, *table, "--projection-url", fresh).stdout
    # Members come from the pool in the history, and this one opens none: totals, no rows.
    assert live.startswith("pool TOKYO62-FY2011: not in the projections")
    assert re.findall(r"^[0-9]{6} ", live, re.MULTILINE) == []
    assert re.search(r"^total +0 +0\.000 +0\.000 ", live, re.MULTILINE), live  # events, t

    # The log only grew between the two checkpoints: the verifier checks it offline.
    proof = tmp_path / "consistency.json"
    proved = run(home, "prove", "--consistency", str(old_size), str(new_size), "--out", str(proof))
    assert proved.returncode == 0, proved.stderr
    public = public_key(run(home, "registry-key").stdout)
    verified = subprocess.run(
        [sys.executable, str(VERIFIER), str(proof), public], capture_output=True, text=True
    )
    assert verified.returncode == 0 and verified.stdout.startswith("VALID"), verified.stdout
    document = json.loads(proof.read_text())
    first_hash = document["path"][0]
    document["path"][0] = first_hash[:-1] + ("0" if first_hash[-1] != "0" else "1")
    proof.write_text(json.dumps(document))  # one hash of the path bent
    bent = subprocess.run(
        [sys.executable, str(VERIFIER), str(proof), public], capture_output=True, text=True
    )
    assert bent.returncode != 0 and bent.stdout.startswith("INVALID"), bent.stdout


def test_key_rotation_revocation_and_cancellation(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    for step in setup_steps(home):
        assert run(home, *step).returncode == 0, step
    key_file = home / "keys" / "132071.key"
    old_file = key_file.read_bytes()

    rotated = run(home, "keys", "rotate", "--as", "132071")
    assert rotated.returncode == 0, rotated.stderr
    new_key_id = next(line.split()[1] for line in rotated.stdout.splitlines() if "key_id" in line)
    old_key_id = next(line.split()[1] for line in rotated.stdout.splitlines() if "retired" in line)
    assert new_key_id != old_key_id and key_file.read_bytes() != old_file
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert not key_file.with_name("132071.key.new").exists()
    # The new key signs from now on; the old one would be refused (KEY_ROTATED).
    moved = run(home, "transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "1")
    assert moved.returncode == 0, moved.stderr
    key_file.with_name("132071.key.new").write_bytes(b"left by a crash")
    unfinished = run(home, "keys", "rotate", "--as", "132071")
    assert unfinished.returncode == 2 and "did not finish" in unfinished.stderr
    key_file.with_name("132071.key.new").unlink()

    # The issuer cancels credits issued in error; a municipality may not.
    batch = "JVER-FOREST-20110401-20120331-001"
    cancel = ["cancel", "--holder", "132071", "--batch", batch, "--quantity-kg", "500"]
    refused = run(home, *cancel, "--as", "132071", "--reason", "not ours to cancel")
    assert refused.returncode == 1 and "ROLE_NOT_ALLOWED" in refused.stderr
    cancelled = run(home, *cancel, "--as", "jver-provider", "--reason", "issued in error")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "tradable total: 4.499 t-CO2" in run(home, "balance", "132071").stdout

    # The operator withdraws the new key (a stolen laptop): nothing signed with it counts.
    operator = json.loads((home / "config.json").read_text())["operator_id"]
    revoked = run(
        home,
        "keys",
        "revoke",
        "--as",
        operator,
        "--party",
        "132071",
        "--key-id",
        new_key_id,
        "--reason",
        "laptop stolen",
    )
    assert revoked.returncode == 0, revoked.stderr
    after = run(home, "transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "1")
    assert after.returncode == 1 and "KEY_REVOKED (2003)" in after.stderr, after.stderr


def test_keys_new_refuses_an_existing_key_file_and_keys_show_prints_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = run(home, "keys", "new", "132071")
    assert made.returncode == 0, made.stderr
    key_file = home / "keys" / "132071.key"
    original = key_file.read_bytes()

    # A second `keys new` leaves the key alone and says so in one line, without a traceback.
    again = run(home, "keys", "new", "132071")
    assert again.returncode == 2, again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert str(key_file) in again.stderr and "already has a key file" in again.stderr
    assert "Traceback" not in again.stderr and again.stdout == ""
    assert key_file.read_bytes() == original

    # `keys show` reads the file with the same passphrase and prints its public parts.
    shown = run(home, "keys", "show", "132071")
    assert shown.returncode == 0, shown.stderr
    fields = dict(line.split(maxsplit=1) for line in shown.stdout.splitlines())
    assert fields == dict(line.split(maxsplit=1) for line in made.stdout.splitlines())
    assert fields["public_key"] == public_key(made.stdout)
    assert fields["key_id"].startswith("ed25519:") and "PRIVATE" not in shown.stdout

    wrong = run(home, "keys", "show", "132071", passphrase="wrong horse")
    assert wrong.returncode == 2 and "wrong passphrase" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr and wrong.stdout == ""

    missing = run(home, "keys", "show", "131016")
    assert missing.returncode == 2 and missing.stdout == "", missing.stderr
    assert missing.stderr.strip() == (
        f"no key file for 131016 at {home / 'keys' / '131016.key'}; "
        "create one with 'keys new 131016'"
    )
