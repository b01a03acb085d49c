"""Requests whose bytes are not a protobuf of the method's type.

grpcio answers a request it cannot deserialise with INTERNAL ("Exception deserializing
request!"), which tells a client the server broke when in fact the client sent garbage. This
interceptor makes deserialisation tolerant and refuses such a call as INVALID_ARGUMENT with
the MALFORMED_COMMAND check code, like any other malformed input; nothing reaches a
servicer, so nothing can be recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from registry.domain.checks import CheckCode
from registry.rpc.status import rich_status


class Undecodable:
    """Stands in for a request whose bytes did not parse; carries the parser's complaint."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        if deserializer is None:
            return data
        try:
            return deserializer(data)
        except Exception as error:  # protobuf raises DecodeError, and others on deep nesting
            return Undecodable(type(error).__name__)

    return deserialize


def _refusing(behaviour: Callable[[Any, grpc.ServicerContext], Any]) -> Callable[..., Any]:
    def guarded(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Undecodable):
            context.abort_with_status(
                rich_status(
                    CheckCode.MALFORMED_COMMAND,
                    f"the request is not a valid protobuf message ({request.reason})",
                )
            )
        return behaviour(request, context)

    return guarded


class MalformedRequestInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Place it last (innermost), so the metrics interceptor still counts these calls."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        deserializer = _tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _refusing(handler.unary_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _refusing(handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # the API has no client-streaming methods
