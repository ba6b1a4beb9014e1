"""From the book of record to the engine's inputs: positions as exposures to risk factors, and
the factors' price history. The only module of the risk app that reads trading's data for a
run; what it builds (`RunInputs`) is plain arrays and JSON, stored whole in the run's snapshot.

Risk factors (the choice, and why):

- **Constant-maturity curve points**, one per market and tenor: "ttf M3" is the TTF curve's
  price for the third delivery month after the pricing date's month. Its history is read from
  each day's curve at that *relative* tenor (M3 of a curve of 14 March is June; of 2 April,
  July), so a position's risk is measured with the moves its tenor had, and the factor set stays
  the same from day to day (an absolute month's history would shorten as it nears delivery and
  be empty for new months). A tenor past the monthly points takes the quarter that holds it, as
  `apps.trading.marketdata.curve_price` prices it.
- **FX rates** of every currency other than the run's (`FX EUR/USD` = units of the run's
  currency per euro), on which the MtM of the positions in that currency is exposed.

A day's curve is the latest revision of the latest snapshot at or before that day, at most
CARRY_FORWARD_DAYS older (a market closed on a holiday keeps its last curve for a few days; a
longer gap is missing history, named by the engine when the factor is used). The history's days
are the pricing dates of the run's markets.

Positions: the trades booked at the run's instant (`apps.trading.pnl.booked_as_of`), grouped
by book and netting set, valued by trading's own engine (`apps.trading.valuation`) on the
market-data date. Delivery months that have begun delivering are realised (settled) and carry
no market risk; every later month is a linear exposure to its factor,

    exposure = quantity × forward × quote scale × discount factor × FX,

(futures are not discounted, as in the valuation); an index-priced forward is also short its
index month. Options are revalued in full by the engine (Black-76 on the quantity-weighted
forward of their months, on the factor of their first month, with the market's volatility, the
currency's rate and the years to expiry). Each position carries the labels desk, book, market,
tenor and netting set.
"""

import hashlib
import hmac
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Max, Q

from apps.accounts.models import Desk
from apps.risk.engine import FactorHistory, OptionPositions, Portfolio
from apps.risk.engine.stress import FactorInfo
from apps.risk.models import Collateral, Limit, LimitKind, LimitVersion, VersionStatus
from apps.trading.marketdata import MarketDataError, fx_rate
from apps.trading.models import (
    Book,
    BookPnl,
    Counterparty,
    CurvePoint,
    CurvePointKind,
    CurveSnapshot,
    FxRate,
    Market,
    MasterAgreement,
    Position,
    Trade,
)
from apps.trading.periods import PeriodError, parse_period
from apps.trading.pnl import BookedTrade, booked_as_of, describe_missing, market_state
from apps.trading.pricing import OptionType, black76, discount_factor
from apps.trading.valuation import (
    DealTerms,
    Kind,
    MarketNeeds,
    MarketState,
)
from apps.trading.valuation import (
    Portfolio as DealPortfolio,
)
from apps.trading.valuation import (
    value_portfolio as deal_value,
)

# The currency every figure of a run is in (limits are set in it too).
REPORTING_CURRENCY = "USD"
CARRY_FORWARD_DAYS = 7
DAYS_PER_YEAR = Decimal(365)
# Delivered energy is invoiced after the month and paid on this day of the next month: until
# then a sale is owed to us (settlement exposure).
PAYMENT_DAY = 20
# A backtest pairs a day's P&L with a VaR forecast at most this old.
FORECAST_AGE = timedelta(days=7)
LABELS = ("desk", "book", "market", "tenor", "netting_set", "desk_market", "desk_tenor")


class InputError(Exception):
    """Inputs no run can start from (no position, no curve at all); the message is shown."""


def months_between(start: date, end: date) -> int:
    """Whole months from `start`'s month to `end`'s month."""
    return (end.year - start.year) * 12 + end.month - start.month


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def tenor_factor(market: str, tenor: int) -> str:
    return f"{market} M{tenor}"


def fx_factor(currency: str, reporting: str) -> str:
    return f"FX {currency}/{reporting}"


def netting_key(counterparty_id: int, legal_entity_id: int) -> str:
    return f"{counterparty_id}:{legal_entity_id}"


def trade_member(key: str, trade_id: int) -> str:
    """The netting_set label of one trade of a set without a netting agreement: each trade is
    its own claim, so the credit figure simulates it alone (`netting_set_of` gives the set)."""
    return f"{key}#{trade_id}"


def netting_set_of(label: str) -> str:
    return label.split("#", 1)[0]


