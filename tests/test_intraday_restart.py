"""Intraday alerts end to end through the real ``liqrisk collect`` process: a loopback Binance
server plays a cascade that crosses a 15-minute velocity limit at a known second, an aiosmtpd
server on 127.0.0.1 receives the alerts; the collector is killed with SIGKILL between storing an
alert and sending it, and after the SMTP server took the message but before the attempt was
recorded.

What is guaranteed, and tested here:

* a crossing stored and queued but not sent when the collector dies is sent after the restart,
  once; the same frames played again (a reconnect, a venue re-sending) add no alert;
* a crossing the SMTP server accepted while the collector died before recording it is sent again
  (SMTP has no way to ask whether a message arrived), with the same Message-ID and the same bytes,
  so a receiver or its mail system can drop the copy: at least once on the wire, exactly once per
  Message-ID, never two different alerts;
* a cascade gives one breach message and, when the window has stayed under the hysteresis level,
  one resolved message; a window hovering around the limit in between sends nothing more.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from audit_store.db import Store
from tests.collect_rig import RISK, Collect, CollectConfig, liqrisk, scalar
from tests.notify_helpers import Received, Recorder, SmtpServer
from tests.schedule_helpers import wait_until
from tests.ws_venues import Action, VenueServer, binance_frame, venue_server

pytestmark = pytest.mark.slow


LIMITS = """
[velocity_usd_15m]
asset_exchange."BTC/binc" = { warn = 900_000, breach = 1_000_000 }
repeat_minutes = 0
hysteresis = { resolve_below_pct = 90, resolve_after_minutes = 10 }
"""
PACE = 0.4  # seconds between frames: each lands in a batch of its own (flush every 0.1 s)


def minutes_ago(n: int) -> datetime:
    """The start of the wall-clock minute ``n`` minutes before this one: the cascades are played
    as if live (exchange time close to receive time), so the window a batch of duplicates only
    is judged on (its receive time's) is the cascade's own."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=n)


def _frame(at: datetime, usd: float, symbol: str = "BTCUSDT") -> str:
    """One liquidation of ``usd`` at exchange time ``at`` (a long closed: side SELL)."""
    return binance_frame(symbol, "SELL", "1", f"{usd:.0f}", int(at.timestamp() * 1000))


def crossing_second(t0: datetime) -> datetime:
    """The exchange time of the frame that takes the window to 1M USD."""
    return t0 + timedelta(minutes=9, seconds=42)


def crossing_frames(t0: datetime) -> list[str]:
    """From ``t0``: 100k USD a minute at :30 for minutes 0..8 (the 15-minute window at warn, 900k,
    from minute 8), then 50k at 9:05 (950k) and 50k at 9:42, the second the window reaches the 1M
    breach."""
    frames = [_frame(t0 + timedelta(minutes=n, seconds=30), 100_000) for n in range(9)]
    at_9_05 = t0 + timedelta(minutes=9, seconds=5)
    return [*frames, _frame(at_9_05, 50_000), _frame(crossing_second(t0), 50_000)]


def hover_and_fall_frames(t0: datetime) -> list[str]:
    """After the crossing: the window stays at 1M (minutes 10..14), falls to 900k as minute 0
    leaves it (15), back over at 1.05M (16: 250k), under at 950k (17, 18: 100k), then nothing but
    a small ETH liquidation a minute: 850k at 19, under 810k (90% of warn) from minute 20, so the
    episode resolves at minute 29, the tenth quiet window; ETH goes on to minute 34."""

    def _minute(n: int) -> datetime:
        return t0 + timedelta(minutes=n, seconds=30)

    frames = [_frame(_minute(n), 1, "ETHUSDT") for n in range(10, 16)]
    frames += [_frame(_minute(16), 250_000), _frame(_minute(17), 1, "ETHUSDT")]
    frames += [_frame(_minute(18), 100_000)]
    frames += [_frame(_minute(n), 1, "ETHUSDT") for n in range(19, 35)]
    return frames


def paced(frames: Sequence[str]) -> list[Action]:
    script: list[Action] = []
    for frame in frames:
        script += [("send", frame), ("sleep", PACE)]
    return [*script, ("silent",)]


@dataclass
class Rig:
    tmp: Path
    smtp: SmtpServer
    config: CollectConfig
    store: Store  # the children's store, read while they write

    def collector(self, url: str, name: str, *args: str) -> Collect:
        return Collect(self.config, url, self.tmp / f"{name}.log", *args)

    def breach_rows(self) -> int:
        sql = "SELECT count(*) FROM intraday_result WHERE status = 'breach'"
        return int(_maybe(lambda: scalar(self.store, sql)) or 0)

    def intraday_messages(self) -> int:
        sql = "SELECT count(*) FROM outbox_message WHERE kind = 'intraday'"
        return int(_maybe(lambda: scalar(self.store, sql)) or 0)

    def attempts(self, result: str) -> int:
        sql = "SELECT count(*) FROM outbox_attempt WHERE result = :r"
        return int(_maybe(lambda: scalar(self.store, sql, r=result)) or 0)

    def intraday_results(self) -> list[tuple[str, str, float, int]]:
        sql = "SELECT kind, status, observed, snapshot_id FROM intraday_result ORDER BY id"
        with self.store.read_session() as session:
            return [(r[0], r[1], float(r[2]), int(r[3])) for r in session.execute(text(sql))]

    def subjects(self) -> list[str]:
        return [str(r.message["Subject"]) for r in self.smtp.received]


def _maybe(read: Any) -> Any:
    """``read()``, or None while the child has not made the schema yet."""
    try:
        return read()
    except OperationalError:  # no such table (yet)
        return None


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    smtp = SmtpServer()  # its port chosen, not listening until started
    config = CollectConfig(
        tmp_path / "config", smtp.port, LIMITS, notify={"intraday_group_seconds": "2"}
    ).write()
    store = config.store()
    try:
        yield Rig(tmp_path, smtp, config, store)
    finally:
        smtp.stop()
        store.dispose()


def _wait(rig: Rig, condition: Any, timeout: float, what: str, collect: Collect) -> None:
    try:
        wait_until(condition, timeout, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- collector\n{collect.output()[-4000:]}") from None


def test_kill_9_between_store_and_send_delivers_once_after_restart(rig: Rig) -> None:
    """SMTP down: the breach is stored, queued and its send refused; kill -9; SMTP up; the
    restarted collector (the server replaying every frame: duplicates) delivers it, once."""
    t0 = minutes_ago(10)  # the crossing a minute ago, the window still over after the restart
    frames = crossing_frames(t0)
    server = VenueServer("binance", [paced(frames)])
    with venue_server(server) as url:
        liqrisk(rig.config, url, "init")
        first = rig.collector(url, "first").start()
        try:
            stored = lambda: rig.breach_rows() == 1 and rig.intraday_messages() == 1  # noqa: E731
            _wait(rig, stored, 60, "the breach and its message committed", first)
            # its send was tried, and refused: nobody listens on the SMTP port yet
            _wait(rig, lambda: rig.attempts("retry") >= 1, 30, "a refused attempt", first)
            assert first.kill9() == -signal.SIGKILL
        finally:
            first.stop()
        assert rig.attempts("delivered") == 0 and rig.smtp.received == []

        rig.smtp.start()
        second = rig.collector(url, "second").start()
        try:
            _wait(rig, lambda: len(rig.smtp.received) >= 1, 60, "the alert sent", second)
            # every frame again (the server replays them to the new connection): duplicates
            replayed = len(frames)
            sql = "SELECT count(*) FROM stream_event WHERE counted = 0"
            again = lambda: int(scalar(rig.store, sql)) >= replayed  # noqa: E731
            _wait(rig, again, 60, "the frames replayed", second)
            time.sleep(2)  # a drain or a grouping tick after the last replay
        finally:
            second.stop()
        # a drain finds nothing more to send
        out = liqrisk(rig.config, url, "outbox", "drain", "--json")
    assert json.loads(out)["attempts"] == 0, out
    assert len(rig.smtp.received) == 1, rig.subjects()
    assert "BREACH" in rig.subjects()[0] and rig.smtp.received[0].rcpt_tos == [RISK]
    assert [r[:2] for r in rig.intraday_results()] == [("new", "warn"), ("escalated", "breach")]
    assert rig.intraday_messages() == 1 and rig.attempts("delivered") == 1


@dataclass
class KillOnData(Recorder):
    """Accepts each message (keeps it), then kills the collector's process group with SIGKILL
    before the reply goes out: the server has it, the collector never learns so."""

    victim: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.victim:
            return await super().handle_DATA(server, session, envelope)
        content = envelope.original_content or b""
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), content))
        os.killpg(self.victim, signal.SIGKILL)
        self.victim = 0
        return "250 2.0.0 Ok: queued"


