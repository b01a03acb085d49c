import io
import json
from datetime import date
from pathlib import Path

import fastavro
import pytest
from fastavro.schema import to_parsing_canonical_form

from registry.domain import commands as c
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection
from registry.domain.serials import SerialBlock
from registry.envelope.codec import Codec, SchemaRegistry, crc64_avro, to_record
from schemas import SCHEMA_DIRECTORY

RETIRED = ev.CreditsRetired(
    "132071",
    (SerialBlock("JVER-IWAIZUMI01-20110401-20120331-001", 1, 12_000),),
    12_000,
    ev.Beneficiary("昭島市", "132071"),
    "residual_emissions",
    2011,
    "森林吸収によるオフセット",
)


def test_every_event_type_has_its_own_schema_file() -> None:
    names = {path.name.split(".")[0] for path in (SCHEMA_DIRECTORY / "events").glob("*.avsc")}
    assert len(names) == len(ev.EVENT_TYPES)


def test_fingerprint_is_avro_crc64_little_endian() -> None:
    parsed = fastavro.parse_schema({"type": "string"})
    canonical = to_parsing_canonical_form(parsed)
    expected = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    assert crc64_avro(canonical.encode()) in (expected, expected[::-1])


def test_events_and_commands_round_trip() -> None:
    codec = Codec()
    assert codec.decode_event(codec.encode_event(RETIRED)) == RETIRED
    issued = ev.CreditsIssued(
        "B", "JVER", "P", "i", date(2011, 4, 1), date(2012, 3, 31), 1, 5, 5, "132071"
    )
    assert codec.decode_event(codec.encode_event(issued)) == issued
    details = c.RetirementDetails(ev.Beneficiary("Akishima", None), "meeting_event", 2011)
    command = c.Command(
        "id-1",
        "132071",
        "ed25519:ab",
        1,
        2,
        c.TransferCredits("132071", "034835", 7, None, "memo", details),
    )
    assert codec.decode_command(codec.encode_command(command)) == command


def test_encoding_is_single_object_with_fingerprint() -> None:
    data = Codec().encode_event(RETIRED)
    assert data[:2] == b"\xc3\x01"
    registry = SchemaRegistry()
    assert registry.by_fingerprint[data[2:10]].name == "credit_registry.v1.CreditsRetired"


def test_reader_decodes_an_older_schema_version(tmp_path: Path) -> None:
    """Write with today's newest version, then ship one more that adds a field with a
    default: the old bytes still read, and the domain still gets its event."""
    old_bytes = Codec().encode_event(RETIRED)
    for path in SCHEMA_DIRECTORY.rglob("*.avsc"):
        target = tmp_path / path.relative_to(SCHEMA_DIRECTORY)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    current = SchemaRegistry().latest["credit_registry.v1.CreditsRetired"]
    newest = json.loads(current.path.read_text(encoding="utf-8"))
    added = {"name": "certificate_url", "type": ["null", "string"], "default": None}
    next_version = current.version + 1
    (tmp_path / f"events/credits_retired.v{next_version}.avsc").write_text(
        json.dumps(dict(newest, fields=[*newest["fields"], added]))
    )
    new_registry = SchemaRegistry(tmp_path)
    assert new_registry.latest["credit_registry.v1.CreditsRetired"].version == next_version
    name, record = new_registry.decode(old_bytes)
    assert name == "credit_registry.v1.CreditsRetired"
    assert record["certificate_url"] is None
    assert record["beneficiary"]["name"] == "昭島市"
    assert Codec(new_registry).decode_event(old_bytes) == RETIRED


def test_history_written_with_v1_reads_under_v2() -> None:
    """The shipped v2 of CreditsRetired added `reference`; envelopes written before it read as None."""
    registry = SchemaRegistry()
    v1 = next(
        k
        for k in registry.by_fingerprint.values()
        if k.name.endswith("CreditsRetired") and k.version == 1
    )
    record = to_record(RETIRED)
    del record["reference"]
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + v1.fingerprint)
    fastavro.schemaless_writer(buffer, v1.parsed, record)
    decoded = Codec(registry).decode_event(buffer.getvalue())
    assert decoded == RETIRED and decoded.reference is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:-3],
        lambda b: b"\x00" + b[1:],
        lambda b: b[:2] + bytes(8) + b[10:],
        lambda b: b + b"\x00",
    ],
)
def test_truncated_or_foreign_bytes_are_malformed(mangle) -> None:  # type: ignore[no-untyped-def]
    codec = Codec()
    with pytest.raises(Rejection) as caught:
        codec.decode_event(mangle(codec.encode_event(RETIRED)))
    assert caught.value.code is CheckCode.MALFORMED_COMMAND
