"""Pre-trade checks: the rules in force, their figures, and failing closed.

The default rules come from the data migration (KYC valid, credit limit with a warning above 80%,
self-trade; all blocking, for every jurisdiction, from 2020-01-01 UTC).
"""

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from apps.accounts.models import Jurisdiction
from apps.accounts.regions import region_defaults
from apps.compliance.models import AuditEntry, ChangeRequest, PreTradeRule
from apps.compliance.pretrade import (
    CheckReport,
    Outcome,
    RuleResult,
    TradeProposal,
    pretrade_check,
    pretrade_check_many,
)
from tests.risk.test_support import seeded  # noqa: F401 - a fixture
from tests.trading.factories import BookFactory, CounterpartyFactory, LegalEntityFactory

pytestmark = pytest.mark.django_db

TRADE_DATE = date(2026, 3, 10)
DEFAULTS_START = datetime(2020, 1, 1, tzinfo=UTC)


def make_proposal(counterparty: Any, book: Any, **overrides: Any) -> TradeProposal:
    values: dict[str, Any] = {
        "trade_date": TRADE_DATE,
        "trader_id": 1,
        "desk_id": book.desk_id,
        "book_id": book.pk,
        "legal_entity_id": book.legal_entity_id,
        "jurisdiction": book.legal_entity.jurisdiction,
        "counterparty_id": counterparty.pk,
        "market_code": "eex-de-power",
        "commodity": "power",
        "deal_type": "physical_fixed",
        "side": "buy",
        "quantity": Decimal("1000"),
        "unit": "MWh",
        "price": Decimal("100.00"),
        "currency": "EUR",
        "notional": Decimal("100000.00"),
        "notional_in_credit_currency": Decimal("100000.00"),
        "counterparty_exposure": Decimal("0.00"),
    }
    values.update(overrides)
    return TradeProposal(**values)


def result_of(report: CheckReport, rule: str) -> RuleResult:
    (result,) = [r for r in report.results if r.rule == rule]
    return result


def credit(counterparty: Any, book: Any, exposure: str | None, notional: str | None) -> RuleResult:
    proposal = make_proposal(
        counterparty,
        book,
        counterparty_exposure=None if exposure is None else Decimal(exposure),
        notional_in_credit_currency=None if notional is None else Decimal(notional),
    )
    return result_of(pretrade_check(proposal), "credit_limit")


def generic(code: str) -> PreTradeRule:
    return PreTradeRule.objects.get(code=code, jurisdiction="", effective_from=DEFAULTS_START)


@pytest.fixture
def book() -> Any:
    # Legal entity in the EU (MiFID II / REMIT), from the factory.
    return BookFactory()


@pytest.fixture
def counterparty() -> Any:
    # KYC approved until 2027-12-31; credit limit 1,000,000.00 EUR.
    return CounterpartyFactory()


# --- Defaults ----------------------------------------------------------------------------------


def test_default_rules_migration_creates_three_blocking_rules_from_2020() -> None:
    rules = PreTradeRule.objects.order_by("code")

    assert [(r.code, r.jurisdiction, r.outcome, r.params, r.effective_to) for r in rules] == [
        ("credit_limit", "", "block", {"warn_ratio": "0.80"}, None),
        ("kyc_valid", "", "block", {}, None),
        ("self_trade", "", "block", {}, None),
    ]
    assert {r.effective_from for r in rules} == {DEFAULTS_START}
    with translation.override("ar"):
        assert (
            generic("self_trade").description == "الطرف المقابل ليس الكيان القانوني المالك للدفتر."
        )


def test_pretrade_check_sound_trade_passes_every_rule(counterparty: Any, book: Any) -> None:
    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome, r.reason) for r in report.results] == [
        ("kyc_valid", Outcome.PASS, ""),
        ("credit_limit", Outcome.PASS, ""),
        ("self_trade", Outcome.PASS, ""),
    ]
    assert report.outcome is Outcome.PASS
    assert not report.blocked


# --- KYC ---------------------------------------------------------------------------------------


def test_kyc_valid_expiring_on_the_trade_date_passes(book: Any) -> None:
    counterparty = CounterpartyFactory(kyc_expires_on=TRADE_DATE)

    assert result_of(pretrade_check(make_proposal(counterparty, book)), "kyc_valid").outcome is (
        Outcome.PASS
    )


