"""Intraday limits on hourly Kaiko fetches: a loopback Kaiko server, the real fetch with the
:class:`.HourlyAlerts` page hook, an aiosmtpd server receiving the alerts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from audit_store.canonical import as_utc
from audit_store.db import Store
from reporting.checks.intraday_hourly import hourly_tables, plan_for
from reporting.config import Settings
from reporting.fetch.ingest import fetch
from reporting.notify.intraday_hourly import HourlyAlerts, deliver_now
from reporting.schedule.daemon import daemon_settings
from reporting.schedule.jobs import Context, drain_job, fetch_job
from tests.collect_rig import CollectConfig, liqrisk
from tests.conftest import SettingsFactory
from tests.intraday_helpers import RISK, Feed, intraday_rows, intraday_settings
from tests.kaiko_server import KaikoTestServer, datum
from tests.notify_helpers import SmtpServer, smtp_env

KEY = "sk-hourly-test"
T0 = datetime(2025, 11, 3, tzinfo=UTC)  # 00:00; the cascade is at 09:00
HOUR = timedelta(hours=1)
LEVELS = {"warn": 1_500_000, "breach": 2_000_000}
TABLES: dict[str, Any] = {
    "velocity_usd_60m": {"asset_exchange": {"BTC/drbt": LEVELS}, "repeat_minutes": 120},
    "velocity_usd_15m": {"asset_exchange": {"BTC/drbt": LEVELS}},  # not read off hourly figures
    "exposure_usd_day": {"per": "asset", "asset": {"BTC": {"warn": 5e6, "breach": 6e6}}},
}
Hour = dict[str, tuple[int, float, int, float]]


def hour_of(drbt_usd: float, bbit_usd: float = 100_000.0) -> Hour:
    """One hour's exchanges: ``drbt`` mostly longs liquidated, ``bbit`` balanced."""
    return {
        "drbt": (40, drbt_usd * 0.8, 10, drbt_usd * 0.2),
        "bbit": (5, bbit_usd / 2, 5, bbit_usd / 2),
    }


@dataclass
class Rig:
    server: KaikoTestServer
    smtp: SmtpServer
    settings: Settings
    store: Store

    def fetch_hour(self, start: datetime, *, settings: Settings | None = None) -> HourlyAlerts:
        """Fetch the hour from ``start`` as the hourly job does, 16 minutes after it closed."""
        settings = settings or self.settings
        now = start + HOUR + timedelta(minutes=16)
        alerts = HourlyAlerts(settings, clock=lambda: now)
        fetch(
            self.store,
            settings,
            source="kaiko",
            assets=["btc"],
            start=start,
            end=start + HOUR,
            clock=lambda: now,
            after_store=alerts,
        )
        deliver_now(self.store, settings, clock=lambda: now, sleep=lambda _s: None)
        return alerts


def _kaiko_settings(
    base: Settings, source: str = "kaiko", tables: dict[str, Any] = TABLES
) -> Settings:
    settings = intraday_settings(tables, base=base)
    fetch_settings = settings.fetch.model_copy(update={"default_source": source})
    return settings.model_copy(update={"fetch": fetch_settings})


@pytest.fixture
def rig(make_settings: SettingsFactory) -> Iterator[Rig]:
    server = KaikoTestServer({"btc": []}, api_key=KEY)
    smtp = SmtpServer()
    smtp.start()
    with server.running():
        base = make_settings(
            LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY, **smtp_env(smtp)
        )
        settings = _kaiko_settings(base)
        store = Store(settings.database_url)
        store.create_schema()
        try:
            yield Rig(server, smtp, settings, store)
        finally:
            smtp.stop()
            store.dispose()


def _serve(rig: Rig, hours: dict[int, Hour]) -> None:
    rig.server.data["btc"] = [datum(T0 + h * HOUR, hours[h]) for h in sorted(hours)]


