"""Replaying stored history against a candidate limit set, day by day, without storing anything.

History is read once for the whole range (:func:`history_by_day`, the same figures as a daily run's
:func:`reporting.checks.metrics.load_period`) and cut into UTC days; each day is measured and graded
as
:func:`reporting.checks.evaluate` grades a daily run, as of the end of the day. Measuring is kept
apart from grading so calibration (:mod:`reporting.checks.calibrate`) reads the same figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from audit_store.db import Store
from reporting.checks.catalogue import CATALOGUE_ORDER
from reporting.checks.engine import CheckContext, LimitOutcome, Measurement, evaluate, measure
from reporting.checks.limits import LimitSet
from reporting.checks.metrics import HOUR, AssetDay, Interval, assemble_day, day_bounds, load_period
from reporting.checks.overlays import NO_OVERLAYS, Overlays, RangeOverlays
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings
from reporting.records import Problem


def days_between(start: date, end: date) -> list[date]:
    """Every day from ``start`` to ``end``, both included."""
    return [start + timedelta(days=k) for k in range((end - start).days + 1)]


def history_by_day(
    store: Store, settings: Settings, start: date, end: date, *, source: str | None = None
) -> dict[date, dict[str, AssetDay]]:
    """Every configured asset's figures for each day from ``start`` to ``end`` (inclusive).

    The same figures as a daily run's: :func:`reporting.checks.metrics.load_period` read once over
    the whole range (one query of plain columns), its intervals then cut into UTC days.
    """
    source = source or settings.fetch.default_source
    assets = [a.upper() for a in settings.fetch.assets]
    begin, _ = day_bounds(start)
    _, finish = day_bounds(end)
    period = load_period(store, source=source, assets=assets, start=begin, end=finish)
    by_day: dict[tuple[str, date], list[Interval]] = {}
    for asset, data in period.items():
        for interval in data.intervals:
            by_day.setdefault((asset, interval.start.date()), []).append(interval)
    return {
        day: {
            asset: assemble_day(asset, source, *day_bounds(day), HOUR, by_day.get((asset, day), []))
            for asset in assets
        }
        for day in days_between(start, end)
    }


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
    for day in days_between(start, end):
        metrics = days.get(day, {})
        ctx = CheckContext(
            overlays=overlays, second=second.get(day) if second is not None else None
        )
        for outcome in evaluate(metrics, day, settings, context=ctx, limits=limits):
            if outcome.check == "coverage":
                continue
            key = (outcome.check, outcome.scope)
            tally = tallies.get(key)
            if tally is None:
                tally = tallies[key] = LimitTally(
                    outcome.check,
                    outcome.scope,
                    outcome.threshold_scope if isinstance(outcome, LimitOutcome) else None,
                    outcome.warn_at,
                    outcome.limit,
                    outcome.unit if isinstance(outcome, LimitOutcome) else "usd",
                )
            if outcome.status == "breach":
                tally.breach_days.append(day)
            elif outcome.status == "warn":
                tally.warn_days.append(day)
            elif outcome.status == "error":
                tally.error_days.append(day)
            else:
                tally.ok_days += 1
    ordered = sorted(tallies.values(), key=lambda t: (CATALOGUE_ORDER.get(t.check, 99), t.scope))
    sha = limit_set_sha256(limits)
    return Backtest(start, end, source, sha, limits.loaded_from, tuple(ordered))


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
