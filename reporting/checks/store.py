"""Check runs in the audit store: results with their details and breach lifecycle, the limit-set
versions they ran under, and acknowledgements.

Nothing is ever updated (the tables are append-only). A breach's lifecycle is decided as its result
is stored, from the latest run of the day before, and kept in the result's detail row:

* ``new``: in breach today, not yesterday (or yesterday was not checked);
* ``ongoing``: in breach today and yesterday; ``breach_since`` is the first day of the run and
  ``breach_days`` counts the days since then, today included;
* ``resolved``: not in breach today (ok or warn) after a breach yesterday; ``breach_days`` is how
  long it lasted;
* ``unknown``: the check could not be computed today after a breach yesterday; the breach is
  neither confirmed nor cleared, and a breach tomorrow continues the same run.

An acknowledgement (:func:`acknowledge`) is a new row pointing at a result, chained by SHA-256 to
the acknowledgement before it; :func:`verify_acknowledgements` recomputes the chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col

from audit_store import SOFTWARE_VERSION
from audit_store.activity import Activity, record_activity
from audit_store.canonical import as_utc, canonical_json
from audit_store.db import Store
from audit_store.models import CheckResult, CheckRun
from audit_store.snapshots import writer_lock
from audit_store.tables_intraday import IntradayAcknowledgement
from audit_store.tables_limits import (
    GENESIS_SHA256,
    Acknowledgement,
    CheckResultDetail,
    LimitSetVersion,
    ack_entry_sha256,
    ack_result_sha256,
)
from reporting.checks.engine import CheckContext, LimitOutcome, evaluate
from reporting.checks.limits import LimitSet
from reporting.checks.metrics import HOUR, AssetDay, day_bounds, load_period
from reporting.checks.overlays import Overlays, StoreOverlays
from reporting.checks.quality import data_quality_outcomes
from reporting.config import Settings
from reporting.errors import CheckError
from reporting.fetch.sources.kaiko.format import interval_seconds
from reporting.records import CheckOutcome, Problem

_ACK_LOCK = 0x6C697161636B  # PostgreSQL advisory lock: one acknowledgement chain writer at a time


def limit_set_canonical(limits: LimitSet) -> bytes:
    """The canonical JSON of a limit set: what its SHA-256 is taken of."""
    return canonical_json(limits.model_dump(mode="json"))


def limit_set_sha256(limits: LimitSet) -> str:
    """SHA-256 of a limit set's canonical JSON (the file's comments and layout do not count)."""
    return hashlib.sha256(limit_set_canonical(limits)).hexdigest()


def limit_set_hash(settings: Settings) -> str:
    """SHA-256 of the canonical limit set in force."""
    return limit_set_sha256(settings.limits)


# --- lifecycle ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Previous:
    """Yesterday's result of the same check and scope, as far as the lifecycle needs it."""

    result_id: int
    status: str
    lifecycle: str | None
    breach_since: date | None


@dataclass(frozen=True)
class Lifecycle:
    state: str | None  # new | ongoing | resolved | unknown; None: nothing to follow
    since: date | None = None
    days: int | None = None
    previous_result_id: int | None = None

    def phrase(self, day: date) -> str:
        if self.state == "new":
            return "new breach"
        if self.state == "ongoing":
            return f"breach ongoing, day {self.days} (since {self.since})"
        if self.state == "resolved":
            return f"breach resolved after {self.days} day{'s' if self.days != 1 else ''}"
        if self.state == "unknown":
            return f"breach since {self.since} neither confirmed nor cleared"
        return ""


def lifecycle(status: str, day: date, previous: Previous | None) -> Lifecycle:
    """The breach lifecycle of today's ``status`` given yesterday's result (see the module)."""
    open_before = previous is not None and (
        previous.status == "breach" or previous.lifecycle == "unknown"
    )
    since = None
    if previous is not None and open_before:
        since = previous.breach_since or (day - timedelta(days=1))
    prev_id = previous.result_id if previous is not None else None
    if status == "breach":
        if since is not None:
            return Lifecycle("ongoing", since, (day - since).days + 1, prev_id)
        return Lifecycle("new", day, 1, prev_id)
    if since is None:
        return Lifecycle(None, previous_result_id=prev_id)
    if status == "error":
        return Lifecycle("unknown", since, (day - since).days, prev_id)
    return Lifecycle("resolved", since, (day - since).days, prev_id)


