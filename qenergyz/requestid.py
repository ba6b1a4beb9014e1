"""The request id: one per HTTP request (or per Celery task), carried into logs and audit entries.

A leaf module: it imports nothing from the apps, so every app may read `current_request_id()`.
"""

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_request_id: ContextVar[str] = ContextVar("request_id", default="")

# An upstream proxy's id is kept only if it is short and plain, so it cannot forge log lines.
_ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

request_logger = logging.getLogger("qenergyz.request")


def current_request_id() -> str:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: object) -> str:
    """`value` if it is a sane id from outside (a proxy, a task message), else a new one."""
    return value if isinstance(value, str) and _ACCEPTED_ID.match(value) else new_request_id()


def bind_request_id(value: str) -> object:
    """Set the id for this context; returns a token for `reset_request_id`."""
    return _request_id.set(value)


def reset_request_id(token: object) -> None:
    _request_id.reset(token)  # type: ignore[arg-type]


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A record that names its id (the request line, logged as the request ends) keeps it.
        if not getattr(record, "request_id", ""):
            record.request_id = _request_id.get() or "-"
        return True


class RequestIdMiddleware:
    """Gives each request an id (or keeps a sane X-Request-ID) and logs one line when it ends."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = accepted_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id  # type: ignore[attr-defined]
        token = bind_request_id(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            request_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "user_id": user.pk if user is not None and user.is_authenticated else None,
                    # Also on the record itself, so handlers without our filter see it too.
                    "request_id": request_id,
                },
            )
            return response
        finally:
            reset_request_id(token)


def connect_celery_signals() -> None:
    """Send the publisher's request id with every task and bind it while the task runs.

    With message protocol 2 the id travels as a message header; the worker copies the message
    headers into the request dict, so it arrives as `task.request.request_id` (and, for eager
    calls, the publisher's context is still bound). A task sent with no id gets a fresh one.
    """
    from celery.signals import before_task_publish, task_postrun, task_prerun

    tokens: dict[str, object] = {}

    @before_task_publish.connect(weak=False)
    def _attach(headers: dict | None = None, **_: object) -> None:
        if headers is not None and not headers.get("request_id"):
            headers["request_id"] = current_request_id() or new_request_id()

    @task_prerun.connect(weak=False)
    def _bind(task_id: str | None = None, task: object = None, **_: object) -> None:
        request = getattr(task, "request", None)
        sent = getattr(request, "request_id", None) or current_request_id()
        # The header comes from whoever could publish to the broker: keep it only if sane.
        tokens[task_id or ""] = bind_request_id(accepted_request_id(sent))

    @task_postrun.connect(weak=False)
    def _unbind(task_id: str | None = None, **_: object) -> None:
        token = tokens.pop(task_id or "", None)
        if token is not None:
            reset_request_id(token)
