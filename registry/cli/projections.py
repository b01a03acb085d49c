"""`credit-registry projections ...`: run, catch up, rebuild and inspect the read models."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading

import sqlalchemy

from projections import queries
from projections.runner import (
    EMBEDDED_SOURCE,
    catch_up_embedded,
    catch_up_kafka,
    kafka_head_position,
    run_group_worker,
)
from projections.store import ProjectionStore
from registry.cli.home import Home
from registry.envelope.keys import public_keys_from_environment, public_keys_from_hex
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import TopicSettings
from registry.scenario.report import allocation_header, allocation_text, meetings_text
from registry.support.observability import metrics_port_from_environment, serve_metrics

GROUP_DEFAULT = "credit-registry-projections"
logger = logging.getLogger(__name__)


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = commands.add_parser(
        "projections", help="read models built from the stream"
    ).add_subparsers(title="projections")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--projection-url",
            default=os.environ.get("CREDIT_REGISTRY_PROJECTION_URL"),
            help="read-model database (default: projections.sqlite in --home)",
        )
        parser.add_argument(
            "--database-url", help="event store holding the embedded log (default: --home's)"
        )
        parser.add_argument(
            "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA"), help="bootstrap servers"
        )
        parser.add_argument(
            "--topic", default=os.environ.get("CREDIT_REGISTRY_TOPIC", TopicSettings.topic)
        )
        parser.add_argument(
            "--registry-public-key",
            action="append",
            default=public_keys_from_environment(),
            help="hex Ed25519 public key the registry's history starts from: every record's "
            "countersignature is verified before it is projected, following the registry's "
            "key rotations from there (required, unless --trust-topic)",
        )
        parser.add_argument(
            "--trust-topic",
            action="store_true",
            help="UNSAFE: project whatever the topic (or embedded log) holds, unchecked; "
            "anyone who can write to it then writes the read models",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count(),
            help="processes verifying countersignatures (Kafka, with a key)",
        )

    run = group.add_parser("run", help="a consumer-group worker (Kafka); several may run at once")
    common(run)
    run.add_argument(
        "--group", default=os.environ.get("CREDIT_REGISTRY_PROJECTION_GROUP", GROUP_DEFAULT)
    )
    run.add_argument("--pause-before-commit-ms", type=int, default=0, help=argparse.SUPPRESS)
    run.set_defaults(handler=_run)

    catch_up = group.add_parser(
        "catch-up", help="apply everything up to the current head, then exit"
    )
    common(catch_up)
    catch_up.set_defaults(handler=_catch_up)

    rebuild = group.add_parser("rebuild", help="rebuild from position 0 into a fresh database")
    common(rebuild)
    rebuild.set_defaults(handler=_catch_up, fresh=True)

    lag = group.add_parser("lag", help="positions behind the head of the stream")
    common(lag)
    lag.set_defaults(handler=_lag)

    allocation = group.add_parser(
        "allocation",
        help="one joint-purchase pool's table: a row per member, subtotals, its meetings",
    )
    common(allocation)
    allocation.add_argument("--pool", required=True, help="the pool id, e.g. TOKYO62-FY2011")
    allocation.set_defaults(handler=_allocation)


def _projection_url(arguments: argparse.Namespace) -> str:
    return (
        arguments.projection_url
        or f"sqlite:///{Home(arguments.home).directory / 'projections.sqlite'}"
    )


def _embedded_log(
    arguments: argparse.Namespace, keys: dict[str, bytes] | None = None
) -> EmbeddedLog:
    return EmbeddedLog(
        sqlalchemy.create_engine(arguments.database_url or Home(arguments.home).database_url),
        registry_public_keys=keys,
    )


def _run(arguments: argparse.Namespace) -> int:
    logging.getLogger("projections").setLevel(logging.INFO)
    if not arguments.kafka:
        print(
            "projections run needs --kafka; without Kafka use 'projections catch-up'",
            file=sys.stderr,
        )
        return 2
    keys = _registry_keys(arguments)  # refuses before touching the broker
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    serve_metrics(metrics_port_from_environment())
    store = ProjectionStore(_projection_url(arguments))
    with contextlib.suppress(KeyboardInterrupt):
        run_group_worker(
            store,
            arguments.kafka,
            arguments.topic,
            arguments.group,
            stop,
            keys,
            pause_before_commit_ms=arguments.pause_before_commit_ms,
            workers=arguments.workers,
        )
    return 0


def _registry_keys(arguments: argparse.Namespace) -> dict[str, bytes] | None:
    """Fail closed: records are countersignature-checked against the registry's key history
    from the pinned key. Without a key a worker would let whoever can write to the topic
    write the read models, so it refuses to start (exit 2) unless told --trust-topic. The
    embedded log of --home's own store is checked against the key --home records."""
    if arguments.registry_public_key:
        return public_keys_from_hex(arguments.registry_public_key)
    if not arguments.kafka and not arguments.database_url:
        home_keys = Home(arguments.home).root_registry_keys()
        if home_keys is not None:
            return home_keys
    if arguments.trust_topic:
        logger.warning(
            "--trust-topic: records are projected without checking their countersignatures"
        )
        return None
    print(
        "refusing to project unchecked records: give the registry's public key "
        "(--registry-public-key or CREDIT_REGISTRY_REGISTRY_PUBLIC_KEY), "
        "or --trust-topic to trust whoever can write to the log",
        file=sys.stderr,
    )
    raise SystemExit(2)


def _catch_up(arguments: argparse.Namespace) -> int:
    keys = _registry_keys(arguments)
    url = _projection_url(arguments)
    store = ProjectionStore(url)
    if getattr(arguments, "fresh", False) and store.applied_count():
        print(
            f"{url} already holds projected rows; rebuild needs a fresh database", file=sys.stderr
        )
        return 2
    if arguments.kafka:
        applied = catch_up_kafka(store, arguments.kafka, arguments.topic, keys, arguments.workers)
    else:
        applied = catch_up_embedded(store, _embedded_log(arguments, keys))
    print(f"applied {applied} envelopes; {store.applied_count()} in all")
    return 0


def _lag(arguments: argparse.Namespace) -> int:
    store = ProjectionStore(_projection_url(arguments))
    head = (
        kafka_head_position(arguments.kafka, arguments.topic)
        if arguments.kafka
        else _embedded_log(arguments).head_position()
    )
    applied = store.applied_count()
    source = f"kafka:{arguments.topic}" if arguments.kafka else EMBEDDED_SOURCE
    print(f"source {source}: head {head}, applied {applied}, lag {head - applied}")
    return 0


def _allocation(arguments: argparse.Namespace) -> int:
    store = ProjectionStore(_projection_url(arguments))
    with store.engine.connect() as connection:
        pool = queries.pool(connection, arguments.pool)
        rows, totals = queries.allocation(connection, arguments.pool)
        meetings = queries.meetings(connection, arguments.pool)
    # Like the query service: a pool the projections do not (yet) hold has zero totals.
    print(allocation_header(pool) if pool else f"pool {arguments.pool}: not in the projections")
    print()
    print(allocation_text(rows, totals))
    print(meetings_text(meetings))
    return 0
