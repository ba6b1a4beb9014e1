"""/metrics: what an authorised scrape shows after real operations, and who may scrape.

Prometheus metrics live in the process for its whole life, across tests: every assertion is on
the difference between a scrape before and one after.
"""

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections, transaction
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.accounts.models import Role
from apps.compliance.models import AuditEntry
from apps.compliance.tasks import audit_verify_chain
from apps.risk.models import Alert, RiskRun, RunKind
from apps.risk.services import risk_run_request
from apps.trading.models import Counterparty, KycStatus, OrderEvent, Trade
from apps.trading.services import TradeBlocked, trade_amend, trade_book
from apps.trading.tasks import pnl_close_day
from apps.trading.venue import engines_reset, order_submit
from qenergyz import metrics
from tests.conftest import login_verified
from tests.factories import UserFactory
from tests.production import manage, production_env
from tests.risk.test_limits import M2, QUICK, _var_limit
from tests.risk.test_support import (
    book,
    business_days,
    curve_history,
    fx_and_rates,
    seeded,  # noqa: F401 - a fixture
)
from tests.test_live import _open, _session_cookie
from tests.trading.factories import trade_terms
from tests.trading.test_venue_support import contract, ticket, venue_data  # noqa: F401

TOKEN = "scraper-token-4f9c2a71d0b8"
TRADES = "/api/v1/trades/"
PAYLOAD = {
    "book": "PEU-FLOW",
    "counterparty": "NORDWIND",
    "deal_type": "physical_fixed",
    "side": "buy",
    "market": "eex-de-power",
    "quantity": "10",
    "price": "85.50",
    "currency": "EUR",
    "period": "2026-03",
    "trade_date": "2026-01-15",
    "executed_at": "2026-01-15T09:30:00Z",
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
def scrape(settings) -> Callable[[], Samples]:
    """Read /metrics as the scraper does: a client of its own, no session, the bearer token."""
    settings.METRICS_TOKEN = TOKEN

    def read() -> Samples:
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=")
        return _parse(response.content.decode())

    return read


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


class _QueryCount:
    """Counts the statements Django sends (an executemany's each), as django-prometheus does.
    (CaptureQueriesContext cannot span a request: each request empties the query log.)"""

    def __init__(self) -> None:
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        self.queries += len(params) if many else 1
        return execute(sql, params, many, context)


def _post(user, data) -> object:
    client = Client()
    client.force_login(user)
    return client.post(TRADES, data=json.dumps(data), content_type="application/json")


# --- Business counters ----------------------------------------------------------------------------


def test_metrics_booking_through_the_api_counts_trade_request_queries_and_task(
    seeded,  # noqa: F811 - the fixture imported above
    trader,
    scrape,
    django_capture_on_commit_callbacks,
):
    before = scrape()
    counted = _QueryCount()
    with connection.execute_wrapper(counted), django_capture_on_commit_callbacks(execute=True):
        response = _post(trader, PAYLOAD)
    assert response.status_code == 201, response.json()
    after = scrape()

    assert delta(before, after, "qenergyz_trades_booked_total", status="booked") == 1
    assert delta(before, after, "qenergyz_trades_booked_total", status="pending_approval") == 0
    # The request's latency and status, by view (django-prometheus's middleware).
    view = {"view": "trading-api:trade-list", "method": "POST"}
    name = "django_http_requests_latency_seconds_by_view_method_count"
    assert delta(before, after, name, **view) == 1
    name = "django_http_responses_total_by_status_view_method_total"
    assert delta(before, after, name, status="201", **view) == 1
    # Every query the request and its eager risk re-run made (django-prometheus's backend).
    vendor = {"alias": "default", "vendor": connection.vendor}
    assert delta(before, after, "django_db_execute_total", **vendor) == counted.queries
    # Flow 1's last step ran eagerly, in this process: the desk's quick risk re-run.
    task = {"task": "apps.risk.tasks.risk_run_incremental"}
    assert delta(before, after, "qenergyz_celery_tasks_total", outcome="success", **task) == 1
    assert delta(before, after, "qenergyz_celery_task_duration_seconds_count", **task) == 1
    run = RiskRun.objects.get()
    # No curves in this data: the run ends failed, and counts as such.
    assert (run.kind, run.status) == (RunKind.INCREMENTAL, "failed")
    name = "qenergyz_risk_run_duration_seconds_count"
    assert delta(before, after, name, kind="incremental", status=run.status) == 1


def test_metrics_refused_booking_counts_its_rule_and_no_trade(
    seeded,  # noqa: F811 - the fixture imported above
    trader,
    scrape,
    django_capture_on_commit_callbacks,
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(trader, {**PAYLOAD, "counterparty": "ALBION"})
    assert response.status_code == 422
    blocking = [c["rule"] for c in response.json()["checks"] if c["outcome"] == "block"]
    # ALBION's KYC has expired and it has no credit line left: two rules refuse.
    assert blocking == ["kyc_valid", "credit_limit"]
    after = scrape()

    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="kyc_valid") == 1
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="credit_limit") == 1
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="self_trade") == 0
    assert delta(before, after, "qenergyz_trades_booked_total", status="booked") == 0
    assert AuditEntry.objects.filter(action="trading.trade_blocked").count() == 1


