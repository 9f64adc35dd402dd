"""AdminService over real gRPC, on SQLite and Postgres."""

from __future__ import annotations

import grpc
from cronstream.v1 import admin_service_pb2 as pb
from cronstream.v1 import scheduler_service_pb2 as scheduler_pb
from google.protobuf import field_mask_pb2

from tests.conftest import ADMIN, Live, make_tenant
from tests.status import code_of, expect_code, violations


async def test_platform_round_trip(live: Live) -> None:
    created = await live.admin.CreatePlatform(
        pb.CreatePlatformRequest(platform=pb.Platform(name='Acme "Corp" 🚀; DROP TABLE x')),
        metadata=ADMIN,
    )
    platform = created.platform
    assert platform.name == 'Acme "Corp" 🚀; DROP TABLE x'
    assert len(platform.id) == 36 and platform.created_at.seconds > 0

    fetched = await live.admin.GetPlatform(pb.GetPlatformRequest(id=platform.id), metadata=ADMIN)
    assert fetched.platform == platform

    await live.admin.DeletePlatform(pb.DeletePlatformRequest(id=platform.id), metadata=ADMIN)
    await expect_code(
        live.admin.GetPlatform(pb.GetPlatformRequest(id=platform.id), metadata=ADMIN),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_list_platforms_pages_every_row_exactly_once(live: Live) -> None:
    names = [f"tenant-{i:02d}" for i in range(7)]
    for name in names:
        await live.admin.CreatePlatform(
            pb.CreatePlatformRequest(platform=pb.Platform(name=name)), metadata=ADMIN
        )
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await live.admin.ListPlatforms(
            pb.ListPlatformsRequest(page_size=3, page_token=token), metadata=ADMIN
        )
        seen += [p.name for p in page.platforms]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    assert pages == 3


async def test_list_platforms_refuses_a_forged_token(live: Live) -> None:
    error = await expect_code(
        live.admin.ListPlatforms(pb.ListPlatformsRequest(page_token="not-a-token"), metadata=ADMIN),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in violations(error)


async def test_platform_names_are_unique(live: Live) -> None:
    request = pb.CreatePlatformRequest(platform=pb.Platform(name="twice"))
    await live.admin.CreatePlatform(request, metadata=ADMIN)
    await expect_code(
        live.admin.CreatePlatform(request, metadata=ADMIN), grpc.StatusCode.ALREADY_EXISTS
    )


async def test_bad_platform_names_name_the_field(live: Live) -> None:
    for name, expected in [
        ("", "is required"),
        ("x" * 201, "is 201 characters long; at most 200"),
        ("tab\there", "must not contain control characters"),
    ]:
        error = await expect_code(
            live.admin.CreatePlatform(
                pb.CreatePlatformRequest(platform=pb.Platform(name=name)), metadata=ADMIN
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert violations(error) == {"platform.name": expected}


async def test_unknown_and_malformed_ids_are_not_found(live: Live) -> None:
    for bad_id in ["0190b6d2-0000-7000-8000-000000000000", "nope", "", "' OR 1=1 --"]:
        await expect_code(
            live.admin.GetPlatform(pb.GetPlatformRequest(id=bad_id), metadata=ADMIN),
            grpc.StatusCode.NOT_FOUND,
        )
        await expect_code(
            live.admin.DeletePlatform(pb.DeletePlatformRequest(id=bad_id), metadata=ADMIN),
            grpc.StatusCode.NOT_FOUND,
        )
        await expect_code(
            live.admin.RevokeApiKey(pb.RevokeApiKeyRequest(id=bad_id), metadata=ADMIN),
            grpc.StatusCode.NOT_FOUND,
        )
        await expect_code(
            live.admin.CreateApiKey(
                pb.CreateApiKeyRequest(platform_id=bad_id, name="k"), metadata=ADMIN
            ),
            grpc.StatusCode.NOT_FOUND,
        )


async def test_api_key_secret_is_shown_once_and_stored_hashed(live: Live) -> None:
    tenant = await make_tenant(live, "keys")
    assert tenant.secret.startswith("cs_") and len(tenant.secret) >= 40
    listed = await live.admin.ListApiKeys(
        pb.ListApiKeysRequest(platform_id=tenant.platform.id), metadata=ADMIN
    )
    assert [k.name for k in listed.api_keys] == ["keys-key"]
    key = listed.api_keys[0]
    assert key.prefix == tenant.secret[:10]
    assert tenant.secret not in str(listed)
    assert not key.HasField("revoked_at")

    from cronstream_server.store.database import create_engine
    from cronstream_server.store.tables import api_keys
    from sqlalchemy import select

    engine = create_engine(live.database_url)
    try:
        async with engine.connect() as conn:
            stored = (await conn.execute(select(api_keys.c.secret_hash))).scalars().all()
    finally:
        await engine.dispose()
    assert tenant.secret not in stored
    assert len(stored) == 1 and len(stored[0]) == 64


async def test_revoked_key_is_refused_at_once(live: Live) -> None:
    tenant = await make_tenant(live, "revoke")
    get_job = scheduler_pb.GetJobRequest(id="0190b6d2-0000-7000-8000-000000000000")
    assert await code_of(live.scheduler.GetJob(get_job, metadata=tenant.auth)) == (
        grpc.StatusCode.NOT_FOUND
    )
    keys = await live.admin.ListApiKeys(
        pb.ListApiKeysRequest(platform_id=tenant.platform.id), metadata=ADMIN
    )
    await live.admin.RevokeApiKey(pb.RevokeApiKeyRequest(id=keys.api_keys[0].id), metadata=ADMIN)
    await expect_code(
        live.scheduler.GetJob(get_job, metadata=tenant.auth), grpc.StatusCode.UNAUTHENTICATED
    )
    listed = await live.admin.ListApiKeys(
        pb.ListApiKeysRequest(platform_id=tenant.platform.id), metadata=ADMIN
    )
    assert listed.api_keys[0].HasField("revoked_at")


async def test_deleting_a_platform_disables_its_keys(live: Live) -> None:
    tenant = await make_tenant(live, "gone")
    await live.admin.DeletePlatform(pb.DeletePlatformRequest(id=tenant.platform.id), metadata=ADMIN)
    await expect_code(
        live.scheduler.GetMetrics(scheduler_pb.GetMetricsRequest(), metadata=tenant.auth),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await expect_code(
        live.admin.ListApiKeys(
            pb.ListApiKeysRequest(platform_id=tenant.platform.id), metadata=ADMIN
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_a_platform_s_weight_defaults_to_one_and_is_updated_by_its_mask(live: Live) -> None:
    created = await live.admin.CreatePlatform(
        pb.CreatePlatformRequest(platform=pb.Platform(name="weighed")), metadata=ADMIN
    )
    assert created.platform.weight == 1
    heavy = await live.admin.CreatePlatform(
        pb.CreatePlatformRequest(platform=pb.Platform(name="heavy", weight=5)), metadata=ADMIN
    )
    assert heavy.platform.weight == 5

    mask = field_mask_pb2.FieldMask(paths=["weight"])
    updated = await live.admin.UpdatePlatform(
        pb.UpdatePlatformRequest(
            platform=pb.Platform(id=created.platform.id, name="ignored", weight=3),
            update_mask=mask,
        ),
        metadata=ADMIN,
    )
    # Only the masked field changed.
    assert (updated.platform.name, updated.platform.weight) == ("weighed", 3)
    fetched = await live.admin.GetPlatform(
        pb.GetPlatformRequest(id=created.platform.id), metadata=ADMIN
    )
    assert fetched.platform == updated.platform

    renamed = await live.admin.UpdatePlatform(
        pb.UpdatePlatformRequest(
            platform=pb.Platform(id=created.platform.id, name="renamed", weight=0),
            update_mask=field_mask_pb2.FieldMask(paths=["name", "weight"]),
        ),
        metadata=ADMIN,
    )
    # 0 in a masked weight is the default.
    assert (renamed.platform.name, renamed.platform.weight) == ("renamed", 1)


async def test_update_platform_refuses_bad_weights_masks_and_names(live: Live) -> None:
    created = await live.admin.CreatePlatform(
        pb.CreatePlatformRequest(platform=pb.Platform(name="strict")), metadata=ADMIN
    )
    await live.admin.CreatePlatform(
        pb.CreatePlatformRequest(platform=pb.Platform(name="taken")), metadata=ADMIN
    )
    platform_id = created.platform.id

    def update(paths: list[str], **fields: object) -> object:
        return live.admin.UpdatePlatform(
            pb.UpdatePlatformRequest(
                platform=pb.Platform(id=platform_id, **fields),  # type: ignore[arg-type]
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            ),
            metadata=ADMIN,
        )

    for paths, fields, field, expected in [
        (["weight"], {"weight": 1001}, "platform.weight", "must be 1 to 1000"),
        (["weight"], {"weight": -2}, "platform.weight", "must be 1 to 1000"),
        ([], {"weight": 2}, "update_mask.paths", "name the fields to change"),
        (["created_at"], {}, "update_mask.paths[0]", "'created_at' is not a field"),
        (["name"], {"name": ""}, "platform.name", "is required"),
    ]:
        error = await expect_code(update(paths, **fields), grpc.StatusCode.INVALID_ARGUMENT)
        assert violations(error)[field].startswith(expected), (paths, fields)
    await expect_code(update(["name"], name="taken"), grpc.StatusCode.ALREADY_EXISTS)
    error = await expect_code(
        live.admin.CreatePlatform(
            pb.CreatePlatformRequest(platform=pb.Platform(name="too-heavy", weight=5000)),
            metadata=ADMIN,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "platform.weight" in violations(error)
    # Nothing changed on the way.
    fetched = await live.admin.GetPlatform(pb.GetPlatformRequest(id=platform_id), metadata=ADMIN)
    assert (fetched.platform.name, fetched.platform.weight) == ("strict", 1)
    for bad_id in ["0190b6d2-0000-7000-8000-000000000000", "nope"]:
        await expect_code(
            live.admin.UpdatePlatform(
                pb.UpdatePlatformRequest(
                    platform=pb.Platform(id=bad_id, weight=2),
                    update_mask=field_mask_pb2.FieldMask(paths=["weight"]),
                ),
                metadata=ADMIN,
            ),
            grpc.StatusCode.NOT_FOUND,
        )
