"""A worker process made of nothing but the generated stub, for end-to-end tests.

    python tests/e2e/raw_worker.py ADDRESS API_KEY WORKER_ID HANDLER

It says hello with one slot, heartbeats what it runs at the interval the
welcome names, and never finishes an attempt on its own: the test decides
its fate with signals (SIGKILL, SIGSTOP/SIGCONT). When the server cancels an
attempt it reports a retryable failure for it, as worker helpers do. Every
event is one flushed line on stdout:

    welcome <session_id>
    assigned <execution_id> <attempt>
    cancel <execution_id> <reason>
    acked <execution_id>
"""

from __future__ import annotations

import asyncio
import sys

import grpc
from cronstream.v1 import worker_service_pb2 as wpb
from cronstream.v1 import worker_service_pb2_grpc

Call = grpc.aio.StreamStreamCall[wpb.ConnectRequest, wpb.ConnectResponse]
# A gRPC call takes one write at a time; heartbeats and results share it.
WRITING = asyncio.Lock()


def say(*words: object) -> None:
    print(*words, flush=True)


async def main(address: str, api_key: str, worker_id: str, handler: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        call = stub.Connect(metadata=(("authorization", f"Bearer {api_key}"),))
        hello = wpb.WorkerHello(worker_id=worker_id, handler_names=[handler], slots=1)
        await call.write(wpb.ConnectRequest(hello=hello))
        running: dict[str, int] = {}
        beating: asyncio.Task[None] | None = None
        while (message := await call.read()) is not grpc.aio.EOF:
            kind = message.WhichOneof("msg")
            if kind == "welcome":
                say("welcome", message.welcome.session_id)
                period = message.welcome.heartbeat_interval.ToTimedelta().total_seconds()
                beating = asyncio.create_task(heartbeats(call, running, period))
            elif kind == "assignment":
                running[message.assignment.execution_id] = message.assignment.attempt
                say("assigned", message.assignment.execution_id, message.assignment.attempt)
            elif kind == "cancel":
                await cancelled(call, running, message.cancel)
            elif kind == "result_ack":
                say("acked", message.result_ack.execution_id)
        if beating is not None:
            beating.cancel()


async def heartbeats(call: Call, running: dict[str, int], period: float) -> None:
    while True:
        await asyncio.sleep(period)
        beat = wpb.WorkerHeartbeat(execution_ids=list(running))
        async with WRITING:
            await call.write(wpb.ConnectRequest(heartbeat=beat))


async def cancelled(call: Call, running: dict[str, int], cancel: wpb.CancelAssignment) -> None:
    say("cancel", cancel.execution_id, cancel.reason)
    attempt = running.pop(cancel.execution_id, None)
    if attempt is not None:
        failure = wpb.ResultFailure(error=f"cancelled: {cancel.reason}")
        result = wpb.WorkerResult(
            execution_id=cancel.execution_id, attempt=attempt, failure=failure
        )
        async with WRITING:
            await call.write(wpb.ConnectRequest(result=result))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
