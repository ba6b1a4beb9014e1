"""Benchmark: the pure risk engine on a synthetic book — parametric, historical and Monte Carlo
VaR/ES against a naive position-by-position baseline, and Monte Carlo against its floor (the
time numpy takes just to draw its random numbers).

    .venv/bin/python bench/risk.py [--paths 100000] [--repeat 5] [--seed 2026]

No database and no Django: the engine is pure numpy/scipy. (A full end-of-day run through Celery
on PostgreSQL belongs to the Django layer's benchmark.)

The book (seeded): 1,000 risk factors — 24 markets × 40 monthly curve points and 40 FX rates —
with 1,000 days of prices (each market's curve moves with a market factor that is felt most at
the front, plus noise of its own). 10,000 positions in 20 books: 9,000 linear positions spread
over all factors and 1,000 European options on the first 12 months of the curves (where options
trade), calls and puts, bought and sold. Every method aggregates by book, market and tenor.

What each timing covers (warm: the portfolio and history are in memory, as in a risk run):
- parametric: the covariance estimate from the last 500 days (sample) or 250 days (EWMA, λ =
  0.94) and VaR/ES with standalone and component figures per book, market and tenor;
- historical: the last 500 one-day returns, options revalued in full, the same figures;
- Monte Carlo: 100,000 paths of correlated normal shocks with the sample covariance of the whole
  history (999 returns: 999 normals a path), options revalued in full, the same figures.

Baselines, timed on a subsample and scaled: a Python loop over positions per scenario — linear
P&L by exposure × move, options by a float Black-76 — adding into book, market and tenor totals;
for parametric, the quadratic form Σᵢ Σⱼ eᵢ·eⱼ·cov(fᵢ, fⱼ) position by position. The floor draws
the same normals as the Monte Carlo (same generators and chunks) on one thread, as numpy does by
default; the Monte Carlo itself runs its chunks on the machine's two cores, so the two-thread
draw is printed beside it.

BLAS runs single-threaded (OPENBLAS_NUM_THREADS=1 unless the caller sets it), as a risk worker
should run the engine: Monte Carlo parallelises over its chunks of paths, and OpenBLAS threads
that spin-wait between products would compete with those chunk threads for the same cores (on
this machine, left at two BLAS threads, the same Monte Carlo took 1.6–2.5× as long).

Targets (issue 6, on a 2-core machine): parametric < 50 ms, historical < 200 ms, Monte Carlo
< 5 s and within 3× its random-number floor, each at least 50× faster than its baseline; peak
memory < 4 GiB.
"""

import argparse
import math
import os
import random
import resource
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Before numpy loads its BLAS (see the docstring): one kind of parallelism at a time.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.risk.engine import (
    FactorHistory,
    OptionPositions,
    Portfolio,
    ewma_covariance,
    historical_var,
    monte_carlo_var,
    parametric_var,
    sample_covariance,
)

MARKETS, TENORS, FX_RATES = 24, 40, 40
DAYS = 1_000
LINEAR, OPTIONS, BOOKS = 9_000, 1_000, 20
CONFIDENCE = 0.99
TARGET_PARAMETRIC_MS, TARGET_HISTORICAL_MS, TARGET_MC_S = 50.0, 200.0, 5.0
TARGET_SPEEDUP, TARGET_FLOOR_RATIO, TARGET_MEMORY_GIB = 50.0, 3.0, 4.0
CHUNK_PATHS = 10_000


# --- The synthetic book ---------------------------------------------------------------------------