def test_an_hour_over_the_limit_alerts_once_and_resolves_once(rig: Rig) -> None:
    hours = {h: hour_of(200_000) for h in range(12)}
    hours[9] = hour_of(2_500_000)  # the cascade hour: drbt over the 2,000,000 breach level
    _serve(rig, hours)
    decided = [rig.fetch_hour(T0 + h * HOUR).decided for h in range(7, 12)]
    rows = intraday_rows(rig.store)
    assert decided == [0, 0, 1, 1, 0]
    assert [(r.kind, r.status, r.scope, r.feed) for r in rows] == [
        ("new", "breach", "BTC/drbt", "kaiko"),
        ("resolved", "ok", "BTC/drbt", "kaiko"),
    ]
    new, resolved = rows
    assert new.limit_name == "velocity_usd_60m" and new.window_minutes == 60
    assert new.observed == pytest.approx(2_500_000)
    assert (as_utc(new.window_start), as_utc(new.window_end)) == (T0 + 9 * HOUR, T0 + 10 * HOUR)
    assert new.episode == f"velocity_usd_60m|BTC/drbt|{(T0 + 10 * HOUR).isoformat()}|kaiko"
    assert (
        resolved.episode == new.episode and "1 hour(s) of kaiko hourly volumes" in resolved.detail
    )
    assert "kaiko hourly volumes, 1 hour(s)" in new.detail
    leaves = json.loads(new.leaves_json)
    assert leaves and all(isinstance(n, int) for n in leaves)
    # exactly one breach and one resolved message, at once (no later drain needed)
    subjects = [str(m.message["Subject"]) for m in rig.smtp.received]
    assert len(subjects) == 2 and all(m.rcpt_tos == [RISK] for m in rig.smtp.received)
    assert "intraday BREACH: BTC/drbt (kaiko hourly) velocity_usd_60m" in subjects[0]
    assert "RESOLVED" in subjects[1]
    body = rig.smtp.received[0].message.get_body(preferencelist=("plain",))
    assert body is not None and "page leaf indices" in body.get_content()


def test_the_fifteen_minute_table_is_left_to_the_streams(rig: Rig) -> None:
    names = [name for name, _table in hourly_tables(rig.settings.limits)]
    assert names == ["exposure_usd_day", "velocity_usd_60m"]
    _serve(rig, {9: hour_of(2_500_000)})
    rig.fetch_hour(T0 + 9 * HOUR)
    assert {r.limit_name for r in intraday_rows(rig.store)} == {"velocity_usd_60m"}


def test_exposure_since_midnight_adds_the_hours_of_the_day(rig: Rig) -> None:
    hours = {h: hour_of(900_000) for h in range(8)}  # ~1 M USD an hour with bbit's 100 k
    _serve(rig, hours)
    for h in range(8):
        rig.fetch_hour(T0 + h * HOUR)
    found = [r for r in intraday_rows(rig.store) if r.limit_name == "exposure_usd_day"]
    row, escalated, *repeats = found
    # 5 hours of 1,000,000 reach the 5,000,000 warn level with the hour from 04:00
    assert (row.kind, row.status, row.scope) == ("new", "warn", "BTC")
    assert (as_utc(row.window_start), as_utc(row.window_end)) == (T0, T0 + 5 * HOUR)
    assert row.observed == pytest.approx(5_000_000) and row.window_minutes == 300
    assert "top exchanges: drbt: 4500000 USD in 250 events" in row.detail
    assert (escalated.kind, escalated.status, escalated.observed) == ("escalated", "breach", 6e6)
    assert as_utc(escalated.window_end) == T0 + 6 * HOUR
    # still over: repeated every repeat_minutes (60, the default), i.e. on each hour
    assert [(r.kind, r.observed) for r in repeats] == [("repeat", 7e6), ("repeat", 8e6)]


