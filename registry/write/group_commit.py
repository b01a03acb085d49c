"""Group commit: concurrent single-command calls share one transaction.

A transaction's cost is mostly its commit (a disk flush), not its commands. When sixteen
clients each send one transfer, the first to reach the writer lock commits every command
that is waiting by then, in arrival order; the others find their result already decided and
return. Each command stays all-or-nothing with its own result, exactly as in a batch; what a
caller gains is that it no longer pays a flush of its own. The wait queue holds at most one
entry per calling thread, and one group at most `max_group` commands.

One caller's failure stays its own. The commit function already turns an unexpected error in
one command into that command's result (INTERNAL_ERROR); should the group's commit itself
raise, each command of the group is committed again on its own, so only the ones that fail
alone see the error."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Result = TypeVar("Result")
Item = tuple[Any, type[Any] | None]  # a signed command and the body type its entry point takes

logger = logging.getLogger(__name__)


@dataclass
class _Waiting(Generic[Result]):
    item: Item
    result: Result | None = None
    error: BaseException | None = None

    @property
    def settled(self) -> bool:
        return self.result is not None or self.error is not None


class GroupCommit(Generic[Result]):
    def __init__(
        self,
        commit: Callable[[Sequence[Item]], list[Result]],
        writer_lock: threading.RLock,
        max_group: int,
    ) -> None:
        if max_group < 1:
            raise ValueError(f"max_group {max_group}: at least 1")
        self._commit = commit
        self._writer_lock = writer_lock
        self._queue_lock = threading.Lock()
        self._queue: deque[_Waiting[Result]] = deque()
        self.max_group = max_group
        self.groups_committed = 0  # for tests and metrics: fewer groups than calls = sharing

    def submit(self, item: Item) -> Result:
        waiting: _Waiting[Result] = _Waiting(item)
        with self._queue_lock:
            self._queue.append(waiting)
        with self._writer_lock:
            # Bounded: each pass settles at least one queued entry, and ours is queued.
            while not waiting.settled:
                self._commit_next_group()
        if waiting.error is not None:
            raise waiting.error
        if waiting.result is None:
            raise RuntimeError("a settled entry has a result or an error")
        return waiting.result

    def _commit_next_group(self) -> None:
        with self._queue_lock:
            size = min(len(self._queue), self.max_group)
            group = [self._queue.popleft() for _ in range(size)]
        if not group:
            raise RuntimeError("our own entry is queued until settled")
        try:
            results = self._commit([waiting.item for waiting in group])
        except Exception as error:
            if len(group) == 1:
                group[0].error = error
                return
            logger.warning(
                "a group of %d commands failed (%s); committing each on its own",
                len(group),
                type(error).__name__,
            )
            for waiting in group:
                self._commit_alone(waiting)
            return
        except BaseException as error:  # an interrupt: nobody's command may be taken as done
            for waiting in group:
                waiting.error = error
            raise
        self._settle(group, results)

    def _commit_alone(self, waiting: _Waiting[Result]) -> None:
        try:
            results = self._commit([waiting.item])
        except Exception as error:
            waiting.error = error
            return
        self._settle([waiting], results)

    def _settle(self, group: list[_Waiting[Result]], results: list[Result]) -> None:
        self.groups_committed += 1
        for waiting, result in zip(group, results, strict=True):
            waiting.result = result
