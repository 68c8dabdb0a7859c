"""The daemon's jobs, each one claim per period (see :mod:`reporting.schedule.claims`).

* ``fetch``: every configured source, from each watermark to the last closed interval (an asset
  without a watermark is backfilled from ``catchup_days`` + 7 days back, chunk by chunk). Period:
  the end of the last closed interval (``2025-11-04T13:00:00Z``), so a second fire within the hour
  finds it done. A fetch that went well runs the daily job when a report is due but not made (late
  data, a failed run).
* ``daily``: check, report and notify each day of the last ``catchup_days`` UTC days that has no
  report yet and whose time has come (the daily trigger's first fire after the day), oldest first,
  once the data covers it. Period: the day (``2025-11-03``).
* ``drain``: deliver what is due in the outbox, one pass. Period: the trigger's slot.
* ``checkpoint``: sign a checkpoint of the log and publish it. Period: the previous UTC day; the
  daily job runs it as soon as that day's report is made, and a fire while the report is being
  made leaves it to the daily job.

A job that ends without an exception has done its period (``ok``); an exception makes it
``failed`` (recorded, operations emailed, retried at a later run); a fetch stopped by the daemon's
shutdown between two pages is ``interrupted`` and resumed at the next start from its watermark
(every page kept so far stays kept).

The daily job's data: it runs the fetch job's current period first (or waits for the process
that holds it), then reports only the days the watermarks of the default source's liquidations
cover; of the days not covered yet, the latest one fails (so operations hear that the report is
late) and the others wait. When the process that holds the fetch is still at it after the working
timeout, the daily job leaves the days to it: every holder of a fetch claim runs the daily job
when its fetch ends (a scheduled fetch, the catch-up's, a daily job's own), so a slow fetch costs
neither an attempt nor an email to operations.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlmodel import col

from audit_store.canonical import as_utc
from audit_store.checkpoint import publish_checkpoint
from audit_store.db import Store
from audit_store.models import Artifact
from audit_store.tables_outbox import OutboxMessage
from audit_store.tables_schedule import ClaimState, RunStatus
from reporting.checks.metrics import TRAILING_DAYS, day_bounds
from reporting.config import JobTrigger, Settings
from reporting.errors import Interrupted, SourceError
from reporting.fetch import watermarks
from reporting.fetch.ingest import PageHook, check_request, fetch
from reporting.fetch.registry import STREAMS, daily_sources, source_parts, volume_parts
from reporting.fetch.sources.kaiko.format import interval_seconds
from reporting.fetch.streams.reading import first_collected
from reporting.notify.anchor import stamp_latest
from reporting.notify.outbox import UNSETTLED, utc_now
from reporting.records import FetchSummary
from reporting.schedule.claims import (
    Clock,
    Heartbeat,
    Policy,
    acquire,
    finish,
    period_of_day,
    period_of_time,
    states,
)

log = logging.getLogger("liqrisk.schedule")

JOB_NAMES = ("fetch", "daily", "drain", "checkpoint")
ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
"""Where ``every_seconds`` triggers (and their periods) are counted from, in every process."""


@dataclass(frozen=True)
class Context:
    """What every job run needs: the store, the settings as the daemon uses them, who it is."""

    store: Store
    settings: Settings
    owner: str
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Clock = utc_now

    @property
    def policy(self) -> Policy:
        return Policy.of(self.settings)

    def now(self) -> datetime:
        return as_utc(self.clock())


@dataclass(frozen=True)
class Outcome:
    """What one job did with one period (``skipped``: done already, or another process has it)."""

    job: str
    period: str
    status: RunStatus | str
    detail: str


def work(ctx: Context, job: str, period: str, body: Callable[[], str]) -> Outcome:
    """Claim ``period`` of ``job``, run ``body`` with heartbeats, record how it ended."""
    policy = ctx.policy
    claim = acquire(ctx.store, job, period, owner=ctx.owner, now=ctx.now(), policy=policy)
    if claim is None:
        return Outcome(job, period, "skipped", "done, being worked on, or given up")
    log.info("%s %s: started (claim %d, %s)", job, period, claim.id, claim.reason)
    status: RunStatus
    with Heartbeat(ctx.store, claim, policy, ctx.now):
        try:
            detail = body()
            status = "ok"
        except Interrupted as exc:
            status, detail = "interrupted", str(exc)
        except Exception as exc:  # any failure is recorded and announced, never lost
            log.exception("%s %s: failed", job, period)
            status, detail = "failed", f"{type(exc).__name__}: {exc}"
    finish(ctx.store, ctx.settings, claim, status, detail, ctx.now())
    log.log(
        logging.WARNING if status != "ok" else logging.INFO,
        "%s %s: %s: %s",
        job,
        period,
        status,
        detail,
    )
    return Outcome(job, period, status, detail)


def build_trigger(trigger: JobTrigger, timezone: str) -> BaseTrigger:
    """The APScheduler trigger of a job: its crontab line in ``timezone``, or its interval."""
    zone = ZoneInfo(timezone)
    if trigger.cron is not None:
        return CronTrigger.from_crontab(trigger.cron, timezone=zone)
    assert trigger.every_seconds is not None
    return IntervalTrigger(seconds=trigger.every_seconds, start_date=ANCHOR, timezone=zone)


def slot(moment: datetime, trigger: JobTrigger, default_seconds: int = 60) -> datetime:
    """The start of the ``every_seconds`` slot (a minute for a cron trigger) holding ``moment``."""
    seconds = trigger.every_seconds or default_seconds
    elapsed = int((as_utc(moment) - ANCHOR).total_seconds())
    return ANCHOR + timedelta(seconds=elapsed - elapsed % seconds)


# --- fetch ---------------------------------------------------------------------------------------


def fetch_sources(settings: Settings) -> tuple[str, ...]:
    """``schedule.sources``; by default what the daily job reads: the default source and its
    overlays (funding, open interest, the OKX cross-check)."""
    if settings.schedule.sources:
        return settings.schedule.sources
    return daily_sources(settings.fetch.default_source)


def closed_end(ctx: Context) -> datetime:
    """The end of the last closed interval now: what a fetch now brings the watermarks up to."""
    fetch = ctx.settings.fetch
    return watermarks.closed_until(
        ctx.now(), interval_seconds(fetch.interval), fetch.settle_seconds
    )


def fetch_period(ctx: Context) -> str:
    """The fetch job's period now: :func:`closed_end`."""
    return period_of_time(closed_end(ctx))


