"""The outbox against a real SMTP server on 127.0.0.1 (aiosmtpd): every message exactly once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.tables_outbox import OutboxAttempt, OutboxItem, OutboxMessage
from reporting.config import Route, Settings
from reporting.notify import (
    SmtpTransport,
    drain,
    enqueue_breach_notices,
    enqueue_daily_report,
    list_outbox,
)
from tests.conftest import SettingsFactory
from tests.notify_helpers import (
    DAY,
    DummyReport,
    FakeClock,
    SmtpServer,
    dummy_report,
    password_authenticator,
    self_signed,
    smtp_env,
    store_results,
    with_notify,
)
from tests.pg import any_store  # noqa: F401  (fixture: the store on SQLite and PostgreSQL)

RISK = "risk-desk@example.com"
BTC_DESK = "btc-desk@example.com"
ETH_DESK = "eth-desk@example.com"
OPS = "ops@example.com"
ROUTES = (
    Route(severity=("breach",), to=(RISK,)),
    Route(severity=("breach", "warn"), assets=("BTC",), to=(BTC_DESK,)),
    Route(severity=("breach",), assets=("ETH",), to=(ETH_DESK,)),
)


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    s = SmtpServer()
    s.start()
    yield s
    s.stop()


@pytest.fixture
def smtp_settings(make_settings: SettingsFactory, server: SmtpServer) -> Settings:
    return with_notify(make_settings(**smtp_env(server)), routes=ROUTES, operations=(OPS,))


def enqueue(
    store: Store,
    settings: Settings,
    day: date,
    clock: FakeClock,
    report: DummyReport | None = None,
) -> None:
    with store.session() as session:
        enqueue_breach_notices(session, settings, day, clock=clock)
        if report is not None:
            enqueue_daily_report(session, settings, day, report, clock=clock)


def count(store: Store, table: type) -> int:
    with store.session() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def by_recipients(server: SmtpServer) -> dict[tuple[str, ...], str]:
    """Each received message's plain-text body, keyed by its sorted recipients."""
    out = {}
    for r in server.received:
        body = r.message.get_body(("plain",))
        assert body is not None
        out[tuple(sorted(r.rcpt_tos))] = body.get_content()
    return out


def test_report_email_carries_its_pdf(
    store: Store, smtp_settings: Settings, server: SmtpServer, tmp_path: Path
) -> None:
    store_results(store, DAY, {("daily_usd", "BTC"): "breach", ("velocity_usd", "ETH"): "warn"})
    report = dummy_report(tmp_path / "reports")
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock, report)
    result = drain(store, smtp_settings, clock=clock, sleep=clock.sleep)
    assert len(result.delivered) == 2 and not result.failed  # the report and one breach group

    (mail,) = [r for r in server.received if "risk report" in str(r.message["Subject"])]
    msg = mail.message
    assert mail.rcpt_tos == ["compliance@example.com"]
    assert "2025-11-03" in msg["Subject"] and "1 breach, 1 warning" in msg["Subject"]
    (pdf,) = [p for p in msg.iter_attachments()]
    assert pdf.get_content_type() == "application/pdf"
    assert pdf.get_filename() == "liqrisk-report-2025-11-03.pdf"
    assert pdf.get_content() == report.pdf_path.read_bytes()
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None

    (entry,) = [e for e in list_outbox(store) if e.kind == "report"]
    assert entry.state == "delivered" and entry.message_id == msg["Message-ID"]
    assert entry.attachments[0]["sha256"] == report.pdf_sha256
    assert entry.body_sha256 == hashlib.sha256(mail.content).hexdigest()
    assert [a.result for a in entry.attempts] == ["sending", "delivered"]
    assert entry.attempts[-1].response_code == 250 and "queued as" in entry.attempts[-1].detail


