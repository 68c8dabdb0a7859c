"""Check stage: day metrics against the configured limits, stored as results with their evidence.

Every check on every scope yields exactly one result: ``ok``, ``warn``, ``breach``, or ``error``
when it could not be computed (no data, or the check itself failed: a crashing check becomes an
``error`` result, never a dead run). Results are stored with the SHA-256 of the limit set in force.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import canonical_json
from audit_store.db import Store
from audit_store.models import CheckResult, CheckRun
from reporting.config import Settings, Threshold
from reporting.metrics import AssetDay, day_bounds, load_period
from reporting.records import CheckOutcome, Status

CHECK_TITLES = {
    "coverage": "Data coverage (intervals received)",
    "daily_usd": "Daily liquidations (USD)",
    "daily_usd_exchange": "Daily liquidations per exchange (USD)",
    "velocity_usd": "Velocity: largest hour (USD)",
}


def limit_set_hash(settings: Settings) -> str:
    return hashlib.sha256(canonical_json(settings.limits.model_dump(mode="json"))).hexdigest()


def grade(observed: float, threshold: Threshold) -> Status:
    if observed >= threshold.breach:
        return "breach"
    if observed >= threshold.warn:
        return "warn"
    return "ok"


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def _threshold_check(
    check: str,
    scope: str,
    day: date,
    observed: float,
    threshold: Threshold,
    evidence: tuple[str, ...],
) -> CheckOutcome:
    status = grade(observed, threshold)
    words = {
        "ok": "within limits",
        "warn": "at or above the warning level",
        "breach": "at or above the limit",
    }[status]
    return CheckOutcome(
        check=check,
        scope=scope,
        day=day,
        observed=observed,
        warn_at=threshold.warn,
        limit=threshold.breach,
        status=status,
        message=f"{CHECK_TITLES[check]} for {scope}: {_usd(observed)} is {words} "
        f"(warn {_usd(threshold.warn)}, limit {_usd(threshold.breach)})",
        evidence=evidence,
    )


def _coverage(data: AssetDay, day: date) -> Iterator[CheckOutcome]:
    received, expected = data.intervals_received, data.intervals_expected
    if received == 0:
        status: Status = "error"
        message = f"no data for {data.asset} from {data.source} on {day}"
    elif received < expected:
        status, message = "warn", f"{data.asset}: {received} of {expected} intervals received"
    else:
        status, message = "ok", f"{data.asset}: all {expected} intervals received"
    yield CheckOutcome(
        "coverage",
        data.asset,
        day,
        float(received),
        None,
        float(expected),
        status,
        message,
        data.evidence,
    )


def _daily(data: AssetDay, day: date, settings: Settings) -> Iterator[CheckOutcome]:
    yield _threshold_check(
        "daily_usd",
        data.asset,
        day,
        data.totals.total_usd,
        settings.limits.daily_usd.for_scope(data.asset),
        data.evidence,
    )


def _daily_exchange(data: AssetDay, day: date, settings: Settings) -> Iterator[CheckOutcome]:
    for code, vols in sorted(data.by_exchange.items()):
        scope = f"{data.asset}/{code}"
        shas = tuple(sorted({i.snapshot_sha256 for i in data.intervals if code in i.by_exchange}))
        yield _threshold_check(
            "daily_usd_exchange",
            scope,
            day,
            vols.total_usd,
            settings.limits.daily_usd_exchange.for_scope(scope),
            shas,
        )


def _velocity(data: AssetDay, day: date, settings: Settings) -> Iterator[CheckOutcome]:
    peak = data.largest_interval()
    assert peak is not None  # coverage guards the empty day
    outcome = _threshold_check(
        "velocity_usd",
        data.asset,
        day,
        peak.volumes.total_usd,
        settings.limits.velocity_usd.for_scope(data.asset),
        (peak.snapshot_sha256,),
    )
    hour = peak.start.strftime("%H:%M")
    yield CheckOutcome(
        **{**outcome.__dict__, "message": f"{outcome.message}; hour from {hour} UTC"}
    )


AssetCheck = Callable[[AssetDay, date, Settings], Iterator[CheckOutcome]]
ASSET_CHECKS: dict[str, AssetCheck] = {
    "daily_usd": _daily,
    "daily_usd_exchange": _daily_exchange,
    "velocity_usd": _velocity,
}


def evaluate(metrics: dict[str, AssetDay], day: date, settings: Settings) -> list[CheckOutcome]:
    """Every check on every scope; never raises."""
    outcomes: list[CheckOutcome] = []
    for asset, data in metrics.items():
        coverage = list(_coverage(data, day))
        outcomes.extend(coverage)
        for name, check in ASSET_CHECKS.items():
            if coverage[0].status == "error":
                outcomes.append(
                    CheckOutcome(
                        name,
                        asset,
                        day,
                        None,
                        None,
                        None,
                        "error",
                        f"cannot compute: {coverage[0].message}",
                    )
                )
                continue
            try:
                outcomes.extend(check(data, day, settings))
            except Exception as exc:  # a crashing check is an error result, not a dead run
                outcomes.append(
                    CheckOutcome(
                        name,
                        asset,
                        day,
                        None,
                        None,
                        None,
                        "error",
                        f"check failed: {type(exc).__name__}: {exc}",
                    )
                )
    return outcomes


@dataclass(frozen=True)
class StoredRun:
    run: CheckRun
    results: tuple[CheckResult, ...]


def run_checks(
    store: Store,
    settings: Settings,
    day: date,
    *,
    source: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[dict[str, AssetDay], StoredRun]:
    """Compute the day's metrics, evaluate every check, and store the run and its results."""
    source = source or settings.fetch.default_source
    start, end = day_bounds(day)
    metrics = load_period(store, source=source, assets=settings.fetch.assets, start=start, end=end)
    outcomes = evaluate(metrics, day, settings)
    with store.session() as session:
        run = CheckRun(
            day=day,
            started_at=clock(),
            limit_set_sha256=limit_set_hash(settings),
            config_hash=settings.config_hash(),
            software_version=SOFTWARE_VERSION,
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        results = [
            CheckResult(
                run_id=run.id,
                day=day,
                check=o.check,
                scope=o.scope,
                observed=o.observed,
                warn_at=o.warn_at,
                limit=o.limit,
                pct_of_limit=o.pct_of_limit,
                status=o.status,
                message=o.message,
                evidence_json=json.dumps(sorted(o.evidence)),
            )
            for o in outcomes
        ]
        session.add_all(results)
        session.flush()
    return metrics, StoredRun(run, tuple(results))


def latest_run(store: Store, day: date) -> StoredRun | None:
    """The most recent check run for ``day`` with its results, as stored."""
    with store.session() as session:
        run = (
            session.execute(
                select(CheckRun).where(CheckRun.day == day).order_by(CheckRun.id.desc())  # type: ignore[union-attr]
            )
            .scalars()
            .first()
        )
        if run is None:
            return None
        results = (
            session.execute(
                select(CheckResult).where(CheckResult.run_id == run.id).order_by(CheckResult.id)  # type: ignore[arg-type]
            )
            .scalars()
            .all()
        )
    return StoredRun(run, tuple(results))
