"""The daily report's "Intraday alerts" part and the breach email's "Already alerted intraday":
each episode with its first crossing, highest value, escalation, resolution, who was told when and
who acknowledged it, read from the stored tables only, so ``liqrisk reproduce`` matches after the
store has grown. The rows are stored through the real collector path (``store_batch`` with the
intraday hook) on the demo store's stress day, the alerts delivered to aiosmtpd on 127.0.0.1."""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store.db import Store
from audit_store.tables_outbox import OutboxMessage
from reporting.checks.intraday_acks import acknowledge_alert
from reporting.config import Settings
from reporting.notify import drain, enqueue_breach_notices
from reporting.render import build_report, capture_inputs, render_html, reproduce_report
from reporting.render.model import ReportModel
from reporting.render.report import render_report
from tests.intraday_helpers import LEVELS, RISK, Feed, intraday_rows, intraday_settings
from tests.notify_helpers import SmtpServer
from tests.test_report_factory import STRESS_DAY, day_start, demo_store, report_settings

T0 = day_start(STRESS_DAY) + timedelta(hours=9)
NOW = day_start(STRESS_DAY) + timedelta(days=1, hours=7)  # the morning after
VELOCITY = {"velocity_usd_15m": {"asset_exchange": {"BTC/binc": LEVELS}, "repeat_minutes": 5}}


@dataclass
class Day:
    store: Store
    settings: Settings
    feed: Feed
    server: SmtpServer


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Day]:
    """The stress day with two episodes of velocity_usd_15m on BTC/binc: 100k USD a minute from
    09:00 to 09:20 (warn at 09:08, breach at 09:09, repeats every 5 minutes, resolved at 09:36),
    its alerts delivered; then again from 09:40 to the end of the feed (still open, its alerts not
    yet sent)."""
    server = SmtpServer()
    server.start()
    settings = intraday_settings(VELOCITY, base=report_settings(tmp_path))
    smtp = settings.smtp.model_copy(
        update={"host": "127.0.0.1", "port": server.port, "security": "none"}
    )
    settings = settings.model_copy(update={"smtp": smtp})
    store = demo_store(settings, history_days=1)
    feed = Feed(store, settings, t0=T0)
    feed.episode()
    drain(store, settings, wait_seconds=0, clock=lambda: feed.now + timedelta(seconds=2))
    for n in range(40, 56):
        feed.minute(n, {"BTC": 100_000})
    try:
        yield Day(store, settings, feed, server)
    finally:
        server.stop()
        store.dispose()


def _at(minute: int) -> datetime:
    """When the feed's batch of ``minute`` was evaluated."""
    return T0 + timedelta(minutes=minute, seconds=31)


def _model(day: Day) -> ReportModel:
    return build_report(day.store, day.settings, STRESS_DAY, now=NOW)


def test_the_section_shows_each_alert_as_stored(day: Day) -> None:
    rows = intraday_rows(day.store)
    kinds = [(r.kind, r.status) for r in rows]
    assert kinds[:6] == [
        ("new", "warn"),
        ("escalated", "breach"),
        *[("repeat", "breach")] * 3,  # 09:14, 09:19, 09:24: every 5 min while over the limit
        ("resolved", "ok"),
    ]
    escalated = rows[1]
    assert escalated.id is not None
    acknowledge_alert(
        day.store, escalated.id, by="A. Officer", comment="hedged with the desk",
        clock=lambda: _at(30),
    )  # fmt: skip
    model = _model(day)
    section = model.intraday
    assert section is not None and section.limits[0][0] == "velocity_usd_15m"
    first, second = section.alerts
    assert (first.number, first.limit_name, first.window_minutes) == (1, "velocity_usd_15m", 15)
    assert first.scope == "BTC/binc" and section.scopes["BTC/binc"].exchange is not None
    assert first.status == "breach" and first.source == "asset_exchange BTC/binc"
    assert (first.first.at, first.first.observed) == (_at(8), 900_000)
    assert (first.peak.at, first.peak.observed) == (_at(14), 1_500_000)  # the first repeat
    assert rows[6].kind == "new"  # 09:29 (600,000) and 09:34: under the limit, no repeat
    assert first.escalated is not None and first.escalated.at == _at(9)
    assert first.resolved is not None and first.resolved.at == _at(36)
    assert first.first.batch_leaf == day.feed.stored[8].leaf_index
    assert first.first.window_leaves == tuple(b.leaf_index for b in day.feed.stored[:9])
    told = [(n.events, n.to, n.state) for n in first.notices]
    assert told and all(to == (RISK,) and state == "delivered" for _, to, state in told)
    announced = {e for events, _, _ in told for e in events}
    assert {"escalated", "resolved"} <= announced and "crossed" not in announced  # warn: no route
    assert all(n.at is not None and _at(9) <= n.at <= _at(37) for n in first.notices)
    assert [(a.by, a.at, a.comment) for a in first.acks] == [
        ("A. Officer", _at(30), "hedged with the desk")
    ]
    assert second.resolved is None and second.acks == () and second.first.at == _at(48)
    assert second.notices and all(n.state == "pending" and n.at is None for n in second.notices)
    assert section.still_open == 1 and section.unacknowledged == 1

    html = render_html(model, software_version="test")
    part = html[html.index('<h3 id="intraday">') : html.index('<section id="charts">')]
    for text in (
        "2 intraday alerts</strong>",
        "1 still open</strong>",
        "1 not acknowledged</strong>",
        "A. Officer",
        "09:30:31: hedged with the desk",
        RISK,
        f"sent {first.notices[0].at:%H:%M:%S}",
        "not yet sent",
        "still open at end of day",
        "$1,500,000",
        "09:08:31",
        escalated.limit_set_sha256[:12],
        "liqrisk ack --alert ROW",
    ):
        assert text in part, text
    assert "2 intraday alerts on the live streams" in html  # the summary names them
    assert "<strong>Intraday limits.</strong>" in html  # and the methodology says how