def test_breaches_are_grouped_per_run_by_severity_and_asset(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    store_results(
        store,
        DAY,
        {
            ("daily_usd", "BTC"): "breach",
            ("daily_usd_exchange", "BTC/binc"): "breach",
            ("velocity_usd", "BTC"): "warn",
            ("daily_usd", "ETH"): "breach",
            ("daily_usd", "SOL"): "breach",
            ("daily_usd", "XRP"): "ok",
        },
    )
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    drain(store, smtp_settings, clock=clock, sleep=clock.sleep)

    # One email per person with all of theirs: risk hears of every breach; the BTC desk of the
    # BTC breaches and the BTC warning; the ETH desk of ETH. XRP is fine: nobody hears of it.
    bodies = by_recipients(server)
    assert set(bodies) == {(BTC_DESK,), (ETH_DESK,), (RISK,)}
    btc = bodies[(BTC_DESK,)]
    assert "BTC on Binance (binc)" in btc and "Daily liquidations (USD), BTC" in btc
    assert "[WARN] Velocity" in btc and "ETH" not in btc and "SOL" not in btc
    risk = bodies[(RISK,)]
    assert all(a in risk for a in ("BTC", "ETH", "SOL")) and "[WARN]" not in risk
    assert "XRP" not in risk and "ETH" in bodies[(ETH_DESK,)]
    subjects = {tuple(r.rcpt_tos): str(r.message["Subject"]) for r in server.received}
    assert subjects[(RISK,)].endswith("4 new (BTC, ETH, SOL)")
    assert len(server.received) == 3
    assert count(store, OutboxItem) == 8  # one row per event in each message that carries it


def test_repeat_after_the_interval_and_resolve_once(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    settings = with_notify(
        smtp_settings,
        routes=(Route(severity=("breach",), to=(RISK,)),),
        repeat_interval=timedelta(days=2),
    )
    days = [date(2025, 11, 1) + timedelta(days=n) for n in range(5)]
    plan = [
        {"BTC": "breach", "ETH": "ok"},  # BTC new
        {"BTC": "breach", "ETH": "breach"},  # BTC ongoing (1 day: quiet), ETH new
        {"BTC": "breach", "ETH": "warn"},  # BTC ongoing (2 days: repeat), ETH resolved
        {"BTC": "ok", "ETH": "ok"},  # BTC resolved
        {"BTC": "ok", "ETH": "ok"},  # nothing
    ]
    clock = FakeClock()
    sent_per_day = []
    for day, statuses in zip(days, plan, strict=True):
        store_results(store, day, {("daily_usd", a): s for a, s in statuses.items()})
        for _ in range(2):  # every day runs twice: the second run sends nothing
            enqueue(store, settings, day, clock)
            drain(store, settings, clock=clock, sleep=clock.sleep)
        sent_per_day.append(len(server.received))
        clock.now += timedelta(days=1)

    assert sent_per_day == [1, 2, 3, 4, 4]
    texts = [r.message.get_body(("plain",)).get_content() for r in server.received]  # type: ignore[union-attr]
    assert "New:" in texts[0] and "BTC" in texts[0]
    assert "New:" in texts[1] and "ETH" in texts[1] and "BTC" not in texts[1]
    assert "Still at the level" in texts[2] and "BTC" in texts[2]
    assert "Resolved:" in texts[2] and "ETH" in texts[2]
    assert "Resolved:" in texts[3] and "BTC" in texts[3] and "New:" not in texts[3]


def test_a_day_run_again_sends_nothing_twice(
    any_store: Store,  # noqa: F811
    smtp_settings: Settings,
    server: SmtpServer,
    tmp_path: Path,
) -> None:
    store = any_store
    report = dummy_report(tmp_path)
    clock = FakeClock()
    store_results(store, DAY, {("daily_usd", "BTC"): "breach", ("daily_usd", "ETH"): "breach"})
    enqueue(store, smtp_settings, DAY, clock, report)
    drain(store, smtp_settings, clock=clock, sleep=clock.sleep)
    first = sorted(server.message_ids())
    assert len(first) == 4  # the report; BTC and ETH to risk; BTC to its desk; ETH to its desk

    store_results(store, DAY, {("daily_usd", "BTC"): "breach", ("daily_usd", "ETH"): "breach"})
    enqueue(store, smtp_settings, DAY, clock, report)  # the checks ran again: a new run
    result = drain(store, smtp_settings, clock=clock, sleep=clock.sleep)
    assert result.attempts == 0 and sorted(server.message_ids()) == first
    assert count(store, OutboxMessage) == 4


def test_enqueued_in_the_callers_transaction(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.session() as session:
        store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
        assert enqueue_breach_notices(session, smtp_settings, DAY)
        raise Boom
    assert count(store, OutboxMessage) == 0 and count(store, OutboxItem) == 0
    drain(store, smtp_settings)
    assert server.received == []


def test_refused_4xx_then_accepted_after_backoff(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    server.handler.script = ["451 4.3.0 Try again later", "452 4.3.1 Still busy"]
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    result = drain(store, smtp_settings, clock=clock, sleep=clock.sleep, wait_seconds=600)
    assert len(result.delivered) == 1 and len(server.received) == 1
    assert clock.slept == [30.0, 60.0]  # retry_base_seconds, then doubled
    (entry,) = list_outbox(store)
    steps = [(a.attempt, a.result, a.response_code) for a in entry.attempts]
    assert steps == [
        (1, "sending", None),
        (1, "retry", 451),
        (2, "sending", None),
        (2, "retry", 452),
        (3, "sending", None),
        (3, "delivered", 250),
    ]


def test_retry_left_for_the_next_drain_when_past_the_wait(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    server.handler.script = ["421 4.7.0 Closing"]
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    first = drain(store, smtp_settings, clock=clock, sleep=clock.sleep, wait_seconds=10)
    assert first.retrying and not server.received and clock.slept == []
    assert drain(store, smtp_settings, clock=clock, sleep=clock.sleep, wait_seconds=0).attempts == 0
    clock.now += timedelta(seconds=30)
    second = drain(store, smtp_settings, clock=clock, sleep=clock.sleep, wait_seconds=0)
    assert second.delivered == first.retrying and len(server.received) == 1


def test_5xx_is_permanent_and_operations_are_told(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    server.handler.script = ["554 5.7.1 Message rejected"]
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    result = drain(store, smtp_settings, clock=clock, sleep=clock.sleep)
    assert len(result.failed) == 1 and clock.slept == []
    (ops,) = server.received
    assert ops.rcpt_tos == [OPS] and "undeliverable" in str(ops.message["Subject"])
    text_body = ops.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert result.failed[0] in text_body and "554" in text_body
    breach, notice = list_outbox(store)
    assert breach.state == "failed" and breach.attempts[-1].response_code == 554
    assert notice.kind == "ops" and notice.state == "delivered"
    assert drain(store, smtp_settings, clock=clock, sleep=clock.sleep).attempts == 0


def test_recipient_refusals_are_recorded(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    server.handler.refuse_rcpt = {BTC_DESK: "550 5.1.1 No such user"}
    store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    drain(store, smtp_settings, clock=clock, sleep=clock.sleep)
    (received,) = server.received
    assert received.rcpt_tos == [RISK]
    (entry,) = list_outbox(store)
    assert entry.state == "delivered"
    assert entry.attempts[-1].refused == {BTC_DESK: [550, "5.1.1 No such user"]}


def test_server_goes_away_mid_run_and_comes_back(
    store: Store, smtp_settings: Settings, server: SmtpServer, tmp_path: Path
) -> None:
    # Four messages: the report, and breach emails to risk, the BTC desk and the ETH desk.
    store_results(store, DAY, {("daily_usd", a): "breach" for a in ("BTC", "ETH", "SOL")})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock, dummy_report(tmp_path))
    assert count(store, OutboxMessage) == 4
    server.handler.script = ["ACCEPT", "VANISH"]  # the second message kills the server
    clock.on_sleep = server.restart  # ... which is back by the first retry
    result = drain(store, smtp_settings, clock=clock, sleep=clock.sleep)

    assert len(result.delivered) == 4 and not result.failed and not result.retrying
    ids = server.message_ids()
    assert len(ids) == 4 and len(set(ids)) == 4  # every message exactly once
    entries = list_outbox(store)
    assert {e.message_id for e in entries} == set(ids)
    tries = sorted(sum(a.result == "sending" for a in e.attempts) for e in entries)
    assert tries == [1, 2, 2, 2]  # one before the crash; the rest tried during the outage
    details = [a.detail for e in entries for a in e.attempts if a.result == "retry"]
    assert any("connection lost" in d for d in details)
    assert any("cannot connect" in d for d in details)


def test_acceptance_lost_on_the_wire_resends_with_the_same_message_id(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    """The one duplicate SMTP cannot rule out: the server took the message, the reply was lost."""
    server.handler.script = ["ACCEPT_THEN_DROP"]
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    drain(store, smtp_settings, clock=clock, sleep=clock.sleep)
    first, second = server.message_ids()
    assert first == second  # so the receiving side can drop the copy


def test_given_up_after_max_attempts(store: Store, make_settings: SettingsFactory) -> None:
    down = SmtpServer()  # never started: its port refuses connections
    settings = with_notify(make_settings(**smtp_env(down)), max_attempts=3, operations=())
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    clock = FakeClock()
    enqueue(store, settings, DAY, clock)
    result = drain(store, settings, clock=clock, sleep=clock.sleep, wait_seconds=3600)
    assert len(result.failed) == 1 and clock.slept == [30.0, 60.0]
    (entry,) = list_outbox(store)
    assert entry.state == "failed" and entry.attempts[-1].detail.startswith("gave up after 3")


def test_a_live_claim_is_left_alone_and_an_expired_one_taken_over(
    store: Store, smtp_settings: Settings, server: SmtpServer
) -> None:
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    clock = FakeClock()
    enqueue(store, smtp_settings, DAY, clock)
    with store.session() as session:  # another sender claimed it and is (still) sending
        (mid,) = session.execute(select(col(OutboxMessage.id))).scalars()
        session.add(
            OutboxAttempt(
                outbox_message_id=mid, attempt=1, result="sending", at=clock.now,
                transport="smtp", detail="", refused_json="{}",
                lease_until=clock.now + timedelta(minutes=10),
            )
        )  # fmt: skip
    assert drain(store, smtp_settings, clock=clock, sleep=clock.sleep).attempts == 0
    assert clock.slept == [] and server.received == []
    clock.now += timedelta(minutes=11)  # that sender died
    assert len(drain(store, smtp_settings, clock=clock, sleep=clock.sleep).delivered) == 1
    (entry,) = list_outbox(store)
    assert [(a.attempt, a.result) for a in entry.attempts][-2:] == [
        (2, "sending"),
        (2, "delivered"),
    ]


def test_starttls_with_login_keeps_the_password_out_of_the_store(
    store: Store, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    password = "s3cret-Pa55"
    server = SmtpServer(
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=password_authenticator("liqrisk", password),
        auth_required=True,
    )
    server.start()
    try:
        store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
        clock = FakeClock()
        env = {**smtp_env(server, "starttls"), "LIQRISK_SMTP_USER": "liqrisk"}
        wrong = make_settings(**env, LIQRISK_SMTP_PASSWORD="not-" + password)
        enqueue(store, wrong, DAY, clock)
        bad = drain(store, wrong, clock=clock, wait_seconds=0,
                    mail=SmtpTransport(wrong.smtp, ssl_context=client_ctx))  # fmt: skip
        assert bad.retrying and server.received == []
        right = make_settings(**env, LIQRISK_SMTP_PASSWORD=password)
        clock.now += timedelta(minutes=1)
        good = drain(store, right, clock=clock, wait_seconds=0,
                     mail=SmtpTransport(right.smtp, ssl_context=client_ctx))  # fmt: skip
        assert good.delivered and len(server.received) == 1
    finally:
        server.stop()
    (entry,) = list_outbox(store)
    assert entry.attempts[1].response_code == 535 and "login" in entry.attempts[1].detail
    dump = json.dumps([e.to_json() for e in list_outbox(store)])
    with store.session() as session:
        rows = session.execute(text("SELECT * FROM outbox_attempt")).all()
    assert password not in dump and password not in repr(rows)


def test_implicit_tls(store: Store, make_settings: SettingsFactory, tmp_path: Path) -> None:
    server_ctx, client_ctx = self_signed(tmp_path)
    server = SmtpServer(ssl_context=server_ctx)
    server.start()
    try:
        settings = make_settings(**smtp_env(server, "tls"))
        store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
        enqueue(store, settings, DAY, FakeClock())
        result = drain(store, settings, mail=SmtpTransport(settings.smtp, ssl_context=client_ctx))
        assert result.delivered and len(server.received) == 1
    finally:
        server.stop()


def test_outbox_rows_are_append_only(
    any_store: Store,  # noqa: F811
    smtp_settings: Settings,
    server: SmtpServer,
) -> None:
    store = any_store
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    enqueue(store, smtp_settings, DAY, FakeClock())
    drain(store, smtp_settings)
    for statement in (
        "UPDATE outbox_attempt SET result = 'retry'",
        "DELETE FROM outbox_attempt",
        "UPDATE outbox_message SET recipients_json = '[]'",
        "DELETE FROM outbox_item",
    ):
        with pytest.raises(AppendOnlyViolation), store.session() as session:
            session.execute(text(statement))
    assert list_outbox(store)[0].state == "delivered"


def test_no_login_in_clear_to_a_remote_server(store: Store, make_settings: SettingsFactory) -> None:
    settings = make_settings(
        LIQRISK_SMTP_HOST="mail.example.com",
        LIQRISK_SMTP_SECURITY="none",
        LIQRISK_SMTP_USER="liqrisk",
        LIQRISK_SMTP_PASSWORD="pw-never-sent",
    )
    store_results(store, DAY, {("daily_usd", "SOL"): "breach"})
    enqueue(store, settings, DAY, FakeClock())
    result = drain(store, settings, wait_seconds=0)
    assert result.retrying
    (entry,) = list_outbox(store)
    assert "without TLS" in entry.attempts[-1].detail
