"""Intraday alerts on fetched hourly volumes: the fetch's page hook, and delivery after a fetch.

:class:`HourlyAlerts` is the :data:`reporting.fetch.ingest.PageHook` ``liqrisk fetch`` and the
daemon's fetch job hand the fetch. On each stored page of the liquidation source the checks read
(``fetch.default_source``; :func:`.checks.intraday_hourly.plan_for` says which scopes are its),
it runs :func:`.checks.intraday_hourly.evaluate_page` and, when a row was decided,
:func:`.intraday_groups.announce`, in the page's transaction, as the stream batch hook does
(:mod:`.intraday`): the result and its messages are committed together or not at all, and an
evaluation that raises is rolled back alone, an ``error`` row saying why, the page kept.

:func:`deliver_now` sends what a fetch enqueued at once, and (when asked to wait) what the group
window held back once the window has passed, so a ``liqrisk fetch`` from cron delivers its own
alerts; the daemon's drain job (every minute) announces what is held otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import Session

from audit_store.db import Store
from reporting.checks.intraday_hourly import Page, evaluate_page, plan_for
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings
from reporting.fetch.ingest import StoredPage
from reporting.fetch.streams.venues import EXCHANGE_CODES
from reporting.notify.intraday import record_failure
from reporting.notify.intraday_groups import announce
from reporting.notify.outbox import Clock, drain, utc_now
from reporting.notify.records import DrainReport

log = logging.getLogger(__name__)
MAX_ROUNDS = 5  # group windows waited out at most after a fetch


@dataclass
class HourlyAlerts:
    """The page hook: evaluate the hourly intraday tables, store, enqueue; returns the number of
    messages enqueued. ``decided`` counts the rows stored over the hook's life."""

    settings: Settings
    clock: Clock = utc_now
    decided: int = 0
    enqueued: int = 0
    _sha256: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._sha256 = limit_set_sha256(self.settings.limits)

    def __call__(self, session: Session, stored: StoredPage) -> int:
        if not self.settings.limits.intraday or not stored.values:
            return 0
        source = stored.values[0][0]
        streamed = [EXCHANGE_CODES[v] for v in self.settings.streams.venues if v in EXCHANGE_CODES]
        plan = plan_for(self.settings.fetch.default_source, source, streamed)
        if plan is None:
            return 0
        page = Page(stored.snapshot_id, stored.leaf_index, stored.values)
        now = self.clock()
        try:
            with session.begin_nested():
                jurisdictions = {c: e.jurisdiction for c, e in self.settings.exchanges.items()}
                decisions = evaluate_page(
                    session,
                    self.settings.limits,
                    jurisdictions,
                    page,
                    plan,
                    limit_set_sha256=self._sha256,
                    now=now,
                )
                enqueued = announce(session, self.settings, now).enqueued if decisions else 0
        except Exception as exc:  # a failing evaluation must not lose the page
            log.exception("intraday limits on page %d failed", stored.leaf_index)
            record_failure(
                session, stored.snapshot_id, stored.leaf_index, exc, self._sha256, now, source
            )
            return 0
        self.decided += len(decisions)
        self.enqueued += enqueued
        return enqueued


def deliver_now(
    store: Store,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    wait_held: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainReport:
    """Deliver what is due, then, while the group window holds alerts back (and ``wait_held``),
    wait it out, announce them and deliver again (at most :data:`MAX_ROUNDS` windows)."""
    report = drain(store, settings, wait_seconds=0, clock=clock)
    for _round in range(MAX_ROUNDS if wait_held else 0):
        with store.session() as session:
            done = announce(session, settings, clock())
        if done.enqueued:
            report = drain(store, settings, wait_seconds=0, clock=clock)
        if not done.held:
            break
        sleep(settings.notify.intraday_group_seconds)
    return report
