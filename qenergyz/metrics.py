"""Prometheus metrics: the business counters, Celery task timings, and the /metrics endpoint.

A leaf module: it imports nothing from the apps, so every app may count its events here. The
services count a transactional event (a booking, a refusal's audit entry, a risk run, an
alert) through `transaction.on_commit`, so a rolled-back operation counts nothing.

Request latency and database queries come from django-prometheus (its middleware and database
backend wrappers, set in settings); they share the default registry with these.

/metrics is not public: it answers only a scraper presenting `Authorization: Bearer
<METRICS_TOKEN>` (403 otherwise); without a configured token it is a 404 for everyone.

Celery workers are other processes: with CELERY_METRICS_PORT set (and a token), each worker
process serves its own registry on a port of its own, with the same token: the prefork pool's
child number n on CELERY_METRICS_PORT + n, a solo or threads pool's worker on the port itself.
We chose a port per process over prometheus_client's multiprocess mode: that mode needs a
directory shared by every process, set in the environment before any metric is created and
emptied at each start, and it changes how gauges and django-prometheus's metrics are kept; a
port per process needs nothing but the port, and a child replaced after a crash reuses its
number, so the scrape targets stay the same (Prometheus takes the counters' reset in its stride).
Tasks run eagerly (no broker) are counted in the web process and appear on /metrics.
"""

import hmac
import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime
from http.server import ThreadingHTTPServer
from typing import Any

import prometheus_client
from django.conf import settings
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.exposition import MetricsHandler

logger = logging.getLogger(__name__)

# --- The business metrics -------------------------------------------------------------------------

