"""The metrics behind the checks, as pure functions of plain figures (pinned by hand in tests).

Methodology, as a risk committee reads it:

* **Velocity** is the largest USD (or count) liquidated in any rolling 60 minutes. The data is
  hourly, so the figure graded as "largest hour" is the largest single hourly interval: a lower
  bound of the rolling-60-minute maximum. Any 60-minute window meets at most two consecutive hourly
  intervals, so the largest two-hour run (graded separately) is an upper bound. Windows lie inside
  the UTC day; a missing hour counts as zero.
* **Imbalance** is the dominant side's share of the day's USD (50% is balanced); the long share is
  kept beside it.
* **Concentration** is an exchange's share of the asset's USD over the day.
* **Funding-rate swing** is the highest minus the lowest funding rate settled during the day on one
  venue (exchange and instrument), each rate first put per 8 hours (a venue funding hourly has its
  rate times 8), in basis points; the venue that swung most gives the figure.
* **Open-interest change** is the asset's open interest at the end of the day against the end of
  the day before, in percent: per venue the last observation of each day, summed over the venues
  seen on both days; graded on its size, its sign kept beside it.
* **Gaps** count the hourly intervals of the day (up to the time of the check) that the store does
  not hold; **staleness** is the hours from the end of the newest interval held to the end of the
  day (or the time of the check, when earlier).
* **Reconciliation** is the difference of the day's USD from two sources, in percent of the
  larger.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from reporting.checks.metrics import hour_slots
from reporting.checks.overlays import FundingPoint, OpenInterestPoint

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Window:
    """A run of ``hours`` consecutive hourly intervals from ``start`` and what they hold."""

    start: datetime
    hours: int
    usd: float
    count: int


def largest_window(
    hourly: Mapping[datetime, tuple[float, int]],
    start: datetime,
    end: datetime,
    hours: int,
    *,
    by: str = "usd",
) -> Window | None:
    """The window of ``hours`` consecutive hours in ``[start, end)`` with the most USD (or count).

    ``hourly`` maps an interval's start to its (USD, count); missing hours count as zero. Ties go
    to the earliest window. ``None`` when no interval is held at all.
    """
    if not hourly or hours < 1:
        return None
    usd, count = hour_slots(hourly.items(), start, end)
    return largest_run(usd, count, start, hours, by=by)


def largest_run(
    usd: Sequence[float], count: Sequence[int], start: datetime, hours: int, *, by: str = "usd"
) -> Window | None:
    """:func:`largest_window` over hourly slots from ``start`` (``usd[k]`` and ``count[k]`` are
    hour ``k``'s, zero where nothing is held); ``None`` when there are fewer than ``hours``."""
    slots = len(usd)
    if slots < hours or hours < 1:
        return None
    key: Sequence[float] = usd if by == "usd" else count
    if hours == 1:
        best_k = list(key).index(max(key))  # the first of the largest: ties go to the earliest
    else:
        best_k, best = 0, sum(key[:hours])
        for k in range(1, slots - hours + 1):
            total = sum(key[k : k + hours])  # summed afresh: no drift from a running sum
            if total > best:
                best_k, best = k, total
    return Window(
        start + best_k * HOUR,
        hours,
        sum(usd[best_k : best_k + hours]),
        sum(count[best_k : best_k + hours]),
    )


@dataclass(frozen=True)
class Imbalance:
    dominant_pct: float  # share of USD on the dominant side, 50..100
    side: str  # "long" | "short" ("long" on an exact tie)
    long_pct: float


def imbalance(long_usd: float, short_usd: float) -> Imbalance | None:
    total = long_usd + short_usd
    if total <= 0:
        return None
    long_pct = 100.0 * long_usd / total
    if long_pct >= 50.0:
        return Imbalance(long_pct, "long", long_pct)
    return Imbalance(100.0 - long_pct, "short", long_pct)


def share_pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole > 0 else None


def missing_intervals(
    received: Iterable[datetime], start: datetime, as_of: datetime, step: timedelta = HOUR
) -> list[datetime]:
    """Starts of the intervals in ``[start, as_of)`` that ended by ``as_of`` and are not held."""
    held = set(received)
    missing = []
    moment = start
    while moment + step <= as_of:
        if moment not in held:
            missing.append(moment)
        moment += step
    return missing


def staleness_hours(
    newest_start: datetime | None, as_of: datetime, step: timedelta = HOUR
) -> float:
    """Hours from the end of the newest interval held to ``as_of`` (never negative)."""
    if newest_start is None:
        raise ValueError("no interval held")
    behind = (as_of - (newest_start + step)).total_seconds() / 3600.0
    return max(0.0, behind)


def compact_hours(moments: Sequence[datetime], step: timedelta = HOUR) -> str:
    """``03:00, 07:00-09:00``: runs of consecutive intervals by their starts."""
    runs: list[tuple[datetime, datetime]] = []
    for moment in sorted(moments):
        if runs and moment - runs[-1][1] == step:
            runs[-1] = (runs[-1][0], moment)
        else:
            runs.append((moment, moment))
    return ", ".join(a.strftime("%H:%M") if a == b else f"{a:%H:%M}-{b:%H:%M}" for a, b in runs)


@dataclass(frozen=True)
class FundingSwing:
    swing_bps: float  # highest minus lowest, bps per 8h, on the venue that swung most
    low_bps: float
    high_bps: float
    first_bps: float  # that venue's first and last of the day, for the narrative
    last_bps: float
    points: int  # that venue's settlements in the day
    venue: str
    venues: int  # venues with at least two settlements in the day


def funding_swing(points: Sequence[FundingPoint]) -> FundingSwing | None:
    """The day's largest funding-rate swing along one venue's series; ``None`` when no venue has
    two settlements in the day (no swing to measure). Ties go to the first venue by name."""
    series: dict[str, list[FundingPoint]] = {}
    for p in points:
        series.setdefault(p.venue, []).append(p)
    best: FundingSwing | None = None
    venues = 0
    for venue in sorted(series):
        ordered = sorted(series[venue], key=lambda p: p.at)
        if len(ordered) < 2:
            continue
        venues += 1
        rates = [p.bps_per_8h for p in ordered]
        low, high = min(rates), max(rates)
        if best is None or high - low > best.swing_bps:
            best = FundingSwing(high - low, low, high, rates[0], rates[-1], len(rates), venue, 0)
    return None if best is None else replace(best, venues=venues)


@dataclass(frozen=True)
class OpenInterestChange:
    change_pct: float  # signed
    previous_usd: float
    current_usd: float
    venues: tuple[str, ...]  # the venues in both days, whose figures are summed


def open_interest_change(
    previous_day: Sequence[OpenInterestPoint], day: Sequence[OpenInterestPoint]
) -> OpenInterestChange | str:
    """The asset's open interest at the end of the day against the end of the day before, or why
    it cannot be: per venue the last observation of each day, summed over the venues that have one
    in both days (a venue seen on one day only would move the total without any change)."""
    if not day:
        return "no open-interest data for the day"
    if not previous_day:
        return "no open-interest data for the day before"

    def last(points: Sequence[OpenInterestPoint]) -> dict[str, float]:
        out: dict[str, tuple[datetime, float]] = {}
        for p in points:
            if p.venue not in out or p.at >= out[p.venue][0]:
                out[p.venue] = (p.at, p.usd)
        return {venue: usd for venue, (_at, usd) in out.items()}

    before, now = last(previous_day), last(day)
    venues = tuple(sorted(set(before) & set(now)))
    if not venues:
        return "no venue has open interest on both days"
    previous_usd = sum(before[v] for v in venues)
    current_usd = sum(now[v] for v in venues)
    if previous_usd <= 0:
        return f"open interest the day before was {previous_usd:,.0f} USD"
    change = 100.0 * (current_usd - previous_usd) / previous_usd
    return OpenInterestChange(change, previous_usd, current_usd, venues)


def reconciliation_pct(a: float, b: float) -> float:
    """Difference of two totals in percent of the larger (0 when both are 0)."""
    larger = max(abs(a), abs(b))
    return 0.0 if larger == 0 else 100.0 * abs(a - b) / larger
