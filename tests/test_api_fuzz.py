"""The standing attack suite's API half: schemathesis against our own /api/schema/.

Every operation of the schema is called with generated requests, valid ones and invalid ones,
through the real WSGI application with a real API token of a trader (desk A) on the demo
reference data. A request fails the test when the answer is a 5xx, or contradicts the schema
(a status the operation does not declare, a content type or body that does not match).

Bounded so that it runs in every `make test`: a fixed number of examples per operation and
mode, a deterministic seed (hypothesis' derandomize), no example database, and a total time
budget after which the remaining operations are reported as not run (and fail the test).
"""

import importlib
import inspect
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework import serializers
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.services import api_token_create
from apps.trading.models import Side
from apps.trading.services import trade_book
from qenergyz.wsgi import application
from tests.trading.factories import trade_terms

EXAMPLES_PER_OPERATION = 8  # per generation mode
TIME_BUDGET_SECONDS = 200
RISK_PREFIX = "/api/v1/risk/"
SERIALIZER_MODULES = [
    "apps.accounts.serializers",
    "apps.trading.serializers",
    "apps.trading.venue_serializers",
    "apps.risk.serializers",
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_in_test_transaction() -> Iterator[None]:
    """Requests run in this thread, inside the test's transaction: as Django's test client
    does, the end of a request must not close the connection (and roll the test back)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_tokens(trader, risk_manager, settings: Any) -> dict[str, str]:
    """Real API tokens: desk A's trader for every operation, and a risk manager for the risk
    operations (a trader's risk writes stop at the role's 403, before their bodies are read)."""
    call_command("seed_reference_data", verbosity=0)
    # Data to answer with: a booked trade (and the risk run its booking starts), so that the
    # fuzzer's reads return real rows to hold against the schema (nullable fields included).
    trade_book(user=trader, terms=trade_terms())
    trade_book(user=trader, terms=trade_terms(side=Side.SELL, quantity=Decimal("5")))
    # The per-client rates are tested in tests/test_throttles.py; here they would end the run.
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(rates, "100000/min"),
    }
    return {
        "trader": api_token_create(user=trader, name="fuzz").plaintext,
        "risk_manager": api_token_create(user=risk_manager, name="fuzz").plaintext,
    }


def _run_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str]
) -> tuple[int, dict[str, str]]:
    """(examples sent, failure reports) of one operation in one generation mode."""
    failures: dict[str, str] = {}
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=["generate"],
    )
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:  # keep each report, run on: the test shows them all
            for failure in group.exceptions:
                report = f"{operation.label} [{mode.value}] {response.status_code}: {failure.title}"
                details = f"{failure.message[:600]}\n{case.as_curl_command()[:600]}"
                failures.setdefault(report, details)

    try:
        run()
    except Unsatisfiable:
        # An operation with nothing to get wrong (no parameters, no body) has no invalid case.
        if mode is not GenerationMode.NEGATIVE or sent:
            raise
    return sent, failures


@pytest.mark.usefixtures("wsgi_in_test_transaction")
def test_api_fuzz_no_server_error_and_schema_holds(
    fuzz_tokens: dict[str, str], capsys: Any
) -> None:
    as_trader = {"Authorization": f"Token {fuzz_tokens['trader']}", "Host": "localhost"}
    as_risk = {"Authorization": f"Token {fuzz_tokens['risk_manager']}", "Host": "localhost"}
    # The schema as a client reads it: from the running application, with the token.
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", application, headers=as_trader
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: dict[str, str] = {}
    examples = 0
    started = time.monotonic()
    not_run = []
    for operation in operations:
        if time.monotonic() - started > TIME_BUDGET_SECONDS:
            not_run.append(operation.label)
            continue
        users = [as_trader]
        if operation.path.startswith(RISK_PREFIX):
            users.append(as_risk)
        for headers in users:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                sent, found = _run_operation(operation, mode, headers)
                examples += sent
                failures.update(found)
    with capsys.disabled():  # in every run's output (CI's log), not only on failure
        risk = sum(operation.path.startswith(RISK_PREFIX) for operation in operations)
        print(
            f"\nAPI fuzz: {len(operations)} operations, {examples} examples"
            f" (every operation as a trader, the {risk} risk operations also as a risk manager)"
        )
    assert not_run == [], f"time budget spent before: {not_run}"
    assert failures == {}, "\n\n".join(f"{title}\n{details}" for title, details in failures.items())


def test_api_schema_declares_shared_errors_once(client, trader) -> None:
    client.force_login(trader)
    schema = client.get("/api/schema/?format=json").json()
    me = schema["paths"]["/api/v1/me/"]["get"]["responses"]
    assert sorted(me) == ["200", "401", "403", "429"]
    assert me["429"]["headers"] == {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    booking = schema["paths"]["/api/v1/trades/"]["post"]["responses"]
    # The view's own errors kept, given the error body; 413 added for its body.
    assert sorted(booking) == ["201", "400", "401", "403", "404", "409", "413", "422", "429"]
    assert booking["409"]["description"] == "Stale version, or a status that forbids it."
    assert booking["409"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
    }
    trade = schema["paths"]["/api/v1/trades/{id}/"]["get"]["responses"]
    assert sorted(trade) == ["200", "401", "403", "404", "429"]
    assert trade["404"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
    }
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail"]
    counterparty = schema["components"]["schemas"]["Counterparty"]["properties"]
    assert counterparty["internal_entity"]["nullable"] is True


def test_api_unresolved_path_is_json_404(client, trader) -> None:
    client.force_login(trader)
    response = client.get("/api/v1/trades/not-a-number/")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    page = client.get("/trading/trades/not-a-number/")
    assert page.status_code == 404
    assert "Page not found" in page.text


def test_api_schema_nullable_relations_declared() -> None:
    # A relation a serializer declares itself is not read from the model: a nullable foreign key
    # shown by its code must say allow_null, or the schema promises a string and sends null.
    undeclared = []
    for module in SERIALIZER_MODULES:
        for name, cls in inspect.getmembers(importlib.import_module(module), inspect.isclass):
            if not issubclass(cls, serializers.ModelSerializer) or cls.__module__ != module:
                continue
            for field_name, field in cls._declared_fields.items():
                if not isinstance(field, serializers.RelatedField) or field.allow_null:
                    continue
                model_field = cls.Meta.model._meta.get_field(field.source or field_name)
                if model_field.null:
                    undeclared.append(f"{name}.{field_name}")
    assert undeclared == []