def of_source(source: str | None) -> Any:
    """The condition "a run of ``source``" (runs from before migration 0007 name none and match
    any source: they read the configured default then). ``None``: every run."""
    if source is None:
        return true()
    return or_(col(CheckRun.source) == source, col(CheckRun.source).is_(None))


def _previous_day(session: Session, day: date, source: str) -> dict[tuple[str, str], Previous]:
    yesterday = day - timedelta(days=1)
    run = (
        session.execute(
            select(CheckRun)
            .where(col(CheckRun.day) == yesterday, of_source(source))
            .order_by(col(CheckRun.id).desc())
        )
        .scalars()
        .first()
    )
    if run is None:
        return {}
    rows = session.execute(
        select(CheckResult, CheckResultDetail)
        .outerjoin(CheckResultDetail, col(CheckResultDetail.result_id) == col(CheckResult.id))
        .where(col(CheckResult.run_id) == run.id)
    ).all()
    out: dict[tuple[str, str], Previous] = {}
    for result, detail in rows:
        assert result.id is not None
        out[(result.check, result.scope)] = Previous(
            result.id,
            result.status,
            detail.lifecycle if detail is not None else None,
            detail.breach_since if detail is not None else None,
        )
    return out


# --- runs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    """One check run as stored: its results, each result's detail, and acknowledgements.

    ``acks`` maps a result of this run to every acknowledgement of the same day, check and scope
    (an acknowledgement given on an earlier run of the day still shows on a re-run).
    """

    run: CheckRun
    results: tuple[CheckResult, ...]
    details: Mapping[int, CheckResultDetail] = field(default_factory=dict)
    acks: Mapping[int, tuple[Acknowledgement, ...]] = field(default_factory=dict)

    def extras_json(self, result: CheckResult) -> dict[str, Any]:
        """The fields of a result beyond ``check_result``'s own, for ``--json``."""
        assert result.id is not None
        detail = self.details.get(result.id)
        return {
            "day": result.day.isoformat(),
            "unit": detail.unit if detail else None,
            "threshold_scope": detail.threshold_scope if detail else None,
            "detail": json.loads(detail.detail_json) if detail else {},
            "lifecycle": {
                "state": detail.lifecycle,
                "since": detail.breach_since.isoformat() if detail.breach_since else None,
                "days": detail.breach_days,
                "previous_result_id": detail.previous_result_id,
            }
            if detail
            else None,
            "acks": [ack_json(a) for a in self.acks.get(result.id, ())],
        }


def ack_json(a: Acknowledgement) -> dict[str, Any]:
    return {
        "id": a.id,
        "result_id": a.result_id,
        "by": a.acked_by,
        "comment": a.comment,
        "at": as_utc(a.acked_at).isoformat(),
        "entry_sha256": a.entry_sha256,
    }


