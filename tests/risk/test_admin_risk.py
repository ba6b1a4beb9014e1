"""The risk app's admin: stress scenarios and collateral are managed there (bad shocks, windows
and amounts are form errors, nothing written); runs, limits and alerts are read-only."""

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from apps.compliance.models import AuditEntry
from apps.risk.models import Collateral, StressScenario
from apps.trading.models import Counterparty, LegalEntity
from tests.conftest import login_verified
from tests.risk.test_support import seeded  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("seeded")

ADD_SCENARIO = "admin:risk_stressscenario_add"
SHAPE_PAIRS = "Shock 1: a shape is a list of [tenor in months, move] pairs."


@pytest.fixture
def admin_client(client: Client, administrator: Any) -> Client:
    return login_verified(client, administrator)


def scenario_form(**values: Any) -> dict[str, str]:
    form = {
        "name": "Power −15 %",
        "kind": "hypothetical",
        "description": "Every power curve 15 % lower.",
        "start_date": "",
        "end_date": "",
        "shocks": json.dumps([{"commodity": "power", "move": -0.15}]),
        "active": "on",
    }
    form.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()})
    return form


def form_errors(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 200, response.status_code
    errors = response.context["adminform"].form.errors
    return {field: list(messages) for field, messages in errors.items()}


def test_scenario_admin_lists_the_seeded_scenarios_and_opens_one(admin_client):
    listing = admin_client.get(reverse("admin:risk_stressscenario_changelist"))
    crisis = StressScenario.objects.get(name="Gas crisis 2021–22")
    page = admin_client.get(reverse("admin:risk_stressscenario_change", args=[crisis.pk]))

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == StressScenario.objects.count() == 9
    assert page.status_code == 200
    assert page.context["adminform"].form["start_date"].value() == date(2021, 8, 2)


def test_scenario_admin_adds_a_hypothetical_scenario(admin_client):
    shocks = [
        {"market": "ttf", "shape": [[1, 0.4], [6, 0.1], [12, 0]]},
        {"commodity": "crude-oil", "move": -0.2, "tenor_from": 1, "tenor_to": 3},
    ]
    response = admin_client.post(reverse(ADD_SCENARIO), scenario_form(name="Mixed", shocks=shocks))

    assert response.status_code == 302
    scenario = StressScenario.objects.get(name="Mixed")
    assert (scenario.kind, scenario.shocks, scenario.active) == ("hypothetical", shocks, True)
    entry = AuditEntry.objects.get(action="risk.stressscenario_created")
    # The audit trail keeps floats as their shortest decimal strings (exact through jsonb).
    audited = [
        {"market": "ttf", "shape": [[1, "0.4"], [6, "0.1"], [12, 0]]},
        {"commodity": "crude-oil", "move": "-0.2", "tenor_from": 1, "tenor_to": 3},
    ]
    assert (entry.object_id, entry.payload["changes"]["shocks"]) == (
        str(scenario.pk),
        {"old": None, "new": audited},
    )


def test_scenario_admin_adds_a_historical_window(admin_client):
    response = admin_client.post(
        reverse(ADD_SCENARIO),
        scenario_form(
            name="Covid 2020", kind="historical", shocks="[]",
            start_date="2020-02-03", end_date="2020-04-30",
        ),
    )  # fmt: skip

    assert response.status_code == 302
    scenario = StressScenario.objects.get(name="Covid 2020")
    assert (scenario.start_date, scenario.end_date) == (date(2020, 2, 3), date(2020, 4, 30))


@pytest.mark.parametrize(
    ("shocks", "message"),
    [
        ({"move": 0.1}, "Shocks must be a list."),
        (["up"], "Shock 1 must be an object with market or commodity, move or shape."),
        (
            [{"move": 0.1}, {"move": 0.1, "tenor": 3}],
            "Shock 2 must be an object with market or commodity, move or shape.",
        ),
        (
            [{"market": "ttf", "commodity": "natural-gas", "move": 0.1}],
            "Shock 1 names both a market and a commodity; give one.",
        ),
        ([{"market": "ttf"}], "Shock 1 needs either a move or a shape."),
        ([{"move": 0.1, "shape": [[1, 0.1]]}], "Shock 1 needs either a move or a shape."),
        (
            [{"shape": [[1, 0.1, 2]]}],
            "Shock 1: a shape is a list of [tenor in months, move] pairs.",
        ),
        ([{"shape": {"1": 0.1}}], "Shock 1: a shape is a list of [tenor in months, move] pairs."),
        ([{"move": "0.1"}], "Shock 1: moves and tenors are numbers."),
        ([{"move": True}], "Shock 1: moves and tenors are numbers."),
        ([{"move": 0.1, "tenor_to": "M3"}], "Shock 1: moves and tenors are numbers."),
        ([{"shape": [[6, 0.1], [1, 0.2]]}], "Shock 1: the shape's tenors must increase."),
        ([{"shape": [[1, 0.1], [1, 0.2]]}], "Shock 1: the shape's tenors must increase."),
        ([], "A hypothetical scenario needs shocks."),
    ],
)
def test_scenario_admin_bad_shocks_are_form_errors(admin_client, shocks, message):
    response = admin_client.post(reverse(ADD_SCENARIO), scenario_form(shocks=shocks))

    assert form_errors(response) == {"shocks": [message]}
    assert not StressScenario.objects.filter(name="Power −15 %").exists()


def test_scenario_admin_shocks_that_are_not_json_are_a_form_error(admin_client):
    response = admin_client.post(reverse(ADD_SCENARIO), scenario_form(shocks="[{move: 0.1}"))

    # The model's own check then sees no shocks and says so too (a second message).
    assert form_errors(response)["shocks"][0] == "Enter a valid JSON."
    assert not StressScenario.objects.filter(name="Power −15 %").exists()


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        ("", "2022-08-26", "__all__", "A historical window needs its start and end dates."),
        ("2022-08-26", "2022-08-26", "end_date", "The window must end after it starts."),
        ("2022-08-26", "2021-08-02", "end_date", "The window must end after it starts."),
    ],
)
def test_scenario_admin_bad_windows_are_form_errors(admin_client, start, end, field, message):
    response = admin_client.post(
        reverse(ADD_SCENARIO),
        scenario_form(kind="historical", shocks="[]", start_date=start, end_date=end),
    )

    # The model's message comes first; a missing date also trips the database constraint,
    # whose default text follows it.
    assert form_errors(response)[field][0] == message
    assert not StressScenario.objects.filter(name="Power −15 %").exists()