def test_old_hours_and_hours_judged_before_are_not_evaluated(rig: Rig) -> None:
    _serve(rig, {9: hour_of(2_500_000)})
    later = T0 + 9 * HOUR + 3 * timedelta(days=1)
    alerts = HourlyAlerts(rig.settings, clock=lambda: later)
    fetch(
        rig.store,
        rig.settings,
        source="kaiko",
        assets=["btc"],
        start=T0 + 9 * HOUR,
        end=T0 + 10 * HOUR,
        clock=lambda: later,
        after_store=alerts,
    )
    assert alerts.decided == 0 and intraday_rows(rig.store) == []  # a backfill alerts no one
    rig.fetch_hour(T0 + 9 * HOUR)
    assert len(intraday_rows(rig.store)) == 1
    _serve(rig, {9: hour_of(3_000_000)})  # Kaiko revises the hour: a correction
    assert rig.fetch_hour(T0 + 9 * HOUR).decided == 0  # judged already: the daily checks read it
    assert len(intraday_rows(rig.store)) == 1


def test_the_streams_own_their_venues_and_the_per_asset_scope(rig: Rig) -> None:
    assert plan_for("kaiko", "kaiko", ["binc"]) is not None
    assert plan_for("streams", "kaiko", ["binc"]) is None
    assert plan_for("kaiko+streams", "kaiko", ["binc"]) == plan_for("kaiko", "kaiko", [])
    combined = plan_for("streams+kaiko", "kaiko", ["binc", "bbit", "okex"])
    assert combined is not None and not combined.per_asset
    assert combined.skipped == {"binc", "bbit", "okex"}
    bbit = {**LEVELS, "warn": 100_000, "breach": 150_000}
    tables = {
        **TABLES,
        "velocity_usd_60m": {"asset_exchange": {"BTC/drbt": LEVELS, "BTC/bbit": bbit}},
    }
    settings = _kaiko_settings(rig.settings, source="streams+kaiko", tables=tables)
    _serve(rig, {h: hour_of(2_500_000, bbit_usd=1_000_000) for h in range(6)})
    for h in range(6):
        rig.fetch_hour(T0 + h * HOUR, settings=settings)
    scopes = {(r.limit_name, r.scope) for r in intraday_rows(rig.store)}
    assert scopes == {("velocity_usd_60m", "BTC/drbt")}  # not bbit (streamed), not the asset


def test_a_stream_episode_and_an_hourly_one_do_not_mix(rig: Rig) -> None:
    tables = {"velocity_usd_60m": {"asset_exchange": {"BTC/binc": LEVELS}, "repeat_minutes": 0}}
    settings = _kaiko_settings(rig.settings, tables=tables)
    hours = {9: {"binc": (10, 1_250_000.0, 10, 1_250_000.0)}}
    _serve(rig, hours)
    rig.fetch_hour(T0 + 9 * HOUR, settings=settings)
    feed = Feed(rig.store, settings, t0=T0 + 9 * HOUR)
    feed.minute(0, {"BTC": 2_100_000})  # the stream's own crossing, a new episode of its own
    rows = intraday_rows(rig.store)
    assert [(r.kind, r.feed) for r in rows] == [("new", "kaiko"), ("new", "streams")]
    assert rows[0].episode != rows[1].episode and rows[0].scope == rows[1].scope == "BTC/binc"


