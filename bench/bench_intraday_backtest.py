"""Benchmark the intraday backtest and calibration on weeks of stored stream minutes, and one live
evaluation at the end of a full day.

Not a test. Run ``python bench/bench_intraday_backtest.py [--days 21] [--batches 2]``.

A store gets ``--days`` days of ``stream_minute`` rows for four assets on three venues, every
minute of every day, ``--batches`` rows per venue, asset and minute (as that many batches of the
minute would store), log-normal USD with now and then a burst. Printed, from the same run:

* ``load``: :func:`reporting.checks.intraday_history.load_stream_history`, the one grouped query
  (minute sums per venue, asset and minute) and its reading into arrays;
* ``replay``: the same backtest given the loaded history (the replay alone);
* ``backtest``: :func:`reporting.checks.intraday_history.intraday_backtest` of four intraday
  limits (velocity_usd_15m and velocity_count_5m per venue, imbalance_60m per venue,
  exposure_usd_day per asset) on every scope, every minute's end evaluated, load included;
* ``calibrate``: :func:`reporting.checks.calibrate.propose_intraday` of the same four tables
  (2000 bootstrap resamples per scope), load included;
* ``live``: :func:`reporting.checks.intraday.evaluate_batch` of the four limits for a batch at
  23:59 of the last day (the exposure window a full day of minutes), median of 20, rolled back.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session

from audit_store.bulk import insert_rows
from audit_store.db import Store
from audit_store.tables_streams import StreamMinute
from reporting.checks.calibrate import propose_intraday
from reporting.checks.intraday import evaluate_batch
from reporting.checks.intraday_history import (
    intraday_backtest,
    lead_minutes,
    load_stream_history,
)
from reporting.checks.limits import LimitSet
from reporting.checks.store import limit_set_sha256
from reporting.config import load_settings
from reporting.fetch.streams.venues import stream_specs
from reporting.fetch.streams.writer import CommittedBatch, PendingBatch, store_batch
from tests.ws_venues import binance_frame

START = date(2025, 9, 1)
ASSETS = {"BTC": 40_000.0, "ETH": 25_000.0, "SOL": 8_000.0, "XRP": 4_000.0}
VENUES = ("binance", "bybit", "okx")
TABLES = {
    "velocity_usd_15m": {"warn": 2_000_000, "breach": 4_000_000},
    "velocity_count_5m": {"warn": 200, "breach": 400},
    "imbalance_60m": {"warn": 85, "breach": 95, "min_usd": 500_000},
    "exposure_usd_day": {"per": "asset", "warn": 150_000_000, "breach": 300_000_000},
}
COLUMNS = ("snapshot_id", "venue", "asset", "minute", "long_usd", "short_usd", "long_count",
           "short_count")  # fmt: skip


def build(store: Store, days: int, batches: int) -> int:
    """Fill ``store``; returns the snapshot id the rows name (one real stored batch)."""
    settings = load_settings(env={})
    spec = stream_specs(settings, ("binance",))[0]
    at = datetime.combine(START, datetime.min.time(), UTC) - timedelta(minutes=5)
    frame = binance_frame("ETHUSDT", "SELL", "1", "1", int(at.timestamp() * 1000))
    batch = PendingBatch(spec.stream, spec.kind, spec.url, dict(spec.params),
                         [(at, "c1", frame.encode())])  # fmt: skip
    snapshot = store_batch(store, batch, config_hash="bench").snapshot_id
    rng = np.random.default_rng(1)
    table = StreamMinute.__table__  # type: ignore[attr-defined]
    first = datetime.combine(START, datetime.min.time(), UTC)
    for d in range(days):
        rows = []
        for m in range(1440):
            minute = first + timedelta(days=d, minutes=m)
            for venue in VENUES:
                for asset, mean in ASSETS.items():
                    burst = 30.0 if rng.random() < 0.0005 else 1.0
                    for _ in range(batches):
                        usd = mean * burst * float(rng.lognormal(0.0, 1.0)) / batches
                        long_share = float(rng.uniform(0.2, 0.8))
                        n = max(1, int(usd / 5_000))
                        rows.append((snapshot, venue, asset, minute, usd * long_share,
                                     usd * (1 - long_share), n // 2, n - n // 2))  # fmt: skip
        with store.session() as session:
            insert_rows(session, table, COLUMNS, rows)
    return snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--batches", type=int, default=2)
    args = parser.parse_args()
    base = load_settings(env={})
    limits = LimitSet.model_validate({**base.limits.model_dump(mode="json"), **TABLES})
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.create_schema()
        started = time.perf_counter()
        snapshot = build(store, args.days, args.batches)
        rows = args.days * 1440 * len(VENUES) * len(ASSETS) * args.batches
        print(f"store: {rows:,} stream_minute rows ({args.days} days, {len(VENUES)} venues, "
              f"{len(ASSETS)} assets, {args.batches} per minute), built in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        end = START + timedelta(days=args.days - 1)
        started = time.perf_counter()
        history = load_stream_history(store, START, end, lead_minutes(limits))
        print(f"load:      {time.perf_counter() - started:6.2f} s")
        started = time.perf_counter()
        intraday_backtest(store, limits, START, end, base.jurisdiction, history=history)
        print(f"replay:    {time.perf_counter() - started:6.2f} s  (the history loaded)")
        started = time.perf_counter()
        tallies = intraday_backtest(store, limits, START, end, base.jurisdiction)
        seconds = time.perf_counter() - started
        episodes = sum(len(t.episodes) for t in tallies)
        evaluated = sum(t.minutes for t in tallies)
        print(f"backtest:  {seconds:6.2f} s  ({len(tallies)} limit scopes, {evaluated:,} minute "
              f"ends evaluated, {episodes} episodes)")  # fmt: skip
        started = time.perf_counter()
        proposals = propose_intraday(store, limits, sorted(TABLES), START, end, base.jurisdiction)
        print(f"calibrate: {time.perf_counter() - started:6.2f} s  ({len(proposals)} proposals)")
        del history
        last = datetime.combine(end, datetime.min.time(), UTC) + timedelta(minutes=1439)
        committed = CommittedBatch(snapshot, 0, "binance", {a: (last,) for a in ASSETS}, last)
        jurisdictions = {c: e.jurisdiction for c, e in base.exchanges.items()}
        sha = limit_set_sha256(limits)
        times = []
        for _ in range(20):
            with Session(store.engine) as session:
                started = time.perf_counter()
                evaluate_batch(session, limits, jurisdictions, committed,
                               limit_set_sha256=sha, now=last)  # fmt: skip
                times.append(time.perf_counter() - started)
                session.rollback()
        print(f"live:      {1000 * statistics.median(times):6.1f} ms  (one batch at 23:59, four "
              f"limits on {len(ASSETS)} assets, median of 20)")  # fmt: skip
        store.dispose()


if __name__ == "__main__":
    main()
