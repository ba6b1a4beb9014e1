"""Booking, amending, cancelling and approving trades through the services (flows 1 and 2)."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.compliance.audit import audit_verify
from apps.compliance.models import AuditEntry
from apps.trading.models import (
    Book,
    DeliveryProfile,
    Market,
    Position,
    Trade,
    TradeStatus,
    TradeVersion,
)
from apps.trading.positions import positions_computed
from apps.trading.selectors import trades_for_user
from apps.trading.services import (
    ItemStatus,
    StaleVersion,
    TradeBlocked,
    TradeStateError,
    trade_amend,
    trade_approve,
    trade_book,
    trade_book_many,
    trade_cancel,
    trade_reject,
)
from tests.factories import UserFactory
from tests.trading.factories import DeskTradingPolicyFactory, trade_terms

pytestmark = pytest.mark.usefixtures("seeded")


def _positions() -> dict[tuple[str, str, str], tuple[Decimal, Decimal | None]]:
    return {
        (p.book.code, p.market.code, p.month.strftime("%Y-%m")): (p.quantity, p.quantity_mwh)
        for p in Position.objects.select_related("book", "market")
    }


def _actions() -> list[str]:
    return list(AuditEntry.objects.order_by("seq").values_list("action", flat=True))


# --- Booking ---------------------------------------------------------------------------------


def test_trade_book_writes_trade_version_position_and_audit(trader):
    result = trade_book(user=trader, terms=trade_terms())

    trade = Trade.objects.get()
    assert result.trade == trade
    assert trade.trade_ref == "T-000001"
    assert (trade.status, trade.current_version, trade.book.code) == ("booked", 1, "PEU-FLOW")
    version = TradeVersion.objects.get()
    assert version.version == 1
    assert version.total_quantity == Decimal("7430")  # 743 hours in March 2026 (spring DST)
    assert version.notional == Decimal("635265.00")  # 7,430 MWh x 85.50 EUR
    assert version.position_legs == [["2026-03-01", "7430.000000"]]
    assert _positions() == {
        ("PEU-FLOW", "eex-de-power", "2026-03"): (Decimal("7430"), Decimal("7430"))
    }
    entry = AuditEntry.objects.get(action="trading.trade_booked")
    assert entry.object_id == str(trade.pk)
    assert entry.payload["trade_ref"] == "T-000001"
    assert entry.payload["total_quantity"] == "7430"
    assert audit_verify().ok


def test_trade_keeps_the_desk_it_was_booked_for(trader, other_desk_trader, desk_b):
    # The trade's copy of its book's desk scopes every list; it is written with the trade and
    # does not follow a later move of the book.
    trade = trade_book(user=trader, terms=trade_terms()).trade
    assert Trade.objects.get().desk.code == "power-eu"
    Book.objects.filter(code="PEU-FLOW").update(desk=desk_b)
    assert list(trades_for_user(trader)) == [trade]
    assert list(trades_for_user(other_desk_trader)) == []


def test_desk_migration_fills_the_desk_from_the_book(trader, desk_b):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps

    trade = trade_book(user=trader, terms=trade_terms()).trade
    Trade.objects.update(desk=desk_b)
    migration = importlib.import_module("apps.trading.migrations.0008_trade_desk")
    editor = SimpleNamespace(connection=connection, execute=connection.cursor().execute)
    migration.fill(apps, editor)
    trade.refresh_from_db()
    assert trade.desk_id == trade.book.desk_id


def test_trade_refs_count_up(trader):
    refs = [trade_book(user=trader, terms=trade_terms()).trade.trade_ref for _ in range(3)]
    assert refs == ["T-000001", "T-000002", "T-000003"]


@pytest.mark.parametrize(
    ("period", "total"),
    [
        ("2026-03", Decimal("7430")),  # 743 hours: the clocks go forward on 29 March
        ("2026-10", Decimal("7450")),  # 745 hours: back on 25 October
        ("2026-02", Decimal("6720")),
    ],
)
def test_power_total_follows_dst(trader, period, total):
    version = trade_book(user=trader, terms=trade_terms(period=period)).version
    assert version.total_quantity == total


def test_peak_profile_counts_weekday_hours_08_to_20(trader):
    # March 2026 has 22 weekdays: 22 x 12 peak hours x 10 MW.
    version = trade_book(user=trader, terms=trade_terms(profile=DeliveryProfile.PEAK)).version
    assert version.total_quantity == Decimal("2640")


def test_quarter_splits_across_months_by_hours(trader):
    trade_book(user=trader, terms=trade_terms(period="2026-Q1", side="sell", quantity=Decimal("5")))
    assert _positions() == {
        ("PEU-FLOW", "eex-de-power", "2026-01"): (Decimal("-3720"), Decimal("-3720")),
        ("PEU-FLOW", "eex-de-power", "2026-02"): (Decimal("-3360"), Decimal("-3360")),
        ("PEU-FLOW", "eex-de-power", "2026-03"): (Decimal("-3715"), Decimal("-3715")),
    }


def test_gas_quantity_is_per_day_and_converted_to_mwh(other_desk_trader):
    trade_book(
        user=other_desk_trader,
        terms=trade_terms(
            book="GUS-FLOW",
            counterparty="PRAIRIE",
            market="henry-hub",
            currency="USD",
            price=Decimal("3.25"),
            quantity=Decimal("10000"),
            period="2026-04",
        ),
    )
    # 30 days x 10,000 MMBtu; 1 MWh = 3.412141633 MMBtu.
    assert _positions() == {
        ("GUS-FLOW", "henry-hub", "2026-04"): (Decimal("300000"), Decimal("87921.321055"))
    }


def test_crude_without_mwh_factor_keeps_energy_empty(trader, desk_a):
    # Barrels convert to MMBtu only for crude oil, and from there to MWh; emissions never do.
    eua = Market.objects.get(code="eua")
    trade_book(
        user=trader,
        terms=trade_terms(
            market="eua", price=Decimal("70"), quantity=Decimal("1000"), period="2026-12"
        ),
    )
    row = Position.objects.get(market=eua)
    assert (row.quantity, row.quantity_mwh) == (Decimal("31000"), None)


def test_trade_book_blocked_leaves_no_trade_and_one_audit_entry(trader):
    # Into a book that already holds a position in the same market and month.
    booked = trade_book(user=trader, terms=trade_terms()).trade
    positions = list(
        Position.objects.values_list(
            "book__code", "month", "quantity", "quantity_mwh", "updated_at"
        )
    )
    assert [p[:4] for p in positions] == [
        ("PEU-FLOW", date(2026, 3, 1), Decimal("7430"), Decimal("7430"))
    ]
    audited = AuditEntry.objects.count()

    with pytest.raises(TradeBlocked) as caught:
        trade_book(user=trader, terms=trade_terms(counterparty="ALBION", currency="EUR"))

    # ALBION's KYC has expired, and its credit is in GBP with no EUR/GBP rate: fail closed.
    assert [r.rule for r in caught.value.report.blocks] == ["kyc_valid", "credit_limit"]
    assert list(Trade.objects.values_list("pk", flat=True)) == [booked.pk]
    assert TradeVersion.objects.count() == 1
    assert (
        list(
            Position.objects.values_list(
                "book__code", "month", "quantity", "quantity_mwh", "updated_at"
            )
        )
        == positions
    )
    assert AuditEntry.objects.count() == audited + 1
    entry = AuditEntry.objects.latest("seq")
    assert entry.action == "trading.trade_blocked"
    assert entry.payload["reasons"][0]["rule"] == "kyc_valid"
    assert entry.payload["proposal"]["counterparty_id"] == caught.value.proposal.counterparty_id


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"book": "NO-SUCH-BOOK"}, "book"),
        ({"book": "GUS-FLOW"}, "book"),  # another desk's book
        ({"counterparty": "NOBODY"}, "counterparty"),
        ({"market": "no-such-market"}, "market"),
        ({"quantity": Decimal("0")}, "quantity"),
        ({"quantity": Decimal("-5")}, "quantity"),
        ({"currency": "USD"}, "currency"),
        ({"unit": "MMBtu"}, "unit"),
        ({"period": "2026-13"}, "period"),
        (
            {"period": "", "delivery_start": date(2026, 3, 10), "delivery_end": date(2026, 3, 1)},
            "delivery_end",
        ),
        ({"profile": "peak", "market": "ttf"}, "profile"),
        ({"deal_type": "physical_index"}, "index_market"),
        ({"deal_type": "option"}, "option_type"),
        ({"strike": Decimal("80")}, "option_type"),
    ],
)
def test_trade_book_refuses_bad_terms_with_field_error(trader, overrides, field):
    with pytest.raises(ValidationError) as caught:
        trade_book(user=trader, terms=trade_terms(**overrides))
    assert field in caught.value.message_dict
    assert Trade.objects.count() == 0
    assert AuditEntry.objects.count() == 0


def test_option_without_curve_is_refused_clearly(trader):
    terms = trade_terms(
        deal_type="option",
        option_type="call",
        strike=Decimal("80"),
        expiry_date=date(2026, 2, 26),
        price=Decimal("4.10"),
    )
    with pytest.raises(ValidationError) as caught:
        trade_book(user=trader, terms=terms)
    assert caught.value.message_dict["market"] == [
        "No curve for eex-de-power on 2026-01-15 to compute the option's delta."
    ]


def test_trade_book_requires_trader_role(risk_manager):
    with pytest.raises(ValidationError) as caught:
        trade_book(user=risk_manager, terms=trade_terms())
    assert "book" in caught.value.message_dict


# --- Amend and cancel -------------------------------------------------------------------------


def test_trade_amend_writes_new_version_and_moves_positions(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    result = trade_amend(
        user=trader, trade=trade, version=1, changes={"quantity": Decimal("15")}, reason="typo"
    )
    assert result.version.version == 2
    assert result.version.total_quantity == Decimal("11145")
    trade.refresh_from_db()
    assert (trade.current_version, trade.status) == (2, "booked")
    old = TradeVersion.objects.get(trade=trade, version=1)
    assert old.quantity == Decimal("10")  # never changed
    assert _positions() == {
        ("PEU-FLOW", "eex-de-power", "2026-03"): (Decimal("11145"), Decimal("11145"))
    }
    assert _actions() == ["trading.trade_booked", "trading.trade_amended"]


def test_trade_amend_moves_delivery_month(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    trade_amend(user=trader, trade=trade, version=1, changes={"period": "2026-04"})
    assert _positions() == {
        ("PEU-FLOW", "eex-de-power", "2026-04"): (Decimal("7200"), Decimal("7200"))
    }


def test_trade_amend_stale_version_refused(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    trade_amend(user=trader, trade=trade, version=1, changes={"price": Decimal("86")})
    with pytest.raises(StaleVersion):
        trade_amend(user=trader, trade=trade, version=1, changes={"price": Decimal("87")})
    assert TradeVersion.objects.filter(trade=trade).count() == 2


def test_trade_amend_blocked_keeps_old_version_and_audits(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    with pytest.raises(TradeBlocked):
        trade_amend(user=trader, trade=trade, version=1, changes={"counterparty": "ALBION"})
    trade.refresh_from_db()
    assert trade.current_version == 1
    assert _actions() == ["trading.trade_booked", "trading.trade_blocked"]
    assert _positions()[("PEU-FLOW", "eex-de-power", "2026-03")][0] == Decimal("7430")


def test_trade_amend_by_other_desk_refused(trader, other_desk_trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    with pytest.raises(PermissionDenied):
        trade_amend(user=other_desk_trader, trade=trade, version=1, changes={})


def test_trade_cancel_reverses_positions(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    trade_book(user=trader, terms=trade_terms(quantity=Decimal("2")))
    result = trade_cancel(user=trader, trade=trade, version=1, reason="wrong counterparty")
    assert (result.version.version, result.version.status) == (2, "cancelled")
    assert _positions() == {
        ("PEU-FLOW", "eex-de-power", "2026-03"): (Decimal("1486"), Decimal("1486"))
    }
    with pytest.raises(TradeStateError):
        trade_amend(user=trader, trade=trade, version=2, changes={"price": Decimal("1")})


def test_cancel_of_only_trade_leaves_no_position_row(trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    trade_cancel(user=trader, trade=trade, version=1)
    assert Position.objects.count() == 0


# --- Four eyes --------------------------------------------------------------------------------


@pytest.fixture
def policy(desk_a):
    # March 2026 at 85.50 for 10 MW is 635,265 EUR: over this threshold.
    return DeskTradingPolicyFactory(desk=desk_a, approval_threshold=Decimal("500000"))


@pytest.fixture
def second_trader(desk_a):
    from apps.accounts.models import Role

    return UserFactory(username="trader2", roles=[Role.TRADER], desks=[desk_a])


def test_four_eyes_over_threshold_is_pending_and_not_in_positions(trader, policy):
    result = trade_book(user=trader, terms=trade_terms())
    assert result.status == TradeStatus.PENDING_APPROVAL
    assert Position.objects.count() == 0
    assert trade_book(user=trader, terms=trade_terms(quantity=Decimal("1"))).status == "booked"


def test_four_eyes_requester_cannot_approve(trader, policy):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    with pytest.raises(PermissionDenied):
        trade_approve(user=trader, trade=trade, version=1)
    trade.refresh_from_db()
    assert trade.status == TradeStatus.PENDING_APPROVAL


def test_four_eyes_other_trader_approves_and_positions_update(trader, second_trader, policy):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    result = trade_approve(user=second_trader, trade=trade, version=1)
    assert (result.version.version, result.version.status) == (2, "booked")
    assert result.version.created_by == second_trader
    assert result.version.trader == trader
    assert _positions() == {
        ("PEU-FLOW", "eex-de-power", "2026-03"): (Decimal("7430"), Decimal("7430"))
    }
    assert _actions() == ["trading.trade_booked", "trading.trade_approved"]


def test_four_eyes_risk_manager_approves(trader, risk_manager, policy):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    assert trade_approve(user=risk_manager, trade=trade, version=1).status == "booked"


def test_four_eyes_other_desk_cannot_approve(trader, other_desk_trader, policy):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    with pytest.raises(PermissionDenied):
        trade_approve(user=other_desk_trader, trade=trade, version=1)


def test_four_eyes_reject_never_reaches_positions(trader, second_trader, policy):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    result = trade_reject(user=second_trader, trade=trade, version=1, reason="too large")
    assert result.status == TradeStatus.REJECTED
    assert Position.objects.count() == 0
    with pytest.raises(TradeStateError):
        trade_approve(user=second_trader, trade=trade, version=2)


def test_approve_of_booked_trade_refused(trader, second_trader):
    trade = trade_book(user=trader, terms=trade_terms()).trade
    with pytest.raises(TradeStateError):
        trade_approve(user=second_trader, trade=trade, version=1)


# --- Bulk -------------------------------------------------------------------------------------


def test_bulk_gives_per_item_results_and_books_only_valid(trader):
    results = trade_book_many(
        user=trader,
        terms_list=[
            trade_terms(),
            trade_terms(quantity=Decimal("-1")),
            trade_terms(counterparty="ALBION"),
        ],
    )
    assert [(r.index, r.status) for r in results] == [
        (0, ItemStatus.BOOKED),
        (1, ItemStatus.INVALID),
        (2, ItemStatus.BLOCKED),
    ]
    assert "quantity" in results[1].errors
    assert [r.rule for r in results[2].report.blocks] == ["kyc_valid", "credit_limit"]
    assert Trade.objects.count() == 1
    assert _actions() == ["trading.trade_booked", "trading.trade_blocked"]
    assert _positions()[("PEU-FLOW", "eex-de-power", "2026-03")][0] == Decimal("7430")
    assert audit_verify().ok


def test_bulk_over_limit_refused(trader):
    with pytest.raises(ValidationError):
        trade_book_many(user=trader, terms_list=[trade_terms()] * 1001)
    assert Trade.objects.count() == 0


def test_bulk_credit_exposure_accumulates_within_batch(trader):
    # NORDWIND's limit is 50,000,000 EUR; each trade is 635,265 EUR x 10 = 6,352,650 EUR.
    terms = trade_terms(quantity=Decimal("100"))
    results = trade_book_many(user=trader, terms_list=[terms] * 9)
    statuses = [r.status for r in results]
    assert statuses == [ItemStatus.BOOKED] * 7 + [ItemStatus.BLOCKED] * 2
    assert [r.rule for r in results[7].report.blocks] == ["credit_limit"]


def _bulk_queries(user, count: int) -> int:
    terms = [
        trade_terms(period=f"2026-{1 + n % 12:02d}", quantity=Decimal(1 + n % 5))
        for n in range(count)
    ]
    with CaptureQueriesContext(connection) as queries:
        results = trade_book_many(user=user, terms_list=terms)
    assert all(r.status == ItemStatus.BOOKED for r in results)
    return len(queries)


def test_bulk_query_count_does_not_grow_with_batch(trader):
    trade_book(user=trader, terms=trade_terms())  # the first booking creates the ref counter
    assert _bulk_queries(trader, 10) == _bulk_queries(trader, 50)


def test_incremental_positions_equal_rebuild_after_mixed_operations(trader):
    first = trade_book(user=trader, terms=trade_terms(period="2026-Q2")).trade
    trade_book(user=trader, terms=trade_terms(side="sell", period="2026-05"))
    trade_amend(user=trader, trade=first, version=1, changes={"period": "CAL-2027"})
    before = {
        (p.book_id, p.market_id, p.month, p.unit_id): p.quantity for p in Position.objects.all()
    }
    assert before == positions_computed()
    from apps.trading.positions import positions_rebuild

    positions_rebuild()
    after = {
        (p.book_id, p.market_id, p.month, p.unit_id): p.quantity for p in Position.objects.all()
    }
    assert after == before
    assert len(after) == 13  # May nets with the sell only in part: 12 months of 2027 + May 2026
    assert Book.objects.get(code="PEU-FLOW").positions.count() == 13


# --- Options, index-priced forwards, FX -----------------------------------------------------


@pytest.fixture
def march_curve():
    """EEX German power on 2026-01-15: March 2026 at 80 EUR/MWh; default volatility 50 %."""
    from apps.trading.models import CurvePoint, CurveSnapshot, MarketVolatility

    market = Market.objects.get(code="eex-de-power")
    snapshot = CurveSnapshot.objects.create(
        market=market, pricing_date=date(2026, 1, 15), revision=1, point_count=1
    )
    CurvePoint.objects.create(
        snapshot=snapshot,
        period="2026-03",
        kind="month",
        start=date(2026, 3, 1),
        end=date(2026, 4, 1),
        price=Decimal("80"),
    )
    MarketVolatility.objects.create(market=market, volatility=Decimal("0.5"))
    return snapshot


def _option(**overrides):
    values = {
        "deal_type": "option",
        "option_type": "call",
        "strike": Decimal("75"),
        "expiry_date": date(2026, 2, 26),  # 42 days after the trade date
        "price": Decimal("6.20"),
    }
    values.update(overrides)
    return trade_terms(**values)


def test_option_position_is_delta_times_quantity(trader, march_curve):
    # Black-76, F 80, K 75, vol 0.5, T 42/365, r 0: call delta N(d1) = 0.67914831.
    version = trade_book(user=trader, terms=_option()).version
    assert version.delta == Decimal("0.67914831")
    assert version.notional == Decimal("557250.00")  # 7,430 MWh x strike 75
    assert _positions() == {
        # 7,430 x 0.67914831 = 5,046.0719433 (bought call: long delta)
        ("PEU-FLOW", "eex-de-power", "2026-03"): (Decimal("5046.071943"), Decimal("5046.071943"))
    }


def test_sold_put_is_long_delta(trader, march_curve):
    version = trade_book(user=trader, terms=_option(option_type="put", side="sell")).version
    assert version.delta == Decimal("-0.32085169")
    assert _positions()[("PEU-FLOW", "eex-de-power", "2026-03")][0] == Decimal("2383.928057")


def test_option_without_volatility_is_refused(trader, march_curve):
    from apps.trading.models import MarketVolatility

    MarketVolatility.objects.all().delete()
    with pytest.raises(ValidationError) as caught:
        trade_book(user=trader, terms=_option())
    assert caught.value.message_dict["market"] == [
        "No volatility for eex-de-power to compute the option's delta."
    ]


def test_index_priced_forward_notional_from_index_curve(trader, march_curve):
    terms = trade_terms(
        deal_type="physical_index", index_market="eex-de-power", price=Decimal("-1.50")
    )
    version = trade_book(user=trader, terms=terms).version
    assert version.notional == Decimal("583255.00")  # 7,430 x (80 - 1.50)
    assert version.index_market.code == "eex-de-power"


def test_index_priced_forward_without_curve_blocks_on_credit(trader):
    terms = trade_terms(deal_type="physical_index", index_market="eex-de-power")
    with pytest.raises(TradeBlocked) as caught:
        trade_book(user=trader, terms=terms)
    assert [r.rule for r in caught.value.report.blocks] == ["credit_limit"]


def test_notional_converted_to_credit_currency(other_desk_trader):
    # GULFSTAR's credit is in USD; a EUR trade needs the EUR/USD rate of the trade date.
    from apps.trading.models import FxRate

    terms = trade_terms(book="GUS-FLOW", counterparty="GULFSTAR", market="ttf", period="2026-04")
    with pytest.raises(TradeBlocked):  # no rate: the credit check cannot hold, it blocks
        trade_book(user=other_desk_trader, terms=terms)
    FxRate.objects.create(base="EUR", quote="USD", date=date(2026, 1, 14), rate=Decimal("1.1"))
    result = trade_book(user=other_desk_trader, terms=terms)
    assert result.status == "booked"
    # 30 days x 10 MWh x 85.50 = 25,650 EUR; the checks saw 28,215.00 USD.
    entry = AuditEntry.objects.filter(action="trading.trade_blocked").get()
    assert entry.payload["proposal"]["notional"] == "25650.00"
    assert entry.payload["proposal"]["notional_in_credit_currency"] is None
