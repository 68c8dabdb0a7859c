"""The collectors against loopback venues: what is stored, duplicates counted once, every fault
on record and nothing committed lost."""

from __future__ import annotations

import csv
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit_store.db import Store
from reporting.fetch.derivers import verify_derived_tables
from reporting.fetch.streams.demo import sample_frames
from reporting.fetch.streams.reading import events, gaps
from reporting.fetch.streams.verify import verify_stream_tables
from tests.stream_helpers import (
    collect,
    frames_at_least,
    new_store,
    rows,
    sessions,
    specs_for,
    stream_settings,
)
from tests.ws_venues import VenueServer, binance_frame, bybit_frame, okx_frame, venue_server

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
SAMPLE_DIR = REAL / "binance_usdm_liquidations_chiefJurist"
MS = 1761125802306

pytest_plugins = ["tests.pg"]


def _verified(store: Store) -> None:
    assert verify_derived_tables(store) == []
    assert verify_stream_tables(store) == []


def _sample_usd(path: Path) -> float:
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(float(r["usd_value"]) for r in csv.DictReader(fh))


@pytest.mark.skipif(
    not SAMPLE_DIR.is_dir() and not os.environ.get("CI"),
    reason="../shared/data/real is not beside the repo (required in CI)",
)
@pytest.mark.parametrize("name", ["head_sample.csv", "tail_sample.csv"])
def test_the_real_binance_sample_replayed_stores_the_csv_usd_totals(
    tmp_path: Path, name: str
) -> None:
    path = SAMPLE_DIR / name
    frames = [f.decode() for f in sample_frames(path)]
    settings = stream_settings()
    with venue_server(VenueServer("binance", [[("send", f) for f in frames]])) as url:
        settings = stream_settings(binance_url=url)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), until=frames_at_least(len(frames)))
    stored = events(store, venue="binance", start=_day(2025, 10, 1), end=_day(2025, 11, 1))
    assert len(stored) == len(frames)
    assert sum(e["usd"] for e in stored) == pytest.approx(_sample_usd(path), rel=1e-12)
    assert {
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
    } == set(stored[0])
    assert {e["side"] for e in stored} <= {"long", "short"}
    body = b"".join(r[0] for r in rows(store, "SELECT body FROM snapshot ORDER BY leaf_index"))
    for frame in frames:
        assert frame.encode() in body  # byte for byte
    _verified(store)


def _day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


def test_bad_frames_are_kept_raw_and_rejected_with_their_reason(tmp_path: Path) -> None:
    good = binance_frame("BTCUSDT", "SELL", "0.5", "100000", MS)
    bad = [
        "not json at all",
        json.dumps({"e": "forceOrder", "o": {"s": "BTCUSDT", "S": "SELL", "ap": "x"}}),
        "<html><body>rate limited</body></html>",
        binance_frame("BTCUSDT", "SELL", "-3", "100000", MS + 1),
        "x" * (70 * 1024),  # over the 64 KiB a liquidation frame never needs
    ]
    script = [("send", good), *(("send", b) for b in bad)]
    with venue_server(VenueServer("binance", [script])) as url:
        settings = stream_settings(binance_url=url)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), until=frames_at_least(6))
    reasons = [r[0] for r in rows(store, "SELECT reason FROM stream_rejected_frame ORDER BY id")]
    assert len(reasons) == 5
    assert "not valid JSON" in reasons[0] and "over the 65536-byte limit" in reasons[4]
    assert rows(store, "SELECT count(*) FROM stream_event")[0][0] == 1
    body = rows(store, "SELECT body FROM snapshot")[0][0]
    assert b"<html><body>rate limited</body></html>" in body
    _verified(store)


