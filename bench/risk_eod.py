"""Benchmark: a full end-of-day risk run of 100,000 trades through Celery on PostgreSQL.

    DATABASE_URL=postgres://user@host:5432/any .venv/bin/python bench/risk_eod.py [--trades N]

PostgreSQL only; a scratch database is made and dropped (bench/scratch.py). The trades are
written straight into the tables (this measures the risk run, not booking: bench/booking.py
does that): power, gas and crude forwards, swaps and futures over 1–3 delivery months between
two and twenty months ahead, 5 % options, in two EUR books and two USD books of three desks,
with five counterparties under netting agreements. The market data is a synthetic 300-day
history of 24 monthly points per market (a random walk), EUR/USD, discount rates and option
volatilities; limits of every kind are in force, the seeded stress scenarios active.

The run goes through a real Celery worker (a subprocess, `-Q risk`, BLAS single-threaded with
OPENBLAS_NUM_THREADS=1 as a risk worker must run) and the broker of CELERY_BROKER_URL, or
redis://127.0.0.1:6379/12 by default: the time is from enqueuing the end-of-day task to the run
finished in the database, every method (historical, parametric, Monte Carlo with 10,000 paths
at three confidences), stress, credit exposure with PFE, backtests and limit checks included.
The target is for a run through Celery: without a reachable broker the benchmark stops before
the set-up, and it fails unless the worker's log shows it performed the run.

Target (issue 6): under 60 s.
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from scratch import BASE_DIR, is_postgres, scratch_database, with_database
from synthetic import booked_trade, write_trades

TARGET_SECONDS = 60.0
HISTORY_DAYS = 300
TENORS = 24
WORKER_READY_SECONDS = 60
MARKETS = {  # code: (level, daily volatility)
    "eex-de-power": (85.0, 0.025),
    "ttf": (32.0, 0.03),
    "henry-hub": (3.4, 0.035),
    "ice-brent": (75.0, 0.02),
}
BOOKS = {
    "PEU-FLOW": ("eex-de-power", "ttf"),
    "PEU-HEDGE": ("eex-de-power", "ttf"),
    "GUS-FLOW": ("henry-hub",),
    "CME-PAPER": ("ice-brent",),
}
COUNTERPARTIES = ("NORDWIND", "GULFSTAR", "PRAIRIE", "MERIDIAN", "ALBION")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=100_000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        print(
            "bench/risk_eod.py needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr
        )
        return 2
    broker = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/12"
    if not _broker_reachable(broker):
        # An in-process run would measure something else: the target is for Celery.
        print(f"bench/risk_eod.py needs a reachable Celery broker ({broker})", file=sys.stderr)
        return 2
    os.environ.pop("CELERY_BROKER_URL", None)  # this process stays eager: set-up only
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with scratch_database(url) as name:
        return _measure(args.trades, broker, with_database(url, name))


def _business_days(count: int, last: date) -> list[date]:
    days, day = [], last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _market_data(today: date) -> None:
    """300 business days of curves (M1..M24, a random walk per market), EUR/USD, rates and
    option volatilities."""
    import numpy as np

    from apps.trading.models import (
        CurvePoint,
        CurvePointKind,
        CurveSnapshot,
        FxRate,
        InterestRate,
        Market,
        MarketVolatility,
    )

    days = _business_days(HISTORY_DAYS, today)
    rng = np.random.default_rng(11)
    for code, (level, volatility) in MARKETS.items():
        market = Market.objects.get(code=code)
        walk = level * np.exp(np.cumsum(rng.normal(0, volatility, len(days))))
        snapshots = CurveSnapshot.objects.bulk_create(
            [
                CurveSnapshot(market=market, pricing_date=d, revision=1, point_count=TENORS)
                for d in days
            ]
        )
        points = []
        for i, (day, snapshot) in enumerate(zip(days, snapshots, strict=True)):
            for k in range(1, TENORS + 1):
                month = _add_months(day, k)
                price = walk[i] * (1 + 0.003 * k)
                points.append(
                    CurvePoint(
                        snapshot=snapshot,
                        period=f"{month:%Y-%m}",
                        kind=CurvePointKind.MONTH,
                        start=month,
                        end=_add_months(month, 1),
                        price=Decimal(f"{price:.3f}"),
                    )
                )
        CurvePoint.objects.bulk_create(points, batch_size=5000)
        MarketVolatility.objects.update_or_create(
            market=market, defaults={"volatility": Decimal("0.45")}
        )
    fx = 1.10 * np.exp(np.cumsum(rng.normal(0, 0.004, len(days))))
    FxRate.objects.bulk_create(
        [
            FxRate(base="EUR", quote="USD", date=d, rate=Decimal(f"{r:.6f}"))
            for d, r in zip(days, fx, strict=True)
        ]
    )
    InterestRate.objects.bulk_create(
        [
            InterestRate(currency=c, date=d, rate=Decimal(r))
            for d in days[-30:]
            for c, r in (("EUR", "0.025"), ("USD", "0.04"))
        ]
    )


def _trades(count: int, today: date) -> None:
    """`count` booked trades (one version each), created yesterday, netting agreements for
    every counterparty with each book's legal entity, and trading's positions rebuilt."""
    from apps.accounts.models import User
    from apps.trading.models import (
        AgreementKind,
        Book,
        Counterparty,
        Market,
        MasterAgreement,
        Unit,
    )
    from apps.trading.positions import positions_rebuild

    rng = random.Random(7)
    user = User.objects.create_user(username="bench")
    books = {b.code: b for b in Book.objects.select_related("desk").filter(code__in=BOOKS)}
    markets = {m.code: m for m in Market.objects.filter(code__in=MARKETS)}
    units = {m.code: Unit.objects.get(pk=m.quotation_unit_id) for m in markets.values()}
    counterparties = list(Counterparty.objects.filter(short_code__in=COUNTERPARTIES))
    for counterparty in counterparties:
        for entity_id in {b.legal_entity_id for b in books.values()}:
            MasterAgreement.objects.update_or_create(
                counterparty=counterparty,
                legal_entity_id=entity_id,
                kind=AgreementKind.ISDA,
                defaults={"signed_on": date(2024, 1, 2), "netting": True},
            )
    created = datetime.combine(today - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    trades, versions = [], []
    codes = list(BOOKS)
    for n in range(count):
        book = books[codes[n % len(codes)]]
        market = markets[rng.choice(BOOKS[book.code])]
        first = rng.randrange(2, 18)
        months = [_add_months(today, first + i) for i in range(rng.randint(1, 3))]
        side = rng.choice(["buy", "sell"])
        quantity = Decimal(rng.randint(1, 50))
        option = n % 20 == 0
        deal_type = "option" if option else rng.choice(["physical_fixed", "swap", "future"])
        level = Decimal(str(MARKETS[market.code][0]))
        counterparty = counterparties[n % len(counterparties)]
        # Drawn in this order (price, option type, strike) so the synthetic book stays the same.
        price = (level * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01"))
        option_type = rng.choice(["call", "put"]) if option else ""
        # A handful of strikes and expiries, as a desk's options have.
        strike = (level * Decimal(rng.choice(["0.9", "1", "1.1"]))) if option else None
        trade, version = booked_trade(
            f"R-{n:07d}",
            book=book,
            market=market,
            unit=units[market.code],
            counterparty=counterparty,
            user=user,
            created=created,
            months=months,
            side=side,
            quantity=quantity,
            price=price,
            deal_type=deal_type,
            option_type=option_type,
            strike=strike,
            expiry=months[0] - timedelta(days=5) if option else None,
        )
        trades.append(trade)
        versions.append(version)
    write_trades(trades, versions)
    positions_rebuild()


def _closes(today: date) -> None:
    """Sixty days of P&L closes per book (random): stop-loss limits measure the change since
    the latest, and the backtest's P&L figures read them."""
    from apps.trading.models import Book, BookPnl

    rng = random.Random(3)
    zero = Decimal(0)
    rows = []
    for book in Book.objects.filter(code__in=BOOKS):
        for day in _business_days(60, today - timedelta(days=1)):
            rows.append(
                BookPnl(
                    book=book, date=day, prior_date=day - timedelta(days=1),
                    currency=book.currency, realised=zero, unrealised=zero,
                    daily=Decimal(rng.randint(-500_000, 500_000)), daily_realised=zero,
                    time_roll=zero, curve_moves=zero, fx=zero, new_trades=zero,
                    amendments=zero, cancellations=zero, unexplained=zero,
                    trade_count=0, computed_at=datetime.now(UTC),
                )
            )  # fmt: skip
    BookPnl.objects.bulk_create(rows)


