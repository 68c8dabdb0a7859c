"""What the console's pages show, read from the store: plain data, the same for HTML and JSON.

No web framework here: :mod:`reporting.web.app` renders these as pages and as ``/api/`` JSON.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import Artifact, CheckResult, CheckRun
from audit_store.tables_limits import Acknowledgement
from reporting.checks.catalogue import CHECK_TITLES, RESULT_UNITS
from reporting.checks.store import ack_json
from reporting.config import Settings
from reporting.errors import NotFound

FLAGGED = ("breach", "warn")


_Row = TypeVar("_Row", bound=SQLModel)


def _result_json(r: CheckResult, acks: int) -> dict[str, Any]:
    return {
        "id": r.id,
        "day": r.day.isoformat(),
        "check": r.check,
        "title": CHECK_TITLES.get(r.check, r.check),
        "unit": RESULT_UNITS.get(r.check, "count"),
        "scope": r.scope,
        "status": r.status,
        "observed": r.observed,
        "warn_at": r.warn_at,
        "limit": r.limit,
        "pct_of_limit": r.pct_of_limit,
        "message": r.message,
        "acknowledgements": acks,
    }


def _latest_run_ids(session: Any, days: int) -> dict[date, int]:
    """The latest check run of each of the last ``days`` days that have one."""
    rows = session.execute(
        select(col(CheckRun.day), func.max(CheckRun.id))
        .group_by(col(CheckRun.day))
        .order_by(col(CheckRun.day).desc())
        .limit(days)
    ).all()
    return {day: run_id for day, run_id in rows}


def _ack_counts(session: Any, ids: list[int]) -> Counter[int]:
    if not ids:
        return Counter()
    rows = session.execute(
        select(col(Acknowledgement.result_id), func.count())
        .where(col(Acknowledgement.result_id).in_(ids))
        .group_by(col(Acknowledgement.result_id))
    ).all()
    return Counter({result_id: n for result_id, n in rows})


def breaches(store: Store, days: int = 14) -> list[dict[str, Any]]:
    """Breach and warn results of the latest run of each of the last ``days`` days, newest first."""
    with store.read_session() as session:
        runs = _latest_run_ids(session, days)
        if not runs:
            return []
        results = list(
            session.scalars(
                select(CheckResult)
                .where(
                    col(CheckResult.run_id).in_(list(runs.values())),
                    col(CheckResult.status).in_(FLAGGED),
                )
                .order_by(col(CheckResult.day).desc(), col(CheckResult.status), col(CheckResult.id))
            )
        )
        counts = _ack_counts(session, [r.id for r in results if r.id is not None])
        return [_result_json(r, counts[r.id or 0]) for r in results]


def breach(store: Store, result_id: int) -> dict[str, Any]:
    """One result with its evidence, acknowledgements and the same check and scope on other days."""
    with store.read_session() as session:
        result = session.get(CheckResult, result_id)
        if result is None:
            raise NotFound(f"there is no check result {result_id}")
        acks = list(
            session.scalars(
                select(Acknowledgement)
                .where(col(Acknowledgement.result_id) == result_id)
                .order_by(col(Acknowledgement.id))
            )
        )
        runs = _latest_run_ids(session, 60)
        history = list(
            session.scalars(
                select(CheckResult)
                .where(
                    col(CheckResult.check) == result.check,
                    col(CheckResult.scope) == result.scope,
                    col(CheckResult.run_id).in_(list(runs.values())),
                )
                .order_by(col(CheckResult.day).desc())
            )
        )
        evidence = json.loads(result.evidence_json)
        return {
            "result": _result_json(result, len(acks)),
            "evidence": evidence if isinstance(evidence, list) else [],
            "acknowledgements": [ack_json(a) for a in acks],
            "history": [
                {"id": h.id, "day": h.day.isoformat(), "status": h.status, "observed": h.observed}
                for h in history
            ],
        }


@dataclass(frozen=True)
class Overview:
    counts: list[dict[str, Any]]  # per day: breaches and warns by check and by asset
    reports: list[dict[str, Any]]
    status: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts, "reports": self.reports, "status": self.status}


def overview(store: Store, settings: Settings, now: datetime | None = None) -> Overview:
    """Today's and yesterday's flagged results (the two latest days checked), the latest reports,
    and what ``liqrisk status`` shows."""
    from reporting.schedule.status import gather

    flagged = breaches(store, days=2)
    days = sorted({r["day"] for r in flagged}, reverse=True)
    counts = []
    for day in days:
        rows = [r for r in flagged if r["day"] == day]
        counts.append(
            {
                "day": day,
                "breach": sum(r["status"] == "breach" for r in rows),
                "warn": sum(r["status"] == "warn" for r in rows),
                "by_check": dict(Counter(r["title"] for r in rows)),
                "by_asset": dict(Counter(str(r["scope"]).split("/")[0] for r in rows)),
                "top": sorted(
                    (r for r in rows if r["status"] == "breach"),
                    key=lambda r: -(r["pct_of_limit"] or 0),
                )[:8],
            }
        )
    with store.read_session() as session:
        artifacts = list(
            session.scalars(select(Artifact).order_by(col(Artifact.id).desc()).limit(10))
        )
        reports = [
            {
                "id": a.id,
                "kind": a.kind,
                "period": a.period,
                "name": a.name,
                "sha256": a.sha256,
                "created_at": as_utc(a.created_at).isoformat(),
            }
            for a in artifacts
        ]
    status = gather(store, settings, now or datetime.now(UTC)).to_json()
    return Overview(counts, reports, status)


def reports(
    store: Store, start: date | None = None, end: date | None = None
) -> list[dict[str, Any]]:
    """Every report file registered, newest period first, optionally of periods ending in
    ``[start, end]``; a file rendered again is listed once, as its latest version."""
    with store.read_session() as session:
        artifacts = list(session.scalars(select(Artifact).order_by(col(Artifact.id))))
        session.expunge_all()  # read below, after the session, as loaded
    latest: dict[str, Artifact] = {a.name: a for a in artifacts}
    periods: dict[str, list[dict[str, Any]]] = {}
    for artifact in sorted(latest.values(), key=lambda a: (a.period, a.kind), reverse=True):
        ends = _period_end(artifact.period)
        if ends is None or (start and ends < start) or (end and ends > end):
            continue
        periods.setdefault(artifact.period, []).append(
            {
                "id": artifact.id,
                "kind": artifact.kind,
                "name": artifact.name,
                "sha256": artifact.sha256,
                "size": artifact.size,
                "created_at": as_utc(artifact.created_at).isoformat(),
            }
        )
    return [{"period": period, "files": files} for period, files in periods.items()]


def _period_end(period: str) -> date | None:
    """``2025-11-03`` or ``week:2025-11-03``: the last day the report covers."""
    try:
        return date.fromisoformat(period.rsplit(":", 1)[-1])
    except ValueError:
        return None


def stored_row(store: Store, model: type[_Row], row_id: int, what: str) -> _Row:
    """The row ``row_id`` of ``model``, detached from its session; :class:`NotFound` (a 404)
    naming ``what`` when there is none."""
    with store.read_session() as session:
        found = session.get(model, row_id)
        if found is None:
            raise NotFound(f"there is no {what} {row_id}")
        session.expunge(found)
        return found


def artifact(store: Store, artifact_id: int) -> Artifact:
    return stored_row(store, Artifact, artifact_id, "report file")
