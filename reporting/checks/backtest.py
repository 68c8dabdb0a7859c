"""Replaying stored history against a candidate limit set, day by day, without storing anything.

History is read once for the whole range (:func:`history_by_day`, the same figures as a daily run's
:func:`reporting.checks.metrics.load_period`) and cut into UTC days; each day is measured and graded
as
:func:`reporting.checks.evaluate` grades a daily run, as of the end of the day
(:func:`statuses`: the same measurements and statuses, without the messages). Measuring is kept
apart from grading so calibration (:mod:`reporting.checks.calibrate`) reads the same figures.

A candidate with intraday tables (``[velocity_usd_15m]``, ``[exposure_usd_day]``,
``[imbalance_60m]``) is also replayed over the stored stream minutes of the range, every minute's
end an evaluation point, episode by episode as the live evaluation decides them
(:mod:`reporting.checks.intraday_history`); :attr:`Backtest.intraday` holds what each intraday
limit on each scope would have opened, when, and its peak. Without intraday tables it is empty
and nothing of the streams is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from audit_store.bulk import gc_paused
from audit_store.db import Store
from reporting.checks.catalogue import CATALOGUE_ORDER, CHECK_UNITS
from reporting.checks.engine import (
    CheckContext,
    Measurement,
    measure,
    resolve_threshold,
    status_of,
)
from reporting.checks.intraday_history import IntradayTally, intraday_backtest
from reporting.checks.limits import LimitSet, Resolved
from reporting.checks.metrics import (
    HOUR,
    AssetDay,
    Interval,
    assemble_day,
    day_bounds,
    load_intervals,
)
from reporting.checks.overlays import NO_OVERLAYS, Overlays, RangeOverlays
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings
from reporting.records import Problem, Status


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def history_by_day(
    store: Store, settings: Settings, start: date, end: date, *, source: str | None = None
) -> dict[date, dict[str, AssetDay]]:
    """Every configured asset's figures for each day from ``start`` to ``end`` (inclusive).

    The same figures as a daily run's: :func:`reporting.checks.metrics.load_intervals` read once
    over the whole range (one query of plain columns), its intervals then cut into UTC days.
    """
    source = source or settings.fetch.default_source
    assets = [a.upper() for a in settings.fetch.assets]
    begin, _ = day_bounds(start)
    _, finish = day_bounds(end)
    period = load_intervals(store, source=source, assets=assets, start=begin, end=finish)
    by_day: dict[tuple[str, date], list[Interval]] = {}
    for asset, intervals in period.items():
        for interval in intervals:
            by_day.setdefault((asset, interval.start.date()), []).append(interval)
    with gc_paused():
        return {
            day: {
                asset: assemble_day(
                    asset, source, *day_bounds(day), HOUR, by_day.get((asset, day), [])
                )
                for asset in assets
            }
            for day in days_between(start, end)
        }


@dataclass(frozen=True)
class GradedScope:
    """What :func:`statuses` gives for one check on one scope: the status :func:`evaluate` would
    give it and the threshold behind it, without the message (a backtest needs no words)."""

    check: str
    scope: str
    status: Status
    resolved: Resolved | None  # None: the check failed before a threshold was looked up


ThresholdCache = dict[tuple[str, str, str | None], Resolved | None]
"""Resolved thresholds by (check, asset, exchange), kept across the days of one limit set."""


def statuses(
    metrics: Mapping[str, AssetDay],
    day: date,
    limit_set: LimitSet,
    jurisdiction_of: Callable[[str], str | None],
    *,
    context: CheckContext,
    cache: ThresholdCache,
) -> Iterator[GradedScope]:
    """The statuses :func:`evaluate` gives every check (but ``coverage``) on every scope of
    ``day``, in its order, measured the same way and graded by the same :func:`status_of`."""
    tables = [(check, limit_set.for_check(check)) for check in limit_set.configured_checks()]
    for asset, data in metrics.items():
        for check, table in tables:
            assert table is not None
            try:
                for m in measure(check, data, day, context, table):
                    key = (check, m.asset, m.exchange)
                    if key not in cache:
                        cache[key] = resolve_threshold(table, m.asset, m.exchange, jurisdiction_of)
                    resolved = cache[key]
                    if resolved is not None:
                        status, _ = status_of(m, resolved.threshold)
                        yield GradedScope(check, m.scope, status, resolved)
            except Exception:  # as in evaluate: a crashing check is an error result
                yield GradedScope(check, asset, "error", None)


def _second_source(
    store: Store, settings: Settings, limits: LimitSet, start: date, end: date, source: str
) -> dict[date, dict[str, AssetDay]] | None:
    rec = limits.reconciliation
    if rec is None or not rec.against or rec.against == source:
        return None
    return history_by_day(store, settings, start, end, source=rec.against)


@dataclass
class LimitTally:
    """What one limit (a check on one scope) would have produced over the range."""

    check: str
    scope: str
    threshold_scope: str | None
    warn_at: float | None
    limit: float | None
    unit: str
    warn_days: list[date] = field(default_factory=list)
    breach_days: list[date] = field(default_factory=list)
    error_days: list[date] = field(default_factory=list)
    ok_days: int = 0


@dataclass(frozen=True)
class Backtest:
    start: date
    end: date
    source: str
    limit_set_sha256: str
    loaded_from: str
    tallies: tuple[LimitTally, ...]
    intraday: tuple[IntradayTally, ...] = ()  # the intraday limits' episodes, by limit and scope

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def backtest(
    store: Store,
    settings: Settings,
    limits: LimitSet,
    start: date,
    end: date,
    *,
    source: str | None = None,
    history: Mapping[date, dict[str, AssetDay]] | None = None,
    overlays: Overlays | None = None,
) -> Backtest:
    """The statuses ``limits`` would have given each day from ``start`` to ``end``.

    Funding and open interest come from the store (:class:`RangeOverlays`) unless given; a day
    without them is an error day of those checks, as it would have been in a daily run.
    """
    source = source or settings.fetch.default_source
    if overlays is None:
        overlays = RangeOverlays(store, day_bounds(start)[0], day_bounds(end)[1])
    days = (
        history
        if history is not None
        else history_by_day(store, settings, start, end, source=source)
    )
    second = _second_source(store, settings, limits, start, end, source)
    tallies: dict[tuple[str, str], LimitTally] = {}
    cache: ThresholdCache = {}
    for day in days_between(start, end):
        metrics = days.get(day, {})
        ctx = CheckContext(
            overlays=overlays, second=second.get(day) if second is not None else None
        )
        for graded in statuses(
            metrics, day, limits, settings.jurisdiction, context=ctx, cache=cache
        ):
            key = (graded.check, graded.scope)
            tally = tallies.get(key)
            if tally is None:
                resolved = graded.resolved
                tally = tallies[key] = LimitTally(
                    graded.check,
                    graded.scope,
                    resolved.source if resolved is not None else None,
                    resolved.threshold.warn if resolved is not None else None,
                    resolved.threshold.breach if resolved is not None else None,
                    CHECK_UNITS[graded.check],
                )
            if graded.status == "breach":
                tally.breach_days.append(day)
            elif graded.status == "warn":
                tally.warn_days.append(day)
            elif graded.status == "error":
                tally.error_days.append(day)
            else:
                tally.ok_days += 1
    ordered = sorted(tallies.values(), key=lambda t: (CATALOGUE_ORDER.get(t.check, 99), t.scope))
    sha = limit_set_sha256(limits)
    intraday = intraday_backtest(store, limits, start, end, settings.jurisdiction)
    return Backtest(start, end, source, sha, limits.loaded_from, tuple(ordered), intraday)


@dataclass(frozen=True)
class MeasuredHistory:
    """Every measurement of the chosen checks on every day, and what could not be measured."""

    start: date
    end: date
    source: str
    measurements: tuple[tuple[date, Measurement], ...]
    problems: tuple[Problem, ...]


def measure_history(
    days: Mapping[date, dict[str, AssetDay]],
    checks: Iterable[str],
    limits: LimitSet,
    *,
    source: str,
    overlays: Overlays = NO_OVERLAYS,
) -> MeasuredHistory:
    """Measure ``checks`` on every asset and day of ``days`` (all scopes, limits or not)."""
    ctx = CheckContext(overlays=overlays)
    out: list[tuple[date, Measurement]] = []
    problems: list[Problem] = []
    ordered = sorted(days)
    for day in ordered:
        for asset, data in days[day].items():
            for check in checks:
                try:
                    found = measure(check, data, day, ctx, limits.for_check(check))
                except Exception as exc:  # collected, not raised: one bad day spoils nothing else
                    problems.append(
                        Problem(f"{check} {asset} {day}", f"{type(exc).__name__}: {exc}", "error")
                    )
                    continue
                out.extend((day, m) for m in found)
    start = ordered[0] if ordered else date.min
    end = ordered[-1] if ordered else date.min
    return MeasuredHistory(start, end, source, tuple(out), tuple(problems))
