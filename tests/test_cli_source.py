"""``check`` and ``report`` read the source given with ``--source`` (#20): a user who fetched
Kaiko data and kept the default config (demo) is told which source was read and which hold the
day; ``check --json`` prints ``null`` for what it could not measure."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from audit_store.db import Store
from audit_store.models import CheckRun
from tests.test_cli import run
from tests.test_report_factory import STRESS_DAY, load_demo_data, open_store, report_settings
from tests.test_report_factory import store_days as store_source_days

DAY = STRESS_DAY.isoformat()


@pytest.fixture
def kaiko_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A store holding Kaiko figures only (the demo data, stored as fetched from kaiko), with the
    default config, whose default_source is demo; returns the --config argument."""
    settings = report_settings(tmp_path)
    store = open_store(settings)
    days = [STRESS_DAY - timedelta(days=n) for n in range(2, -1, -1)]
    store_source_days(store, load_demo_data(), days, source="kaiko")
    store.dispose()
    monkeypatch.setenv("LIQRISK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(settings.reports_dir))
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(tmp_path / "signing.key"))
    assert settings.config_file is not None
    return ["--config", str(settings.config_file)]


def _runs(url: str) -> list[CheckRun]:
    store = Store(url)
    with store.session() as session:
        runs = list(session.execute(select(CheckRun).order_by(CheckRun.id)).scalars())  # type: ignore[arg-type]
    store.dispose()
    return runs


def test_check_on_the_default_source_names_the_source_holding_the_day(
    kaiko_only: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*kaiko_only, "check", "--date", DAY], capsys)
    assert code == 0
    (line,) = err.splitlines()
    assert line.startswith("liqrisk: warning: no data from source demo for BTC")
    assert "sources holding data for it: kaiko (BTC, DOGE, ETH, SOL, XRP)" in line
    assert "--source kaiko" in line
    assert "0 breach" in out


def test_check_json_prints_null_for_what_it_could_not_measure(
    kaiko_only: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _err = run([*kaiko_only, "check", "--date", DAY, "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["source"] == "demo"
    btc = doc["metrics"]["BTC"]
    assert btc["status"] == "error" and btc["reason"] == f"no data for BTC from demo on {DAY}"
    for key in ("liquidations_usd", "long_usd", "short_usd", "liquidations_count", "by_exchange"):
        assert btc[key] is None, key
    assert btc["intervals_received"] == 0
    daily = next(r for r in doc["results"] if r["check"] == "daily_usd" and r["scope"] == "BTC")
    assert daily["status"] == "error" and daily["observed"] is None
    assert daily["pct_of_limit"] is None


def test_check_and_report_read_the_source_given(
    kaiko_only: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        [*kaiko_only, "check", "--date", DAY, "--source", "kaiko", "--json"], capsys
    )
    assert code == 0 and err == ""
    doc = json.loads(out)
    btc = doc["metrics"]["BTC"]
    assert doc["source"] == "kaiko" and btc["status"] == "ok" and btc["source"] == "kaiko"
    assert btc["liquidations_usd"] > 0 and btc["intervals_received"] == 24
    assert any(r["status"] == "breach" for r in doc["results"])
    (stored,) = _runs(os.environ["LIQRISK_DATABASE_URL"])
    assert stored.source == "kaiko"

    # The latest run of the day is kaiko's: a report of the default source (demo) has none.
    code, _out, err = run([*kaiko_only, "report", "--date", DAY], capsys)
    assert code == 2 and "no check results for 2025-11-03 from source demo" in err
    assert "--source demo" in err and err.count("\n") == 1

    code, out, err = run([*kaiko_only, "report", "--date", DAY, "--source", "kaiko"], capsys)
    assert code == 0 and err == ""
    html = Path(out.splitlines()[0]).read_text(encoding="utf-8")
    assert "kaiko" in html and "limit breaches" in html

    # The report's recorded run names its source: reproducing it with the default config re-reads
    # kaiko's figures and gives the same bytes.
    code, out, _err = run([*kaiko_only, "reproduce", "--date", DAY, "--json"], capsys)
    assert json.loads(out)["matches"] is True, out
    assert code == 0


def test_an_unknown_source_is_refused(
    kaiko_only: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("check", "report"):
        code, _out, err = run([*kaiko_only, command, "--date", DAY, "--source", "okx"], capsys)
        assert code == 2 and "--source 'okx': unknown source 'okx'" in err
        assert "choose from demo, kaiko, streams" in err
