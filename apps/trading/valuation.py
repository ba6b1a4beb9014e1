"""Mark-to-market of trades and portfolios, and the P&L explain between two days.

Pure: imports nothing from Django. The caller (`apps.trading.pnl`) turns trade versions into
the plain terms below and loads the market data a valuation needs into a `MarketState`.

Conventions (each is what a desk would expect and is stated once here):

- A linear deal (physical fixed-price forward, fixed-for-floating swap, exchange future) is
  worth side × (F − K) × Q × scale × DF per delivery month, F the month's forward, K the fixed
  price, Q the month's quantity and `scale` the market's quote scale (0.01 for prices in pence).
  An index-priced forward buys the market and pays index + spread: side × (F − F_index − spread).
- A delivery month whose delivery has begun on the valuation date is *realised*: it is valued
  at its settlement price (the month's price on the last curve before the month began) and not
  discounted. Later months are *unrealised*, at the valuation date's curve.
- Discounting: continuous compounding at the currency's rate, to payment at the end of the
  delivery month; futures are margined daily and are not discounted.
- A European option on a future is worth side × (Black-76 value − premium) × Q × scale, on the
  quantity-weighted forward of its delivery months, with the market's volatility, to its expiry;
  at and after expiry it is realised at its intrinsic value on the underlying's price of the
  expiry date. The premium paid or received is part of its MtM.
- An option's position is its delta at the valuation date (Black-76's discounted delta; ±1 if
  it expired in the money, 0 if out), not the delta it was booked at: `Valuation.redelta`
  holds the difference per month, for the positions grid.
- Amounts are converted into the reporting currency at the valuation day's FX rate.

A portfolio's value is the sum of its exposures' values, so the value of a set of trades is
the sum of their values: that is what makes the P&L explain add up (`explain`).
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import NamedTuple

from apps.trading.pricing import OptionType, PricingError, black76, discount_factor

CENT = Decimal("0.01")
QUANTITY_STEP = Decimal("0.000001")
DAYS_PER_YEAR = Decimal(365)


class Kind(StrEnum):
    """How a deal type is valued."""

    DISCOUNTED = "discounted"  # physical forwards and swaps
    MARGINED = "margined"  # exchange futures: settled daily, no discounting


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


class ExposureKey(NamedTuple):
    """Where a linear exposure sits: market, delivery month (its first day) and kind."""

    market: str
    month: date
    kind: Kind


@dataclass(slots=True)
class Exposure:
    """Net signed quantity (buy +) and the net fixed amount paid for it (Σ side × K × Q)."""

    quantity: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)


@dataclass(frozen=True)
class OptionTerms:
    market: str
    months: tuple[date, ...]
    option_type: OptionType
    strike: Decimal
    premium: Decimal
    expiry: date
    quantity: Decimal  # signed total quantity: buy +, sell −
    unit: str = ""
    # Its position legs as booked: (month, side × delta at booking × the month's quantity).
    booked: tuple[tuple[date, Decimal], ...] = ()


@dataclass(frozen=True)
class DealTerms:
    """One trade version's economic terms, as the valuation needs them."""

    deal_type: str  # the DealType values of apps.trading.models
    side: int  # +1 buy, −1 sell
    market: str
    price: Decimal  # the fixed price; the spread for an index forward; the premium for an option
    # (delivery month, unsigned quantity); an option's months, with its total quantity below
    legs: tuple[tuple[date, Decimal], ...]
    index_market: str | None = None
    total_quantity: Decimal = Decimal(0)  # an option's, unsigned
    option_type: str = ""
    strike: Decimal | None = None
    expiry: date | None = None
    unit: str = ""  # the trade's quantity unit (positions are kept per unit)
    # An option's position legs as booked (signed: side × delta at booking × month quantity);
    # the valuation re-deltas them at its own date (`Valuation.redelta`).
    booked_legs: tuple[tuple[date, Decimal], ...] = ()