TRADES_BOOKED = Counter(
    "qenergyz_trades_booked",
    "Trades written by booking (pages, API, bulk, venue fills), by their first status.",
    ["status"],
)
PRETRADE_REFUSALS = Counter(
    "qenergyz_pretrade_refusals",
    "Trades (or amendments, or venue fills) refused by the pre-trade checks, per blocking rule: "
    "a refusal by two rules counts under both.",
    ["rule"],
)
RISK_RUN_SECONDS = Histogram(
    "qenergyz_risk_run_duration_seconds",
    "Risk runs from start to finish (stored or failed), by kind and final status.",
    ["kind", "status"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
ALERTS_RAISED = Counter(
    "qenergyz_risk_alerts_raised", "Risk limit alerts raised, by level.", ["level"]
)
WEBSOCKETS_OPEN = Gauge(
    "qenergyz_websocket_connections_open", "Live sockets open now in this process."
)
WEBSOCKET_CONNECTIONS = Counter(
    "qenergyz_websocket_connections",
    "Live socket handshakes, by outcome (accepted, or refused by the gatekeeper).",
    ["outcome"],
)
CELERY_TASK_SECONDS = Histogram(
    "qenergyz_celery_task_duration_seconds",
    "Celery tasks' run time in this process, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
CELERY_TASKS = Counter(
    "qenergyz_celery_tasks",
    "Celery tasks run in this process, by task and outcome (success, failure, retry, ...).",
    ["task", "outcome"],
)


def _tally_on_commit(counter: Counter, label: str, values: Iterable[str]) -> None:
    """Add one to `counter`'s `label`=value per value, once the current transaction commits
    (at once outside a transaction); nothing if it rolls back."""
    tally = Tally(str(value) for value in values)
    if not tally:
        return

    def count() -> None:
        for value, number in tally.items():
            counter.labels(**{label: value}).inc(number)

    transaction.on_commit(count)


def trades_booked_on_commit(statuses: Iterable[str]) -> None:
    """Count the trades a booking wrote (their first statuses) when it commits."""
    _tally_on_commit(TRADES_BOOKED, "status", statuses)


def pretrade_refusals_on_commit(rules: Iterable[str]) -> None:
    """Count refusals, one per blocking rule's code, when their record commits."""
    _tally_on_commit(PRETRADE_REFUSALS, "rule", rules)


def alerts_raised_on_commit(levels: Iterable[str]) -> None:
    _tally_on_commit(ALERTS_RAISED, "level", levels)


def risk_run_on_commit(
    *, kind: str, status: str, started: datetime | None, finished: datetime | None
) -> None:
    """Observe a risk run's duration (its stored start and finish) when its end commits."""
    seconds = (finished - started).total_seconds() if started and finished else 0.0
    labels = {"kind": str(kind), "status": str(status)}
    transaction.on_commit(lambda: RISK_RUN_SECONDS.labels(**labels).observe(max(seconds, 0.0)))


def websocket_opened() -> None:
    WEBSOCKET_CONNECTIONS.labels(outcome="accepted").inc()
    WEBSOCKETS_OPEN.inc()


def websocket_refused() -> None:
    WEBSOCKET_CONNECTIONS.labels(outcome="refused").inc()


def websocket_closed() -> None:
    WEBSOCKETS_OPEN.dec()


# --- Celery tasks ---------------------------------------------------------------------------------

# Start times by task id, between task_prerun and task_postrun (the same process and thread).
_task_started: dict[str, float] = {}


def _task_prerun(task_id: str | None = None, **_kwargs: Any) -> None:
    if task_id:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_kwargs: Any
) -> None:
    started = _task_started.pop(task_id or "", None)
    name = getattr(task, "name", None) or "unknown"
    # No state: the task raised and the error went to the caller (eager, propagating).
    CELERY_TASKS.labels(task=name, outcome=(state or "failure").lower()).inc()
    if started is not None:
        CELERY_TASK_SECONDS.labels(task=name).observe(time.perf_counter() - started)


def _worker_serves_itself(sender: Any = None, **_kwargs: Any) -> None:
    """worker_init: a solo or threads pool runs tasks in the worker process itself."""
    from celery.concurrency import get_implementation
    from celery.concurrency.prefork import TaskPool as PreforkPool

    pool = get_implementation(getattr(sender, "pool_cls", "prefork"))
    if not (isinstance(pool, type) and issubclass(pool, PreforkPool)):
        serve_worker_metrics(index=0)


def _pool_child_serves_itself(**_kwargs: Any) -> None:
    """worker_process_init: a prefork child, numbered by the pool (a replacement reuses it)."""
    from billiard.process import current_process

    serve_worker_metrics(index=getattr(current_process(), "index", 0) or 0)


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)
    signals.worker_init.connect(_worker_serves_itself, weak=False)
    signals.worker_process_init.connect(_pool_child_serves_itself, weak=False)


# --- Serving --------------------------------------------------------------------------------------


def token_matches(authorization: str | None) -> bool:
    """True if `authorization` is "Bearer <METRICS_TOKEN>" (compared in constant time)."""
    expected = settings.METRICS_TOKEN
    if not expected or not authorization:
        return False
    scheme, _space, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The default registry in Prometheus's text format, to the scraper holding the token."""
    if not settings.METRICS_TOKEN:
        raise Http404
    if not token_matches(request.headers.get("Authorization")):
        return HttpResponse(
            _("A valid metrics token is required."),
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(
        prometheus_client.generate_latest(prometheus_client.REGISTRY),
        content_type=prometheus_client.CONTENT_TYPE_LATEST,
    )


class _TokenMetricsHandler(MetricsHandler):
    """prometheus_client's handler behind the same token as /metrics."""

    def do_GET(self) -> None:
        if not token_matches(self.headers.get("Authorization")):
            self.send_response(403)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(_("A valid metrics token is required.").encode())
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would drown the worker's log."""


def serve_worker_metrics(*, index: int) -> ThreadingHTTPServer | None:
    """Serve this process's registry on CELERY_METRICS_PORT + `index` in a daemon thread.

    Returns the server, or None when not configured: no port, or no token (the registry is
    never served without one). A port in use is logged, not raised: the worker runs on.
    """
    base = settings.CELERY_METRICS_PORT
    if not base or not settings.METRICS_TOKEN:
        return None
    port = base + index
    try:
        server = ThreadingHTTPServer((settings.CELERY_METRICS_ADDRESS, port), _TokenMetricsHandler)
    except OSError:
        logger.exception("worker metrics: cannot listen on port %s", port)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    logger.info("worker metrics served on port %s", port)
    return server
