"""The lab worker's runtime: AutoGen's `GrpcWorkerAgentRuntime`, plus log context for every message.

AutoGen 0.7.5 does not hand the request's metadata to the handler (the `traceparent` becomes a span link,
not the parent), and its failures outside the handler — no serializer for the result, a payload it cannot
decode — are logged by asyncio as "Exception in callback …" with no message attached. This subclass binds
agent_id / message_id / trace_id (from the request's W3C `traceparent`) to the task that processes each
message, and an asyncio exception handler re-binds them when that task's failure is logged, so even
AutoGen's own error lines name the message they were about. Overrides private methods of 0.7.5 (the lab pins
that version); routing and replies are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from agentops.lab.jsonlog import agent_id_var, message_id_var, trace_id_var

# task -> (agent_id, message_id, trace_id) while AutoGen processes a message in that task
_task_context: weakref.WeakKeyDictionary[asyncio.Task[Any], tuple[str | None, str | None, str | None]] = (
    weakref.WeakKeyDictionary())


def trace_id_from(traceparent: str) -> str | None:
    """ "00-<32 hex trace id>-<16 hex span id>-<flags>" -> the trace id, else None."""
    parts = traceparent.split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1].lower()
    return None


@contextlib.contextmanager
def bound(agent_id: str | None, message_id: str | None, trace_id: str | None) -> Iterator[None]:
    tokens = (agent_id_var.set(agent_id), message_id_var.set(message_id), trace_id_var.set(trace_id))
    try:
        yield
    finally:
        for var, token in zip((agent_id_var, message_id_var, trace_id_var), tokens, strict=True):
            var.reset(token)


def _remember(ids: tuple[str | None, str | None, str | None]) -> None:
    task = asyncio.current_task()
    if task is not None:
        _task_context[task] = ids


def log_task_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio exception handler: log as usual, with the ids of the message whose task failed."""
    task = context.get("future") or context.get("task")
    if task is None:
        # "Exception in callback GrpcWorkerAgentRuntime._raise_on_exception(task)": the task is its argument.
        args = getattr(context.get("handle"), "_args", None) or ()
        task = next((a for a in args if isinstance(a, asyncio.Task)), None)
    ids = _task_context.get(task) if task is not None else None
    if ids is None:
        loop.default_exception_handler(context)
        return
    with bound(*ids):
        loop.default_exception_handler(context)


def lab_runtime_class() -> type:
    from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntime

    class LabWorkerRuntime(GrpcWorkerAgentRuntime):
        async def _process_request(self, request: Any) -> None:
            ids = (f"{request.target.type}/{request.target.key}", request.request_id,
                   trace_id_from(request.metadata.get("traceparent", "")))
            _remember(ids)
            with bound(*ids):
                await super()._process_request(request)

        async def _process_event(self, event: Any) -> None:
            ids = (None, event.id, None)
            _remember(ids)
            with bound(*ids):
                await super()._process_event(event)

    return LabWorkerRuntime
