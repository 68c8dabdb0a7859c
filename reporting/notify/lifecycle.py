"""Breach lifecycle for notices: which breaches and warnings are new, ongoing or resolved on a day.

For the ``breach`` level the state is the one the check run stored with the result
(``check_result_detail.lifecycle``, see :mod:`reporting.checks.store`): the emails say what the
report and ``check --json`` say. A day on which the check could not be computed keeps a breach
open (``unknown``) and sends nothing; the breach resumes as ``ongoing``.

Warnings have no stored lifecycle, so the ``warn`` level keeps an episode of its own from two
consecutive days' stored results (the latest check run of each day): days whose status is ``warn``
or ``breach`` (as Alertmanager keeps a warning and a critical alert apart):

* ``new``       at the level today, not yesterday (or no usable result yesterday)
* ``ongoing``   at the level today and yesterday
* ``resolved``  at the level yesterday, below it today

A result with status ``error`` (or none) today says nothing, so no event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlmodel import Session, col

from audit_store.models import CheckResult, CheckRun
from audit_store.tables_limits import CheckResultDetail
from reporting.config import NoticeSeverity

LifecycleState = Literal["new", "ongoing", "resolved"]
LEVELS: dict[str, int] = {"ok": 0, "warn": 1, "breach": 2}


@dataclass(frozen=True)
class BreachEvent:
    """One check on one scope entering, staying at, or leaving a severity level on ``day``."""

    day: date
    check: str
    scope: str  # "BTC" or "BTC/binc", as the check stored it
    severity: NoticeSeverity  # the level whose episode this is
    state: LifecycleState
    status: str  # the result's status on ``day``
    previous_status: str | None  # the day before, None when there was no result
    observed: float | None
    warn_at: float | None
    limit: float | None
    pct_of_limit: float | None
    message: str
    result_id: int | None  # the stored result of ``day``

    @property
    def asset(self) -> str:
        return self.scope.split("/", 1)[0].upper()

    @property
    def exchange(self) -> str | None:
        return self.scope.split("/", 1)[1] if "/" in self.scope else None


def latest_results(session: Session, day: date) -> dict[tuple[str, str], CheckResult]:
    """The results of the latest check run of ``day``, by (check, scope)."""
    run_id = session.execute(
        select(func.max(CheckRun.id)).where(col(CheckRun.day) == day)
    ).scalar_one_or_none()
    if run_id is None:
        return {}
    rows = session.execute(
        select(CheckResult).where(col(CheckResult.run_id) == run_id).order_by(col(CheckResult.id))
    ).scalars()
    return {(r.check, r.scope): r for r in rows}


def breach_events(
    session: Session, day: date, severities: Iterable[NoticeSeverity] = ("breach",)
) -> tuple[BreachEvent, ...]:
    """Every lifecycle event of ``day`` for the given levels, ordered by check, scope and level."""
    levels = sorted(set(severities), key=lambda s: -LEVELS[s])
    today = latest_results(session, day)
    before = latest_results(session, day - timedelta(days=1))
    stored = _stored_lifecycles(session, [r.id for r in today.values() if r.id is not None])
    events: list[BreachEvent] = []
    for key in sorted(today):
        now = today[key]
        if now.status not in LEVELS:
            continue  # error: nothing is known today
        prev = before.get(key)
        prev_level = LEVELS.get(prev.status) if prev is not None else None
        for severity in levels:
            state: LifecycleState
            if severity == "breach" and now.id in stored:
                recorded = stored[now.id]
                if recorded not in ("new", "ongoing", "resolved"):
                    continue  # not in breach, or unknown: nothing to announce
                state = recorded  # type: ignore[assignment]
            else:
                need = LEVELS[severity]
                at_now = LEVELS[now.status] >= need
                at_before = prev_level is not None and prev_level >= need
                if at_now:
                    state = "ongoing" if at_before else "new"
                elif at_before:
                    state = "resolved"
                else:
                    continue
            events.append(
                BreachEvent(
                    day=day,
                    check=now.check,
                    scope=now.scope,
                    severity=severity,
                    state=state,
                    status=now.status,
                    previous_status=prev.status if prev is not None else None,
                    observed=now.observed,
                    warn_at=now.warn_at,
                    limit=now.limit,
                    pct_of_limit=now.pct_of_limit,
                    message=now.message,
                    result_id=now.id,
                )
            )
    return tuple(events)


def _stored_lifecycles(session: Session, result_ids: list[int]) -> dict[int, str | None]:
    """The breach lifecycle each result was stored with, by result id (where it has a detail)."""
    if not result_ids:
        return {}
    rows = session.execute(
        select(col(CheckResultDetail.result_id), col(CheckResultDetail.lifecycle)).where(
            col(CheckResultDetail.result_id).in_(result_ids)
        )
    ).all()
    return {result_id: state for result_id, state in rows}
