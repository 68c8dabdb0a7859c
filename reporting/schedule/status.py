"""What ``liqrisk status`` shows, read from the store (one consistent view).

The outcome of each ``liqrisk verify`` is appended to ``verify_run`` by
:func:`audit_store.verify.record_verify`; the latest one is shown here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Column as CoreColumn
from sqlalchemy import Float, MetaData, String, Table, exists, func, inspect, select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.checkpoint import latest_checkpoint, open_checkpoint
from audit_store.db import Store
from audit_store.errors import LiqriskError
from audit_store.tables_outbox import OutboxAttempt, OutboxMessage
from audit_store.tables_schedule import ScheduleClaim, ScheduleRun, VerifyRun, claim_state
from audit_store.timestamping import waiting
from reporting.config import Settings
from reporting.fetch import watermarks
from reporting.notify.outbox import open_messages
from reporting.schedule.claims import Policy, claim_rows
from reporting.schedule.daemon import JOB_ID_PREFIX, JOBSTORE_PREFIX, describe_trigger
from reporting.schedule.jobs import JOB_NAMES, Context, checkpoint_dir, due_days


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
class AnchorInfo:
    """RFC 3161: the TSA, and the checkpoints still waiting for a token (none when covered)."""

    tsa_url: str
    waiting: int
    oldest_waiting: datetime | None
    last_error: str | None
    last_attempt_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "oldest_waiting": _iso(self.oldest_waiting),
            "last_attempt_at": _iso(self.last_attempt_at),
        }


@dataclass(frozen=True)
class Status:
    now: datetime
    jobs: tuple[JobStatus, ...]
    watermarks: tuple[Lag, ...]
    outbox: Backlog
    checkpoint: CheckpointInfo | None
    verify: VerifyInfo | None
    unreported: tuple[date, ...]  # days of the catch-up window whose report is due and not made
    anchor: AnchorInfo | None = None  # None: no TSA configured

    def to_json(self) -> dict[str, Any]:
        return {
            "now": _iso(self.now),
            "jobs": [j.to_json() for j in self.jobs],
            "watermarks": [w.to_json() for w in self.watermarks],
            "outbox": self.outbox.to_json(),
            "checkpoint": self.checkpoint.to_json() if self.checkpoint else None,
            "verify": self.verify.to_json() if self.verify else None,
            "unreported_days": [d.isoformat() for d in self.unreported],
            "time_stamps": self.anchor.to_json() if self.anchor else None,
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
    every_claim, runs = claim_rows(session, job, {c.period for c in open_claims})  # 2 queries
    top: dict[str, int] = {}
    for c in every_claim:
        top[c.period] = max(top.get(c.period, 0), c.generation)
    runs_of: dict[int | None, list[ScheduleRun]] = {}
    for run in runs:
        runs_of.setdefault(run.claim_id, []).append(run)
    active = []
    for claim in open_claims:
        if claim.generation != top[claim.period]:
            continue  # a later generation replaced it
        state = claim_state([claim], runs_of.get(claim.id, []), now, policy.timeout)
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
    opened = open_messages(session, now)
    counts = Counter(o.state if o.state in ("pending", "sending") else "retry" for o in opened)
    oldest = min((o.created_at for o in opened), default=None)
    failed_final = exists().where(
        col(OutboxAttempt.outbox_message_id) == col(OutboxMessage.id),
        col(OutboxAttempt.result) == "failed",
    )
    failed = session.execute(
        select(func.count()).select_from(OutboxMessage).where(failed_final)
    ).scalar_one()
    return Backlog(counts["pending"], counts["sending"], counts["retry"], oldest, int(failed))


def _published(directory: Path) -> tuple[str | None, int | None]:
    """The published checkpoint and its tree size, when its signature verifies against the
    published ``verifier_keys``."""
    path = directory / "checkpoint"
    try:
        keys = (directory / "verifier_keys").read_text(encoding="utf-8").split()
        head = open_checkpoint(path.read_text(encoding="utf-8"), keys)
    except (OSError, ValueError, LiqriskError):  # not there, not text, or not signed by them
        return None, None
    return str(path), head.tree_size


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
        cp = latest_checkpoint(session)
        if cp is not None:
            published, published_size = _published(Path(checkpoint_dir(settings)))
            checkpoint = CheckpointInfo(
                cp.tree_size, cp.root_hash, as_utc(cp.created_at), published, published_size
            )
        anchor = None
        if settings.anchor.tsa_url is not None:
            w = waiting(session, settings.anchor.tsa_url)
            anchor = AnchorInfo(
                settings.anchor.tsa_url,
                w.count,
                None if w.oldest_signed_at is None else as_utc(w.oldest_signed_at),
                w.last_error,
                None if w.last_attempt_at is None else as_utc(w.last_attempt_at),
            )
        v = session.scalars(select(VerifyRun).order_by(col(VerifyRun.id).desc())).first()
        if v is not None:
            verify = VerifyInfo(
                as_utc(v.at), v.ok, v.discrepancies, v.leaves, v.root_hash,
                v.checkpointed_leaves, v.trusted_keys,
            )  # fmt: skip
    lags = tuple(
        Lag(w.source, w.dataset, w.asset, w.watermark, (as_utc(now) - w.watermark).total_seconds())
        for w in sorted(watermarks.latest(store), key=lambda m: (m.source, m.dataset, m.asset))
    )
    return Status(
        as_utc(now),
        tuple(jobs),
        lags,
        backlog,
        checkpoint,
        verify,
        unreported(store, settings, now),
        anchor,
    )


def unreported(store: Store, settings: Settings, now: datetime) -> tuple[date, ...]:
    """Days of the daily job's window whose report is due and was not made (missing, failing,
    given up, or being made now)."""
    if not settings.schedule.daily.enabled:
        return ()
    ctx = Context(store, settings, "status", clock=lambda: now)
    return tuple(d for d, state, by_hand in due_days(ctx) if state.state != "done" and not by_hand)