def test_kyc_valid_expired_the_day_before_the_trade_date_blocks(book: Any) -> None:
    counterparty = CounterpartyFactory(kyc_expires_on=TRADE_DATE - timedelta(days=1))

    report = pretrade_check(make_proposal(counterparty, book))

    result = result_of(report, "kyc_valid")
    assert result.outcome is Outcome.BLOCK
    assert result.reason == (
        "The counterparty's KYC expired on 2026-03-09, before the trade date 2026-03-10."
    )
    assert report.blocked
    assert report.blocks == (result,)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("pending", "The counterparty's KYC is still pending approval."),
        ("rejected", "The counterparty's KYC was rejected."),
        ("expired", "The counterparty's KYC has expired."),
    ],
)
def test_kyc_valid_status_not_approved_blocks_naming_it(
    book: Any, status: str, reason: str
) -> None:
    counterparty = CounterpartyFactory(kyc_status=status, kyc_expires_on=None)

    result = result_of(pretrade_check(make_proposal(counterparty, book)), "kyc_valid")

    assert (result.outcome, result.reason) == (Outcome.BLOCK, reason)


# --- Credit limit ------------------------------------------------------------------------------


def test_credit_limit_at_85_percent_warns_with_figures(counterparty: Any, book: Any) -> None:
    # (700,000 + 150,000) / 1,000,000 = 85% > 80%
    result = credit(counterparty, book, "700000.00", "150000.00")

    assert result.outcome is Outcome.WARN
    assert result.params == {
        "exposure": "700,000.00",
        "notional": "150,000.00",
        "limit": "1,000,000.00",
        "currency": "EUR",
        "utilisation": "85.00",
        "warn_at": "80.00",
    }
    assert result.reason == (
        "Credit use would reach 85.00% of the limit of 1,000,000.00 EUR (warning above 80.00%): "
        "exposure 700,000.00 EUR plus this trade 150,000.00 EUR."
    )


def test_credit_limit_at_105_percent_blocks_with_figures(counterparty: Any, book: Any) -> None:
    # (700,000 + 350,000) / 1,000,000 = 105% > 100%
    result = credit(counterparty, book, "700000.00", "350000.00")

    assert result.outcome is Outcome.BLOCK
    assert result.reason == (
        "Credit limit exceeded: exposure 700,000.00 EUR plus this trade 350,000.00 EUR is "
        "105.00% of the limit of 1,000,000.00 EUR."
    )


def test_credit_limit_exactly_at_the_limit_warns_but_does_not_block(
    counterparty: Any, book: Any
) -> None:
    result = credit(counterparty, book, "700000.00", "300000.00")

    assert (result.outcome, result.params["utilisation"]) == (Outcome.WARN, "100.00")


def test_credit_limit_exactly_at_the_warning_ratio_passes(counterparty: Any, book: Any) -> None:
    assert credit(counterparty, book, "700000.00", "100000.00").outcome is Outcome.PASS
    assert credit(counterparty, book, "700000.00", "100000.01").outcome is Outcome.WARN


@pytest.mark.parametrize(("exposure", "notional"), [(None, "150000.00"), ("700000.00", None)])
def test_credit_limit_figure_not_computed_blocks(
    counterparty: Any, book: Any, exposure: str | None, notional: str | None
) -> None:
    result = credit(counterparty, book, exposure, notional)

    assert result.outcome is Outcome.BLOCK
    assert "exposure could not be computed" in result.reason


def test_credit_limit_none_exposure_blocks_even_when_the_rule_only_warns(
    counterparty: Any, book: Any
) -> None:
    rule = generic("credit_limit")
    PreTradeRule.objects.filter(pk=rule.pk).update(outcome="warn")

    assert credit(counterparty, book, None, "1.00").outcome is Outcome.BLOCK
    # ... while a breach of the limit is then only a warning.
    assert credit(counterparty, book, "700000.00", "350000.00").outcome is Outcome.WARN


def test_credit_limit_in_the_counterparty_credit_currency(book: Any) -> None:
    counterparty = CounterpartyFactory(credit_limit=Decimal("2500000.00"), credit_currency="USD")

    result = credit(counterparty, book, "2000000.00", "600000.00")

    assert result.outcome is Outcome.BLOCK
    assert (result.params["currency"], result.params["utilisation"]) == ("USD", "104.00")


