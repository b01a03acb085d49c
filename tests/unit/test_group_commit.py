"""Group commit: concurrent callers share transactions, each gets its own result, and a
failing caller's command fails its own call and no other."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from registry.write.group_commit import GroupCommit

CALLERS = 32


class SlowCommitter:
    """Stands in for the store's commit: slow enough that callers pile up behind it."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.fail_on = fail_on
        self.release = threading.Event()

    def commit(self, items: Sequence[tuple[Any, type[Any] | None]]) -> list[str]:
        self.release.wait(timeout=5)
        names = [str(item) for item, _ in items]
        self.groups.append(names)
        if self.fail_on in names:
            raise ConnectionError("the store went away")
        return [f"done {name}" for name in names]


def _run_callers(group: GroupCommit[str], count: int) -> dict[str, str]:
    outcomes: dict[str, str] = {}

    def call(name: str) -> None:
        try:
            outcomes[name] = group.submit((name, None))
        except ConnectionError as error:
            outcomes[name] = f"failed {error}"

    threads = [threading.Thread(target=call, args=(f"c{number}",)) for number in range(count)]
    for thread in threads:
        thread.start()
    return _join(threads, outcomes)


def _join(threads: list[threading.Thread], outcomes: dict[str, str]) -> dict[str, str]:
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    return outcomes


def test_concurrent_callers_share_commits_and_each_gets_its_own_result() -> None:
    committer = SlowCommitter()
    group: GroupCommit[str] = GroupCommit(committer.commit, threading.RLock(), max_group=1_000)
    timer = threading.Timer(0.2, committer.release.set)  # let the callers queue up first
    timer.start()
    outcomes = _run_callers(group, CALLERS)
    assert outcomes == {f"c{n}": f"done c{n}" for n in range(CALLERS)}
    committed = [name for names in committer.groups for name in names]
    assert sorted(committed) == sorted(outcomes)  # each exactly once
    assert len(committer.groups) < CALLERS  # some shared a transaction
    assert group.groups_committed == len(committer.groups)


def test_groups_never_exceed_their_bound() -> None:
    committer = SlowCommitter()
    group: GroupCommit[str] = GroupCommit(committer.commit, threading.RLock(), max_group=3)
    threading.Timer(0.2, committer.release.set).start()
    outcomes = _run_callers(group, CALLERS)
    assert len(outcomes) == CALLERS
    assert max(len(names) for names in committer.groups) <= 3


def test_a_failing_caller_fails_only_its_own_call() -> None:
    """c5's command makes the whole commit raise: the other callers of its group are
    committed again on their own and get their results; c5 alone sees the error."""
    committer = SlowCommitter(fail_on="c5")
    group: GroupCommit[str] = GroupCommit(committer.commit, threading.RLock(), max_group=1_000)
    threading.Timer(0.2, committer.release.set).start()
    outcomes = _run_callers(group, CALLERS)
    shared_group = next(names for names in committer.groups if "c5" in names)
    assert len(shared_group) > 1  # c5 did share a group, so the others were at risk
    for name, outcome in outcomes.items():
        expected = "failed the store went away" if name == "c5" else f"done {name}"
        assert outcome == expected
    committed = [name for names in committer.groups if "c5" not in names for name in names]
    assert sorted(committed) == sorted(name for name in outcomes if name != "c5")  # once each


def test_a_group_of_one_needs_no_other_caller() -> None:
    committer = SlowCommitter()
    committer.release.set()
    group: GroupCommit[str] = GroupCommit(committer.commit, threading.RLock(), max_group=8)
    assert group.submit(("alone", None)) == "done alone"
    with pytest.raises(ValueError, match="at least 1"):
        GroupCommit(committer.commit, threading.RLock(), max_group=0)
