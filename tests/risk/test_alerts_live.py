"""A limit breach found by a run reaches the desk's open sockets and every firm risk manager's,
and no other desk's (nor a risk manager's of another desk only); acknowledging it replaces the
row live (the in-memory channel layer, or Redis in CI)."""

from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections

from apps.accounts.models import Role
from apps.risk.models import Alert, LimitKind
from apps.risk.services import (
    alert_acknowledge,
    limit_propose,
    limit_version_approve,
    risk_run_request,
)
from tests.factories import UserFactory
from tests.risk.test_support import book, business_days, curve_history, fx_and_rates
from tests.test_live import _open, _session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

M2 = ["100", "102", "99", "101", "98", "100"]


@pytest.fixture(autouse=True)
async def _close_worker_connections():
    yield
    await sync_to_async(connections.close_all)()


def _set_up(trader, risk_manager, desk_a):
    call_command("seed_reference_data", verbosity=0)
    days = business_days(6)
    curve_history("eex-de-power", days, lambda i, k: Decimal(M2[i]) + (k - 2))
    fx_and_rates(days)
    book(trader)
    checker = UserFactory(username="risk2", roles=[Role.RISK_MANAGER], desks=[desk_a])
    version = limit_propose(
        user=risk_manager,
        kind=LimitKind.VAR,
        desk=desk_a,
        method="historical",
        confidence="0.95",
        amount="1000",
    )
    limit_version_approve(user=checker, version=version)


def _run(risk_manager):
    return risk_run_request(
        user=risk_manager,
        desk=None,
        parameters={"window": 5, "confidences": [0.95], "methods": ["historical"]},
    )


async def test_breach_reaches_desk_and_risk_managers_never_another_desk(
    trader, other_desk_trader, risk_manager, desk_a, desk_b
) -> None:
    await sync_to_async(_set_up)(trader, risk_manager, desk_a)
    # A firm risk manager of no desk hears it through their own group; a risk manager of the
    # other desk only, without the firm view, does not.
    firm_risk = await sync_to_async(UserFactory)(
        username="risk_firm", roles=[Role.RISK_MANAGER, Role.FIRM_RISK_MANAGER]
    )
    desk_b_risk = await sync_to_async(UserFactory)(
        username="risk_b", roles=[Role.RISK_MANAGER], desks=[desk_b]
    )
    sockets = {}
    for name, user in (
        ("desk", trader),
        ("other", other_desk_trader),
        ("risk", firm_risk),
        ("risk_b", desk_b_risk),
    ):
        sockets[name], (connected, _code) = await _open(await sync_to_async(_session_cookie)(user))
        assert connected is True

    run = await sync_to_async(_run)(risk_manager)

    alert = await sync_to_async(Alert.objects.get)()
    assert alert.run_id == run.pk
    frames = []
    while not await sockets["desk"].receive_nothing(timeout=0.5):
        frames.append(await sockets["desk"].receive_from(timeout=1))
    (pushed,) = [f for f in frames if "risk-alert-" in f]
    assert f'<tr id="risk-alert-{alert.pk}" class="alert-row alert-breach"' in pushed
    assert '<tbody hx-swap-oob="afterbegin:#risk-alert-rows">' in pushed
    assert "Limit breach" in pushed
    assert "<bdi>power-eu</bdi>" in pushed
    assert any('id="risk-run-signal"' in f for f in frames)  # the dashboards reload
    risk_frame = await sockets["risk"].receive_from(timeout=2)
    assert f'id="risk-alert-{alert.pk}"' in risk_frame
    # The other desk hears that a run of every desk (its own too) ended, never the alert.
    heard = []
    while not await sockets["other"].receive_nothing(timeout=0.5):
        heard.append(await sockets["other"].receive_from(timeout=1))
    assert heard
    assert all('id="risk-run-signal"' in f for f in heard)
    assert not [f for f in heard if "risk-alert" in f or "power-eu" in f]
    heard_b = []
    while not await sockets["risk_b"].receive_nothing(timeout=0.5):
        heard_b.append(await sockets["risk_b"].receive_from(timeout=1))
    assert all('id="risk-run-signal"' in f for f in heard_b)
    assert not [f for f in heard_b if "risk-alert" in f or "power-eu" in f]

    await sync_to_async(alert_acknowledge)(user=risk_manager, alert=alert)
    changed = await sockets["desk"].receive_from(timeout=2)
    assert f'<tr id="risk-alert-{alert.pk}"' in changed
    assert 'hx-swap-oob="true"' in changed
    assert "Acknowledged by <bdi>risk</bdi>" in changed
    assert await sockets["other"].receive_nothing(timeout=0.3) is True
    for socket in sockets.values():
        await socket.disconnect()
