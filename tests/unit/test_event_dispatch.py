"""Every reader of events names every event type, as handled or as ignored on purpose: an
event class added to registry/domain/events.py that some reader does not name fails here
(and stops that reader's module from importing)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import typing
from dataclasses import dataclass

import pytest

import projections
import registry
from registry.domain import events as ev
from registry.domain.dispatch import TABLES, EventDispatch, IncompleteDispatch, UnknownEvent
from registry.domain.ledger import Ledger
from schemas import SCHEMA_DIRECTORY

# The readers this registry has; finding fewer means a module stopped registering its table.
READERS = {"ledger", "projections", "audit totals"}


def _dataclasses_inside(hint: object) -> set[type]:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return {hint}
    return {inner for arg in typing.get_args(hint) for inner in _dataclasses_inside(arg)}


def _event_classes_defined_in_events_py() -> set[type]:
    """The dataclasses of events.py, less those that only appear inside another one
    (Beneficiary, MeetingAllocation, Contribution are parts of events, not events)."""
    defined = {
        value
        for value in vars(ev).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__module__ == ev.__name__
    }
    parts = {
        part
        for cls in defined
        for hint in typing.get_type_hints(cls).values()
        for part in _dataclasses_inside(hint)
    }
    return defined - parts


def _all_dispatch_tables() -> list[EventDispatch[object]]:
    for package in (registry, projections):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    return list(TABLES)


def test_event_types_are_the_event_classes_of_events_py_and_their_schemas() -> None:
    classes = _event_classes_defined_in_events_py()
    schema_names = {
        json.loads(path.read_text("utf-8"))["name"]
        for path in (SCHEMA_DIRECTORY / "events").glob("*.avsc")
    }
    assert classes == set(ev.EVENT_TYPES) == set(typing.get_args(ev.Event))
    assert {cls.__name__ for cls in classes} == schema_names
    assert len(ev.EVENT_TYPES) == len(set(ev.EVENT_TYPES))


def test_every_dispatch_table_names_every_event_type_once() -> None:
    tables = _all_dispatch_tables()
    assert {table.reader for table in tables} >= READERS
    every = set(_event_classes_defined_in_events_py())
    for table in tables:
        assert table.handled | table.ignored == every, table.reader
        assert not table.handled & table.ignored, table.reader


@dataclass(frozen=True, slots=True)
class PoolClosed:
    """An event type no reader knows yet."""

    pool_id: str


def test_a_new_event_type_is_refused_by_every_table_until_it_names_it() -> None:
    for table in _all_dispatch_tables():
        with pytest.raises(IncompleteDispatch, match="PoolClosed is neither handled nor ignored"):
            table.check((*ev.EVENT_TYPES, PoolClosed))


def test_a_table_that_leaves_out_or_doubles_an_event_type_cannot_be_built() -> None:
    handlers = {cls: cls.__name__ for cls in ev.EVENT_TYPES}
    del handlers[ev.KeyRotated]
    with pytest.raises(IncompleteDispatch, match="KeyRotated is neither handled nor ignored"):
        EventDispatch("partial", handlers)
    with pytest.raises(IncompleteDispatch, match="KeyRevoked is both handled and ignored"):
        EventDispatch("doubled", handlers, ignored=(ev.KeyRotated, ev.KeyRevoked))
    with pytest.raises(IncompleteDispatch, match="PoolClosed is not an event type"):
        EventDispatch("extra", handlers, ignored=(ev.KeyRotated, PoolClosed))


def test_ignored_types_give_no_handler_and_unknown_types_raise() -> None:
    table = EventDispatch(
        "sample",
        {cls: cls.__name__ for cls in ev.EVENT_TYPES if cls is not ev.KeyRevoked},
        ignored=(ev.KeyRevoked,),
    )
    assert table.handler(ev.KeyRevoked("132071", "ed25519:0", "lost", "132071")) is None
    assert table.handler(ev.KeyRegistered("132071", "ed25519:0", bytes(32))) == "KeyRegistered"
    with pytest.raises(UnknownEvent, match="sample: no rule for PoolClosed"):
        table.handler(PoolClosed("P"))


def test_the_ledger_raises_on_an_unknown_event_type() -> None:
    with pytest.raises(UnknownEvent, match="ledger: no rule for PoolClosed"):
        Ledger().apply(PoolClosed("P"), 1)  # type: ignore[arg-type]
