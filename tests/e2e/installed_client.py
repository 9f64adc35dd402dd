"""Run by the Python of a fresh venv (tests/e2e/test_packaging.py), never
imported by the suite: the installed client makes a platform and a key,
creates a job, runs it now, works it with a `Worker`, and waits for SUCCESS.

    python installed_client.py ADDRESS ADMIN_KEY

Prints where `cronstream` was imported from, then `round trip ok`.
"""

from __future__ import annotations

import asyncio
import sys

import cronstream
import grpc
from cronstream import Client, Context, Worker
from cronstream.v1 import admin_service_pb2 as admin_pb
from cronstream.v1 import admin_service_pb2_grpc, execution_pb2

SUCCESS = execution_pb2.EXECUTION_STATUS_SUCCESS


def make_key(address: str, admin_key: str) -> str:
    with grpc.insecure_channel(address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        auth = (("authorization", f"Bearer {admin_key}"),)
        platform = admin.CreatePlatform(
            admin_pb.CreatePlatformRequest(platform=admin_pb.Platform(name="installed")),
            metadata=auth,
        ).platform
        created = admin.CreateApiKey(
            admin_pb.CreateApiKeyRequest(platform_id=platform.id, name="installed"),
            metadata=auth,
        )
    secret: str = created.secret
    return secret


async def round_trip(address: str, key: str) -> None:
    worker = Worker(api_key=key, target=address, grace_period=5.0)

    @worker.handler("echo")
    async def echo(ctx: Context) -> dict[str, object]:
        await ctx.log("echoing")
        return {"echo": ctx.payload}

    async with Client.connect(address, key) as client:
        job = await client.create_job(
            name="installed", handler="echo", cron="0 0 1 1 *", payload={"n": 1}
        )
        execution = await client.run_job(job.id)
        working = asyncio.create_task(worker.run())
        try:
            async with asyncio.timeout(30):
                while execution.status != SUCCESS:
                    await asyncio.sleep(0.1)
                    execution = await client.get_execution(execution.id)
        finally:
            worker.stop()
            await working


def main() -> None:
    address, admin_key = sys.argv[1:]
    print(f"cronstream from {cronstream.__file__}", flush=True)
    asyncio.run(round_trip(address, make_key(address, admin_key)))
    print("round trip ok", flush=True)


if __name__ == "__main__":
    main()
