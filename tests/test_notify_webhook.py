"""Webhooks against a loopback HTTP server: signed, retried, never repeated, no secret stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from audit_store.db import Store
from reporting.config import Settings, Webhook
from reporting.notify import drain, enqueue_breach_notices, list_outbox, sign, verify_signature
from reporting.notify.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER
from tests.notify_helpers import DAY, FakeClock, HookServer, store_results, with_notify

SECRET = "hook-key-0123456789abcdef"
SECRET_ENV = "LIQRISK_TEST_HOOK_KEY"


@pytest.fixture
def hook() -> Iterator[HookServer]:
    server = HookServer()
    yield server
    server.close()


def hooked(settings: Settings, url: str, **extra: object) -> Settings:
    webhook = Webhook(url=url, secret_env=SECRET_ENV, **extra)
    return with_notify(settings, webhooks={"ops": webhook}, max_attempts=4)


def run_day(store: Store, settings: Settings, clock: FakeClock, env: dict[str, str]) -> None:
    with store.session() as session:
        enqueue_breach_notices(session, settings, DAY, clock=clock)
    drain(store, settings, clock=clock, sleep=clock.sleep, env=env)


def test_signed_post_retried_then_delivered_once(
    store: Store, settings: Settings, hook: HookServer
) -> None:
    s = hooked(settings, hook.url)
    store_results(
        store, DAY, {("daily_usd", "BTC"): "breach", ("daily_usd_exchange", "ETH/okex"): "breach"}
    )
    hook.statuses = [503]
    clock = FakeClock()
    env = {SECRET_ENV: SECRET}
    run_day(store, s, clock, env)
    run_day(store, s, clock, env)  # the day again: nothing new

    assert len(hook.requests) == 2  # 503, then 200; never a third
    (first_headers, first_body), (headers, body) = hook.requests
    assert (
        first_body == body
        and first_headers[DELIVERY_HEADER.lower()] == headers[DELIVERY_HEADER.lower()]
    )
    stamp = headers[TIMESTAMP_HEADER.lower()]
    assert headers[SIGNATURE_HEADER.lower()] == sign(SECRET.encode(), stamp, body)
    signature = headers[SIGNATURE_HEADER.lower()]
    key = SECRET.encode()
    assert verify_signature(key, stamp, body, signature, now=clock.now)
    assert not verify_signature(b"wrong", stamp, body, signature, now=clock.now)
    assert not verify_signature(key, stamp, body + b" ", signature, now=clock.now)
    later = clock.now + timedelta(hours=1)
    assert not verify_signature(key, stamp, body, signature, now=later)  # a replay
    assert headers["content-type"] == "application/json"

    payload = json.loads(body)
    assert payload["type"] == "liqrisk.breach_group.v1" and payload["day"] == "2025-11-03"
    assert {(e["scope"], e["state"]) for e in payload["events"]} == {
        ("BTC", "new"),
        ("ETH/okex", "new"),
    }
    assert {e["exchange"] for e in payload["events"]} == {None, "okex"}

    (entry,) = [e for e in list_outbox(store) if e.channel == "webhook"]
    assert entry.state == "delivered" and entry.addressee == "webhook ops"
    assert [(a.result, a.response_code) for a in entry.attempts] == [
        ("sending", None), ("retry", 503), ("sending", None), ("delivered", 200),
    ]  # fmt: skip
    with store.session() as session:
        stored = repr(session.execute(text("SELECT * FROM outbox_message")).all()) + repr(
            session.execute(text("SELECT * FROM outbox_attempt")).all()
        )
    assert SECRET not in stored and "T0K3N" not in stored  # neither key nor URL is kept


def test_client_error_is_permanent_and_operations_are_told(
    store: Store, settings: Settings, hook: HookServer
) -> None:
    s = hooked(settings, hook.url)
    store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
    hook.statuses = [400]
    clock = FakeClock()
    run_day(store, s, clock, {SECRET_ENV: SECRET})
    assert len(hook.requests) == 1 and clock.slept == []
    by_kind = {e.kind + ":" + e.channel: e for e in list_outbox(store)}
    assert by_kind["breach:webhook"].state == "failed"
    assert by_kind["ops:email"].state == "delivered"
    notice = (settings.reports_dir / "outbox").glob("*_ops_undeliverable.*.eml")
    assert "webhook ops" in next(notice).read_text()


def test_missing_key_waits_without_sending(
    store: Store, settings: Settings, hook: HookServer
) -> None:
    s = hooked(settings, hook.url)
    store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
    clock = FakeClock()
    with store.session() as session:
        enqueue_breach_notices(session, s, DAY, clock=clock)
    result = drain(store, s, clock=clock, sleep=clock.sleep, env={}, wait_seconds=0)
    assert hook.requests == [] and len(result.retrying) == 1
    (entry,) = [e for e in list_outbox(store) if e.channel == "webhook"]
    assert f"${SECRET_ENV}" in entry.attempts[-1].detail
    clock.now = entry.attempts[-1].retry_at or clock.now
    drain(store, s, clock=clock, sleep=clock.sleep, env={SECRET_ENV: SECRET}, wait_seconds=0)
    assert len(hook.requests) == 1


def test_unreachable_webhook_keeps_its_url_out_of_the_record(
    store: Store, settings: Settings
) -> None:
    s = hooked(settings, "http://127.0.0.1:9/hooks/T0K3N")
    store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
    clock = FakeClock()
    with store.session() as session:
        enqueue_breach_notices(session, s, DAY, clock=clock)
    drain(store, s, clock=clock, sleep=clock.sleep, env={SECRET_ENV: SECRET}, wait_seconds=0)
    (entry,) = [e for e in list_outbox(store) if e.channel == "webhook"]
    assert entry.state == "retry" and "T0K3N" not in json.dumps(entry.to_json())
