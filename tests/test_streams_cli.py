"""``liqrisk collect`` and ``liqrisk events`` from the outside: a collector killed with SIGKILL
loses nothing it committed, and the next one records the gap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit_store.db import Store
from tests.stream_helpers import rows, sessions
from tests.ws_venues import VenueServer, binance_frame, venue_server

pytest_plugins = ["tests.pg"]

MS = 1761125802306
FRAMES = [binance_frame("BTCUSDT", "SELL", "0.01", "100000", MS + i) for i in range(4000)]


def _config(tmp_path: Path, streams: str) -> str:
    """A config file of only a ``[streams]`` table: everything else at its default."""
    config = tmp_path / "liqrisk.toml"
    assets = '["btc", "eth", "sol", "xrp", "doge"]'  # the packaged limits name them all
    config.write_text(f"[fetch]\nassets = {assets}\n\n[streams]\n{streams}\n", encoding="utf-8")
    return str(config)


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LIQRISK_DATABASE_URL": f"sqlite:///{tmp_path / 'collect.db'}",
        "LIQRISK_BINANCE_WS_URL": url,
        "LIQRISK_CONFIG": "",
    }


def _holders(database: str) -> list[int]:
    """Other processes with the store's file open (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(link.startswith(database) for link in links):
            found.append(int(entry.name))
    return found


def _liqrisk(*args: str) -> list[str]:
    return [sys.executable, "-m", "reporting", *args]