def bootstrap_start(ctx: Context) -> datetime:
    """Where an asset without a watermark starts: the catch-up window and the report's trailing
    days before it."""
    days = ctx.settings.schedule.catchup_days + TRAILING_DAYS
    start, _ = day_bounds(ctx.now().date() - timedelta(days=days))
    return start


def fetch_since_watermarks(ctx: Context, after_store: PageHook | None = None) -> list[FetchSummary]:
    """Fetch every source's default datasets for every asset, from its watermark to the last
    closed interval. An asset without a watermark is backfilled from the bootstrap start in chunks
    (:func:`reporting.fetch.backfill.backfill`), its watermark advanced after each, so a stop
    part-way resumes after the last whole chunk. Stops between pages when the daemon is stopping.
    ``after_store`` runs in each page's transaction (the intraday limits on hourly volumes)."""
    from reporting.fetch.backfill import backfill

    def stop_between_pages(*_args: object) -> None:
        if ctx.stop.is_set():
            raise Interrupted("stopped between two pages; resumed from the watermark at next start")

    settings = ctx.settings
    summaries: list[FetchSummary] = []
    for source in fetch_sources(settings):
        for dataset in check_request(source, None):
            assets = [a.lower() for a in settings.fetch.assets]
            fresh = [a for a in assets if watermarks.current(ctx.store, source, dataset, a) is None]
            marked = [a for a in assets if a not in fresh]
            if marked:
                stop_between_pages()
                summaries += fetch(
                    ctx.store,
                    settings,
                    source=source,
                    assets=marked,
                    datasets=[dataset],
                    clock=ctx.now,
                    on_page=stop_between_pages,
                    after_store=after_store,
                )
            if fresh:  # each chunk's start and each page are a place to stop
                summaries += backfill(
                    ctx.store,
                    settings,
                    source=source,
                    assets=fresh,
                    start=bootstrap_start(ctx),
                    end=closed_end(ctx),
                    datasets=[dataset],
                    clock=ctx.now,
                    on_progress=stop_between_pages,
                    after_store=after_store,
                ).fetches
    return summaries


