"""`credit-registry serve` and `dev-certs`, and the client the other commands use with --server."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from devtools.devcerts import create_dev_certificates
from registry.cli.home import REGISTRY_PASSPHRASE_VARIABLE, Home, passphrase
from registry.client.grpc_client import ClientTls, RegistryClient
from registry.envelope.keys import SigningKey, public_keys_from_environment, public_keys_from_hex
from registry.service.server import (
    MESSAGE_BYTES_MAX_DEFAULT,
    RegistryServer,
    ServerConfig,
    TlsFiles,
)
from registry.support.observability import metrics_port_from_environment
from registry.write.snapshot_writer import SNAPSHOT_INTERVAL_ENVELOPES


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    serve = commands.add_parser(
        "serve", help="run the gRPC service (embedded default, or with --kafka)"
    )
    serve.add_argument(
        "--listen", default=os.environ.get("CREDIT_REGISTRY_LISTEN", "127.0.0.1:50051")
    )
    serve.add_argument(
        "--database-url",
        default=os.environ.get("CREDIT_REGISTRY_DATABASE_URL"),
        help="event store (default: the SQLite file in --home)",
    )
    serve.add_argument(
        "--projection-url",
        default=os.environ.get("CREDIT_REGISTRY_PROJECTION_URL"),
        help="read models (default: projections.sqlite in --home)",
    )
    serve.add_argument(
        "--registry-key",
        type=Path,
        default=_path("CREDIT_REGISTRY_REGISTRY_KEY_FILE"),
        help="the registry's countersigning key file (default: registry.key in --home)",
    )
    serve.add_argument(
        "--kafka",
        default=os.environ.get("CREDIT_REGISTRY_KAFKA"),
        help="bootstrap servers: serve only; relay and projection workers run as their own processes",
    )
    serve.add_argument("--tls-cert", type=Path, default=_path("CREDIT_REGISTRY_TLS_CERT"))
    serve.add_argument("--tls-key", type=Path, default=_path("CREDIT_REGISTRY_TLS_KEY"))
    serve.add_argument(
        "--client-ca",
        type=Path,
        default=_path("CREDIT_REGISTRY_TLS_CLIENT_CA"),
        help="require client certificates signed by this CA (mutual TLS)",
    )
    serve.add_argument(
        "--max-message-bytes",
        type=int,
        default=int(os.environ.get("CREDIT_REGISTRY_MAX_MESSAGE_BYTES", MESSAGE_BYTES_MAX_DEFAULT)),
    )
    serve.add_argument(
        "--web",
        metavar="HOST:PORT",
        default=os.environ.get("CREDIT_REGISTRY_WEB_LISTEN"),
        help="also serve the public web view here (embedded default; off unless given)",
    )
    serve.add_argument(
        "--snapshot-interval",
        type=int,
        default=int(
            os.environ.get("CREDIT_REGISTRY_SNAPSHOT_INTERVAL", SNAPSHOT_INTERVAL_ENVELOPES)
        ),
        help="write a snapshot every this many envelopes, and on a clean shutdown, so that "
        "a start replays only what follows it (0: write none; start-up still uses one)",
    )
    serve.set_defaults(handler=_serve)

    certs = commands.add_parser(
        "dev-certs", help="create a development CA, server and client certificates"
    )
    certs.add_argument("--out", type=Path, default=Path("dev-certs"))
    certs.add_argument(
        "--client", action="append", default=None, help="client certificate names (default: client)"
    )
    certs.set_defaults(handler=_dev_certs)


def _path(variable: str) -> Path | None:
    value = os.environ.get(variable)
    return Path(value) if value else None


def client(arguments: argparse.Namespace) -> RegistryClient:
    tls = (
        ClientTls(arguments.ca, arguments.client_cert, arguments.client_key)
        if arguments.ca
        else None
    )
    return RegistryClient(arguments.server, tls)


def _serve(arguments: argparse.Namespace) -> int:
    logging.getLogger("registry").setLevel(logging.INFO)
    home = Home(arguments.home)
    key_path = arguments.registry_key or home.registry_key_path
    registry_key = SigningKey.load(
        key_path, passphrase(REGISTRY_PASSPHRASE_VARIABLE, "the registry key")
    )
    tls = None
    if arguments.tls_cert or arguments.tls_key:
        if not (arguments.tls_cert and arguments.tls_key):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        tls = TlsFiles(arguments.tls_cert, arguments.tls_key, arguments.client_ca)
    config = ServerConfig(
        listen=arguments.listen,
        database_url=arguments.database_url or home.database_url,
        projection_url=arguments.projection_url
        or f"sqlite:///{home.directory / 'projections.sqlite'}",
        registry_key=registry_key,
        # After a rotation the history starts at another key than this process's own.
        pinned_registry_keys=_pinned(home),
        kafka=arguments.kafka,
        tls=tls,
        max_message_bytes=arguments.max_message_bytes,
        metrics_port=metrics_port_from_environment(),
        snapshot_interval=arguments.snapshot_interval if arguments.snapshot_interval > 0 else None,
    )
    server = RegistryServer(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Health answers from here on (the log says so); the replay runs in the background, and
    # a SIGTERM during it ends the process at once (the replay only reads). The first line
    # on stdout stays "serving ...": scripts wait for it before they call.
    server.listen()
    mode = "kafka" if config.kafka else "embedded"
    while not stop.is_set() and not server.started.wait(0.5):
        pass
    status = 0
    if server.startup_error is not None:
        print(f"error: start-up failed: {server.startup_error}", file=sys.stderr)
        status = 1
    elif not stop.is_set():
        print(f"serving {mode} on port {server.port}{' with TLS' if tls else ''}", flush=True)
        web = _start_web(arguments.web, config.projection_url, registry_key.public_key)
        stop.wait()
        if web is not None:
            web.stop()
    server.stop()
    # Bounded shutdown: once the server has stopped taking calls and its grace period is
    # over, a worker thread still blocked (a call waiting on a database that went away, a
    # producer flushing to a broker that is down) must not keep the process alive, because
    # the interpreter joins such threads at exit without a limit. Every commit is one
    # transaction, so leaving now loses nothing: the fault suite SIGKILLs this process.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _start_web(listen: str | None, projection_url: str, public_key: bytes) -> Any:
    """The web view beside the gRPC service, on its own thread, reading the same read models."""
    if not listen:
        return None
    from registry.web.app import WebConfig
    from registry.web.server import BackgroundWebServer

    web = BackgroundWebServer(WebConfig(projection_url, public_key), listen)
    port = web.start()
    print(f"web view on http://{listen.rpartition(':')[0]}:{port}/", flush=True)
    return web


def _pinned(home: Home) -> dict[str, bytes] | None:
    pinned = public_keys_from_environment()
    return public_keys_from_hex(pinned) if pinned else home.root_registry_keys()


def _dev_certs(arguments: argparse.Namespace) -> int:
    clients = tuple(arguments.client or ["client"])
    create_dev_certificates(arguments.out, clients)
    print(
        f"wrote ca.pem, server.pem/.key and {', '.join(c + '.pem/.key' for c in clients)} to {arguments.out}"
    )
    return 0
