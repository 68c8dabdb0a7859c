"""Intraday velocity limits on the live streams: parsed and validated with the limit set,
evaluated on every batch stored through the real :func:`.writer.store_batch`, alerted through the
outbox in the same transaction, delivered by the drain to an SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text
from sqlmodel import col

from audit_store.canonical import as_utc
from audit_store.checkpoint import sign_checkpoint
from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.note import NoteSigner
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_outbox import OutboxItem, OutboxMessage
from audit_store.tables_streams import StreamMinute
from reporting.checks.limits import LimitSet, window_minutes
from reporting.checks.store import limit_set_sha256
from reporting.config import Route, Settings, load_limits, load_settings
from reporting.errors import ConfigError
from reporting.evidence import verify_everything
from reporting.fetch.streams import writer
from reporting.fetch.streams.runner import run_streams
from reporting.fetch.streams.venues import stream_specs
from reporting.fetch.streams.writer import StoredBatch
from reporting.notify import drain, inserting
from reporting.notify import intraday_groups as groups
from reporting.notify.intraday import Deliverer, IntradayAlerts
from tests.intraday_helpers import LEVELS, RISK, T0, VELOCITY_15M, Feed
from tests.notify_helpers import SmtpServer, outbox_messages, smtp_env, with_notify
from tests.stream_helpers import FAST, new_store
from tests.ws_venues import VenueServer, binance_frame, venue_server

pytest_plugins = ["tests.pg"]  # any_store: SQLite and PostgreSQL

BTC_DESK = "btc-desk@example.com"


def _settings(tables: dict[str, Any], env: dict[str, str] | None = None) -> Settings:
    base = load_settings(env=env or {})
    data = {**base.limits.model_dump(mode="json"), **tables}
    settings = base.model_copy(update={"limits": LimitSet.model_validate(data)})
    routes = (Route(severity=("breach",), to=(RISK,)),)
    return with_notify(settings, routes=routes)


SUBJECT = (
    "[Example Derivatives Ltd] intraday BREACH: BTC/binc velocity_usd_15m escalated to breach, "
    "1,000,000 USD in 15 min"
)


def _results(store: Store) -> list[tuple[str, str, str, float]]:
    with store.read_session() as session:
        rows = session.execute(select(IntradayResult).order_by(col(IntradayResult.id))).scalars()
        return [(r.kind, r.status, r.scope, r.observed) for r in rows]


def _kinds(store: Store, message: OutboxMessage) -> list[str]:
    """The kinds of the intraday results a message announces."""
    with store.read_session() as session:
        query = select(col(IntradayResult.kind)).join(
            OutboxItem, col(OutboxItem.intraday_result_id) == col(IntradayResult.id)
        )
        query = query.where(col(OutboxItem.outbox_message_id) == message.id)
        return list(session.execute(query.order_by(col(IntradayResult.id))).scalars())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = new_store(tmp_path)
    yield s
    s.dispose()


# --- the limit set ---------------------------------------------------------------------------


def test_intraday_tables_parse_with_scopes_and_hysteresis(tmp_path: Path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(
        "[velocity_usd_15m]\nwarn = 5_000_000\nbreach = 10_000_000\n"
        "asset.BTC = { warn = 20_000_000, breach = 40_000_000 }\n"
        'asset_exchange."BTC/binc" = { warn = 15_000_000, breach = 30_000_000 }\n'
        "exchange.bbit = { warn = 4_000_000, breach = 8_000_000 }\n"
        "jurisdiction.SC = { warn = 3_000_000, breach = 6_000_000 }\n"
        "hysteresis = { resolve_below_pct = 80, resolve_after_minutes = 5 }\n"
        '[velocity_count_5m]\nper = "asset"\nwarn = 100\nbreach = 200\n'
        "[velocity_usd_4h]\nwarn = 1\nbreach = 2\n"
    )
    limits = load_limits(path)
    usd = limits.intraday["velocity_usd_15m"]
    assert usd.minutes == 15 and limits.intraday["velocity_usd_4h"].minutes == 240
    assert usd.hysteresis.resolve_below_pct == 80 and usd.hysteresis.resolve_after_minutes == 5
    resolved = usd.resolve("BTC", "binc", None)
    assert resolved is not None and resolved.threshold.breach == 30_000_000  # narrowest wins
    resolved = usd.resolve("ETH", "okex", "SC")
    assert resolved is not None and resolved.source == "jurisdiction SC"
    count = limits.intraday["velocity_count_5m"]
    assert count.per == "asset" and count.hysteresis.resolve_below_pct == 90  # the defaults
    # each table under its own name in the canonical form, read back the same
    dumped = limits.model_dump(mode="json")
    assert "intraday" not in dumped and dumped["velocity_usd_15m"]["warn"] == 5_000_000
    assert limit_set_sha256(LimitSet.model_validate(dumped)) == limit_set_sha256(limits)
    assert window_minutes("1m") == 1 and window_minutes("24h") == 1440


def test_a_limit_set_without_intraday_tables_keeps_its_hash() -> None:
    settings = load_settings(env={})
    assert "intraday" not in settings.limits.model_dump(mode="json")
    with_one = _settings(VELOCITY_15M)
    assert limit_set_sha256(with_one.limits) != limit_set_sha256(settings.limits)


@pytest.mark.parametrize(
    ("table", "found"),
    [
        ("[velocity_usd_90s]\nwarn = 1\nbreach = 2\n", "key velocity_usd_90s = '90s'"),
        ("[velocity_usd_25h]\nwarn = 1\nbreach = 2\n", "key velocity_usd_25h = '25h'"),
        ("[velocity_count_0m]\nwarn = 1\nbreach = 2\n", "key velocity_count_0m = '0m'"),
        ("[velocity_usd_15m]\nwarn = 3\nbreach = 2\n", "key velocity_usd_15m: "),
        (
            "[velocity_usd_15m]\nwarn = 1\nbreach = 2\nhysteresis = { resolve_below_pct = 120 }\n",
            "key velocity_usd_15m.hysteresis.resolve_below_pct = 120",
        ),
        (
            '[velocity_usd_5m]\nper = "asset"\nexchange.binc = { warn = 1, breach = 2 }\n',
            "takes asset overrides only",
        ),
        ("[velocity_usd_5m]\nwarn = 1\nbreach = 2\nrepeat = 1\n", "unknown key velocity_usd_5m"),
        ("[velocity_eur_5m]\nwarn = 1\nbreach = 2\n", "unknown key velocity_eur_5m"),
    ],
)
def test_intraday_errors_name_file_key_and_value(tmp_path: Path, table: str, found: str) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(table)
    with pytest.raises(ConfigError) as info:
        load_limits(path)
    assert str(path) in str(info.value) and found in str(info.value)
    if "90s" in table or "25h" in table:
        assert "1m to 24h" in str(info.value)


# --- evaluation and alerts -------------------------------------------------------------------


def test_a_15_minute_velocity_crossing_gives_one_breach_and_one_resolved(
    any_store: Store,
) -> None:
    """100k USD a minute: the 15-minute window reaches warn (900k) at minute 8 and breach (1M)
    at minute 9, stays over, then BTC stops after minute 20: the window is under 810k (90% of
    warn) from minute 27, for 10 minutes at minute 36. On SQLite and PostgreSQL."""
    store = any_store
    feed = Feed(store, _settings(VELOCITY_15M))
    for n in range(21):
        feed.minute(n, {"BTC": 100_000})
        kinds = [r[0] for r in _results(store)]
        if n == 7:
            assert kinds == []
        if n == 8:
            assert kinds == ["new"]
        if n == 9:
            assert kinds == ["new", "escalated"]
    assert _results(store) == [
        ("new", "warn", "BTC/binc", 900_000),
        ("escalated", "breach", "BTC/binc", 1_000_000),
    ]  # staying over (minutes 10..20, up to 1.5M) adds nothing
    assert [m.subject for m in outbox_messages(store)] == [SUBJECT]  # warn is not routed here
    for n in range(21, 36):
        feed.minute(n, {})  # the venue streams on, BTC is quiet
    assert len(_results(store)) == 2
    feed.minute(36, {})
    results = _results(store)
    assert [r[:2] for r in results] == [
        ("new", "warn"),
        ("escalated", "breach"),
        ("resolved", "ok"),
    ]
    for n in range(37, 45):
        feed.minute(n, {})
    assert len(_results(store)) == 3
    messages = outbox_messages(store)
    assert [_kinds(store, m) for m in messages] == [["escalated"], ["resolved"]]
    with store.read_session() as session:
        rows = list(session.execute(select(IntradayResult)).scalars())
        session.expunge_all()
    breach = rows[1]
    # minutes 08:55..09:09: the window ending at the batch's newest minute (09:09), end exclusive
    assert as_utc(breach.window_start) == T0 - timedelta(minutes=5)
    assert as_utc(breach.window_end) == T0 + timedelta(minutes=10) and breach.window_minutes == 15
    assert breach.limit == 1_000_000 and breach.warn_at == 900_000
    assert breach.limit_set_sha256 == limit_set_sha256(feed.settings.limits)
    leaves = json.loads(breach.leaves_json)
    assert leaves == [b.leaf_index for b in feed.stored[:10]]
    body = messages[0].body.decode()
    assert "velocity_usd_15m" in body and "BTC/binc" in body and "binance BTCUSDT" in body
    assert "batch leaf indices (10)" in body and "08:55" in body
    # the results are evidence: append-only
    with pytest.raises(AppendOnlyViolation):
        with store.session() as session:
            session.execute(text("UPDATE intraday_result SET status = 'ok'"))
    assert verify_everything(store, feed.settings).ok


def test_a_hovering_value_crosses_once_and_does_not_flap(store: Store) -> None:
    tables = {"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}, "repeat_minutes": 0}}
    feed = Feed(store, _settings(tables))
    hovering = [1_100_000, 950_000, 850_000, 1_050_000, 820_000, 990_000, 1_200_000, 830_000]
    for n, usd in enumerate(hovering):
        feed.minute(n, {"BTC": usd})
    assert [r[:2] for r in _results(store)] == [("new", "breach")]
    assert len(outbox_messages(store)) == 1
    for n in range(len(hovering), len(hovering) + 10):
        feed.minute(n, {"BTC": 500_000})  # under 810k for 10 minutes
    assert [r[:2] for r in _results(store)] == [("new", "breach"), ("resolved", "ok")]
    assert len(outbox_messages(store)) == 2


def test_an_episode_repeats_per_interval(store: Store) -> None:
    tables = {"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}, "repeat_minutes": 5}}
    feed = Feed(store, _settings(tables))
    for n in range(12):
        feed.minute(n, {"BTC": 2_000_000})
    assert [r[0] for r in _results(store)] == ["new", "repeat", "repeat"]
    assert len({m.idempotency_key for m in outbox_messages(store)}) == 3


def test_per_asset_limits_sum_across_venues_and_warn_routes(store: Store) -> None:
    tables = {"velocity_count_5m": {"per": "asset", "warn": 3, "breach": 100}}
    settings = _settings(tables)
    settings = with_notify(
        settings, routes=(Route(severity=("warn",), assets=("BTC",), to=(BTC_DESK,)),)
    )
    feed = Feed(store, settings)
    for n in range(3):
        feed.minute(n, {"BTC": 10, "ETH": 10})
    assert [r[:3] for r in _results(store)] == [("new", "warn", "BTC"), ("new", "warn", "ETH")]
    assert [json.loads(m.recipients_json) for m in outbox_messages(store)] == [[BTC_DESK]]


def test_the_result_and_its_message_are_stored_together_or_not_at_all(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = Feed(store, _settings({"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}}}))
    real = inserting.insert_with_items

    def broken(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(groups, "insert_with_items", broken)
    stored = feed.minute(0, {"BTC": 2_000_000})
    # the batch is stored; neither the result nor the message; the failure is on record
    with store.read_session() as session:
        events = session.execute(text("SELECT count(*) FROM stream_event")).scalar_one()
        assert events == 1
    assert _results(store) == [("error", "error", "", 0.0)]
    assert outbox_messages(store) == [] and stored.enqueued == 0
    with store.read_session() as session:
        error = session.execute(select(IntradayResult)).scalars().one()
        session.expunge_all()
    assert "the disk is full" in error.detail and json.loads(error.leaves_json) == [0]
    # the next batch finds the crossing
    monkeypatch.setattr(groups, "insert_with_items", real)
    assert feed.minute(1, {"BTC": 2_000_000}).enqueued == 1
    assert [r[:2] for r in _results(store)] == [("error", "error"), ("new", "breach")]
    # the same batch evaluated again (a retry) enqueues nothing twice
    with store.session() as session:
        last = feed.stored[-1]
        batch = writer.CommittedBatch(last.snapshot_id, last.leaf_index, "binance", {}, feed.now)
        assert feed.hook(session, batch) == 0
    assert len(outbox_messages(store)) == 1


def test_a_hook_that_raises_does_not_lose_the_batch(store: Store) -> None:
    feed = Feed(store, _settings(VELOCITY_15M))

    def crash(session: Any, batch: Any) -> int:
        raise ValueError("bug")

    feed.hook = crash  # type: ignore[assignment]
    stored = feed.minute(0, {"BTC": 1})
    assert stored.enqueued == 0 and stored.events == 1


def test_breach_and_resolved_emails_are_delivered_once(store: Store, tmp_path: Path) -> None:
    server = SmtpServer()
    server.start()
    try:
        settings = _settings(
            {"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}}}, env=smtp_env(server)
        )
        signer = NoteSigner.generate(settings.audit.origin)
        feed = Feed(store, settings)
        feed.minute(0, {"BTC": 100})
        checkpoint = sign_checkpoint(store, signer, settings.audit.origin)
        feed.minute(1, {"BTC": 1_500_000})
        report = drain(store, settings, wait_seconds=0)
        assert len(report.delivered) == 1 and len(server.received) == 1
        mail = server.received[0].message
        assert "BREACH" in str(mail["Subject"]) and server.received[0].rcpt_tos == [RISK]
        body = mail.get_body(("plain",))
        assert body is not None
        content = body.get_content()
        assert f"tree size {checkpoint.tree_size}" in content
        assert "over by" in content.lower()
        for n in range(2, 14):
            feed.minute(n, {"BTC": 1_500_000 if n < 3 else 0})
            drain(store, settings, wait_seconds=0)
        assert len(server.received) == 2
        assert "RESOLVED" in str(server.received[1].message["Subject"])
        assert drain(store, settings, wait_seconds=0).attempts == 0  # nothing twice
        assert len(server.received) == 2
    finally:
        server.stop()


def test_evaluation_cost_does_not_grow_with_the_day(store: Store) -> None:
    """A day of minute rows (1,440 minutes x 4 assets x 3 batches) before the batch: the
    evaluation reads the window's minutes only."""
    settings = _settings(VELOCITY_15M)
    feed = Feed(store, settings)

    def timed(n: int) -> float:
        started = time.perf_counter()
        feed.minute(n, {"BTC": 10})
        return time.perf_counter() - started

    empty = min(timed(n) for n in range(5))
    rows = [
        {
            "snapshot_id": feed.stored[0].snapshot_id,
            "venue": "binance",
            "asset": asset,
            "minute": T0 - timedelta(days=1) + timedelta(minutes=m),
            "long_usd": 1.0,
            "short_usd": 0.0,
            "long_count": 1,
            "short_count": 0,
        }
        for m in range(1440)
        for asset in ("BTC", "ETH", "SOL", "XRP")
        for _ in range(3)
    ]
    with store.session() as session:
        session.execute(insert(StreamMinute.__table__), rows)  # type: ignore[attr-defined]
        assert session.execute(select(func.count()).select_from(StreamMinute)).scalar_one()
    full = min(timed(n) for n in range(5, 10))
    assert full < max(3 * empty, empty + 0.05), (empty, full)


