"""No private key and no passphrase in logs or error messages: the server and client logs
at DEBUG while hostile and ordinary calls run, and the CLI (a real process) creating keys,
transferring and failing with a wrong passphrase."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.envelope.keys import SigningKey
from registry.service.server import RegistryServer
from tests.e2e import test_cli
from tests.e2e.grpc_world import GrpcWorld, build_grpc_world, issue, start_server
from tests.support.helpers import AKISHIMA, IWAIZUMI

PASSPHRASE = "秘密の合言葉 correct horse"
REGISTRY_PASSPHRASE = "registry-only passphrase 42"


def secret_forms(key: SigningKey) -> list[str]:
    """The private key as it could leak: raw hex, base64 of the raw and DER forms, PEM lines."""
    raw = key.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    der = key.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pem_lines = [
        line for line in key.to_pem(None).decode().splitlines() if not line.startswith("-----")
    ]
    return [
        raw.hex(),
        raw.hex().upper(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(der).decode()[-40:],
        *pem_lines,
        "PRIVATE KEY-----",
    ]


def assert_clean(text: str, keys: list[SigningKey], passphrases: list[str]) -> None:
    for key in keys:
        for form in secret_forms(key):
            assert form not in text, f"private key of {key.key_id} leaked"
    for passphrase in passphrases:
        assert passphrase not in text, "a passphrase leaked"


def test_server_and_client_logs_and_errors_hold_no_secrets(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)  # before the server starts, so its start-up logs too
    (tmp_path / "server").mkdir()
    server = start_server(tmp_path / "server")
    try:
        with RegistryClient(f"127.0.0.1:{server.port}") as client:
            world = build_grpc_world(client)
            issue(world, 1_000, IWAIZUMI)
            messages = exercise(server, client, world, tmp_path)
    finally:
        server.stop(grace_s=1)
    keys = [*world.keys.values(), server.app.registry_key]
    assert caplog.records, "DEBUG logging captured nothing"
    assert_clean(caplog.text + "\n".join(messages), keys, [PASSPHRASE])


def exercise(
    server: RegistryServer, client: RegistryClient, world: GrpcWorld, tmp_path: Path
) -> list[str]:
    """Ordinary and hostile calls; returns every error message they produced."""
    messages: list[str] = []
    signer = world.signer(IWAIZUMI)
    client.execute(signer, c.TransferCredits(IWAIZUMI, AKISHIMA, 1))
    attempts = [
        lambda: client.send(
            dataclasses.replace(
                signer.sign(c.TransferCredits(IWAIZUMI, AKISHIMA, 1)), signature=b"x"
            )
        ),
        lambda: client.execute(signer, c.TransferCredits(IWAIZUMI, AKISHIMA, 10**15)),
        lambda: client.execute(world.signer(AKISHIMA), c.TransferCredits(IWAIZUMI, AKISHIMA, 1)),
    ]
    for attempt in attempts:
        with pytest.raises(CommandRejected) as caught:
            attempt()
        messages.append(str(caught.value))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        garbage = channel.unary_unary("/credit_registry.v1.CommandService/Submit")
        with pytest.raises(grpc.RpcError) as wire:
            garbage(b"\xff\xfe", timeout=10)
        messages.append(str(wire.value))
    key_file = tmp_path / "party.key"
    world.keys[IWAIZUMI].save(key_file, PASSPHRASE.encode())
    with pytest.raises(ValueError) as wrong:
        SigningKey.load(key_file, b"not the passphrase")
    messages.append(str(wrong.value) + repr(wrong.value.__cause__))
    messages.append(repr(world.keys[IWAIZUMI]) + repr(server.app.registry_key))
    return messages


def run_process(
    home: Path, *arguments: str, passphrase: str = PASSPHRASE
) -> subprocess.CompletedProcess[str]:
    environment = dict(
        os.environ,
        CREDIT_REGISTRY_PASSPHRASE=passphrase,
        CREDIT_REGISTRY_REGISTRY_PASSPHRASE=REGISTRY_PASSPHRASE,
    )
    return subprocess.run(
        [sys.executable, "-m", "registry.cli", "--home", str(home), *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def run_cli(home: Path, *arguments: str, passphrase: str = PASSPHRASE) -> str:
    result = run_process(home, *arguments, passphrase=passphrase)
    return f"{result.returncode}\n{result.stdout}\n{result.stderr}"


def test_cli_output_holds_no_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    output = [run_cli(home, "init")]
    # The e2e setup runs `keys new` for two parties through the real CLI: with our passphrase.
    monkeypatch.setattr(test_cli, "run", lambda home, *arguments: run_process(home, *arguments))
    steps = test_cli.setup_steps(home)
    for step in steps:
        output.append(run_cli(home, *step))
    output.append(
        run_cli(home, "transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "10")
    )
    output.append(
        run_cli(
            home,
            "transfer",
            "--as",
            "132071",
            "--to",
            "jver-provider",
            "--quantity-kg",
            "10",
            passphrase="wrong passphrase",
        )
    )
    output.append(
        run_cli(
            home, "transfer", "--as", "132071", "--to", "jver-provider", "--quantity-kg", "99999999"
        )
    )
    output.append(run_cli(home, "keys", "new", "132071"))  # refused: the file exists
    text = "\n".join(output)
    assert "INSUFFICIENT_HOLDINGS" in text  # the refusals did run and say why
    key_files = sorted((home / "keys").glob("*.key"))
    assert key_files, "the CLI made no key files"
    keys = []
    for path in key_files:
        for passphrase in (PASSPHRASE, REGISTRY_PASSPHRASE):
            try:
                keys.append(SigningKey.load(path, passphrase.encode()))
                break
            except ValueError:
                continue
    keys += [SigningKey.load(p, REGISTRY_PASSPHRASE.encode()) for p in home.glob("registry*.key")]
    assert keys
    assert_clean(text, keys, [PASSPHRASE, REGISTRY_PASSPHRASE])
