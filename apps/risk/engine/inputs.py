"""What the engine computes from: factor price history and a portfolio of exposures to factors.

A risk factor is one price that moves: a forward-curve point (market and delivery month) or an
FX rate. Every figure the engine produces is driven by **relative** moves of factors: a move r
takes the factor from F to F·(1 + r).

Linear positions are held as their *exposure* to one factor, the P&L of a relative move of 1.0
(i.e. +100 %) in the reporting currency:

    exposure = ∂V/∂F · F  (= quantity × price × FX for a forward, swap leg or future),

so that a move r of the factor earns exposure × r. A trade that depends on several factors (a
quarterly swap: three monthly curve points; a foreign-currency forward: the curve point and the
FX rate) is given as several linear positions, one per factor, each with its own labels.

Options are revalued in full by Black-76 on their factor: a call or put with a quantity
(negative when sold; already multiplied by the FX rate to the reporting currency), today's
forward F0, strike, volatility, years to expiry and a continuously compounded rate. The
option's P&L under a move r is quantity × (V(F0·(1 + r)) − V(F0)).

Money is Decimal in the Django layer; this module turns it into float64 arrays at the boundary
(`PortfolioBuilder` and `FactorHistory` accept Decimals, ints, floats or lists of them).
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from apps.risk.engine.errors import RiskInputError, check_positive_int, quoted

Number = Decimal | float | int


def as_float_array(values: Any, what: str, ndim: int) -> np.ndarray:
    """A new float64 array of `ndim` dimensions from numbers, Decimals or nested lists of them."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise RiskInputError(f"{what} must hold numbers only ({exc})") from None
    if array.ndim != ndim:
        raise RiskInputError(f"{what} must have {ndim} dimension(s), got shape {array.shape}")
    return array


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


# --- Factor history -------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FactorHistory:
    """Daily prices of risk factors: `prices[d, j]` is factor `names[j]` on day `d`, oldest first.

    NaN marks a missing price. It is refused only where it is used (a window, a stress
    window), with the factor named, so one factor's gap years ago does not stop today's run.
    `dates` (optional, any labels such as `datetime.date`) name the days in messages and let
    stress windows be given by date.
    """

    names: tuple[str, ...]
    prices: np.ndarray
    dates: tuple[Hashable, ...] | None = None
    _column: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.names)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise RiskInputError(f"factor names must be unique; repeated: {quoted(duplicates)}")
        prices = as_float_array(self.prices, "prices", 2)
        if prices.shape[1] != len(names):
            raise RiskInputError(
                f"prices have {prices.shape[1]} columns but {len(names)} factor names were given"
            )
        dates = None if self.dates is None else tuple(self.dates)
        if dates is not None and len(dates) != prices.shape[0]:
            raise RiskInputError(f"{len(dates)} dates given for {prices.shape[0]} days of prices")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "prices", _frozen(prices))
        object.__setattr__(self, "dates", dates)
        object.__setattr__(self, "_column", {name: j for j, name in enumerate(names)})

    @property
    def days(self) -> int:
        return self.prices.shape[0]

    def day_name(self, day: int) -> str:
        """The date of day `day` (an index) for messages, or 'day <index>' without dates."""
        if self.dates is None:
            return f"day {day}"
        return str(self.dates[day])

    def day_index(self, day: Hashable) -> int:
        """The index of a day given by its date (or already by an index when no dates)."""
        if self.dates is not None and day in self.dates:
            return self.dates.index(day)
        if isinstance(day, int) and not isinstance(day, bool) and -self.days <= day < self.days:
            return day % self.days
        raise RiskInputError(f"the history has no day {day!r}")

    def columns(self, factors: Sequence[str], days: slice = slice(None)) -> np.ndarray:
        """Prices of `factors` in that order (days × len(factors)); every factor must be known."""
        missing = [name for name in factors if name not in self._column]
        if missing:
            raise RiskInputError(f"no price history for factor(s) {quoted(missing)}")
        rows = self.prices[days]
        if tuple(factors) == self.names:
            return rows
        return rows[:, [self._column[name] for name in factors]]

    def checked_rows(self, factors: Sequence[str], first: int, last: int) -> np.ndarray:
        """Prices of `factors` on days first..last inclusive, all present and positive.

        A relative move needs a positive price at both ends; a missing (NaN) or non-positive
        price is reported with the factor's name and the first day it happens.
        """
        rows = self.columns(factors, slice(first, last + 1))
        for problem, bad in (
            ("has no price", ~np.isfinite(rows)),
            ("has a non-positive price (relative moves need prices above zero)", rows <= 0),
        ):
            columns = np.flatnonzero(bad.any(axis=0))
            if columns.size:
                j = int(columns[0])
                days = np.flatnonzero(bad[:, j])
                names = [factors[int(c)] for c in columns]
                raise RiskInputError(
                    f"factor {factors[j]!r} {problem} on {days.size} of the {rows.shape[0]} days "
                    f"used (first: {self.day_name(first + int(days[0]))})"
                    + (f"; so do {quoted(names[1:])}" if len(names) > 1 else "")
                )
        return rows

    def relative_returns(
        self, factors: Sequence[str], *, window: int, horizon_days: int = 1
    ) -> np.ndarray:
        """The last `window` overlapping h-day relative returns (window × factors), oldest first:

            r[t] = P[t] / P[t − h] − 1  for the last `window` days t,

        so it needs window + h days of history. Overlapping h-day returns (rather than scaling
        one-day figures by √h) keep option revaluation exact at the horizon.
        """
        check_positive_int(window, "window")
        check_positive_int(horizon_days, "horizon_days")
        needed = window + horizon_days
        if needed > self.days:
            raise RiskInputError(
                f"a window of {window} {horizon_days}-day returns needs {needed} days of "
                f"history; only {self.days} are available"
            )
        first = self.days - needed
        rows = self.checked_rows(factors, first, self.days - 1)
        return rows[horizon_days:] / rows[:-horizon_days] - 1.0