def test_metrics_bulk_booking_counts_each_trade_and_each_refusal(
    seeded,  # noqa: F811 - the fixture imported above
    trader,
    scrape,
    django_capture_on_commit_callbacks,
):
    items = [PAYLOAD, {**PAYLOAD, "counterparty": "ALBION"}, {**PAYLOAD, "quantity": "20"}]
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        client = Client()
        client.force_login(trader)
        response = client.post(
            f"{TRADES}bulk/", data=json.dumps(items), content_type="application/json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["counts"] == {
        "booked": 2,
        "pending_approval": 0,
        "blocked": 1,
        "invalid": 0,
    }
    after = scrape()

    assert Trade.objects.count() == 2
    assert delta(before, after, "qenergyz_trades_booked_total", status="booked") == 2
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="kyc_valid") == 1
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="credit_limit") == 1


def test_metrics_rolled_back_booking_counts_nothing(
    seeded,  # noqa: F811 - the fixture imported above
    trader,
    scrape,
    django_capture_on_commit_callbacks,
):
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        _book_then_fail(trader)
    after = scrape()

    assert Trade.objects.count() == 0
    assert delta(before, after, "qenergyz_trades_booked_total", status="booked") == 0


def test_metrics_venue_fill_refused_counts_its_rule_and_the_booked_fill(
    contract,  # noqa: F811 - the fixture imported above
    trader,
    other_desk_trader,
    scrape,
    django_capture_on_commit_callbacks,
):
    engines_reset()  # no engine of another test's contract
    order_submit(user=other_desk_trader, ticket=ticket(contract, "sell", 3, "50", book="GUS-FLOW"))
    order_submit(
        user=other_desk_trader,
        ticket=ticket(contract, "sell", 4, "50.5", book="", counterparty="NORDWIND"),
    )
    # Our side of the fill against the broker's quote is refused: NORDWIND's KYC has expired.
    Counterparty.objects.filter(short_code="NORDWIND").update(kyc_status=KycStatus.EXPIRED)
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        result = order_submit(user=trader, ticket=ticket(contract, "buy", 10, "51"))
    after = scrape()

    assert (result.fills, result.refused) == (1, 1)
    refused = OrderEvent.objects.get(order=result.order, kind="fill_refused")
    checks = refused.detail["reasons"][str(result.order.pk)]["checks"]
    assert [c["rule"] for c in checks if c["outcome"] == "block"] == ["kyc_valid"]
    # The fill booked on both sides; the refused one counted once, not once per booking pass.
    assert delta(before, after, "qenergyz_trades_booked_total", status="booked") == 2
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="kyc_valid") == 1


def test_metrics_refused_amendment_counts_its_rules(
    seeded,  # noqa: F811 - the fixture imported above
    trader,
    scrape,
    django_capture_on_commit_callbacks,
):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    before = scrape()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(TradeBlocked) as blocked,
    ):
        trade_amend(user=trader, trade=trade, version=1, changes={"counterparty": "ALBION"})
    after = scrape()

    assert [r.rule for r in blocked.value.report.blocks] == ["kyc_valid", "credit_limit"]
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="kyc_valid") == 1
    assert delta(before, after, "qenergyz_pretrade_refusals_total", rule="credit_limit") == 1
    assert delta(before, after, "qenergyz_trades_booked_total", status="booked") == 0


def _book_then_fail(trader) -> None:
    """A booking inside a caller's transaction that then fails: all of it is rolled back."""
    try:
        with transaction.atomic():
            trade_book(user=trader, terms=trade_terms())
            raise RuntimeError("the caller's transaction fails after the booking")
    except RuntimeError:
        return
    pytest.fail("the transaction did not fail")


def test_metrics_risk_run_with_breach_counts_run_and_alert(
    seeded,  # noqa: F811 - the fixture imported above
    trader,
    risk_manager,
    desk_a,
    scrape,
    django_capture_on_commit_callbacks,
):
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    fx_and_rates(days)
    book(trader)
    checker = _checker(desk_a)
    _var_limit(risk_manager, checker, desk_a, "1000")  # far below the desk's VaR
    before = scrape()
    with django_capture_on_commit_callbacks(execute=True):
        run = _request_run(risk_manager)
    after = scrape()

    run.refresh_from_db()
    assert (run.kind, run.status) == ("manual", "succeeded")
    assert Alert.objects.get().level == "breach"
    name = "qenergyz_risk_run_duration_seconds_count"
    assert delta(before, after, name, kind="manual", status="succeeded") == 1
    assert delta(before, after, "qenergyz_risk_alerts_raised_total", level="breach") == 1
    assert delta(before, after, "qenergyz_risk_alerts_raised_total", level="warning") == 0
    task = {"task": "apps.risk.tasks.risk_run_execute"}
    assert delta(before, after, "qenergyz_celery_tasks_total", outcome="success", **task) == 1


def _checker(desk):
    return UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk])


def _request_run(user) -> RiskRun:
    return risk_run_request(user=user, desk=None, kind=RunKind.MANUAL, parameters=QUICK)


