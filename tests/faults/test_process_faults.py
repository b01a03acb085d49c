"""SIGKILL the gRPC service under load and restart it; SIGKILL the relay and the projection
workers mid-batch and restart them. Real processes on real PostgreSQL and Kafka."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.drill import make_stack, run_drill
from tests.faults.load import LoadGenerator
from tests.support.processes import RegistryStack

SERVICE_KILLS = 2
SERVICE_DOWN_S = 1.0  # long enough for clients to see the service gone and retry
BETWEEN_KILLS_COMMANDS = 100
PAUSE_BEFORE_COMMIT_MS = "2000"  # the fault-drill window: work done, not yet committed
MID_BATCH_TIMEOUT_S = 60.0


@pytest.mark.kafka
@pytest.mark.postgres
def test_service_killed_under_load(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    stack, registry_key = make_stack(tmp_path, postgres_url, kafka_bootstrap, kafka_topic)

    def kill_and_restart_service(stack: RegistryStack, load: LoadGenerator) -> None:
        for _ in range(SERVICE_KILLS):
            assert stack.service is not None
            stack.service.kill()  # commands in flight: some committed, some not, none answered
            time.sleep(SERVICE_DOWN_S)
            stack.start_service()
            load.wait_for_sent(load.outcomes.sent() + BETWEEN_KILLS_COMMANDS, MID_BATCH_TIMEOUT_S)

    counts = run_drill("kill-service", stack, registry_key, kill_and_restart_service)
    assert counts.retries > 0, "no client ever noticed the service was gone"


@pytest.mark.kafka
@pytest.mark.postgres
def test_relay_and_workers_killed_mid_batch(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str, kafka_topic: str
) -> None:
    stack, registry_key = make_stack(tmp_path, postgres_url, kafka_bootstrap, kafka_topic)

    def kill_mid_batch(stack: RegistryStack, load: LoadGenerator) -> None:
        relay = stack.relay
        assert relay is not None
        # The relay has sent a batch and Kafka holds it durably; its position is not
        # recorded yet. Killed here, the restarted relay sends that batch again.
        relay.wait_for_line("pausing before commit", MID_BATCH_TIMEOUT_S, after=relay.mark())
        relay.kill()
        stack.start_relay()
        # Worker 1 has written a batch of rows and its offsets in an open transaction;
        # worker 2 is killed wherever it happens to be.
        first, second = stack.workers
        first.wait_for_line("pausing before commit", MID_BATCH_TIMEOUT_S, after=first.mark())
        first.kill()
        second.kill()
        stack.start_worker()
        stack.start_worker()

    counts = run_drill(
        "kill-relay-and-workers",
        stack,
        registry_key,
        kill_mid_batch,
        relay_arguments=("--pause-before-commit-ms", PAUSE_BEFORE_COMMIT_MS),
        worker_arguments=(("--pause-before-commit-ms", PAUSE_BEFORE_COMMIT_MS), ()),
    )
    assert counts.resent_records_dropped > 0, "the relay was not killed inside a batch"