@dataclass
class Portfolio:
    """Linear exposures summed by key, and options one by one."""

    exposures: dict[ExposureKey, Exposure] = field(default_factory=dict)
    options: list[OptionTerms] = field(default_factory=list)

    def add(self, terms: DealTerms) -> None:
        if terms.deal_type == "option":
            self.options.append(
                OptionTerms(
                    market=terms.market,
                    months=tuple(m for m, _q in terms.legs),
                    option_type=OptionType(terms.option_type),
                    strike=terms.strike if terms.strike is not None else Decimal(0),
                    premium=terms.price,
                    expiry=terms.expiry or terms.legs[0][0],
                    quantity=terms.side * terms.total_quantity,
                    unit=terms.unit,
                    booked=terms.booked_legs,
                )
            )
            return
        kind = Kind.MARGINED if terms.deal_type == "future" else Kind.DISCOUNTED
        exposures = self.exposures
        index = terms.index_market if terms.deal_type == "physical_index" else None
        for month, quantity in terms.legs:
            signed = terms.side * quantity
            key = ExposureKey(terms.market, month, kind)
            exposure = exposures.get(key)
            if exposure is None:
                exposure = exposures[key] = Exposure()
            exposure.quantity += signed
            exposure.cost += signed * terms.price
            if index:
                # Paying the index: short the index month at no fixed cost.
                key = ExposureKey(index, month, kind)
                exposure = exposures.get(key)
                if exposure is None:
                    exposure = exposures[key] = Exposure()
                exposure.quantity -= signed

    @classmethod
    def of(cls, deals: Iterable[DealTerms]) -> "Portfolio":
        portfolio = cls()
        for deal in deals:
            portfolio.add(deal)
        return portfolio

    def needs(self, valuation_date: date) -> "MarketNeeds":
        """The prices this portfolio's valuation on `valuation_date` looks up."""
        needs = MarketNeeds()
        for key in self.exposures:
            if key.month <= valuation_date:
                needs.settlements.add((key.market, key.month))
            else:
                needs.forwards.add((key.market, key.month))
        for option in self.options:
            if option.expiry <= valuation_date:
                needs.expiries.update((option.market, m, option.expiry) for m in option.months)
            else:
                needs.forwards.update((option.market, m) for m in option.months)
            needs.volatilities.add(option.market)
        return needs


class Holdings:
    """A book's trades at the end of a day, by trade id, and their portfolio (built once, then
    valued under as many market states as the explain needs)."""

    def __init__(self, deals: Mapping[int, DealTerms]) -> None:
        self.deals = deals

    @cached_property
    def portfolio(self) -> Portfolio:
        return Portfolio.of(self.deals.values())


@dataclass
class MarketNeeds:
    forwards: set[tuple[str, date]] = field(default_factory=set)
    settlements: set[tuple[str, date]] = field(default_factory=set)
    # (market, month, expiry date): the month's price on the option's expiry date
    expiries: set[tuple[str, date, date]] = field(default_factory=set)
    volatilities: set[str] = field(default_factory=set)

    def update(self, other: "MarketNeeds") -> None:
        self.forwards |= other.forwards
        self.settlements |= other.settlements
        self.expiries |= other.expiries
        self.volatilities |= other.volatilities


@dataclass(frozen=True)
class MarketSpec:
    currency: str
    scale: Decimal = Decimal(1)


@dataclass(frozen=True)
class MarketState:
    """Everything a valuation on `valuation_date` reads; absent entries are reported as missing."""

    valuation_date: date
    markets: Mapping[str, MarketSpec]
    forwards: Mapping[tuple[str, date], Decimal]
    settlements: Mapping[tuple[str, date], Decimal]
    expiries: Mapping[tuple[str, date, date], Decimal]
    volatilities: Mapping[str, Decimal]
    rates: Mapping[str, Decimal]  # continuously compounded, per currency
    fx: Mapping[str, Decimal]  # units of the reporting currency per unit of each currency
    reporting_currency: str