# --- Celery tasks run eagerly ---------------------------------------------------------------------


def test_metrics_eager_task_success_and_failure(db, scrape):
    before = scrape()
    audit_verify_chain.delay()
    with pytest.raises(ValueError, match="Invalid isoformat"):
        pnl_close_day.delay(on="not-a-date")
    after = scrape()

    verify = {"task": "apps.compliance.tasks.audit_verify_chain"}
    close = {"task": "apps.trading.tasks.pnl_close_day"}
    assert delta(before, after, "qenergyz_celery_tasks_total", outcome="success", **verify) == 1
    assert delta(before, after, "qenergyz_celery_task_duration_seconds_count", **verify) == 1
    assert delta(before, after, "qenergyz_celery_tasks_total", outcome="failure", **close) == 1
    assert delta(before, after, "qenergyz_celery_tasks_total", outcome="success", **close) == 0


# --- Who may scrape -------------------------------------------------------------------------------


def test_metrics_wrong_or_missing_token_is_403(db, settings):
    settings.METRICS_TOKEN = TOKEN
    for headers in (
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ):
        response = Client().get("/metrics", headers=headers)
        assert response.status_code == 403, headers
        assert b"qenergyz_" not in response.content
        assert response.content == b"A valid metrics token is required."


def test_metrics_without_configured_token_is_404_to_everyone(db, settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    assert Client().get("/metrics", headers={"Authorization": "Bearer x"}).status_code == 404


def test_metrics_session_login_alone_is_refused(db, settings, administrator, trader):
    settings.METRICS_TOKEN = TOKEN
    assert login_verified(Client(), administrator).get("/metrics").status_code == 403
    client = Client()
    client.force_login(trader)
    assert client.get("/metrics").status_code == 403
    # An administrator who has not passed MFA is not sent to the MFA pages: the token decides.
    unverified = Client()
    unverified.force_login(administrator)
    response = unverified.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert unverified.get("/metrics").status_code == 403


def test_metrics_production_settings_answer_plain_http_scrapes_but_redirect_pages():
    """With DEBUG off, a Prometheus inside the network scrapes over plain http (no redirect to
    https, as the probes), while pages are still redirected. A fresh process: settings are read
    at import."""
    script = (
        "from django.test import Client;"
        "c = Client(HTTP_HOST='example.com');"
        f"print(c.get('/metrics', headers={{'Authorization': 'Bearer {TOKEN}'}}).status_code,"
        " c.get('/metrics').status_code, c.get('/accounts/login/').status_code)"
    )
    result = manage("shell", "--no-imports", "-c", script, env=production_env(METRICS_TOKEN=TOKEN))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "403", "301"]


def test_metrics_only_get(db, settings):
    settings.METRICS_TOKEN = TOKEN
    response = Client().post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 405


# --- A worker's own port --------------------------------------------------------------------------


def _free_port_pair() -> int:
    """A port p with p + 1 free too (a pool child numbered 1 serves on base + 1)."""
    for _attempt in range(20):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base
    pytest.fail("no two consecutive free ports")


def _get(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url)  # noqa: S310 - a loopback http URL of the test's own
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_metrics_worker_port_is_base_plus_pool_index_behind_the_token(settings):
    base = _free_port_pair()
    settings.CELERY_METRICS_PORT = base
    settings.CELERY_METRICS_ADDRESS = "127.0.0.1"
    settings.METRICS_TOKEN = ""
    assert metrics.serve_worker_metrics(index=1) is None  # never served without a token

    settings.METRICS_TOKEN = TOKEN
    server = metrics.serve_worker_metrics(index=1)
    assert server is not None
    try:
        assert server.server_address[1] == base + 1
        url = f"http://127.0.0.1:{base + 1}/metrics"
        assert _get(url, None) == (403, "A valid metrics token is required.")
        assert _get(url, "wrong")[0] == 403
        status, text = _get(url, TOKEN)
        assert status == 200
        assert "# TYPE qenergyz_celery_tasks_total counter" in text.splitlines()
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_worker_port_unset_serves_nothing(settings):
    settings.CELERY_METRICS_PORT = 0
    settings.METRICS_TOKEN = TOKEN
    assert metrics.serve_worker_metrics(index=0) is None


# --- Live sockets ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_metrics_websocket_connect_and_disconnect(trader, scrape) -> None:
    try:
        before = await sync_to_async(scrape)()
        communicator, (connected, _code) = await _open(await sync_to_async(_session_cookie)(trader))
        assert connected is True
        opened = await sync_to_async(scrape)()
        await communicator.disconnect()
        _refused, (connected, _code) = await _open(None)
        assert connected is False
        after = await sync_to_async(scrape)()
    finally:
        await sync_to_async(connections.close_all)()

    gauge = "qenergyz_websocket_connections_open"
    assert delta(before, opened, gauge) == 1
    assert delta(before, after, gauge) == 0
    counter = "qenergyz_websocket_connections_total"
    assert delta(before, opened, counter, outcome="accepted") == 1
    assert delta(before, after, counter, outcome="accepted") == 1
    assert delta(before, after, counter, outcome="refused") == 1