def test_an_abrupt_disconnect_reconnects_within_a_second_and_counts_resent_frames_once(
    tmp_path: Path,
) -> None:
    frames = [binance_frame("ETHUSDT", "BUY", "1", "3000", MS + i) for i in range(6)]
    first = [("send", f) for f in frames[:4]] + [("sleep", 0.3), ("abort",)]
    second = [("send", f) for f in frames[2:]]  # the venue re-sends two it had sent
    with venue_server(VenueServer("binance", [first, second])) as url:
        settings = stream_settings(binance_url=url)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), until=frames_at_least(8))
    counted = rows(store, "SELECT sum(counted), count(*) FROM stream_event")[0]
    assert tuple(counted) == (6, 8)
    minutes = rows(store, "SELECT sum(short_count), sum(short_usd) FROM stream_minute")[0]
    assert tuple(minutes) == (6, 18000.0)
    kinds = [e for e, _ in sessions(store)]
    assert kinds.count("connect") == 2
    lost = [d for e, d in sessions(store) if e == "disconnect" and d != "stopped"]
    assert lost and "connection lost" in lost[0]
    times = rows(store, "SELECT at FROM stream_session WHERE event IN ('disconnect', 'connect')")
    _verified(store)
    assert len(times) >= 3


def test_a_silent_connection_is_replaced_after_the_idle_timeout(tmp_path: Path) -> None:
    frame = binance_frame("BTCUSDT", "SELL", "0.1", "100000", MS)
    with venue_server(VenueServer("binance", [[("send", frame), ("silent",)]])) as url:
        settings = stream_settings(binance_url=url, binance_idle_seconds=0.6)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), seconds=2.0)
    details = [d for e, d in sessions(store) if e == "disconnect"]
    assert any(d.startswith("idle: no frame for 0.6 s") for d in details)
    assert rows(store, "SELECT sum(counted) FROM stream_event")[0][0] == 1


def test_the_legacy_binance_path_connects_and_receives_nothing(tmp_path: Path) -> None:
    server = VenueServer("binance", [[("send", binance_frame("BTCUSDT", "SELL", "1", "1", MS))]])
    with venue_server(server) as url:
        settings = stream_settings(binance_url=url, binance_idle_seconds=0.5)
        store = new_store(tmp_path)
        specs = specs_for(settings, "binance", url=url + "/ws/!forceOrder@arr")
        collect(store, settings, specs, seconds=1.5)
    assert server.paths[0] == "/ws/!forceOrder@arr"
    assert rows(store, "SELECT count(*) FROM stream_event")[0][0] == 0
    assert any(d.startswith("idle") for e, d in sessions(store) if e == "disconnect")


def test_bybit_subscribes_in_chunks_keeps_alive_and_reads_position_sides(tmp_path: Path) -> None:
    script = [
        ("sleep", 0.2),
        ("send", bybit_frame("BTCUSDT", "Buy", "0.02", "90000", MS)),
        ("send", bybit_frame("ETHUSDT", "Sell", "1", "3000", MS + 1)),
    ]
    server = VenueServer("bybit", [script], ping_timeout=1.0)
    assets = (*tuple(f"a{i}" for i in range(11)), "btc", "eth")
    with venue_server(server) as url:
        settings = stream_settings(bybit_url=url, assets=assets)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "bybit", ping_seconds=0.3), seconds=2.5)
    assert [len(m["args"]) for m in server.subscribe_requests] == [10, 3]
    assert server.connections == 1 and server.pings >= 3  # kept alive past the 1 s timeout
    stored = events(store, venue="bybit", start=_day(2025, 10, 1), end=_day(2025, 11, 1))
    assert [(e["asset"], e["side"], e["usd"]) for e in stored] == [
        ("btc", "long", pytest.approx(1800.0)),
        ("eth", "short", pytest.approx(3000.0)),
    ]
    assert ("subscribed", "sub-0") in sessions(store)
    _verified(store)


def test_a_refused_subscription_is_recorded_and_not_retried_at_once(tmp_path: Path) -> None:
    server = VenueServer("bybit", [[("silent",)]], refuse=frozenset({"allLiquidation.BTCUSDT"}))
    with venue_server(server) as url:
        settings = stream_settings(bybit_url=url, assets=("btc",), max_retry_seconds=5.0)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "bybit"), seconds=1.5)
    events_ = sessions(store)
    assert any(e == "refused" and "handler not found" in d for e, d in events_)
    assert any(e == "disconnect" and d.startswith("subscription refused") for e, d in events_)
    assert server.connections == 1  # backed off instead of hammering


