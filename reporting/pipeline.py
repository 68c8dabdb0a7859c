"""The orchestrator: fetch -> check -> report -> notify for one day; stages hand frozen records on.

Data problems travel as :class:`reporting.records.Problem` records in the result; only a stage
that cannot run at all (no database, bad config) raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import httpx

from audit_store.db import Store
from audit_store.models import Checkpoint
from reporting.checks.metrics import TRAILING_DAYS, AssetDay, day_bounds
from reporting.checks.store import StoredRun, run_checks
from reporting.config import Settings
from reporting.evidence import prepare_key, sign_latest
from reporting.fetch import ingest
from reporting.fetch.registry import daily_sources, source_parts
from reporting.notify import DrainReport, drain, enqueue_breach_notices, enqueue_daily_report
from reporting.notify.anchor import AnchorOutcome, stamp_latest
from reporting.notify.outbox import utc_now
from reporting.records import FetchSummary, Problem
from reporting.render import ReportFiles, render_report


@dataclass(frozen=True)
class DailyResult:
    day: date
    source: str
    fetches: tuple[FetchSummary, ...]
    checkpoint: Checkpoint
    metrics: dict[str, AssetDay]
    run: StoredRun
    report: ReportFiles
    notices: DrainReport | None = None  # the outbox drain after the report
    key_created: bool = False  # this run made the signing key (the log had no checkpoint)
    verifier_key: str = ""  # the public key of the signing key, to publish
    anchor: AnchorOutcome | None = None  # the RFC 3161 time stamp asked for the checkpoint

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for f in self.fetches for p in f.problems)


def default_day(settings: Settings, source: str, today: date | None = None) -> date:
    """The day the daily job reports on when none is given.

    For the demo source that is the demo set's stress day, so the quick start shows what a breach
    looks like; for a live source it is yesterday (UTC), the last complete day.
    """
    if source == "demo":
        from reporting.fetch.sources.demo.client import load_demo_dataset

        return date.fromisoformat(str(load_demo_dataset()["meta"]["stress_day"]))
    return (today or datetime.now(UTC).date()) - timedelta(days=1)


def with_source(settings: Settings, source: str) -> Settings:
    """``settings`` with ``source`` as the source every stage reads."""
    if settings.fetch.default_source == source:
        return settings
    fetch_settings = settings.fetch.model_copy(update={"default_source": source})
    return settings.model_copy(update={"fetch": fetch_settings})


def run_daily(
    store: Store,
    settings: Settings,
    day: date,
    *,
    source: str | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
    fetch: bool = True,
    refetch: bool = False,
) -> DailyResult:
    """The daily job for ``day``. ``fetch``: fetch the day and the trailing days first (the
    scheduler passes ``False``: it has fetched since the watermarks already). What the watermarks
    already cover is not fetched again unless ``refetch``: a re-run appends no duplicate pages."""
    source = source or settings.fetch.default_source
    settings = with_source(settings, source)
    start, end = day_bounds(day)
    # The key before any work: a lost or wrong key is refused before a page is fetched (and no
    # stray key is left); a log never signed gets its key now.
    verifier_key, key_created = prepare_key(store, settings)
    fetches = [
        summary
        for fetch_source in (daily_sources(source) if fetch else ())
        for summary in ingest.fetch(
            store,
            settings,
            source=fetch_source,
            assets=settings.fetch.assets,
            start=start - timedelta(days=TRAILING_DAYS),
            end=end,
            transport=transport if fetch_source in source_parts(source) else None,
            clock=clock,
            skip_stored=not refetch,
        )
    ]
    # Sign the log as fetched, so the report names the checkpoint its figures rest on.
    checkpoint = sign_latest(store, settings)
    metrics, run = run_checks(store, settings, day, source=source)
    now = clock or utc_now
    with store.session() as session:  # breach notices do not wait for the report
        enqueue_breach_notices(session, settings, day, clock=now)
    try:
        report = render_report(store, settings, day)
    except Exception:
        drain(store, settings, clock=now)
        raise
    with store.session() as session:
        enqueue_daily_report(session, settings, day, report, clock=now)
    notices = drain(store, settings, clock=now)
    # Last, so a TSA that is slow or down never holds up the report (the checkpoint then waits).
    anchor = stamp_latest(store, settings)
    return DailyResult(
        day,
        source,
        tuple(fetches),
        checkpoint,
        metrics,
        run,
        report,
        notices,
        key_created=key_created,
        verifier_key=verifier_key,
        anchor=anchor,
    )
