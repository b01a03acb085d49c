"""The load generator: client threads sending signed transfers through the real gRPC client
while a fault is injected. Every command has its own id and is signed once; a transient
failure (the service gone, a deadline, the store away) is retried with the very same signed
bytes, so the registry's idempotency makes the retry exactly-once. The generator records
what the client was told: acknowledged (with the position), definitively failed (with the
check code), or unresolved (it stopped retrying without an answer)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import grpc

from registry.client.command_signer import CommandSigner
from registry.client.grpc_client import CommandRejected, RegistryClient
from registry.domain import commands as c
from registry.envelope.sealing import SignedCommand

# Worth retrying with the same signed command: the outcome is unknown or the registry said
# "not now". ABORTED is the CONFLICT check, whose documented answer is to retry.
RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
)
COMMAND_TIMEOUT_S = 5.0
RETRY_BUDGET_S = 90.0  # longer than any fault lasts: every command gets a definitive answer
RETRY_PAUSE_S = 0.2
REFUSED_EVERY = 10  # one command in ten asks for more than the sender holds: it must fail
REFUSED_QUANTITY_KG = 10**9
# Paced, not flat out: about 20 commands a second per thread keeps the service busy while
# leaving the relay, the workers (and other work on a 2-core machine) their share, and keeps
# the history of a long outage small enough to verify in seconds.
COMMAND_INTERVAL_S = 0.05
STOP_TIMEOUT_S = RETRY_BUDGET_S + 30.0


@dataclass
class Outcomes:
    acknowledged: dict[str, int] = field(default_factory=dict)  # command id -> position told
    failed: dict[str, str] = field(default_factory=dict)  # command id -> status or check code
    unresolved: set[str] = field(default_factory=set)
    replayed: int = 0  # acknowledgements that were the first result sent again
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self) -> int:
        with self.lock:
            return len(self.acknowledged) + len(self.failed) + len(self.unresolved)


class LoadGenerator:
    """One thread per sender; sender i transfers to sender i+1, so holdings stay positive."""

    def __init__(self, target: str, signers: list[CommandSigner]) -> None:
        assert len(signers) >= 2
        self.target = target
        self.signers = signers
        self.outcomes = Outcomes()
        self.stop_event = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(index,), name=f"load-{index}", daemon=True)
            for index in range(len(signers))
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> Outcomes:
        """Stop starting new commands; commands in flight still retry to an answer."""
        self.stop_event.set()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for thread in self.threads:
            thread.join(timeout=max(deadline - time.monotonic(), 0))
            assert not thread.is_alive(), f"{thread.name} did not finish in {STOP_TIMEOUT_S} s"
        return self.outcomes

    def wait_for_sent(self, count: int, timeout_s: float) -> None:
        """Bounded wait until the generator has settled `count` commands (load is flowing)."""
        deadline = time.monotonic() + timeout_s
        while self.outcomes.sent() < count:
            assert time.monotonic() < deadline, (
                f"only {self.outcomes.sent()} of {count} commands settled in {timeout_s} s"
            )
            time.sleep(0.05)

    def _run(self, index: int) -> None:
        signer = self.signers[index]
        recipient = self.signers[(index + 1) % len(self.signers)].actor_id
        with RegistryClient(self.target, timeout_s=COMMAND_TIMEOUT_S) as client:
            sequence = 0
            next_command_at_s = time.monotonic()
            while not self.stop_event.wait(max(next_command_at_s - time.monotonic(), 0)):
                next_command_at_s = time.monotonic() + COMMAND_INTERVAL_S
                sequence += 1
                quantity_kg = (
                    REFUSED_QUANTITY_KG if sequence % REFUSED_EVERY == 0 else 1 + sequence % 9
                )
                signed = signer.sign(c.TransferCredits(signer.actor_id, recipient, quantity_kg))
                command_id = self._command_id(signer, signed.command_bytes)
                self._send_until_answered(client, signed, command_id)

    @staticmethod
    def _command_id(signer: CommandSigner, command_bytes: bytes) -> str:
        return signer.codec.decode_command(command_bytes).command_id

    def _send_until_answered(
        self, client: RegistryClient, signed: SignedCommand, command_id: str
    ) -> None:
        deadline = time.monotonic() + RETRY_BUDGET_S
        while True:
            try:
                result = client.send(signed, "TransferCredits")
            except CommandRejected as rejection:
                if rejection.status in RETRYABLE and time.monotonic() < deadline:
                    with self.outcomes.lock:
                        self.outcomes.retries += 1
                    time.sleep(RETRY_PAUSE_S)
                    continue
                with self.outcomes.lock:
                    if rejection.status in RETRYABLE:
                        self.outcomes.unresolved.add(command_id)
                    else:
                        reason = rejection.code.name if rejection.code else rejection.status.name
                        self.outcomes.failed[command_id] = reason
                return
            with self.outcomes.lock:
                self.outcomes.acknowledged[command_id] = int(result.position)
                # A retry of a command the registry had already recorded (the answer was
                # lost): idempotency hands back the first result instead of recording again.
                self.outcomes.replayed += int(result.replayed)
            return