def test_okx_out_of_order_events_are_placed_by_exchange_time_with_contract_values(
    tmp_path: Path,
) -> None:
    script = [
        ("send", okx_frame("BTC-USDT-SWAP", "sell", "long", "5", "90000", MS + 60_000)),
        ("send", okx_frame("BTC-USDT-SWAP", "buy", "short", "2", "91000", MS)),
    ]
    server = VenueServer("okx", [script], ping_timeout=0.8)
    with venue_server(server) as url:
        settings = stream_settings(okx_url=url, assets=("btc",))
        store = new_store(tmp_path)
        contracts = {"BTC-USDT-SWAP": (0.01, 1.0, "BTC")}
        specs = specs_for(settings, "okx", contracts, ping_seconds=0.25)
        collect(store, settings, specs, seconds=2.0)
    assert server.connections == 1 and server.pings >= 3
    stored = events(store, venue="okx", start=_day(2025, 10, 1), end=_day(2025, 11, 1))
    assert [(e["side"], e["usd"]) for e in stored] == [
        ("short", pytest.approx(1820.0)),
        ("long", pytest.approx(4500.0)),
    ]
    _verified(store)


def test_the_rollover_opens_the_next_connection_first_and_loses_nothing(tmp_path: Path) -> None:
    frames = [binance_frame("SOLUSDT", "SELL", "1", "180", MS + i) for i in range(60)]
    server = VenueServer("binance", [[("clock", frames)]], clock_interval=0.05)
    with venue_server(server) as url:
        settings = stream_settings(binance_url=url, rollover_seconds=1.0, overlap_seconds=0.3)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), seconds=3.6)
    counted, total = rows(store, "SELECT sum(counted), count(*) FROM stream_event")[0]
    assert counted == 60 and total > 60  # the overlaps were stored twice, counted once
    rollovers = [d for e, d in sessions(store) if d.startswith("rollover: replaced by")]
    assert len(rollovers) >= 2
    assert server.connections >= 3
    _verified(store)


def test_coverage_gaps_name_their_reason(tmp_path: Path) -> None:
    first = [("send", binance_frame("BTCUSDT", "SELL", "1", "1", MS)), ("close", 1011, "restart")]
    with venue_server(VenueServer("binance", [first, [("silent",)]])) as url:
        settings = stream_settings(binance_url=url, first_retry_seconds=0.0)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), seconds=1.0)
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    found = gaps(store, "binance.usdm", now - timedelta(minutes=5), now)
    assert found[0].detail == "no collector was running"  # before the run
    assert any("code 1011" in g.detail for g in found)


def test_both_engines_store_count_once_and_append_only(any_store: Store) -> None:
    from sqlalchemy import text

    from audit_store.errors import AppendOnlyViolation

    frames = [bybit_frame("BTCUSDT", "Sell", "0.1", "95000", MS + i) for i in range(3)]
    script = [("send", f) for f in [*frames, frames[1]]]  # the venue re-sends one
    with venue_server(VenueServer("bybit", [script])) as url:
        settings = stream_settings(bybit_url=url, assets=("btc",))
        collect(any_store, settings, specs_for(settings, "bybit"), until=frames_at_least(5))
    assert tuple(rows(any_store, "SELECT count(*) FROM stream_event")[0]) == (4,)
    assert rows(any_store, "SELECT sum(short_count) FROM stream_minute")[0][0] == 3
    _verified(any_store)
    for table in ("stream_event", "stream_minute", "stream_session"):  # rows to refuse
        with pytest.raises(AppendOnlyViolation), any_store.session() as session:
            session.execute(text(f"DELETE FROM {table}"))


def test_verify_names_a_duplicate_counted_twice_and_a_forged_minute(tmp_path: Path) -> None:
    from sqlalchemy import text

    frame = binance_frame("BTCUSDT", "SELL", "1", "100000", MS)
    with venue_server(VenueServer("binance", [[("send", frame)]])) as url:
        settings = stream_settings(binance_url=url)
        store = new_store(tmp_path)
        collect(store, settings, specs_for(settings, "binance"), until=frames_at_least(1))
    with store.session() as session:  # a second copy of the event, counted, and a made-up minute
        session.execute(text("DROP TRIGGER stream_event_no_update"))
        session.execute(text("DROP TRIGGER stream_minute_no_update"))
        session.execute(
            text(
                "INSERT INTO stream_event (snapshot_id, row_index, venue, frame_index, "
                "instrument, asset, quote, side, price, quantity, usd, exchange_time, "
                "receive_time, dedup_key, counted) SELECT snapshot_id, 1, venue, frame_index, "
                "instrument, asset, quote, side, price, quantity, usd, exchange_time, "
                "receive_time, dedup_key, 1 FROM stream_event"
            )
        )
        session.execute(text("UPDATE stream_minute SET long_usd = long_usd * 2"))
    found = [d.message for d in verify_stream_tables(store)]
    assert any("is a duplicate of its key but is counted" in m for m in found)
    assert any("the counted events give" in m for m in found)
    assert any(
        d.table == "stream_event" and "extra row, not derived" in d.message
        for d in verify_derived_tables(store)
    )


