"""Avro codec: every blob the registry stores, signs or sends is Avro single-object
encoding (0xC3 0x01, the schema's 8-byte CRC-64-AVRO fingerprint, then the body).

A reader looks the writer's schema up by fingerprint and resolves it against the newest
version of the same record name it knows, so old history stays readable after a schema
gains a field. Domain dataclasses map to records by field name, generically."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from registry.domain import commands as cmd
from registry.domain import emissions
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection
from registry.domain.serials import SerialBlock
from schemas import SCHEMA_DIRECTORY

MAGIC = b"\xc3\x01"
HEADER_LENGTH = 10
NAMESPACE = "credit_registry.v1"
_FILE_NAME = re.compile(r"^(?P<stem>[a-z_]+)\.v(?P<version>[0-9]+)\.avsc$")


def schema_fingerprint(parsed: Any) -> bytes:
    """The 8 bytes single-object encoding puts after the magic: the Avro spec's CRC-64-AVRO
    (Rabin) fingerprint of the schema's parsing canonical form, little-endian. fastavro
    spells it as the hex of those bytes in that order."""
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))


@dataclass(frozen=True)
class KnownSchema:
    name: str  # full name, e.g. credit_registry.v1.CreditsTransferred
    version: int
    fingerprint: bytes
    parsed: Any
    path: Path


class SchemaRegistry:
    """All schema versions found in a directory tree, by fingerprint and by name."""

    def __init__(self, directory: Path = SCHEMA_DIRECTORY) -> None:
        self.by_fingerprint: dict[bytes, KnownSchema] = {}
        self.latest: dict[str, KnownSchema] = {}
        for path in sorted(directory.rglob("*.avsc")):
            match = _FILE_NAME.match(path.name)
            if not match:
                raise ValueError(f"schema file name must be <name>.v<N>.avsc: {path}")
            raw = json.loads(path.read_text(encoding="utf-8"))
            parsed = fastavro.parse_schema(
                raw
            )  # the parsed hint spares fastavro a re-parse per call
            if not isinstance(parsed, dict):
                raise ValueError(f"{path}: a schema file holds one named record")
            name = parsed["name"]
            known = KnownSchema(
                name, int(match["version"]), schema_fingerprint(parsed), parsed, path
            )
            self.by_fingerprint[known.fingerprint] = known
            if name not in self.latest or self.latest[name].version < known.version:
                self.latest[name] = known

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        known = self.latest[name]
        buffer = io.BytesIO()
        buffer.write(MAGIC + known.fingerprint)
        fastavro.schemaless_writer(buffer, known.parsed, record)
        return buffer.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        """Decode any single-object blob; raises Rejection(MALFORMED_COMMAND) when it is not."""
        if len(data) < HEADER_LENGTH or data[:2] != MAGIC:
            raise Rejection(CheckCode.MALFORMED_COMMAND, "not Avro single-object encoding")
        writer = self.by_fingerprint.get(data[2:HEADER_LENGTH])
        if writer is None:
            raise Rejection(CheckCode.MALFORMED_COMMAND, f"unknown schema {data[2:10].hex()}")
        reader = self.latest[writer.name]
        stream = io.BytesIO(data)
        stream.seek(HEADER_LENGTH)
        # Resolution is only needed across versions; skipping it halves the decode time.
        reader_schema = None if reader is writer else reader.parsed
        try:
            record = fastavro.schemaless_reader(
                stream, writer.parsed, reader_schema, return_record_name=True
            )
        except Exception as error:  # fastavro raises many types on truncated input
            raise Rejection(
                CheckCode.MALFORMED_COMMAND, f"undecodable {writer.name}: {error}"
            ) from None
        if stream.tell() != len(data):
            raise Rejection(CheckCode.MALFORMED_COMMAND, f"trailing bytes after {writer.name}")
        if not isinstance(record, dict):
            raise Rejection(CheckCode.MALFORMED_COMMAND, f"{writer.name} is not a record")
        return writer.name, record


# -- dataclass <-> record, driven by type hints ------------------------------------------
_DOMAIN_TYPES: dict[str, type[Any]] = {
    **{cls.__name__: cls for cls in ev.EVENT_TYPES},
    **{cls.__name__: cls for cls in cmd.COMMAND_TYPES},
    "RetirementDetails": cmd.RetirementDetails,
    "Beneficiary": ev.Beneficiary,
    "Origin": ev.Origin,
    "CarriedLabel": ev.CarriedLabel,
    "SerialBlock": SerialBlock,
    "MeetingAllocation": ev.MeetingAllocation,
    "Contribution": ev.Contribution,
    "ContributionReport": cmd.ContributionReport,
    "Factor": emissions.Factor,
    "MeetingInputs": emissions.MeetingInputs,
    "TravelLeg": emissions.TravelLeg,
    "FuelUse": emissions.FuelUse,
}


# Field names per dataclass type (None for other types), filled once per type: asking
# `dataclasses.fields` per value was a fifth of the write side's time. Bounded by the
# number of types the codec knows.
_FIELD_NAMES: dict[type[Any], tuple[str, ...] | None] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...] | None:
    if cls not in _FIELD_NAMES:
        is_record = dataclasses.is_dataclass(cls)
        _FIELD_NAMES[cls] = (
            tuple(field.name for field in dataclasses.fields(cls)) if is_record else None
        )
    return _FIELD_NAMES[cls]


def to_record(value: Any) -> Any:
    names = _field_names(type(value))
    if names is not None:
        return {name: to_record(getattr(value, name)) for name in names}
    if isinstance(value, tuple):
        return [to_record(item) for item in value]
    return value


Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


@cache
def converter_for(hint: Any) -> Converter:
    """Build, once per type, the function that turns a decoded record into that type.
    Decoding is on every reader's hot path, so the type inspection happens here only, and a
    record type gets a function written for it (`_record_converter`)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(arms) != 1:
            return _identity  # a union of records arrives already converted (command bodies)
        inner = converter_for(arms[0])
        if inner is _identity:
            return _identity
        return lambda value: None if value is None else inner(value)
    if origin is tuple:
        item = converter_for(typing.get_args(hint)[0])
        if item is _identity:
            return tuple
        return lambda value: tuple([item(each) for each in value])
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _record_converter(hint)
    return _identity


