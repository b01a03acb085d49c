"""The witness: it follows the log as any partner could, verifies every envelope and every
rule with its own copy of them (the audit's Replayer, used read-only), keeps its own Merkle
tree, and judges each signed checkpoint against it:

1. the checkpoint's signature, under the registry key that sealed its tree size (the key
   history the replay followed from the pinned key);
2. its root against the witness's own tree at that size;
3. an RFC 9162 consistency proof between it and the checkpoint the witness cosigned last,
   computed from its own tree and checked with the standalone verifier's algorithm.

Then it cosigns, stores the cosignature and publishes it. Two signed checkpoints of one size
with different roots, or a checkpoint whose root is not its log's root at that size, are
evidence of a split history: stored, logged and published with both signed checkpoints, and
never cosigned. A log that contradicts a checkpoint the witness itself cosigned earlier (a
history rewritten under it) halts it: it cannot cosign anything consistent with both.

Checkpoints are judged as the replay reaches their size, or when they arrive if it is past."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from registry.audit.replay import Replayer, Unanchored
from registry.envelope.keys import SigningKey
from registry.envelope.sealing import OpenedEnvelope
from registry.support.health import PROCESS_HEALTH, ProcessHealth
from registry.support.observability import (
    WITNESS_COSIGNED_SIZE,
    WITNESS_SPLIT_HISTORIES,
    WITNESS_VERIFIED_POSITION,
)
from registry.transparency.checkpoints import Checkpoint
from registry.transparency.merkle import leaf_hash
from registry.transparency.proof_verifier import verify_consistency
from registry.transparency.registry_keys import Keys
from registry.transparency.witnessing import (
    INCONSISTENT,
    SAME_SIZE,
    ConsistencyStep,
    Cosignature,
    SplitHistory,
    check_witness_id,
)
from registry.witness.sources import BrokenLog, Follow
from registry.witness.state import WitnessState
from registry.witness.tree import VerifiedTree

logger = logging.getLogger(__name__)
PROGRESS_EVERY_ENVELOPES = 1_000
BACKOFF_MS_MIN = 100
BACKOFF_MS_MAX = 5_000


@dataclass
class CycleReport:
    verified: int = 0  # envelopes verified in this cycle
    cosigned: list[Cosignature] = field(default_factory=list)
    split_histories: list[SplitHistory] = field(default_factory=list)
    caught_up: bool = False  # at the log's end, every checkpoint up to it judged


class Witness:
    def __init__(
        self,
        witness_id: str,
        key: SigningKey,
        registry_public_keys: Keys,
        follow: Follow,
        state: WitnessState,
    ) -> None:
        self.witness_id = check_witness_id(witness_id)
        self.key = key
        self.follow = follow
        self.state = state
        self.replayer = Replayer(registry_public_keys)
        self.tree = VerifiedTree()
        self.cosigned: dict[int, Checkpoint] = {}  # judged again on this run's replay
        self.anchor: Checkpoint | None = None  # the checkpoint cosigned last, in this replay
        self.seen: set[Checkpoint] = set()
        self.by_size: dict[int, list[Checkpoint]] = {}  # signed checkpoints judged, by size
        self.pending: dict[int, list[Checkpoint]] = {}
        self.halted: str | None = None  # why it stopped for good
        for checkpoint in state.cosigned_checkpoints():
            self.cosigned[checkpoint.tree_size] = checkpoint
            self._arrive(checkpoint)  # the replay must meet each again, root for root
        WITNESS_SPLIT_HISTORIES.labels(self.witness_id).set(len(state.split_histories()))
        self._report = CycleReport()

    # -- one cycle --------------------------------------------------------------------
    def cycle(self, health: ProcessHealth = PROCESS_HEALTH) -> CycleReport:
        """Read what the log has now, judge what can be judged, publish. Raises on a log or
        database that does not answer (nothing is lost: the next cycle goes on)."""
        self._report = CycleReport()
        if self.halted is None:
            for checkpoint in self.follow.checkpoints():
                self._arrive(checkpoint)
            self._judge_ready()
            for envelope in self.follow.envelopes():
                if not self._verify(envelope) or self.halted is not None:
                    break
                if self._report.verified % PROGRESS_EVERY_ENVELOPES == 0:
                    health.progress(f"verified to position {self.tree.size}")
            self._judge_ready()
        self.publish()
        self._report.caught_up = (
            self.halted is None
            and not self.follow.waiting()
            and not any(size <= self.tree.size for size in self.pending)
            # a log shorter than what it cosigned before is a log it cannot vouch for yet
            and all(size <= self.tree.size for size in self.cosigned)
        )
        WITNESS_VERIFIED_POSITION.labels(self.witness_id).set(self.tree.size)
        return self._report

    def _arrive(self, checkpoint: Checkpoint) -> None:
        if checkpoint not in self.seen and checkpoint.tree_size > 0:
            self.seen.add(checkpoint)
            self.pending.setdefault(checkpoint.tree_size, []).append(checkpoint)

    def _verify(self, envelope: OpenedEnvelope) -> bool:
        """One envelope through the witness's own rules; False once it cannot go on."""
        try:
            step = self.replayer.step(envelope)
        except Unanchored as unanchored:
            self._halt(f"position {unanchored.stop.position}: {unanchored.stop.reason}")
            return False
        if step.findings:
            found = step.findings[0]
            self._halt(f"position {found.position}: {found.reason}")
            return False
        self.tree.append(leaf_hash(envelope.sealed_bytes))
        self._report.verified += 1
        if self.tree.size in self.pending:
            self._judge_ready()
        return True

    def _halt(self, reason: str) -> None:
        self.halted = reason
        logger.error("witness %s stops: %s", self.witness_id, reason)

    # -- judging checkpoints ----------------------------------------------------------
    def _judge_ready(self) -> None:
        for size in sorted(s for s in self.pending if s <= self.tree.size):
            if self.halted is not None:
                return
            self._judge(size, self.pending[size])
            del self.pending[size]  # only once judged: a failure judges it again next cycle

    def _judge(self, size: int, arrived: list[Checkpoint]) -> None:
        history = self.replayer.key_history  # followed up to at least `size`
        signed = [c for c in arrived if c.verifies(history)]
        for unsigned in (c for c in arrived if c not in signed):
            logger.warning(
                "witness %s: checkpoint %d does not verify under the registry key for %d: ignored",
                self.witness_id,
                unsigned.tree_size,
                size,
            )
        own = self.tree.root_at(size)
        known = self.by_size.setdefault(size, [])
        known.extend(c for c in signed if c not in known)
        mine = self.cosigned.get(size)
        if mine is not None and mine.root != own:
            matching = [c for c in known if c.root == own]
            reason = f"the log's tree at {size} no longer has the root this witness cosigned"
            self._evidence(INCONSISTENT, size, reason, [mine, *matching[:1]], own)
            self._halt(reason)
            return
        matching = [c for c in known if c.root == own]
        if matching:
            self._cosign(matching[0])
        self._find_splits(size, known, own)

    def _find_splits(self, size: int, known: list[Checkpoint], own: bytes) -> None:
        by_root: dict[bytes, Checkpoint] = {}
        for checkpoint in sorted(known, key=lambda c: c.root != own):  # the log's own first
            by_root.setdefault(checkpoint.root, checkpoint)
        if len(by_root) > 1:
            first, *others = by_root.values()
            for other in others:
                reason = f"two checkpoints of size {size} signed by the registry, different roots"
                self._evidence(SAME_SIZE, size, reason, [first, other], own)
        elif own not in by_root and by_root:
            (wrong,) = by_root.values()
            anchor = self.anchor
            since = f" (it cannot extend checkpoint {anchor.tree_size}, cosigned)" if anchor else ""
            reason = f"checkpoint {size}'s root is not the verified log's root at {size}{since}"
            self._evidence(INCONSISTENT, size, reason, [wrong, *([anchor] if anchor else [])], own)

    def _cosign(self, checkpoint: Checkpoint) -> None:
        size = checkpoint.tree_size
        anchor = self.anchor
        if size in self.cosigned:  # cosigned on an earlier run: the replay has met it again
            self._advance(checkpoint)
            return
        step = None
        if anchor is not None:
            step = self._consistency(anchor, checkpoint)
            if step is None:
                return
        cosignature = Cosignature.sign(self.witness_id, self.key, checkpoint, step)
        self.state.record(cosignature)  # stored before it is published
        self.cosigned[size] = checkpoint
        self._report.cosigned.append(cosignature)
        logger.info("witness %s cosigned checkpoint %d", self.witness_id, size)
        self._advance(checkpoint)

    def _advance(self, checkpoint: Checkpoint) -> None:
        if self.anchor is None or checkpoint.tree_size > self.anchor.tree_size:
            self.anchor = checkpoint
            self.tree.anchor_at(checkpoint.tree_size)
            WITNESS_COSIGNED_SIZE.labels(self.witness_id).set(checkpoint.tree_size)

    def _consistency(self, anchor: Checkpoint, checkpoint: Checkpoint) -> ConsistencyStep | None:
        """The proof between the last cosigned checkpoint and this one, from the witness's
        own tree, checked as any reader would check it."""
        old, new = sorted((anchor, checkpoint), key=lambda c: c.tree_size)
        path = self.tree.consistency(old.tree_size, new.tree_size)
        if not verify_consistency(old.tree_size, new.tree_size, old.root, new.root, path):
            logger.error(
                "witness %s: no consistency proof from %d to %d: not cosigned",
                self.witness_id,
                old.tree_size,
                new.tree_size,
            )
            return None
        return ConsistencyStep(anchor.tree_size, anchor.root, tuple(path))

    def _evidence(
        self, kind: str, size: int, reason: str, checkpoints: Iterable[Checkpoint], own: bytes
    ) -> None:
        found = SplitHistory(
            self.witness_id, self.key.public_key, kind, size, reason, tuple(checkpoints), own
        )
        if self.state.record(found):
            self._report.split_histories.append(found)
            logger.error(
                "witness %s: SPLIT HISTORY at size %d: %s (evidence %s)",
                self.witness_id,
                size,
                reason,
                found.evidence_id,
            )
        WITNESS_SPLIT_HISTORIES.labels(self.witness_id).set(len(self.state.split_histories()))

    # -- publishing and running -------------------------------------------------------
    def publish(self) -> int:
        """Everything stored and not yet on the witness log; returns how many."""
        records = self.state.unpublished()
        if records:
            self.follow.publish(records)
            self.state.mark_published(records)
        return len(records)

    def run(
        self,
        stop: threading.Event,
        interval_ms: int = 1_000,
        exit_when_caught_up: bool = False,
        health: ProcessHealth = PROCESS_HEALTH,
    ) -> None:
        """Cycle until stopped (or halted). A log or database that does not answer is
        retried with a bounded backoff; ready once caught up."""
        backoff_ms = BACKOFF_MS_MIN
        while not stop.is_set():
            health.progress()
            try:
                report = self.cycle(health)
            except BrokenLog as broken:
                self._halt(str(broken))
                return
            except Exception as error:  # broker or database away: the next cycle goes on
                logger.warning("witness cycle failed, retrying in %d ms: %s", backoff_ms, error)
                stop.wait(backoff_ms / 1_000)
                backoff_ms = min(backoff_ms * 2, BACKOFF_MS_MAX)
                continue
            backoff_ms = BACKOFF_MS_MIN
            if self.halted is not None:
                return
            if report.caught_up:
                detail = f"witness {self.witness_id}: verified to position {self.tree.size}"
                if not health.caught_up:
                    logger.info("caught up: %s", detail)
                    health.mark_caught_up(detail)
                if exit_when_caught_up:
                    return
            stop.wait(interval_ms / 1_000)
