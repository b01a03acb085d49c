"""One fault drill: start the stack, set up parties and credits through the service, run the
load, inject the fault while it runs, let the load go on after recovery, wait until
everything has caught up, stop the processes, and verify (tests/faults/verify.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from registry.client.grpc_client import RegistryClient
from registry.envelope.keys import SigningKey
from tests.e2e.grpc_world import build_grpc_world, issue
from tests.faults.load import LoadGenerator
from tests.faults.verify import FaultCounts, verify_and_report, wait_until_projected
from tests.support.helpers import AKISHIMA, IWAIZUMI, MUSASHINO
from tests.support.processes import RegistryStack, StackConfig, free_port

SENDERS = (IWAIZUMI, AKISHIMA, MUSASHINO)
ISSUED_PER_SENDER_KG = 1_000_000  # far more than the load moves: only deliberate refusals fail
WARM_UP_COMMANDS = 150  # settled before the fault: the fault hits a running system
AFTER_FAULT_COMMANDS = 300  # settled after recovery: the system works again, not just survived
LOAD_TIMEOUT_S = 120.0
SETUP_TIMEOUT_S = 30.0
KEY_PASSPHRASE = "fault drill registry key"

Inject = Callable[[RegistryStack, LoadGenerator], None]


def make_stack(
    directory: Path, database_url: str, kafka_bootstrap: str, topic: str
) -> tuple[RegistryStack, SigningKey]:
    registry_key = SigningKey.generate()
    key_file = directory / "registry.key"
    registry_key.save(key_file, KEY_PASSPHRASE.encode())
    config = StackConfig(
        directory=directory,
        database_url=database_url,
        # The read models live beside the event store, as with the chart's default secret, so
        # a database fault reaches the projection workers too.
        projection_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        topic=topic,
        key_file=key_file,
        key_passphrase=KEY_PASSPHRASE,
        port=free_port(),
    )
    return RegistryStack(config), registry_key


def run_drill(
    fault: str,
    stack: RegistryStack,
    registry_key: SigningKey,
    inject: Inject,
    relay_arguments: Sequence[str] = (),
    worker_arguments: Sequence[Sequence[str]] = ((), ()),
) -> FaultCounts:
    started = time.monotonic()
    stack.start_relay(*relay_arguments)
    for arguments in worker_arguments:
        stack.start_worker(*arguments)
    stack.start_service()
    try:
        with RegistryClient(stack.target, timeout_s=SETUP_TIMEOUT_S) as client:
            world = build_grpc_world(client)
            for party_id in SENDERS:
                issue(world, ISSUED_PER_SENDER_KG, party_id)
        load = LoadGenerator(stack.target, [world.signer(party_id) for party_id in SENDERS])
        load.start()
        try:
            load.wait_for_sent(WARM_UP_COMMANDS, LOAD_TIMEOUT_S)
            inject(stack, load)
            load.wait_for_sent(load.outcomes.sent() + AFTER_FAULT_COMMANDS, LOAD_TIMEOUT_S)
        finally:
            outcomes = load.stop()
        wait_until_projected(stack)
        stack.assert_survivors_running()
    finally:
        stack.stop_all()
    return verify_and_report(fault, stack, outcomes, registry_key.public_key, started)
