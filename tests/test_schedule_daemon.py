"""``liqrisk run`` as a real process against a loopback Kaiko server and a real SMTP server, with
second-level triggers: fetches, a report and emails; SIGTERM mid-job; SIGKILL mid-job and a
restart; two daemons on one PostgreSQL. Each period is processed exactly once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select
from sqlmodel import col

from audit_store.db import Store
from audit_store.models import Artifact
from tests.kaiko_server import KaikoTestServer
from tests.notify_helpers import SmtpServer, smtp_env
from tests.schedule_helpers import (
    Daemon,
    assert_each_period_once,
    claims,
    done,
    kaiko_data,
    schedule_toml,
    started_not_ended,
    wait_until,
)

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.pg"]


@dataclass
class Rig:
    tmp: Path
    kaiko: KaikoTestServer
    smtp: SmtpServer
    yesterday: date

    def config(self, database_url: str, **kw: object) -> Path:
        path = self.tmp / "liqrisk.toml"
        path.write_text(
            schedule_toml(
                database_url=database_url,
                reports_dir=self.tmp / "reports",
                signing_key=self.tmp / "keys" / "signing.key",
                kaiko_url=self.kaiko.base_url,
                **kw,  # type: ignore[arg-type]
            ),
            encoding="utf-8",
        )
        return path

    def daemon(self, config: Path, instance: str) -> Daemon:
        env = {"KAIKO_API_KEY": "test-key", **smtp_env(self.smtp)}
        return Daemon(config, env, instance, self.tmp / f"daemon-{instance}.log")

    def subjects(self) -> list[str]:
        return [str(r.message["Subject"]) for r in self.smtp.received]

    def report_emails(self) -> list[str]:
        return [s for s in self.subjects() if f"risk report {self.yesterday}" in s]

    def assert_every_email_once(self, *, killed: bool = False) -> None:
        """One report email and a breach notice; each message sent once. After a SIGKILL, a
        message whose sending was cut off after the server took it is sent again with the same
        Message-ID (the outbox's documented limit): then no two different messages."""
        ids = self.smtp.message_ids()
        if not killed:
            assert len(ids) == len(set(ids)), self.subjects()
        reports = {
            str(r.message["Message-ID"])
            for r in self.smtp.received
            if f"risk report {self.yesterday}" in str(r.message["Subject"])
        }
        assert len(reports) == 1, self.subjects()
        assert any(f"breach notice {self.yesterday}" in s for s in self.subjects())


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    now = datetime.now(UTC)
    kaiko = KaikoTestServer(kaiko_data(now))
    smtp = SmtpServer()
    smtp.start()
    try:
        with kaiko.running():
            yield Rig(tmp_path, kaiko, smtp, now.date() - timedelta(days=1))
    finally:
        smtp.stop()


def _store(url: str) -> Store:
    store = Store(url)
    store.create_schema()
    return store


def test_the_daemon_fetches_reports_emails_and_finishes_its_job_on_sigterm(rig: Rig) -> None:
    url = f"sqlite:///{rig.tmp / 'store.db'}"
    store = _store(url)
    daemon = rig.daemon(rig.config(url), "solo").start()
    try:
        day = rig.yesterday.isoformat()
        working = lambda: [r.period for r in started_not_ended(store, "daily")] == [day]  # noqa: E731
        wait_until(working, 30, "the daily job at work", (daemon,))
        daemon.signal(signal.SIGTERM)  # mid-job: the report is being made
        assert daemon.wait(30) == 0
    finally:
        daemon.stop()
    out = daemon.output()
    stopping = out.index("SIGTERM: stopping after the running jobs")
    assert stopping < out.index(f"daily {day}: ok: report") < out.index("stopped")  # it finished
    rows = claims(store)
    assert not [r for r in rows if r.status is None], rows  # nothing left half done
    assert_each_period_once(rows)
    assert done(store, "daily", day) and any(r.status == "ok" for r in claims(store, "fetch"))
    fetched = [r for r in rows if r.job == "fetch" and r.status == "ok"]
    assert fetched and "page(s)" in fetched[0].detail and len(rig.kaiko.requests) >= 2
    rig.assert_every_email_once()  # the report and the breach notice went out before it stopped
    assert (rig.tmp / "reports" / day / f"liqrisk-report-{day}.pdf").is_file()
    store.dispose()


def test_sigterm_stops_a_fetch_between_pages_and_leaves_it_resumable(rig: Rig) -> None:
    url = f"sqlite:///{rig.tmp / 'store.db'}"
    store = _store(url)
    rig.kaiko.delay = 0.3  # a slow source: a fetch of 9 pages per asset takes seconds
    daemon = rig.daemon(rig.config(url, page_size=24), "slow").start()
    try:
        wait_until(lambda: bool(started_not_ended(store, "fetch")) and len(rig.kaiko.requests) >= 2,
                   30, "a fetch under way", (daemon,))  # fmt: skip
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
    finally:
        daemon.stop()
    fetches = claims(store, "fetch")
    assert [r.status for r in fetches] == ["interrupted"], fetches
    assert "resumed from the watermark" in fetches[0].detail
    assert not started_not_ended(store, "daily")  # nothing was left without an end
    assert len(rig.kaiko.requests) < 18  # it did not walk on to the end
    store.dispose()


def test_sigkill_mid_job_and_a_restart_process_every_period_exactly_once(rig: Rig) -> None:
    url = f"sqlite:///{rig.tmp / 'store.db'}"
    store = _store(url)
    rig.kaiko.delay = 0.2
    config = rig.config(url, page_size=48, timeout=2.0)
    day = rig.yesterday.isoformat()
    first = rig.daemon(config, "k").start()
    try:
        wait_until(lambda: bool(started_not_ended(store, "daily")), 30, "the daily job", (first,))
        first.signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        first.stop()
    killed = started_not_ended(store, "daily")
    assert [r.period for r in killed] == [day]
    second = rig.daemon(config, "k").start()  # the same instance: its job store, restarted
    try:
        wait_until(lambda: done(store, "daily", day), 40, "the report after the restart", (second,))
        wait_until(lambda: len(rig.report_emails()) >= 1, 10, "the report email", (second,))
        assert second.stop() == 0
    finally:
        second.stop()
    rows = claims(store)
    assert_each_period_once(rows)
    daily = [r for r in rows if r.job == "daily" and r.period == day]
    # A daily run that starts while the first fetch is still storing leaves the day to that
    # fetch's end (no failure, no attempt used): the run the kill hit is the first claim.
    assert [(r.generation, r.reason, r.status) for r in daily] == [
        (1, "new", None),  # the killed run: never ended
        (2, "stale", "ok"),  # taken over after the working timeout
    ], daily
    assert f"took over claim {daily[0].claim_id}" in second.output()
    taken = {r.takes_over for r in rows}
    # Every claim the kill left open was taken over, but a drain's: the next slot's drain
    # supersedes it (and the outbox's lease makes a message it was sending due again).
    assert not [
        r for r in rows if r.status is None and r.claim_id not in taken and r.job != "drain"
    ]
    rig.assert_every_email_once(killed=True)
    store.dispose()


def test_two_daemons_on_one_postgresql_process_each_period_once(rig: Rig, pg_url: str) -> None:
    store = _store(pg_url)
    config = rig.config(pg_url)
    day = rig.yesterday.isoformat()
    daemons = (rig.daemon(config, "one").start(), rig.daemon(config, "two").start())
    try:
        wait_until(lambda: done(store, "daily", day) and len(rig.report_emails()) >= 1, 45,
                   "the report", daemons)  # fmt: skip
        wait_until(lambda: done(store, "checkpoint", day), 15, "the checkpoint", daemons)
        assert [d.stop() for d in daemons] == [0, 0]
    finally:
        for d in daemons:
            d.stop()
    rows = claims(store)
    assert_each_period_once(rows)
    assert not [r for r in rows if r.status is None]
    with store.read_session() as session:
        reports = session.scalar(
            select(func.count())
            .select_from(Artifact)
            .where(col(Artifact.kind) == "report.pdf", col(Artifact.period) == day)
        )
        tables = set(inspect(session.connection()).get_table_names())
    assert reports == 1  # the report was made once, by one of them
    assert {"apscheduler_jobs_one", "apscheduler_jobs_two"} <= tables  # a job store each
    rig.assert_every_email_once()
    store.dispose()