class Gap(StrEnum):
    """Kinds of missing market data; the Django side words them in the reader's language."""

    FORWARD = "forward"
    SETTLEMENT = "settlement"
    PRICE_AT_EXPIRY = "price_at_expiry"
    MARKET = "market"
    RATE = "rate"
    FX = "fx"
    VOLATILITY = "volatility"
    NON_POSITIVE_FORWARD = "non_positive_forward"


# (kind, what: a market code, "market month", a currency pair…)
Missing = tuple[Gap, str]


@dataclass
class Valuation:
    """Value in the reporting currency, split into realised and unrealised; what could not be
    priced is named in `missing` and left out of the figures (never valued at zero silently)."""

    realised: Decimal = Decimal(0)
    unrealised: Decimal = Decimal(0)
    missing: set[Missing] = field(default_factory=set)
    # Unrealised value by (market, delivery month): the positions grid's MtM column.
    by_month: dict[tuple[str, date], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    # Options' sensitivities, summed: delta in units of the underlying (side × Δ × quantity),
    # vega in the reporting currency per 1.00 (100 points) of volatility.
    delta: Decimal = Decimal(0)
    vega: Decimal = Decimal(0)
    # Options' delta on this valuation's market minus their delta as booked, per
    # (market, delivery month, unit): what turns the kept positions (booking delta) into the
    # positions at this date's curve. Options that could not be priced are not re-deltaed.
    redelta: dict[tuple[str, date, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )

    @property
    def total(self) -> Decimal:
        return self.realised + self.unrealised

    def rounded(self) -> "Valuation":
        return Valuation(
            realised=self.realised.quantize(CENT),
            unrealised=self.unrealised.quantize(CENT),
            missing=set(self.missing),
            by_month={k: v.quantize(CENT) for k, v in self.by_month.items()},
            delta=self.delta.quantize(QUANTITY_STEP),
            vega=self.vega.quantize(CENT),
            redelta={k: v.quantize(QUANTITY_STEP) for k, v in self.redelta.items()},
        )


def _years(start: date, end: date) -> Decimal:
    return Decimal((end - start).days) / DAYS_PER_YEAR


class _Pricer:
    """Looks prices up in a MarketState, recording what is missing instead of failing."""

    def __init__(self, state: MarketState, result: Valuation) -> None:
        self.state = state
        self.result = result

    def _get(self, table: Mapping, key: object, gap: Gap, what: str) -> Decimal | None:
        value = table.get(key)
        if value is None:
            self.result.missing.add((gap, what))
        return value

    def forward(self, market: str, month: date) -> Decimal | None:
        return self._get(
            self.state.forwards, (market, month), Gap.FORWARD, f"{market} {month:%Y-%m}"
        )

    def settlement(self, market: str, month: date) -> Decimal | None:
        what = f"{market} {month:%Y-%m}"
        return self._get(self.state.settlements, (market, month), Gap.SETTLEMENT, what)

    def at_expiry(self, market: str, month: date, expiry: date) -> Decimal | None:
        what = f"{market} {month:%Y-%m} {expiry.isoformat()}"
        return self._get(self.state.expiries, (market, month, expiry), Gap.PRICE_AT_EXPIRY, what)

    def spec(self, market: str) -> MarketSpec | None:
        return self._get(self.state.markets, market, Gap.MARKET, market)

    def rate(self, currency: str) -> Decimal | None:
        return self._get(self.state.rates, currency, Gap.RATE, currency)

    def fx(self, currency: str) -> Decimal | None:
        if currency == self.state.reporting_currency:
            return Decimal(1)
        pair = f"{currency}/{self.state.reporting_currency}"
        return self._get(self.state.fx, currency, Gap.FX, pair)

    def volatility(self, market: str) -> Decimal | None:
        return self._get(self.state.volatilities, market, Gap.VOLATILITY, market)


def value_portfolio(portfolio: Portfolio, state: MarketState) -> Valuation:
    """The value of every exposure and option of `portfolio` under `state` (unrounded)."""
    result = Valuation()
    pricer = _Pricer(state, result)
    today = state.valuation_date
    for key, exposure in portfolio.exposures.items():
        if exposure.quantity == 0 and exposure.cost == 0:
            continue
        spec = pricer.spec(key.market)
        if spec is None or (fx := pricer.fx(spec.currency)) is None:
            continue
        if key.month <= today:
            price = pricer.settlement(key.market, key.month)
            if price is not None:
                result.realised += (price * exposure.quantity - exposure.cost) * spec.scale * fx
            continue
        price = pricer.forward(key.market, key.month)
        df = Decimal(1)
        if key.kind is Kind.DISCOUNTED:
            rate = pricer.rate(spec.currency)
            if rate is None:
                continue
            df = discount_factor(rate, _years(today, next_month(key.month)))
        if price is None:
            continue
        value = (price * exposure.quantity - exposure.cost) * spec.scale * df * fx
        result.unrealised += value
        result.by_month[(key.market, key.month)] += value
    for option in portfolio.options:
        _value_option(option, pricer, result)
    return result


def _weighted(prices: list[Decimal | None]) -> Decimal | None:
    # Options on a strip: the plain average of its months' prices (equal monthly quantities
    # are the common case; a one-month option simply takes that month's price).
    if not prices or any(p is None for p in prices):
        return None
    return sum(prices, Decimal(0)) / len(prices)  # type: ignore[arg-type]


def _value_option(option: OptionTerms, pricer: _Pricer, result: Valuation) -> None:
    today = pricer.state.valuation_date
    spec = pricer.spec(option.market)
    if spec is None or (fx := pricer.fx(spec.currency)) is None:
        return
    sign = Decimal(1) if option.option_type is OptionType.CALL else Decimal(-1)
    if option.expiry <= today:
        underlying = _weighted(
            [pricer.at_expiry(option.market, m, option.expiry) for m in option.months]
        )
        if underlying is not None:
            payoff = max(sign * (underlying - option.strike), Decimal(0))
            result.realised += (payoff - option.premium) * option.quantity * spec.scale * fx
            # Expired: exercised (a delta of ±1 in the underlying) if it finished in the money.
            _redelta(option, sign if payoff > 0 else Decimal(0), result)
        return
    forward = _weighted([pricer.forward(option.market, m) for m in option.months])
    volatility = pricer.volatility(option.market)
    rate = pricer.rate(spec.currency)
    if forward is None or volatility is None or rate is None:
        return
    try:
        now = black76(
            option_type=option.option_type,
            forward=forward,
            strike=option.strike,
            volatility=volatility,
            years=_years(today, option.expiry),
            rate=rate,
        )
    except PricingError:
        # A non-positive forward (power can price below zero) has no Black-76 value.
        result.missing.add((Gap.NON_POSITIVE_FORWARD, f"{option.market} {forward}"))
        return
    value = (now.price - option.premium) * option.quantity * spec.scale * fx
    result.unrealised += value
    result.delta += now.delta * option.quantity
    result.vega += now.vega * option.quantity * spec.scale * fx
    result.by_month[(option.market, option.months[0])] += value
    _redelta(option, now.delta, result)


def _redelta(option: OptionTerms, delta: Decimal, result: Valuation) -> None:
    """Record `option`'s position at `delta` less its position as booked, month by month.

    The delta quantity is spread over the months as the booking spread it (the booked legs'
    proportions, i.e. each month's delivery quantity); an option booked at a zero delta left no
    proportions, so its months share equally."""
    total = delta * option.quantity
    booked = dict(option.booked)
    weight = sum((abs(q) for q in booked.values()), Decimal(0))
    for month in option.months:
        leg = booked.get(month, Decimal(0))
        share = abs(leg) / weight if weight else Decimal(1) / len(option.months)
        key = (option.market, month, option.unit)
        result.redelta[key] += total * share - leg


# --- P&L explain --------------------------------------------------------------------------------


class Step(StrEnum):
    TIME_ROLL = "time_roll"
    CURVE_MOVES = "curve_moves"
    FX = "fx"
    NEW_TRADES = "new_trades"
    AMENDMENTS = "amendments"
    CANCELLATIONS = "cancellations"
    UNEXPLAINED = "unexplained"


@dataclass(frozen=True)
class Explain:
    """From the value of yesterday's portfolio on yesterday's market (`start`) to the value of
    today's portfolio on today's market (`end`); the steps always add up to `end − start`."""

    start: Valuation
    end: Valuation
    steps: dict[Step, Decimal]
    missing: frozenset[Missing]

    @property
    def total(self) -> Decimal:
        return self.end.total - self.start.total


def _value_of(portfolio: Portfolio, state: MarketState, missing: set[Missing]) -> Decimal:
    valuation = value_portfolio(portfolio, state)
    missing |= valuation.missing
    return valuation.total


def _value(deals: Iterable[DealTerms], state: MarketState, missing: set[Missing]) -> Decimal:
    return _value_of(Portfolio.of(deals), state, missing)


def explain(
    *,
    before: Holdings,
    after: Holdings,
    amended: Iterable[int],
    market_before: MarketState,
    market_after: MarketState,
) -> Explain:
    """The P&L explain of one book between two valuation dates.

    `before` and `after` are the trades counted in the book at the end of each day;
    `amended` names the trades of both whose terms changed. Both market states carry the
    settlement prices of every month that began delivering by `market_after`'s date (they do
    not depend on the day the market is read). The steps, each revaluing yesterday's portfolio
    with one thing changed:

    - time roll: yesterday's curves and FX, today's valuation date (discounting, option
      time value, months that began delivering settle);
    - curve moves: today's curves and volatilities instead of yesterday's;
    - FX: today's FX rates instead of yesterday's;
    - new trades, amendments, cancellations: the trades that came, changed or went, valued on
      today's market;
    - unexplained: the rest, which is the joint effect of curves and FX moving together, plus
      rounding. It is shown, never folded into another line.
    """
    missing: set[Missing] = set()
    old = before.portfolio
    start = value_portfolio(old, market_before)
    missing |= start.missing
    rolled_state = replace(market_before, valuation_date=market_after.valuation_date)
    rolled = _value_of(old, rolled_state, missing)
    curves = _value_of(old, replace(market_after, fx=market_before.fx), missing)
    fx_moved = _value_of(old, replace(rolled_state, fx=market_after.fx), missing)

    old_deals, new_deals = before.deals, after.deals
    amended = set(amended)
    new_ids = [i for i in new_deals if i not in old_deals]
    gone_ids = [i for i in old_deals if i not in new_deals]
    changed = [i for i in amended if i in old_deals and i in new_deals]
    new = _value((new_deals[i] for i in new_ids), market_after, missing)
    cancelled = -_value((old_deals[i] for i in gone_ids), market_after, missing)
    amendments = _value((new_deals[i] for i in changed), market_after, missing) - _value(
        (old_deals[i] for i in changed), market_after, missing
    )
    end = value_portfolio(after.portfolio, market_after)
    missing |= end.missing

    steps = {
        Step.TIME_ROLL: (rolled - start.total).quantize(CENT),
        Step.CURVE_MOVES: (curves - rolled).quantize(CENT),
        Step.FX: (fx_moved - rolled).quantize(CENT),
        Step.NEW_TRADES: new.quantize(CENT),
        Step.AMENDMENTS: amendments.quantize(CENT),
        Step.CANCELLATIONS: cancelled.quantize(CENT),
    }
    start, end = start.rounded(), end.rounded()
    steps[Step.UNEXPLAINED] = (end.total - start.total) - sum(steps.values(), Decimal(0))
    return Explain(start=start, end=end, steps=steps, missing=frozenset(missing))