def test_a_failing_evaluation_keeps_the_page_and_records_why(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reporting.notify.intraday_hourly as hourly

    def broken(*_args: object, **_kwargs: object) -> list[object]:
        raise RuntimeError("the evaluation broke")

    monkeypatch.setattr(hourly, "evaluate_page", broken)
    _serve(rig, {9: hour_of(2_500_000)})
    rig.fetch_hour(T0 + 9 * HOUR)
    (row,) = intraday_rows(rig.store)
    assert (row.kind, row.feed) == ("error", "kaiko") and "the evaluation broke" in row.detail
    with rig.store.read_session() as session:
        from audit_store.models import IntervalVolume

        assert session.execute(select(IntervalVolume)).first() is not None


def test_liqrisk_fetch_delivers_the_alerts_of_the_hours_it_fetched(tmp_path: Path) -> None:
    """The command an operator's cron runs every hour: the hour over the limit is in the risk
    desk's inbox when ``liqrisk fetch`` exits."""
    closed = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if datetime.now(UTC) - closed < timedelta(minutes=16):  # Kaiko's hour settles 15 minutes
        closed -= HOUR
    first = closed - 3 * HOUR
    hours = [datum(first + k * HOUR, hour_of(200_000)) for k in range(2)]
    hours.append(datum(first + 2 * HOUR, hour_of(2_500_000)))  # the last closed hour
    server = KaikoTestServer({"btc": hours}, api_key=KEY)
    smtp = SmtpServer()
    smtp.start()
    limits = (
        "[velocity_usd_60m]\n"
        'asset_exchange = { "BTC/drbt" = { warn = 1500000, breach = 2000000 } }\n'
    )
    try:
        with server.running():
            config = CollectConfig(
                tmp_path / "config",
                smtp.port,
                limits,
                assets=("btc",),
                fetch={"default_source": '"kaiko"'},
                extra_env={"LIQRISK_KAIKO_BASE_URL": server.base_url, "KAIKO_API_KEY": KEY},
            ).write()
            output = liqrisk(
                config, "ws://127.0.0.1:9", "fetch", "--source", "kaiko",
                "--start", first.isoformat(), "--end", closed.isoformat(),
            )  # fmt: skip
    finally:
        smtp.stop()
    assert "intraday: 1 alert row(s) on the hours fetched; outbox: 1 delivered" in output, output
    (mail,) = smtp.received
    assert (
        "intraday BREACH: BTC/drbt (kaiko hourly) velocity_usd_60m crossed, 2,500,000 USD"
        in str(mail.message["Subject"])
    )
    assert mail.rcpt_tos == [RISK]


def test_the_daemons_fetch_job_alerts_and_its_drain_job_sends_what_was_held(
    make_settings: SettingsFactory,
) -> None:
    """The daemon on the demo source: its hourly fetch evaluates the last day's hours as they
    land (BTC's and DOGE's pages, one transaction each); the first alert goes at once, DOGE's,
    found within the group window, waits for the drain job."""
    now = datetime(2025, 11, 4, 1, 0, tzinfo=UTC)  # the demo set's stress day was yesterday
    smtp = SmtpServer()
    smtp.start()
    try:
        base = make_settings(**smtp_env(smtp))
        tables = {"velocity_usd_60m": {"per": "asset", "asset": {"BTC": LEVELS, "DOGE": LEVELS}}}
        settings = intraday_settings(tables, base=base)
        fetch_settings = settings.fetch.model_copy(update={"assets": ("btc", "doge")})
        settings = daemon_settings(settings.model_copy(update={"fetch": fetch_settings}))
        store = Store(settings.database_url)
        store.create_schema()
        fetched = fetch_job(Context(store, settings, "test@host:1:abc", clock=lambda: now))
        rows = intraday_rows(store)
        assert fetched.status == "ok" and f"{len(rows)} intraday alert row(s)" in fetched.detail
        assert {r.scope for r in rows} == {"BTC", "DOGE"} and {r.feed for r in rows} == {"demo"}
        assert all(now - timedelta(hours=24) <= as_utc(r.window_end) <= now for r in rows)
        assert len(smtp.received) == 1  # BTC's page: at once; DOGE's: held by the group window
        later = now + timedelta(seconds=31)
        drained = drain_job(Context(store, settings, "test@host:1:abc", clock=lambda: later))
        assert drained.status == "ok" and len(smtp.received) == 2
        subjects = [str(m.message["Subject"]) for m in smtp.received]
        assert "BTC (demo hourly)" in subjects[0] and "DOGE (demo hourly)" in subjects[1]
        # a first fetch's day: each change of an episode, a repeat only on the newest hour
        assert [(r.scope, r.kind) for r in rows] == [
            ("BTC", "new"), ("BTC", "repeat"), ("DOGE", "new"), ("DOGE", "resolved"),
        ]  # fmt: skip
        assert drain_job(Context(store, settings, "test@host:1:abc", clock=lambda: later)).status
        assert len(smtp.received) == 2  # once
        store.dispose()
    finally:
        smtp.stop()
