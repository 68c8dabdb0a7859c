"""Backfill: bounded chunks, resumable after anything, even kill -9 in the middle of a page."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from audit_store.db import Store
from audit_store.verify import verify_store
from reporting.config import Settings, load_settings
from reporting.fetch import watermarks
from reporting.fetch.backfill import backfill, chunks
from reporting.fetch.derivers import derived_rows, verify_derived_tables
from tests.conftest import SettingsFactory
from tests.kaiko_server import Canned, KaikoTestServer, datum

T0 = datetime(2025, 9, 1, tzinfo=UTC)
KEY = "sk-backfill-test"
CLOCK = datetime(2026, 1, 1, tzinfo=UTC)


def hours(days: int, scale: int) -> list[dict[str, object]]:
    return [
        datum(
            T0 + timedelta(hours=h),
            {"binc": (h % 5, 1000.0 * scale + h, 1, 2.5 * h), "okex": (1, 3.25, h % 3, 7.0)},
        )
        for h in range(days * 24)
    ]


@pytest.mark.parametrize("backwards", [False, True])
def test_chunks_cover_the_range_exactly_once(backwards: bool) -> None:
    pieces = chunks(T0, T0 + timedelta(days=30, hours=5), 7, backwards=backwards)
    ordered = sorted(pieces)
    assert ordered[0][0] == T0 and ordered[-1][1] == T0 + timedelta(days=30, hours=5)
    assert all(a[1] == b[0] for a, b in pairwise(ordered))
    assert all(end - start <= timedelta(days=7) for start, end in pieces)
    assert pieces == (ordered[::-1] if backwards else ordered)


@pytest.fixture
def server() -> Iterator[KaikoTestServer]:
    srv = KaikoTestServer({"btc": hours(30, 1), "eth": hours(30, 2)}, api_key=KEY)
    with srv.running():
        yield srv


@pytest.fixture
def kaiko(make_settings: SettingsFactory, server: KaikoTestServer) -> Settings:
    settings = make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY)
    fast = settings.kaiko.model_copy(  # pages of 100 hours: a week's chunk is two pages
        update={"backoff_seconds": 0.01, "backoff_max_seconds": 0.02, "page_size": 100}
    )
    return settings.model_copy(update={"kaiko": fast})


def run(store: Store, settings: Settings, start: datetime, end: datetime, **kw: Any) -> Any:
    return backfill(
        store, settings, source="kaiko", assets=["btc"], start=start, end=end,
        clock=lambda: CLOCK, **kw,
    )  # fmt: skip


def test_backfill_walks_in_chunks_and_a_rerun_skips_what_is_stored(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    progress: list[tuple[float, float, str]] = []
    result = run(
        store, kaiko, T0, T0 + timedelta(days=30), on_progress=lambda *a: progress.append(a)
    )
    assert (result.chunks, result.skipped, result.errors) == (5, 0, 0)
    assert result.rows == 30 * 24 * 3
    firsts = [r for r in server.requests if "start_time" in r.query]
    assert [r.query["start_time"][:10] for r in firsts] == [
        "2025-09-01", "2025-09-08", "2025-09-15", "2025-09-22", "2025-09-29",
    ]  # fmt: skip
    done = [p[0] for p in progress]
    assert done == sorted(done) and done[-1] == progress[-1][1] == 30 * 86400
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and (mark.covered_from, mark.watermark) == (T0, T0 + timedelta(days=30))

    server.requests.clear()
    again = run(store, kaiko, T0, T0 + timedelta(days=30))
    assert (again.chunks, again.skipped) == (0, 5) and server.requests == []


def test_a_range_before_what_is_covered_is_walked_backwards_and_joins_it(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    run(store, kaiko, T0 + timedelta(days=20), T0 + timedelta(days=30))
    server.requests.clear()
    result = run(store, kaiko, T0, T0 + timedelta(days=30))
    assert result.skipped == 1 and result.chunks == 4  # [23, 30) is already stored
    firsts = [r.query["start_time"][:10] for r in server.requests if "start_time" in r.query]
    assert firsts == ["2025-09-17", "2025-09-10", "2025-09-03", "2025-09-01"]
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and (mark.covered_from, mark.watermark) == (T0, T0 + timedelta(days=30))


def test_a_failed_chunk_stops_the_asset_and_a_rerun_resumes_there(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    settings = kaiko.model_copy(
        update={"kaiko": kaiko.kaiko.model_copy(update={"max_attempts": 1})}
    )
    server.faults[5] = Canned(503, b"down")  # the third chunk's first request (2 pages a chunk)
    result = run(store, settings, T0, T0 + timedelta(days=30))
    assert result.chunks == 3 and result.errors >= 1
    assert any("run the backfill again" in p.message for p in result.problems)
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and mark.watermark == T0 + timedelta(days=14)
    resumed = run(store, settings, T0, T0 + timedelta(days=30))
    assert (resumed.skipped, resumed.chunks, resumed.errors) == (2, 3, 0)


# -- kill -9


def current_rows(database: Path) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The current value of every interval key: the row of the latest (highest leaf) snapshot."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(
            "SELECT iv.source, iv.asset, iv.exchange, iv.interval_start, iv.interval_seconds, "
            "iv.long_count, iv.short_count, iv.total_count, iv.long_usd, iv.short_usd, "
            "iv.total_usd FROM interval_volume iv JOIN snapshot s ON s.id = iv.snapshot_id "
            "WHERE NOT s.quarantined ORDER BY s.leaf_index, iv.row_index"
        ).fetchall()
    finally:
        connection.close()
    return {tuple(r[:5]): tuple(r[5:]) for r in rows}


def snapshot_count(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
        try:
            return int(connection.execute("SELECT count(*) FROM snapshot").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.OperationalError:
        return 0  # the schema is being created


CONFIG = """
database_url = "sqlite:///unused.db"
[fetch]
default_source = "kaiko"
assets = ["btc", "eth"]
backfill_chunk_days = 7
[kaiko]
page_size = 24
[limits.daily_usd]
warn = 1
breach = 2
[limits.daily_usd_exchange]
warn = 1
breach = 2
[limits.velocity_usd]
warn = 1
breach = 2
"""


def test_kill_9_mid_backfill_then_rerun_gives_exactly_the_rows_of_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    days = 40
    server = KaikoTestServer({"btc": hours(days, 1), "eth": hours(days, 3)}, api_key=KEY)
    server.delay = 0.02  # so the kill lands mid-walk
    config = tmp_path / "liqrisk.toml"
    config.write_text(CONFIG, encoding="utf-8")
    killed_db, clean_db = tmp_path / "killed.db", tmp_path / "clean.db"
    argv = [
        sys.executable, "-c", "from reporting.cli import main; main()",
        "--config", str(config), "backfill", "--source", "kaiko",
        "--start", "2025-09-01", "--end", (T0 + timedelta(days=days)).date().isoformat(),
    ]  # fmt: skip
    with server.running():
        env = {
            **os.environ,
            "LIQRISK_DATABASE_URL": f"sqlite:///{killed_db}",
            "LIQRISK_KAIKO_BASE_URL": server.base_url,
            "KAIKO_API_KEY": KEY,
        }
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while snapshot_count(killed_db) < 30 and child.poll() is None:
            assert time.monotonic() < deadline, "the backfill made no progress"
            time.sleep(0.01)
        assert child.poll() is None, "the backfill finished before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert child.returncode == -signal.SIGKILL
        interrupted = snapshot_count(killed_db)
        assert 30 <= interrupted < 2 * days

        server.delay = 0.0
        rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        assert "already stored" in rerun.stdout or "chunk(s) fetched" in rerun.stdout

        settings = load_settings(
            config,
            env={
                "LIQRISK_DATABASE_URL": f"sqlite:///{clean_db}",
                "LIQRISK_KAIKO_BASE_URL": server.base_url,
                "KAIKO_API_KEY": KEY,
            },
        )
        clean = Store(settings.database_url)
        clean.create_schema()
        result = backfill(
            clean, settings, source="kaiko", assets=["btc", "eth"], start=T0,
            end=T0 + timedelta(days=days),
        )  # fmt: skip
        assert result.errors == 0
        clean.dispose()

    expected = current_rows(clean_db)
    assert len(expected) == 2 * days * 24 * 3
    assert current_rows(killed_db) == expected
    killed = Store(f"sqlite:///{killed_db}")
    assert verify_store(killed, derived_rows).ok and verify_derived_tables(killed) == []
    for asset in ("btc", "eth"):
        mark = watermarks.current(killed, "kaiko", "liquidations", asset)
        assert mark is not None
        assert (mark.covered_from, mark.watermark) == (T0, T0 + timedelta(days=days))
    killed.dispose()
