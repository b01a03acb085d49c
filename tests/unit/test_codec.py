import io
import json
from datetime import date
from pathlib import Path

import fastavro
import pytest

from registry.domain import commands as c
from registry.domain import events as ev
from registry.domain.checks import CheckCode, Rejection
from registry.domain.serials import SerialBlock
from registry.envelope.codec import Codec, SchemaRegistry, schema_fingerprint, to_record
from registry.envelope.sealing import SEALED_SCHEMA, open_sealed
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


# The Avro project's own CRC-64-AVRO test vectors (its reference implementations' fingerprint
# tests), as signed 64-bit numbers; single-object encoding writes them little-endian.
AVRO_PUBLISHED_FINGERPRINTS = {"null": 7195948357588979594, "int": 8247732601305521295}

# The shipped schema files' fingerprints: stored and published history names its writer
# schema by these bytes, so a change in how they are computed would orphan all of it.
SHIPPED_FINGERPRINTS = {
    "command.v1.avsc": "bfb89e67f91da9a6",
    "command.v2.avsc": "05ac71383acd6dd5",
    "command.v3.avsc": "b432380cd47ce965",
    "command.v4.avsc": "bca978a46ba72ef7",
    "envelope_body.v1.avsc": "bda903ef1639e0b1",
    "envelope_body.v2.avsc": "2caef167be388cfa",
    "events/agreement_signed.v1.avsc": "c5504c4a74b4f1f9",
    "events/contributions_recorded.v1.avsc": "992c52cbd95c626c",
    "events/credit_class_registered.v1.avsc": "b15fbf178d860155",
    "events/credits_cancelled.v1.avsc": "45267d2db2eb6bc6",
    "events/credits_issued.v1.avsc": "0519f1ac3262f3e0",
    "events/credits_retired.v1.avsc": "765963b55a936cbb",
    "events/credits_retired.v2.avsc": "e47529df240ce8dd",
    "events/credits_transferred.v1.avsc": "62442b55fbea0cf7",
    "events/delivery_proposed.v1.avsc": "7f11fa310c96eb49",
    "events/delivery_resolved.v1.avsc": "e087036a8989e79c",
    "events/key_recovered.v1.avsc": "f15fae40308850e7",
    "events/key_registered.v1.avsc": "7b9b6f2a887b2364",
    "events/key_revoked.v1.avsc": "d7ed2de74140983d",
    "events/key_rotated.v1.avsc": "f5fb86d3bb774b49",
    "events/factor_table_registered.v1.avsc": "c1f90495ef860d56",
    "events/meeting_calculated.v1.avsc": "c3bf80fbbe42d135",
    "events/meeting_calculated.v2.avsc": "7469393f695d325a",
    "events/meeting_offset.v1.avsc": "a6a661df9b81177b",
    "events/meeting_registered.v1.avsc": "1a956e991bdd6c1d",
    "events/meeting_registered.v2.avsc": "caa24fa63e5f24df",
    "events/party_registered.v1.avsc": "e3cc05cc728a9ec6",
    "events/pool_allocated.v1.avsc": "6e6b6e38c3fc49ce",
    "events/pool_funded.v1.avsc": "7acd8abe8ec88a42",
    "events/pool_opened.v1.avsc": "fb016107aba3ddfd",
    "events/pool_remainder_carried.v1.avsc": "03880d925c5683ad",
    "events/pool_remainder_returned.v1.avsc": "2a5f8e02ac30486f",
    "events/project_registered.v1.avsc": "4b562afe267cd27d",
    "events/recovery_completed.v1.avsc": "1d428c8dcb608ac2",
    "events/recovery_key_set.v1.avsc": "4d94dd923d052a84",
    "events/recovery_started.v1.avsc": "010dc78e4a1c91cc",
    "events/recovery_vetoed.v1.avsc": "f687f1e37a0e1a94",
    "events/registry_key_rotated.v1.avsc": "60d9c292e104c50e",
    "sealed_envelope.v1.avsc": "6d1a8c0eb1cc4a72",
}


@pytest.mark.parametrize("primitive", sorted(AVRO_PUBLISHED_FINGERPRINTS))
def test_fingerprint_is_the_avro_crc64_little_endian(primitive: str) -> None:
    expected = AVRO_PUBLISHED_FINGERPRINTS[primitive].to_bytes(8, "little", signed=True)
    assert schema_fingerprint(fastavro.parse_schema(primitive)) == expected


def test_shipped_schemas_keep_their_fingerprints() -> None:
    found = {
        known.path.relative_to(SCHEMA_DIRECTORY).as_posix(): known.fingerprint.hex()
        for known in SchemaRegistry().by_fingerprint.values()
    }
    assert {path: found.get(path) for path in SHIPPED_FINGERPRINTS} == SHIPPED_FINGERPRINTS


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