def test_status_warns_of_a_connected_stream_that_sends_nothing(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from reporting.fetch.streams.reading import health
    from reporting.fetch.streams.writer import SessionEvent, record_sessions

    store = new_store(tmp_path)
    settings = stream_settings()
    spec = specs_for(settings, "binance")[0]
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    record_sessions(store, [SessionEvent(spec.stream, "binance", "c1", "connect", an_hour_ago)])
    found = health(store, spec, silent_warn_seconds=300)
    assert found.connected and found.last_frame is None
    assert found.warning is not None and "no frame for over 300 s" in found.warning
    assert found.frames_last_hour == 0 and found.events_last_hour == 0


def test_stream_coverage_is_a_data_quality_result_naming_each_gap(tmp_path: Path) -> None:
    from datetime import timedelta

    from reporting.checks.stream_quality import stream_coverage_outcomes
    from reporting.fetch.streams.writer import SessionEvent, record_sessions

    store = new_store(tmp_path)
    settings = stream_settings(venues=("binance", "bybit"))
    day = _day(2026, 3, 2)
    at = [day + timedelta(hours=h) for h in (0, 6, 7, 30)]
    record_sessions(
        store,
        [
            SessionEvent("binance.usdm", "binance", "a", "connect", at[0]),
            SessionEvent("binance.usdm", "binance", "a", "subscribed", at[0]),
            SessionEvent("binance.usdm", "binance", "a", "disconnect", at[1], "idle: no frame"),
            SessionEvent("binance.usdm", "binance", "b", "connect", at[2]),
            SessionEvent("binance.usdm", "binance", "b", "subscribed", at[2]),
            SessionEvent("binance.usdm", "binance", "b", "disconnect", at[3], "stopped"),
        ],
    )
    (outcome,) = stream_coverage_outcomes(store, settings, day.date(), day + timedelta(days=2))
    assert (outcome.check, outcome.scope, outcome.status) == (
        "dq_stream_coverage",
        "binance.usdm",
        "warn",
    )
    assert outcome.observed == pytest.approx(100 * 23 / 24)
    assert "06:00:00-07:00:00 (disconnect: idle: no frame)" in outcome.message
    (whole,) = stream_coverage_outcomes(
        store, settings, (day + timedelta(days=1)).date(), day + timedelta(days=1, hours=5)
    )
    assert whole.status == "ok" and whole.observed == pytest.approx(100.0)  # bybit: never run


def test_a_venue_that_cannot_be_reached_is_retried_and_each_failure_recorded(
    tmp_path: Path,
) -> None:
    settings = stream_settings(binance_url="ws://127.0.0.1:1")  # nothing listens on port 1
    store = new_store(tmp_path)
    result = collect(store, settings, specs_for(settings, "binance"), seconds=1.5)
    stats = result.streams["binance.usdm"]
    assert stats.connections == 0 and stats.connect_failures >= 2
    assert stats.last_failure is not None and stats.last_failure.startswith("cannot connect")
    failed = [d for e, d in sessions(store) if e == "connect_failed"]
    assert len(failed) == stats.connect_failures


def test_a_connection_subscribed_days_ago_and_still_open_covers_today(tmp_path: Path) -> None:
    from datetime import timedelta

    from reporting.fetch.streams.reading import coverage
    from reporting.fetch.streams.writer import SessionEvent, record_sessions

    store = new_store(tmp_path)
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=3)
    record_sessions(
        store,
        [
            SessionEvent("bybit.linear", "bybit", "c", "connect", long_ago),
            SessionEvent("bybit.linear", "bybit", "c", "subscribed", long_ago),
        ],
    )
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    covered, missing = coverage(store, "bybit.linear", day, day + timedelta(days=1))
    assert missing == [] and covered[0].start == day
