"""Benchmark ``liqrisk verify`` on a year of hourly data against reading the same bodies back.

Not a test. Run ``python bench/bench_verify.py [--url URL] [--scenario pages|small|both]``.

The store holds what ``liqrisk fetch`` stores: Kaiko token-endpoint responses as the documented
body (``query`` block, ``data`` with ``interval_time`` and nanosecond ``interval_timestamp``, the
per-exchange breakdown), one year of hourly liquidations for three assets, each hour a total and
``--exchanges`` exchanges, with their rows derived by the product's own Kaiko parser. Two shapes:

* ``pages``: pages of 100 hourly data points, about 88 pages per asset-year;
* ``small``: one snapshot per asset-hour (26 280 snapshots), the worst case for per-leaf costs.

Timed in the same run, alternating, CPU time of this process (steadier than wall time on a shared
machine), best of ``--repeat``:

* ``verify``: what ``liqrisk verify`` runs: :func:`audit_store.verify.verify_store` with the
  product's deriver (:func:`reporting.fetch.derivers.derived_rows`, every body re-parsed and
  validated by the Kaiko parser) and :func:`reporting.fetch.derivers.verify_derived_tables`: every
  body hash, leaf hash, checkpoint root, signature and consistency proof, every stored row compared;
* ``read + hash + parse``: the bodies read back in leaf order, SHA-256'd and parsed by the same
  Kaiko parser into the same records: the least a verifier of these figures must do. The ratio
  verify / this is the issue's target (within 3x);
* ``read + hash + json``: the same with ``json.loads`` alone, the floor of any reader; the ratio
  against it is printed too, and the parser's own share of verify.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ingest import ASSETS, START, datum

from audit_store.checkpoint import sign_checkpoint
from audit_store.db import Store
from audit_store.note import NoteSigner
from audit_store.snapshots import (
    RawResponse,
    SnapshotRecord,
    append_interval_values,
    append_snapshot,
    new_snapshot,
)
from audit_store.verify import verify_store
from reporting.fetch.derivers import derive_snapshot, derived_rows, verify_derived_tables
from reporting.fetch.sources.kaiko import format as kaiko_format

ORIGIN = "bench.example/audit-log"
HOURS = 24 * 365
EXCHANGES = ("binc", "okex", "bbit", "bfnx", "drbt", "huob", "krkn", "gate")
URL = "https://eu.market-api.kaiko.io/v2/data/liquidation.v1/token/"


def body(asset: str, first_hour: int, hours: int, exchanges: int) -> bytes:
    """One page of the token endpoint, as Kaiko documents it (the ingest benchmark's hours)."""
    index, chosen = ASSETS.index(asset), EXCHANGES[:exchanges]
    query = {
        "page_size": hours,
        "sort": "asc",
        "token": asset,
        "interval": "1h",
        "commodity": "liquidationEvents",
        "data_version": kaiko_format.EXPECTED_DATA_VERSION,
    }
    data = [datum(index, h, chosen) for h in range(first_hour, first_hour + hours)]
    return json.dumps({"query": query, "data": data}).encode()


def parse(snapshot: SnapshotRecord) -> int:
    """The body parsed by the product's Kaiko parser: how many records it yields."""
    params = json.loads(snapshot.params_json)
    derivation = kaiko_format.derive(snapshot.body, snapshot.url, params, snapshot.source)
    return len(derivation.records)


def pages(hours_per_page: int, exchanges: int) -> Iterator[RawResponse]:
    for asset in ASSETS:
        for first in range(0, HOURS, hours_per_page):
            n = min(hours_per_page, HOURS - first)
            yield RawResponse(
                source="kaiko",
                kind=kaiko_format.KIND,
                url=URL + asset,
                params={
                    "interval": "1h",
                    "page_size": str(hours_per_page),
                    "sort": "asc",
                    "start_time": (START + timedelta(hours=first)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
                fetched_at=START + timedelta(hours=first + n),
                http_status=200,
                body=body(asset, first, n, exchanges),
            )


def populate(store: Store, hours_per_page: int, exchanges: int, checkpoints: int) -> int:
    """Store every page as ``fetch`` does (500 per transaction), rows derived by the Kaiko
    parser; sign ``checkpoints`` checkpoints along the way."""
    signer = NoteSigner.generate(ORIGIN)
    raws = list(pages(hours_per_page, exchanges))
    chunk = -(-len(raws) // checkpoints)
    for first in range(0, len(raws), chunk):
        for i in range(first, min(first + chunk, len(raws)), 500):
            with store.session() as session:
                for raw in raws[i : min(i + 500, first + chunk)]:
                    snapshot = new_snapshot(raw, software_version="bench", config_hash="bench")
                    derivation = derive_snapshot(snapshot)
                    assert derivation.quarantine_reason is None, derivation.quarantine_reason
                    append_snapshot(session, snapshot)
                    append_interval_values(session, snapshot, derivation.values)
        sign_checkpoint(store, signer, ORIGIN)
    return len(raws)


def read_back(store: Store, parse_body: Callable[[SnapshotRecord], int] | None) -> int:
    """Read every body back in leaf order and hash it; parse it with ``parse_body``, or with
    ``json.loads`` alone when that is ``None``. Returns how many records the parser yielded."""
    records = 0
    columns = "id, leaf_index, source, kind, url, params_json, body, body_sha256"
    with store.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=500).execute(
            text(f"SELECT {columns} FROM snapshot ORDER BY leaf_index")
        )
        for row in result:
            assert hashlib.sha256(row.body).hexdigest() == row.body_sha256
            if parse_body is None:
                json.loads(row.body)
            else:
                records += parse_body(row)
    return records


def timed_deriver() -> tuple[
    Callable[[SnapshotRecord], tuple[list[tuple[Any, ...]], str | None]], list[float]
]:
    spent = [0.0]

    def wrapped(snapshot: SnapshotRecord) -> tuple[list[tuple[Any, ...]], str | None]:
        c = time.process_time()
        try:
            return derived_rows(snapshot)
        finally:
            spent[0] += time.process_time() - c

    return wrapped, spent


def cpu(fn: Callable[[], object]) -> float:
    c = time.process_time()
    fn()
    return time.process_time() - c


def run(url: str, name: str, hours_per_page: int, exchanges: int, repeat: int) -> None:
    store = Store(url)
    store.create_schema()
    t = time.perf_counter()
    snapshots = populate(store, hours_per_page, exchanges, checkpoints=12)
    print(f"[{name}] stored {snapshots} snapshots in {time.perf_counter() - t:.1f}s ({url})")
    read, parsed, verified, derived = [], [], [], []
    for _ in range(repeat):  # alternating, so a busy spell on the machine hits all three
        read.append(cpu(lambda: read_back(store, None)))
        parsed.append(cpu(lambda: read_back(store, parse)))
        deriver, spent = timed_deriver()
        reports: list[Any] = []

        def verify(deriver: Any = deriver, reports: list[Any] = reports) -> None:
            reports.append(verify_store(store, deriver))
            reports.append(verify_derived_tables(store))

        verified.append(cpu(verify))
        derived.append(spent[0])
        report, tables = reports
        assert report.ok and not tables, report.summary_lines()[:5]
    r, p, v, d = min(read), min(parsed), min(verified), min(derived)
    print(
        f"[{name}] {report.leaves} leaves, {report.rows} rows, {report.checkpoints} checkpoints "
        f"(CPU s, best of {repeat}):"
    )
    print(f"[{name}]   read + hash + json   {r:6.3f}")
    print(f"[{name}]   read + hash + parse  {p:6.3f}")
    print(f"[{name}]   verify               {v:6.3f}  (of which the Kaiko parser {d:.3f})")
    verdict = "OK" if v / p <= 3 else "OVER"
    print(f"[{name}] ratio verify / (read + hash + parse) = {v / p:.2f}x (target <= 3x) {verdict}")
    verdict = "OK" if v / r <= 2 else "OVER"
    print(f"[{name}] ratio verify / (read + hash + json)  = {v / r:.2f}x (target <= 2x) {verdict}")
    print(
        f"[{name}] where verify's time goes: the Kaiko parser's validation {d / v:.0%}, the rest "
        "reading the stored rows back, hashing leaves and comparing every row"
    )
    store.dispose()


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
