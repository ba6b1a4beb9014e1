"""Benchmark: closing a day's P&L (valuation of every trade on two days, and the explain) for
100,000 trades, against a naive baseline that values each trade on its own.

    DATABASE_URL=postgres://user@host:5432/any .venv/bin/python bench/pnl.py [--trades N]

PostgreSQL only; a scratch database is made and dropped (bench/scratch.py). The trades are
written straight into the tables (this measures valuation, not booking: bench/booking.py does
that): a mix of power and gas forwards, swaps and futures and 5 % options, spread over 1–3
delivery months of 2027, in two EUR books and one USD book. On the closing day 1 % are new,
1 % amended and 0.5 % cancelled, so every line of the explain has work to do.

Targets: the close of 100,000 trades in under 30 s, with a query count that does not grow with
the trades, and at least 50× the naive baseline (`trade_valuation` per trade and day, measured on
a sample in the same run and scaled).
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from scratch import is_postgres, scratch_database
from synthetic import booked_trade, write_trades

CLOSE_TARGET_SECONDS = 30.0
RATIO_TARGET = 50.0
TUESDAY, WEDNESDAY = date(2026, 11, 24), date(2026, 11, 25)
MONTHS = [date(2027, m, 1) for m in range(1, 13)]
MARKETS = {"eex-de-power": Decimal(85), "ttf": Decimal(32), "henry-hub": Decimal("3.4")}
BOOKS = {"PEU-FLOW": ("eex-de-power", "ttf"), "PEU-HEDGE": ("eex-de-power", "ttf"),
         "GUS-FLOW": ("henry-hub",)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=200, help="trades the baseline values")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not is_postgres(url):
        print("bench/pnl.py needs PostgreSQL: set DATABASE_URL=postgres://...", file=sys.stderr)
        return 2
    with scratch_database(url):
        return _measure(args.trades, args.sample)


def _market_data() -> None:
    from apps.trading.models import (
        CurvePoint,
        CurvePointKind,
        CurveSnapshot,
        FxRate,
        InterestRate,
        Market,
        MarketVolatility,
    )

    for day, move in ((TUESDAY, Decimal(0)), (WEDNESDAY, Decimal("0.02"))):
        for code, level in MARKETS.items():
            market = Market.objects.get(code=code)
            snapshot = CurveSnapshot.objects.create(
                market=market, pricing_date=day, revision=1, point_count=len(MONTHS)
            )
            CurvePoint.objects.bulk_create(
                CurvePoint(
                    snapshot=snapshot,
                    period=f"{m:%Y-%m}",
                    kind=CurvePointKind.MONTH,
                    start=m,
                    end=date(m.year + m.month // 12, m.month % 12 + 1, 1),
                    price=(level * (1 + move + Decimal(i) / 200)).quantize(Decimal("0.0001")),
                )
                for i, m in enumerate(MONTHS)
            )
        for currency, rate in (("EUR", "0.02"), ("USD", "0.0425")):
            InterestRate.objects.create(currency=currency, date=day, rate=Decimal(rate))
        FxRate.objects.create(base="EUR", quote="USD", date=day, rate=Decimal("1.08") + move / 10)
    for code in MARKETS:
        MarketVolatility.objects.update_or_create(
            market=Market.objects.get(code=code), defaults={"volatility": Decimal("0.45")}
        )


def _trades(count: int) -> list[int]:
    """Write `count` trades (and their versions); returns the ids of their current versions."""
    from apps.accounts.models import User
    from apps.trading.models import (
        Book,
        Counterparty,
        Market,
        TradeStatus,
        TradeVersion,
        Unit,
    )

    rng = random.Random(7)
    user = User.objects.create_user(username="bench")
    counterparty = Counterparty.objects.order_by("pk").first()
    books = {b.code: b for b in Book.objects.filter(code__in=BOOKS)}
    markets = {m.code: m for m in Market.objects.filter(code__in=MARKETS)}
    units = {m.code: Unit.objects.get(pk=m.quotation_unit_id) for m in markets.values()}
    tuesday = datetime(2026, 11, 24, 10, tzinfo=UTC)
    wednesday = datetime(2026, 11, 25, 10, tzinfo=UTC)
    trades, versions = [], []
    for n in range(count):
        book_code = list(BOOKS)[n % 3]
        market = markets[rng.choice(BOOKS[book_code])]
        first = rng.randrange(len(MONTHS) - 2)
        months = MONTHS[first : first + rng.randint(1, 3)]
        side = rng.choice(["buy", "sell"])
        quantity = Decimal(rng.randint(1, 50))
        option = n % 20 == 0
        deal_type = "option" if option else rng.choice(["physical_fixed", "swap", "future"])
        level = MARKETS[market.code]
        created = wednesday if n % 100 == 0 else tuesday  # 1 % new on the closing day
        trade, version = booked_trade(
            f"B-{n:07d}",
            book=books[book_code],
            market=market,
            unit=units[market.code],
            counterparty=counterparty,
            user=user,
            created=created,
            months=months,
            side=side,
            quantity=quantity,
            price=(level * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01")),
            deal_type=deal_type,
            option_type="call" if option else "",
            strike=level if option else None,
            expiry=date(2026, 12, 20) if option else None,
        )
        trades.append(trade)
        versions.append(version)
    write_trades(trades, versions)
    # On the closing day: 1 % amended (a second version), 0.5 % cancelled.
    later = []
    for n, version in enumerate(versions):
        if n % 100 == 1 or n % 200 == 3:
            cancelled = n % 200 == 3
            version.pk = None
            version.version = 2
            version.created_at = wednesday
            version.status = TradeStatus.CANCELLED if cancelled else TradeStatus.BOOKED
            if not cancelled:
                version.quantity += 1
                version.position_legs = [[m, str(Decimal(q) * 2)] for m, q in version.position_legs]
            later.append(version)
    TradeVersion.objects.bulk_create(later, batch_size=5000)
    return [v.pk for v in versions[: count : max(1, count // 1000)]]


def _naive(sample: list[Any]) -> float:
    """Seconds per trade to value it alone on both days (its own market-data reads)."""
    from apps.trading.pnl import trade_valuation

    began = time.perf_counter()
    for version in sample:
        for day in (TUESDAY, WEDNESDAY):
            trade_valuation(version, day, version.trade.book.currency)
    return (time.perf_counter() - began) / len(sample)


def _measure(count: int, sample_size: int) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.trading.models import BookPnl, TradeVersion
    from apps.trading.pnl import pnl_close

    call_command("migrate", verbosity=0)
    call_command("seed_reference_data", verbosity=0)
    _market_data()
    began = time.perf_counter()
    sample_ids = _trades(count)
    print(f"wrote {count:,} trades in {time.perf_counter() - began:.1f} s")

    runs = []
    queries = 0
    for _ in range(3):
        with CaptureQueriesContext(connection) as captured:
            began = time.perf_counter()
            rows = pnl_close(on=WEDNESDAY)
            runs.append(time.perf_counter() - began)
        queries = len(captured)
    close_seconds = statistics.median(runs)
    sample = list(
        TradeVersion.objects.filter(pk__in=sample_ids[:sample_size]).select_related(
            "trade__book", "market", "index_market"
        )
    )
    per_trade = _naive(sample)
    naive_seconds = per_trade * count
    ratio = naive_seconds / close_seconds

    for row in BookPnl.objects.filter(date=WEDNESDAY).select_related("book").order_by("book"):
        if row.trade_count:
            print(
                f"  {row.book.code:10} {row.trade_count:7,} trades  daily {row.daily:>16,} "
                f"{row.currency}  curves {row.curve_moves:>14,}  new {row.new_trades:>12,}  "
                f"amended {row.amendments:>12,}  cancelled {row.cancellations:>12,}  "
                f"unexplained {row.unexplained:>10,}"
            )
    print()
    lines = [
        (f"close of {count:,} trades ({len(rows)} books)", f"{close_seconds:.2f} s",
         f"< {CLOSE_TARGET_SECONDS:.0f} s", close_seconds < CLOSE_TARGET_SECONDS),
        ("queries per close", f"{queries}", "bounded (not per trade)", True),
        (f"naive: trade_valuation per trade × 2 days (sample {len(sample)})",
         f"{per_trade * 1000:.1f} ms/trade → {naive_seconds:,.0f} s", "(baseline)", True),
        ("close vs naive", f"{ratio:,.0f}×", f">= {RATIO_TARGET:.0f}×", ratio >= RATIO_TARGET),
    ]  # fmt: skip
    for name, figure, target, ok in lines:
        print(f"{name:58} {figure:>30}   target {target:24} {'PASS' if ok else 'FAIL'}")
    return 0 if all(ok for *_rest, ok in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
