"""Black-76, vectorised: option values and deltas for arrays of options, and the full
revaluation of a book of options under many scenarios at once.

The formula is the one `apps.trading.pricing.black76` evaluates one option at a time:

    call = DF·(F·N(d1) − K·N(d2)),   put = DF·(K·N(−d2) − F·N(−d1)),
    d1 = (ln(F/K) + σ²T/2) / (σ√T),  d2 = d1 − σ√T,  DF = exp(−rT);

at or after expiry (T ≤ 0) or with zero volatility the value is the discounted intrinsic value
(DF = 1 once expired). A shocked forward at or below zero is priced at its limit F → 0⁺ (a call
is worth nothing, a put DF·K) instead of failing on the logarithm.
"""

import numpy as np
from scipy.special import ndtr

from apps.risk.engine.inputs import OptionPositions

# Relative moves below −100 % would make the forward negative; Black-76 is priced at F → 0⁺.
_LOWEST_GROWTH = 1e-300
# Rows of scenarios revalued at once: working arrays (rows × options) of ~2 MB stay in cache.
_BLOCK_ELEMENTS = 262_144


def black76_price(
    forward: np.ndarray | float,
    strike: np.ndarray | float,
    volatility: np.ndarray | float,
    years: np.ndarray | float,
    rate: np.ndarray | float,
    is_call: np.ndarray | bool,
) -> np.ndarray:
    """Black-76 value per unit of underlying, for arrays that broadcast together."""
    f, k, sigma, t, r, sign = _flat_arrays(forward, strike, volatility, years, rate, is_call)
    f = np.maximum(f, 0.0)
    live = (t > 0) & (sigma > 0)
    df = np.exp(-r * np.where(t > 0, t, 0.0))
    value = df * np.maximum(sign * (f - k), 0.0)
    if live.any():
        fl, kl, sl = f[live], k[live], sign[live]
        sd = sigma[live] * np.sqrt(t[live])
        with np.errstate(divide="ignore"):  # ln(0) = −inf prices F → 0⁺ correctly
            d1 = (np.log(fl / kl) + 0.5 * sd * sd) / sd
        d2 = d1 - sd
        value[live] = df[live] * sl * (fl * ndtr(sl * d1) - kl * ndtr(sl * d2))
    return value.reshape(_shape(forward, strike, volatility, years, rate, is_call))


def black76_delta(
    forward: np.ndarray | float,
    strike: np.ndarray | float,
    volatility: np.ndarray | float,
    years: np.ndarray | float,
    rate: np.ndarray | float,
    is_call: np.ndarray | bool,
) -> np.ndarray:
    """∂V/∂F per unit: DF·N(d1) for a call, DF·(N(d1) − 1) for a put; at expiry or with zero
    volatility DF·(±1) in the money and 0 otherwise (as `apps.trading.pricing.black76`)."""
    f, k, sigma, t, r, sign = _flat_arrays(forward, strike, volatility, years, rate, is_call)
    live = (t > 0) & (sigma > 0)
    df = np.exp(-r * np.where(t > 0, t, 0.0))
    delta = np.where(sign * (f - k) > 0, df * sign, 0.0)
    if live.any():
        sd = sigma[live] * np.sqrt(t[live])
        d1 = (np.log(f[live] / k[live]) + 0.5 * sd * sd) / sd
        delta[live] = df[live] * (ndtr(d1) - (sign[live] < 0))
    return delta.reshape(_shape(forward, strike, volatility, years, rate, is_call))


def _shape(*values: object) -> tuple[int, ...]:
    return np.broadcast_shapes(*(np.shape(value) for value in values))


def _flat_arrays(*values: object) -> list[np.ndarray]:
    """The inputs broadcast together and flattened to float64 vectors; is_call (the last)
    becomes the sign +1 for a call, −1 for a put."""
    shape = _shape(*values)
    *numbers, is_call = values
    flat = [np.broadcast_to(np.asarray(x, dtype=np.float64), shape).ravel() for x in numbers]
    flat.append(
        np.where(np.broadcast_to(np.asarray(is_call, dtype=bool), shape).ravel(), 1.0, -1.0)
    )
    return flat