def synthetic(seed: int) -> tuple[FactorHistory, Portfolio, list[tuple[int, str]]]:
    """History, portfolio, and each factor's (tenor month, market) for the labels."""
    rng = np.random.default_rng(seed)
    names = [f"M{m:02d} {t + 1:02d}M" for m in range(MARKETS) for t in range(TENORS)]
    names += [f"FX{i:02d}" for i in range(FX_RATES)]
    market_moves = rng.standard_normal((DAYS, MARKETS)) * rng.uniform(0.01, 0.03, MARKETS)
    front_weight = np.exp(-np.arange(TENORS) / 15.0)  # the front of a curve moves most
    curve = (market_moves[:, :, None] * front_weight).reshape(DAYS, MARKETS * TENORS)
    curve += rng.standard_normal(curve.shape) * 0.006
    fx = rng.standard_normal((DAYS, FX_RATES)) * 0.004
    returns = np.hstack((curve, fx))
    start = np.concatenate((rng.uniform(20, 120, MARKETS * TENORS), rng.uniform(0.5, 2, FX_RATES)))
    prices = start * np.exp(np.cumsum(returns, axis=0))
    history = FactorHistory(tuple(names), prices)

    where = [(t, f"M{m:02d}") for m in range(MARKETS) for t in range(TENORS)]
    where += [(0, "FX") for _ in range(FX_RATES)]
    today = prices[-1]
    linear_factor = rng.integers(0, len(names), LINEAR)
    quantity = rng.normal(0, 2_000, LINEAR)
    linear_exposure = quantity * today[linear_factor]  # quantity × price (reporting currency)
    option_market = rng.integers(0, MARKETS, OPTIONS)
    option_tenor = rng.integers(0, 12, OPTIONS)
    option_factor = option_market * TENORS + option_tenor
    forward = today[option_factor]
    options = OptionPositions(
        factor=option_factor,
        quantity=rng.normal(0, 1_000, OPTIONS),
        forward=forward,
        strike=forward * rng.uniform(0.8, 1.2, OPTIONS),
        volatility=rng.uniform(0.2, 0.9, OPTIONS),
        years=(option_tenor + rng.uniform(0.2, 0.9, OPTIONS)) / 12.0,
        rate=np.full(OPTIONS, 0.03),
        is_call=rng.random(OPTIONS) < 0.5,
    )
    factors = np.concatenate((linear_factor, option_factor))
    books = rng.integers(0, BOOKS, LINEAR + OPTIONS)
    portfolio = Portfolio(
        factor_names=tuple(names),
        linear_factor=linear_factor,
        linear_exposure=linear_exposure,
        options=options,
        labels={
            "book": tuple(f"BOOK-{b:02d}" for b in books),
            "market": tuple(where[f][1] for f in factors),
            "tenor": tuple(f"{where[f][0] + 1:02d}M" for f in factors),
        },
    )
    return history, portfolio, where


# --- Naive baselines --------------------------------------------------------------------------


def _black76(f: float, k: float, sigma: float, t: float, r: float, call: bool) -> float:
    """apps.trading.pricing.black76's formula in plain floats (no Decimal), one option."""
    df = math.exp(-r * t)
    sd = sigma * math.sqrt(t)
    d1 = (math.log(f / k) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    if call:
        return df * (f * _norm_cdf(d1) - k * _norm_cdf(d2))
    return df * (k * _norm_cdf(-d2) - f * _norm_cdf(-d1))


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


class NaiveBook:
    """The portfolio as Python lists: one entry per position, revalued one by one."""

    def __init__(self, portfolio: Portfolio) -> None:
        n_linear = portfolio.linear_factor.size
        labels = [portfolio.labels[name] for name in ("book", "market", "tenor")]
        self.linear = [
            (int(f), float(e), *(column[i] for column in labels))
            for i, (f, e) in enumerate(
                zip(portfolio.linear_factor, portfolio.linear_exposure, strict=True)
            )
        ]
        o = portfolio.options
        self.options = [
            (
                int(o.factor[j]),
                float(o.quantity[j]),
                float(o.forward[j]),
                float(o.strike[j]),
                float(o.volatility[j]),
                float(o.years[j]),
                float(o.rate[j]),
                bool(o.is_call[j]),
                *(column[n_linear + j] for column in labels),
            )
            for j in range(len(o))
        ]
        self.today = [_black76(*option[2:8]) for option in self.options]

    def scenario(self, moves: list[float]) -> dict[str, float]:
        """P&L per book, market and tenor (and the total) for one scenario's factor moves."""
        totals: dict[str, float] = defaultdict(float)
        for factor, exposure, book, market, tenor in self.linear:
            pnl = exposure * moves[factor]
            totals["total"] += pnl
            totals[book] += pnl
            totals[market] += pnl
            totals[tenor] += pnl
        for option, value_today in zip(self.options, self.today, strict=True):
            factor, quantity, forward, strike, vol, years, rate, call, book, market, tenor = option
            shocked = max(forward * (1.0 + moves[factor]), 1e-12)
            pnl = quantity * (_black76(shocked, strike, vol, years, rate, call) - value_today)
            totals["total"] += pnl
            totals[book] += pnl
            totals[market] += pnl
            totals[tenor] += pnl
        return totals


def naive_parametric_seconds(portfolio: Portfolio, covariance: np.ndarray, rows: int) -> float:
    """Σᵢ Σⱼ eᵢ·eⱼ·cov(fᵢ, fⱼ) over positions (options by delta), for `rows` values of i; scaled."""
    from apps.risk.engine.options import black76_delta

    o = portfolio.options
    deltas = (
        o.quantity
        * o.forward
        * black76_delta(o.forward, o.strike, o.volatility, o.years, o.rate, o.is_call)
    )
    positions = list(
        zip(portfolio.linear_factor.tolist(), portfolio.linear_exposure.tolist(), strict=True)
    ) + list(zip(o.factor.tolist(), deltas.tolist(), strict=True))
    cov = covariance.tolist()
    began = time.perf_counter()
    variance = 0.0
    for fi, ei in positions[:rows]:
        row = cov[fi]
        for fj, ej in positions:
            variance += ei * ej * row[fj]
    elapsed = time.perf_counter() - began
    return elapsed * len(positions) / rows


def naive_scenarios_seconds(
    book: NaiveBook, moves: np.ndarray, scenarios: int, total: int
) -> float:
    """The naive revaluation of `scenarios` rows of moves, scaled to `total` scenarios."""
    rows = moves[:scenarios].tolist()
    began = time.perf_counter()
    for row in rows:
        book.scenario(row)
    return (time.perf_counter() - began) * total / scenarios


def naive_monte_carlo_seconds(book: NaiveBook, root: np.ndarray, paths: int, total: int) -> float:
    """Per path: draw the normals, correlate them (numpy), revalue position by position."""
    rng = np.random.default_rng(1)
    began = time.perf_counter()
    for _ in range(paths):
        moves = (rng.standard_normal(root.shape[0]) @ root).tolist()
        book.scenario(moves)
    return (time.perf_counter() - began) * total / paths


# --- Timing helpers ---------------------------------------------------------------------------


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    work()  # warm
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def draw_floor(paths: int, normals: int, seed: int, threads: int) -> float:
    """Seconds to draw paths × normals standard normals in the Monte Carlo's chunks and
    generators (one PCG64 stream per chunk from the seed), on `threads` threads."""
    chunks = -(-paths // CHUNK_PATHS)
    seeds = np.random.SeedSequence(seed).spawn(chunks)
    buffers = [np.empty((CHUNK_PATHS, normals)) for _ in range(threads)]

    def run(first: int) -> None:
        for chunk in range(first, chunks, threads):
            rows = min(CHUNK_PATHS, paths - chunk * CHUNK_PATHS)
            rng = np.random.Generator(np.random.PCG64(seeds[chunk]))
            rng.standard_normal(out=buffers[first][:rows])

    began = time.perf_counter()
    if threads == 1:
        run(0)
    else:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, range(threads)))
    return time.perf_counter() - began


