"""The edge every call crosses: decoding, authentication, then error translation.

Each handler is wrapped so that it runs with its caller's principal in a
context variable and so that a domain error becomes its status code, and any
other exception becomes a plain INTERNAL (logged here, never shown).

Its deserializer is wrapped too (`api.decoding`): a request that does not
decode arrives as an `Undecodable`, refused with INVALID_ARGUMENT once the
caller is authenticated. On a stream, one whose only undecodable parts are
JSON values (`Undecodable.partial`) reaches the handler, which may salvage
the rest (the worker stream fails just those results) and must otherwise
refuse it with `Undecodable.error()`.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc

from cronstream_server.api.auth import (
    PLATFORM_HEADER,
    Authenticator,
    bearer_token,
    metadata_value,
)
from cronstream_server.api.decoding import Undecodable, request_deserializer
from cronstream_server.api.errors import internal_status, to_status
from cronstream_server.core.errors import DomainError, PermissionDenied, Unauthenticated
from cronstream_server.core.quotas import CallRate
from cronstream_server.core.tenancy import PlatformPrincipal, Principal

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/cronstream.v1.AdminService/"
SCHEDULER_PREFIX = "/cronstream.v1.SchedulerService/"
PLATFORM_PREFIXES = (SCHEDULER_PREFIX, "/cronstream.v1.WorkerService/")

_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar("principal")


def current_platform() -> PlatformPrincipal:
    """The platform of the call being served (set by the interceptor)."""
    principal = _principal.get()
    assert isinstance(principal, PlatformPrincipal)
    return principal


class AuthAndErrorsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: Authenticator, call_rate: CallRate | None = None) -> None:
        self._auth = authenticator
        # Each platform call (a unary call, or the opening of a stream) takes
        # a token; the messages of an open stream take none.
        self._call_rate = call_rate

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith((ADMIN_PREFIX, *PLATFORM_PREFIXES)):
            return handler  # health, reflection: open to all
        authenticate = self._authenticator_of(method)
        deserialize = request_deserializer(method, handler.request_deserializer)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, authenticate, method),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_unary_stream(handler.unary_stream, authenticate, method),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream, authenticate, method),
                request_deserializer=deserialize,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _authenticator_of(self, method: str) -> Authenticate:
        if method.startswith(ADMIN_PREFIX):
            return self._admin
        if method.startswith(SCHEDULER_PREFIX):
            return self._scheduler
        return self._worker

    async def _admin(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        return await self._auth.admin(bearer_token(context.invocation_metadata()))

    async def _scheduler(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """A platform key, or the admin key acting for the platform that
        PLATFORM_HEADER names (an operator's dashboard switching platform)."""
        metadata = context.invocation_metadata()
        token = bearer_token(metadata)
        acting = metadata_value(metadata, PLATFORM_HEADER)
        if self._auth.is_admin(token):
            if acting is None:
                raise Unauthenticated(
                    "the admin key manages platforms; use a platform's API key here, "
                    f"or send '{PLATFORM_HEADER}: <platform id>' to act for one"
                )
            return self._took_turn(await self._auth.acting_for(acting))
        principal = await self._auth.platform(token)
        if acting is not None:
            # Refused rather than ignored: a caller who sends it expects
            # another platform's view, and must not silently get its own.
            raise PermissionDenied(
                f"{PLATFORM_HEADER} is for the admin key; a platform's key acts for its own"
            )
        return self._took_turn(principal)

    async def _worker(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        token = bearer_token(context.invocation_metadata())
        if self._auth.is_admin(token):
            raise_wrong_key()
        return self._took_turn(await self._auth.platform(token))

    def _took_turn(self, principal: PlatformPrincipal) -> PlatformPrincipal:
        """`principal`, once its platform's call rate let the call through."""
        if self._call_rate is not None:
            self._call_rate.take(principal.platform_id)
        return principal


def raise_wrong_key() -> None:
    raise Unauthenticated("the admin key manages platforms; use a platform's API key here")


Authenticate = Callable[[grpc.aio.ServicerContext[Any, Any]], Awaitable[Principal]]


def _wrap_unary(behavior: Any, authenticate: Authenticate, method: str) -> Any:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        async with _edge(context, method):
            _principal.set(await authenticate(context))
            if isinstance(request, Undecodable):
                raise request.error()
            return await behavior(request, context)

    return wrapped


def _wrap_unary_stream(behavior: Any, authenticate: Authenticate, method: str) -> Any:
    async def wrapped(
        request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async with _edge(context, method):
            _principal.set(await authenticate(context))
            if isinstance(request, Undecodable):
                raise request.error()
            async for response in behavior(request, context):
                yield response

    return wrapped


def _wrap_stream(behavior: Any, authenticate: Authenticate, method: str) -> Any:
    async def wrapped(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async with _edge(context, method):
            _principal.set(await authenticate(context))
            async for response in behavior(_Decoded(requests), context):
                yield response

    return wrapped


class _Decoded:
    """A stream's requests, each that did not decode refused (INVALID_ARGUMENT
    for the whole call) but for those a handler may salvage."""

    def __init__(self, requests: AsyncIterator[Any]) -> None:
        self._requests = aiter(requests)

    def __aiter__(self) -> _Decoded:
        return self

    async def __anext__(self) -> Any:
        request = await anext(self._requests)
        if isinstance(request, Undecodable) and request.partial is None:
            raise request.error()
        return request


@asynccontextmanager
async def _edge(context: grpc.aio.ServicerContext[Any, Any], method: str) -> AsyncIterator[None]:
    """The one translation from what a handler raised to what the caller sees."""
    try:
        yield
    except DomainError as error:
        await _abort(context, to_status(error))
    except NotImplementedError:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented yet")
    except (grpc.aio.AbortError, grpc.aio.UsageError):
        raise
    except Exception:
        log.exception("unexpected error in %s", method)
        await _abort(context, internal_status())


async def _abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> None:
    await context.abort(status.code, status.details, status.trailing_metadata)
