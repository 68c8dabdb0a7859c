"""Benchmark ingestion: one year of hourly Kaiko data for 3 assets from a loopback server.

Not a test. Run ``python bench/bench_ingest.py [--days 365] [--rounds 5] [--page-size 1000]``.

A server on 127.0.0.1 answers like Kaiko's token endpoint (the documented body: ``query``,
``data`` with nanosecond ``interval_timestamp``, ``continuation_token``, ``next_url``), with every
page rendered before the clock starts, so the server costs next to nothing and both runs pay it
alike. Each hour holds a total and six exchanges, as Kaiko's larger tokens do.

Three runs, each in its own subprocess (so peak memory is that run's alone, read from
``/proc/self/status``), one after the other in each of ``--rounds`` rounds:

* ``liqrisk``: :func:`reporting.fetch.ingest.fetch` into a fresh SQLite store, as configured by
  default: the Kaiko client with its retries and size cap, a snapshot per page with its Merkle leaf,
  the deriver (full schema validation), the correction lookup, bulk inserts, a watermark per asset.
  The client asks for the next page while the current one is being stored (``kaiko.prefetch``,
  one request in flight; the same requests, the same snapshots in the same order);
* ``sequential``: the same with ``kaiko.prefetch = false``, printed for comparison;
* ``baseline``: the least a program doing the same job can do with the standard library: the same
  GETs (``urllib``) following ``next_url``, a SHA-256 of each body, ``json.loads``, and the same
  rows (``sqlite3`` ``executemany``, one transaction per page, WAL) beside the raw body.

Printed: each run's time and peak RSS, the ratio liqrisk / baseline (target: within 1.2x) as the
median of the rounds' ratios (each round's runs meet the same machine), the same without
prefetch, and the peak RSS of liqrisk (target: under 150 MB). ``--days 90`` beside ``--days 365``
shows whether memory grows with the range (it should not: pages are streamed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2025, 1, 1, tzinfo=UTC)
ASSETS = ("btc", "eth", "sol")
EXCHANGES = ("bbit", "binc", "bmex", "drbt", "hbdm", "okex")
KEY = "bench-key"
PATH = "/v2/data/liquidation.v1/token/"


# -- the server


def datum(asset: int, hour: int, exchanges: tuple[str, ...] = EXCHANGES) -> dict[str, Any]:
    """One hour of the token endpoint's ``data``: a total and each of ``exchanges``."""
    start = START + timedelta(hours=hour)
    per: list[dict[str, Any]] = []
    for i, code in enumerate(exchanges):
        seed = hour * 31 + asset * 7 + i
        ln, sn = seed % 17, (seed * 7) % 13
        la, sa = round((seed % 1009) * 137.25, 2), round((seed % 883) * 91.5, 2)
        per.append(
            {
                "exchange": code,
                "total_trades": ln + sn,
                "total_amount": la + sa,
                "long_trades": ln,
                "long_amount": la,
                "short_trades": sn,
                "short_amount": sa,
            }
        )
    sums = {k: sum(e[k] for e in per) for k in per[0] if k != "exchange"}
    return {
        "interval_time": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "interval_timestamp": int(start.timestamp()) * 1_000_000_000,
        **sums,
        "exchanges": per,
    }


def render_pages(base_url: str, days: int, page_size: int) -> dict[tuple[str, str], bytes]:
    """Every page of every asset, keyed by (asset, token); the first page's token is ""."""
    pages: dict[tuple[str, str], bytes] = {}
    hours = days * 24
    for a, asset in enumerate(ASSETS):
        data = [datum(a, h) for h in range(hours)]
        for n, offset in enumerate(range(0, hours, page_size)):
            token = "" if n == 0 else f"{asset}-{n:06d}"
            doc: dict[str, Any] = {
                "query": {
                    "page_size": page_size,
                    "sort": "asc",
                    "token": asset,
                    "interval": "1h",
                    "commodity": "liquidationEvents",
                    "data_version": "v1",
                },
                "data": data[offset : offset + page_size],
            }
            if offset + page_size < hours:
                following = f"{asset}-{n + 1:06d}"
                doc["continuation_token"] = following
                doc["next_url"] = f"{base_url}{PATH}{asset}?continuation_token={following}"
            pages[(asset, token)] = json.dumps(doc).encode()
    return pages