def _fetch_body(ctx: Context) -> str:
    from reporting.notify.intraday_hourly import HourlyAlerts, deliver_now

    alerts = HourlyAlerts(ctx.settings, clock=ctx.now)
    try:
        summaries = fetch_since_watermarks(ctx, after_store=alerts)
    finally:  # what the pages alerted goes at once (what a group window holds: the drain job)
        if alerts.enqueued:
            deliver_now(ctx.store, ctx.settings, clock=ctx.now, wait_held=False)
    errors = [p for s in summaries for p in s.problems if p.severity == "error"]
    pages = sum(s.pages for s in summaries)
    rows = sum(s.rows for s in summaries)
    if errors:
        first = "; ".join(f"{p.source}: {p.message}" for p in errors[:3])
        raise SourceError(f"{len(errors)} error(s) after {pages} page(s): {first}")
    alerted = f"; {alerts.decided} intraday alert row(s)" if alerts.decided else ""
    return f"{pages} page(s), {rows} row(s) from {', '.join(fetch_sources(ctx.settings))}{alerted}"


def fetch_job(ctx: Context) -> Outcome:
    return work(ctx, "fetch", fetch_period(ctx), lambda: _fetch_body(ctx))


def fetch_then_late_reports(ctx: Context) -> list[Outcome]:
    """The fetch job as scheduled: after a fetch that went well, the reports that are due but
    were not made (their data was late, or their run failed) are made at once, not a day later."""
    outcomes = [fetch_job(ctx)]
    if outcomes[0].status == "ok" and ctx.settings.schedule.daily.enabled:
        outcomes += daily_job(ctx)  # nothing when no report is missing
    return outcomes


def ensure_fetched(ctx: Context) -> tuple[Outcome, bool]:
    """Run the fetch job's current period, or wait while another process works on it (and take
    it over if that process goes silent). Also says whether another process still holds it (it
    did not finish within the working timeout, or the daemon is stopping)."""
    deadline = ctx.now() + ctx.policy.timeout
    while True:
        outcome = fetch_job(ctx)
        if outcome.status != "skipped":
            return outcome, False
        state = states(ctx.store, "fetch", [outcome.period], ctx.now(), ctx.policy)
        held = state[outcome.period].state in ("running", "stale")
        if not held or ctx.now() >= deadline:
            return outcome, held
        if ctx.stop.wait(min(1.0, ctx.policy.heartbeat_seconds)):
            return outcome, held


# --- daily ---------------------------------------------------------------------------------------


def last_complete_day(now: datetime) -> date:
    return as_utc(now).date() - timedelta(days=1)


def window(ctx: Context) -> list[date]:
    """The days the daily job looks at, oldest first: the last ``catchup_days`` complete days."""
    last = last_complete_day(ctx.now())
    return [last - timedelta(days=n) for n in reversed(range(ctx.settings.schedule.catchup_days))]


def reported_outside(store: Store, days: list[date]) -> set[str]:
    """The periods of ``days`` with a day report not made by the daemon (``liqrisk daily``)."""
    periods = [period_of_day(d) for d in days]
    with store.read_session() as session:
        found = session.scalars(
            select(col(Artifact.period)).where(
                col(Artifact.kind) == "report.pdf", col(Artifact.period).in_(periods)
            )
        )
        return set(found)


def _reportable(ctx: Context, days: list[date], now: datetime) -> list[date]:
    """``days`` less those no report can be due for: before the first day the default source's
    liquidations are stored (the earliest ``covered_from`` of its watermarks), or past the end of
    what the source serves (the bundled demo data set ends; a live source does not). A store with
    no watermark yet keeps every day, so that the daily job fetches them: a new deployment starts.
    """
    from reporting.fetch.availability import served

    source = ctx.settings.fetch.default_source
    parts = volume_parts(source)
    marks = [
        m
        for part in parts
        for m in watermarks.latest(ctx.store, part)
        if m.dataset == "liquidations"
    ]
    starts = [m.covered_from for m in marks]
    if STREAMS in source_parts(source) and (collected := first_collected(ctx.store)):
        starts.append(collected)
    first = min(starts, default=None)
    ends = [served(part, "liquidations", now).last for part in parts]
    bounded = [e for e in ends if e is not None]  # a live part serves without an end
    last = max(bounded) if bounded and len(bounded) == len(ends) else None
    return [
        d
        for d in days
        if (first is None or day_bounds(d)[1] > first) and (last is None or day_bounds(d)[0] < last)
    ]


