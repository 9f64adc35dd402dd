"""SchedulerService: ListWorkers, the worker sessions of the whole cluster
(core.workers, docs/operations.md#workers)."""

from __future__ import annotations

from cronstream.v1 import insight_pb2
from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.api.convert_common import timestamp
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.core.paging import encode_token, fingerprint, page_request
from cronstream_server.core.validation import raise_if_any
from cronstream_server.core.workers import FRESH_FOR, ConnectedWorker, worker_key


def connected_worker_message(worker: ConnectedWorker) -> insight_pb2.ConnectedWorker:
    return insight_pb2.ConnectedWorker(
        worker_id=worker.worker_id,
        session_id=worker.session_id,
        handler_names=worker.handler_names,
        slots=worker.slots,
        slots_in_use=worker.slots_in_use,
        connected_at=timestamp(worker.connected_at),
        last_seen=timestamp(worker.last_seen),
        replica=worker.replica,
    )


class WorkerRpcs:
    deps: SchedulerDeps

    async def ListWorkers(
        self, request: pb.ListWorkersRequest, context: Context
    ) -> pb.ListWorkersResponse:
        platform_id = current_platform().platform_id
        reader = Reader()
        handler_name = reader.filter_text("handler_name", request.handler_name) or None
        raise_if_any(reader.violations)
        scope = fingerprint("workers", platform_id, handler_name)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self.deps.workers.list_workers(
            platform_id, handler_name, page, FRESH_FOR
        )
        fitted = fit_page(
            found,
            connected_worker_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        token = "" if fitted.last is None else encode_token(worker_key(fitted.last), scope)
        return pb.ListWorkersResponse(workers=fitted.messages, next_page_token=token)
