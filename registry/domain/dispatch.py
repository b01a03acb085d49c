"""One way to act on an event by its type: a table from every event class to its handler.

Each table names every class in `events.EVENT_TYPES`, as handled or as deliberately
ignored, and is checked when it is built (at import): a new event type that some reader
forgets stops the program from starting instead of being skipped without a word. At run
time a type the table does not name raises `UnknownEvent`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from registry.domain.events import EVENT_TYPES

Handler = TypeVar("Handler")


class UnknownEvent(TypeError):
    """An event of a type the dispatch table does not name."""


class IncompleteDispatch(TypeError):
    """A dispatch table that does not name every event type exactly once."""


class EventDispatch(Generic[Handler]):
    """`handler(event)` is the handler of the event's class, or None for a class the table
    ignores on purpose."""

    def __init__(
        self,
        reader: str,
        handlers: Mapping[type[object], Handler],
        ignored: Iterable[type[object]] = (),
    ) -> None:
        self.reader = reader
        self.ignored = frozenset(ignored)
        self.handled = frozenset(handlers)
        self._table: dict[type[object], Handler | None] = {
            **handlers,
            **dict.fromkeys(self.ignored),
        }
        self.check(EVENT_TYPES)
        TABLES.append(self)

    def handler(self, event: object) -> Handler | None:
        try:
            return self._table[type(event)]
        except KeyError:
            raise UnknownEvent(f"{self.reader}: no rule for {type(event).__name__}") from None

    def check(self, event_types: Iterable[type[object]]) -> None:
        """Raises IncompleteDispatch unless the table names each of `event_types` once."""
        known = set(event_types)
        problems = [
            f"{cls.__name__} is {what}"
            for what, classes in (
                ("neither handled nor ignored", known - self.handled - self.ignored),
                ("both handled and ignored", self.handled & self.ignored),
                ("not an event type", (self.handled | self.ignored) - known),
            )
            for cls in sorted(classes, key=lambda cls: cls.__name__)
        ]
        if problems:
            raise IncompleteDispatch(f"{self.reader}: {'; '.join(problems)}")


TABLES: list[EventDispatch[Any]] = []  # every table built, for the completeness test
