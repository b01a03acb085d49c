"""The ledger as plain data for a snapshot, and back: every table the ledger keeps, encoded
by its declared type into JSON values (lists, strings, numbers), nothing executable.

Each table's type is declared once, here, and the encoders are built from it and from the
fields of the records it holds. A ledger field this list does not name makes writing a
snapshot fail (and a test with it), so a new field cannot be left out silently. The layout
digest covers every table, record field and enum value: a snapshot written by a release
whose records differ is refused on load (and the chain replayed), never misread."""

from __future__ import annotations

import dataclasses
import hashlib
import types
import typing
from collections.abc import Callable, Iterable
from datetime import date
from enum import Enum
from operator import attrgetter
from typing import Any

from registry.domain.emissions import FactorTable
from registry.domain.events import Contribution
from registry.domain.label_spans import LabelSpan
from registry.domain.ledger import Ledger
from registry.domain.origin_index import OriginIndex
from registry.domain.parties import KeyRecord, Party
from registry.domain.records import (
    Agreement,
    Batch,
    CommandRecord,
    CreditClass,
    Delivery,
    Meeting,
    Pool,
    Project,
    ProjectBuffer,
    Recovery,
    Supply,
)
from registry.domain.serials import Ranges
from registry.domain.sorted_ids import SortedIds


class Head:
    """The type of the ledger's head: position, hash and the newest registry key id."""


Pair = tuple[str, str]
LEDGER_TABLES: dict[str, Any] = {
    "parties": dict[str, Party],
    "keys": dict[str, KeyRecord],
    "party_keys": dict[str, tuple[str, ...]],
    "classes": dict[str, CreditClass],
    "projects": dict[str, Project],
    "batches": dict[str, Batch],
    "batch_counts": dict[Pair, int],
    "holdings": dict[Pair, Ranges],
    "holding_kg": dict[Pair, int],
    "party_kg": dict[str, int],
    "party_batches": dict[str, SortedIds],
    "retired": dict[str, Ranges],
    "cancelled": dict[str, Ranges],
    "supply": dict[str, Supply],
    "commands": dict[str, CommandRecord],
    "pools": dict[str, Pool],
    "meetings": dict[Pair, Meeting],
    "pool_meetings": dict[str, tuple[str, ...]],
    "agreements": dict[str, Agreement],
    "deliveries": dict[str, Delivery],
    "contributions": dict[str, tuple[Contribution, ...]],
    "factor_tables": dict[str, FactorTable],
    "recoveries": dict[Pair, Recovery],
    "pending_recoveries": dict[str, str],
    "registry_keys": dict[str, int],
    "origins": dict[Pair, OriginIndex],
    "labels": dict[str, tuple[LabelSpan, ...]],
    "buffers": dict[str, ProjectBuffer],
    "head": Head,
    "_expiries": list[tuple[int, int, str]],
}
# The undo journal exists only inside a transaction; snapshots are taken between them.
NOT_KEPT = frozenset({"_journal"})
# Values that are neither records nor plain containers: (to plain data, back from it).
CUSTOM_CODECS: dict[Any, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    SortedIds: (list, SortedIds.of),
}

Convert = Callable[[Any], Any] | None  # None: the value is its own JSON form


class SnapshotLayoutError(ValueError):
    """The ledger and the snapshot's list of tables disagree."""


class _Codecs:
    def __init__(self) -> None:
        self.described: dict[str, str] = {}  # what the layout digest covers

    def build(self, tp: Any) -> tuple[Convert, Convert]:
        """(encode, decode) for values of type `tp`."""
        origin, arguments = typing.get_origin(tp), typing.get_args(tp)
        if tp in (int, str, bool):
            return None, None
        if tp is bytes:
            return bytes.hex, bytes.fromhex
        if tp is date:
            return date.toordinal, date.fromordinal
        if tp is Head:
            return _encode_head, _decode_head
        if tp in CUSTOM_CODECS:
            self.described[tp.__name__] = "custom"
            return CUSTOM_CODECS[tp]
        if isinstance(tp, type) and issubclass(tp, Enum):
            self.described[tp.__name__] = repr([member.value for member in tp])
            return attrgetter("value"), tp
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._record(tp)
        if origin in (typing.Union, types.UnionType):
            return self._optional(tp, arguments)
        if origin in (tuple, list, frozenset) and arguments:
            return self._sequence(origin, arguments)
        if origin is dict:
            return self._table(*arguments)
        raise SnapshotLayoutError(f"no snapshot encoding for {tp!r}")

    def _record(self, cls: type) -> tuple[Convert, Convert]:
        hints = typing.get_type_hints(cls)
        names = [field.name for field in dataclasses.fields(cls)]
        self.described[cls.__name__] = repr([(name, str(hints[name])) for name in names])
        codecs = [self.build(hints[name]) for name in names]
        read = attrgetter(*names)
        encoders = [(i, enc) for i, (enc, _dec) in enumerate(codecs) if enc is not None]
        decoders = [(i, dec) for i, (_enc, dec) in enumerate(codecs) if dec is not None]
        single = len(names) == 1

        def encode(value: Any) -> list[Any]:
            row = [read(value)] if single else list(read(value))
            for i, enc in encoders:
                row[i] = enc(row[i])
            return row

        def decode(row: list[Any]) -> Any:
            for i, dec in decoders:
                row[i] = dec(row[i])
            return cls(*row)

        return encode, decode

    def _optional(self, tp: Any, arguments: tuple[Any, ...]) -> tuple[Convert, Convert]:
        present = [argument for argument in arguments if argument is not type(None)]
        if len(present) != 1 or len(arguments) != 2:
            raise SnapshotLayoutError(f"no snapshot encoding for {tp!r}")
        enc, dec = self.build(present[0])
        return (
            None if enc is None else (lambda v: None if v is None else enc(v)),
            None if dec is None else (lambda v: None if v is None else dec(v)),
        )

    def _sequence(self, origin: Any, arguments: tuple[Any, ...]) -> tuple[Convert, Convert]:
        if origin is tuple and not (len(arguments) == 2 and arguments[1] is Ellipsis):
            codecs = [self.build(argument) for argument in arguments]  # a fixed-size tuple
            if all(enc is None and dec is None for enc, dec in codecs):
                return list, tuple
            encoders = [enc or _same for enc, _dec in codecs]
            decoders = [dec or _same for _enc, dec in codecs]
            return (
                lambda items: [enc(item) for enc, item in zip(encoders, items, strict=True)],
                lambda items: tuple(dec(item) for dec, item in zip(decoders, items, strict=True)),
            )
        enc, dec = self.build(arguments[0])
        if origin is frozenset:
            return (
                (lambda v: sorted(v)) if enc is None else (lambda v: sorted(map(enc, v))),
                frozenset if dec is None else (lambda v: frozenset(map(dec, v))),
            )
        rebuild: Callable[[Any], Any] = tuple if origin is tuple else list
        return (
            list if enc is None else (lambda v: [enc(item) for item in v]),
            rebuild if dec is None else (lambda v: rebuild(map(dec, v))),
        )

    def _table(self, key_type: Any, value_type: Any) -> tuple[Convert, Convert]:
        """A table is its keys and its values as parallel lists, in the ledger's order;
        records (the large tables: batches, supply) as one list per field, so loading
        makes each record with one call and no loop of ours per row."""
        key_enc, key_dec = self.build(key_type)
        if dataclasses.is_dataclass(value_type) and isinstance(value_type, type):
            self._record(value_type)  # described, and checked to be encodable
            return _columns(self, key_enc, key_dec, value_type)
        value_enc, value_dec = self.build(value_type)

        def encode(table: dict[Any, Any]) -> list[list[Any]]:
            return [_mapped(key_enc, table.keys()), _mapped(value_enc, table.values())]

        def decode(data: list[list[Any]]) -> dict[Any, Any]:
            keys, values = data
            return dict(zip(_lazy(key_dec, keys), _lazy(value_dec, values), strict=True))

        return encode, decode