def test_the_collector_alerts_at_once_from_its_writer_process(store: Store) -> None:
    """Frames from a loopback Binance server, batches written by the writer process with the
    hook (pickled to it), the alert drained to SMTP as soon as its batch is committed."""
    server = SmtpServer()
    server.start()
    ms = 1_761_125_802_306
    frames = [binance_frame("BTCUSDT", "SELL", "6", "100000", ms + i) for i in range(2)]
    script = [("send", frames[0]), ("sleep", 0.5), ("send", frames[1])]
    try:
        base = _settings(
            {"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}}}, env=smtp_env(server)
        )
        with venue_server(VenueServer("binance", [script])) as url:
            settings = base.model_copy(
                update={"streams": base.streams.model_copy(update={**FAST, "binance_url": url})}
            )
            deliverer = Deliverer(store, settings)
            written: list[StoredBatch] = []

            def on_batch(spec: object, stored: StoredBatch, seconds: float) -> None:
                written.append(stored)
                deliverer.on_batch(spec, stored, seconds)

            asyncio.run(
                run_streams(
                    store,
                    settings,
                    stream_specs(settings, ("binance",)),
                    seconds=20,
                    until=lambda _s: len(server.received) >= 1,
                    on_batch=on_batch,
                    after_batch=IntradayAlerts(settings),
                )
            )
            deliverer.close()
        assert any(b.written_by != os.getpid() for b in written)  # the writer process
        assert [b.enqueued for b in written if b.enqueued] == [1]
        assert len(server.received) == 1 and "BREACH" in str(server.received[0].message["Subject"])
        assert [r[:2] for r in _results(store)] == [("new", "breach")]
    finally:
        server.stop()


def test_the_limit_set_behind_an_intraday_result_is_kept(store: Store) -> None:
    feed = Feed(store, _settings({"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}}}))
    feed.minute(0, {"BTC": 2_000_000})
    feed.minute(1, {"BTC": 0})
    with store.read_session() as session:
        kept = session.execute(text("SELECT sha256, canonical_json FROM limit_set")).all()
    assert [k[0] for k in kept] == [limit_set_sha256(feed.settings.limits)]
    assert json.loads(kept[0][1])["velocity_usd_1m"]["asset_exchange"]["BTC/binc"] == LEVELS


def test_the_packaged_examples_parse_when_uncommented(tmp_path: Path) -> None:
    packaged = (Path(__file__).parent.parent / "config" / "limits.toml").read_text()
    section = packaged.split("# --- intraday", 1)[1].split("# ---", 1)[0]
    tables = section[section.index("# [") :]  # the examples, after the prose
    example = "\n".join(line.removeprefix("#").removeprefix(" ") for line in tables.splitlines())
    path = tmp_path / "limits.toml"
    path.write_text(example)
    limits = load_limits(path)
    assert sorted(limits.intraday) == [
        "exposure_usd_day",
        "imbalance_60m",
        "velocity_count_5m",
        "velocity_usd_15m",
    ]
    assert limits.intraday["imbalance_60m"].measure == "imbalance"
