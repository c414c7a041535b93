"""Structured logs for the lab processes: one JSON object per line, for every logger in the process (or, with
`--log-format text`, AutoGen's plain lines as a service using `logging.basicConfig` writes them).

The root logger gets the handler, so AutoGen's own records (`autogen_core`, `autogen_core.events`, the
worker's root-logger "Processing request …" lines, asyncio's "Exception in callback …" tracebacks) come out
in the same format as the lab's, with AutoGen's plain-text message kept verbatim in `message`.

Fields of every line (null when unknown):
    timestamp  ISO 8601 UTC with microseconds and a "Z" suffix
    level      DEBUG | INFO | WARNING | ERROR | CRITICAL
    logger, message, module, function, line
    agent_id   "type/key" of the agent handling the message this record was written for
    message_id the AutoGen message id: the RpcRequest's request_id for a direct message, the event id for a
               published one
    trace_id   32 hex digits, the W3C trace id carried in the request's `traceparent` metadata
    exception  the formatted traceback, when the record has one
Lines also carry `process` (host, w1, …) and `pid`, so merged logs stay attributable.

No autogen import here: the formatter is plain logging and unit-testable on its own.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

FIELDS = ("timestamp", "level", "logger", "message", "module", "function", "line", "agent_id", "message_id",
          "trace_id", "exception")

# Set by the lab agents around each handler call, so every record written while handling a message (the
# agent's own and the libraries' it calls) names the agent, the message and the trace.
agent_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("agent_id", default=None)
message_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id", default=None)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


def iso_utc(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JsonFormatter(logging.Formatter):
    def __init__(self, process_name: str = "") -> None:
        super().__init__()
        self.process_name = process_name
        self.pid = os.getpid()

    def format(self, record: logging.LogRecord) -> str:
        exception = None
        if record.exc_info:
            exception = self.formatException(record.exc_info)
        elif record.exc_text:
            exception = record.exc_text
        if record.stack_info:
            exception = (exception + "\n" if exception else "") + self.formatStack(record.stack_info)
        doc = {
            "timestamp": iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
            # An explicit `extra={"agent_id": …}` wins over the context of the handler being run.
            "agent_id": getattr(record, "agent_id", None) or agent_id_var.get(),
            "message_id": getattr(record, "message_id", None) or message_id_var.get(),
            "trace_id": getattr(record, "trace_id", None) or trace_id_var.get(),
            "exception": exception,
            "process": self.process_name,
            "pid": self.pid,
        }
        return json.dumps(doc, ensure_ascii=False, default=str)


# `text`: what a service gets from the usual `logging.basicConfig(format=...)`, AutoGen's messages and asyncio's
# tracebacks as they are, and no ids (agentops reads both; docs/logs.md).
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_file: Path, process_name: str, level: str = "INFO", log_format: str = "json") -> None:
    """Route every logger of this process to `log_file`, as JSON lines (`json`) or plain text (`text`), the
    formats a cluster spec's `log_format` names. (A crash before this point, such as an import error, lands in
    the process's captured stderr instead: see `lab.layout`.)"""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = JsonFormatter(process_name) if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    file_handler = logging.FileHandler(log_file, encoding="utf-8")
    file_handler.setFormatter(formatter)
    root.addHandler(file_handler)
    root.setLevel(level.upper())
    # AutoGen's loggers have no handlers of their own; make sure none stops propagation to the root.
    for name in ("autogen_core", "autogen_core.events", "autogen_core.trace", "autogen_ext", "asyncio", "grpc"):
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)