def _mapped(convert: Convert, values: Iterable[Any]) -> list[Any]:
    return list(values) if convert is None else list(map(convert, values))


def _lazy(convert: Convert, values: Iterable[Any]) -> Iterable[Any]:
    return values if convert is None else map(convert, values)


def _columns(
    codecs: _Codecs, key_enc: Convert, key_dec: Convert, cls: type
) -> tuple[Convert, Convert]:
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls)]
    fields = [(attrgetter(name), *codecs.build(hints[name])) for name in names]

    def encode(table: dict[Any, Any]) -> list[Any]:
        values = list(table.values())
        columns = [_mapped(enc, map(read, values)) for read, enc, _dec in fields]
        return [_mapped(key_enc, table.keys()), columns]

    def decode(data: list[Any]) -> dict[Any, Any]:
        keys, columns = data
        decoded = [
            _lazy(dec, column) for (_read, _enc, dec), column in zip(fields, columns, strict=True)
        ]
        return dict(zip(_lazy(key_dec, keys), map(cls, *decoded), strict=True))

    return encode, decode


def _same(value: Any) -> Any:
    return value


def _encode_head(head: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": int(head["position"]),
        "hash": bytes(head["hash"]).hex(),
        **({"registry_key_id": head["registry_key_id"]} if "registry_key_id" in head else {}),
    }


def _decode_head(data: dict[str, Any]) -> dict[str, Any]:
    head: dict[str, Any] = {"position": int(data["position"]), "hash": bytes.fromhex(data["hash"])}
    if "registry_key_id" in data:
        head["registry_key_id"] = str(data["registry_key_id"])
    return head


def _build() -> tuple[dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]], str]:
    codecs = _Codecs()
    built = {}
    for name, tp in LEDGER_TABLES.items():
        enc, dec = codecs.build(tp)
        built[name] = (enc or _same, dec or _same)
        codecs.described[f"table {name}"] = repr(tp)
    description = "\n".join(f"{k}: {v}" for k, v in sorted(codecs.described.items()))
    return built, hashlib.sha256(description.encode()).hexdigest()[:16]


_TABLE_CODECS, LAYOUT = _build()


def require_known_fields(ledger: Ledger) -> None:
    fields = set(vars(ledger))
    known = set(LEDGER_TABLES) | NOT_KEPT
    if fields != known:
        raise SnapshotLayoutError(
            f"the ledger's fields and the snapshot's tables differ: ledger only "
            f"{sorted(fields - known)}, snapshot only {sorted(known - fields)}"
        )


def encode_ledger(ledger: Ledger) -> dict[str, Any]:
    """Every table of a ledger outside a transaction, as JSON values."""
    require_known_fields(ledger)
    if ledger.in_transaction:
        raise SnapshotLayoutError("a ledger inside a transaction has no snapshot")
    return {name: enc(getattr(ledger, name)) for name, (enc, _dec) in _TABLE_CODECS.items()}


def decode_ledger(data: dict[str, Any]) -> Ledger:
    if set(data) != set(_TABLE_CODECS):
        raise SnapshotLayoutError(f"a snapshot with tables {sorted(data)}")
    ledger = Ledger()
    for name, (_enc, dec) in _TABLE_CODECS.items():
        setattr(ledger, name, dec(data[name]))
    require_known_fields(ledger)
    return ledger
