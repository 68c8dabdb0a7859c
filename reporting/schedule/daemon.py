"""``liqrisk run``: APScheduler with the configured jobs, a catch-up at start, clean stops.

The scheduler is APScheduler 3's ``BackgroundScheduler``; the main thread only waits for a signal.
Its job store is a ``SQLAlchemyJobStore`` on the audit store's own engine, in a table of its own
per daemon instance (``apscheduler_jobs_<instance>``, the instance defaulting to the host name):
APScheduler's documentation says a job store must never be shared between schedulers, and two
daemons on one database are exactly what the claims make safe. The table is not an audit table
(APScheduler updates and deletes its rows). Because it is persistent, a fire missed while the
daemon was down is noticed at the next start and run once (``coalesce``) when it is no later than
``misfire_grace_seconds``; every job has ``max_instances=1``.

What makes a period happen exactly once is not APScheduler but the claims
(:mod:`reporting.schedule.claims`): a fire that finds its period claimed skips it. At start, before
the first regular fire, the daemon catches up: fetch since the watermarks, report the missing days,
publish the checkpoint, drain the outbox (:func:`reporting.schedule.jobs.catch_up`).

Stopping: SIGTERM or SIGINT stops new fires, lets the running jobs finish (the daily job stops
between two days, a fetch between two pages; both are resumed at the next start) and exits 0. A
second signal exits at once (status 1): what was running is left to the working timeout. SIGKILL
leaves claims without an end row; the next start (or another daemon) takes them over once they
have been silent for ``working_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import signal
import socket
import threading
from datetime import UTC, datetime
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from audit_store.db import Store, translate_db_error
from reporting.config import JobTrigger, Settings
from reporting.schedule.jobs import JOB_NAMES, Context, build_trigger, catch_up, run_job

log = logging.getLogger("liqrisk.schedule")

JOBSTORE_PREFIX = "apscheduler_jobs_"
JOB_ID_PREFIX = "liqrisk."
FUNC_REF = "reporting.schedule.daemon:scheduled"

_context: Context | None = None


def scheduled(job: str) -> None:
    """What the job store's jobs call (by reference): run ``job`` in this daemon's context."""
    ctx = _context
    if ctx is None:
        raise RuntimeError("a liqrisk job ran outside `liqrisk run`")
    run_job(ctx, job)


def instance_name(settings: Settings, override: str | None = None) -> str:
    """This daemon's name: ``--instance``, ``schedule.instance``, else the host name; as it goes
    into a table name (lower case, letters, digits and ``_``)."""
    raw = override or settings.schedule.instance or socket.gethostname() or "liqrisk"
    name = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_")[:40]
    return name or "liqrisk"


def jobstore_table(instance: str) -> str:
    return JOBSTORE_PREFIX + instance


def describe_trigger(trigger: JobTrigger, timezone: str) -> str:
    if not trigger.enabled:
        return "disabled"
    if trigger.cron is not None:
        return f"cron {trigger.cron} ({timezone})"
    return f"every {trigger.every_seconds} s"


def daemon_settings(settings: Settings) -> Settings:
    """The settings the jobs run with: the daily job drains once without waiting (the drain job
    retries every run), so a stop is never held up by a mail server that is down."""
    notify = settings.notify.model_copy(update={"drain_wait_seconds": 0.0})
    return settings.model_copy(update={"notify": notify})


def _job_options(settings: Settings) -> dict[str, Any]:
    """What every job of the daemon runs with: missed fires run once (within the grace time), and
    never two runs of a job at once."""
    return {
        "coalesce": True,
        "max_instances": 1,
        "misfire_grace_time": settings.schedule.misfire_grace_seconds,
    }


def sync_jobs(scheduler: BackgroundScheduler, settings: Settings) -> None:
    """Make the job store hold exactly the configured jobs.

    A job whose trigger is unchanged keeps its stored next run time, so a fire missed while the
    daemon was down is still seen as missed (and run once, within the misfire grace time).
    """
    schedule = settings.schedule
    options = _job_options(settings)
    for name in JOB_NAMES:
        config: JobTrigger = getattr(schedule, name)
        job_id = JOB_ID_PREFIX + name
        existing = scheduler.get_job(job_id, jobstore="default")
        if not config.enabled:
            if existing is not None:
                scheduler.remove_job(job_id, jobstore="default")
            continue
        trigger = build_trigger(config, schedule.timezone)
        same = (
            existing is not None
            and repr(existing.trigger) == repr(trigger)
            and existing.func_ref == FUNC_REF
            and tuple(existing.args) == (name,)
        )
        if same:
            scheduler.modify_job(job_id, jobstore="default", name=name, **options)
        else:
            scheduler.add_job(
                scheduled,
                trigger,
                args=(name,),
                id=job_id,
                name=name,
                jobstore="default",
                replace_existing=True,
                **options,
            )
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.removeprefix(JOB_ID_PREFIX) not in JOB_NAMES:
            scheduler.remove_job(job.id, jobstore="default")  # not ours, or a job that is gone


def _on_event(event: JobEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning(
            "%s: the run due at %s was missed by more than the misfire grace time",
            event.job_id,
            event.scheduled_run_time,
        )
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log.info("%s: still running; this fire is skipped", event.job_id)


class _Signals:
    """SIGTERM/SIGINT set ``stop``; a second one exits at once."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info(
            "%s: stopping after the running jobs (send it again to exit at once)",
            signal.Signals(signum).name,
        )
        self.stop.set()


