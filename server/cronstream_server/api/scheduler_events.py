"""SchedulerService: event handlers and TriggerEvent."""

from __future__ import annotations

from cronstream.v1 import scheduler_service_pb2 as pb

from cronstream_server.api.convert import Reader
from cronstream_server.api.convert_events import (
    PREFIX,
    apply_handler_mask,
    event_handler_message,
    handler_spec,
)
from cronstream_server.api.deps import Context, SchedulerDeps
from cronstream_server.api.interceptor import current_platform
from cronstream_server.api.paging import fit_page, page_budget
from cronstream_server.core import events as event_rules
from cronstream_server.core.events import Event, EventHandler
from cronstream_server.core.paging import fingerprint, next_page_token, page_request
from cronstream_server.core.validation import raise_if_any
from cronstream_server.telemetry.context import current_trace_context


class EventRpcs:
    deps: SchedulerDeps

    async def CreateEventHandler(
        self, request: pb.CreateEventHandlerRequest, context: Context
    ) -> pb.CreateEventHandlerResponse:
        reader = Reader()
        if not request.HasField("event_handler"):
            reader.bad(PREFIX, "is required")
            raise_if_any(reader.violations)
        spec = handler_spec(reader, request.event_handler, self.deps.max_payload_bytes)
        event_rules.validate_spec(spec, PREFIX, reader.violations)
        handler = event_rules.new_handler(spec, current_platform().platform_id, self.deps.now())
        stored = await self.deps.done(await self.deps.events_use.create_handler(handler))
        return pb.CreateEventHandlerResponse(event_handler=event_handler_message(stored))

    async def GetEventHandler(
        self, request: pb.GetEventHandlerRequest, context: Context
    ) -> pb.GetEventHandlerResponse:
        handler = await self.deps.events.get_handler(current_platform().platform_id, request.id)
        return pb.GetEventHandlerResponse(event_handler=event_handler_message(handler))

    async def ListEventHandlers(
        self, request: pb.ListEventHandlersRequest, context: Context
    ) -> pb.ListEventHandlersResponse:
        platform_id = current_platform().platform_id
        reader = Reader()
        reader.filter_text("event_name", request.event_name)  # as ListJobs' filters
        raise_if_any(reader.violations)
        scope = fingerprint("event_handlers", platform_id, request.event_name)
        page = page_request(request.page_size, request.page_token, scope)
        found, last = await self.deps.events.list_handlers(platform_id, request.event_name, page)
        fitted = fit_page(
            found,
            event_handler_message,
            more=last is not None,
            budget=page_budget(self.deps.max_message_bytes),
        )
        return pb.ListEventHandlersResponse(
            event_handlers=fitted.messages, next_page_token=next_page_token(fitted.last, scope)
        )

    async def UpdateEventHandler(
        self, request: pb.UpdateEventHandlerRequest, context: Context
    ) -> pb.UpdateEventHandlerResponse:
        now = self.deps.now()
        reader = Reader()
        if not request.HasField("event_handler"):
            reader.bad(PREFIX, "is required")
        if not request.update_mask.paths:
            reader.bad("update_mask", "name at least one field to change")
        raise_if_any(reader.violations)
        paths = list(request.update_mask.paths)

        def change(handler: EventHandler) -> EventHandler:
            spec = apply_handler_mask(
                handler, request.event_handler, paths, self.deps.max_payload_bytes
            )
            return event_rules.respec(handler, spec, now)

        outcome = await self.deps.events_use.update_handler(
            current_platform().platform_id, request.event_handler.id, change
        )
        updated = await self.deps.done(outcome)
        return pb.UpdateEventHandlerResponse(event_handler=event_handler_message(updated))

    async def DeleteEventHandler(
        self, request: pb.DeleteEventHandlerRequest, context: Context
    ) -> pb.DeleteEventHandlerResponse:
        outcome = await self.deps.events_use.delete_handler(
            current_platform().platform_id, request.id
        )
        await self.deps.done(outcome)
        return pb.DeleteEventHandlerResponse()

    async def TriggerEvent(
        self, request: pb.TriggerEventRequest, context: Context
    ) -> pb.TriggerEventResponse:
        reader = Reader()
        payload = None
        if request.HasField("payload"):
            payload = reader.struct("payload", request.payload, self.deps.max_payload_bytes)
        event_rules.validate_event(request.event_name, request.request_id, reader.violations)
        event = Event(
            platform_id=current_platform().platform_id,
            name=request.event_name,
            payload=payload,
            request_id=request.request_id or None,
            at=self.deps.now(),
            trace=current_trace_context(),
        )
        ids = await self.deps.done(await self.deps.events_use.trigger(event))
        return pb.TriggerEventResponse(execution_ids=ids)