def run_checks(
    store: Store,
    settings: Settings,
    day: date,
    *,
    source: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    overlays: Overlays | None = None,
) -> tuple[dict[str, AssetDay], StoredRun]:
    """Compute the day's metrics, evaluate every check, and store the run and its results.

    ``overlays`` defaults to the funding rates and open interest the store keeps.
    """
    source = source or settings.fetch.default_source
    start, end = day_bounds(day)
    now = clock()
    metrics = load_period(store, source=source, assets=settings.fetch.assets, start=start, end=end)
    second = None
    rec = settings.limits.reconciliation
    if rec is not None and rec.against and rec.against != source:
        second = load_period(
            store, source=rec.against, assets=settings.fetch.assets, start=start, end=end
        )
    ctx = CheckContext(as_of=now, overlays=overlays or StoreOverlays(store), second=second)
    outcomes = evaluate(metrics, day, settings, context=ctx)
    # Data quality as ingestion sees it (sums, quarantine, corrections, versions, the OKX
    # cross-check); where the limit set grades the same question, its graded result stands alone.
    # Data quality reads the day at the configured fetch interval: when that is the hour the limit
    # checks read, it judges the figures loaded above instead of loading them again.
    step = interval_seconds(settings.fetch.interval)
    outcomes += data_quality_outcomes(
        store,
        settings,
        day,
        source=source,
        now=lambda: now,
        graded=frozenset(settings.limits.configured_checks()),
        metrics=metrics if step == HOUR else None,
    )
    canonical = limit_set_canonical(settings.limits)
    sha = hashlib.sha256(canonical).hexdigest()
    with store.session() as session:
        record_limit_set(session, settings.limits, sha, canonical, now)
        previous = _previous_day(session, day, source)
        run = CheckRun(
            day=day,
            started_at=now,
            limit_set_sha256=sha,
            config_hash=settings.config_hash(),
            software_version=SOFTWARE_VERSION,
            source=source,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        lives = [lifecycle(o.status, day, previous.get((o.check, o.scope))) for o in outcomes]
        results = [_result(run.id, day, o, life) for o, life in zip(outcomes, lives, strict=True)]
        session.add_all(results)
        session.flush()
        details = [
            _detail(run.id, r, o, life) for r, o, life in zip(results, outcomes, lives, strict=True)
        ]
        session.add_all(details)
        session.flush()
    by_result = {d.result_id: d for d in details}
    return metrics, StoredRun(run, tuple(results), by_result, {})


def _result(run_id: int, day: date, o: CheckOutcome, life: Lifecycle) -> CheckResult:
    phrase = life.phrase(day)
    return CheckResult(
        run_id=run_id,
        day=day,
        check=o.check,
        scope=o.scope,
        observed=o.observed,
        warn_at=o.warn_at,
        limit=o.limit,
        pct_of_limit=o.pct_of_limit,
        status=o.status,
        message=f"{o.message}; {phrase}" if phrase else o.message,
        evidence_json=json.dumps(sorted(o.evidence)),
    )


def _detail(run_id: int, r: CheckResult, o: CheckOutcome, life: Lifecycle) -> CheckResultDetail:
    assert r.id is not None
    unit = o.unit if isinstance(o, LimitOutcome) else "usd"
    scope = o.threshold_scope if isinstance(o, LimitOutcome) else None
    detail = dict(o.detail) if isinstance(o, LimitOutcome) else {}
    return CheckResultDetail(
        result_id=r.id,
        run_id=run_id,
        unit=unit,
        threshold_scope=scope,
        detail_json=canonical_json(detail).decode("utf-8"),
        lifecycle=life.state,
        breach_since=life.since,
        breach_days=life.days,
        previous_result_id=life.previous_result_id,
    )


def record_limit_set(
    session: Session, limits: LimitSet, sha: str, canonical: bytes, now: datetime
) -> None:
    """Keep the limit set's canonical JSON under its SHA-256, once (a check run's, and the
    intraday results': the hash on a result always names content ``limits history`` shows)."""
    values = {
        "sha256": sha,
        "canonical_json": canonical.decode("utf-8"),
        "loaded_from": limits.loaded_from,
        "recorded_at": now,
    }
    dialect = session.get_bind().dialect.name
    table = SQLModel.metadata.tables[LimitSetVersion.__tablename__]
    if dialect == "postgresql":
        session.execute(postgresql.insert(table).values(**values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(table).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - the store supports SQLite and PostgreSQL
        exists = session.execute(
            select(col(LimitSetVersion.id)).where(col(LimitSetVersion.sha256) == sha)
        ).first()
        if exists is None:
            session.add(LimitSetVersion.model_validate(values))


def latest_run(
    store: Store,
    day: date,
    *,
    run_id: int | None = None,
    max_ack_id: int | None = None,
    source: str | None = None,
) -> StoredRun | None:
    """The most recent check run for ``day`` (of ``source``, when given) with its results,
    details and acknowledgements.

    ``run_id`` picks that run instead of the latest, and ``max_ack_id`` leaves out acknowledgements
    given after it: together they read the store as a report once saw it (``liqrisk reproduce``).
    """
    with store.session() as session:
        query = select(CheckRun).where(col(CheckRun.day) == day, of_source(source))
        if run_id is not None:
            query = query.where(col(CheckRun.id) == run_id)
        run = session.execute(query.order_by(col(CheckRun.id).desc())).scalars().first()
        if run is None:
            return None
        results = (
            session.execute(
                select(CheckResult)
                .where(col(CheckResult.run_id) == run.id)
                .order_by(col(CheckResult.id))
            )
            .scalars()
            .all()
        )
        details = (
            session.execute(
                select(CheckResultDetail).where(col(CheckResultDetail.run_id) == run.id)
            )
            .scalars()
            .all()
        )
        ack_query = (
            select(Acknowledgement, col(CheckResult.check), col(CheckResult.scope))
            .join(CheckResult, col(CheckResult.id) == col(Acknowledgement.result_id))
            .where(col(CheckResult.day) == day)
            .order_by(col(Acknowledgement.id))
        )
        if max_ack_id is not None:
            ack_query = ack_query.where(col(Acknowledgement.id) <= max_ack_id)
        acked = session.execute(ack_query).all()
    by_key: dict[tuple[str, str], list[Acknowledgement]] = {}
    for ack, check, scope in acked:
        by_key.setdefault((check, scope), []).append(ack)
    acks = {
        r.id: tuple(by_key[(r.check, r.scope)])
        for r in results
        if r.id is not None and (r.check, r.scope) in by_key
    }
    return StoredRun(run, tuple(results), {d.result_id: d for d in details}, acks)


# --- acknowledgements -----------------------------------------------------------------------------


def _result_fields(result: CheckResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "run_id": result.run_id,
        "day": result.day.isoformat(),
        "check": result.check,
        "scope": result.scope,
        "observed": result.observed,
        "warn_at": result.warn_at,
        "limit": result.limit,
        "status": result.status,
        "message": result.message,
        "evidence_json": result.evidence_json,
    }


def sign_off_text(by: str, comment: str) -> tuple[str, str]:
    """Who signs off and why, stripped; a :class:`CheckError` when either is empty."""
    by, comment = by.strip(), comment.strip()
    if not by:
        raise CheckError("an acknowledgement needs the name of who gives it (--by)")
    if not comment:
        raise CheckError("an acknowledgement needs a comment saying why (--comment)")
    return by, comment


def chain_head(
    session: Session, table: type[Acknowledgement] | type[IntradayAcknowledgement]
) -> str:
    """The ``entry_sha256`` a new acknowledgement of ``table``'s chain follows (the genesis hash
    for the first); call it under the chain's writer lock."""
    query = select(col(table.entry_sha256)).order_by(col(table.id).desc()).limit(1)
    return session.execute(query).scalars().first() or GENESIS_SHA256


def acknowledge(
    store: Store,
    result_id: int,
    *,
    by: str,
    comment: str,
    via: str = "cli",
    address: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[Acknowledgement, CheckResult]:
    """Record that ``by`` acknowledged result ``result_id``; the result itself is never touched.

    The acknowledgement joins its hash chain and, in the same transaction, the log as an activity
    leaf (``via`` the console or the CLI, from ``address``): an audit package shows who signed off
    what.
    """
    by, comment = sign_off_text(by, comment)
    with store.session() as session:
        writer_lock(session, _ACK_LOCK)
        result = session.get(CheckResult, result_id)
        if result is None:
            raise CheckError(f"there is no check result {result_id}")
        if result.status == "ok":
            raise CheckError(
                f"check result {result_id} ({result.check} {result.scope} on {result.day}) is ok: "
                "there is nothing to acknowledge"
            )
        ack = Acknowledgement(
            result_id=result_id,
            acked_by=by,
            comment=comment,
            acked_at=clock(),
            result_sha256=ack_result_sha256(_result_fields(result)),
            previous_sha256=chain_head(session, Acknowledgement),
            entry_sha256="",
        )
        ack.entry_sha256 = ack_entry_sha256(ack)
        session.add(ack)
        session.flush()
        signed_off = Activity(
            action="acknowledge",
            actor=by,
            via=via,
            at=ack.acked_at,
            address=address,
            subject=f"check_result {result_id}",
            details={
                "acknowledgement_id": ack.id,
                "entry_sha256": ack.entry_sha256,
                "result_sha256": ack.result_sha256,
                "check": result.check,
                "scope": result.scope,
                "day": result.day.isoformat(),
                "status": result.status,
                "comment": comment,
            },
        )
        record_activity(session, signed_off)
    return ack, result


def acknowledgements(
    store: Store, day: date | None = None
) -> list[tuple[Acknowledgement, CheckResult]]:
    """Every acknowledgement (of results of ``day``, if given) with its result, oldest first."""
    with store.session() as session:
        stmt = (
            select(Acknowledgement, CheckResult)
            .join(CheckResult, col(CheckResult.id) == col(Acknowledgement.result_id))
            .order_by(col(Acknowledgement.id))
        )
        if day is not None:
            stmt = stmt.where(col(CheckResult.day) == day)
        return [(a, r) for a, r in session.execute(stmt).all()]


def verify_acknowledgements(store: Store) -> list[Problem]:
    """Recompute the acknowledgement chain; one problem per row that does not check out."""
    problems: list[Problem] = []
    previous = GENESIS_SHA256
    for ack, result in acknowledgements(store):
        where = f"acknowledgement {ack.id}"
        if ack.previous_sha256 != previous:
            problems.append(
                Problem(where, "does not follow the acknowledgement before it", "error")
            )
        if ack_entry_sha256(ack) != ack.entry_sha256:
            problems.append(Problem(where, "its content does not match its hash", "error"))
        if ack_result_sha256(_result_fields(result)) != ack.result_sha256:
            problems.append(
                Problem(
                    where, f"check result {result.id} differs from what was acknowledged", "error"
                )
            )
        previous = ack.entry_sha256
    return problems


# --- limit-set history ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitVersion:
    """A stretch of check runs under one limit set: when it came into force and how long it held."""

    sha256: str
    in_force_from: datetime  # the first run under it (after a run under another set, if any)
    first_run_id: int
    last_run_at: datetime
    runs: int
    first_day: date  # the business days its runs checked
    last_day: date
    loaded_from: str | None
    content: Mapping[str, Any] | None  # the limit set, when the store holds it


def limit_history(store: Store) -> list[LimitVersion]:
    """When each limit-set version came into force, in order (a set used again appears again)."""
    with store.session() as session:
        runs = session.execute(
            select(
                col(CheckRun.id),
                col(CheckRun.started_at),
                col(CheckRun.day),
                col(CheckRun.limit_set_sha256),
            ).order_by(col(CheckRun.id))
        ).all()
        versions = {v.sha256: v for v in session.execute(select(LimitSetVersion)).scalars().all()}
    out: list[LimitVersion] = []
    stretch: list[Sequence[Any]] = []

    def close() -> None:
        if not stretch:
            return
        sha = stretch[0][3]
        known = versions.get(sha)
        out.append(
            LimitVersion(
                sha256=sha,
                in_force_from=as_utc(stretch[0][1]),
                first_run_id=stretch[0][0],
                last_run_at=as_utc(stretch[-1][1]),
                runs=len(stretch),
                first_day=min(r[2] for r in stretch),
                last_day=max(r[2] for r in stretch),
                loaded_from=known.loaded_from if known else None,
                content=json.loads(known.canonical_json) if known else None,
            )
        )
        stretch.clear()

    for row in runs:
        if stretch and stretch[0][3] != row[3]:
            close()
        stretch.append(row)
    close()
    return out