def due_days(ctx: Context) -> list[tuple[date, ClaimState, bool]]:
    """The days of the window whose report is due, oldest first, each with the state of its daily
    claim and whether it was reported by hand. A report is due once the daily job's first fire
    after its day has come (a day is not reported before its time, even by a catch-up or a late
    fetch), and only for a day the source's data can cover (:func:`_reportable`)."""
    schedule = ctx.settings.schedule
    now = ctx.now()
    days = _reportable(ctx, window(ctx), now)
    if schedule.daily.enabled:
        trigger = build_trigger(schedule.daily, schedule.timezone)
        fires = [trigger.get_next_fire_time(None, day_bounds(d)[1]) for d in days]
        days = [d for d, fire in zip(days, fires, strict=True) if fire is not None and fire <= now]
    found = states(ctx.store, "daily", [period_of_day(d) for d in days], now, ctx.policy)
    outside = reported_outside(ctx.store, days)
    return [(d, found[period_of_day(d)], period_of_day(d) in outside) for d in days]


def missing_days(ctx: Context) -> list[date]:
    """Days of the window still to be reported, oldest first, whose report is due: never claimed
    (and not reported by hand), taken over from a dead process, interrupted, or failed fewer than
    ``max_attempts`` times."""
    todo = []
    for day, state, by_hand in due_days(ctx):
        if state.state == "free" and not by_hand:
            todo.append(day)
        elif state.state in ("stale", "interrupted"):
            todo.append(day)
        elif state.state == "failed" and state.failures < ctx.settings.schedule.max_attempts:
            todo.append(day)
    return todo


def coverage(ctx: Context) -> tuple[datetime, datetime] | None:
    """The range every asset of the default source's liquidations is stored for (the latest of
    the watermarks' starts, the earliest of their ends; for the streams, from the first connection
    up to now; for a combined source, the range all its parts share); ``None`` when an asset has
    none, or no stream was ever collected."""
    source = ctx.settings.fetch.default_source
    ranges: list[tuple[datetime, datetime]] = []
    for part in source_parts(source):
        if part == STREAMS:  # live: collected up to now since the first connection
            collected = first_collected(ctx.store)
            if collected is None:
                return None
            ranges.append((collected, ctx.now()))
            continue
        marks = [
            watermarks.current(ctx.store, part, "liquidations", asset)
            for asset in ctx.settings.fetch.assets
        ]
        found = [m for m in marks if m is not None]
        if len(found) < len(marks):
            return None
        ranges.append((max(m.covered_from for m in found), min(m.watermark for m in found)))
    return max(r[0] for r in ranges), min(r[1] for r in ranges)


def _daily_body(ctx: Context, day: date) -> str:
    from reporting.pipeline import run_daily  # the report stack loads only when a day runs

    source = ctx.settings.fetch.default_source
    result = run_daily(ctx.store, ctx.settings, day, source=source, clock=ctx.now, fetch=False)
    statuses = [r.status for r in result.run.results]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("breach", "warn", "error"))
    notices = result.notices.summary() if result.notices is not None else "not drained"
    return f"report {result.report.pdf_path.name}; checks: {counts}; outbox: {notices}"


def _not_covered(day: date, covered: tuple[datetime, datetime] | None, source: str) -> str:
    if covered is None:
        return f"some assets have no {source} liquidations stored yet"
    start, end = (t.isoformat(timespec="minutes") for t in covered)
    return (
        f"the {source} liquidations of {day.isoformat()} are not all stored "
        f"(every asset is stored from {start} to {end})"
    )


def _report(ctx: Context, day: date) -> Callable[[], str]:
    return lambda: _daily_body(ctx, day)


def _late(reason: str) -> Callable[[], str]:
    def body() -> str:
        raise SourceError(f"report not made: {reason}")

    return body


def daily_job(ctx: Context) -> list[Outcome]:
    """Report every missing day of the window whose data is stored, oldest first."""
    todo = missing_days(ctx)
    if not todo:
        return []
    outcomes = []
    if ctx.settings.schedule.fetch.enabled:
        fetched, held = ensure_fetched(ctx)
        outcomes.append(fetched)
        if held:  # its holder runs this job when the fetch ends: the days are not late yet
            log.info(
                "daily: the fetch of %s is still under way; its end makes the reports",
                fetched.period,
            )
            return outcomes
    covered = coverage(ctx)
    source = ctx.settings.fetch.default_source
    for day in todo:
        if ctx.stop.is_set():
            log.info("daily: stopping; %s and later are left for the next start", day)
            break
        start, end = day_bounds(day)
        complete = covered is not None and covered[0] <= start and end <= covered[1]
        if not complete and day != todo[-1]:
            log.info("daily %s: waiting for its data", day)
            continue
        body = _report(ctx, day) if complete else _late(_not_covered(day, covered, source))
        outcomes.append(work(ctx, "daily", period_of_day(day), body))
    last = period_of_day(last_complete_day(ctx.now()))
    reported = any(o.job == "daily" and o.period == last and o.status == "ok" for o in outcomes)
    if reported and ctx.settings.schedule.checkpoint.enabled:
        outcomes.append(checkpoint_job(ctx))  # the day's checkpoint, its report included
    return outcomes


