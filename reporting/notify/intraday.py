"""Intraday alerts: the stream batch hook that evaluates the intraday limits and enqueues their
messages, in the batch's transaction.

:class:`IntradayAlerts` is the :data:`reporting.fetch.streams.writer.BatchHook` ``liqrisk
collect`` hands the collector. On each committed batch it runs :func:`.checks.intraday.
evaluate_batch` and, for each row that decides (a ``new`` crossing, an ``escalated`` one, a
``repeat`` and a ``resolved`` episode), enqueues one email to everyone whose ``email.routes``
match the episode's level and asset (:func:`.outbox.recipients_for`'s rule, the routes' ``warn``
and ``breach``), with :func:`.outbox.insert_message`: the result and its message are committed
together or not at all. The idempotency key is ``intraday:<limit>|<scope>|<episode start>:<kind>``
(a repeat adds its window end), derived from the data, so a batch evaluated again (a retry, a
restart) never enqueues twice.

An evaluation that raises is rolled back alone (a savepoint): the batch is stored all the same, an
``error`` row records what failed, and the next batch evaluates again, so a crossing missed is
found one batch later.

:class:`Deliverer` sends at once: told of each stored batch (the collector's ``on_batch``), it
runs a drain in a thread of its own as soon as a batch enqueued something, so an alert does not
wait for the next ``liqrisk outbox drain``. What it could not send (the server down) stays in the
outbox with its retry time, for the next drain.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from reporting.checks.intraday import Decision, evaluate_batch
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings
from reporting.fetch.streams.writer import CommittedBatch, StoredBatch
from reporting.notify.checkpoints import published, signed_checkpoint
from reporting.notify.messages import SignedCheckpoint, build_email, message_id
from reporting.notify.outbox import Clock, drain, email_row, insert_message, utc_now
from reporting.notify.records import one_line

log = logging.getLogger(__name__)
KIND = "intraday"
_TITLES = {
    "new": "crossed",
    "escalated": "escalated to breach",
    "repeat": "still over",
    "resolved": "resolved",
}


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
            record_failure(session, batch, exc, self._sha256, self.clock())
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
        signed = signed_checkpoint(session) if decisions else None
        return sum(enqueue_alert(session, self.settings, d, signed, now) for d in decisions)


def record_failure(
    session: Session, batch: CommittedBatch, exc: BaseException, sha256: str, now: datetime
) -> None:
    """An ``error`` row: the evaluation of ``batch`` failed (the batch itself is stored)."""
    with session.begin_nested():
        session.add(
            IntradayResult(
                snapshot_id=batch.snapshot_id,
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
                leaves_json=json.dumps([batch.leaf_index]),
                detail=one_line(f"{type(exc).__name__}: {exc}")[:1000],
                created_at=now,
            )
        )


def alert_key(result: IntradayResult) -> str:
    """The message's idempotency key: one per limit, scope, episode and kind (and repeat)."""
    key = f"{KIND}:{result.episode}:{result.kind}"
    if result.kind == "repeat":
        key += f":{result.window_end.isoformat()}"
    return key


def recipients(settings: Settings, decision: Decision) -> tuple[str, ...]:
    """Everyone whose route matches the episode's level and the scope's asset (a resolved
    episode goes to whoever heard of it)."""
    asset = decision.result.scope.partition("/")[0]
    level = decision.episode_status
    routes = settings.email.breach_routes()
    return tuple(sorted({a for r in routes if r.matches(level, asset) for a in r.to}))


