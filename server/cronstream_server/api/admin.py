"""AdminService: platforms and their API keys (admin key only)."""

from __future__ import annotations

from typing import Any

import grpc
from cronstream.v1 import admin_service_pb2 as pb
from cronstream.v1 import admin_service_pb2_grpc as pb_grpc

from cronstream_server.api.auth import Authenticator
from cronstream_server.api.convert_common import timestamp
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.core.errors import InvalidArgument
from cronstream_server.core.paging import fingerprint, next_page_token, page_request
from cronstream_server.core.ports import AdminStore, Signals
from cronstream_server.core.tenancy import (
    ApiKey,
    Platform,
    new_secret,
    platform_weight,
    validate_key_name,
    validate_platform_name,
)
from cronstream_server.service.admin import AdminUseCases
from cronstream_server.service.publish import Publisher

Context = grpc.aio.ServicerContext[Any, Any]


def platform_message(platform: Platform) -> pb.Platform:
    return pb.Platform(
        id=platform.id,
        name=platform.name,
        created_at=timestamp(platform.created_at),
        weight=platform.weight,
    )


def api_key_message(key: ApiKey) -> pb.ApiKey:
    return pb.ApiKey(
        id=key.id,
        name=key.name,
        platform_id=key.platform_id,
        prefix=key.prefix,
        created_at=timestamp(key.created_at),
        revoked_at=timestamp(key.revoked_at),
    )


class AdminServicer(pb_grpc.AdminServiceServicer):
    def __init__(
        self,
        store: AdminStore,
        authenticator: Authenticator,
        max_message_bytes: int,
        signals: Signals,
    ) -> None:
        self._store = store
        self._auth = authenticator
        self._use = AdminUseCases(store)
        self._publisher = Publisher(signals)
        self._page_budget = page_budget(max_message_bytes)

    async def CreatePlatform(
        self, request: pb.CreatePlatformRequest, context: Context
    ) -> pb.CreatePlatformResponse:
        validate_platform_name(request.platform.name)
        weight = platform_weight(request.platform.weight)
        platform = await self._store.create_platform(request.platform.name, weight)
        return pb.CreatePlatformResponse(platform=platform_message(platform))

    async def UpdatePlatform(
        self, request: pb.UpdatePlatformRequest, context: Context
    ) -> pb.UpdatePlatformResponse:
        name, weight = _platform_changes(request)
        platform = await self._store.update_platform(request.platform.id, name, weight)
        return pb.UpdatePlatformResponse(platform=platform_message(platform))

    async def GetPlatform(
        self, request: pb.GetPlatformRequest, context: Context
    ) -> pb.GetPlatformResponse:
        platform = await self._store.get_platform(request.id)
        return pb.GetPlatformResponse(platform=platform_message(platform))

    async def ListPlatforms(
        self, request: pb.ListPlatformsRequest, context: Context
    ) -> pb.ListPlatformsResponse:
        scope = fingerprint("platforms")
        page = page_request(request.page_size, request.page_token, scope)
        platforms, last = await self._store.list_platforms(page)
        fitted = fit_page(
            platforms, platform_message, more=last is not None, budget=self._page_budget
        )
        return pb.ListPlatformsResponse(
            platforms=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def DeletePlatform(
        self, request: pb.DeletePlatformRequest, context: Context
    ) -> pb.DeletePlatformResponse:
        outcome = await self._use.delete_platform(request.id)
        self._auth.forget(platform_id=request.id)
        await self._publisher.done(outcome)
        return pb.DeletePlatformResponse()

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        validate_key_name(request.name)
        secret = new_secret()
        key = await self._store.create_api_key(request.platform_id, request.name, secret)
        return pb.CreateApiKeyResponse(api_key=api_key_message(key), secret=secret.secret)

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        scope = fingerprint("api_keys", request.platform_id)
        page = page_request(request.page_size, request.page_token, scope)
        keys, last = await self._store.list_api_keys(request.platform_id, page)
        fitted = fit_page(keys, api_key_message, more=last is not None, budget=self._page_budget)
        return pb.ListApiKeysResponse(
            api_keys=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> pb.RevokeApiKeyResponse:
        outcome = await self._use.revoke_key(request.id)
        self._auth.forget(key_id=outcome.value.id)
        await self._publisher.done(outcome)
        return pb.RevokeApiKeyResponse()


PLATFORM_PATHS = ("name", "weight")


def _platform_changes(request: pb.UpdatePlatformRequest) -> tuple[str | None, int | None]:
    """UpdatePlatform's new name and weight (None: not in the mask), validated."""
    paths = list(request.update_mask.paths)
    if not paths:
        raise InvalidArgument.of(
            "update_mask.paths", f"name the fields to change: {PLATFORM_PATHS}"
        )
    for index, path in enumerate(paths):
        if path not in PLATFORM_PATHS:
            raise InvalidArgument.of(
                f"update_mask.paths[{index}]", f"{path!r} is not a field that can be updated"
            )
    name = weight = None
    if "name" in paths:
        name = request.platform.name
        validate_platform_name(name)
    if "weight" in paths:
        weight = platform_weight(request.platform.weight)
    return name, weight