def test_no_section_without_intraday_limits_or_rows(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings, history_days=0)
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assert model.intraday is None
    html = render_html(model, software_version="test")
    assert "Intraday" not in html and "intraday" not in html  # not the part, nor its styles
    # Configured but never crossed: the part says so, and which limits were watched.
    watched = intraday_settings(VELOCITY, base=settings)
    model = build_report(store, watched, STRESS_DAY, now=NOW)
    assert model.intraday is not None and model.intraday.alerts == ()
    html = render_html(model, software_version="test")
    assert "No intraday limit was crossed over the day. Configured: velocity_usd_15m" in html
    store.dispose()


def test_reproduce_reads_the_part_as_it_was_rendered(day: Day) -> None:
    render_report(day.store, day.settings, STRESS_DAY, now=NOW)
    later = intraday_rows(day.store)[-1]
    assert later.id is not None and later.status == "breach"
    acknowledge_alert(day.store, later.id, by="B. Officer", comment="late", clock=lambda: NOW)
    drain(day.store, day.settings, wait_seconds=0, clock=lambda: NOW + timedelta(minutes=1))
    day.feed.minute(70, {})  # and the stream goes on
    assert reproduce_report(day.store, day.settings, STRESS_DAY).matches
    fresh = _model(day).intraday  # a new render sees what happened since
    assert fresh is not None
    assert [a.by for a in fresh.alerts[1].acks] == ["B. Officer"]
    sent = [(n.events, n.state) for n in fresh.alerts[1].notices]
    assert sent[:2] == [(("escalated",), "delivered"), (("still over",), "delivered")]
    # Inputs taken before the part existed (formats v1, v2) have no bounds: no part.
    old = replace(capture_inputs(day.store, day.settings, STRESS_DAY, now=NOW), intraday=None)
    assert build_report(day.store, day.settings, STRESS_DAY, inputs=old).intraday is None


def _breach_email(store: Store, settings: Settings) -> tuple[str, str]:
    """The text and HTML parts of the day's breach email, enqueued the morning after."""
    with store.session() as session:
        enqueue_breach_notices(session, settings, STRESS_DAY, clock=lambda: NOW)
    with store.read_session() as session:
        (body,) = session.execute(
            select(col(OutboxMessage.body)).where(col(OutboxMessage.kind) == "breach")
        ).scalars()
    message = email.message_from_bytes(body, policy=policy.default)
    assert isinstance(message, EmailMessage)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    return str(text.get_content()), str(html.get_content())


def test_the_breach_email_lists_the_alerts_as_already_alerted(day: Day) -> None:
    body, html = _breach_email(day.store, day.settings)
    assert "New:" in body  # the day's check results, announced as before
    new, already = body.split("Already alerted intraday", 1)
    assert "velocity_usd_15m" not in new  # the intraday alerts are not announced as new
    binc = day.settings.exchange_name("binc")
    assert f"velocity_usd_15m (15-min window), BTC on {binc} (binc): first crossed " in already
    assert "first crossed 09:08:31 UTC, 900,000 USD; resolved 09:36:31 UTC" in already
    assert "first crossed 09:48:31 UTC, 900,000 USD; still open at the end of the day" in already
    assert f"Told: {RISK} (escalated" in already and "not yet sent" in already
    assert "Already alerted intraday" in html and "still open at the end of the day" in html


def test_a_breach_email_without_intraday_alerts_has_no_such_part(tmp_path: Path) -> None:
    settings = intraday_settings(VELOCITY, base=report_settings(tmp_path))
    store = demo_store(settings, history_days=0)
    body, html = _breach_email(store, settings)
    assert "New:" in body and "Already alerted" not in body + html
    store.dispose()