# --- Self-trade --------------------------------------------------------------------------------


def test_self_trade_with_the_books_own_legal_entity_blocks(book: Any) -> None:
    ours = CounterpartyFactory(
        short_code="OURS", lei=book.legal_entity.lei, internal_entity=book.legal_entity
    )

    result = result_of(pretrade_check(make_proposal(ours, book)), "self_trade")

    assert result.outcome is Outcome.BLOCK
    assert result.reason == "Self-trade: counterparty OURS is the book's own legal entity."


def test_self_trade_with_another_of_our_entities_passes(book: Any) -> None:
    sister = LegalEntityFactory()
    internal = CounterpartyFactory(lei=sister.lei, internal_entity=sister)

    result = result_of(pretrade_check(make_proposal(internal, book)), "self_trade")

    assert result.outcome is Outcome.PASS


# --- Which rule is in force --------------------------------------------------------------------


def test_rule_for_the_jurisdiction_overrides_the_generic_one(counterparty: Any, book: Any) -> None:
    PreTradeRule.objects.create(
        code="credit_limit",
        jurisdiction=Jurisdiction.MIFID_REMIT,
        outcome="warn",
        params={"warn_ratio": "0.50"},
        effective_from=DEFAULTS_START,
    )
    eu = make_proposal(
        counterparty,
        book,
        counterparty_exposure=Decimal("700000.00"),
        notional_in_credit_currency=Decimal("350000.00"),
    )
    us = make_proposal(
        counterparty,
        book,
        jurisdiction=Jurisdiction.CFTC,
        counterparty_exposure=Decimal("700000.00"),
        notional_in_credit_currency=Decimal("350000.00"),
    )
    eu_half = make_proposal(
        counterparty,
        book,
        counterparty_exposure=Decimal("500000.00"),
        notional_in_credit_currency=Decimal("100000.00"),
    )

    eu_report, us_report, half_report = pretrade_check_many([eu, us, eu_half])

    assert result_of(eu_report, "credit_limit").outcome is Outcome.WARN  # 105%: the EU rule warns
    assert result_of(us_report, "credit_limit").outcome is Outcome.BLOCK  # the generic one blocks
    assert result_of(half_report, "credit_limit").outcome is Outcome.WARN  # 60% > 50%
    assert [r.rule for r in eu_report.results] == ["kyc_valid", "credit_limit", "self_trade"]


def test_rule_not_yet_effective_or_already_ended_is_ignored(counterparty: Any, book: Any) -> None:
    now = timezone.now()
    for start, end in [(now + timedelta(hours=1), None), (now - timedelta(days=2), now)]:
        PreTradeRule.objects.create(
            code="credit_limit",
            jurisdiction=Jurisdiction.MIFID_REMIT,
            outcome="warn",
            params={},
            effective_from=start,
            effective_to=end,
        )

    result = credit(counterparty, book, "700000.00", "350000.00")

    assert result.outcome is Outcome.BLOCK  # the generic rule, not the EU one that warns


def test_rule_disabled_is_ignored(counterparty: Any, book: Any) -> None:
    PreTradeRule.objects.filter(code="kyc_valid").update(enabled=False)

    report = pretrade_check(make_proposal(counterparty, book))

    assert [r.rule for r in report.results] == ["credit_limit", "self_trade"]


def test_pretrade_check_at_a_past_moment_uses_the_rules_then(counterparty: Any, book: Any) -> None:
    # The generic credit rule ended a day ago and was replaced by one that only warns.
    now = timezone.now()
    PreTradeRule.objects.filter(pk=generic("credit_limit").pk).update(
        effective_to=now - timedelta(days=1)
    )
    PreTradeRule.objects.create(
        code="credit_limit", outcome="warn", params={}, effective_from=now - timedelta(days=1)
    )
    proposal = make_proposal(
        counterparty,
        book,
        counterparty_exposure=Decimal("700000.00"),
        notional_in_credit_currency=Decimal("350000.00"),
    )

    before = pretrade_check(proposal, at=now - timedelta(days=2))
    today = pretrade_check(proposal)

    assert result_of(before, "credit_limit").outcome is Outcome.BLOCK
    assert result_of(today, "credit_limit").outcome is Outcome.WARN


