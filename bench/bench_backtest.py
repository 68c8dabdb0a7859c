"""Benchmark ``liqrisk limits backtest`` on a year of hourly history against loading the same rows.

Not a test. Run ``python bench/bench_backtest.py [--days 365] [--url URL]``.

A year of synthetic hourly liquidations for five assets on six exchanges (a total row and one row
per exchange each hour, Kaiko pages of 100 hours, stored through the real snapshot and derive path)
is replayed against the packaged limit set. Printed, from the same run:

* ``baseline``: fetching the rows the backtest rests on, as the driver's plain tuples (the least
  any replay must do); :func:`reporting.checks.metrics.load_period` (the same query, with current
  values chosen and the period assembled) is timed beside it for scale;
* ``backtest``: :func:`reporting.checks.backtest.backtest` over the same year, which loads the rows
  once, cuts them into days, and measures and grades every check on every scope of every day;
* ``calibrate``: :func:`reporting.checks.calibrate.calibrate` (p99 with 2000 bootstrap resamples,
  and the Weibull cluster fits), for scale.

The target is a year of five assets under every limit in under 2 s (issue #15; it took about 6 s
before). The baseline is printed beside it because this machine's speed drifts: the ratio to it
says how much more than reading the rows the backtest does. Where the time goes: about half in
the driver's read of 300,000 rows (``audit_store.bulk.driver_rows``, no SQLAlchemy row objects),
a quarter in picking each interval's current version and cutting days, a quarter in the checks
(``reporting.checks.backtest.statuses``: measured as a daily run measures, graded without
messages).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select
from sqlmodel import col

from audit_store.bulk import driver_rows
from audit_store.db import Store
from audit_store.models import IntervalVolume, Snapshot
from audit_store.snapshots import RawResponse, append_interval_values, append_snapshot, new_snapshot
from reporting.checks.backtest import backtest, history_by_day
from reporting.checks.calibrate import calibrate
from reporting.checks.metrics import day_bounds, load_period
from reporting.config import Settings, load_settings
from reporting.fetch.derivers import derive_snapshot
from reporting.fetch.sources.kaiko.format import KIND

START = date(2024, 1, 1)
ASSETS = {
    "btc": 2_500_000.0,
    "eth": 1_800_000.0,
    "sol": 600_000.0,
    "xrp": 300_000.0,
    "doge": 200_000.0,
}
EXCHANGES = {"binc": 0.38, "bbit": 0.27, "okex": 0.18, "hbdm": 0.07, "drbt": 0.06, "bmex": 0.04}
PAGE_HOURS = 100


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _datum(moment: datetime, mean_usd: float, rng: random.Random) -> dict[str, Any]:
    """One Kaiko data element: a log-normal hour, now and then a burst, split over exchanges."""
    scale = mean_usd * math.exp(rng.gauss(0.0, 0.8)) * (12.0 if rng.random() < 0.004 else 1.0)
    rows: list[dict[str, Any]] = []
    for code, share in EXCHANGES.items():
        usd = round(scale * share * math.exp(rng.gauss(0.0, 0.3)), 2)
        long_usd = round(usd * rng.uniform(0.3, 0.8), 2)
        short_usd = round(usd - long_usd, 2)
        lt, st = max(1, int(long_usd / 20_000)), max(1, int(short_usd / 20_000))
        rows.append(
            {
                "exchange": code,
                "long_amount": long_usd,
                "long_trades": lt,
                "short_amount": short_usd,
                "short_trades": st,
                "total_amount": round(long_usd + short_usd, 2),
                "total_trades": lt + st,
            }
        )
    long_usd = sum(float(r["long_amount"]) for r in rows)
    short_usd = sum(float(r["short_amount"]) for r in rows)
    return {
        "exchanges": rows,
        "interval_time": _iso(moment),
        "interval_timestamp": int(moment.timestamp()) * 1_000_000_000,
        "long_amount": long_usd,
        "long_trades": sum(r["long_trades"] for r in rows),
        "short_amount": short_usd,
        "short_trades": sum(r["short_trades"] for r in rows),
        "total_amount": long_usd + short_usd,
        "total_trades": sum(r["total_trades"] for r in rows),
    }


def fill(store: Store, days: int, seed: int = 20240101) -> int:
    """Store ``days`` of hourly pages for every asset; returns the number of interval rows."""
    rng = random.Random(seed)
    start, _ = day_bounds(START)
    hours = days * 24
    rows = 0
    for asset, mean in ASSETS.items():
        for first in range(0, hours, PAGE_HOURS):
            moments = [
                start + timedelta(hours=h) for h in range(first, min(hours, first + PAGE_HOURS))
            ]
            body = json.dumps(
                {
                    "query": {"interval": "1h", "token": asset},
                    "data": [_datum(m, mean, rng) for m in moments],
                }
            ).encode()
            raw = RawResponse(
                source="demo",
                kind=KIND,
                url=f"https://demo.invalid/v2/data/liquidation.v1/token/{asset}",
                params={"interval": "1h", "start_time": _iso(moments[0])},
                fetched_at=moments[-1] + timedelta(hours=2),
                http_status=200,
                body=body,
            )
            with store.session() as session:
                snapshot = new_snapshot(raw, software_version="bench", config_hash="bench")
                derivation = derive_snapshot(snapshot)
                assert derivation.quarantine_reason is None, derivation.quarantine_reason
                append_snapshot(session, snapshot)
                append_interval_values(session, snapshot, derivation.values)
                rows += len(derivation.values)
    return rows


def _timed(label: str, fn: Any) -> tuple[float, Any]:
    begin = time.perf_counter()
    out = fn()
    took = time.perf_counter() - begin
    print(f"{label:28} {took:7.2f} s")
    return took, out


def load_rows(store: Store, start: datetime, end: datetime) -> int:
    """The baseline: fetch the rows a replay rests on (every figure of every interval row, and
    the leaf it came in), as plain tuples, and nothing else."""
    iv = IntervalVolume
    stmt = (
        select(
            col(iv.asset),
            col(iv.exchange),
            col(iv.interval_start),
            col(iv.long_count),
            col(iv.short_count),
            col(iv.total_count),
            col(iv.long_usd),
            col(iv.short_usd),
            col(iv.total_usd),
            col(Snapshot.leaf_index),
        )
        .join(Snapshot, col(Snapshot.id) == col(iv.snapshot_id))
        .where(
            col(iv.source) == "demo", col(iv.interval_start) >= start, col(iv.interval_start) < end
        )
    )
    with store.read_session() as session:
        return len(driver_rows(session, stmt))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings: Settings = load_settings(env={"LIQRISK_DATABASE_URL": url})
        store = Store(url)
        store.create_schema()
        begin = time.perf_counter()
        rows = fill(store, args.days)
        print(
            f"stored {rows:,} interval rows ({len(ASSETS)} assets, {len(EXCHANGES)} exchanges and "
            f"the totals, {args.days} days) in {time.perf_counter() - begin:.1f} s"
        )
        end = START + timedelta(days=args.days - 1)
        first, _ = day_bounds(START)
        _, last = day_bounds(end)
        base, fetched = _timed("baseline: fetch the rows", lambda: load_rows(store, first, last))
        assert fetched == rows
        _timed(
            "load_period, for scale",
            lambda: load_period(
                store, source="demo", assets=settings.fetch.assets, start=first, end=last
            ),
        )
        _timed("history_by_day", lambda: history_by_day(store, settings, START, end))
        took, result = _timed(
            "backtest (load + every check)",
            lambda: backtest(store, settings, settings.limits, START, end),
        )
        cal, _ = _timed(
            "calibrate (p99, 2000 resamples)", lambda: calibrate(store, settings, START, end)
        )
        graded = sum(
            t.ok_days + len(t.warn_days) + len(t.breach_days) + len(t.error_days)
            for t in result.tallies
        )
        breaches = sum(len(t.breach_days) for t in result.tallies)
        print(
            f"backtest: {graded:,} results over {len(result.tallies)} limits ({breaches} breach "
            f"days); {took / base:.1f}x the baseline, {1000 * took / args.days:.1f} ms per day"
        )
        verdict = ("OK" if took < 2.0 else "over target") if args.days == 365 else "for 365 days"
        print(f"backtest of {args.days} days: {took:.2f} s (target < 2 s: {verdict})")
        print(f"calibrate: {cal / base:.1f}x the baseline")
        store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