def _start_collectors(
    store: Store, settings: Settings, stop: threading.Event
) -> threading.Thread | None:
    """With ``streams.in_daemon``, the configured collectors in a thread of their own, stopped
    (batches committed, disconnects recorded) with the daemon. They evaluate the intraday limits
    on each batch and send the alerts at once, as ``liqrisk collect`` does."""
    if not settings.streams.in_daemon:
        return None
    from reporting.fetch.streams.runner import prepare_specs, run_streams
    from reporting.notify.intraday import Deliverer, IntradayAlerts

    def collect() -> None:
        hook = IntradayAlerts(settings) if settings.limits.intraday else None
        deliverer = Deliverer(store, settings)
        if hook is not None:
            deliverer.start()
        try:
            specs = prepare_specs(store, settings, None)
            asyncio.run(
                run_streams(
                    store,
                    settings,
                    specs,
                    until=lambda _stats: stop.is_set(),
                    after_batch=hook,
                    on_batch=deliverer.on_batch,
                )
            )
        except Exception:  # the scheduled jobs go on; the gap is on record in stream_session
            log.exception("the collectors stopped")
        finally:
            deliverer.close()

    thread = threading.Thread(target=collect, name="liqrisk-collectors", daemon=True)
    thread.start()
    log.info("collectors started: %s", ", ".join(settings.streams.venues))
    return thread


def run_daemon(
    settings: Settings,
    *,
    instance: str | None = None,
    catch_up_first: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Run the scheduler until ``stop`` is set (by SIGTERM or SIGINT, or the caller)."""
    global _context
    store = Store(settings.database_url)
    store.require_schema()
    name = instance_name(settings, instance)
    owner = f"{name}@{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    stop = stop or threading.Event()
    ctx = Context(store, daemon_settings(settings), owner, stop)
    schedule = settings.schedule
    scheduler = BackgroundScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(engine=store.engine, tablename=jobstore_table(name)),
            "transient": MemoryJobStore(),
        },
        executors={"default": ThreadPoolExecutor(max_workers=schedule.workers)},
        job_defaults=_job_options(settings),
        timezone=ZoneInfo(schedule.timezone),
    )
    scheduler.add_listener(_on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    signals = _Signals(stop)
    signals.install()
    collectors: threading.Thread | None = None
    _context = ctx
    try:
        try:
            scheduler.start(paused=True)
            sync_jobs(scheduler, settings)
        except SQLAlchemyError as exc:
            context = f"cannot set up the job store in {store.description}"
            raise translate_db_error(exc, context) from exc
        if catch_up_first:
            scheduler.add_job(
                catch_up,
                "date",
                args=(ctx,),
                id=JOB_ID_PREFIX + "catch_up",
                name="catch-up",
                jobstore="transient",
                run_date=datetime.now(UTC),
                misfire_grace_time=None,
            )
        scheduler.resume()
        collectors = _start_collectors(store, settings, stop)
        log.info("liqrisk daemon %s started (store %s)", owner, store.description)
        for job in scheduler.get_jobs(jobstore="default"):
            log.info("  %s: next run %s", job.name, job.next_run_time)
        while not stop.wait(1.0):
            pass
        log.info("stopping: waiting for the running jobs to finish")
    finally:
        stop.set()
        if collectors is not None:
            collectors.join(30)
        if scheduler.running:
            scheduler.shutdown(wait=True)
        signals.restore()
        _context = None
        store.dispose()
    log.info("liqrisk daemon %s stopped", owner)
