"""Intraday alerts: the stream batch hook that evaluates the intraday limits and announces what
they decide, in the batch's transaction; and the collector's deliverer that sends it at once.

:class:`IntradayAlerts` is the :data:`reporting.fetch.streams.writer.BatchHook` ``liqrisk
collect`` (and ``liqrisk run`` with ``streams.in_daemon``) hands the collector. On each committed
batch it runs :func:`.checks.intraday.evaluate_batch` and, when a row decided (a ``new`` crossing,
an ``escalated`` one, a ``repeat``, a ``resolved`` episode), :func:`.intraday_groups.announce`:
one email per matching route and one signed POST per matching webhook, each in the outbox in the
same transaction as the result (the result and its message are committed together or not at
all); within a route's group window (``notify.intraday_group_seconds``) they wait and go
together. The keys are derived from the result ids, so a batch evaluated again (a retry, a
restart) never enqueues twice.

An evaluation that raises is rolled back alone (a savepoint): the batch is stored all the same, an
``error`` row records what failed, and the next batch evaluates again, so a crossing missed is
found one batch later.

:class:`Deliverer` sends at once: told of each stored batch (the collector's ``on_batch``), it
runs a drain in a thread of its own as soon as a batch enqueued something, so an alert does not
wait for the next ``liqrisk outbox drain``; once a second its ticker announces what a group window
held back (and, at start, what a killed process stored but never announced). What it could not
send (the server down) stays in the outbox with its retry time, for the next drain.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session, col

from audit_store.db import Store
from audit_store.tables_intraday import STREAMS_FEED, IntradayResult
from reporting.checks.intraday import evaluate_batch
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings
from reporting.fetch.streams.writer import CommittedBatch, StoredBatch
from reporting.notify.intraday_groups import announce
from reporting.notify.outbox import Clock, drain, utc_now
from reporting.notify.records import one_line

log = logging.getLogger(__name__)
KIND = "intraday"


@dataclass
class IntradayAlerts:
    """The batch hook: evaluate, store, enqueue; returns the number of messages enqueued."""

    settings: Settings
    clock: Clock = utc_now
    _sha256: str = field(default="", init=False)

    def __post_init__(self) -> None:
        self._sha256 = limit_set_sha256(self.settings.limits)

    def __call__(self, session: Session, batch: CommittedBatch) -> int:
        if not self.settings.limits.intraday:
            return 0
        try:
            with session.begin_nested():
                return self.evaluate(session, batch)
        except Exception as exc:  # a failing evaluation must not lose the batch
            log.exception("intraday limits on batch %d failed", batch.leaf_index)
            record_failure(
                session, batch.snapshot_id, batch.leaf_index, exc, self._sha256, self.clock()
            )
            return 0

    def evaluate(self, session: Session, batch: CommittedBatch) -> int:
        now = self.clock()
        jurisdictions = {c: e.jurisdiction for c, e in self.settings.exchanges.items()}
        decisions = evaluate_batch(
            session,
            self.settings.limits,
            jurisdictions,
            batch,
            limit_set_sha256=self._sha256,
            now=now,
        )
        if not decisions:
            return 0
        return announce(session, self.settings, now).enqueued


def record_failure(
    session: Session,
    snapshot_id: int,
    leaf_index: int,
    exc: BaseException,
    sha256: str,
    now: datetime,
    feed: str = STREAMS_FEED,
) -> None:
    """An ``error`` row: the evaluation of a batch (or page) failed; it is stored all the same."""
    with session.begin_nested():
        session.add(
            IntradayResult(
                snapshot_id=snapshot_id,
                limit_name="",
                measure="",
                window_minutes=0,
                scope="",
                source="",
                kind="error",
                status="error",
                episode="",
                observed=0.0,
                warn_at=0.0,
                limit=0.0,
                window_start=now,
                window_end=now,
                limit_set_sha256=sha256,
                leaves_json=json.dumps([leaf_index]),
                detail=one_line(f"{type(exc).__name__}: {exc}")[:1000],
                created_at=now,
                feed=feed,
            )
        )


class Deliverer:
    """Sends intraday alerts at once, in threads of its own beside the collector.

    A drain runs after each batch that enqueued an alert (one at a time; a request made while one
    runs starts one more after it). :meth:`start` also starts a ticker: at once, then every
    ``tick_seconds``, it announces what a group window held back or a killed process left
    unannounced, and every ``drain_every_seconds`` it drains what became due again (a retry
    after the mail server was down). :meth:`close` stops both and waits for them.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Clock = utc_now,
        tick_seconds: float = 1.0,
        drain_every_seconds: float = 15.0,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.drain_every_seconds = drain_every_seconds
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqrisk-alerts")
        self._lock = threading.Lock()
        self._queued = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._settled = -1  # the newest intraday result id known to be announced
        self.drains = 0
        self.announced = 0

    def start(self) -> Deliverer:
        """Drain what an earlier process left, and start the ticker."""
        self.kick()
        self._ticker = threading.Thread(target=self._tick_loop, name="liqrisk-alerts-tick")
        self._ticker.daemon = True
        self._ticker.start()
        return self

    def on_batch(self, _spec: object, stored: StoredBatch, _seconds: float) -> None:
        if stored.enqueued:
            self.kick()

    def kick(self) -> None:
        with self._lock:
            if self._queued:
                return
            self._queued = True
        self._thread.submit(self._drain)

    def _drain(self) -> None:
        with self._lock:
            self._queued = False
        try:
            report = drain(self.store, self.settings, wait_seconds=0, clock=self.clock)
            self.drains += 1
            log.info("intraday alerts: %d delivered, %d waiting", len(report.delivered),
                     report.waiting)  # fmt: skip
        except Exception:  # the collector goes on; the messages wait in the outbox
            log.exception("intraday alerts: the drain failed; the messages stay in the outbox")

    def tick(self) -> int:
        """Announce what is held, if anything new was stored since all was announced; returns the
        messages enqueued (and drains them at once)."""
        try:
            with self.store.session() as session:
                newest = newest_result_id(session)
                if newest <= self._settled:
                    return 0
                done = announce(session, self.settings, self.clock())
            if done.held == 0:
                self._settled = newest
        except Exception:  # the next tick tries again
            log.exception("intraday alerts: announcing held alerts failed")
            return 0
        if done.enqueued:
            self.announced += done.enqueued
            self.kick()
        return done.enqueued

    def _tick_loop(self) -> None:
        since_drain = 0.0
        while not self._stop.is_set():
            self.tick()
            if self._stop.wait(self.tick_seconds):
                return
            since_drain += self.tick_seconds
            if since_drain >= self.drain_every_seconds:
                since_drain = 0.0
                self.kick()

    def close(self) -> None:
        """Stop the ticker, wait for the drain that runs (and the one asked for), then stop."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self._thread.shutdown(wait=True)

    def __enter__(self) -> Deliverer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()


def newest_result_id(session: Session) -> int:
    found = session.execute(select(func.max(col(IntradayResult.id)))).scalar()
    return int(found or 0)
