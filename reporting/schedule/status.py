"""What ``liqrisk status`` shows, read from the store, and the record of ``liqrisk verify`` runs.

Everything here reads (one consistent view) except :func:`record_verify`, which appends the
outcome of a verify run to ``verify_run``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column as CoreColumn
from sqlalchemy import Float, MetaData, String, Table, exists, func, inspect, select
from sqlmodel import Session, col

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import Checkpoint
from audit_store.tables_outbox import OutboxAttempt, OutboxMessage, message_state
from audit_store.tables_schedule import ScheduleClaim, ScheduleRun, VerifyRun, claim_state
from audit_store.verify import VerifyReport
from reporting import watermarks
from reporting.config import Settings
from reporting.schedule.claims import Policy, states
from reporting.schedule.daemon import JOB_ID_PREFIX, JOBSTORE_PREFIX, describe_trigger
from reporting.schedule.jobs import (
    JOB_NAMES,
    Context,
    checkpoint_dir,
    report_due,
    reported_outside,
    window,
)

MAX_VERIFY_PROBLEMS = 20  # discrepancies kept with a verify outcome (the count is always whole)


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat(timespec="seconds") if moment is not None else None


@dataclass(frozen=True)
class JobRun:
    """One claim of a job: its period, who ran it, when, and how it ended (or that it runs)."""

    job: str
    period: str
    generation: int
    reason: str
    owner: str
    started_at: datetime
    ended_at: datetime | None
    status: str  # ok | failed | interrupted | running | stale
    detail: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["started_at"], out["ended_at"] = _iso(self.started_at), _iso(self.ended_at)
        return out


@dataclass(frozen=True)
class JobStatus:
    job: str
    trigger: str  # "cron 30 0 * * * (UTC)", "every 60 s", "disabled"
    last: JobRun | None  # the latest claim that ended
    active: tuple[JobRun, ...]  # claims without an end: running, or stale (their process died)
    next_runs: dict[str, datetime | None]  # daemon instance -> next fire (None: paused)
    failures: int  # runs that failed since the job last went well

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "trigger": self.trigger,
            "last": self.last.to_json() if self.last else None,
            "active": [r.to_json() for r in self.active],
            "next_runs": {k: _iso(v) for k, v in sorted(self.next_runs.items())},
            "failures": self.failures,
        }


@dataclass(frozen=True)
class Lag:
    source: str
    dataset: str
    asset: str
    watermark: datetime
    lag_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "watermark": _iso(self.watermark)}


@dataclass(frozen=True)
class Backlog:
    """Messages not delivered yet, by state, and how many were given up altogether."""

    pending: int
    sending: int
    retry: int
    oldest: datetime | None  # when the oldest waiting message was enqueued
    failed: int

    @property
    def waiting(self) -> int:
        return self.pending + self.sending + self.retry

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "waiting": self.waiting, "oldest": _iso(self.oldest)}


@dataclass(frozen=True)
class CheckpointInfo:
    tree_size: int
    root_hash: str
    created_at: datetime
    published: str | None  # the published file, when there is one
    published_tree_size: int | None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": _iso(self.created_at)}


@dataclass(frozen=True)
class VerifyInfo:
    at: datetime
    ok: bool
    discrepancies: int
    leaves: int
    root_hash: str
    checkpointed_leaves: int
    trusted_keys: str

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": _iso(self.at)}


@dataclass(frozen=True)
class Status:
    now: datetime
    jobs: tuple[JobStatus, ...]
    watermarks: tuple[Lag, ...]
    outbox: Backlog
    checkpoint: CheckpointInfo | None
    verify: VerifyInfo | None
    unreported: tuple[date, ...]  # days of the catch-up window whose report is due and not made

    def to_json(self) -> dict[str, Any]:
        return {
            "now": _iso(self.now),
            "jobs": [j.to_json() for j in self.jobs],
            "watermarks": [w.to_json() for w in self.watermarks],
            "outbox": self.outbox.to_json(),
            "checkpoint": self.checkpoint.to_json() if self.checkpoint else None,
            "verify": self.verify.to_json() if self.verify else None,
            "unreported_days": [d.isoformat() for d in self.unreported],
        }


# --- reading -------------------------------------------------------------------------------------


def _job_runs(
    session: Session, job: str, now: datetime, policy: Policy
) -> tuple[JobRun | None, list[JobRun], int]:
    """The job's last ended run, its claims without an end, and its failures since it last
    went well."""
    ended = (
        select(ScheduleRun, ScheduleClaim)
        .join(ScheduleClaim, col(ScheduleClaim.id) == col(ScheduleRun.claim_id))
        .where(col(ScheduleClaim.job) == job, col(ScheduleRun.event) == "end")
        .order_by(col(ScheduleRun.id).desc())
        .limit(1)
    )
    last = None
    for end, claim in session.execute(ended):
        last = JobRun(
            job, claim.period, claim.generation, claim.reason, claim.owner,
            as_utc(claim.claimed_at), as_utc(end.at), end.status or "", end.detail,
        )  # fmt: skip
    # Claims without an end row that no later generation replaced.
    has_end = exists().where(
        col(ScheduleRun.claim_id) == col(ScheduleClaim.id), col(ScheduleRun.event) == "end"
    )
    open_claims = list(
        session.scalars(
            select(ScheduleClaim)
            .where(col(ScheduleClaim.job) == job, ~has_end)
            .order_by(col(ScheduleClaim.id).desc())
            .limit(50)
        )
    )
    active = []
    for claim in open_claims:
        newer = session.execute(
            select(col(ScheduleClaim.id)).where(
                col(ScheduleClaim.job) == job,
                col(ScheduleClaim.period) == claim.period,
                col(ScheduleClaim.generation) > claim.generation,
            )
        ).first()
        if newer is not None:
            continue
        runs = list(
            session.scalars(select(ScheduleRun).where(col(ScheduleRun.claim_id) == claim.id))
        )
        state = claim_state([claim], runs, now, policy.timeout)
        active.append(
            JobRun(
                job,
                claim.period,
                claim.generation,
                claim.reason,
                claim.owner,
                as_utc(claim.claimed_at),
                None,
                state.state,
                f"last seen {_iso(state.last_seen)}",
            )
        )
    # Failures since the job last went well.
    last_ok = session.execute(
        select(func.max(col(ScheduleRun.id)))
        .join(ScheduleClaim, col(ScheduleClaim.id) == col(ScheduleRun.claim_id))
        .where(col(ScheduleClaim.job) == job, col(ScheduleRun.status) == "ok")
    ).scalar_one()
    failed = session.execute(
        select(func.count())
        .select_from(ScheduleRun)
        .join(ScheduleClaim, col(ScheduleClaim.id) == col(ScheduleRun.claim_id))
        .where(
            col(ScheduleClaim.job) == job,
            col(ScheduleRun.status) == "failed",
            col(ScheduleRun.id) > (last_ok or 0),
        )
    ).scalar_one()
    return last, active, int(failed)


def next_runs(session: Session) -> dict[str, dict[str, datetime | None]]:
    """job -> {daemon instance -> next fire}, from every daemon's APScheduler job store table."""
    out: dict[str, dict[str, datetime | None]] = {}
    connection = session.connection()
    for table_name in inspect(connection).get_table_names():
        if not table_name.startswith(JOBSTORE_PREFIX):
            continue
        instance = table_name.removeprefix(JOBSTORE_PREFIX)
        table = Table(
            table_name,
            MetaData(),
            CoreColumn("id", String),
            CoreColumn("next_run_time", Float),
        )
        for job_id, when in connection.execute(select(table.c.id, table.c.next_run_time)):
            job = str(job_id).removeprefix(JOB_ID_PREFIX)
            moment = datetime.fromtimestamp(when, tz=UTC) if when is not None else None
            out.setdefault(job, {})[instance] = moment
    return out


