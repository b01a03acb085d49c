"""The command line as a person uses it: real processes, a real embedded store on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from registry.envelope.keys import SigningKey

CLI = [sys.executable, "-m", "registry.cli"]


def run(
    home: Path, *arguments: str, passphrase: str = "correct horse"
) -> subprocess.CompletedProcess[str]:
    environment = dict(
        os.environ,
        CREDIT_REGISTRY_PASSPHRASE=passphrase,
        CREDIT_REGISTRY_REGISTRY_PASSPHRASE="registry pass",
    )
    return subprocess.run(
        [*CLI, "--home", str(home), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def public_key(output: str) -> str:
    return next(line.split()[1] for line in output.splitlines() if line.startswith("public_key"))


RETIRE = [
    "retire",
    "--as",
    "132071",
    "--quantity-kg",
    "1500",
    "--beneficiary",
    "昭島市",
    "--purpose",
    "facility",
    "--year",
    "2011",
]


def setup_steps(home: Path) -> list[list[str]]:
    """Keys for an issuer and Akishima, then the commands that register them and issue 5 t."""
    issuer = public_key(run(home, "keys", "new", "jver-provider").stdout)
    akishima = public_key(run(home, "keys", "new", "132071").stdout)
    return [
        [
            "register-party",
            "jver-provider",
            "--role",
            "issuer",
            "--name",
            "J-VER provider",
            "--public-key",
            issuer,
        ],
        ["register-party", "132071", "--role", "municipality", "--public-key", akishima],
        ["register-class", "JVER", "--name", "J-VER", "--issuer", "jver-provider"],
        [
            "register-project",
            "--as",
            "jver-provider",
            "FOREST",
            "--class",
            "JVER",
            "--name",
            "Forest",
            "--location",
            "Iwate",
            "--methodology",
            "FM",
            "--proponent",
            "jver-provider",
        ],
        [
            "issue",
            "--as",
            "jver-provider",
            "--project",
            "FOREST",
            "--vintage-start",
            "2011-04-01",
            "--vintage-end",
            "2012-03-31",
            "--quantity-kg",
            "5000",
            "--to",
            "132071",
        ],
    ]


def test_demo_runs_and_verifies_clean(tmp_path: Path) -> None:
    """The README's main command: the FY2011 joint purchase through gRPC, published totals
    read back from the projections, every FY2011 figure unchanged by a second, smaller FY2012
    pool beside it (whose split has remainders), a clean audit, and verifiable certificates."""
    out = tmp_path / "report"
    result = subprocess.run(
        [*CLI, "demo", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in (
        "OK  wards                   29 events   29.300 t",
        "OK  cities                  15 events   23.000 t",
        "OK  towns and villages       3 events    7.700 t",
        "OK  total                   47 events   60.000 t",
        "OK  project's own events    33 events   40.000 t",
        "OK  all offsets             80 events  100.000 t",
        "OK  municipalities taking part: 35",
        "OK  every FY2011 figure unchanged by models I-III and the FY2012 pool",
        "5. pool TOKYO62-FY2012: bought in 3.500 t, split 3.200 t over meetings calculated at"
        " 3.085 t",
        "retired 3.200 t, returned 0.300 t to the secretariat; held now 0.000 t",
        "Audit of the exported history: CLEAN",
    ):
        assert line in result.stdout, line
    assert "BAD_SIGNATURE (2005)" in result.stdout and "ALREADY_RETIRED (4015)" in result.stdout
    assert "DELIVERY_RESOLVED (4021)" in result.stdout
    for refusal in (
        "POOL_UNDERFUNDED (4025)",
        "OUTSIDE_FISCAL_YEAR (4026)",
        "CALCULATION_DIFFERS (4027)",
        "FY2012 pool credits already in the FY2011 pool -> FAILED_PRECONDITION"
        " INSUFFICIENT_HOLDINGS (4001)",
    ):
        assert refusal in result.stdout, refusal
    assert "Musashino retired 12.000 t against its city hall (FY2012)" in result.stdout
    assert (
        "delivered 13.000 t, accepted 10.000 t, declined 3.000 t, retired by Akishima 10.000 t"
        in result.stdout
    )
    assert "40 HEMS household reports issued as one" in result.stdout
    csv_lines = (out / "allocation.csv").read_text(encoding="utf-8").splitlines()
    assert len([line for line in csv_lines if line.startswith("member,")]) == 62
    assert any(line.startswith("total,,all offsets,,,80,100000,100000,") for line in csv_lines)
    text_lines = (out / "allocation.txt").read_text(encoding="utf-8").splitlines()
    assert len([line for line in text_lines if line[:6].isdigit()]) == 62  # every member
    assert any(line.startswith("131016  千代田区") for line in text_lines)
    subtotals = [line.split() for line in text_lines if line.startswith(("wards ", "total "))]
    # group, members, participating, events, allocated t, offset t, then the estimate
    # before, the calculation after (the rules') and their difference
    assert [row[:6] for row in subtotals] == [
        ["wards", "23", "20", "29", "29.300", "29.300"],
        ["total", "62", "35", "47", "60.000", "60.000"],
    ]
    assert [row[7] for row in subtotals] == ["29.300", "60.000"]
    for row in subtotals:
        estimate, calculated, difference = (int(cell.replace(".", "")) for cell in row[6:9])
        assert difference == calculated - estimate
    second = (out / "TOKYO62-FY2012" / "allocation.csv").read_text(encoding="utf-8").splitlines()
    assert any(line.startswith("total,,all offsets,,,7,3200,3200,") for line in second)
    assert len(list((out / "TOKYO62-FY2012" / "certificates").glob("*.json"))) == 7
    chart = (out / "allocation.svg").read_text(encoding="utf-8")
    assert chart.startswith("<svg") and chart.count("<path ") == 4  # one slice per group
    for legend in (
        "wards: 29.300 t, 29 events",
        "cities: 23.000 t, 15 events",
        "towns and villages: 7.700 t, 3 events",
        "project's own events: 40.000 t, 33 events",
        "retired in all: 100.000 t-CO2",
    ):
        assert legend in chart, legend
    certificates = sorted((out / "certificates").glob("*.json"))
    assert len(certificates) == 80
    document = json.loads(certificates[0].read_text(encoding="utf-8"))
    verifier = Path(__file__).parents[2] / "registry/transparency/proof_verifier.py"
    checked = subprocess.run(
        [
            sys.executable,
            str(verifier),
            str(certificates[0]),
            document["certificate"]["registry_public_key"],
        ],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and checked.stdout.startswith("VALID: included"), checked.stdout

    # The store stays for the README's tour: `credit-registry --home <out>/store web`.
    store = out / "store"
    assert f"Browse it: credit-registry --home {store} web" in result.stdout
    web = subprocess.Popen(
        [*CLI, "--home", str(store), "web", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert web.stdout is not None
        site = web.stdout.readline().split()[-1].rstrip("/")
        with urllib.request.urlopen(f"{site}/pools/TOKYO62-FY2011?lang=en") as response:
            pool = response.read().decode()
        with urllib.request.urlopen(f"{site}/") as response:
            home = response.read().decode()
    finally:
        web.terminate()
        web.wait(timeout=30)
    assert 'data-group="all offsets"' in pool and 'data-kg="100000"' in pool
    assert (
        'id="checkpoint-size"' in home and (store / "registry-root.pub").read_text().strip() in home
    )


def test_cli_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    for step in setup_steps(home):
        result = run(home, *step)
        assert result.returncode == 0, (step, result.stderr)
    overspend = run(
        home, "transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "9000"
    )
    assert overspend.returncode == 1
    assert "INSUFFICIENT_HOLDINGS (4001)" in overspend.stderr
    retire = RETIRE
    assert run(home, *retire).returncode == 0
    balance = run(home, "balance", "132071")
    assert "tradable total: 3.500 t-CO2" in balance.stdout

    # The auditor's tools: checkpoint, export, audit, prove, and the standalone verifier.
    assert run(home, "checkpoint").returncode == 0
    public = public_key(run(home, "registry-key").stdout)
    export = home / "history.avro"
    assert (
        "exported 7 envelopes and 1 checkpoints" in run(home, "export", "--out", str(export)).stdout
    )
    audited = run(
        home,
        "audit",
        "--export",
        str(export),
        "--registry-public-key",
        public,
        "--report",
        str(home / "r.json"),
    )
    assert audited.returncode == 0 and "CLEAN" in audited.stdout, audited.stdout + audited.stderr
    assert "t-CO2 issued 5.000, retired 1.500, cancelled 0.000" in audited.stdout
    # As the chart's CronJob runs it: the verdict is the exit status and the report is one
    # JSON line on stdout, for the pod's log; the summary moves to stderr.
    as_job = ["audit", "--export", str(export), "--report", "-", "--no-progress"]
    clean = run(home, *as_job, "--registry-public-key", public)
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["verdict"] == "CLEAN"
    assert "CLEAN" in clean.stderr and "report: stdout" in clean.stderr
    stranger = SigningKey.generate().public_key.hex()  # not the key that sealed the history
    untrusted = run(home, *as_job, "--registry-public-key", stranger)
    assert untrusted.returncode == 1, untrusted.stdout + untrusted.stderr
    document = json.loads(untrusted.stdout)
    assert document["verdict"] != "CLEAN" and document["discrepancies"]
    assert run(home, *as_job).returncode == 2  # no key at all: a usage error, nothing audited
    proof = home / "proof.json"
    assert (
        run(
            home, "prove", "--export", str(export), "--position", "7", "--out", str(proof)
        ).returncode
        == 0
    )
    verifier = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parents[2] / "registry/transparency/proof_verifier.py"),
            str(proof),
            public,
        ],
        capture_output=True,
        text=True,
    )
    assert verifier.returncode == 0 and "VALID: included: position 7" in verifier.stdout

    wrong = run(
        home,
        "transfer",
        "--as",
        "132071",
        "--to",
        "jver-provider",
        "--quantity-kg",
        "1",
        passphrase="wrong guess",
    )
    assert wrong.returncode == 2
    assert "wrong passphrase" in wrong.stderr
    assert "wrong guess" not in wrong.stderr + wrong.stdout  # the secret is never echoed
    assert (
        "-----BEGIN" not in (home / "keys" / "132071.key").read_text()
        or "ENCRYPTED" in (home / "keys" / "132071.key").read_text()
    )
    assert oct((home / "keys" / "132071.key").stat().st_mode & 0o777) == "0o600"


def test_cli_through_a_served_registry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    environment = dict(
        os.environ,
        CREDIT_REGISTRY_PASSPHRASE="correct horse",
        CREDIT_REGISTRY_REGISTRY_PASSPHRASE="registry pass",
    )
    server = subprocess.Popen(
        [*CLI, "--home", str(home), "serve", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("serving embedded on port"), line
        target = "127.0.0.1:" + line.split()[-1]
        web = server.stdout.readline()
        assert web.startswith("web view on http://127.0.0.1:"), web
        site = web.split()[-1].rstrip("/")
        remote = ("--server", target)
        steps = [*setup_steps(home), RETIRE]
        for step in steps:
            result = run(home, *remote, *step)
            assert result.returncode == 0, (step, result.stderr)
        refused = run(
            home,
            *remote,
            "transfer",
            "--as",
            "132071",
            "--to",
            "jver-provider",
            "--quantity-kg",
            "9000",
        )
        assert refused.returncode == 1 and "INSUFFICIENT_HOLDINGS (4001)" in refused.stderr
        balance = run(home, *remote, "balance", "132071")
        assert "tradable total: 3.500 t-CO2" in balance.stdout, balance.stdout + balance.stderr
        # The web view beside it reads the same read models: the retirement is on Akishima's page.
        with urllib.request.urlopen(f"{site}/parties/132071?lang=en") as response:
            page = response.read().decode()
        assert "昭島市" in page and "1.500 t" in page
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_origin_labels_buffer_and_place_from_the_command_line(tmp_path: Path) -> None:
    """A labelled class with a buffer, an issuance naming its J-VER origin (the same origin
    again refused), a label on part of the batch, a retirement that requires it and names
    its place, a reversal from the buffer, and `batch` and `balance` showing the result."""
    home = tmp_path / "home"
    assert run(home, "init").returncode == 0
    steps = setup_steps(home)[:3]  # the issuer, Akishima, and the J-VER class
    authority = public_key(run(home, "keys", "new", "icvcm-labels").stdout)
    steps += [
        ["register-party", "icvcm-labels", "--role", "issuer", "--name", "ICVCM", "--public-key", authority],
        ["register-class", "CCP", "--name", "Labelled", "--issuer", "jver-provider",
         "--label-authority", "icvcm-labels", "--buffer-permille", "100"],
        ["register-project", "--as", "jver-provider", "FOREST", "--class", "CCP", "--name", "Forest",
         "--location", "Iwate", "--methodology", "FM", "--proponent", "jver-provider"],
    ]  # fmt: skip
    for step in steps:
        result = run(home, *step)
        assert result.returncode == 0, (step, result.stderr)
    issue = ["issue", "--as", "jver-provider", "--project", "FOREST", "--vintage-start",
             "2011-04-01", "--vintage-end", "2012-03-31", "--quantity-kg", "10000", "--to",
             "132071", "--origin", "JP-JVER:JVER-0012:1-10000"]  # fmt: skip
    assert run(home, *issue).returncode == 0
    again = run(home, *issue)
    assert again.returncode == 1 and "ORIGIN_ALREADY_ISSUED (4050)" in again.stderr
    batch = "CCP-FOREST-20110401-20120331-001"
    label = ["label", "add", "--as", "icvcm-labels", batch, "1", "5000", "ICVCM-CCP",
             "--from", "2020-04-01", "--until", "2099-03-31"]  # fmt: skip
    assert run(home, *label).returncode == 0
    retire = [*RETIRE[:4], "6000", *RETIRE[5:], "--location", "132071"]
    refused = run(home, *retire, "--require-label", "ICVCM-CCP")
    assert refused.returncode == 1 and "LABEL_REQUIRED (4054)" in refused.stderr
    assert run(home, *RETIRE, "--location", "JP-13", "--require-label", "ICVCM-CCP").returncode == 0
    reversal = ["report-reversal", "--as", "jver-provider", "--project", "FOREST",
                "--quantity-kg", "400", "--reason", "storm"]  # fmt: skip
    assert run(home, *reversal).returncode == 0
    shown = run(home, "batch", batch).stdout
    assert "origin: JP-JVER JVER-0012 kg 1-10000" in shown
    assert "in the buffer: 0.600 t" in shown  # 1,000 kg withheld, 400 kg reversed
    assert "cancelled 0.400" in shown and "ICVCM-CCP  1-5000" in shown
    balance = run(home, "balance", "132071").stdout
    assert batch in balance and "ICVCM-CCP" in balance and "tradable total: 7.500 t-CO2" in balance