# --- Failing closed ----------------------------------------------------------------------------


def test_rule_with_invalid_params_in_the_database_blocks_and_logs(
    counterparty: Any, book: Any, caplog: pytest.LogCaptureFixture
) -> None:
    PreTradeRule.objects.filter(code="credit_limit").update(params={"warn_ratio": "eighty"})

    with caplog.at_level(logging.ERROR, logger="apps.compliance.pretrade"):
        report = pretrade_check(make_proposal(counterparty, book))

    result = result_of(report, "credit_limit")
    assert (result.outcome, result.reason) == (Outcome.BLOCK, "The check could not be completed.")
    assert result_of(report, "kyc_valid").outcome is Outcome.PASS  # the others still run
    assert "pre-trade rule credit_limit" in caplog.text
    assert caplog.records[0].exc_info is not None


def test_rule_broken_in_the_database_logs_once_per_batch(
    book: Any, caplog: pytest.LogCaptureFixture
) -> None:
    PreTradeRule.objects.filter(code="credit_limit").update(params={"warn_ratio": "eighty"})
    proposals = [make_proposal(CounterpartyFactory(), book) for _ in range(3)]

    with caplog.at_level(logging.ERROR, logger="apps.compliance.pretrade"):
        reports = pretrade_check_many(proposals)

    assert [result_of(r, "credit_limit").outcome for r in reports] == [Outcome.BLOCK] * 3
    assert len(caplog.records) == 1


def test_rule_of_an_unknown_kind_blocks(counterparty: Any, book: Any) -> None:
    # Written past the admin's validation (a shell, a later release's data).
    PreTradeRule.objects.create(code="wash_trade", params={}, effective_from=DEFAULTS_START)

    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome) for r in report.results] == [
        ("kyc_valid", Outcome.PASS),
        ("credit_limit", Outcome.PASS),
        ("self_trade", Outcome.PASS),
        ("wash_trade", Outcome.BLOCK),
    ]


def test_rule_raising_on_counterparty_data_blocks(book: Any) -> None:
    # A KYC rule given a counterparty row whose expiry cannot be compared with the trade date.
    counterparty = CounterpartyFactory()
    proposal = make_proposal(counterparty, book, trade_date=None)

    report = pretrade_check(proposal)

    result = result_of(report, "kyc_valid")
    assert (result.outcome, result.reason) == (Outcome.BLOCK, "The check could not be completed.")


def test_missing_counterparty_blocks_every_rule(book: Any, counterparty: Any) -> None:
    proposal = make_proposal(counterparty, book, counterparty_id=counterparty.pk + 1000)

    report = pretrade_check(proposal)

    assert [(r.rule, r.outcome) for r in report.results] == [
        ("kyc_valid", Outcome.BLOCK),
        ("credit_limit", Outcome.BLOCK),
        ("self_trade", Outcome.BLOCK),
    ]
    assert report.results[0].reason == f"Counterparty #{counterparty.pk + 1000} does not exist."


def test_missing_counterparty_blocks_even_with_no_rule_in_force(
    book: Any, counterparty: Any
) -> None:
    PreTradeRule.objects.update(enabled=False)

    report = pretrade_check(make_proposal(counterparty, book, counterparty_id=counterparty.pk + 1))

    assert [(r.rule, r.outcome) for r in report.results] == [("pretrade", Outcome.BLOCK)]


