"""Stop and restart the Kafka broker under load; make the PostgreSQL database refuse
connections for a while under load. Real servers: a separate broker from scripts/kafka.sh,
and the shared PostgreSQL server, which stays up while this test's database is closed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy

from tests.faults.conftest import FaultBroker
from tests.faults.drill import make_stack, run_drill
from tests.faults.load import LoadGenerator
from tests.support.processes import RegistryStack

BROKER_DOWN_S = 3.0  # commands keep arriving while the broker is away
DATABASE_AWAY_S = 5.0


@pytest.mark.kafka
@pytest.mark.postgres
def test_broker_stopped_and_restarted_under_load(
    tmp_path: Path, postgres_url: str, fault_broker: FaultBroker, fault_broker_topic: str
) -> None:
    stack, registry_key = make_stack(
        tmp_path, postgres_url, fault_broker.bootstrap, fault_broker_topic
    )

    def restart_broker(stack: RegistryStack, load: LoadGenerator) -> None:
        fault_broker.run("stop")  # SIGTERM while the relay publishes and workers consume
        settled_while_down = load.outcomes.sent()
        time.sleep(BROKER_DOWN_S)
        settled_while_down = load.outcomes.sent() - settled_while_down
        fault_broker.run("start")  # same data directory: the topic and its records are kept
        # The registry takes commands without the broker; the relay owes them to the topic.
        assert settled_while_down > 0, "no command was settled while the broker was down"

    run_drill("kafka-restart", stack, registry_key, restart_broker)


@pytest.mark.kafka
@pytest.mark.postgres
def test_database_refuses_connections_under_load(
    tmp_path: Path,
    postgres_server: str,
    postgres_url: str,
    kafka_bootstrap: str,
    kafka_topic: str,
) -> None:
    stack, registry_key = make_stack(tmp_path, postgres_url, kafka_bootstrap, kafka_topic)
    name = postgres_url.rsplit("/", 1)[1]
    admin = sqlalchemy.create_engine(postgres_server, isolation_level="AUTOCOMMIT")

    def close_database(stack: RegistryStack, load: LoadGenerator) -> None:
        retries_before = load.outcomes.retries
        with admin.connect() as connection:
            connection.execute(
                sqlalchemy.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            )
            # Every open session of the service, relay and workers is cut at once.
            connection.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            try:
                time.sleep(DATABASE_AWAY_S)
            finally:
                connection.execute(
                    sqlalchemy.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
                )
        assert load.outcomes.retries > retries_before, "no client noticed the database away"
        stack.assert_survivors_running()  # no process may have given up during the outage

    try:
        run_drill("database-refuses", stack, registry_key, close_database)
    finally:
        admin.dispose()