def outbox_backlog(session: Session, now: datetime) -> Backlog:
    final = exists().where(
        col(OutboxAttempt.outbox_message_id) == col(OutboxMessage.id),
        col(OutboxAttempt.result).in_(("delivered", "failed")),
    )
    failed_final = exists().where(
        col(OutboxAttempt.outbox_message_id) == col(OutboxMessage.id),
        col(OutboxAttempt.result) == "failed",
    )
    waiting = {
        mid: created
        for mid, created in session.execute(
            select(col(OutboxMessage.id), col(OutboxMessage.created_at)).where(~final)
        )
    }
    counts = {"pending": 0, "sending": 0, "retry": 0}
    if waiting:
        attempts: dict[int, list[OutboxAttempt]] = {mid: [] for mid in waiting}
        rows = session.scalars(
            select(OutboxAttempt).where(col(OutboxAttempt.outbox_message_id).in_(list(waiting)))
        )
        for row in rows:
            attempts[row.outbox_message_id].append(row)
        for rows_of in attempts.values():
            state = message_state(rows_of, now).state
            counts[state if state in counts else "retry"] += 1
    failed = session.execute(
        select(func.count()).select_from(OutboxMessage).where(failed_final)
    ).scalar_one()
    oldest = min((as_utc(c) for c in waiting.values()), default=None)
    return Backlog(counts["pending"], counts["sending"], counts["retry"], oldest, int(failed))