# --- Portfolio ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class OptionPositions:
    """European options on factors, one entry per position (arrays of equal length).

    quantity: units of underlying, negative when sold, times the FX rate to the reporting
    currency. forward: today's level of the factor as the option sees it (F0). years: time to
    expiry; zero or less (expired today) or zero volatility values the option at its discounted
    intrinsic value, as `apps.trading.pricing.black76` does.
    """

    factor: np.ndarray
    quantity: np.ndarray
    forward: np.ndarray
    strike: np.ndarray
    volatility: np.ndarray
    years: np.ndarray
    rate: np.ndarray
    is_call: np.ndarray

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.factor))
        try:
            factor = np.array(self.factor, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise RiskInputError("option factor indices must be whole numbers") from None
        object.__setattr__(self, "factor", _frozen(factor))
        for name in ("quantity", "forward", "strike", "volatility", "years", "rate"):
            array = as_float_array(getattr(self, name), f"option {name}", 1)
            if array.shape != (n,):
                raise RiskInputError(f"option {name} has {array.size} entries for {n} options")
            if not np.isfinite(array).all():
                raise RiskInputError(f"option {name} must be finite (option {_first_bad(array)})")
            object.__setattr__(self, name, _frozen(array))
        is_call = np.array(self.is_call, dtype=bool).reshape(-1)
        if is_call.shape != (n,):
            raise RiskInputError(f"option is_call has {is_call.size} entries for {n} options")
        object.__setattr__(self, "is_call", _frozen(is_call))
        for name, bad in (
            ("forward", self.forward <= 0),
            ("strike", self.strike <= 0),
            ("volatility", self.volatility < 0),
        ):
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                limit = "non-negative" if name == "volatility" else "positive"
                raise RiskInputError(f"option {first}: {name} must be {limit}")

    def __len__(self) -> int:
        return self.factor.size

    @classmethod
    def empty(cls) -> "OptionPositions":
        nothing = np.zeros(0)
        return cls(np.zeros(0, dtype=np.int64), *([nothing] * 6), np.zeros(0, dtype=bool))


def _first_bad(array: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(array))[0])