# --- drain, checkpoint ---------------------------------------------------------------------------


def _drain_body(ctx: Context) -> str:
    from reporting.notify import drain

    return drain(ctx.store, ctx.settings, clock=ctx.now, wait_seconds=0).summary()


def announce_held(ctx: Context) -> int:
    """Enqueue the intraday alerts a group window held back (or a stopped process left
    unannounced) whose window has passed; returns the messages enqueued."""
    from reporting.notify.intraday_groups import announce

    if not ctx.settings.limits.intraday:
        return 0
    with ctx.store.session() as session:
        return announce(session, ctx.settings, ctx.now()).enqueued


def outbox_open(store: Store) -> bool:
    """Whether any message is neither delivered nor given up."""
    query = select(col(OutboxMessage.id)).where(UNSETTLED).limit(1)
    with store.read_session() as session:
        return session.execute(query).first() is not None


def drain_job(ctx: Context) -> Outcome:
    """One pass over the outbox. A slot with nothing waiting is not claimed (nor recorded): the
    drain runs every minute, and a run that had nothing to do is not worth a row."""
    period = period_of_time(slot(ctx.now(), ctx.settings.schedule.drain))
    # A checkpoint waiting for its RFC 3161 token is asked for again (after retry_seconds).
    anchor = stamp_latest(ctx.store, ctx.settings, clock=ctx.now)
    if anchor.status in ("stamped", "failed"):
        log.info("drain: %s", anchor.line)
    announce_held(ctx)
    if not outbox_open(ctx.store):
        return Outcome("drain", period, "skipped", "nothing waiting")
    return work(ctx, "drain", period, lambda: _drain_body(ctx))


def checkpoint_dir(settings: Settings) -> str:
    target = settings.schedule.checkpoint_dir or settings.reports_dir / "checkpoint"
    return str(target.expanduser())


def _checkpoint_body(ctx: Context) -> str:
    from reporting.evidence import prepare_key, sign_latest

    prepare_key(ctx.store, ctx.settings)
    signed = sign_latest(ctx.store, ctx.settings)
    path = publish_checkpoint(ctx.store, checkpoint_dir(ctx.settings))
    done = f"checkpoint of {signed.tree_size} leaves, root {signed.root_hash}, published to {path}"
    anchor = stamp_latest(ctx.store, ctx.settings, clock=ctx.now)
    return done if anchor.status == "off" else f"{done}; {anchor.line}"


def checkpoint_job(ctx: Context) -> Outcome:
    """Publish the checkpoint of the previous UTC day, after its report when that is being made
    (the daily job publishes it as soon as the report is done)."""
    period = period_of_day(last_complete_day(ctx.now()))
    if ctx.settings.schedule.daily.enabled:
        daily = states(ctx.store, "daily", [period], ctx.now(), ctx.policy)[period]
        if daily.state == "running":
            return Outcome("checkpoint", period, "skipped", "waiting for the day's report")
    return work(ctx, "checkpoint", period, lambda: _checkpoint_body(ctx))


# --- all of them ---------------------------------------------------------------------------------


def run_job(ctx: Context, job: str) -> list[Outcome]:
    """Run one job by name (what the scheduler calls)."""
    if job == "fetch":
        return fetch_then_late_reports(ctx)
    if job == "daily":
        return daily_job(ctx)
    if job == "drain":
        return [drain_job(ctx)]
    if job == "checkpoint":
        return [checkpoint_job(ctx)]
    raise ValueError(f"unknown job {job!r}; the jobs are {', '.join(JOB_NAMES)}")


def catch_up(ctx: Context) -> list[Outcome]:
    """What the daemon does first: fetch since the watermarks, report the missing days, publish
    the checkpoint, deliver what waits; each enabled job, in that order."""
    outcomes: list[Outcome] = []
    for job in ("fetch", "daily", "checkpoint", "drain"):
        if getattr(ctx.settings.schedule, job).enabled and not ctx.stop.is_set():
            outcomes += run_job(ctx, job)
    return outcomes