def test_scenario_admin_bad_shocks_on_a_change_leave_the_scenario_as_it_was(admin_client):
    scenario = StressScenario.objects.get(name="Gas +30 %")
    url = reverse("admin:risk_stressscenario_change", args=[scenario.pk])

    response = admin_client.post(
        url, scenario_form(name=scenario.name, shocks=[{"commodity": "natural-gas"}])
    )

    assert form_errors(response) == {"shocks": ["Shock 1 needs either a move or a shape."]}
    scenario.refresh_from_db()
    assert scenario.shocks == [{"commodity": "natural-gas", "move": 0.30}]


# --- Collateral ---------------------------------------------------------------------------------


def collateral_form(**values: str) -> dict[str, str]:
    form = {
        "counterparty": str(Counterparty.objects.get(short_code="PRAIRIE").pk),
        "legal_entity": str(LegalEntity.objects.get(code="qz-us").pk),
        "amount": "2500000.00",
        "currency": "USD",
        "as_of": "2026-08-18",
        "note": "Letter of credit",
    }
    form.update(values)
    return form


def test_collateral_admin_records_collateral_held(admin_client):
    response = admin_client.post(reverse("admin:risk_collateral_add"), collateral_form())

    assert response.status_code == 302
    held = Collateral.objects.get()
    assert (held.counterparty.short_code, held.legal_entity.code) == ("PRAIRIE", "qz-us")
    assert (held.amount, held.currency, held.as_of) == (
        Decimal("2500000.00"), "USD", date(2026, 8, 18),
    )  # fmt: skip
    entry = AuditEntry.objects.get(action="risk.collateral_created")
    assert entry.payload["changes"]["amount"] == {"old": None, "new": "2500000.00"}
    assert admin_client.get(reverse("admin:risk_collateral_changelist")).status_code == 200


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"amount": "-1.00"}, "__all__"),  # the amount_gte_0 constraint
        ({"amount": "ten"}, "amount"),
        ({"currency": "usd1"}, "currency"),
        ({"as_of": "2026-02-30"}, "as_of"),
        ({"counterparty": ""}, "counterparty"),
    ],
)
def test_collateral_admin_bad_input_is_a_form_error(admin_client, values, field):
    response = admin_client.post(reverse("admin:risk_collateral_add"), collateral_form(**values))

    assert list(form_errors(response)) == [field]
    assert Collateral.objects.count() == 0


def test_collateral_admin_refuses_a_second_row_for_the_same_day(admin_client):
    url = reverse("admin:risk_collateral_add")
    assert admin_client.post(url, collateral_form()).status_code == 302

    response = admin_client.post(url, collateral_form(amount="1.00"))

    assert list(form_errors(response)) == ["__all__"]
    assert Collateral.objects.get().amount == Decimal("2500000.00")


# --- Read-only ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["riskrun", "limit", "alert"])
def test_risk_admin_runs_limits_and_alerts_are_read_only(admin_client, model):
    assert admin_client.get(reverse(f"admin:risk_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:risk_{model}_add")).status_code == 403


def test_risk_admin_needs_a_verified_staff_session(client, risk_manager):
    # A risk manager is not staff: the admin sends them to its sign-in, and writes nothing.
    client.force_login(risk_manager)

    response = client.post(reverse(ADD_SCENARIO), scenario_form())

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert not StressScenario.objects.filter(name="Power −15 %").exists()
