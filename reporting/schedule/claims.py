"""Claims: one process works on a (job, period), and every run of it is recorded.

Before a job works on a period it inserts a ``schedule_claim`` row (with its ``start`` run row, in
the same transaction). The unique constraints make the INSERT the arbiter: of two daemons racing
for a period, or for the same stale claim, one commits and the other's INSERT fails, and it backs
off. While it works, the owner appends ``heartbeat`` rows; at the end, one ``end`` row with the
status. A claim without an end row whose last sign of life is older than
``schedule.working_timeout_seconds`` belongs to a process that died (or hangs): the next run takes
it over with a new generation that names it in ``takes_over`` (unique, so one taker wins), and
says so in the log. A failed claim is retried the same way until ``schedule.max_attempts``
failures; an interrupted one (the daemon was stopping) is resumed.

Every failure is announced to ``email.operations`` through the outbox, in the same transaction as
the end row (so the email exists exactly when the failure is recorded).

The limit of "exactly once": a process that stalls (not dies) for longer than the timeout while
still working is taken over, and both finish. Heartbeats come from a thread of their own, so only a
process that is stopped altogether (SIGSTOP, a frozen VM) or cut off from the database goes
silent; what it produces twice is then only what is idempotent downstream (outbox messages have
unique keys; a report is rendered again under the same name).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.errors import LiqriskError
from audit_store.tables_outbox import OutboxMessage
from audit_store.tables_schedule import (
    ClaimReason,
    ClaimState,
    RunStatus,
    ScheduleClaim,
    ScheduleRun,
    claim_state,
)
from reporting.config import Settings
from reporting.notify.inserting import has_key
from reporting.notify.messages import build_email, message_id, render
from reporting.notify.outbox import email_row, insert_message
from reporting.notify.records import one_line

log = logging.getLogger("liqrisk.schedule")

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Policy:
    """How long a claim may stay silent, and how many failures a period gets."""

    timeout: timedelta
    max_attempts: int

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        schedule = settings.schedule
        return cls(timedelta(seconds=schedule.working_timeout_seconds), schedule.max_attempts)

    @property
    def heartbeat_seconds(self) -> float:
        """How often a working claim shows it is alive: five times per timeout."""
        return max(self.timeout.total_seconds() / 5, 0.2)


@dataclass(frozen=True)
class Claim:
    """A claim this process holds."""

    id: int
    job: str
    period: str
    generation: int
    reason: ClaimReason
    takes_over: int | None
    owner: str
    claimed_at: datetime


def claim_rows(
    session: Session, job: str, periods: Iterable[str]
) -> tuple[list[ScheduleClaim], list[ScheduleRun]]:
    """Every claim of ``periods`` of ``job`` (every generation) and every run row of them, in two
    queries."""
    claims = list(
        session.scalars(
            select(ScheduleClaim).where(
                col(ScheduleClaim.job) == job, col(ScheduleClaim.period).in_(list(periods))
            )
        )
    )
    ids = [c.id for c in claims if c.id is not None]
    runs = (
        list(session.scalars(select(ScheduleRun).where(col(ScheduleRun.claim_id).in_(ids))))
        if ids
        else []
    )
    return claims, runs


def states(
    store: Store, job: str, periods: Iterable[str], now: datetime, policy: Policy
) -> dict[str, ClaimState]:
    """The state of each of ``periods`` of ``job`` (``free`` when never claimed)."""
    wanted = list(dict.fromkeys(periods))
    with store.read_session() as session:
        claims, runs = claim_rows(session, job, wanted)
        out: dict[str, ClaimState] = {}
        for period in wanted:
            mine = [c for c in claims if c.period == period]
            ids = {c.id for c in mine}
            out[period] = claim_state(
                mine, [r for r in runs if r.claim_id in ids], now, policy.timeout
            )
    return out


def acquire(
    store: Store, job: str, period: str, *, owner: str, now: datetime, policy: Policy
) -> Claim | None:
    """Claim ``period`` of ``job`` for ``owner``; ``None`` when it is done, being worked on by a
    live claim, failed ``max_attempts`` times, or another process claimed it first."""
    with store.session() as session:
        claims, runs = claim_rows(session, job, [period])
        state = claim_state(claims, runs, now, policy.timeout)
        reason: ClaimReason
        if state.state == "free":
            reason = "new"
        elif state.state == "stale":
            reason = "stale"
        elif state.state == "interrupted":
            reason = "resume"
        elif state.state == "failed" and state.failures < policy.max_attempts:
            reason = "retry"
        else:
            return None
        latest = state.latest
        row = ScheduleClaim(
            job=job,
            period=period,
            generation=latest.generation + 1 if latest is not None else 1,
            takes_over=latest.id if latest is not None else None,
            reason=reason,
            owner=owner,
            claimed_at=now,
        )
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
                assert row.id is not None
                detail = f"{reason} claim by {owner}"
                if latest is not None:
                    detail += f", after claim {latest.id} by {latest.owner}"
                session.add(
                    ScheduleRun(claim_id=row.id, event="start", at=now, detail=one_line(detail))
                )
                session.flush()
        except IntegrityError:  # another process inserted this generation (or takeover) first
            return None
        assert row.id is not None
        claim = Claim(
            row.id, job, period, row.generation, reason, row.takes_over, owner, as_utc(now)
        )
    if reason == "stale" and latest is not None and state.last_seen is not None:
        log.warning(
            "%s %s: took over claim %d of %s, silent since %s (working timeout %.0f s)",
            job,
            period,
            latest.id,
            latest.owner,
            state.last_seen.isoformat(timespec="seconds"),
            policy.timeout.total_seconds(),
        )
    return claim


def heartbeat(store: Store, claim: Claim, beat: int, now: datetime) -> None:
    """Show that ``claim`` is still being worked on."""
    with store.session() as session:
        session.add(ScheduleRun(claim_id=claim.id, event="heartbeat", beat=beat, at=now, detail=""))


def finish(
    store: Store,
    settings: Settings,
    claim: Claim,
    status: RunStatus,
    detail: str,
    now: datetime,
) -> None:
    """Record the end of ``claim``; a failure also enqueues the email to operations."""
    line = one_line(detail)
    with store.session() as session:
        session.add(ScheduleRun(claim_id=claim.id, event="end", at=now, status=status, detail=line))
        if status == "failed":
            failures = _failures(session, claim)
            enqueue_job_failure(session, settings, claim, line, failures, now)


def _failures(session: Session, claim: Claim) -> int:
    """Failed claims of the period, this one included (its end row is in the session)."""
    session.flush()
    claims, runs = claim_rows(session, claim.job, [claim.period])
    ended = {r.claim_id for r in runs if r.event == "end" and r.status == "failed"}
    return sum(1 for c in claims if c.id in ended)


class Heartbeat:
    """A thread that appends a heartbeat row for ``claim`` every ``policy.heartbeat_seconds``."""

    def __init__(self, store: Store, claim: Claim, policy: Policy, clock: Clock) -> None:
        self._store, self._claim, self._clock = store, claim, clock
        self._interval = policy.heartbeat_seconds
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{claim.job}-{claim.id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        beat = 0
        while not self._done.wait(self._interval):
            beat += 1
            try:
                heartbeat(self._store, self._claim, beat, self._clock())
            except LiqriskError as exc:  # the next beat may get through; the job goes on
                log.warning("heartbeat of claim %d failed: %s", self._claim.id, exc)


# --- the email to operations ---------------------------------------------------------------------


def enqueue_job_failure(
    session: Session,
    settings: Settings,
    claim: Claim,
    error: str,
    attempt: int,
    now: datetime,
) -> OutboxMessage | None:
    """Enqueue the notice to ``email.operations`` that ``claim`` failed, in the caller's
    transaction; once per claim (its key names the job, period and generation)."""
    to = settings.email.operations
    if not to:
        return None
    day = as_utc(now).date()
    digest = hashlib.sha256(f"{claim.job}|{claim.period}|{claim.generation}".encode()).hexdigest()
    key = f"ops:{day.isoformat()}:job.{claim.job}.{digest[:12]}"
    if has_key(session, key):
        return None  # not even rendered again
    sender = settings.email.sender
    context: dict[str, Any] = {
        "firm": one_line(settings.firm_name),
        "job": claim.job,
        "period": claim.period,
        "attempt": attempt,
        "max_attempts": settings.schedule.max_attempts,
        "owner": claim.owner,
        "started": claim.claimed_at.isoformat(timespec="seconds"),
        "failed": as_utc(now).isoformat(timespec="seconds"),
        "error": error,
        "version": SOFTWARE_VERSION,
    }
    email = build_email(
        sender=sender,
        to=to,
        subject=f"[liqrisk] {settings.firm_name}: job {claim.job} failed for {claim.period}",
        text=render("job_failed.txt.j2", **context),
        html=None,
        msg_id=message_id(key, sender),
        when=now,
    )
    # kind "ops": never itself the subject of an "undeliverable" notice
    row = email_row(key=key, kind="ops", day=day, now=now, email=email, sender=sender, to=to)
    return insert_message(session, row)


def period_of_day(day: date) -> str:
    return day.isoformat()


def period_of_time(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