def _record_converter(cls: type[Any]) -> Converter:
    """`cls(value["a"], convert_b(value["b"]), ...)`, written once as source: a third of
    the cost of building the keyword arguments field by field (the generic way, kept for a
    record that lacks a field the class has, which then takes its default)."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    positional = all(field.init and not field.kw_only for field in fields)
    converters = [(field.name, converter_for(hints[field.name])) for field in fields]
    namespace: dict[str, Any] = {"cls": cls, "generic": _generic_converter(cls, converters)}
    arguments = []
    for index, (name, convert) in enumerate(converters):
        if convert is _identity:
            argument = f"value[{name!r}]"
        elif convert is tuple:
            argument = f"tuple(value[{name!r}])"
        else:
            namespace[f"convert_{index}"] = convert
            argument = f"convert_{index}(value[{name!r}])"
        arguments.append(argument if positional else f"{name}={argument}")
    source = (
        "def convert(value):\n"
        "    if value.__class__ is tuple:\n"
        "        value = value[1]  # a union branch read with its record name\n"
        "    if isinstance(value, cls):\n"
        "        return value\n"
        "    try:\n"
        f"        return cls({', '.join(arguments)})\n"
        "    except KeyError:\n"
        "        return generic(value)\n"
    )
    exec(source, namespace)  # the source is built above from the class's own field names
    converter: Converter = namespace["convert"]
    return converter


def _generic_converter(cls: type[Any], converters: list[tuple[str, Converter]]) -> Converter:
    def convert(value: Any) -> Any:
        return cls(**{name: each(value[name]) for name, each in converters if name in value})

    return convert


def from_record(hint: Any, value: Any) -> Any:
    return converter_for(hint)(value)


# By full record name: every reader decodes every effect, so the lookup is one dict probe.
_EVENT_CONVERTERS: dict[str, Converter] = {
    f"{NAMESPACE}.{cls.__name__}": _record_converter(cls) for cls in ev.EVENT_TYPES
}


class Codec:
    """Encodes and decodes commands, events and envelopes of this registry."""

    def __init__(self, schemas: SchemaRegistry | None = None) -> None:
        self.schemas = schemas or SchemaRegistry()

    def encode_event(self, event: ev.Event) -> bytes:
        return self.schemas.encode(f"{NAMESPACE}.{type(event).__name__}", to_record(event))

    def decode_event(self, data: bytes) -> ev.Event:
        name, record = self.schemas.decode(data)
        convert = _EVENT_CONVERTERS.get(name)
        if convert is None:
            raise Rejection(CheckCode.MALFORMED_COMMAND, f"{name} is not an event")
        event: ev.Event = convert(record)
        return event

    def encode_command(self, command: cmd.Command) -> bytes:
        record = to_record(command)
        record["body"] = (f"{NAMESPACE}.{type(command.body).__name__}", record["body"])
        return self.schemas.encode(f"{NAMESPACE}.Command", record)

    def decode_command(self, data: bytes) -> cmd.Command:
        name, record = self.schemas.decode(data)
        if name != f"{NAMESPACE}.Command":
            raise Rejection(CheckCode.MALFORMED_COMMAND, f"{name} is not a command")
        body_name, body = record["body"]
        body_cls = _DOMAIN_TYPES.get(body_name.rsplit(".", 1)[-1])
        if body_cls not in cmd.COMMAND_TYPES:
            raise Rejection(CheckCode.MALFORMED_COMMAND, f"{body_name} is not a command body")
        record["body"] = from_record(body_cls, body)
        command: cmd.Command = from_record(cmd.Command, record)
        return command

    def encode_events(self, events: Iterable[ev.Event]) -> list[bytes]:
        return [self.encode_event(event) for event in events]
