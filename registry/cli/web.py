"""`credit-registry web`: the public web view, read-only over the projection database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from registry.cli.home import Home
from registry.envelope.keys import public_keys_from_environment
from registry.support.health import PROCESS_HEALTH
from registry.support.observability import metrics_port_from_environment, serve_metrics

if TYPE_CHECKING:
    import uvicorn

DEFAULT_LISTEN = "127.0.0.1:8080"
PUBLIC_KEY_FILE = "registry-root.pub"  # the pinned registry key in hex (Home.pinned_key_path)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    web = commands.add_parser(
        "web", help="the public web view (read-only, from the projection database)"
    )
    web.add_argument(
        "--projection-url",
        default=os.environ.get("CREDIT_REGISTRY_PROJECTION_URL"),
        help="read-model database, opened read-only (default: projections.sqlite in --home)",
    )
    web.add_argument(
        "--listen", default=os.environ.get("CREDIT_REGISTRY_WEB_LISTEN", DEFAULT_LISTEN)
    )
    web.add_argument(
        "--registry-public-key",
        default=next(reversed(public_keys_from_environment()), None),
        help="hex Ed25519 key shown on every page and used by the certificates' verify button "
        "(default: CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY, else registry-root.pub in --home)",
    )
    web.add_argument(
        "--public-url",
        default=os.environ.get("CREDIT_REGISTRY_PUBLIC_URL"),
        help="the site's public address, for the certificates' QR codes (default: as requested)",
    )
    web.set_defaults(handler=_web)


def registry_public_key(arguments: argparse.Namespace) -> bytes | None:
    text = arguments.registry_public_key
    if not text:
        path = Path(arguments.home) / PUBLIC_KEY_FILE
        text = path.read_text("utf-8").strip() if path.exists() else None
    if not text:
        return None
    key = bytes.fromhex(text)
    if len(key) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(key)}")
    return key


def _web(arguments: argparse.Namespace) -> int:
    # Imported here: the other commands need not load the web stack.
    from registry.web.app import WebConfig
    from registry.web.server import uvicorn_server

    logging.getLogger("registry").setLevel(logging.INFO)
    home = Home(arguments.home).directory
    url = arguments.projection_url or f"sqlite:///{home / 'projections.sqlite'}"
    config = WebConfig(url, registry_public_key(arguments), arguments.public_url)
    server = uvicorn_server(config, arguments.listen)
    # No loop to watch: alive while it answers, ready once it listens (see announce).
    PROCESS_HEALTH.unwatch()
    serve_metrics(metrics_port_from_environment())
    asyncio.run(_serve_announcing(server, arguments.listen.rpartition(":")[0]))
    return 0


async def _serve_announcing(server: uvicorn.Server, host: str) -> None:
    """Serve until SIGTERM or SIGINT; say where once listening (the port may be 0)."""
    from registry.web.server import bound_port

    async def announce() -> None:
        while not server.started and not server.should_exit:
            await asyncio.sleep(0.02)
        if server.started:
            PROCESS_HEALTH.mark_caught_up("serving pages")
            print(f"web view on http://{host}:{bound_port(server)}/", flush=True)

    await asyncio.gather(server.serve(), announce())