def test_kill_9_loses_nothing_committed_and_the_restart_records_the_gap(tmp_path: Path) -> None:
    server = VenueServer("binance", [[("clock", FRAMES)]], clock_interval=0.01)
    with venue_server(server) as url:
        env = {**_env(tmp_path, url), "LIQRISK_CONFIG": _config(tmp_path, "lease_seconds = 1")}
        subprocess.run(_liqrisk("init"), env=env, check=True, capture_output=True)
        store = Store(env["LIQRISK_DATABASE_URL"])
        child = subprocess.Popen(
            _liqrisk("collect", "--source", "binance"), env=env, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if rows(store, "SELECT count(*) FROM stream_event")[0][0] >= 100:
                break
            time.sleep(0.1)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        committed = rows(store, "SELECT count(*), max(id) FROM stream_event")[0]
        assert committed[0] >= 100
        # Its writer process notices the collector is gone and exits: no orphan holds the store.
        database = env["LIQRISK_DATABASE_URL"].removeprefix("sqlite:///")
        deadline = time.monotonic() + 15
        while _holders(database) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _holders(database) == []
        result = subprocess.run(
            _liqrisk("collect", "--source", "binance", "--for", "3", "--json"),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        verify = subprocess.run(_liqrisk("verify"), env=env, capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    events_ = sessions(store)
    gaps = [d for e, d in events_ if e == "gap"]
    assert len(gaps) == 1 and "ended without recording a disconnect" in gaps[0]
    count, counted = rows(store, "SELECT count(*), sum(counted) FROM stream_event")[0]
    assert count >= committed[0]  # everything committed before the kill is still there
    keys = rows(store, "SELECT count(DISTINCT dedup_key) FROM stream_event")[0][0]
    assert counted == keys  # and no event is counted twice


def test_events_lists_json_with_the_documented_keys(tmp_path: Path) -> None:
    frames = [
        binance_frame("ETHUSDT", "BUY", "2", "3000", MS),
        binance_frame("BTCUSDT", "SELL", "1", "100000", MS + 1),
    ]
    with venue_server(VenueServer("binance", [[("send", f) for f in frames]])) as url:
        env = _env(tmp_path, url)
        subprocess.run(_liqrisk("init"), env=env, check=True, capture_output=True)
        subprocess.run(
            _liqrisk("collect", "--source", "binance", "--for", "1"),
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
    args = ["events", "--source", "binance", "--start", "2025-10-22", "--end", "2025-10-23"]
    out = subprocess.run(
        _liqrisk(*args, "--asset", "eth", "--format", "json"),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = json.loads(out)
    assert len(listed) == 1
    event = listed[0]
    assert set(event) == {
        "venue",
        "instrument",
        "asset",
        "side",
        "price",
        "quantity",
        "usd",
        "exchange_time",
        "receive_time",
        "snapshot",
    }
    assert (event["asset"], event["side"], event["usd"]) == ("eth", "short", 6000.0)
    csv_out = subprocess.run(_liqrisk(*args), env=env, capture_output=True, text=True, check=True)
    assert csv_out.stdout.splitlines()[0].startswith("venue,instrument,asset,side")
    assert len(csv_out.stdout.splitlines()) == 3
    status = subprocess.run(_liqrisk("status", "--json"), env=env, capture_output=True, text=True)
    streams = json.loads(status.stdout)["streams"]
    assert streams[0]["stream"] == "binance.usdm" and streams[0]["connected"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["collect", "--source", "kraken"], "--source 'kraken' is not one of binance, bybit, okx"),
        (["collect", "--for", "0"], "--for 0 is not a positive number"),
        (["collect", "--sample", "x.csv"], "--sample goes with --demo"),
        (
            ["events", "--source", "binance", "--start", "2025-10-23", "--end", "2025-10-22"],
            "the range is empty",
        ),
        (
            [
                "events",
                "--source",
                "binance",
                "--start",
                "2025-10-22",
                "--end",
                "2025-10-23",
                "--format",
                "xml",
            ],
            "--format 'xml' is not csv or json",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run(_liqrisk(*args), capture_output=True, text=True)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_the_daemon_runs_the_collectors_and_stops_them_cleanly(tmp_path: Path) -> None:
    config = _config(tmp_path, 'in_daemon = true\nvenues = ["binance"]\nflush_seconds = 0.1')
    frames = [binance_frame("BTCUSDT", "SELL", "0.01", "100000", MS + i) for i in range(3)]
    with venue_server(VenueServer("binance", [[("send", f) for f in frames]])) as url:
        env = {**_env(tmp_path, url), "LIQRISK_CONFIG": config}
        subprocess.run(_liqrisk("init"), env=env, check=True, capture_output=True)
        store = Store(env["LIQRISK_DATABASE_URL"])
        daemon = subprocess.Popen(_liqrisk("run", "--no-catch-up"), env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if rows(store, "SELECT count(*) FROM stream_event")[0][0] >= 3:
                break
            time.sleep(0.1)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    assert rows(store, "SELECT count(*) FROM stream_event")[0][0] == 3
    assert ("disconnect", "stopped") in sessions(store)


def test_two_hosts_on_postgresql_one_collects_and_the_other_takes_over(
    tmp_path: Path, pg_url: str
) -> None:
    import asyncio
    import threading

    from reporting.fetch.streams.lease import current_holder
    from reporting.fetch.streams.runner import run_streams
    from tests.stream_helpers import specs_for, stream_settings

    server = VenueServer("binance", [[("clock", FRAMES)]], clock_interval=0.01)
    with venue_server(server) as url:
        env = {
            **_env(tmp_path, url),
            "LIQRISK_DATABASE_URL": pg_url,
            "LIQRISK_CONFIG": _config(tmp_path, "lease_seconds = 1.5"),
        }
        subprocess.run(_liqrisk("init"), env=env, check=True, capture_output=True)
        store = Store(pg_url)
        first = subprocess.Popen(_liqrisk("collect", "--source", "binance"), env=env)
        deadline = time.monotonic() + 30
        while rows(store, "SELECT count(*) FROM stream_event")[0][0] < 50:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        settings = stream_settings(binance_url=url, lease_seconds=1.5)
        second = threading.Thread(
            target=lambda: asyncio.run(
                run_streams(store, settings, specs_for(settings, "binance"), seconds=6.0)
            )
        )
        second.start()
        time.sleep(1.5)
        assert server.connections == 1  # the second host waits: the first holds the lease
        holder = current_holder(store, "binance.usdm", datetime.now(UTC))
        assert holder is not None and holder.split(":")[1] == str(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        before = rows(store, "SELECT count(*) FROM stream_event")[0][0]
        while server.connections < 2:
            assert time.monotonic() - killed_at < 5, "not taken over within the lease time"
            time.sleep(0.05)
        second.join(30)
    assert rows(store, "SELECT count(*) FROM stream_event")[0][0] > before
    gaps = [d for e, d in sessions(store) if e == "gap"]
    assert len(gaps) == 1 and "ended without recording a disconnect" in gaps[0]
    counted, keys = rows(
        store, "SELECT count(*) FILTER (WHERE counted), count(DISTINCT dedup_key) FROM stream_event"
    )[0]
    assert counted == keys
