"""The scheduler's tables: who claimed which (job, period), every run of it, every verify outcome.

Append-only like the evidence tables (the triggers are in migration ``0006``): a claim is never
released or edited. Its state is derived from the rows that follow it (see :func:`claim_state`),
as an outbox message's state is derived from its attempts.

* ``schedule_claim``  one claim of a (job, period) by one daemon process. ``generation`` 1 is the
                      first claim; a later generation takes over the claim it names in
                      ``takes_over``: one that went silent for longer than the working timeout
                      (``stale``), one that failed (``retry``) or one that was interrupted by a
                      shutdown (``resume``). Both ``(job, period, generation)`` and ``takes_over``
                      are unique, so of two processes that race for a period, or for the same stale
                      claim, exactly one inserts its row; the other's INSERT fails and it backs off.
* ``schedule_run``    the life of a claim: a ``start`` row (written with the claim), ``heartbeat``
                      rows while it works (``beat`` 1, 2, ...), then one ``end`` row with the
                      ``status`` (``ok``, ``failed``, ``interrupted``) and a one-line ``detail``
                      (what it did, or the error). At most one ``end`` per claim.
* ``verify_run``      the outcome of one ``liqrisk verify``: counts, root, the verdict and the
                      first discrepancies, so ``liqrisk status`` can say when the store was last
                      verified and what it found.

The daemon's APScheduler job store (``apscheduler_jobs_<instance>``) lives in the same database but
is not one of these tables: APScheduler updates and deletes its rows, and nothing in it is evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit_store.canonical import as_utc

RunEvent = Literal["start", "heartbeat", "end"]
RunStatus = Literal["ok", "failed", "interrupted"]
ClaimReason = Literal["new", "stale", "retry", "resume"]
StateName = Literal["free", "running", "stale", "done", "failed", "interrupted"]


class ScheduleClaim(SQLModel, table=True):
    __tablename__ = "schedule_claim"
    __table_args__ = (
        UniqueConstraint("job", "period", "generation", name="uq_schedule_claim_generation"),
        UniqueConstraint("takes_over", name="uq_schedule_claim_takes_over"),
        Index("ix_schedule_claim_job_period", "job", "period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job: str  # "fetch", "daily", "drain", "checkpoint"
    period: str  # "2025-11-03" (a day), "2025-11-03T14:00:00Z" (an interval's end or start)
    generation: int  # 1, then one more for every takeover of the period
    takes_over: int | None = Field(default=None, foreign_key="schedule_claim.id")
    reason: str  # ClaimReason
    owner: str  # "<instance>@<host>:<pid>:<token>": the process that claimed it
    claimed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class ScheduleRun(SQLModel, table=True):
    __tablename__ = "schedule_run"
    __table_args__ = (UniqueConstraint("claim_id", "event", "beat", name="uq_schedule_run_event"),)

    id: int | None = Field(default=None, primary_key=True)
    claim_id: int = Field(foreign_key="schedule_claim.id", index=True)
    event: str  # RunEvent
    beat: int = 0  # heartbeats count 1, 2, ...; start and end are 0 (so each happens once)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status: str | None = Field(default=None)  # RunStatus, on the end row only
    detail: str = Field(sa_column=Column(Text, nullable=False))  # one line; no secrets


class VerifyRun(SQLModel, table=True):
    __tablename__ = "verify_run"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    ok: bool
    discrepancies: int
    leaves: int
    root_hash: str
    checkpointed_leaves: int
    trusted_keys: str  # "stored" | "given"
    software_version: str
    detail_json: str = Field(sa_column=Column(Text, nullable=False))  # summary, first problems


SCHEDULE_TABLES: tuple[str, ...] = ("schedule_claim", "schedule_run", "verify_run")
"""The append-only tables of this module, in the order they depend on each other."""


_END_STATES: dict[str, StateName] = {"ok": "done", "failed": "failed", "interrupted": "interrupted"}


@dataclass(frozen=True)
class ClaimState:
    """Where a (job, period) stands, derived from its claim and run rows (never stored)."""

    state: StateName
    latest: ScheduleClaim | None  # the claim of the highest generation
    last_seen: datetime | None  # the latest sign of life of ``latest`` (claim, start, heartbeat)
    failures: int  # claims of the period that ended ``failed``
    detail: str  # the end row's detail, when it ended


def claim_state(
    claims: Iterable[ScheduleClaim],
    runs: Iterable[ScheduleRun],
    now: datetime,
    timeout: timedelta,
) -> ClaimState:
    """The state of one (job, period) from all its claims and their run rows, in any order.

    The claim of the highest generation decides: none -> ``free``; an ``end`` row -> its status
    (``ok`` is ``done``); no end, and a sign of life within ``timeout`` -> ``running``; silent for
    longer -> ``stale`` (its process died, or hangs).
    """
    ordered = sorted(claims, key=lambda c: c.generation)
    if not ordered:
        return ClaimState("free", None, None, 0, "")
    ends: dict[int, ScheduleRun] = {}
    seen: dict[int, datetime] = {}
    for run in runs:
        at = as_utc(run.at)
        if run.event == "end":
            ends[run.claim_id] = run
        if run.claim_id not in seen or at > seen[run.claim_id]:
            seen[run.claim_id] = at
    failures = sum(1 for c in ordered if c.id in ends and ends[c.id].status == "failed")
    latest = ordered[-1]
    assert latest.id is not None
    last_seen = max(as_utc(latest.claimed_at), seen.get(latest.id, as_utc(latest.claimed_at)))
    end = ends.get(latest.id)
    if end is not None:
        state = _END_STATES.get(end.status or "", "failed")
        return ClaimState(state, latest, last_seen, failures, end.detail)
    if as_utc(now) - last_seen > timeout:
        return ClaimState("stale", latest, last_seen, failures, "")
    return ClaimState("running", latest, last_seen, failures, "")
