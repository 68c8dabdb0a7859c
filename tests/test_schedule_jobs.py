"""The daemon's jobs in process, on the demo source, with the clock held still."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select
from sqlmodel import col

from audit_store.db import Store
from audit_store.models import Artifact, Snapshot
from audit_store.tables_outbox import OutboxMessage
from reporting.cli import main
from reporting.config import Settings
from reporting.fetch import watermarks
from reporting.schedule.claims import acquire, heartbeat
from reporting.schedule.daemon import daemon_settings, jobstore_table, sync_jobs
from reporting.schedule.jobs import (
    Context,
    checkpoint_job,
    daily_job,
    drain_job,
    fetch_job,
    missing_days,
    run_job,
)
from reporting.schedule.status import gather
from tests.conftest import SettingsFactory
from tests.schedule_helpers import assert_each_period_once, claims

NOW = datetime(2025, 11, 4, 1, 0, tzinfo=UTC)  # the demo set's stress day was yesterday


def _settings(settings: Settings, **schedule: Any) -> Settings:
    fetch = settings.fetch.model_copy(update={"assets": ("btc", "doge")})
    update = {"catchup_days": 1, "working_timeout_seconds": 60.0, **schedule}
    kaiko = settings.kaiko.model_copy(update={"page_size": 100})  # a day's fetch is several pages
    return daemon_settings(
        settings.model_copy(
            update={
                "fetch": fetch,
                "kaiko": kaiko,
                "schedule": settings.schedule.model_copy(update=update),
            }
        )
    )


def _ctx(store: Store, settings: Settings, now: datetime = NOW, **kw: Any) -> Context:
    return Context(store, settings, "test@host:1:abc", clock=lambda: now, **kw)


def test_the_daily_job_fetches_reports_and_notifies_the_missing_day_once(
    store: Store, settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    ours = _settings(settings)
    ctx = _ctx(store, ours)
    assert drain_job(ctx).status == "skipped"  # nothing waits: no claim, no row
    assert missing_days(ctx) == [NOW.date() - timedelta(days=1)]
    outcomes = daily_job(ctx)
    assert [(o.job, o.period, o.status) for o in outcomes] == [
        ("fetch", "2025-11-04T00:00:00Z", "ok"),  # closed at 01:00 with 15 min to settle
        ("daily", "2025-11-03", "ok"),
        ("checkpoint", "2025-11-03", "ok"),  # published as soon as the day's report is made
    ]
    assert "report liqrisk-report-2025-11-03.pdf; checks: " in outcomes[1].detail
    assert "breach" in outcomes[1].detail and "delivered" in outcomes[1].detail
    assert daily_job(ctx) == [] and missing_days(ctx) == []  # done: nothing left, nothing redone
    assert fetch_job(ctx).status == "skipped"  # the same closed interval: done already
    mark = watermarks.current(store, "demo", "liquidations", "btc")
    assert mark is not None and mark.watermark == datetime(2025, 11, 4, tzinfo=UTC)
    assert mark.covered_from == datetime(2025, 10, 27, tzinfo=UTC)  # 1 + 7 trailing days back
    assert checkpoint_job(ctx).status == "skipped"  # the scheduled fire finds it done
    assert (ours.reports_dir / "checkpoint" / "checkpoint").is_file()
    eml = sorted(p.name for p in (ours.reports_dir / "outbox").glob("*.eml"))
    assert any("report" in name for name in eml) and any("breach" in name for name in eml)
    with store.read_session() as session:
        pdfs = session.scalar(
            select(func.count()).select_from(Artifact).where(col(Artifact.kind) == "report.pdf")
        )
    assert pdfs == 1
    assert_each_period_once(claims(store))

    # `liqrisk verify` records its outcome; `liqrisk status` shows it with the runs.
    for var, value in {
        "LIQRISK_DATABASE_URL": ours.database_url,
        "LIQRISK_REPORTS_DIR": str(ours.reports_dir),
        "LIQRISK_SIGNING_KEY_FILE": str(ours.audit.signing_key_file),
    }.items():
        monkeypatch.setenv(var, value)
    with pytest.raises(SystemExit) as exc:
        main(["verify"])
    assert exc.value.code in (0, None)
    status = gather(store, ours, NOW + timedelta(hours=1))
    jobs = {j.job: j for j in status.jobs}
    assert jobs["daily"].last is not None and jobs["daily"].last.period == "2025-11-03"
    assert jobs["fetch"].last is not None and jobs["fetch"].last.status == "ok"
    assert not jobs["daily"].active and jobs["drain"].last is None
    lags = {(w.source, w.asset): w.lag_seconds for w in status.watermarks}
    assert lags[("demo", "BTC")] == 7200.0
    assert status.outbox.waiting == 0 and status.checkpoint is not None
    assert status.checkpoint.published_tree_size == status.checkpoint.tree_size
    assert status.verify is not None and status.verify.ok
    assert status.unreported == () and all(j.failures == 0 for j in status.jobs)
    assert status.verify.leaves == status.checkpoint.tree_size
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["status", "--json"])
    out = capsys.readouterr().out
    assert '"verify": {' in out and '"period": "2025-11-03"' in out


def test_a_report_is_not_made_before_its_time(store: Store, settings: Settings) -> None:
    six = settings.schedule.daily.model_copy(update={"cron": "0 6 * * *"})
    ctx = _ctx(store, _settings(settings, daily=six))
    assert missing_days(ctx) == []  # 01:00: the report of the 3rd is due at 06:00
    assert missing_days(_ctx(store, ctx.settings, NOW + timedelta(hours=5))) == [
        NOW.date() - timedelta(days=1)
    ]


def test_a_day_without_its_data_fails_tells_operations_and_is_made_when_the_data_comes(
    store: Store, settings: Settings
) -> None:
    late = settings.model_copy(
        update={"fetch": settings.fetch.model_copy(update={"settle_seconds": 7200})}
    )
    ctx = _ctx(store, _settings(late))  # at 01:00 only 23:00 of the day is closed
    outcomes = daily_job(ctx)
    assert [(o.job, o.status) for o in outcomes] == [("fetch", "ok"), ("daily", "failed")]
    assert "not all stored" in outcomes[1].detail and "2025-11-03T23:00" in outcomes[1].detail
    with store.read_session() as session:
        ops = list(session.scalars(select(OutboxMessage).where(col(OutboxMessage.kind) == "ops")))
        subjects = [m.subject for m in ops]
        pdfs = session.scalar(select(func.count()).select_from(Artifact))
    assert subjects == ["[liqrisk] Example Derivatives Ltd: job daily failed for 2025-11-03"]
    assert pdfs == 0
    assert missing_days(ctx) == [NOW.date() - timedelta(days=1)]  # retried at the next run
    status = gather(store, ctx.settings, NOW)
    daily_status = next(j for j in status.jobs if j.job == "daily")
    assert status.unreported == (NOW.date() - timedelta(days=1),) and daily_status.failures == 1
    assert status.outbox.pending == 1  # the email to operations, for the next drain
    later = _ctx(store, ctx.settings, NOW + timedelta(hours=2))  # 01:00 is closed now
    outcomes = run_job(later, "fetch")  # the hourly fetch makes the late report at once
    assert [(o.job, o.period, o.status) for o in outcomes] == [
        ("fetch", "2025-11-04T01:00:00Z", "ok"),
        ("fetch", "2025-11-04T01:00:00Z", "skipped"),  # the daily job's own: done just now
        ("daily", "2025-11-03", "ok"),
        ("checkpoint", "2025-11-03", "ok"),
    ]
    daily = claims(store, "daily")
    assert [(r.generation, r.reason, r.status) for r in daily] == [
        (1, "new", "failed"),
        (2, "retry", "ok"),
    ]


def test_a_daily_run_while_another_process_fetches_leaves_the_day_to_that_fetch(
    store: Store, settings: Settings
) -> None:
    ours = _settings(settings, working_timeout_seconds=1.0)  # waits 1 s for the other fetch
    started = time.monotonic()
    ctx = Context(store, ours, "test@host:1:abc",
                  clock=lambda: NOW + timedelta(seconds=time.monotonic() - started))  # fmt: skip
    period = "2025-11-04T00:00:00Z"  # the fetch's period at 01:00
    other = acquire(store, "fetch", period, owner="other@host:2:def", now=NOW, policy=ctx.policy)
    assert other is not None
    heartbeat(store, other, 1, NOW + timedelta(hours=1))  # it is still at it throughout
    outcomes = daily_job(ctx)
    assert [(o.job, o.period, o.status) for o in outcomes] == [("fetch", period, "skipped")]
    assert claims(store, "daily") == []  # no failure: no attempt used, no email to operations
    with store.read_session() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert missing_days(ctx) == [NOW.date() - timedelta(days=1)]  # left to that fetch's end


class _StopAfter(threading.Event):
    """An event that reads as set from its ``n``-th look on: a stop that comes mid-fetch."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.looks, self.n = 0, n

    def is_set(self) -> bool:
        self.looks += 1
        return self.looks >= self.n or super().is_set()