@dataclass(frozen=True, eq=False)
class Portfolio:
    """Linear positions and options over named factors, with group labels per position.

    Positions are numbered linear first, then options; `labels[name][i]` is position i's group
    under that label (e.g. labels["book"][i] == "PEU-FLOW"). Every position carries every label.
    """

    factor_names: tuple[str, ...]
    linear_factor: np.ndarray
    linear_exposure: np.ndarray
    options: OptionPositions
    labels: Mapping[str, tuple[str, ...]]
    _layouts: dict[tuple[str, ...], "GroupLayout"] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        names = tuple(str(name) for name in self.factor_names)
        if len(set(names)) != len(names):
            raise RiskInputError("portfolio factor names must be unique")
        try:
            factor = np.array(self.linear_factor, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise RiskInputError("linear factor indices must be whole numbers") from None
        exposure = as_float_array(self.linear_exposure, "linear exposures", 1)
        if exposure.shape != factor.shape:
            raise RiskInputError(
                f"{exposure.size} linear exposures given for {factor.size} linear positions"
            )
        if not np.isfinite(exposure).all():
            raise RiskInputError(f"linear exposure {_first_bad(exposure)} is not a finite number")
        options = self.options
        if factor.size + len(options) == 0:
            raise RiskInputError("the portfolio is empty: there is no position to measure")
        for kind, indices in (("linear position", factor), ("option", options.factor)):
            bad = (indices < 0) | (indices >= len(names))
            if bad.any():
                first = int(np.flatnonzero(bad)[0])
                raise RiskInputError(
                    f"{kind} {first} refers to factor {int(indices[first])}, "
                    f"but the portfolio has {len(names)} factors"
                )
        count = factor.size + len(options)
        labels: dict[str, tuple[str, ...]] = {}
        for label, values in self.labels.items():
            values = tuple(str(value) for value in values)
            if len(values) != count:
                raise RiskInputError(
                    f"label {label!r} has {len(values)} values for {count} positions"
                )
            labels[str(label)] = values
        object.__setattr__(self, "factor_names", names)
        object.__setattr__(self, "linear_factor", _frozen(factor))
        object.__setattr__(self, "linear_exposure", _frozen(exposure))
        object.__setattr__(self, "labels", labels)

    @property
    def size(self) -> int:
        """The number of positions (linear and options)."""
        return self.linear_factor.size + len(self.options)

    def layout(self, group_by: Iterable[str] | None = None) -> "GroupLayout":
        """The P&L columns the methods aggregate into: the total, then each label's groups."""
        labels = tuple(self.labels) if group_by is None else tuple(group_by)
        unknown = [label for label in labels if label not in self.labels]
        if unknown:
            raise RiskInputError(
                f"no label {quoted(unknown)} on the positions; "
                f"they carry {quoted(list(self.labels))}"
            )
        if labels not in self._layouts:  # one risk run asks several methods for the same one
            self._layouts[labels] = GroupLayout.build(self, labels)
        return self._layouts[labels]


@dataclass(frozen=True, eq=False)
class GroupLayout:
    """How positions map to P&L columns: column 0 is the total, then one column per group of
    each label in `labels` (groups sorted by name). Every method aggregates scenario P&L into
    these columns as it goes — never a scenarios × positions array."""

    labels: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (label, group); column 0 is ("", "total")
    linear_columns: np.ndarray  # (1 + len(labels)) × linear positions: the column of each
    option_columns: np.ndarray  # (1 + len(labels)) × options

    @classmethod
    def build(cls, portfolio: Portfolio, labels: tuple[str, ...]) -> "GroupLayout":
        n_linear = portfolio.linear_factor.size
        columns: list[tuple[str, str]] = [("", "total")]
        rows = [np.zeros(portfolio.size, dtype=np.int64)]
        for label in labels:
            values = portfolio.labels[label]
            names = sorted(set(values))
            index = {name: len(columns) + i for i, name in enumerate(names)}
            rows.append(np.fromiter((index[v] for v in values), np.int64, count=len(values)))
            columns.extend((label, name) for name in names)
        table = np.vstack(rows)
        return cls(labels, tuple(columns), table[:, :n_linear], table[:, n_linear:])

    @property
    def width(self) -> int:
        return len(self.columns)

    def linear_matrix(self, portfolio: Portfolio) -> np.ndarray:
        """Exposures summed per factor and column (factors × columns): a scenario's linear
        P&L per column is then `moves @ matrix`."""
        values = portfolio.linear_exposure
        factors = len(portfolio.factor_names)
        index = portfolio.linear_factor[None, :] * self.width + self.linear_columns
        weights = np.broadcast_to(values, index.shape)
        summed = np.bincount(index.ravel(), weights=weights.ravel(), minlength=factors * self.width)
        # (bincount answers in integers when there is no linear position at all)
        return summed.astype(np.float64, copy=False).reshape(factors, self.width)

    def option_matrix(self, portfolio: Portfolio) -> np.ndarray:
        """A 0/1 matrix (options × columns): option P&L per column is `pnl @ matrix`."""
        n = len(portfolio.options)
        matrix = np.zeros((n, self.width))
        for row in self.option_columns:
            matrix[np.arange(n), row] = 1.0
        return matrix


class PortfolioBuilder:
    """Collects positions one by one (Decimals welcome) and builds a `Portfolio`.

        builder = PortfolioBuilder()
        builder.add_linear(factor="TTF 2026-03", quantity=Decimal("5000"), price=Decimal("31.2"),
                           book="GAS-FLOW", market="ttf", tenor="2026-03")
        builder.add_option(factor="TTF 2026-03", quantity=-2000, forward=31.2, strike=32,
                           volatility=0.55, years=0.12, rate=0.03, option_type="call",
                           book="GAS-FLOW", market="ttf", tenor="2026-03")
        portfolio = builder.build()

    Every position must carry the same label names. Factors are numbered in order of first use.
    """

    def __init__(self) -> None:
        self._factors: dict[str, int] = {}
        self._linear: list[tuple[int, float]] = []
        self._options: list[tuple[int, float, float, float, float, float, float, bool]] = []
        self._linear_labels: list[dict[str, str]] = []
        self._option_labels: list[dict[str, str]] = []

    def _factor(self, name: str) -> int:
        return self._factors.setdefault(str(name), len(self._factors))

    def add_linear(
        self,
        *,
        factor: str,
        exposure: Number | None = None,
        quantity: Number | None = None,
        price: Number | None = None,
        fx: Number = 1,
        **labels: str,
    ) -> None:
        """A linear position: its exposure (P&L per relative move of 1.0), or quantity × price
        × fx (signed quantity, price in the factor's currency, fx to the reporting currency)."""
        if (exposure is None) == (quantity is None or price is None):
            raise RiskInputError(
                f"position on {factor!r}: give either exposure, or quantity and price"
            )
        what = f"position on {factor!r}"
        value = (
            _number(exposure, f"{what}: exposure")
            if exposure is not None
            else _number(quantity, f"{what}: quantity")
            * _number(price, f"{what}: price")
            * _number(fx, f"{what}: fx")
        )
        self._linear.append((self._factor(factor), value))
        self._linear_labels.append(labels)

    def add_option(
        self,
        *,
        factor: str,
        quantity: Number,
        forward: Number,
        strike: Number,
        volatility: Number,
        years: Number,
        option_type: str,
        rate: Number = 0,
        fx: Number = 1,
        **labels: str,
    ) -> None:
        """A European option on `factor`, revalued in full by Black-76 (see OptionPositions)."""
        kind = str(option_type).lower()
        if kind not in ("call", "put"):
            raise RiskInputError(f"option on {factor!r}: option_type must be 'call' or 'put'")
        what = f"option on {factor!r}"
        for name, value, positive in (
            ("forward", forward, True),
            ("strike", strike, True),
            ("volatility", volatility, False),
        ):
            number = _number(value, f"{what}: {name}")
            if number < 0 or (positive and number == 0):
                limit = "positive" if positive else "non-negative"
                raise RiskInputError(f"{what}: {name} must be {limit}, got {value!r}")
        self._options.append(
            (
                self._factor(factor),
                _number(quantity, f"{what}: quantity") * _number(fx, f"{what}: fx"),
                _number(forward, f"{what}: forward"),
                _number(strike, f"{what}: strike"),
                _number(volatility, f"{what}: volatility"),
                _number(years, f"{what}: years"),
                _number(rate, f"{what}: rate"),
                kind == "call",
            )
        )
        self._option_labels.append(labels)

    def build(self) -> Portfolio:
        every = self._linear_labels + self._option_labels
        names = sorted(every[0]) if every else []
        for index, labels in enumerate(every):
            if sorted(labels) != names:
                raise RiskInputError(
                    f"position {index} carries labels {sorted(labels)}, the first one {names}"
                )
        linear = np.array(self._linear, dtype=np.float64).reshape(-1, 2)
        columns = list(zip(*self._options, strict=True)) if self._options else None
        options = (
            OptionPositions(*[np.array(column) for column in columns])
            if columns
            else OptionPositions.empty()
        )
        return Portfolio(
            factor_names=tuple(self._factors),
            linear_factor=linear[:, 0].astype(np.int64),
            linear_exposure=linear[:, 1],
            options=options,
            labels={name: tuple(labels[name] for labels in every) for name in names},
        )


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, ArithmeticError):
        raise RiskInputError(f"{what} must be a number, got {value!r}") from None
    if not np.isfinite(number):
        raise RiskInputError(f"{what} must be finite, got {value!r}")
    return number
