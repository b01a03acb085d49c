"""Raw bytes on the wire, below the generated stubs: truncated and deeply nested protobufs,
garbage, and messages over the size limit, sent to every method of the API. Each gets a
clean status (INVALID_ARGUMENT with MALFORMED_COMMAND, or RESOURCE_EXHAUSTED when too big),
nothing is recorded, and the server stays SERVING."""

from __future__ import annotations

import grpc
import pytest

from registry.api.credit_registry.v1 import registry_pb2 as pb
from registry.domain.checks import CheckCode
from registry.service.server import MESSAGE_BYTES_MAX_DEFAULT
from tests.hostile.conftest import HostileWorld
from tests.hostile.harness import Tally, serving, store_head

METHODS = [
    (f"/{service.full_name}/{method.name}", method.server_streaming)
    for service in pb.DESCRIPTOR.services_by_name.values()
    for method in service.methods
]
NESTING_DEPTH = 10_000


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def nested(depth: int) -> bytes:
    """Field 1, length-delimited, inside itself `depth` times: far past protobuf's limit."""
    payload = b""
    for _ in range(depth):
        payload = b"\x0a" + varint(len(payload)) + payload
    return payload


def payloads() -> dict[str, bytes]:
    signed = pb.CommandRequest(
        command=pb.SignedCommand(actor_id="132071", key_id="k", command_bytes=b"x" * 100)
    ).SerializeToString()
    return {
        "truncated": signed[: len(signed) // 2],
        "nested 10,000 deep": nested(NESTING_DEPTH),
        "garbage": b"\xff\xfe\xfd\x00garbage\x80\x80\x80",
        "varint overflow": b"\x10" + b"\xff" * 11,
        "bad utf-8 in a string": b"\x0a\x04\x0a\x02\xc3\x28",
        "unknown fields only": b"\xf8\xff\x03\x01",
        "wrong wire type": b"\x0d\x01\x02\x03\x04",
        "empty": b"",
    }


def call(channel: grpc.Channel, method: str, streaming: bool, payload: bytes) -> None:
    if streaming:
        stream = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
        for _ in stream(payload, timeout=10):
            pass
    else:
        channel.unary_unary(method, request_serializer=None, response_deserializer=None)(
            payload, timeout=10
        )


@pytest.mark.parametrize(("method", "streaming"), METHODS)
def test_raw_bytes_are_refused_cleanly(hostile: HostileWorld, method: str, streaming: bool) -> None:
    tally = Tally(method.rsplit("/", 1)[-1], suite="wire")
    before = store_head(hostile.server)
    with grpc.insecure_channel(f"127.0.0.1:{hostile.server.port}") as channel:
        for name, payload in payloads().items():
            tally.cases += 1
            try:
                call(channel, method, streaming, payload)
                tally.accept()  # e.g. an empty read request is a valid, empty message
            except grpc.RpcError as error:
                code = tally.refuse(error)
                if name in ("truncated", "nested 10,000 deep", "garbage", "varint overflow"):
                    assert code is CheckCode.MALFORMED_COMMAND, (name, code)
            assert store_head(hostile.server) == before, name
        tally.cases += 1
        with pytest.raises(grpc.RpcError) as caught:
            call(channel, method, streaming, b"\x0a" * (MESSAGE_BYTES_MAX_DEFAULT + 1))
        assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        tally.refuse(caught.value, require_code=False)
    assert store_head(hostile.server) == before
    assert serving(hostile.server)
    tally.report()