class Server:
    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], bytes] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real API would allow

            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                asset = parts.path[len(PATH) :]
                token = parse_qs(parts.query).get("continuation_token", [""])[0]
                body = server.pages.get((asset, token))
                status = 200 if body is not None else 404
                body = body if body is not None else b'{"result":"error","message":"no such page"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# -- the two runs (each in a subprocess)


def peak_rss_mb() -> float:
    """This process's peak resident set size. ``VmHWM`` (Linux) counts only this program: the
    ``ru_maxrss`` of a child also carries its parent's peak across fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def run_liqrisk(
    base_url: str, database: Path, days: int, page_size: int, prefetch: bool = True
) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from audit_store.db import Store
    from reporting.config import load_settings
    from reporting.fetch.ingest import fetch

    settings = load_settings(
        env={
            "LIQRISK_DATABASE_URL": f"sqlite:///{database}",
            "LIQRISK_KAIKO_BASE_URL": base_url,
            "KAIKO_API_KEY": KEY,
        }
    )
    settings = settings.model_copy(
        update={
            "kaiko": settings.kaiko.model_copy(
                update={"page_size": page_size, "prefetch": prefetch}
            )
        }
    )
    store = Store(settings.database_url)
    store.create_schema()
    began = time.perf_counter()
    summaries = fetch(
        store,
        settings,
        source="kaiko",
        assets=ASSETS,
        start=START,
        end=START + timedelta(days=days),
    )
    elapsed = time.perf_counter() - began
    errors = [p for s in summaries for p in s.problems if p.severity == "error"]
    if errors:
        raise SystemExit(f"liqrisk run failed: {errors[0].message}")
    return {
        "seconds": elapsed,
        "pages": float(sum(s.pages for s in summaries)),
        "rows": float(sum(s.rows for s in summaries)),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_baseline(base_url: str, database: Path, days: int, page_size: int) -> dict[str, float]:
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    # The same tables, columns and indexes as the audit store's snapshot and interval_volume,
    # so both runs insert the same rows into the same structure.
    for statement in (
        "CREATE TABLE snapshot (id INTEGER PRIMARY KEY, leaf_index INTEGER NOT NULL, "
        "source TEXT, url TEXT, params_json TEXT, fetched_at TEXT, http_status INTEGER, "
        "body BLOB, body_sha256 TEXT, body_size INTEGER)",
        "CREATE UNIQUE INDEX uq_snapshot_leaf_index ON snapshot (leaf_index)",
        "CREATE INDEX ix_snapshot_source ON snapshot (source)",
        "CREATE INDEX ix_snapshot_body_sha256 ON snapshot (body_sha256)",
        "CREATE TABLE interval_volume (id INTEGER PRIMARY KEY, snapshot_id INTEGER NOT NULL "
        "REFERENCES snapshot (id), row_index INTEGER, source TEXT, asset TEXT, exchange TEXT, "
        "interval_start TEXT, interval_seconds INTEGER, long_count INTEGER, short_count INTEGER, "
        "total_count INTEGER, long_usd REAL, short_usd REAL, total_usd REAL)",
        "CREATE INDEX ix_interval_volume_snapshot_id ON interval_volume (snapshot_id)",
        "CREATE INDEX ix_interval_volume_key ON interval_volume "
        "(source, asset, exchange, interval_start, interval_seconds)",
    ):
        connection.execute(statement)
    fields = (
        "long_trades",
        "short_trades",
        "total_trades",
        "long_amount",
        "short_amount",
        "total_amount",
    )
    began = time.perf_counter()
    pages = rows = 0
    end = START + timedelta(days=days)
    for asset in ASSETS:
        url = (
            f"{base_url}{PATH}{asset}?interval=1h&start_time={START:%Y-%m-%dT%H:%M:%S.000Z}"
            f"&end_time={end:%Y-%m-%dT%H:%M:%S.000Z}&sort=asc&page_size={page_size}"
        )
        while url:
            request = urllib.request.Request(url, headers={"X-Api-Key": KEY})  # noqa: S310
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                body = response.read()
            digest = hashlib.sha256(body).hexdigest()
            doc = json.loads(body)
            connection.execute("BEGIN")
            cursor = connection.execute(
                "INSERT INTO snapshot (leaf_index, source, url, params_json, fetched_at, "
                "http_status, body, body_sha256, body_size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    pages,
                    "kaiko",
                    url,
                    "{}",
                    datetime.now(UTC).isoformat(),
                    200,
                    body,
                    digest,
                    len(body),
                ),
            )
            snapshot_id = cursor.lastrowid
            batch: list[tuple[Any, ...]] = []
            for d in doc["data"]:
                start = d["interval_time"].replace("T", " ").replace("Z", ".000000")
                code = asset.upper()
                batch.append(
                    (
                        snapshot_id,
                        len(batch),
                        "kaiko",
                        code,
                        "*",
                        start,
                        3600,
                        *(d[f] for f in fields),
                    )
                )
                for e in d["exchanges"]:
                    values = (e[f] for f in fields)
                    batch.append(
                        (
                            snapshot_id,
                            len(batch),
                            "kaiko",
                            code,
                            e["exchange"],
                            start,
                            3600,
                            *values,
                        )
                    )
            connection.executemany(
                "INSERT INTO interval_volume (snapshot_id, row_index, source, asset, exchange, "
                "interval_start, interval_seconds, long_count, short_count, total_count, "
                "long_usd, short_usd, total_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            connection.execute("COMMIT")
            pages += 1
            rows += len(batch)
            url = doc.get("next_url") or ""
    elapsed = time.perf_counter() - began
    connection.close()
    return {
        "seconds": elapsed,
        "pages": float(pages),
        "rows": float(rows),
        "peak_rss_mb": peak_rss_mb(),
    }


def child(argv: list[str]) -> None:
    kind, base_url, database, days, page_size = argv
    args = (base_url, Path(database), int(days), int(page_size))
    if kind == "baseline":
        result = run_baseline(*args)
    else:
        result = run_liqrisk(*args, prefetch=kind == "liqrisk")
    print(json.dumps(result))


def measure(kind: str, base_url: str, workdir: Path, n: int, days: int, page_size: int) -> Any:
    database = workdir / f"{kind}-{n}.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            base_url,
            str(database),
            str(days),
            str(page_size),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=1000)  # the client's default
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    with Server() as server, tempfile.TemporaryDirectory() as tmp:
        server.pages = render_pages(server.base_url, args.days, args.page_size)
        seconds: dict[str, list[float]] = {"baseline": [], "liqrisk": [], "sequential": []}
        peak = 0.0
        for n in range(args.rounds):
            for kind in seconds:
                result = measure(kind, server.base_url, Path(tmp), n, args.days, args.page_size)
                print(
                    f"round {n + 1} {kind:10}: {result['seconds']:7.2f} s, "
                    f"{int(result['pages'])} pages, {int(result['rows'])} rows, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB"
                )
                seconds[kind].append(result["seconds"])
                if kind != "baseline":
                    peak = max(peak, result["peak_rss_mb"])
    # Each round's runs follow one another, so a round's ratio compares runs that met the same
    # machine; the median of the rounds' ratios is the figure (best-of-N taken separately for each
    # kind would pair a quiet moment of one with a busy moment of the other).
    ratios = {
        kind: statistics.median(
            k / b for k, b in zip(seconds[kind], seconds["baseline"], strict=True)
        )
        for kind in ("liqrisk", "sequential")
    }
    print(
        f"\n{args.days} days x {len(ASSETS)} assets, {len(EXCHANGES)} exchanges, "
        f"page size {args.page_size}, {args.rounds} rounds; median seconds: liqrisk "
        f"{statistics.median(seconds['liqrisk']):.2f} s (without prefetch "
        f"{statistics.median(seconds['sequential']):.2f} s), baseline "
        f"{statistics.median(seconds['baseline']):.2f} s"
    )
    for kind, label in (("liqrisk", "liqrisk"), ("sequential", "liqrisk without prefetch")):
        each = "  ".join(
            f"{k / b:.2f}" for k, b in zip(seconds[kind], seconds["baseline"], strict=True)
        )
        print(f"{label} / baseline per round: {each}")
    verdict = "OK" if ratios["liqrisk"] <= 1.2 else "OVER"
    print(
        f"ratio liqrisk / baseline: {ratios['liqrisk']:.2f}x, median of {args.rounds} rounds "
        f"(target <= 1.2x) {verdict}"
    )
    print(f"ratio without prefetch (kaiko.prefetch = false): {ratios['sequential']:.2f}x")
    print(f"peak RSS liqrisk: {peak:.0f} MB (target < 150 MB) {'OK' if peak < 150 else 'OVER'}")


if __name__ == "__main__":
    main()
