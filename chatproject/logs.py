"""Log lines with the id of the work they belong to, as JSON (LOG_FORMAT=json) or plain text.

Every process keeps a **log context** in a context variable: the REST request's id (set by
`RequestIdMiddleware`), the WebSocket connection's id and the `client_msg_id` of the frame being
handled (the chat server's consumer), the sync batch and its message IDs (the sync worker's
`do_send_messages`). `LogContextFilter`, on the console handler, copies it onto each record, and
both formatters write it. Setting the context costs a context-variable set per unit of work; no
line is logged because of it (the send path logs nothing per message: README, "Performance").

asyncio tasks copy the context they were created in, so each WebSocket connection's task keeps
its own; code that starts a long-lived task from a connection's handler gives it a fresh context
(`contextvars.Context()`) so that the task's lines do not carry that connection's id.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
from django.core.signals import request_finished

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

# the fields a context may hold, in the order the formatters write them; `correlation_id` is the
# first of the unit-of-work ids that is set (request, connection, sync batch)
CONTEXT_FIELDS = ("request_id", "conn_id", "batch_id", "client_msg_id", "message_id", "message_ids")
_UNIT_FIELDS = ("request_id", "conn_id", "batch_id")
# 64-bit Snowflakes are written as decimal strings, as the REST and WebSocket contract does (a JSON
# number that large does not survive a JavaScript or a float64 reader)
_ID_FIELDS = frozenset({"message_id", "message_ids"})

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("log_context", default=None)

# an X-Request-ID from the load balancer is kept if it looks like an id (nginx's $request_id: 32
# hex digits); anything else (too long, spaces, line breaks) is replaced by a fresh id
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def log_context_get() -> dict[str, Any]:
    """The fields of the current log context (empty when none is set)."""
    return _context.get() or {}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to the log context for the block (None values are left out)."""
    current = _context.get()
    merged = {**current, **fields} if current else dict(fields)
    token = _context.set({k: v for k, v in merged.items() if v is not None})
    try:
        yield
    finally:
        _context.reset(token)


def log_context_set(**fields: Any) -> None:
    """Replace the log context for the rest of the current task or thread (a WebSocket
    connection's task sets its connection id once, at connect)."""
    _context.set({k: v for k, v in fields.items() if v is not None})


class LogContextFilter(logging.Filter):
    """Copies the log context onto each record (`record.context`); lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = _context.get() or {}
        return True


def _context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context: the filter's copy, then `extra=` fields named in CONTEXT_FIELDS."""
    fields = dict(getattr(record, "context", None) or {})
    for name in CONTEXT_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            fields[name] = value
    return fields


def _id_text(name: str, value: Any) -> Any:
    if name not in _ID_FIELDS:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [str(v) for v in value]
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, process (the
    supervisord process name, e.g. `chat-1`, `worker-sync-0`), kind (`chat`, `worker-sync`...),
    pid, `correlation_id` and the context's fields when set, `exception` with a traceback."""

    def __init__(self, *, process: str = "", kind: str = "") -> None:
        super().__init__()
        self.process = process
        self.kind = kind

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": self.process,
            "kind": self.kind,
            "pid": record.process,
        }
        context = _context_of(record)
        correlation = next((context[k] for k in _UNIT_FIELDS if k in context), None)
        if correlation is not None:
            entry["correlation_id"] = correlation
        for name in CONTEXT_FIELDS:
            if name in context:
                entry[name] = _id_text(name, context[name])
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


class PlainFormatter(logging.Formatter):
    """`time level logger message`, then the context's fields in brackets when set."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = _context_of(record)
        if not context:
            return line
        fields = " ".join(f"{k}={_id_text(k, context[k])}" for k in CONTEXT_FIELDS if k in context)
        head, sep, tail = line.partition("\n")  # a traceback stays below the first line
        return f"{head} [{fields}]{sep}{tail}"


def request_id_of(request: HttpRequest) -> str:
    """The request's id: the load balancer's X-Request-ID when it is a plausible id, else a new one."""
    given = request.META.get("HTTP_X_REQUEST_ID", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Puts the request's id in the log context and answers it in the response's X-Request-ID
    header (gunicorn's access line shows it too: scripts/run.sh).

    The context is left set when the middleware returns, because Django logs a 4xx or 5xx
    response (`django.request`) after the middleware chain; it is cleared when the request
    finishes (`request_finished`) and replaced by the next request on the same thread anyway.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_of(request)
        _context.set({"request_id": request_id})
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def _request_context_clear(**_: Any) -> None:
    _context.set(None)


request_finished.connect(_request_context_clear, dispatch_uid="chatproject.logs.request_context_clear")
