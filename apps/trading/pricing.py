"""Valuation formulas: discounting, forward mark-to-market, Black-76 options on futures.

Pure: imports nothing from Django. Inputs and outputs at this boundary are Decimal; the option
formula itself is evaluated in binary floating point (it is transcendental), and its result is
rounded back to Decimal by the caller's quantisation.
"""

import math
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class OptionType(StrEnum):
    CALL = "call"
    PUT = "put"


class PricingError(ValueError):
    """Inputs that no formula can price; the message says which."""


def discount_factor(rate: Decimal, years: Decimal) -> Decimal:
    """Continuous-compounding discount factor exp(-r·t); t <= 0 (already settled) gives 1."""
    if years <= 0:
        return Decimal(1)
    return Decimal(str(math.exp(-float(rate) * float(years))))


def forward_mtm(
    *, side: int, curve_price: Decimal, trade_price: Decimal, volume: Decimal, df: Decimal
) -> Decimal:
    """(curve − price) × volume × DF, signed +1 for a buyer and −1 for a seller.

    A fixed-for-floating swap's fixed payer is valued the same way with the floating leg's
    forward in place of `curve_price`.
    """
    if side not in (1, -1):
        raise PricingError("side must be +1 (buy) or -1 (sell)")
    return side * (curve_price - trade_price) * volume * df


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


@dataclass(frozen=True)
class OptionValue:
    """Per unit of underlying: premium, delta (∂V/∂F, discounted) and vega (∂V/∂σ per 1.00)."""

    price: Decimal
    delta: Decimal
    vega: Decimal


def black76(
    *,
    option_type: OptionType,
    forward: Decimal,
    strike: Decimal,
    volatility: Decimal,
    years: Decimal,
    rate: Decimal,
) -> OptionValue:
    """Black (1976) value of a European option on a future/forward.

    call = DF·(F·N(d1) − K·N(d2)), put = DF·(K·N(−d2) − F·N(−d1)),
    d1 = (ln(F/K) + σ²T/2) / (σ√T), d2 = d1 − σ√T, DF = exp(−rT).
    At or after expiry (T <= 0) or with zero volatility the value is the discounted intrinsic.
    """
    if forward <= 0 or strike <= 0:
        raise PricingError("forward and strike must be positive")
    if volatility < 0:
        raise PricingError("volatility cannot be negative")
    f, k, sigma, t, r = map(float, (forward, strike, volatility, years, rate))
    df = math.exp(-r * t) if t > 0 else 1.0
    sign = 1.0 if option_type is OptionType.CALL else -1.0
    if t <= 0 or sigma == 0:
        intrinsic = max(sign * (f - k), 0.0)
        in_the_money = sign * (f - k) > 0
        return OptionValue(
            price=Decimal(repr(df * intrinsic)),
            delta=Decimal(repr(df * sign)) if in_the_money else Decimal(0),
            vega=Decimal(0),
        )
    sd = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    price = df * sign * (f * _norm_cdf(sign * d1) - k * _norm_cdf(sign * d2))
    delta = df * sign * _norm_cdf(sign * d1)
    vega = df * f * _norm_pdf(d1) * math.sqrt(t)
    return OptionValue(Decimal(repr(price)), Decimal(repr(delta)), Decimal(repr(vega)))
