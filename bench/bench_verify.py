"""Benchmark ``verify_store`` on a year of hourly data against a plain read of the same bodies.

Not a test. Run ``python bench/bench_verify.py [--url URL] [--scenario pages|small|both]``.

Two shapes of one year of hourly liquidations for three assets, each hour one total row plus one
row per exchange (Kaiko-like, ``--exchanges`` of them):

* ``pages``: Kaiko pages of 100 hourly data points, about 88 pages per asset-year;
* ``small``: one snapshot per asset-hour (26 280 snapshots), the worst case for per-leaf costs.

The baseline reads the same raw bodies back in leaf order, SHA-256s and JSON-parses them: the
least any verifier must do. ``verify`` also recomputes leaves, the tree, checkpoint signatures and
proofs, re-derives every row and compares it with the stored one. The ratio printed is
verify / baseline (target: within 3x); the deriver's own share is printed too, because it belongs
to the formats (injected), not to the store.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit_store.checkpoint import sign_checkpoint
from audit_store.db import Store
from audit_store.note import NoteSigner
from audit_store.snapshots import (
    RawResponse,
    SnapshotRecord,
    append_interval_rows,
    append_snapshot,
    new_snapshot,
)
from audit_store.verify import verify_store

ORIGIN = "bench.example/audit-log"
START = datetime(2024, 1, 1, tzinfo=UTC)
HOURS = 24 * 365
ASSETS = ("btc", "eth", "sol")
EXCHANGES = ("binc", "okex", "bbit", "bfnx", "drbt", "huob", "krkn", "gate")


def _amounts(seed: int) -> tuple[int, int, float, float]:
    return (
        seed % 17,
        (seed * 7) % 13,
        round((seed % 1009) * 137.25, 2),
        round((seed % 883) * 91.5, 2),
    )


def body(asset: str, first_hour: int, hours: int, exchanges: int) -> bytes:
    data = []
    for h in range(first_hour, first_hour + hours):
        start = START + timedelta(hours=h)
        per_exchange: list[dict[str, Any]] = []
        for i, code in enumerate(EXCHANGES[:exchanges]):
            lc, sc, lu, su = _amounts(h * 31 + i * 7 + len(asset))
            per_exchange.append(
                {
                    "exchange": code,
                    "long_trades": lc,
                    "short_trades": sc,
                    "total_trades": lc + sc,
                    "long_amount": lu,
                    "short_amount": su,
                    "total_amount": lu + su,
                }
            )
        data.append(
            {
                "interval_time": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "long_trades": sum(e["long_trades"] for e in per_exchange),
                "short_trades": sum(e["short_trades"] for e in per_exchange),
                "total_trades": sum(e["total_trades"] for e in per_exchange),
                "long_amount": sum(e["long_amount"] for e in per_exchange),
                "short_amount": sum(e["short_amount"] for e in per_exchange),
                "total_amount": sum(e["total_amount"] for e in per_exchange),
                "exchanges": per_exchange,
            }
        )
    return json.dumps({"result": "success", "query": {"interval": "1h"}, "data": data}).encode()


def derive(snapshot: SnapshotRecord) -> tuple[list[dict[str, Any]], str | None]:
    """A Kaiko-like deriver: one total row per hour (exchange "*") and one per exchange."""
    if snapshot.http_status != 200:
        return [], f"HTTP {snapshot.http_status}"
    doc = json.loads(snapshot.body)
    asset = snapshot.url.rsplit("/", 1)[1].upper()
    rows: list[dict[str, Any]] = []
    for datum in doc["data"]:
        start = datetime.fromisoformat(datum["interval_time"].replace("Z", "+00:00"))
        for code, obj in (("*", datum), *((e["exchange"], e) for e in datum["exchanges"])):
            rows.append(
                {
                    "source": snapshot.source,
                    "asset": asset,
                    "exchange": code,
                    "interval_start": start,
                    "interval_seconds": 3600,
                    "long_count": obj["long_trades"],
                    "short_count": obj["short_trades"],
                    "total_count": obj["total_trades"],
                    "long_usd": float(obj["long_amount"]),
                    "short_usd": float(obj["short_amount"]),
                    "total_usd": float(obj["total_amount"]),
                }
            )
    return rows, None


def pages(hours_per_page: int, exchanges: int) -> Iterator[RawResponse]:
    for asset in ASSETS:
        for first in range(0, HOURS, hours_per_page):
            n = min(hours_per_page, HOURS - first)
            yield RawResponse(
                source="bench",
                kind="bench.kaiko.v1",
                url=f"https://bench.invalid/v2/data/liquidation.v1/token/{asset}",
                params={
                    "interval": "1h",
                    "start_time": (START + timedelta(hours=first)).isoformat(),
                },
                fetched_at=START + timedelta(hours=first + n),
                http_status=200,
                body=body(asset, first, n, exchanges),
            )


def populate(store: Store, hours_per_page: int, exchanges: int, checkpoints: int) -> int:
    """Store every page (500 per transaction); sign ``checkpoints`` checkpoints along the way."""
    signer = NoteSigner.generate(ORIGIN)
    raws = list(pages(hours_per_page, exchanges))
    chunk = -(-len(raws) // checkpoints)
    for first in range(0, len(raws), chunk):
        for i in range(first, min(first + chunk, len(raws)), 500):
            with store.session() as session:
                for raw in raws[i : min(i + 500, first + chunk)]:
                    snapshot = new_snapshot(raw, software_version="bench", config_hash="bench")
                    rows, reason = derive(snapshot)
                    append_snapshot(session, snapshot, quarantine_reason=reason)
                    append_interval_rows(session, snapshot, rows)
        sign_checkpoint(store, signer, ORIGIN)
    return len(raws)


def baseline(store: Store) -> float:
    """Read every body back in leaf order, hash it and parse it."""
    started = time.perf_counter()
    with store.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=500).execute(
            text("SELECT body, body_sha256 FROM snapshot ORDER BY leaf_index")
        )
        for raw, digest in result:
            assert hashlib.sha256(raw).hexdigest() == digest
            json.loads(raw)
    return time.perf_counter() - started


def timed_deriver() -> tuple[
    Callable[[SnapshotRecord], tuple[list[dict[str, Any]], str | None]], list[float]
]:
    spent = [0.0]

    def wrapped(snapshot: SnapshotRecord) -> tuple[list[dict[str, Any]], str | None]:
        t = time.perf_counter()
        try:
            return derive(snapshot)
        finally:
            spent[0] += time.perf_counter() - t

    return wrapped, spent


def run(url: str, name: str, hours_per_page: int, exchanges: int, repeat: int) -> float:
    store = Store(url)
    store.create_schema()
    t = time.perf_counter()
    snapshots = populate(store, hours_per_page, exchanges, checkpoints=12)
    print(f"[{name}] stored {snapshots} snapshots in {time.perf_counter() - t:.1f}s ({url})")
    base_times, verify_times, derive_times = [], [], []
    base_cpu, verify_cpu = [], []  # process CPU time: steadier than wall time on a shared host
    for _ in range(repeat):
        c = time.process_time()
        base_times.append(baseline(store))
        base_cpu.append(time.process_time() - c)
        deriver, spent = timed_deriver()
        c = time.process_time()
        t = time.perf_counter()
        report = verify_store(store, deriver)
        verify_times.append(time.perf_counter() - t)
        verify_cpu.append(time.process_time() - c)
        derive_times.append(spent[0])
        assert report.ok, report.summary_lines()[:5]
    base, full, der = min(base_times), min(verify_times), min(derive_times)
    print(
        f"[{name}] {report.leaves} leaves, {report.rows} rows, {report.checkpoints} checkpoints: "
        f"baseline {base:.3f}s, verify {full:.3f}s (deriver {der:.3f}s)"
    )
    print(
        f"[{name}] ratio verify/baseline = {full / base:.2f}x; "
        f"without the injected deriver = {(full - der) / base:.2f}x"
    )
    print(
        f"[{name}] CPU time: baseline {min(base_cpu):.3f}s, verify {min(verify_cpu):.3f}s, "
        f"ratio {min(verify_cpu) / min(base_cpu):.2f}x"
    )
    store.dispose()
    return full / base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--scenario", choices=("pages", "small", "both"), default="both")
    parser.add_argument("--exchanges", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scenarios = {"pages": 100, "small": 1}
    chosen = list(scenarios) if args.scenario == "both" else [args.scenario]
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            url = args.url or f"sqlite:///{Path(tmp) / f'{name}.db'}"
            run(url, name, scenarios[name], args.exchanges, args.repeat)


if __name__ == "__main__":
    main()