def _limits() -> None:
    """Limits of every kind on every desk, in force (maker-checker through the services)."""
    from apps.accounts.models import Desk, Role, User
    from apps.accounts.services import role_groups_ensure
    from apps.risk.models import LimitKind
    from apps.risk.services import limit_propose, limit_version_approve
    from apps.trading.models import Market, Unit

    group = role_groups_ensure()[Role.RISK_MANAGER]
    desks = list(Desk.objects.filter(books__code__in=BOOKS).distinct())
    maker, checker = (User.objects.create_user(username=n) for n in ("bench_risk", "bench_risk2"))
    for user in (maker, checker):
        user.groups.add(group)
        user.desks.set(desks)
    for desk in desks:
        for kind, extra, amount in (
            (LimitKind.VAR, {"method": "historical", "confidence": "0.99"}, "5000000"),
            (LimitKind.VAR, {"method": "monte_carlo", "confidence": "0.975"}, "5000000"),
            (LimitKind.STOP_LOSS, {}, "2000000"),
        ):
            version = limit_propose(user=maker, kind=kind, desk=desk, amount=amount, **extra)
            limit_version_approve(user=checker, version=version)
    desk = Desk.objects.get(books__code="PEU-FLOW")
    version = limit_propose(
        user=maker,
        kind=LimitKind.VOLUME,
        desk=desk,
        market=Market.objects.get(code="eex-de-power"),
        period_code=f"CAL-{datetime.now(UTC).year + 1}",
        unit=Unit.objects.get(code="MWh"),
        amount="50000000",
    )
    limit_version_approve(user=checker, version=version)