def test_kill_9_after_smtp_accepted_sends_the_same_message_again(rig: Rig) -> None:
    """The honest limit of SMTP: killed after the server accepted DATA and before the attempt was
    recorded, the message is due again when its lease runs out and goes out again, byte for byte
    the same, with the same Message-ID: two copies of one message, never two messages."""
    handler = KillOnData()
    rig.smtp.handler = handler
    rig.smtp.start()
    server = VenueServer("binance", [paced(crossing_frames(minutes_ago(10)))])
    with venue_server(server) as url:
        liqrisk(rig.config, url, "init")
        first = rig.collector(url, "first").start()
        handler.victim = first.pid
        try:
            _wait(rig, lambda: not first.alive(), 60, "the kill on DATA", first)
        finally:
            first.stop()
        assert first.wait(5) == -signal.SIGKILL
        assert len(rig.smtp.received) == 1
        assert rig.attempts("sending") == 1 and rig.attempts("delivered") == 0  # not recorded
        second = rig.collector(url, "second").start()
        try:
            # due again once the lease of the dead sender's claim (3 s) has run out
            sent = lambda: rig.attempts("delivered") == 1  # noqa: E731
            _wait(rig, sent, 60, "the second send", second)
        finally:
            second.stop()
        out = liqrisk(rig.config, url, "outbox", "drain", "--json")
    assert json.loads(out)["attempts"] == 0, out
    copies = rig.smtp.received
    assert len(copies) == 2, rig.subjects()
    assert len(set(rig.smtp.message_ids())) == 1  # one message, sent twice
    assert copies[0].content == copies[1].content and copies[0].rcpt_tos == copies[1].rcpt_tos
    assert rig.attempts("sending") == 2 and rig.intraday_messages() == 1


