"""SchedulerService: the execution RPCs."""

from __future__ import annotations

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import (
    EXECUTION_STATUS,
    Reader,
    execution_message,
    log_message,
)
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.core.executions import ExecutionLog
from cronstream_server.core.paging import (
    PageRequest,
    encode_token,
    fingerprint,
    next_page_token,
    page_request,
)
from cronstream_server.core.ports import ExecutionFilter
from cronstream_server.core.validation import raise_if_any

DEFAULT_LOG_PAGE_SIZE = 100


class ExecutionRpcs:
    deps: SchedulerDeps

    async def ListExecutions(
        self, request: pb.ListExecutionsRequest, context: Context
    ) -> pb.ListExecutionsResponse:
        platform_id = current_platform().platform_id
        reader = Reader()
        statuses = reader.enums("statuses", request.statuses, EXECUTION_STATUS)
        raise_if_any(reader.violations)
        if request.job_id:
            await self.deps.jobs.get_job(platform_id, request.job_id)  # NOT_FOUND if not ours
        where = ExecutionFilter(job_id=request.job_id or None, statuses=statuses)
        scope = fingerprint("executions", platform_id, where)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self.deps.executions.list_executions(platform_id, where, page)
        fitted = fit_page(
            found,
            execution_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListExecutionsResponse(
            executions=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def GetExecution(
        self, request: pb.GetExecutionRequest, context: Context
    ) -> pb.GetExecutionResponse:
        execution = await self.deps.executions.get(current_platform().platform_id, request.id)
        return pb.GetExecutionResponse(execution=execution_message(execution))

    async def RetryExecution(
        self, request: pb.RetryExecutionRequest, context: Context
    ) -> pb.RetryExecutionResponse:
        outcome = await self.deps.executions_use.retry(current_platform().platform_id, request.id)
        return pb.RetryExecutionResponse(execution=execution_message(await self.deps.done(outcome)))

    async def CancelExecution(
        self, request: pb.CancelExecutionRequest, context: Context
    ) -> pb.CancelExecutionResponse:
        outcome = await self.deps.executions_use.cancel(current_platform().platform_id, request.id)
        cancelled = await self.deps.done(outcome)
        self.deps.metrics.cancelled(cancelled.platform_id, cancelled.handler_name)
        return pb.CancelExecutionResponse(execution=execution_message(cancelled))

    async def ListExecutionLogs(
        self, request: pb.ListExecutionLogsRequest, context: Context
    ) -> pb.ListExecutionLogsResponse:
        platform_id = current_platform().platform_id
        scope = fingerprint("logs", platform_id, request.execution_id)
        page = _log_page(request, scope)
        lines, last_id = await self.deps.executions.list_logs(
            platform_id, request.execution_id, page
        )
        fitted = fit_page(
            lines,
            log_message,
            more=last_id is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListExecutionLogsResponse(
            logs=fitted.messages, next_page_token=_log_page_token(fitted.last, scope)
        )


def _log_page(request: pb.ListExecutionLogsRequest, scope: str) -> PageRequest:
    """The page a token asks for, or the lines after `after_sequence`: both
    are the same key (a line id), so a tail resumes as a next page would."""
    reader = Reader()
    if request.after_sequence < 0:
        reader.bad("after_sequence", "must not be negative")
    if request.after_sequence and request.page_token:
        reader.bad("after_sequence", "give either after_sequence or page_token, not both")
    raise_if_any(reader.violations)
    page = page_request(request.page_size or DEFAULT_LOG_PAGE_SIZE, request.page_token, scope)
    if request.after_sequence:
        return PageRequest(page.size, (str(request.after_sequence),))
    return page


def _log_page_token(last: ExecutionLog | None, scope: str) -> str:
    """Log pages are keyed on the line id alone (lines of one execution)."""
    if last is None:
        return ""
    assert last.id is not None  # read from the store, which sets it
    return encode_token((str(last.id),), scope)