class OptionRevaluer:
    """Full revaluation of a book of options under relative moves of their underlyings.

    `factors` lists the distinct factors the options are written on; a scenario is a row of
    relative moves of those factors. `pnl(moves, weights)` returns, per scenario, the change in
    value summed into columns by `weights` (options × columns, e.g. a 0/1 matrix of books):

        pnl[s, c] = Σ_o weights[o, c] · quantity_o · (V_o(F0_o·(1 + move[s, f(o)])) − V_o(F0_o))

    with f(o) the factor of option o.

    `years_elapsed` revalues at a later date (time to expiry shortened by it, e.g. for credit
    exposure at a future horizon); 0 is an instantaneous shock. The constants of d1, d2 and the
    discounted amounts are computed once, so each scenario costs two normal CDFs per option.
    """

    def __init__(self, options: OptionPositions, *, years_elapsed: float = 0.0) -> None:
        self.count = len(options)
        self.factors, local = np.unique(options.factor, return_inverse=True)
        quantity, forward, strike = options.quantity, options.forward, options.strike
        self.today = quantity * black76_price(
            forward, strike, options.volatility, options.years, options.rate, options.is_call
        )
        years = options.years - years_elapsed
        sign = np.where(options.is_call, 1.0, -1.0)
        df = np.exp(-options.rate * np.where(years > 0, years, 0.0))
        live = (years > 0) & (options.volatility > 0)
        self.live = np.flatnonzero(live)
        self.expired = np.flatnonzero(~live)
        self._live_local = local[live]
        self._expired_local = local[~live]
        # sign·d1 = ln(1 + move)·u + c and sign·d2 = sign·d1 − w, with the sign of a put folded
        # into the constants; value = a·(1 + move)·N(sign·d1) − b·N(sign·d2).
        sd = options.volatility[live] * np.sqrt(years[live])
        s = sign[live]
        self._u = s / sd
        self._c = s * (np.log(forward[live] / strike[live]) + 0.5 * sd * sd) / sd
        self._w = s * sd
        self._a = quantity[live] * s * df[live] * forward[live]
        self._b = quantity[live] * s * df[live] * strike[live]
        # Expired or zero-volatility options: quantity · DF · max(sign·(F0·(1 + move) − K), 0).
        self._x_q = quantity[~live] * df[~live]
        self._x_sign = sign[~live]
        self._x_forward = forward[~live]
        self._x_strike = strike[~live]

    def pnl(self, moves: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """P&L per scenario and column (scenarios × columns) for moves (scenarios × factors)."""
        rows = moves.shape[0]
        result = np.empty((rows, weights.shape[1]))
        result[:] = -(self.today @ weights)
        if self.count == 0 or rows == 0:
            return result
        growth = 1.0 + moves
        np.maximum(growth, _LOWEST_GROWTH, out=growth)
        if self.live.size:
            # Only the columns some option reaches (a book without options needs no product).
            used = np.flatnonzero(np.abs(weights[self.live]).sum(axis=0))
            live_weights = weights[np.ix_(self.live, used)]
            log_growth = np.log(growth)
            block = max(1, _BLOCK_ELEMENTS // self.live.size)
            for start in range(0, rows, block):
                stop = min(rows, start + block)
                d = np.take(log_growth[start:stop], self._live_local, axis=1)
                d *= self._u
                d += self._c  # sign·d1
                value = ndtr(d)
                value *= self._a
                d -= self._w  # sign·d2
                ndtr(d, out=d)
                d *= self._b
                grown = np.take(growth[start:stop], self._live_local, axis=1)
                value *= grown
                value -= d  # a·g·N(sign·d1) − b·N(sign·d2)
                result[start:stop, used] += value @ live_weights
        if self.expired.size:
            g = growth[:, self._expired_local]
            intrinsic = np.maximum(self._x_sign * (self._x_forward * g - self._x_strike), 0.0)
            result += (self._x_q * intrinsic) @ weights[self.expired]
        return result