def _start_worker(broker: str, database_url: str, log: Path) -> subprocess.Popen | None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "qenergyz.settings",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker,
        "OPENBLAS_NUM_THREADS": "1",  # the risk worker's BLAS: single-threaded
        "DB_CONN_MAX_AGE": "0",
    }
    sink = log.open("wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "qenergyz", "worker", "-Q", "risk",
            "--pool", "solo", "--concurrency", "1", "--without-gossip", "--without-mingle",
            "--without-heartbeat", "-n", f"qz-bench-risk-{os.getpid()}@%h", "--loglevel", "INFO",
        ],
        cwd=BASE_DIR, env=env, stdout=sink, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + WORKER_READY_SECONDS
    while time.monotonic() < deadline:
        if " ready." in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.terminate()
    print("the Celery worker did not start:\n" + log.read_text(errors="replace")[-2000:])
    return None


def _broker_reachable(broker: str) -> bool:
    try:
        from kombu import Connection

        with Connection(broker, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:
        return False


def _measure(count: int, broker: str, database_url: str) -> int:
    from django.core.management import call_command
    from django.db import connections
    from django.utils import timezone

    from apps.risk.models import (
        Alert,
        CreditExposureResult,
        LimitCheck,
        RiskFigure,
        RiskRun,
        RunKind,
        StressOutcome,
    )

    call_command("migrate", verbosity=0)
    call_command("seed_reference_data", verbosity=0)
    today = timezone.now().date()
    began = time.perf_counter()
    _market_data(today)
    _trades(count, today)
    _closes(today)
    _limits()
    print(
        f"set-up: {count:,} trades, {HISTORY_DAYS} days of curves in "
        f"{time.perf_counter() - began:.1f} s"
    )
    connections.close_all()

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "worker.log"
        worker = _start_worker(broker, database_url, log)
        if worker is None:
            return 1
        try:
            from qenergyz.celery import app

            began = time.perf_counter()
            app.conf.task_always_eager = False
            app.conf.broker_url = broker
            app.send_task("apps.risk.tasks.risk_run_end_of_day", queue="risk")
            run = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and worker.poll() is None:
                run = RiskRun.objects.filter(kind=RunKind.END_OF_DAY).first()
                if run is not None and run.finished:
                    break
                time.sleep(0.1)
            seconds = time.perf_counter() - began
            run = RiskRun.objects.filter(kind=RunKind.END_OF_DAY).first()
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        # The proof that the worker performed this run: its log line for the run's task.
        through_worker = run is not None and (
            f"'run': {run.pk}, 'status': '{run.status}', 'kind': 'eod'"
            in log.read_text(errors="replace")
        )
    mode = f"Celery worker (-Q risk, solo pool, OPENBLAS_NUM_THREADS=1), broker {broker}"
    if run is None or not run.finished:
        print("the run did not finish")
        return 1
    print(f"mode: {mode}")
    print(
        f"run #{run.pk}: {run.status}{(' (' + run.error + ')') if run.error else ''}; "
        f"{run.trade_count:,} trades → {run.position_count:,} positions on {run.factor_count} "
        f"factors; market data of {run.market_data_date}"
    )
    print(
        f"  stored: {RiskFigure.objects.filter(run=run).count():,} VaR/ES figures, "
        f"{StressOutcome.objects.filter(run=run).count()} stress results, "
        f"{CreditExposureResult.objects.filter(run=run).count()} netting sets, "
        f"{LimitCheck.objects.filter(run=run).count()} limit checks, "
        f"{Alert.objects.filter(run=run).count()} alerts"
    )
    print("  seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in run.timings.items()))
    for problem in run.problems:
        print(f"  problem: {problem}")
    inside = run.seconds or 0.0
    if not through_worker:
        print("the worker's log does not show this run: not a measurement through Celery")
    ok = through_worker and seconds < TARGET_SECONDS and run.status == "succeeded"
    print()
    print(
        f"{'end-of-day run of ' + format(count, ',') + ' trades, enqueue to stored':58} "
        f"{seconds:>10.2f} s   target < {TARGET_SECONDS:.0f} s   {'PASS' if ok else 'FAIL'}"
    )
    print(f"{'  of which in the worker (started → finished)':58} {inside:>10.2f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
