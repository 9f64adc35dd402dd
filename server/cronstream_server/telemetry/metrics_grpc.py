"""gRPC calls by service, method and status code, with their durations.

A server interceptor of our own: the maintained gRPC instrumentations either
serve only synchronous servers (py-grpc-prometheus) or record traces and not
metrics (opentelemetry-instrumentation-grpc). It wraps the handler the inner
interceptors return, so a call refused by authentication or a quota counts
with its code. A stream counts once, when it ends, for its whole life.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from cronstream_server.telemetry.metrics import Metrics


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or not self._metrics.enabled:
            return handler
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        record = _Recorder(self._metrics, service, method)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                record.unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                record.streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                record.streaming(handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


class _Recorder:
    def __init__(self, metrics: Metrics, service: str, method: str) -> None:
        self._metrics, self._service, self._method = metrics, service, method

    def unary(self, behavior: Any) -> Any:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            began = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await behavior(request, context)
                code = _code(context, grpc.StatusCode.OK)
                return response
            except BaseException:
                code = _code(context, grpc.StatusCode.UNKNOWN)
                raise
            finally:
                self._done(code, began)

        return wrapped

    def streaming(self, behavior: Any) -> Any:
        if not inspect.isasyncgenfunction(behavior):
            # Health's Watch is a coroutine writing with context.write: it is
            # wrapped as a coroutine, since grpc.aio drives the two apart.
            return self.unary(behavior)

        async def wrapped(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            began = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                async for response in behavior(request, context):
                    yield response
                code = _code(context, grpc.StatusCode.OK)
            except BaseException:
                code = _code(context, grpc.StatusCode.CANCELLED)
                raise
            finally:
                self._done(code, began)

        return wrapped

    def _done(self, code: grpc.StatusCode, began: float) -> None:
        labels = (self._service, self._method)
        self._metrics.requests.labels(*labels, code.name).inc()
        self._metrics.request_seconds.labels(*labels).observe(time.perf_counter() - began)


def _code(
    context: grpc.aio.ServicerContext[Any, Any], otherwise: grpc.StatusCode
) -> grpc.StatusCode:
    """The code the handler set or aborted with; `otherwise` when it set none."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # grpc.aio keeps the cygrpc integer
        for status in grpc.StatusCode:
            if status.value[0] == code:
                return status
    return otherwise