def _published(directory: Path) -> tuple[str | None, int | None]:
    path = directory / "checkpoint"
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except OSError:
        return None, None
    size = lines[1] if len(lines) > 1 else ""
    return str(path), int(size) if size.isdigit() else None


def gather(store: Store, settings: Settings, now: datetime) -> Status:
    """Everything ``liqrisk status`` shows, as of ``now``."""
    policy = Policy.of(settings)
    schedule = settings.schedule
    checkpoint = verify = None
    with store.read_session() as session:
        upcoming = next_runs(session)
        jobs = []
        for job in JOB_NAMES:
            last, active, failed = _job_runs(session, job, now, policy)
            trigger = describe_trigger(getattr(schedule, job), schedule.timezone)
            jobs.append(JobStatus(job, trigger, last, tuple(active), upcoming.get(job, {}), failed))
        backlog = outbox_backlog(session, now)
        cp = session.scalars(
            select(Checkpoint).order_by(col(Checkpoint.tree_size).desc(), col(Checkpoint.id))
        ).first()
        if cp is not None:
            published, published_size = _published(Path(checkpoint_dir(settings)))
            checkpoint = CheckpointInfo(
                cp.tree_size, cp.root_hash, as_utc(cp.created_at), published, published_size
            )
        v = session.scalars(select(VerifyRun).order_by(col(VerifyRun.id).desc())).first()
        if v is not None:
            verify = VerifyInfo(
                as_utc(v.at), v.ok, v.discrepancies, v.leaves, v.root_hash,
                v.checkpointed_leaves, v.trusted_keys,
            )  # fmt: skip
    current = {(w.source, w.dataset, w.asset): w for w in watermarks.history(store)}
    lags = tuple(
        Lag(w.source, w.dataset, w.asset, w.watermark, (as_utc(now) - w.watermark).total_seconds())
        for w in (current[key] for key in sorted(current))
    )
    return Status(
        as_utc(now),
        tuple(jobs),
        lags,
        backlog,
        checkpoint,
        verify,
        unreported(store, settings, now),
    )


def unreported(store: Store, settings: Settings, now: datetime) -> tuple[date, ...]:
    """Days of the daily job's window whose report is due and was not made (missing, failing,
    given up, or being made now)."""
    if not settings.schedule.daily.enabled:
        return ()
    ctx = Context(store, settings, "status", clock=lambda: now)
    days = [d for d in window(ctx) if report_due(ctx, d)]
    found = states(store, "daily", [d.isoformat() for d in days], now, ctx.policy)
    outside = reported_outside(store, days)
    return tuple(
        d for d in days if found[d.isoformat()].state != "done" and d.isoformat() not in outside
    )


# --- verify outcomes -----------------------------------------------------------------------------


def record_verify(store: Store, report: VerifyReport, at: datetime) -> None:
    """Append the outcome of one ``liqrisk verify`` to ``verify_run``."""
    detail = {
        "summary": json.loads(report.to_json())["summary"],
        "discrepancies": [asdict(d) for d in report.discrepancies[:MAX_VERIFY_PROBLEMS]],
    }
    with store.session() as session:
        session.add(
            VerifyRun(
                at=at,
                ok=report.ok,
                discrepancies=len(report.discrepancies),
                leaves=report.leaves,
                root_hash=report.root_hash,
                checkpointed_leaves=report.checkpointed_leaves,
                trusted_keys=report.trusted_keys,
                software_version=SOFTWARE_VERSION,
                detail_json=json.dumps(detail, sort_keys=True, ensure_ascii=False),
            )
        )