def test_meetings_written_before_the_calculator_inputs_read_with_none() -> None:
    """MeetingCalculated v1 and a v3 RecordMeetingResult carry no inputs: they read as None
    (and the rules, deciding such a command today, refuse it for want of its inputs)."""
    registry = SchemaRegistry()
    calculated = ev.MeetingCalculated("POOL", "M1", 10, 181, "by hand")
    v1 = next(
        k
        for k in registry.by_fingerprint.values()
        if k.name.endswith("MeetingCalculated") and k.version == 1
    )
    record = {
        k: v
        for k, v in to_record(calculated).items()
        if k not in ("factor_table_version", "inputs")
    }
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + v1.fingerprint)
    fastavro.schemaless_writer(buffer, v1.parsed, record)
    assert Codec(registry).decode_event(buffer.getvalue()) == calculated
    v3 = next(k for k in registry.by_fingerprint.values() if k.path.name == "command.v3.avsc")
    body = c.RecordMeetingResult("POOL", "M1", 10, 181, "by hand")
    command = c.Command("id-1", "132071", "ed25519:ab", 1, 2, body)
    record = to_record(command)
    record["body"] = (
        "credit_registry.v1.RecordMeetingResult",
        {k: v for k, v in record["body"].items() if k not in ("factor_table_version", "inputs")},
    )
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + v3.fingerprint)
    fastavro.schemaless_writer(buffer, v3.parsed, record)
    assert Codec(registry).decode_command(buffer.getvalue()) == command


def _written_with(registry: SchemaRegistry, name: str, version: int, record: object) -> bytes:
    writer = next(
        k for k in registry.by_fingerprint.values() if k.name == name and k.version == version
    )
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + writer.fingerprint)
    fastavro.schemaless_writer(buffer, writer.parsed, record)
    return buffer.getvalue()


def test_history_before_cosignatures_and_recovery_keys_still_reads() -> None:
    """Envelope bodies of v1 open with no co-signatures; a RegisterParty of command v3 reads
    with no recovery key."""
    registry = SchemaRegistry()
    body = {
        "position": 1,
        "recorded_at_us": 5,
        "previous_hash": bytes(32),
        "command": {"actor_id": "a", "key_id": "k", "command_bytes": b"c", "signature": b"s"},
        "effects": [],
    }
    body_bytes = _written_with(registry, "credit_registry.v1.EnvelopeBody", 1, body)
    sealed = registry.encode(
        SEALED_SCHEMA, {"body": body_bytes, "registry_key_id": "r", "registry_signature": b"x"}
    )
    opened = open_sealed(registry, sealed)
    assert opened.body.command.cosignatures == () and opened.body.command.actor_id == "a"
    command = {
        "command_id": "id-1",
        "actor_id": "op",
        "key_id": "k",
        "created_at_us": 1,
        "expires_at_us": 2,
        "body": (
            "credit_registry.v1.RegisterParty",
            {"party_id": "p", "role": "business", "name": "n", "name_ja": None, "public_key": b"k"},
        ),
    }
    decoded = Codec(registry).decode_command(
        _written_with(registry, "credit_registry.v1.Command", 3, command)
    )
    assert decoded.body == c.RegisterParty("p", "business", "n", b"k", None, None)


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


def _written_in_file(registry: SchemaRegistry, file_name: str, record: dict[str, object]) -> bytes:
    """`record` encoded exactly as a writer that knew only `file_name` wrote it."""
    writer = next(k for k in registry.by_fingerprint.values() if k.path.name == file_name)
    buffer = io.BytesIO()
    buffer.write(b"\xc3\x01" + writer.fingerprint)
    fastavro.schemaless_writer(buffer, writer.parsed, record)
    return buffer.getvalue()


def test_history_written_before_origins_labels_and_buffers_still_reads() -> None:
    """A credits_issued.v1 issuance reads with no origin, a credit_class_registered.v1 class
    with no label authority and no buffer, a credits_retired.v2 retirement with no place and
    no labels; a command.v5 class, issuance and retirement read with the same defaults."""
    registry = SchemaRegistry()
    codec = Codec(registry)
    issued = ev.CreditsIssued(
        "B", "JVER", "P", "i", date(2011, 4, 1), date(2012, 3, 31), 1, 5, 5, "132071"
    )
    record = {k: v for k, v in to_record(issued).items() if k != "origin"}
    decoded = codec.decode_event(_written_in_file(registry, "credits_issued.v1.avsc", record))
    assert decoded == issued and decoded.origin is None  # type: ignore[union-attr]
    registered = ev.CreditClassRegistered("JVER", "J-VER", ("i",))
    record = {"class_id": "JVER", "name": "J-VER", "authorised_issuers": ["i"]}
    assert (
        codec.decode_event(_written_in_file(registry, "credit_class_registered.v1.avsc", record))
        == registered
    )
    record = {
        k: v
        for k, v in to_record(RETIRED).items()
        if k not in ("location", "required_label", "labels")
    }
    assert (
        codec.decode_event(_written_in_file(registry, "credits_retired.v2.avsc", record)) == RETIRED
    )
    details = c.RetirementDetails(ev.Beneficiary("Akishima", None), "facility", 2011, "", None)
    bodies = {
        "RegisterCreditClass": (
            c.RegisterCreditClass("JVER", "J-VER", ("i",)),
            ("label_authority_id", "buffer_share_permille"),
        ),
        "IssueCredits": (
            c.IssueCredits("P", date(2011, 4, 1), date(2012, 3, 31), 5, "132071"),
            ("origin",),
        ),
        "RetireCredits": (c.RetireCredits("132071", 5, details), ()),
    }
    for name, (body, added) in bodies.items():
        command = c.Command("id-1", "132071", "ed25519:ab", 1, 2, body)
        record = to_record(command)
        fields = {k: v for k, v in record["body"].items() if k not in added}
        if name == "RetireCredits":
            fields["details"] = {
                k: v
                for k, v in fields["details"].items()
                if k not in ("location", "required_label")
            }
        record["body"] = (f"credit_registry.v1.{name}", fields)
        assert (
            codec.decode_command(_written_in_file(registry, "command.v5.avsc", record)) == command
        )
    assert registry.latest["credit_registry.v1.Command"].version > 5  # resolved across versions
