"""The `credit-registry` command. Entry points only translate: arguments in, application
calls, text out. Exit status 0 on success, 1 on a rejected command, 2 on usage errors."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from registry.cli import attributes as cli_attributes
from registry.cli import audit as cli_audit
from registry.cli import credits as cli_credits
from registry.cli import deliveries as cli_deliveries
from registry.cli import demo as cli_demo
from registry.cli import keys as cli_keys
from registry.cli import projections as cli_projections
from registry.cli import recovery as cli_recovery
from registry.cli import registry_key as cli_registry_key
from registry.cli import relay as cli_relay
from registry.cli import restore as cli_restore
from registry.cli import serve as cli_serve
from registry.cli import store as cli_store
from registry.cli import web as cli_web
from registry.cli import witness as cli_witness
from registry.support.observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if not hasattr(arguments, "handler"):
        parser.print_help()
        return 2
    try:
        return int(arguments.handler(arguments))
    except ValueError as error:  # e.g. a key file that the passphrase does not open
        print(f"error: {error}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="credit-registry", description=__doc__)
    parser.add_argument(
        "--home",
        type=Path,
        default=Path(os.environ.get("CREDIT_REGISTRY_HOME", "registry-data")),
        help="embedded store directory (keys, SQLite files)",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("CREDIT_REGISTRY_SERVER"),
        help="send commands and queries to this gRPC server instead of the embedded store",
    )
    parser.add_argument(
        "--ca", type=Path, default=_env_path("CREDIT_REGISTRY_CA"), help="CA to trust (enables TLS)"
    )
    parser.add_argument(
        "--client-cert", type=Path, default=_env_path("CREDIT_REGISTRY_CLIENT_CERT")
    )
    parser.add_argument("--client-key", type=Path, default=_env_path("CREDIT_REGISTRY_CLIENT_KEY"))
    commands = parser.add_subparsers(title="commands")
    # `--help` lists the commands in the order they are added, so the groups are added in
    # the order people have always seen: the store's `init` first, its `log` last.
    cli_demo.add_commands(commands)
    cli_store.add_init_command(commands)
    cli_keys.add_commands(commands)
    cli_recovery.add_commands(commands)
    cli_credits.add_commands(commands)
    cli_attributes.add_commands(commands)
    cli_relay.add_commands(commands)
    cli_projections.add_commands(commands)
    cli_serve.add_commands(commands)
    cli_audit.add_commands(commands)
    cli_restore.add_commands(commands)
    cli_registry_key.add_commands(commands)
    cli_deliveries.add_commands(commands)
    cli_web.add_commands(commands)
    cli_witness.add_commands(commands)
    cli_store.add_log_command(commands)
    return parser


def _env_path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None