def test_a_stop_interrupts_a_fetch_between_pages_and_the_next_run_resumes_it(
    store: Store, settings: Settings
) -> None:
    ours = _settings(settings)
    interrupted = fetch_job(_ctx(store, ours, stop=_StopAfter(3)))  # after the second page
    assert interrupted.status == "interrupted"
    with store.read_session() as session:
        kept = session.scalar(select(func.count()).select_from(Snapshot))
    assert kept == 2  # every page fetched before the stop is kept
    assert watermarks.current(store, "demo", "liquidations", "btc") is None  # not advanced
    resumed = fetch_job(_ctx(store, ours))
    assert resumed.status == "ok"
    rows = claims(store, "fetch")
    assert [(r.generation, r.reason, r.status) for r in rows] == [
        (1, "new", "interrupted"),
        (2, "resume", "ok"),
    ]
    assert watermarks.current(store, "demo", "liquidations", "doge") is not None


def test_a_first_fetch_is_chunked_and_a_stop_keeps_the_chunks_it_finished(
    store: Store, settings: Settings
) -> None:
    ours = _settings(settings)

    class _StopOnceStored(threading.Event):
        """A stop that comes as soon as BTC's liquidations have a watermark."""

        def is_set(self) -> bool:
            return watermarks.current(store, "demo", "liquidations", "btc") is not None

    assert fetch_job(_ctx(store, ours, stop=_StopOnceStored())).status == "interrupted"
    mark = watermarks.current(store, "demo", "liquidations", "btc")
    assert mark is not None  # the first 7-day chunk of the 8 days since 2025-10-27 is kept
    assert (mark.covered_from, mark.watermark) == (
        datetime(2025, 10, 27, tzinfo=UTC),
        datetime(2025, 11, 3, tzinfo=UTC),
    )
    assert fetch_job(_ctx(store, ours)).status == "ok"  # resumed from the watermark
    mark = watermarks.current(store, "demo", "liquidations", "btc")
    assert mark is not None and mark.watermark == datetime(2025, 11, 4, tzinfo=UTC)
    assert mark.covered_from == datetime(2025, 10, 27, tzinfo=UTC)
    assert [(r.reason, r.status) for r in claims(store, "fetch")] == [
        ("new", "interrupted"),
        ("resume", "ok"),
    ]