def test_a_cascade_crosses_at_its_second_hovers_and_resolves_once(rig: Rig) -> None:
    """The window crosses 1M USD with the frame of minute 9, second 42; it hovers around the limit
    (under, over, under) without a message; it resolves once it has stayed under 810k for ten
    minutes: exactly one breach and one resolved message."""
    rig.smtp.start()
    t0 = minutes_ago(35)  # the last quiet minute (34) is the one before now
    frames = crossing_frames(t0) + hover_and_fall_frames(t0)
    server = VenueServer("binance", [paced(frames)])
    with venue_server(server) as url:
        liqrisk(rig.config, url, "init")
        collect = rig.collector(url, "collect").start()
        try:
            events = "SELECT count(*) FROM stream_event"
            done = lambda: _maybe(lambda: scalar(rig.store, events)) == len(frames)  # noqa: E731
            _wait(rig, done, 90, "every frame stored", collect)
            _wait(rig, lambda: len(rig.smtp.received) >= 2, 30, "two messages", collect)
            time.sleep(3)  # past the group window: anything held would go now
        finally:
            collect.stop()
    results = rig.intraday_results()
    assert [r[:2] for r in results] == [
        ("new", "warn"),
        ("escalated", "breach"),
        ("resolved", "ok"),
    ]
    assert results[1][2] == 1_000_000  # the window at the crossing frame, not a later one
    # the breach rests on the batch that holds the crossing frame (the one of 9:05 stayed under)
    sql = "SELECT max(exchange_time) FROM stream_event WHERE snapshot_id = :s"
    newest = scalar(rig.store, sql, s=results[1][3])
    assert datetime.fromisoformat(str(newest)).replace(tzinfo=UTC) == crossing_second(t0)
    subjects = rig.subjects()
    assert len(subjects) == 2, subjects
    assert "BREACH" in subjects[0] and "velocity_usd_15m" in subjects[0]
    assert "RESOLVED" in subjects[1] and "BTC/binc" in subjects[1]
    assert len(set(rig.smtp.message_ids())) == 2
