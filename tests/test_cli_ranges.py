"""Every command that takes a range refuses an empty or reversed one before any work (#20):
one line on stderr, exit 2, nothing fetched or written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import func, select

from audit_store.db import Store
from audit_store.models import Snapshot
from tests.test_cli import run

LIMITS = str(Path(__file__).resolve().parents[1] / "config" / "limits.toml")

REVERSED = {
    "fetch": ["fetch", "--source", "demo", "--start", "2025-11-05", "--end", "2025-11-01"],
    "backfill": ["backfill", "--source", "demo", "--start", "2025-11-05", "--end", "2025-11-01"],
    "export": ["export", "--start", "2025-11-05", "--end", "2025-11-01", "--out", "x.zip"],
    "backtest": [
        "limits",
        "backtest",
        "--limits",
        LIMITS,
        "--start",
        "2025-11-05",
        "--end",
        "2025-11-01",
    ],
    "calibrate": ["limits", "calibrate", "--start", "2025-11-05", "--end", "2025-11-01"],
}
EMPTY = {
    "fetch": ["fetch", "--source", "demo", "--start", "2025-11-01", "--end", "2025-11-01"],
    "backfill": ["backfill", "--source", "demo", "--start", "2025-11-01", "--end", "2025-11-01"],
    "export": ["export", "--start", "2025-11-01", "--end", "2025-11-01", "--out", "x.zip"],
}


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    Store(url).create_schema()
    monkeypatch.setenv("LIQRISK_DATABASE_URL", url)
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(tmp_path / "keys" / "signing.key"))
    monkeypatch.chdir(tmp_path)
    return url


def _snapshots(url: str) -> int:
    store = Store(url)
    with store.session() as session:
        n = int(session.execute(select(func.count()).select_from(Snapshot)).scalar_one())
    store.dispose()
    return n


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], url: str, tmp: Path) -> str:
    code, out, err = run(argv, capsys)
    assert code == 2, (argv, out, err)
    assert err.startswith("liqrisk: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and out == ""
    assert _snapshots(url) == 0
    assert not (tmp / "x.zip").exists() and not (tmp / "keys").exists()
    return err


@pytest.mark.parametrize("name", sorted(REVERSED))
def test_a_reversed_range_is_refused(
    name: str, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(REVERSED[name], capsys, store_url, tmp_path)
    assert "--end 2025-11-01" in err and "--start 2025-11-05" in err and "empty" in err


@pytest.mark.parametrize("name", sorted(EMPTY))
def test_an_empty_range_is_refused(
    name: str, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(EMPTY[name], capsys, store_url, tmp_path)
    assert "the range is empty" in err


def test_one_day_is_a_range_where_the_end_is_included(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, _out, err = run(
        ["limits", "backtest", "--limits", LIMITS, "--start", "2025-11-01", "--end", "2025-11-01"],
        capsys,
    )
    assert "the range is empty" not in err


@pytest.mark.parametrize("start", ["0001-01-01", "1900-01-01"])
def test_a_date_before_any_market_is_refused(
    start: str, store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["fetch", "--source", "demo", "--asset", "btc", "--start", start, "--end", "2025-11-01"]
    err = _refused(argv, capsys, store_url, tmp_path)
    assert f"--start {start!r}" in err and "2009-01-03" in err


def test_a_start_in_the_future_is_refused(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(
        ["fetch", "--source", "demo", "--start", "2999-01-01"], capsys, store_url, tmp_path
    )
    assert "in the future" in err


def test_a_range_the_source_does_not_serve_is_refused_before_any_request(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#21: a range is checked against the earliest date each source serves."""
    from datetime import UTC, datetime, timedelta

    early = (datetime.now(UTC) - timedelta(days=45)).date().isoformat()
    argv = ["fetch", "--source", "binance", "--dataset", "open_interest", "--start", early]
    err = _refused(argv, capsys, store_url, tmp_path)
    assert "binance serves open interest for the latest 30 days only" in err
    err = _refused(
        ["backfill", "--source", "demo", "--start", "2025-09-01", "--end", "2025-10-25"],
        capsys,
        store_url,
        tmp_path,
    )
    assert "the bundled demo data set's days (2025-10-20 to 2025-11-09)" in err
    err = _refused(["fetch", "--source", "demo", "--start", "2026-01-01", "--end", "2026-01-05"],
                   capsys, store_url, tmp_path)  # fmt: skip
    assert "is after its end" in err