def enqueue_alert(
    session: Session,
    settings: Settings,
    decision: Decision,
    signed: SignedCheckpoint | None,
    now: datetime,
) -> int:
    """Enqueue the email of one decided row; 1 when enqueued, 0 (no recipients, or enqueued
    before)."""
    result = decision.result
    to = recipients(settings, decision)
    if not to:
        return 0
    key = alert_key(result)
    sender = settings.email.sender
    subject, text = alert_text(settings, decision, signed)
    attachments = (signed.attachment(),) if signed else ()
    email = build_email(
        sender=sender,
        to=to,
        subject=subject,
        text=text,
        html=None,
        msg_id=message_id(key, sender),
        when=now,
        attachments=attachments,
    )
    row = email_row(
        key=key,
        kind=KIND,
        day=result.window_end.date(),
        now=now,
        email=email,
        sender=sender,
        to=to,
        attachments=attachments,
    )
    added = insert_message(session, row)
    published(session, signed, added, now)
    return 1 if added is not None else 0


def _figure(value: float, measure: str) -> str:
    return f"{value:,.0f} USD" if measure == "usd" else f"{value:,.0f} liquidations"


def alert_text(
    settings: Settings, decision: Decision, signed: SignedCheckpoint | None
) -> tuple[str, str]:
    """The subject and text body of one intraday alert."""
    r = decision.result
    what = "USD liquidated" if r.measure == "usd" else "liquidations"
    title = _TITLES.get(r.kind, r.kind)
    level = r.limit if r.status == "breach" else r.warn_at
    shown = "RESOLVED" if r.kind == "resolved" else r.status.upper()
    subject = (
        f"[{one_line(settings.firm_name)}] intraday {shown}: {r.scope} {r.limit_name} "
        f"{title}, {_figure(r.observed, r.measure)} in {r.window_minutes} min"
    )
    start = r.window_start.strftime("%Y-%m-%d %H:%M")
    end = r.window_end.strftime("%H:%M")
    lines = [
        f"Intraday limit {r.limit_name} ({what} over a trailing {r.window_minutes}-minute "
        f"window), scope {r.scope}: {title}.",
        "",
        f"Observed:  {_figure(r.observed, r.measure)} in the window from {start} to {end} UTC "
        "(exchange time, the end exclusive)",
        f"Started:   {start} UTC",
        f"Levels:    warn {_figure(r.warn_at, r.measure)}, breach {_figure(r.limit, r.measure)} "
        f"(from {r.source})",
    ]
    if r.kind == "resolved":
        lines.append(f"Resolved:  {r.detail}")
    else:
        over = r.observed - level
        pct = 100 * r.observed / level if level else 0.0
        lines.append(f"Over by:   {_figure(over, r.measure)} ({pct:.0f}% of the {r.status} level)")
    if decision.top:
        lines.append("Behind it: " + "; ".join(
            f"{v} {i} {u:,.0f} USD ({n} liquidations)" for v, i, u, n in decision.top
        ))  # fmt: skip
    leaves: list[int] = json.loads(r.leaves_json)
    shown_leaves = ", ".join(str(n) for n in leaves[:20]) + (" ..." if len(leaves) > 20 else "")
    lines += [
        "",
        "Evidence:",
        f"  intraday result of episode {r.episode}",
        f"  batch leaf indices ({len(leaves)}): {shown_leaves}",
        f"  limit set SHA-256 {r.limit_set_sha256}",
        (
            f"  latest signed checkpoint: tree size {signed.tree_size}, root {signed.root_hash} "
            "(attached as checkpoint.txt)"
            if signed
            else "  no signed checkpoint yet"
        ),
    ]
    return subject, "\n".join(lines) + "\n"


class Deliverer:
    """Drains the outbox in a thread of its own after each batch that enqueued an alert; one
    drain at a time, and a request made while one runs starts one more after it."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqrisk-alerts")
        self._lock = threading.Lock()
        self._queued = False
        self.drains = 0

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
            report = drain(self.store, self.settings, wait_seconds=0)
            self.drains += 1
            log.info("intraday alerts: %d delivered, %d waiting", len(report.delivered),
                     report.waiting)  # fmt: skip
        except Exception:  # the collector goes on; the messages wait in the outbox
            log.exception("intraday alerts: the drain failed; the messages stay in the outbox")

    def close(self) -> None:
        """Wait for the drain that runs (and the one asked for), then stop."""
        self._thread.shutdown(wait=True)
