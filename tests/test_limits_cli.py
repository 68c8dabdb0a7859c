"""``liqrisk check --json`` with every result field, ``ack``, and ``liqrisk limits ...``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit_store.db import Store
from reporting.cli import main
from reporting.config import load_settings
from reporting.web.accounts import cli_actor
from reporting.web.evidence_views import activity
from tests.factories import store_hours
from tests.limit_factories import flat_day, hour

D1 = date(2025, 11, 1)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def cli_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store with BTC on three days: quiet, a $30M hour on day 2, quiet; the packaged config."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LIQRISK_DATABASE_URL", url)
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    store = Store(url)
    store.create_schema()
    for n in range(3):
        d = D1 + timedelta(days=n)
        hours = flat_day({"binc": 1_000_000.0, "okex": 1_200_000.0}, day=d)
        if n == 1:
            hours[hour(14, d)] = {"binc": (2500, 60_000_000.0, 10, 200_000.0)}
        store_hours(store, "btc", hours)
    store.dispose()
    return tmp_path


def test_check_json_carries_every_result_field(
    cli_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = run_json(["check", "--date", str(D1 + timedelta(days=1))], capsys)
    btc = doc["metrics"]["BTC"]
    assert {
        "liquidations_usd",
        "long_usd",
        "short_usd",
        "liquidations_count",
        "by_exchange",
    } <= set(btc)
    fields = {"id", "check", "scope", "observed", "warn_at", "limit", "pct_of_limit", "status"}
    fields |= {"message", "evidence", "unit", "threshold_scope", "lifecycle", "detail", "acks"}
    assert all(fields <= set(r) for r in doc["results"])
    by_key = {(r["check"], r["scope"]): r for r in doc["results"]}
    vel = by_key[("velocity_usd", "BTC")]
    assert vel["status"] == "breach" and vel["observed"] == pytest.approx(60_200_000)
    assert vel["lifecycle"]["state"] == "new" and vel["threshold_scope"] == "asset BTC"
    assert vel["detail"]["window_start"].startswith("2025-11-02T14:00")
    seed = by_key[("velocity_usd_exchange", "BTC/binc")]
    assert seed["status"] == "breach" and seed["unit"] == "usd"
    assert by_key[("funding_swing", "BTC")]["status"] == "error"
    assert by_key[("imbalance", "BTC")]["unit"] == "pct"
    assert by_key[("velocity_count", "BTC")]["unit"] == "count"
    assert len(doc["run"]["limit_set_sha256"]) == 64


def test_ack_and_the_trail(cli_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = run_json(["check", "--date", str(D1 + timedelta(days=1))], capsys)
    breach = next(r for r in doc["results"] if r["status"] == "breach")
    ok = next(r for r in doc["results"] if r["status"] == "ok")
    code, out, _ = run(["ack", str(breach["id"]), "--by", "A. Risk", "--comment", "hedged"], capsys)
    assert code == 0 and f"result {breach['id']}" in out and "A. Risk (cli:" in out
    code, _out, err = run(["ack", str(ok["id"]), "--by", "A", "--comment", "x"], capsys)
    assert code == 2 and "nothing to acknowledge" in err and err.count("\n") == 1
    trail = run_json(["limits", "acks"], capsys)
    assert trail["chain_ok"] and [a["by"] for a in trail["acks"]] == [f"A. Risk ({cli_actor()})"]
    assert trail["acks"][0]["check"] == breach["check"]
    code, out, _ = run(["limits", "acks", "--date", str(D1 + timedelta(days=1))], capsys)
    assert code == 0 and "1 acknowledgement(s); chain ok" in out
    store = Store(f"sqlite:///{cli_store / 'cli.db'}")
    (signed,) = [a for a in activity(store) if a["action"] == "acknowledge"]  # the refused: none
    store.dispose()
    assert (signed["actor"], signed["via"]) == (f"A. Risk ({cli_actor()})", "cli")
    assert signed["subject"] == f"check_result {breach['id']}"
    assert signed["details"]["comment"] == "hedged"


def test_limits_history(cli_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_json(["check", "--date", str(D1)], capsys)
    run_json(["check", "--date", str(D1 + timedelta(days=1))], capsys)
    doc = run_json(["limits", "history"], capsys)
    (version,) = doc["versions"]
    assert version["runs"] == 2 and version["sha256"] == doc["configured"]["sha256"]
    assert version["limit_set"]["velocity_usd_exchange"]["asset_exchange"]["BTC/binc"]
    code, out, _ = run(["limits", "history"], capsys)
    assert code == 0 and "in force from" in out and "in force" in out.splitlines()[-1]


def test_limits_backtest(cli_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    candidate = cli_store / "candidate.toml"
    candidate.write_text("[velocity_usd]\nwarn = 10_000_000\nbreach = 50_000_000\n", "utf-8")
    args = ["limits", "backtest", "--limits", str(candidate), "--start", str(D1),
            "--end", str(D1 + timedelta(days=2))]  # fmt: skip
    doc = run_json(args, capsys)
    (vel,) = [t for t in doc["limits"] if (t["check"], t["scope"]) == ("velocity_usd", "BTC")]
    assert vel["breach_days"] == ["2025-11-02"] and vel["warn_days"] == [] and vel["ok_days"] == 2
    code, out, _ = run(args, capsys)
    assert code == 0 and "velocity_usd BTC" in out and "breach   1 day(s): 2025-11-02" in out
    bad = cli_store / "bad.toml"
    bad.write_text("[velocity_usd]\nwarn = 9\nbreach = 1\n", "utf-8")
    code, _out, err = run(["limits", "backtest", "--limits", str(bad), "--start", str(D1),
                           "--end", str(D1)], capsys)  # fmt: skip
    assert code == 2 and str(bad) in err and "velocity_usd" in err
    code, _out, err = run(["limits", "backtest", "--limits", str(candidate), "--start",
                           str(D1), "--end", "2025-10-01"], capsys)  # fmt: skip
    assert code == 2 and "before --start" in err


def test_limits_calibrate(cli_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["limits", "calibrate", "--percentile", "99", "--start", str(D1),
            "--end", str(D1 + timedelta(days=2)), "--resamples", "200"]  # fmt: skip
    doc = run_json(args, capsys)
    daily = next(p for p in doc["proposals"] if (p["check"], p["scope"]) == ("daily_usd", "BTC"))
    assert daily["n"] == 3 and daily["unresolved"] is True
    assert daily["breach"]["low"] <= daily["breach"]["estimate"] <= daily["breach"]["high"]
    (btc,) = [c for c in doc["clusters"] if c["asset"] == "BTC"]
    assert btc["n"] == 0 and "at least 5" in btc["problem"]  # one cluster hour in three days
    assert any("funding_swing" in p for p in doc["problems"])
    code, out, _ = run(args, capsys)
    assert code == 0 and "[daily_usd]" in out and "asset.BTC = { warn = " in out
    assert "Time to the next liquidation cluster" in out
    code, _out, err = run([*args, "--check", "gaps"], capsys)
    assert code == 2 and "cannot calibrate gaps" in err


def test_packaged_limits_load_for_the_cli_store(cli_store: Path) -> None:
    assert load_settings().limits.velocity_usd_exchange is not None
