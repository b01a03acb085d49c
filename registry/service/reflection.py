"""Server reflection under both names clients ask for: `grpc.reflection.v1`, which current
tools try first, and `grpc.reflection.v1alpha`, which older ones know.

grpcio-reflection implements only v1alpha. v1 is the same protocol under a renamed package,
message for message and field number for field number, so one servicer answers both, with
the same (de)serialisers. So that a v1 client can also describe the reflection service it
talks to, the pool gets v1's descriptor: v1alpha's file under the v1 names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

V1_PACKAGE = "grpc.reflection.v1"
V1_FILE_NAME = "grpc/reflection/v1/reflection.proto"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1ALPHA_SERVICE_NAME: str = reflection.SERVICE_NAME


def _renamed(type_name: str) -> str:
    old = f".{reflection_pb2.DESCRIPTOR.package}."
    return f".{V1_PACKAGE}." + type_name[len(old) :] if type_name.startswith(old) else type_name


def v1_file_descriptor() -> Any:
    """v1's file in the default pool (added once per process; the pool refuses duplicates)."""
    pool = descriptor_pool.Default()
    try:
        return pool.FindFileByName(V1_FILE_NAME)
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = V1_FILE_NAME
    proto.package = V1_PACKAGE
    proto.ClearField("options")  # v1alpha's Java and Go package names and its deprecation
    for message in proto.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # set only on message-typed fields
                field.type_name = _renamed(field.type_name)
    for service in proto.service:
        for method in service.method:
            method.input_type = _renamed(method.input_type)
            method.output_type = _renamed(method.output_type)
    return pool.AddSerializedFile(proto.SerializeToString())


def enable_server_reflection(service_names: Iterable[str], server: grpc.Server) -> None:
    """Serve reflection as v1 and v1alpha; both list `service_names` and themselves."""
    v1_file_descriptor()
    names = (*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME)
    servicer = reflection.ReflectionServicer(names)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    v1_handler = grpc.method_handlers_generic_handler(
        V1_SERVICE_NAME,
        {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((v1_handler,))
