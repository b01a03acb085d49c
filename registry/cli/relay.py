"""`credit-registry relay` and `create-topics`: publishing the stored envelopes, in order,
to Kafka or to the embedded log, and creating the Kafka topics they go to."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

import sqlalchemy

from registry.cli.home import Home
from registry.log import Publisher
from registry.log.embedded import EmbeddedLog
from registry.log.kafka import KafkaPublisher, TopicSettings, ensure_topics
from registry.relay.positions import RelayPositions
from registry.relay.publishing import Relay
from registry.support.observability import metrics_port_from_environment, serve_metrics
from registry.transparency.checkpoints import CheckpointStore
from registry.write.persistence import event_store_recorder


def add_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    relay = commands.add_parser(
        "relay", help="publish stored envelopes to Kafka, or to the embedded log"
    )
    relay.add_argument(
        "--database-url", help="event store URL (default: the embedded store in --home)"
    )
    _kafka_options(relay)
    relay.add_argument("--batch-events", type=int, default=500)
    relay.add_argument("--exit-when-caught-up", action="store_true")
    relay.add_argument("--pause-before-commit-ms", type=int, default=0, help=argparse.SUPPRESS)
    relay.set_defaults(handler=_relay)

    topics = commands.add_parser(
        "create-topics",
        help="create the envelope topic and its quarantine, checkpoints and witness topics",
    )
    _kafka_options(topics)
    topics.add_argument(
        "--partitions", type=int, default=int(os.environ.get("CREDIT_REGISTRY_PARTITIONS", "3"))
    )
    topics.add_argument(
        "--replication-factor",
        type=int,
        default=int(os.environ.get("CREDIT_REGISTRY_REPLICATION", "1")),
    )
    topics.add_argument(
        "--min-insync-replicas",
        type=int,
        default=int(os.environ.get("CREDIT_REGISTRY_MIN_ISR", "1")),
    )
    topics.set_defaults(handler=_create_topics)


def _kafka_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka", default=os.environ.get("CREDIT_REGISTRY_KAFKA"), help="bootstrap servers"
    )
    parser.add_argument(
        "--topic", default=os.environ.get("CREDIT_REGISTRY_TOPIC", TopicSettings.topic)
    )


def _relay(arguments: argparse.Namespace) -> int:
    logging.getLogger("registry").setLevel(logging.INFO)
    serve_metrics(metrics_port_from_environment())
    database_url = arguments.database_url or Home(arguments.home).database_url
    engine = sqlalchemy.create_engine(database_url)
    publisher: Publisher = (
        KafkaPublisher(arguments.kafka, arguments.topic) if arguments.kafka else EmbeddedLog(engine)
    )
    relay = Relay(
        event_store_recorder(database_url),
        publisher,
        RelayPositions(engine),
        relay_name="kafka:" + arguments.topic if arguments.kafka else "embedded",
        batch_events=arguments.batch_events,
        pause_before_commit_ms=arguments.pause_before_commit_ms,
        checkpoints=CheckpointStore(engine),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        relay.run(stop, exit_when_caught_up=arguments.exit_when_caught_up)
    except KeyboardInterrupt:
        pass
    finally:
        publisher.close()
    print(f"relay stopped at position {relay.positions.get(relay.relay_name)}")
    return 0


def _create_topics(arguments: argparse.Namespace) -> int:
    if not arguments.kafka:
        print("--kafka (or CREDIT_REGISTRY_KAFKA) is required", file=sys.stderr)
        return 2
    settings = TopicSettings(
        arguments.topic,
        arguments.partitions,
        arguments.replication_factor,
        arguments.min_insync_replicas,
    )
    ensure_topics(arguments.kafka, settings)
    print(
        f"topics ready: {settings.topic} and its .quarantine, .checkpoints and .witness "
        f"topics ({settings.partitions} partitions)"
    )
    return 0
