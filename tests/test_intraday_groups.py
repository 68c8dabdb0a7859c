"""Intraday alerts per route and webhook: the first at once, the next ones grouped by the group
window, each result announced once per channel, also after a restart; webhooks signed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_outbox import OutboxItem
from reporting.config import Route, Settings, Webhook
from reporting.notify import drain, verify_signature
from reporting.notify.intraday import Deliverer
from reporting.notify.intraday_groups import HORIZON, announce, channels
from reporting.notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_row
from tests.intraday_helpers import LEVELS, RISK, Feed, intraday_settings
from tests.notify_helpers import HookServer, outbox_messages, with_notify
from tests.stream_helpers import new_store

ONE_MINUTE = {
    "velocity_usd_1m": {
        "asset_exchange": {"BTC/binc": LEVELS, "ETH/binc": LEVELS, "SOL/binc": LEVELS},
        "repeat_minutes": 0,
    }
}
DESK = "btc-desk@example.com"
SECRET = "hook-key-0123456789abcdef"
SECRET_ENV = "LIQRISK_TEST_INTRADAY_HOOK"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = new_store(tmp_path)
    yield s
    s.dispose()


def _settings(group_seconds: float, **notify: Any) -> Settings:
    return with_notify(
        intraday_settings(ONE_MINUTE), intraday_group_seconds=group_seconds, **notify
    )


def _announced(store: Store) -> list[tuple[str, list[str]]]:
    """Per message, oldest first: its channel and the scopes and kinds it announces."""
    with store.read_session() as session:
        rows = session.execute(
            select(col(OutboxItem.outbox_message_id), col(OutboxItem.channel), IntradayResult)
            .join(IntradayResult, col(IntradayResult.id) == col(OutboxItem.intraday_result_id))
            .order_by(col(OutboxItem.outbox_message_id), col(IntradayResult.id))
        ).all()
        found: dict[int, tuple[str, list[str]]] = {}
        for message_id, channel, result in rows:
            found.setdefault(message_id, (channel, []))[1].append(f"{result.scope} {result.kind}")
    return list(found.values())


def test_the_first_goes_at_once_and_the_next_ones_wait_for_the_group_window(store: Store) -> None:
    feed = Feed(store, _settings(group_seconds=300))
    feed.minute(0, {"BTC": 2_000_000})
    assert feed.stored[-1].enqueued == 1  # nothing before it: at once
    feed.minute(1, {"ETH": 2_000_000})
    feed.minute(2, {"SOL": 2_000_000})
    assert [s.enqueued for s in feed.stored] == [1, 0, 0]  # within 300 s of the first: held
    (email,) = channels(feed.settings)
    assert _announced(store) == [(email.name, ["BTC/binc new"])]

    deliverer = Deliverer(store, feed.settings, clock=lambda: feed.now)
    assert deliverer.tick() == 0  # the window still runs (the first went 2 minutes ago)
    feed.now += timedelta(minutes=3)
    assert deliverer.tick() == 1  # now both, as one message
    assert deliverer.tick() == 0
    assert _announced(store) == [
        (email.name, ["BTC/binc new"]),
        (email.name, ["ETH/binc new", "SOL/binc new"]),
    ]
    grouped = outbox_messages(store)[1]
    assert "2 alerts (2 BREACH)" in grouped.subject
    body = grouped.body.decode()
    assert "ETH/binc" in body and "SOL/binc" in body and "within 300 s" in body
    deliverer.close()


def test_a_held_alert_is_sent_once_by_whoever_comes_next(store: Store) -> None:
    """A collector killed while an alert was held: the next process announces it, once."""
    feed = Feed(store, _settings(group_seconds=120))
    feed.minute(0, {"BTC": 2_000_000})
    feed.minute(1, {"ETH": 2_000_000})  # held; then the process dies
    later = feed.now + timedelta(minutes=5)
    with store.session() as session:
        assert announce(session, feed.settings, later).enqueued == 1
    with store.session() as session:  # a second process, or a second tick: nothing twice
        done = announce(session, feed.settings, later)
        assert (done.enqueued, done.held) == (0, 0)
    assert [kinds for _, kinds in _announced(store)] == [["BTC/binc new"], ["ETH/binc new"]]
    with store.session() as session:  # beyond the horizon nothing is looked for
        assert announce(session, feed.settings, later + HORIZON).enqueued == 0


def test_no_group_window_sends_each_alert_alone(store: Store) -> None:
    feed = Feed(store, _settings(group_seconds=0))
    feed.minute(0, {"BTC": 2_000_000, "ETH": 2_000_000})  # two crossings in one batch: one message
    feed.minute(1, {"SOL": 2_000_000})
    assert [s.enqueued for s in feed.stored] == [1, 1]
    assert [kinds for _, kinds in _announced(store)] == [
        ["BTC/binc new", "ETH/binc new"],
        ["SOL/binc new"],
    ]


def test_one_message_per_route(store: Store) -> None:
    routes = (
        Route(severity=("breach",), to=(RISK,)),
        Route(severity=("warn", "breach"), assets=("BTC",), to=(DESK,)),
    )
    feed = Feed(store, with_notify(_settings(group_seconds=30), routes=routes))
    feed.minute(0, {"BTC": 950_000, "ETH": 2_000_000})  # BTC at warn, ETH in breach
    risk, desk = channels(feed.settings)
    assert sorted(_announced(store)) == sorted(
        [(risk.name, ["ETH/binc new"]), (desk.name, ["BTC/binc new"])]
    )
    recipients = sorted(json.loads(m.recipients_json) for m in outbox_messages(store))
    assert recipients == [[DESK], [RISK]]


def test_an_intraday_webhook_is_signed_and_sent_once(store: Store) -> None:
    hook = HookServer()
    try:
        webhook = Webhook(url=hook.url, secret_env=SECRET_ENV, severity=("breach",))
        settings = _settings(group_seconds=30, webhooks={"ops": webhook})
        feed = Feed(store, settings)
        feed.minute(0, {"BTC": 2_000_000})
        env = {SECRET_ENV: SECRET}
        drain(store, settings, wait_seconds=0, env=env, clock=lambda: feed.now)
        drain(store, settings, wait_seconds=0, env=env, clock=lambda: feed.now)
        (headers, body), *more = hook.requests
        assert not more
        stamp = headers[TIMESTAMP_HEADER.lower()]
        assert verify_signature(
            SECRET.encode(), stamp, body, headers[SIGNATURE_HEADER.lower()], now=feed.now
        )
        payload = json.loads(body)
        assert payload["type"] == "liqrisk.intraday_alerts.v1"
        (alert,) = payload["alerts"]
        assert (alert["scope"], alert["kind"], alert["status"]) == ("BTC/binc", "new", "breach")
        assert alert["observed"] == 2_000_000 and alert["breach"] == LEVELS["breach"]
        assert alert["top"][0]["instrument"] == "BTCUSDT" and alert["leaves"]
        assert SECRET not in body.decode()
        email, webhook_channel = channels(settings)
        assert [c for c, _ in _announced(store)] == [email.name, webhook_channel.name]
        assert webhook_channel.name == "webhook:ops"
    finally:
        hook.close()


def test_alerts_link_to_the_console_where_it_is_configured(store: Store) -> None:
    settings = _settings(group_seconds=0)
    settings = settings.model_copy(
        update={"web": settings.web.model_copy(update={"base_url": "https://risk.example.com"})}
    )
    feed = Feed(store, settings)
    feed.minute(0, {"BTC": 2_000_000})
    (message,) = outbox_messages(store)
    with store.read_session() as session:
        result_id = session.execute(select(col(IntradayResult.id))).scalar_one()
    assert f"https://risk.example.com/alerts/{result_id}" in message.body.decode()


def test_a_result_announced_before_groups_is_not_announced_again(store: Store) -> None:
    """A store upgraded from 0013, whose alerts went one message per result under the key
    ``intraday:<episode>:<kind>``: those results are not announced a second time."""
    quiet = with_notify(_settings(group_seconds=0), routes=())  # stored, told to nobody
    quiet = quiet.model_copy(
        update={"email": quiet.email.model_copy(update={"risk": (), "compliance": ()})}
    )
    assert channels(quiet) == []
    feed = Feed(store, quiet)
    feed.minute(0, {"BTC": 2_000_000, "ETH": 2_000_000})
    assert outbox_messages(store) == []
    with store.session() as session:
        btc = session.execute(
            select(IntradayResult).where(col(IntradayResult.scope) == "BTC/binc")
        ).scalar_one()
        body = b"an 0013 alert"
        session.add(
            webhook_row(
                key=f"intraday:{btc.episode}:{btc.kind}", kind="intraday", target="old",
                day=feed.now.date(), now=feed.now, subject="0013", body=body,
            )
        )  # fmt: skip
    with store.session() as session:
        assert announce(session, _settings(group_seconds=0), feed.now).enqueued == 1
    assert [kinds for _, kinds in _announced(store)] == [["ETH/binc new"]]