def machine_figures() -> tuple[float, float]:
    """This machine now: float64 matmul GFLOP/s (2,000²) and seconds for 10⁸ normals."""
    a = np.random.default_rng(0).standard_normal((2000, 2000))
    a @ a
    began = time.perf_counter()
    a @ a
    gflops = 2 * 2000**3 / (time.perf_counter() - began) / 1e9
    out = np.empty((10_000, 1_000))
    rng = np.random.default_rng(0)
    began = time.perf_counter()
    for _ in range(10):
        rng.standard_normal(out=out)
    return gflops, time.perf_counter() - began


def peak_memory_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


# --- The run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=100_000, help="Monte Carlo paths")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    started = time.perf_counter()
    random.seed(args.seed)

    gflops, normals_seconds = machine_figures()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"float64 matmul {gflops:.0f} GFLOP/s with {os.environ['OPENBLAS_NUM_THREADS']} BLAS "
        f"thread(s), 10^8 normals in {normals_seconds:.2f} s (the issue's reference: "
        "170 GFLOP/s, 1.1 s)"
    )
    history, portfolio, _ = synthetic(args.seed)
    print(
        f"book: {portfolio.size:,} positions ({len(portfolio.options):,} options) over "
        f"{len(portfolio.factor_names):,} factors, {history.days:,} days of history, "
        f"{BOOKS} books; VaR at {CONFIDENCE:.0%}, one day"
    )
    names = portfolio.factor_names
    summary: list[tuple[str, str, str, bool]] = []

    # Parametric -----------------------------------------------------------------------------
    def parametric_sample() -> object:
        return parametric_var(
            portfolio, sample_covariance(history, names, window=500), confidence=CONFIDENCE
        )

    def parametric_ewma() -> object:
        return parametric_var(
            portfolio, ewma_covariance(history, names, window=250), confidence=CONFIDENCE
        )

    sample_s = median_seconds(parametric_sample, args.repeat * 2)
    ewma_s = median_seconds(parametric_ewma, args.repeat * 2)
    full_covariance = sample_covariance(history, names, window=500).matrix
    naive_parametric = naive_parametric_seconds(portfolio, full_covariance, rows=100)
    parametric = parametric_sample()
    print("\nparametric delta-normal")
    print(f"   sample covariance (500 days) + VaR: {sample_s * 1e3:7.1f} ms   target < 50 ms")
    print(f"   EWMA covariance (250 days) + VaR:   {ewma_s * 1e3:7.1f} ms   target < 50 ms")
    print(
        f"   naive baseline (quadratic form position by position, 100 rows of 10,000 scaled): "
        f"{naive_parametric:.1f} s = {naive_parametric / sample_s:,.0f}× the engine"
    )
    print(f"   VaR {parametric.var:,.0f}  ES {parametric.es:,.0f}")
    slowest = max(sample_s, ewma_s)
    summary.append(("parametric", f"{slowest * 1e3:.1f} ms", "< 50 ms", slowest * 1e3 < 50))
    summary.append(
        (
            "parametric vs baseline",
            f"{naive_parametric / slowest:,.0f}×",
            ">= 50×",
            naive_parametric / slowest >= TARGET_SPEEDUP,
        )
    )

    # Historical ------------------------------------------------------------------------------
    def historical() -> object:
        return historical_var(portfolio, history, confidence=CONFIDENCE, window=500)

    historical_s = median_seconds(historical, args.repeat * 2)
    book = NaiveBook(portfolio)
    moves = history.relative_returns(names, window=500)
    naive_historical = naive_scenarios_seconds(book, moves, scenarios=20, total=500)
    hs = historical()
    print("\nhistorical simulation (500 days, options revalued in full)")
    print(f"   engine: {historical_s * 1e3:7.1f} ms   target < 200 ms")
    print(
        f"   naive baseline (20 of 500 scenarios, position by position, scaled): "
        f"{naive_historical:.2f} s = {naive_historical / historical_s:,.0f}× the engine"
    )
    print(f"   VaR {hs.var:,.0f}  ES {hs.es:,.0f}")
    summary.append(
        ("historical", f"{historical_s * 1e3:.1f} ms", "< 200 ms", historical_s * 1e3 < 200)
    )
    summary.append(
        (
            "historical vs baseline",
            f"{naive_historical / historical_s:,.0f}×",
            ">= 50×",
            naive_historical / historical_s >= TARGET_SPEEDUP,
        )
    )

    # Monte Carlo -----------------------------------------------------------------------------
    covariance = sample_covariance(history, names, window=DAYS - 1)
    normals = covariance.root(names).shape[0]

    def monte_carlo() -> object:
        return monte_carlo_var(
            portfolio,
            covariance,
            confidence=CONFIDENCE,
            paths=args.paths,
            seed=args.seed,
            chunk_paths=CHUNK_PATHS,
        )

    monte_carlo()  # warm
    mc_times, floor_times, floor2_times = [], [], []
    for _ in range(max(3, args.repeat // 2)):  # interleaved: load drift hits each alike
        floor_times.append(draw_floor(args.paths, normals, args.seed, threads=1))
        began = time.perf_counter()
        mc = monte_carlo()
        mc_times.append(time.perf_counter() - began)
        floor2_times.append(draw_floor(args.paths, normals, args.seed, threads=2))
    mc_s, floor_s, floor2_s = (statistics.median(t) for t in (mc_times, floor_times, floor2_times))
    naive_mc = naive_monte_carlo_seconds(book, covariance.root(names), paths=20, total=args.paths)
    print(f"\nMonte Carlo ({args.paths:,} paths × {normals} normals, options revalued in full)")
    print(f"   engine: {mc_s:.2f} s   target < 5 s")
    print(
        f"   floor, drawing the {args.paths * normals:,} normals: {floor_s:.2f} s on one thread "
        f"(numpy's default) → engine = {mc_s / floor_s:.2f}× the floor   target <= 3×"
    )
    print(
        f"   the same draw on two threads, as the engine runs its chunks: {floor2_s:.2f} s "
        f"→ engine = {mc_s / floor2_s:.2f}× that"
    )
    print(
        f"   naive baseline (20 paths, position by position, scaled): {naive_mc:,.0f} s = "
        f"{naive_mc / mc_s:,.0f}× the engine"
    )
    print(f"   VaR {mc.var:,.0f}  ES {mc.es:,.0f}")
    summary.append(("Monte Carlo", f"{mc_s:.2f} s", "< 5 s", mc_s < TARGET_MC_S))
    summary.append(
        (
            "Monte Carlo vs floor (1 thread)",
            f"{mc_s / floor_s:.2f}×",
            "<= 3×",
            mc_s / floor_s <= TARGET_FLOOR_RATIO,
        )
    )
    summary.append(
        (
            "Monte Carlo vs baseline",
            f"{naive_mc / mc_s:,.0f}×",
            ">= 50×",
            naive_mc / mc_s >= TARGET_SPEEDUP,
        )
    )
    memory = peak_memory_gib()
    summary.append(
        ("peak memory (RSS)", f"{memory:.2f} GiB", "< 4 GiB", memory < TARGET_MEMORY_GIB)
    )
    print()

    # Summary ---------------------------------------------------------------------------------
    width = max(len(row[0]) for row in summary)
    value_width = max(len(row[1]) for row in summary)
    print(f"{'figure':{width}}  {'value':{value_width}}  {'target':9}  result")
    for figure, value, target, met in summary:
        print(f"{figure:{width}}  {value:{value_width}}  {target:9}  {'PASS' if met else 'FAIL'}")
    print(f"whole run {time.perf_counter() - started:.0f} s")
    return 0 if all(row[3] for row in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