def test_pretrade_check_rules_unreadable_blocks_without_raising(
    counterparty: Any, book: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stands in for a database failure: the rule table cannot be read.
    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("rules table unreadable")

    monkeypatch.setattr(PreTradeRule.objects, "in_force", unreadable)

    report = pretrade_check(make_proposal(counterparty, book))

    assert [(r.rule, r.outcome) for r in report.results] == [("pretrade", Outcome.BLOCK)]


# --- Translation -------------------------------------------------------------------------------


def test_reason_is_read_in_the_active_language(counterparty: Any, book: Any) -> None:
    result = credit(counterparty, book, "700000.00", "350000.00")

    # The result keeps the msgid and its figures; the reason is translated when read.
    assert result.message.startswith("Credit limit exceeded: exposure %(exposure)s")
    assert result.as_dict()["params"]["utilisation"] == "105.00"
    with translation.override("ar"):
        arabic = result.reason
    assert isinstance(arabic, str)
    assert "105.00" in arabic
    assert "1,000,000.00" in arabic


# --- Query count -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 5])
def test_pretrade_check_many_query_count_does_not_grow_with_proposals(
    django_assert_num_queries: Any, book: Any, size: int
) -> None:
    proposals = [make_proposal(CounterpartyFactory(), book) for _ in range(size)]

    # The rules in force, the counterparties, their credit usage in the latest risk run.
    with django_assert_num_queries(3):
        reports = pretrade_check_many(proposals)

    assert [r.outcome for r in reports] == [Outcome.PASS] * size


def test_pretrade_check_many_reports_in_order(counterparty: Any, book: Any) -> None:
    expired = CounterpartyFactory(kyc_expires_on=date(2025, 1, 1))
    proposals = [make_proposal(counterparty, book), make_proposal(expired, book)]

    assert [r.outcome for r in pretrade_check_many(proposals)] == [Outcome.PASS, Outcome.BLOCK]
    assert pretrade_check_many([]) == []


# --- Rules are history -------------------------------------------------------------------------


def new_rule(**values: Any) -> PreTradeRule:
    fields = {
        "code": "credit_limit",
        "jurisdiction": Jurisdiction.FCA,
        "outcome": "block",
        "params": {"warn_ratio": "0.90"},
        "effective_from": timezone.now() + timedelta(days=1),
        "effective_to": None,
    }
    fields.update(values)
    return PreTradeRule(**fields)


def test_rule_overlapping_a_period_of_the_same_rule_is_refused() -> None:
    start = timezone.now() + timedelta(days=1)
    new_rule(effective_from=start, effective_to=start + timedelta(days=30)).save()

    clash = new_rule(effective_from=start + timedelta(days=29))

    with pytest.raises(ValidationError) as error:
        clash.full_clean()
    assert "overlaps" in error.value.message_dict["effective_from"][0]


def test_rule_starting_where_the_last_one_ends_is_accepted() -> None:
    start = timezone.now() + timedelta(days=1)
    new_rule(effective_from=start, effective_to=start + timedelta(days=30)).save()

    new_rule(effective_from=start + timedelta(days=30)).full_clean()
    # Another jurisdiction, or the generic rule, is another series.
    new_rule(effective_from=start, jurisdiction=Jurisdiction.CFTC).full_clean()


def test_rule_generic_new_period_overlapping_the_default_is_refused() -> None:
    rule = new_rule(jurisdiction="", effective_from=timezone.now() + timedelta(days=1))

    with pytest.raises(ValidationError, match="overlaps"):
        rule.full_clean()


def test_rule_overlap_refused_by_the_database_on_postgresql(postgres: None) -> None:
    start = timezone.now() + timedelta(days=1)
    new_rule(effective_from=start, effective_to=start + timedelta(days=30)).save()

    with pytest.raises(IntegrityError), transaction.atomic():
        new_rule(effective_from=start + timedelta(days=10)).save()


def test_rule_period_ending_before_it_starts_is_refused() -> None:
    start = timezone.now() + timedelta(days=1)

    with pytest.raises(ValidationError) as error:
        new_rule(effective_from=start, effective_to=start).full_clean()
    assert list(error.value.message_dict) == ["effective_to"]
    with pytest.raises(IntegrityError), transaction.atomic():
        new_rule(effective_from=start, effective_to=start - timedelta(hours=1)).save()


def test_rule_in_force_cannot_be_changed_only_ended() -> None:
    rule = generic("credit_limit")

    rule.params = {"warn_ratio": "0.95"}
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert list(error.value.message_dict) == ["params"]

    rule.refresh_from_db()
    rule.effective_to = timezone.now() - timedelta(days=1)  # ending it in the past rewrites history
    with pytest.raises(ValidationError, match="ended now or later"):
        rule.full_clean()

    end = timezone.now() + timedelta(hours=1)
    rule.effective_to = end
    rule.full_clean()


def test_rule_end_a_moment_ago_is_moved_to_now() -> None:
    rule = generic("kyc_valid")
    before = timezone.now()
    rule.effective_to = before - timedelta(minutes=2)

    rule.full_clean()

    assert rule.effective_to >= before


def test_rule_ended_cannot_be_reopened() -> None:
    rule = generic("self_trade")
    PreTradeRule.objects.filter(pk=rule.pk).update(effective_to=timezone.now())
    rule.refresh_from_db()

    rule.effective_to = None
    with pytest.raises(ValidationError, match="already ended"):
        rule.full_clean()


def test_rule_new_cannot_start_in_the_past() -> None:
    rule = new_rule(effective_from=timezone.now() - timedelta(days=1))

    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert list(error.value.message_dict) == ["effective_from"]


@pytest.mark.parametrize(
    ("code", "params"),
    [
        ("credit_limit", {"warn_ratio": "1.5"}),
        ("credit_limit", {"warn_ratio": "0"}),
        ("credit_limit", {"warn_ratio": 0.8}),  # a float: binary rounding in a threshold
        ("credit_limit", {"warn_ratio": "eighty"}),
        ("credit_limit", {"warn_ratio": "0.8", "block_ratio": "1"}),
        ("credit_limit", ["0.8"]),
        ("kyc_valid", {"days": 30}),
    ],
)
def test_rule_params_are_validated_per_kind(code: str, params: Any) -> None:
    with pytest.raises(ValidationError) as error:
        new_rule(code=code, params=params).full_clean()
    assert list(error.value.message_dict) == ["params"]


@pytest.mark.parametrize(
    ("code", "params"),
    [("credit_limit", {"warn_ratio": "0.75"}), ("credit_limit", {}), ("self_trade", {})],
)
def test_rule_params_valid_for_the_kind_are_accepted(code: str, params: Any) -> None:
    new_rule(code=code, params=params).full_clean()


def test_rule_jurisdiction_must_be_a_known_one() -> None:
    with pytest.raises(ValidationError) as error:
        new_rule(jurisdiction="MARS").full_clean()
    assert list(error.value.message_dict) == ["jurisdiction"]


# --- Admin -------------------------------------------------------------------------------------
# Every add, change, end and withdrawal is a change request: nothing changes until a second
# person (here the compliance officer) approves it.


def _approve_pending(second: Client) -> None:
    pending = list(ChangeRequest.objects.filter(status="pending").values_list("pk", flat=True))
    response = second.post(
        reverse("admin:compliance_changerequest_changelist"),
        {"action": "approve_selected", "_selected_action": pending},
    )
    assert response.status_code == 302
    assert not ChangeRequest.objects.filter(status="pending").exists()


def test_rule_admin_lists_rules_and_whether_in_force(admin_client_verified: Client) -> None:
    new_rule(code="kyc_valid", params={}).save()  # starts tomorrow

    response = admin_client_verified.get(reverse("admin:compliance_pretraderule_changelist"))

    assert response.status_code == 200
    rows = {(r.code, r.jurisdiction): r.in_force for r in response.context["cl"].result_list}
    assert rows == {
        ("credit_limit", ""): True,
        ("kyc_valid", ""): True,
        ("self_trade", ""): True,
        ("kyc_valid", Jurisdiction.FCA): False,
    }


def test_rule_admin_filters_by_code_and_jurisdiction(admin_client_verified: Client) -> None:
    new_rule(code="kyc_valid", params={}).save()
    url = reverse("admin:compliance_pretraderule_changelist")

    response = admin_client_verified.get(url, {"code": "kyc_valid", "jurisdiction": "UK_FCA"})

    assert [r.jurisdiction for r in response.context["cl"].result_list] == ["UK_FCA"]


def test_rule_admin_end_now_ends_rules_in_force_and_audits(
    admin_client_verified: Client, compliance_officer: Any, verified_client: Any
) -> None:
    rule = generic("self_trade")
    url = reverse("admin:compliance_pretraderule_changelist")

    response = admin_client_verified.post(url, {"action": "end_now", "_selected_action": [rule.pk]})

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.effective_to is None  # requested, not yet ended
    _approve_pending(verified_client(compliance_officer))
    rule.refresh_from_db()
    assert rule.effective_to is not None
    assert rule.effective_to <= timezone.now()
    entry = AuditEntry.objects.get(action="pretrade_rule.ended")
    assert entry.object_id == str(rule.pk)


def test_rule_admin_change_of_rule_in_force_keeps_its_terms(
    admin_client_verified: Client, administrator: Any, compliance_officer: Any, verified_client: Any
) -> None:
    rule = generic("credit_limit")
    url = reverse("admin:compliance_pretraderule_change", args=[rule.pk])
    end = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    # The admin reads times in the user's region's zone (the administrator is in the EU region).
    shown = end.astimezone(ZoneInfo(region_defaults(administrator.region).time_zone))

    response = admin_client_verified.post(
        url,
        {
            "outcome": "warn",  # read-only on this page: ignored
            "params": '{"warn_ratio": "0.99"}',
            "effective_to_0": shown.strftime("%Y-%m-%d"),
            "effective_to_1": shown.strftime("%H:%M:%S"),
            "description_en": "Credit limit",
            "description_ar": "",
        },
    )

    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.effective_to is None  # awaiting approval
    _approve_pending(verified_client(compliance_officer))
    rule.refresh_from_db()
    assert (rule.outcome, rule.params, rule.effective_to) == (
        "block",
        {"warn_ratio": "0.80"},
        end,
    )
    assert AuditEntry.objects.filter(action="pretrade_rule.changed").count() == 1


def test_rule_admin_cannot_delete_a_rule_that_took_effect(admin_client_verified: Client) -> None:
    rule = generic("kyc_valid")

    response = admin_client_verified.post(
        reverse("admin:compliance_pretraderule_delete", args=[rule.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert PreTradeRule.objects.filter(pk=rule.pk).exists()


def rule_form(start: datetime, zone: str, **values: str) -> dict[str, str]:
    shown = start.astimezone(ZoneInfo(zone))
    return {
        "code": "kyc_valid",
        "jurisdiction": "UK_FCA",
        "outcome": "warn",
        "params": "{}",
        "effective_from_0": shown.strftime("%Y-%m-%d"),
        "effective_from_1": shown.strftime("%H:%M:%S"),
        "effective_to_0": "",
        "effective_to_1": "",
        "enabled": "on",
        "description_en": "KYC, warning only, for the UK",
        "description_ar": "",
        **values,
    }


def test_rule_admin_adds_a_rule_from_a_future_moment(
    admin_client_verified: Client, administrator: Any, compliance_officer: Any, verified_client: Any
) -> None:
    zone = region_defaults(administrator.region).time_zone
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    url = reverse("admin:compliance_pretraderule_add")

    assert admin_client_verified.get(url).status_code == 200
    response = admin_client_verified.post(url, rule_form(start, zone))

    assert response.status_code == 302
    assert not PreTradeRule.objects.filter(jurisdiction="UK_FCA").exists()
    _approve_pending(verified_client(compliance_officer))
    rule = PreTradeRule.objects.get(jurisdiction="UK_FCA")
    assert (rule.code, rule.outcome, rule.effective_from) == ("kyc_valid", "warn", start)
    entry = AuditEntry.objects.get(action="pretrade_rule.added")
    assert entry.payload["jurisdiction"] == "UK_FCA"
    assert (
        admin_client_verified.get(
            reverse("admin:compliance_pretraderule_change", args=[rule.pk])
        ).status_code
        == 200
    )


def test_rule_admin_refuses_an_overlapping_rule(
    admin_client_verified: Client, administrator: Any
) -> None:
    zone = region_defaults(administrator.region).time_zone
    start = timezone.now() + timedelta(days=1)

    response = admin_client_verified.post(
        reverse("admin:compliance_pretraderule_add"), rule_form(start, zone, jurisdiction="")
    )

    assert response.status_code == 200
    assert "overlaps" in str(response.context["adminform"].form.errors["effective_from"])
    assert PreTradeRule.objects.count() == 3
    assert not ChangeRequest.objects.exists()


def _risk_run(counterparty: Any, book: Any, usage: str, *, desk: Any = None) -> None:
    """A finished risk run that found `usage` EUR of credit usage on the counterparty."""
    from apps.risk.models import CreditExposureResult, RiskRun

    now = timezone.now()
    run = RiskRun.objects.create(
        kind="eod",
        status="succeeded",
        desk=desk,
        business_date=TRADE_DATE,
        as_of=now,
        currency="EUR",
        finished_at=now,
    )
    CreditExposureResult.objects.create(
        run=run,
        counterparty=counterparty,
        legal_entity=book.legal_entity,
        netted=True,
        trades=1,
        mtm=Decimal(usage),
        collateral=0,
        current_exposure=Decimal(usage),
        settlement_exposure=0,
        peak_pfe=0,
        limit_currency="EUR",
        usage=Decimal(usage),
    )


def test_credit_limit_uses_the_latest_risk_runs_figure_when_larger(
    counterparty: Any, book: Any
) -> None:
    # Notionals say 100,000; the latest all-desk risk run says 950,000 is at risk:
    # (950,000 + 100,000) / 1,000,000 = 105% > 100%.
    _risk_run(counterparty, book, "950000.00")
    result = credit(counterparty, book, "100000.00", "100000.00")
    assert result.outcome is Outcome.BLOCK
    assert "exposure 950,000.00 EUR" in result.reason


def test_credit_limit_ignores_a_desks_quick_rerun(counterparty: Any, book: Any) -> None:
    # A desk's incremental run sees that desk's trades only: not the counterparty's figure.
    _risk_run(counterparty, book, "950000.00", desk=book.desk)
    assert credit(counterparty, book, "100000.00", "100000.00").outcome is Outcome.PASS


# --- The credit check against a real risk run ---------------------------------------------------


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("run_first", [False, True], ids=["before_the_run", "after_the_run"])
def test_credit_limit_blocks_a_booking_once_a_risk_run_stores_the_counterpartys_usage(
    run_first: bool,
    risk_manager: Any,
    other_desk_trader: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Flow 1 meets flow 4: PRAIRIE was sold Henry Hub gas at 1.00 that is worth 3.25 today, so
    it owes us 2.25 a unit, more than the trade's notional of 1.00 a unit. Trading's running
    notionals see 1.00·q; a real risk run stores 2.25·q of credit usage, and the next booking
    of 1.00·q against a limit of 3·q then goes over the limit."""
    from apps.risk.models import CreditExposureResult, RunStatus
    from apps.risk.services import risk_run_request
    from apps.trading.models import Counterparty, Trade, TradeVersion
    from apps.trading.services import TradeBlocked
    from tests.risk.test_support import business_days, curve_history, fx_and_rates, gas_book

    days = business_days(10)
    curve_history("henry-hub", days, lambda i, k: "3.25")
    fx_and_rates(days)
    first = gas_book(other_desk_trader, counterparty="PRAIRIE", price=Decimal("1.00"))
    q = TradeVersion.objects.get(trade=first).total_quantity
    Counterparty.objects.filter(short_code="PRAIRIE").update(
        credit_limit=3 * q, credit_currency="USD"
    )
    if run_first:
        with django_capture_on_commit_callbacks(execute=True):
            run = risk_run_request(
                user=risk_manager,
                desk=None,
                parameters={
                    "window": 5, "confidences": [0.95], "methods": ["historical"],
                    "covariance": "given",
                    "covariance_matrix": {"factors": ["henry-hub M2"], "matrix": [[0.0]]},
                    "stress": False, "backtest": False,
                },
            )  # fmt: skip
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED, (run.error, run.problems)
        # No factor moves (a zero variance): the usage is the current exposure, 2.25·q.
        usage = CreditExposureResult.objects.get(run=run, counterparty__short_code="PRAIRIE").usage
        assert usage == (Decimal("2.25") * q).quantize(Decimal("0.01"))

    def second() -> Any:
        return gas_book(other_desk_trader, counterparty="PRAIRIE", price=Decimal("1.00"))

    if not run_first:
        # (q + q) / 3q = 67 %: within the limit.
        assert second().counterparty.short_code == "PRAIRIE"
        assert Trade.objects.count() == 2
        return
    with pytest.raises(TradeBlocked) as blocked:
        second()
    result = result_of(blocked.value.report, "credit_limit")
    assert result.outcome is Outcome.BLOCK
    # (2.25·q + q) / 3q = 108.33 %.
    with translation.override("en"):
        assert f"exposure {Decimal('2.25') * q:,.2f} USD" in result.reason
        assert "108.33%" in result.reason
    assert Trade.objects.count() == 1  # nothing written