def test_sync_jobs_keeps_a_stored_next_run_and_replaces_a_changed_trigger(
    store: Store, make_settings: SettingsFactory
) -> None:
    settings = make_settings()

    @contextmanager
    def started() -> Iterator[BackgroundScheduler]:
        """A daemon's scheduler on the job store, paused (nothing fires)."""
        jobstore = SQLAlchemyJobStore(engine=store.engine, tablename=jobstore_table("t"))
        scheduler = BackgroundScheduler(jobstores={"default": jobstore}, timezone=UTC)
        scheduler.start(paused=True)
        try:
            yield scheduler
        finally:
            scheduler.shutdown(wait=False)

    def next_runs(config: Settings) -> dict[str, datetime | None]:
        with started() as scheduler:
            sync_jobs(scheduler, config)
            return {j.id: j.next_run_time for j in scheduler.get_jobs()}

    first = next_runs(settings)
    assert set(first) == {"liqrisk.fetch", "liqrisk.daily", "liqrisk.drain", "liqrisk.checkpoint"}
    assert next_runs(settings) == first  # same triggers: the stored next runs stand
    daily = settings.schedule.daily.model_copy(update={"cron": "0 2 * * *"})
    drain = settings.schedule.drain.model_copy(update={"enabled": False, "every_seconds": None})
    changed = settings.model_copy(
        update={"schedule": settings.schedule.model_copy(update={"daily": daily, "drain": drain})}
    )
    after = next_runs(changed)
    assert "liqrisk.drain" not in after and after["liqrisk.fetch"] == first["liqrisk.fetch"]
    moment = after["liqrisk.daily"]
    assert moment is not None and (moment.hour, moment.minute) == (2, 0)
    # A fire missed while the daemon was down (a stored next run in the past) survives a sync, so
    # the scheduler sees it as missed; a job synced afresh would have lost it.
    missed = datetime(2025, 1, 1, 0, 5, tzinfo=UTC)
    with started() as scheduler:
        sync_jobs(scheduler, changed)
        scheduler.modify_job("liqrisk.fetch", jobstore="default", next_run_time=missed)
        sync_jobs(scheduler, changed)
        again = {j.id: j.next_run_time for j in scheduler.get_jobs()}
        scheduler.remove_all_jobs()  # the missed fire is not run when the scheduler stops
    assert again["liqrisk.fetch"] == missed and again["liqrisk.daily"] == moment


def test_reports_are_due_from_the_first_day_held_to_the_end_of_what_the_source_serves(
    store: Store, settings: Settings
) -> None:
    """#21: `status` on the demo store listed every day of December 2026 as due, though the demo
    data set ends in November 2025."""
    from reporting.checks.metrics import day_bounds
    from reporting.fetch.ingest import fetch

    ours = _settings(settings, catchup_days=7)
    week = [NOW.date() - timedelta(days=n) for n in range(7, 0, -1)]  # the window, oldest first
    assert missing_days(_ctx(store, ours)) == week  # nothing held yet: the whole window is due
    fetch(
        store, ours, source="demo", assets=["btc"], datasets=["liquidations"],
        start=day_bounds(week[4])[0], end=day_bounds(week[6])[1], clock=lambda: NOW,
    )  # fmt: skip
    assert missing_days(_ctx(store, ours)) == week[4:]  # not before the first day held
    assert gather(store, ours, NOW).unreported == tuple(week[4:])
    # A year on, the bundled data set (to 2025-11-09) can hold none of the window's days.
    later = NOW + timedelta(days=365)
    assert missing_days(_ctx(store, ours, later)) == []
    assert gather(store, ours, later).unreported == ()