def _netted_pairs(counterparty_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(counterparty, our legal entity) pairs under a master agreement with netting."""
    return set(
        MasterAgreement.objects.filter(
            counterparty_id__in=list(counterparty_ids), netting=True
        ).values_list("counterparty_id", "legal_entity_id")
    )


# --- What a run measures -------------------------------------------------------------------------


@dataclass
class RunInputs:
    """Everything a run computes from, with no database behind it (the snapshot's content).

    `data` is JSON: desks and books (codes, ids), netting sets (MtM, collateral, settlement
    exposure, credit limit), limits in force with the measured volumes and P&L, the backtest's
    P&L and VaR series, and `problems` found while reading (what could not be priced).
    """

    currency: str
    market_data_date: date
    history: FactorHistory
    factor_market: dict[str, str]
    factor_tenor: dict[str, int]
    linear_factor: np.ndarray
    linear_exposure: np.ndarray
    linear_labels: dict[str, np.ndarray]
    options: dict[str, np.ndarray]
    option_labels: dict[str, np.ndarray]
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def position_count(self) -> int:
        return int(self.linear_factor.size + self.options["factor"].size)

    def factor_info(self) -> dict[str, FactorInfo]:
        return {
            name: FactorInfo(name, self.factor_market[name], float(self.factor_tenor[name]))
            for name in self.factor_market
        }

    def portfolio(self, desk: str | None = None) -> Portfolio:
        """The engine's portfolio of one desk (by code), or of everything."""
        linear = np.ones(self.linear_factor.size, dtype=bool)
        option = np.ones(self.options["factor"].size, dtype=bool)
        if desk is not None:
            linear = self.linear_labels["desk"] == desk
            option = self.option_labels["desk"] == desk
        used = np.union1d(self.linear_factor[linear], self.options["factor"][option])
        names = self.history.names
        index = {int(old): new for new, old in enumerate(used)}
        remap = np.vectorize(index.__getitem__, otypes=[np.int64])
        options = OptionPositions(
            factor=remap(self.options["factor"][option]) if option.any() else np.zeros(0, int),
            quantity=self.options["quantity"][option],
            forward=self.options["forward"][option],
            strike=self.options["strike"][option],
            volatility=self.options["volatility"][option],
            years=self.options["years"][option],
            rate=self.options["rate"][option],
            is_call=self.options["is_call"][option],
        )
        labels = {
            label: tuple(self.linear_labels[label][linear])
            + tuple(self.option_labels[label][option])
            for label in LABELS
        }
        return Portfolio(
            factor_names=tuple(names[int(j)] for j in used),
            linear_factor=remap(self.linear_factor[linear]) if linear.any() else np.zeros(0, int),
            linear_exposure=self.linear_exposure[linear],
            options=options,
            labels=labels,
        )

    def desks(self) -> list[str]:
        """The desks that hold positions, by code."""
        codes = set(self.linear_labels["desk"].tolist()) | set(self.option_labels["desk"].tolist())
        return sorted(codes)

    # --- The snapshot's form ----------------------------------------------------------------

    def to_npz(self) -> bytes:
        arrays: dict[str, np.ndarray] = {
            "history_names": np.array(self.history.names, dtype=str),
            "history_dates": np.array([d.isoformat() for d in self.history.dates or ()], dtype=str),
            "history_prices": self.history.prices,
            "factor_market": np.array([self.factor_market[n] for n in self.history.names]),
            "factor_tenor": np.array(
                [self.factor_tenor[n] for n in self.history.names], dtype=np.int64
            ),
            "linear_factor": self.linear_factor,
            "linear_exposure": self.linear_exposure,
        }
        for label in LABELS:
            arrays[f"linear_label_{label}"] = self.linear_labels[label].astype(str)
            arrays[f"option_label_{label}"] = self.option_labels[label].astype(str)
        for name, values in self.options.items():
            arrays[f"option_{name}"] = values
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_snapshot(
        cls,
        *,
        arrays: bytes,
        data: Mapping[str, Any],
        currency: str,
        market_data_date: date,
        expected_digest: str | None = None,
    ) -> "RunInputs":
        """The inputs stored by `to_npz`; with `expected_digest`, only if the arrays still have
        the SHA-256 digest stored with them (SnapshotAltered otherwise): a rerun must measure
        exactly what the run measured, or nothing."""
        if expected_digest is not None:
            snapshot_check(arrays, expected_digest)
        with np.load(io.BytesIO(bytes(arrays)), allow_pickle=False) as stored:
            names = tuple(str(n) for n in stored["history_names"])
            history = FactorHistory(
                names=names,
                prices=stored["history_prices"],
                dates=tuple(date.fromisoformat(str(d)) for d in stored["history_dates"]),
            )
            return cls(
                currency=currency,
                market_data_date=market_data_date,
                history=history,
                factor_market=dict(
                    zip(names, (str(m) for m in stored["factor_market"]), strict=True)
                ),
                factor_tenor=dict(
                    zip(names, (int(t) for t in stored["factor_tenor"]), strict=True)
                ),
                linear_factor=stored["linear_factor"],
                linear_exposure=stored["linear_exposure"],
                linear_labels={lb: stored[f"linear_label_{lb}"] for lb in LABELS},
                options={name: stored[f"option_{name}"] for name in OPTION_FIELDS},
                option_labels={lb: stored[f"option_label_{lb}"] for lb in LABELS},
                data=dict(data),
            )


OPTION_FIELDS = (
    "factor",
    "quantity",
    "forward",
    "strike",
    "volatility",
    "years",
    "rate",
    "is_call",
)


def digest(arrays: bytes) -> str:
    return hashlib.sha256(arrays).hexdigest()


class SnapshotAltered(InputError):
    """A snapshot whose arrays no longer have their stored digest (altered or damaged)."""

    code = "snapshot_altered"

    def __init__(self) -> None:
        super().__init__(self.code)


def snapshot_check(arrays: bytes, expected_digest: str) -> None:
    """Raise SnapshotAltered unless `arrays` have the SHA-256 digest `expected_digest`."""
    if not hmac.compare_digest(digest(bytes(arrays)), expected_digest):
        raise SnapshotAltered


# --- Reading the book of record ------------------------------------------------------------------


@dataclass
class _Group:
    """The trades of one book with one netting set: a deal portfolio of trading's engine."""

    book: Book
    netting_set: str
    trades: list[BookedTrade] = field(default_factory=list)

    @property
    def portfolio(self) -> DealPortfolio:
        return DealPortfolio.of(t.terms for t in self.trades)


def _money(value: Decimal | float) -> str:
    return str(Decimal(value).quantize(Decimal("0.01")))


def market_data_date_for(market_ids: Iterable[int], on: date) -> date | None:
    """The latest pricing date at or before `on` among the markets' curves (one query)."""
    return CurveSnapshot.objects.filter(
        market_id__in=list(market_ids), pricing_date__lte=on
    ).aggregate(latest=Max("pricing_date"))["latest"]


def inputs_build(
    *,
    desk: Desk | None,
    business_date: date,
    as_of: datetime,
    window_days: int,
    currency: str = REPORTING_CURRENCY,
    history_from: date | None = None,
    credit: bool = True,
    backtest_confidence: float | None = None,
) -> RunInputs:
    """The inputs of a run of `desk` (every desk when None) on `business_date`, with the
    trades booked at `as_of` and `window_days` days of history (more when `history_from` is
    earlier: a stress window). Raises InputError when there is nothing to measure."""
    if not CurveSnapshot.objects.filter(pricing_date__lte=business_date).exists():
        # Before reading any trade: a desk without market data has nothing to measure (and a
        # booking's quick re-run costs one query).
        raise InputError("no_curves")
    books = list(
        Book.objects.select_related("desk", "legal_entity")
        .filter(**({"desk": desk} if desk is not None else {}))
        .order_by("code")
    )
    book_by_id = {b.pk: b for b in books}
    trades = booked_as_of(book_by_id, as_of)
    if not trades:
        raise InputError("empty")
    counterparties = dict(
        Trade.objects.filter(pk__in=list(trades)).values_list("pk", "counterparty_id")
        if len(trades) < 5_000
        else Trade.objects.filter(book_id__in=list(book_by_id)).values_list("pk", "counterparty_id")
    )
    netted = _netted_pairs(set(counterparties.values())) if credit else set()
    groups: dict[tuple[int, str], _Group] = {}
    for trade in trades.values():
        book = book_by_id[trade.book_id]
        pair = (counterparties[trade.trade_id], book.legal_entity_id)
        key = netting_key(*pair)
        if credit and pair not in netted:
            key = trade_member(key, trade.trade_id)
        group = groups.get((book.pk, key))
        if group is None:
            group = groups[(book.pk, key)] = _Group(book, key)
        group.trades.append(trade)

    market_codes = {
        code for t in trades.values() for code in (t.terms.market, t.terms.index_market) if code
    }
    markets = {m.code: m for m in Market.objects.filter(code__in=market_codes)}
    md_date = market_data_date_for([m.pk for m in markets.values()], business_date)
    if md_date is None:
        raise InputError("no_curves")

    portfolios = {key: group.portfolio for key, group in groups.items()}
    needs = MarketNeeds()
    for portfolio in portfolios.values():
        needs.update(portfolio.needs(md_date))
    state = market_state(
        needs,
        valuation_date=md_date,
        curve_date=md_date,
        fx_date=md_date,
        reporting_currency=currency,
    )
    builder = _ExposureBuilder(state, md_date, markets)
    valuations = {}
    for (book_id, key), portfolio in portfolios.items():
        book = book_by_id[book_id]
        labels = {"desk": book.desk.code, "book": book.code, "netting_set": key}
        builder.add(portfolio, labels)
        valuations[(book_id, key)] = deal_value(portfolio, state)

    history, references = factor_history(
        builder.market_tenors(),
        builder.currencies(),
        currency=currency,
        last_day=md_date,
        days=window_days,
        history_from=history_from,
    )
    missing: set[tuple[str, str]] = set(builder.missing)
    for valuation in valuations.values():
        missing |= {(str(kind), what) for kind, what in valuation.missing}

    data: dict[str, Any] = {
        "desks": {b.desk.code: b.desk_id for b in books},
        "books": {b.code: {"id": b.pk, "desk": b.desk.code, "currency": b.currency} for b in books},
        "markets": {
            code: {"id": m.pk, "commodity": m.commodity.code}
            for code, m in Market.objects.select_related("commodity")
            .filter(code__in=set(builder.markets_used()) | market_codes)
            .in_bulk(field_name="code")
            .items()
        },
        "missing": sorted([kind, what] for kind, what in missing),
        "trade_count": len(trades),
    }
    references["as_of"] = as_of.isoformat()
    references["book_ids"] = sorted(book_by_id)
    references["volatilities"] = {k: str(v) for k, v in sorted(state.volatilities.items())}
    references["rates"] = {k: str(v) for k, v in sorted(state.rates.items())}
    references["fx"] = {k: str(v) for k, v in sorted(state.fx.items())}
    if credit:
        data["netting_sets"] = _netting_sets(groups, valuations, netted, state, md_date, currency)
    data["limits"] = _limits_in_force(
        books=books,
        desk=desk,
        business_date=business_date,
        as_of=as_of,
        valuations=valuations,
        state=state,
        currency=currency,
    )
    if backtest_confidence is not None:
        data["backtest"] = _backtest_series(
            books, business_date, currency, state, backtest_confidence
        )
    inputs = builder.inputs(history, currency, md_date, data)
    inputs.data["references"] = references
    return inputs


class _ExposureBuilder:
    """Collects linear exposures and options per factor with their labels, aggregating equal
    (factor, labels) positions."""

    def __init__(self, state: MarketState, md_date: date, markets: Mapping[str, Market]) -> None:
        self.state = state
        self.md_date = md_date
        self.markets = markets
        self.linear: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
        self.options: dict[tuple[Any, ...], float] = defaultdict(float)
        self.missing: set[tuple[str, str]] = set()
        self._tenors: dict[str, set[int]] = defaultdict(set)
        self._currencies: set[str] = set()

    def _fx(self, currency: str) -> Decimal | None:
        if currency == self.state.reporting_currency:
            return Decimal(1)
        rate = self.state.fx.get(currency)
        if rate is None:
            self.missing.add(("fx", f"{currency}/{self.state.reporting_currency}"))
        return rate

    def _labels(self, base: Mapping[str, str], market: str, tenor: str) -> tuple[str, ...]:
        desk = base["desk"]
        return (
            desk,
            base["book"],
            market,
            tenor,
            base["netting_set"],
            f"{desk}|{market}",
            f"{desk}|{tenor}",
        )

    def add(self, portfolio: DealPortfolio, base: Mapping[str, str]) -> None:
        state, today = self.state, self.md_date
        fx_values: dict[str, Decimal] = defaultdict(Decimal)
        for key, exposure in portfolio.exposures.items():
            if key.month <= today or exposure.quantity == 0:
                continue  # delivering or delivered: settled, no market risk left
            spec = state.markets.get(key.market)
            forward = state.forwards.get((key.market, key.month))
            if spec is None or forward is None:
                self.missing.add(("forward", f"{key.market} {key.month:%Y-%m}"))
                continue
            fx = self._fx(spec.currency)
            if fx is None:
                continue
            df = Decimal(1)
            if key.kind is Kind.DISCOUNTED:
                rate = state.rates.get(spec.currency)
                if rate is None:
                    self.missing.add(("rate", spec.currency))
                    continue
                next_month = add_months(key.month, 1)
                df = discount_factor(rate, Decimal((next_month - today).days) / DAYS_PER_YEAR)
            tenor = months_between(today, key.month)
            factor = tenor_factor(key.market, tenor)
            self._tenors[key.market].add(tenor)
            labels = self._labels(base, key.market, f"M{tenor}")
            self.linear[(factor, labels)] += float(
                exposure.quantity * forward * spec.scale * df * fx
            )
            if spec.currency != state.reporting_currency:
                # The position's MtM in its currency moves with the FX rate.
                mtm = (forward * exposure.quantity - exposure.cost) * spec.scale * df
                fx_values[spec.currency] += mtm * fx
        for option in portfolio.options:
            self._add_option(option, base, fx_values)
        for currency_code, value in fx_values.items():
            if value == 0:
                continue
            factor = fx_factor(currency_code, state.reporting_currency)
            self._currencies.add(currency_code)
            labels = self._labels(base, f"fx-{currency_code.lower()}", "spot")
            self.linear[(factor, labels)] += float(value)

    def _add_option(self, option: Any, base: Mapping[str, str], fx_values: dict) -> None:
        state, today = self.state, self.md_date
        if option.expiry <= today:
            return  # expired: realised at its intrinsic value
        spec = state.markets.get(option.market)
        prices = [state.forwards.get((option.market, m)) for m in option.months]
        if spec is None or any(p is None for p in prices):
            self.missing.add(("forward", f"{option.market} {option.months[0]:%Y-%m}"))
            return
        forward = sum(prices, Decimal(0)) / len(prices)  # type: ignore[arg-type]
        volatility = state.volatilities.get(option.market)
        rate = state.rates.get(spec.currency)
        fx = self._fx(spec.currency)
        if volatility is None:
            self.missing.add(("volatility", option.market))
            return
        if rate is None:
            self.missing.add(("rate", spec.currency))
            return
        if fx is None:
            return
        if forward <= 0:
            self.missing.add(("non_positive_forward", f"{option.market} {forward}"))
            return
        first = option.months[0]
        tenor = months_between(today, first)
        if tenor < 1:
            self.missing.add(("forward", f"{option.market} {first:%Y-%m}"))
            return
        factor = tenor_factor(option.market, tenor)
        self._tenors[option.market].add(tenor)
        years = Decimal((option.expiry - today).days) / DAYS_PER_YEAR
        quantity = option.quantity * spec.scale * fx
        # Options with the same terms and labels are one position of their summed quantity
        # (P&L is linear in the quantity): a book of many similar options revalues fast.
        key = (
            factor,
            float(forward),
            float(option.strike),
            float(volatility),
            float(years),
            float(rate),
            option.option_type is OptionType.CALL,
            self._labels(base, option.market, f"M{tenor}"),
        )
        self.options[key] += float(quantity)
        if spec.currency != state.reporting_currency:
            value = black76(
                option_type=option.option_type,
                forward=forward,
                strike=option.strike,
                volatility=volatility,
                years=years,
                rate=rate,
            ).price
            fx_values[spec.currency] += (value - option.premium) * option.quantity * spec.scale * fx

    def market_tenors(self) -> dict[str, set[int]]:
        return dict(self._tenors)

    def currencies(self) -> set[str]:
        return set(self._currencies)

    def markets_used(self) -> list[str]:
        return sorted(self._tenors)

    def inputs(
        self, history: FactorHistory, currency: str, md_date: date, data: dict[str, Any]
    ) -> RunInputs:
        column = {name: j for j, name in enumerate(history.names)}
        factor_market: dict[str, str] = {}
        factor_tenor: dict[str, int] = {}
        for market, tenors in self._tenors.items():
            for tenor in tenors:
                factor_market[tenor_factor(market, tenor)] = market
                factor_tenor[tenor_factor(market, tenor)] = tenor
        for code in self._currencies:
            factor_market[fx_factor(code, currency)] = f"fx-{code.lower()}"
            factor_tenor[fx_factor(code, currency)] = 0
        linear = sorted(self.linear.items())
        # (factor, quantity, forward, strike, volatility, years, rate, is_call, labels)
        rows = [
            (key[0], quantity, *key[1:])
            for key, quantity in sorted(self.options.items())
            if quantity != 0.0
        ]
        linear_labels = _label_arrays([labels for (_f, labels), _v in linear])
        option_labels = _label_arrays([row[8] for row in rows])
        options = {
            "factor": np.array([column[row[0]] for row in rows], dtype=np.int64),
            "quantity": np.array([row[1] for row in rows], dtype=np.float64),
            "forward": np.array([row[2] for row in rows], dtype=np.float64),
            "strike": np.array([row[3] for row in rows], dtype=np.float64),
            "volatility": np.array([row[4] for row in rows], dtype=np.float64),
            "years": np.array([row[5] for row in rows], dtype=np.float64),
            "rate": np.array([row[6] for row in rows], dtype=np.float64),
            "is_call": np.array([row[7] for row in rows], dtype=bool),
        }
        return RunInputs(
            currency=currency,
            market_data_date=md_date,
            history=history,
            factor_market={n: factor_market[n] for n in history.names},
            factor_tenor={n: factor_tenor[n] for n in history.names},
            linear_factor=np.array([column[f] for (f, _l), _v in linear], dtype=np.int64),
            linear_exposure=np.array([v for _k, v in linear], dtype=np.float64),
            linear_labels=linear_labels,
            options=options,
            option_labels=option_labels,
            data=data,
        )


def _label_arrays(rows: Sequence[tuple[str, ...]]) -> dict[str, np.ndarray]:
    if not rows:
        return {label: np.zeros(0, dtype=str) for label in LABELS}
    columns = list(zip(*rows, strict=True))
    return {label: np.array(columns[i], dtype=str) for i, label in enumerate(LABELS)}


# --- Factor history ------------------------------------------------------------------------------


def _month_table(points: Iterable[tuple[str, date, date, Decimal]]) -> tuple[dict, list]:
    months: dict[date, float] = {}
    quarters: list[tuple[date, date, float]] = []
    for kind, start, end, price in points:
        if kind == CurvePointKind.MONTH:
            months[start] = float(price)
        else:
            quarters.append((start, end, float(price)))
    return months, quarters


def _price(table: tuple[dict, list], month: date) -> float:
    months, quarters = table
    price = months.get(month)
    if price is not None:
        return price
    for start, end, value in quarters:
        if start <= month < end:
            return value
    return math.nan


def factor_history(
    market_tenors: Mapping[str, set[int]],
    currencies: set[str],
    *,
    currency: str,
    last_day: date,
    days: int,
    history_from: date | None = None,
) -> tuple[FactorHistory, dict[str, Any]]:
    """The daily history of the factors (see the module docstring) on the last `days` pricing
    dates of the markets up to `last_day` (or from `history_from` when earlier), and the curve
    snapshots each market's history was read from (the snapshot's references).

    Three queries: the days, the snapshots, their points.
    """
    codes = sorted(market_tenors)
    day_rows = (
        CurveSnapshot.objects.filter(market__code__in=codes, pricing_date__lte=last_day)
        .values_list("pricing_date", flat=True)
        .distinct()
        .order_by("-pricing_date")
    )
    axis = sorted(day_rows[:days]) if days else []
    if history_from is not None and (not axis or history_from < axis[0]):
        earlier = CurveSnapshot.objects.filter(
            market__code__in=codes, pricing_date__gte=history_from, pricing_date__lte=last_day
        ).values_list("pricing_date", flat=True)
        axis = sorted(set(earlier) | set(axis))
    if not axis:
        axis = [last_day]
    first = axis[0] - timedelta(days=CARRY_FORWARD_DAYS)

    chosen: dict[str, list[tuple[date, int]]] = defaultdict(list)
    snapshot_rows = (
        CurveSnapshot.objects.filter(
            market__code__in=codes, pricing_date__gte=first, pricing_date__lte=last_day
        )
        .order_by("market__code", "pricing_date", "revision")
        .values_list("pk", "market__code", "pricing_date")
    )
    for pk, code, day in snapshot_rows:
        dates = chosen[code]
        if dates and dates[-1][0] == day:
            dates[-1] = (day, pk)  # a later revision of the same day wins
        else:
            dates.append((day, pk))
    wanted = {pk for rows in chosen.values() for _d, pk in rows}
    tables: dict[int, list[tuple[str, date, date, Decimal]]] = defaultdict(list)
    point_rows = CurvePoint.objects.filter(
        snapshot__market__code__in=codes,
        snapshot__pricing_date__gte=first,
        snapshot__pricing_date__lte=last_day,
    ).values_list("snapshot_id", "kind", "start", "end", "price")
    for snapshot_id, kind, start, end, price in point_rows.iterator(chunk_size=5000):
        if snapshot_id in wanted:
            tables[snapshot_id].append((kind, start, end, price))
    month_tables = {pk: _month_table(points) for pk, points in tables.items()}

    names: list[str] = []
    columns: list[np.ndarray] = []
    used: dict[str, list[int | None]] = {}
    for code in codes:
        dates = chosen.get(code, [])
        per_day: list[int | None] = []
        pointer = -1
        for day in axis:
            while pointer + 1 < len(dates) and dates[pointer + 1][0] <= day:
                pointer += 1
            if pointer >= 0 and (day - dates[pointer][0]).days <= CARRY_FORWARD_DAYS:
                per_day.append(dates[pointer][1])
            else:
                per_day.append(None)
        used[code] = per_day
        for tenor in sorted(market_tenors[code]):
            values = np.full(len(axis), math.nan)
            for i, (day, pk) in enumerate(zip(axis, per_day, strict=True)):
                if pk is not None:
                    values[i] = _price(month_tables.get(pk, ({}, [])), add_months(day, tenor))
            names.append(tenor_factor(code, tenor))
            columns.append(values)

    fx_used: dict[str, list[str | None]] = {}
    for code in sorted(currencies):
        values, per_day = _fx_history(code, currency, axis)
        names.append(fx_factor(code, currency))
        columns.append(values)
        fx_used[code] = per_day

    prices = np.column_stack(columns) if columns else np.zeros((len(axis), 0))
    history = FactorHistory(names=tuple(names), prices=prices, dates=tuple(axis))
    references = {
        "history_dates": [d.isoformat() for d in axis],
        "curve_snapshots": used,
        "fx_dates": fx_used,
    }
    return history, references


def _fx_history(code: str, currency: str, axis: Sequence[date]) -> tuple[np.ndarray, list]:
    """Units of `currency` per `code` on each day: the latest fixing at or before it (direct
    quotation first, else the inverse), at most CARRY_FORWARD_DAYS old."""
    rows = FxRate.objects.filter(
        Q(base=code, quote=currency) | Q(base=currency, quote=code),
        date__gte=axis[0] - timedelta(days=CARRY_FORWARD_DAYS),
        date__lte=axis[-1],
    ).values_list("base", "date", "rate")
    by_date: dict[date, float] = {}
    for base, day, rate in sorted(rows, key=lambda r: (r[1], r[0] != code)):
        if day in by_date and base != code:
            continue
        by_date.setdefault(day, float(rate) if base == code else 1.0 / float(rate))
    dates = sorted(by_date)
    values = np.full(len(axis), math.nan)
    per_day: list[str | None] = []
    pointer = -1
    for i, day in enumerate(axis):
        while pointer + 1 < len(dates) and dates[pointer + 1] <= day:
            pointer += 1
        if pointer >= 0 and (day - dates[pointer]).days <= CARRY_FORWARD_DAYS:
            values[i] = by_date[dates[pointer]]
            per_day.append(dates[pointer].isoformat())
        else:
            per_day.append(None)
    return values, per_day


# --- Credit: netting sets ------------------------------------------------------------------------


def _netting_sets(
    groups: Mapping[tuple[int, str], _Group],
    valuations: Mapping[tuple[int, str], Any],
    netted: set[tuple[int, int]],
    state: MarketState,
    md_date: date,
    currency: str,
) -> dict[str, Any]:
    """Per netting set (counterparty × our legal entity): today's unrealised MtM (netted, or
    each trade's for a set without a netting agreement, by its `trade_member` label),
    collateral held, the settlement exposure of delivered months not yet paid, and the
    counterparty's credit limit."""
    sets: dict[str, dict[str, Any]] = {}
    trades_by_set: dict[str, list[BookedTrade]] = defaultdict(list)
    mtm: dict[str, Decimal] = defaultdict(Decimal)
    members: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for (book_id, label), group in groups.items():
        key = netting_set_of(label)
        value = valuations[(book_id, label)].unrealised
        trades_by_set[key].extend(group.trades)
        mtm[key] += value
        if label != key:
            members[key][label] = value  # a group of one trade: that trade's value
    pairs = [tuple(int(x) for x in key.split(":")) for key in trades_by_set]
    counterparty_ids = {cp for cp, _le in pairs}
    collateral: dict[tuple[int, int], tuple[Decimal, str]] = {}
    for cp, le, amount, ccy in (
        Collateral.objects.filter(counterparty_id__in=counterparty_ids, as_of__lte=md_date)
        .order_by("counterparty_id", "legal_entity_id", "-as_of")
        .values_list("counterparty_id", "legal_entity_id", "amount", "currency")
    ):
        collateral.setdefault((cp, le), (amount, ccy))
    limits = {
        cp.pk: cp
        for cp in Counterparty.objects.filter(pk__in=counterparty_ids).only(
            "credit_limit", "credit_currency", "short_code"
        )
    }
    rates: dict[str, Decimal | None] = {}

    def to_run(amount: Decimal, ccy: str) -> Decimal | None:
        if ccy == currency:
            return amount
        if ccy not in rates:
            try:
                rates[ccy] = fx_rate(ccy, currency, md_date)
            except MarketDataError:
                rates[ccy] = None
        rate = rates[ccy]
        return None if rate is None else amount * rate

    for key, trades in sorted(trades_by_set.items()):
        cp, le = (int(x) for x in key.split(":"))
        is_netted = (cp, le) in netted
        held, held_ccy = collateral.get((cp, le), (Decimal(0), currency))
        held_run = to_run(held, held_ccy)
        entry: dict[str, Any] = {
            "counterparty": cp,
            "legal_entity": le,
            "netted": is_netted,
            "trades": len(trades),
            "mtm": _money(mtm[key]),
            "collateral": _money(held_run if held_run is not None else Decimal(0)),
            "settlement": _money(_settlement_exposure(trades, state, md_date, is_netted)),
        }
        if not is_netted:
            entry["trade_mtm"] = {
                label: _money(value) for label, value in sorted(members[key].items())
            }
        counterparty = limits.get(cp)
        if counterparty is not None and counterparty.credit_limit is not None:
            entry["credit_limit"] = str(counterparty.credit_limit)
            entry["limit_currency"] = counterparty.credit_currency
            rate = to_run(Decimal(1), counterparty.credit_currency)
            entry["limit_rate"] = str(rate) if rate is not None else None
        sets[key] = entry
    return sets


def _settlement_exposure(
    trades: Sequence[BookedTrade], state: MarketState, md_date: date, netted: bool
) -> Decimal:
    """Delivered, not yet paid: months that began delivering whose payment day (PAYMENT_DAY of
    the next month) is still to come. A physical sale is owed its invoice (price × quantity;
    an index sale at the month's settlement plus the spread); a purchase owes (negative, which
    nets within a netting agreement); a swap owes or is owed its settlement difference. Futures
    settle through the exchange and options at expiry: no bilateral settlement exposure."""
    amounts: list[Decimal] = []
    for trade in trades:
        terms: DealTerms = trade.terms
        if terms.deal_type in ("future", "option"):
            continue
        spec = state.markets.get(terms.market)
        if spec is None:
            continue
        fx = (
            Decimal(1) if spec.currency == state.reporting_currency else state.fx.get(spec.currency)
        )
        if fx is None:
            continue
        owed = Decimal(0)
        for month, quantity in terms.legs:
            payment = add_months(month, 1).replace(day=PAYMENT_DAY)
            if not month <= md_date < payment or quantity == 0:
                continue
            settle = state.settlements.get((terms.market, month))
            if terms.deal_type == "swap":
                if settle is None:
                    continue
                owed += terms.side * (settle - terms.price) * quantity
            else:
                price = terms.price
                if terms.deal_type == "physical_index":
                    index = state.settlements.get((terms.index_market or "", month))
                    if index is None:
                        continue
                    price = index + terms.price
                owed += -terms.side * price * quantity  # we sold (side −1): owed to us
        if owed:
            amounts.append(owed * spec.scale * fx)
    if netted:
        return max(sum(amounts, Decimal(0)), Decimal(0))
    return sum((a for a in amounts if a > 0), Decimal(0))


# --- Limits in force and what they measure -------------------------------------------------------


def versions_in_force(moment: datetime, limits: Iterable[Limit]) -> dict[int, LimitVersion]:
    """Each limit's version in force at `moment` (approved, the latest effective_from at or
    before it, the higher version on a tie); limits retired by an inactive version are left
    out (one query)."""
    chosen: dict[int, LimitVersion] = {}
    rows = LimitVersion.objects.filter(
        limit__in=list(limits), status=VersionStatus.APPROVED, effective_from__lte=moment
    ).order_by("limit_id", "-effective_from", "-version")
    for version in rows:
        chosen.setdefault(version.limit_id, version)
    return {pk: v for pk, v in chosen.items() if v.active}


def _limits_in_force(
    *,
    books: Sequence[Book],
    desk: Desk | None,
    business_date: date,
    as_of: datetime,
    valuations: Mapping[tuple[int, str], Any],
    state: MarketState,
    currency: str,
) -> list[dict[str, Any]]:
    """The limits in force at `as_of` on the run's desks, with what volume and stop-loss limits
    measure (VaR limits are measured by the run itself)."""
    limits = list(
        Limit.objects.select_related("desk", "book", "market", "unit").filter(
            **({"desk": desk} if desk is not None else {"desk__in": {b.desk_id for b in books}})
        )
    )
    versions = versions_in_force(as_of, limits)
    limits = [limit for limit in limits if limit.pk in versions]
    if not limits:
        return []
    book_ids = [b.pk for b in books]
    pnl = _daily_pnl(books, business_date, valuations, state, currency)
    volumes = _volumes([lm for lm in limits if lm.kind == LimitKind.VOLUME], book_ids)
    entries = []
    for limit in limits:
        version = versions[limit.pk]
        entry: dict[str, Any] = {
            "limit": limit.pk,
            "version": version.pk,
            "kind": limit.kind,
            "desk": limit.desk.code,
            "book": limit.book.code if limit.book else "",
            "method": limit.method,
            "confidence": str(limit.confidence) if limit.confidence is not None else None,
            "amount": str(version.amount),
            "warning_level": str(version.warning_level),
        }
        if limit.kind == LimitKind.VOLUME:
            entry["value"] = volumes.get(limit.pk)
        elif limit.kind == LimitKind.STOP_LOSS:
            scoped = [b for b in books if b.desk_id == limit.desk_id]
            if limit.book_id:
                scoped = [b for b in scoped if b.pk == limit.book_id]
            values = [pnl.get(b.pk) for b in scoped]
            known = [v for v in values if v is not None]
            # A loss is a positive amount measured against the limit; a gain uses none of it.
            total = sum(known, Decimal(0))
            entry["value"] = _money(max(-total, Decimal(0))) if known else None
            entry["pnl"] = _money(total) if known else None
        entries.append(entry)
    return entries


def _daily_pnl(
    books: Sequence[Book],
    business_date: date,
    valuations: Mapping[tuple[int, str], Any],
    state: MarketState,
    currency: str,
) -> dict[int, Decimal]:
    """Each book's P&L of the day in the run's currency: the day's close when it has one,
    else the value now less the latest close before the day (as the P&L page's "since the
    close"), converted at the market-data date's rate."""
    value_now: dict[int, Decimal] = defaultdict(Decimal)
    for (book_id, _key), valuation in valuations.items():
        value_now[book_id] += valuation.total
    closes: dict[int, BookPnl] = {}
    for row in BookPnl.objects.filter(
        book__in=list(books), date__lte=business_date, date__gte=business_date - timedelta(days=10)
    ).order_by("book_id", "-date"):
        closes.setdefault(row.book_id, row)
    result: dict[int, Decimal] = {}
    for book in books:
        close = closes.get(book.pk)
        if close is None:
            continue
        rate = Decimal(1) if close.currency == currency else state.fx.get(close.currency)
        if rate is None:
            continue
        if close.date == business_date:
            result[book.pk] = close.daily * rate
        else:
            result[book.pk] = value_now[book.pk] - (close.realised + close.unrealised) * rate
    return result


def _volumes(limits: Sequence[Limit], book_ids: Sequence[int]) -> dict[int, str | None]:
    """|net quantity| over each volume limit's delivery period in its unit, from trading's
    positions (kept current on every booking); rows in other units are not netted in."""
    if not limits:
        return {}
    rows = list(
        Position.objects.filter(
            book_id__in=book_ids, market_id__in={lm.market_id for lm in limits}
        ).values_list("book_id", "book__desk_id", "market_id", "unit_id", "month", "quantity")
    )
    result: dict[int, str | None] = {}
    for limit in limits:
        try:
            period = parse_period(limit.period_code)
        except PeriodError:
            result[limit.pk] = None
            continue
        total = sum(
            (
                quantity
                for book_id, desk_id, market_id, unit_id, month, quantity in rows
                if desk_id == limit.desk_id
                and (limit.book_id is None or book_id == limit.book_id)
                and market_id == limit.market_id
                and unit_id == limit.unit_id
                and period.start <= month < period.end
            ),
            Decimal(0),
        )
        result[limit.pk] = str(abs(total))
    return result


# --- Backtest: realised P&L against the VaR of the day before -------------------------------------


def _backtest_series(
    books: Sequence[Book],
    business_date: date,
    currency: str,
    state: MarketState,
    confidence: float,
    days: int = 365,
) -> dict[str, Any]:
    """Per desk and book: each closed day's realised P&L (the stored BookPnl closes, in the
    run's currency) beside the historical VaR at `confidence` that the latest end-of-day run
    of an earlier business day forecast for it."""
    from apps.risk.models import Method, RiskFigure, RunKind, RunStatus

    start = business_date - timedelta(days=days)
    closes = list(
        BookPnl.objects.filter(book__in=list(books), date__gt=start, date__lte=business_date)
        .order_by("date")
        .values_list("book_id", "date", "daily", "currency")
    )
    book_code = {b.pk: b.code for b in books}
    desk_of = {b.code: b.desk.code for b in books}
    rates: dict[str, Decimal | None] = {currency: Decimal(1)}
    pnl: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for book_id, day, daily, ccy in closes:
        if ccy not in rates:
            rates[ccy] = state.fx.get(ccy)
        rate = rates[ccy]
        if rate is None:
            continue
        key = day.isoformat()
        code = book_code[book_id]
        pnl[f"book:{code}"][key] = daily * rate
        desk_key = f"desk:{desk_of[code]}"
        pnl[desk_key][key] = pnl[desk_key].get(key, Decimal(0)) + daily * rate
    # The VaR each end-of-day run forecast, by its business day: the desk's total and books.
    forecasts: dict[str, dict[date, Decimal]] = defaultdict(dict)
    figures = (
        RiskFigure.objects.filter(
            run__kind=RunKind.END_OF_DAY,
            run__status__in=[RunStatus.SUCCEEDED, RunStatus.PARTIAL],
            run__business_date__gte=start - timedelta(days=7),
            run__business_date__lt=business_date,
            run__currency=currency,
            method=Method.HISTORICAL,
            confidence=Decimal(str(confidence)),
            horizon_days=1,
            desk__code__in=set(desk_of.values()),
            label__in=["total", "book"],
        )
        .order_by("run__business_date", "run_id")
        .values_list("run__business_date", "desk__code", "label", "group", "var")
    )
    for business_day, desk_code, label, group, var in figures:
        key = f"desk:{desk_code}" if label == "total" else f"book:{group}"
        forecasts[key][business_day] = var  # the latest run of the day wins
    series: dict[str, Any] = {}
    for key, by_day in sorted(pnl.items()):
        dated = sorted(forecasts.get(key, {}).items())
        rows = []
        for day_text, amount in sorted(by_day.items()):
            day = date.fromisoformat(day_text)
            # The VaR of the latest end-of-day run before the day, if it is recent enough
            # to be that day's forecast (a week covers weekends and holidays).
            earlier = [var for when, var in dated if day - FORECAST_AGE <= when < day]
            rows.append([day_text, _money(amount), _money(earlier[-1]) if earlier else None])
        series[key] = rows
    return {"confidence": confidence, "series": series}


def missing_text(items: Iterable[Sequence[str]]) -> list[str]:
    """What could not be priced, in the reader's language."""
    return describe_missing(items)
