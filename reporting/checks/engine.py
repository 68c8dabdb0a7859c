"""Measuring every check on every scope of a day, and grading the measurements against the limits.

Measuring and grading are apart so that backtests and calibration measure once: a
:class:`Measurement` is what a check saw (or why it could not see), graded by :func:`grade` into a
:class:`LimitOutcome` with the threshold that applies (see :mod:`reporting.checks.limits`). Every
configured check on every scope yields exactly one result; one that cannot be computed (no data, no
second source, no overlay data, or the check itself crashed) is an ``error`` result saying why,
never a dead run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from reporting.checks.catalogue import CATALOGUE, CHECK_TITLES, CHECK_UNITS, format_value
from reporting.checks.limits import (
    AssetLimits,
    ExchangeShareLimits,
    LimitSet,
    ReconciliationLimits,
    Resolved,
    ShareLimits,
    Threshold,
    jurisdiction_code,
)
from reporting.checks.measures import (
    compact_hours,
    funding_swing,
    imbalance,
    largest_run,
    missing_intervals,
    open_interest_change,
    reconciliation_pct,
    share_pct,
    staleness_hours,
)
from reporting.checks.metrics import AssetDay, Interval, Volumes, day_bounds
from reporting.checks.overlays import NO_OVERLAYS, Overlays
from reporting.config import Settings
from reporting.records import CheckOutcome, Status


@dataclass(frozen=True)
class CheckContext:
    """What a day's checks need beyond the day's liquidations."""

    as_of: datetime | None = None  # the time of the check; None: the end of the day
    overlays: Overlays = NO_OVERLAYS
    second: Mapping[str, AssetDay] | None = None  # the reconciliation source's figures, if loaded

    def effective_as_of(self, day: date) -> datetime:
        _start, end = day_bounds(day)
        return end if self.as_of is None else min(self.as_of, end)


@dataclass(frozen=True)
class Measurement:
    """What one check saw on one scope, or why it could not see."""

    check: str
    asset: str
    exchange: str | None
    value: float | None  # the graded figure, in the check's unit; None when not computable
    text: str  # the observation in words, for the message
    evidence: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)  # JSON-able figures behind the value
    error: str | None = None  # why it could not be computed
    not_graded: str | None = None  # why it is reported but not graded (below materiality)

    @property
    def scope(self) -> str:
        return self.asset if self.exchange is None else f"{self.asset}/{self.exchange}"


@dataclass(frozen=True)
class LimitOutcome(CheckOutcome):
    """A :class:`CheckOutcome` with what a committee needs to defend it."""

    unit: str = "usd"
    threshold_scope: str | None = None  # which configured value applied: "asset BTC", "global"
    detail: Mapping[str, Any] = field(default_factory=dict)


ROUND_DIGITS = 9
"""Observed values are rounded to this many decimals before grading: binary floating point would
otherwise put a swing from -4 to -12 bps a hair below 8 bps."""


def grade_value(observed: float, threshold: Threshold) -> Status:
    if observed >= threshold.breach:
        return "breach"
    if observed >= threshold.warn:
        return "warn"
    return "ok"


_WORDS = {
    "ok": "within limits",
    "warn": "at or above the warning level",
    "breach": "at or above the limit",
}


def resolve_threshold(
    table: AssetLimits,
    asset: str,
    exchange: str | None,
    jurisdiction_of: Callable[[str], str | None],
) -> Resolved | None:
    """The threshold of ``table`` that applies to ``asset`` (on ``exchange``), looking the
    exchange's jurisdiction up with ``jurisdiction_of``; ``None`` when none applies."""
    jurisdiction = jurisdiction_code(jurisdiction_of(exchange)) if exchange else None
    return table.resolve(asset, exchange, jurisdiction)


def status_of(m: Measurement, t: Threshold) -> tuple[Status, float | None]:
    """The status of ``m`` against ``t``, and the observed value graded: ``error`` when it could
    not be measured, ``ok`` when reported but not graded, else by the rounded value."""
    if m.error is not None or m.value is None:
        return "error", None
    if m.not_graded is not None:
        return "ok", m.value
    observed = round(m.value, ROUND_DIGITS)
    return grade_value(observed, t), observed


def grade(
    m: Measurement, table: AssetLimits, day: date, jurisdiction_of: Callable[[str], str | None]
) -> LimitOutcome | None:
    """``m`` against the threshold that applies to its scope; ``None`` when none applies."""
    resolved = resolve_threshold(table, m.asset, m.exchange, jurisdiction_of)
    if resolved is None:
        return None
    t = resolved.threshold
    unit = CHECK_UNITS[m.check]
    title = CHECK_TITLES[m.check]
    limits_text = (
        f"warn {format_value(t.warn, unit)}, limit {format_value(t.breach, unit)}; "
        f"{resolved.source} value"
    )
    status, observed = status_of(m, t)
    if status == "error":
        message = f"{title} for {m.scope}: not computable: {m.error or 'no value'}"
    elif m.not_graded is not None:
        message = f"{title} for {m.scope}: {m.text}; not graded: {m.not_graded} ({limits_text})"
    else:
        message = f"{title} for {m.scope}: {m.text} is {_WORDS[status]} ({limits_text})"
    return LimitOutcome(
        check=m.check,
        scope=m.scope,
        day=day,
        observed=observed,
        warn_at=t.warn,
        limit=t.breach,
        status=status,
        message=message,
        evidence=m.evidence,
        unit=unit,
        threshold_scope=resolved.source,
        detail=dict(m.detail),
    )


# --- measuring ------------------------------------------------------------------------------------

Measure = Callable[[AssetDay, date, CheckContext, AssetLimits | None], Iterator[Measurement]]


def _shas(intervals: Iterable[Interval]) -> tuple[str, ...]:
    return tuple(sorted({sha for i in intervals for sha in i.evidence}))


def _window_shas(
    data: AssetDay, start: datetime, hours: int, exchange: str | None
) -> tuple[str, ...]:
    end = start + timedelta(seconds=hours * data.interval_seconds)
    window = [i for i in data.intervals if start <= i.start < end]
    if exchange is None:
        return _shas(window)
    return tuple(sorted({sha for i in window for sha in i.evidence_of(exchange)}))


def _exchange_shas(data: AssetDay, exchange: str) -> tuple[str, ...]:
    return data.exchange_evidence(exchange)


def _exchanges(data: AssetDay, table: AssetLimits | None) -> list[str]:
    """Exchanges seen in the day, and those a limit names for this asset even when quiet."""
    named = table.named_scopes(data.asset) if table is not None else ()
    return sorted(set(data.by_exchange) | set(named))


def _gaps(
    data: AssetDay, day: date, ctx: CheckContext, _t: AssetLimits | None
) -> Iterator[Measurement]:
    missing = missing_intervals(
        (i.start for i in data.intervals), data.start, ctx.effective_as_of(day)
    )
    text = f"{len(missing)} hourly interval{'s' if len(missing) != 1 else ''} missing" + (
        f" ({compact_hours(missing)} UTC)" if missing else ""
    )
    detail = {"missing": [m.isoformat() for m in missing]}
    yield Measurement("gaps", data.asset, None, float(len(missing)), text, data.evidence, detail)


def _staleness(
    data: AssetDay, day: date, ctx: CheckContext, _t: AssetLimits | None
) -> Iterator[Measurement]:
    newest = data.intervals[-1].start if data.intervals else None
    as_of = ctx.effective_as_of(day)
    step = timedelta(seconds=data.interval_seconds)
    hours = staleness_hours(newest, as_of, step)
    assert newest is not None
    ends = newest + step
    text = f"newest interval ends {ends:%H:%M} UTC, {hours:g} h before {as_of:%Y-%m-%d %H:%M} UTC"
    detail = {"newest_interval_start": newest.isoformat(), "as_of": as_of.isoformat()}
    yield Measurement(
        "staleness", data.asset, None, hours, text, data.intervals[-1].evidence, detail
    )


def _reconciliation(
    data: AssetDay, day: date, ctx: CheckContext, table: AssetLimits | None
) -> Iterator[Measurement]:
    against = table.against if isinstance(table, ReconciliationLimits) else None
    name = f"reconciliation with {against}" if against else "reconciliation"

    def error(why: str) -> Measurement:
        return Measurement("reconciliation", data.asset, None, None, name, error=why)

    if against is None:
        yield error("no second source configured (reconciliation.against in limits.toml)")
        return
    if against == data.source:
        yield error(f"the second source {against!r} is the source being checked")
        return
    other = (ctx.second or {}).get(data.asset)
    if other is None or not other.intervals:
        yield error(f"no {against} data for {data.asset} on {day}: needs a second source")
        return
    a, b = data.totals.total_usd, other.totals.total_usd
    pct = reconciliation_pct(a, b)
    text = f"{data.source} {format_value(a, 'usd')} against {against} {format_value(b, 'usd')}"
    text += f", {pct:.2f}% apart"
    detail = {"source": data.source, "source_usd": a, "against": against, "against_usd": b}
    evidence = tuple(sorted(set(data.evidence) | set(other.evidence)))
    yield Measurement("reconciliation", data.asset, None, pct, text, evidence, detail)


def _daily(
    data: AssetDay, _day: date, _ctx: CheckContext, _t: AssetLimits | None
) -> Iterator[Measurement]:
    usd = data.totals.total_usd
    detail = {"usd": usd, "count": data.totals.total_count}
    yield Measurement(
        "daily_usd", data.asset, None, usd, format_value(usd, "usd"), data.evidence, detail
    )


_SPAN = {1: "the hour", 2: "the two hours"}


def _peak(check: str, data: AssetDay, code: str | None, hours: int, by: str) -> Measurement | None:
    """The largest ``hours``-hour window of the day (all exchanges, or ``code``'s) by ``by``
    (``usd`` or ``count``); ``None`` when no hour has anything."""
    if not data.intervals or (code is not None and code not in data.by_exchange):
        return None  # no hour has anything
    usd, count = data.hourly_slots(code)
    peak = largest_run(usd, count, data.start, hours, by=by)
    if peak is None:
        return None
    value = peak.usd if by == "usd" else float(peak.count)
    shown = format_value(value, "usd") if by == "usd" else f"{peak.count:,} liquidations"
    span = _SPAN.get(hours, f"the {hours} hours")
    detail = {
        "window_start": peak.start.isoformat(),
        "hours": hours,
        "usd": peak.usd,
        "count": peak.count,
    }
    return Measurement(
        check,
        data.asset,
        code,
        value,
        f"{shown} in {span} from {peak.start:%H:%M} UTC",
        _window_shas(data, peak.start, hours, code),
        detail,
    )


def _velocity(check: str, hours: int, by: str) -> Measure:
    def measure(
        data: AssetDay, _day: date, _ctx: CheckContext, _t: AssetLimits | None
    ) -> Iterator[Measurement]:
        m = _peak(check, data, None, hours, by)
        assert m is not None  # coverage guards the empty day
        yield m

    return measure


def _imbalance(
    data: AssetDay, _day: date, _ctx: CheckContext, table: AssetLimits | None
) -> Iterator[Measurement]:
    t = data.totals
    found = imbalance(t.long_usd, t.short_usd)
    floor = table.min_usd if isinstance(table, ShareLimits) else 0.0
    if found is None:
        yield Measurement(
            "imbalance",
            data.asset,
            None,
            50.0,
            "no liquidations",
            data.evidence,
            {"long_pct": None, "usd": 0.0},
            not_graded="no liquidations in the day",
        )
        return
    text = (
        f"{found.side} liquidations {found.dominant_pct:.1f}% of {format_value(t.total_usd, 'usd')}"
    )
    detail = {
        "long_pct": found.long_pct,
        "side": found.side,
        "usd": t.total_usd,
        "long_usd": t.long_usd,
        "short_usd": t.short_usd,
    }
    below = (
        f"the day's {format_value(t.total_usd, 'usd')} is below the {format_value(floor, 'usd')} "
        "floor (imbalance.min_usd)"
        if t.total_usd < floor
        else None
    )
    yield Measurement(
        "imbalance",
        data.asset,
        None,
        found.dominant_pct,
        text,
        data.evidence,
        detail,
        not_graded=below,
    )


def _funding(
    data: AssetDay, day: date, ctx: CheckContext, _t: AssetLimits | None
) -> Iterator[Measurement]:
    start, end = day_bounds(day)
    points = ctx.overlays.funding_rates(data.source, data.asset, start, end)
    swing = funding_swing(points)
    if swing is None:
        why = "no funding-rate data" if not points else "no venue settled funding twice in the day"
        yield Measurement("funding_swing", data.asset, None, None, "", error=f"{why} ({day})")
        return
    text = (
        f"funding on {swing.venue} between {swing.low_bps:.1f} and {swing.high_bps:.1f} bps per "
        f"8h (from {swing.first_bps:.1f} to {swing.last_bps:.1f}), a swing of "
        f"{swing.swing_bps:.1f}"
    )
    detail = {
        "venue": swing.venue,
        "venues": swing.venues,
        "low_bps": swing.low_bps,
        "high_bps": swing.high_bps,
        "first_bps": swing.first_bps,
        "last_bps": swing.last_bps,
        "points": swing.points,
    }
    evidence = tuple(sorted({p.evidence for p in points if p.venue == swing.venue and p.evidence}))
    yield Measurement("funding_swing", data.asset, None, swing.swing_bps, text, evidence, detail)


def _open_interest(
    data: AssetDay, day: date, ctx: CheckContext, _t: AssetLimits | None
) -> Iterator[Measurement]:
    start, end = day_bounds(day)
    previous_start = start - (end - start)
    today = ctx.overlays.open_interest(data.source, data.asset, start, end)
    before = ctx.overlays.open_interest(data.source, data.asset, previous_start, start)
    found = open_interest_change(before, today)
    if isinstance(found, str):
        yield Measurement("oi_change", data.asset, None, None, "", error=f"{found} ({day})")
        return
    verb = "rose" if found.change_pct >= 0 else "fell"
    text = (
        f"open interest {verb} {abs(found.change_pct):.1f}% "
        f"({format_value(found.previous_usd, 'usd')} to {format_value(found.current_usd, 'usd')}"
        f" on {', '.join(found.venues)})"
    )
    detail = {
        "change_pct": found.change_pct,
        "previous_usd": found.previous_usd,
        "current_usd": found.current_usd,
        "venues": list(found.venues),
    }
    evidence = tuple(
        sorted({p.evidence for p in (*before, *today) if p.venue in found.venues and p.evidence})
    )
    yield Measurement("oi_change", data.asset, None, abs(found.change_pct), text, evidence, detail)


def _daily_exchange(
    data: AssetDay, _day: date, _ctx: CheckContext, table: AssetLimits | None
) -> Iterator[Measurement]:
    for code in _exchanges(data, table):
        vols = data.by_exchange.get(code, Volumes())
        detail = {"usd": vols.total_usd, "count": vols.total_count}
        yield Measurement(
            "daily_usd_exchange",
            data.asset,
            code,
            vols.total_usd,
            format_value(vols.total_usd, "usd"),
            _exchange_shas(data, code),
            detail,
        )


def _velocity_exchange(check: str, by: str) -> Measure:
    def measure(
        data: AssetDay, _day: date, _ctx: CheckContext, table: AssetLimits | None
    ) -> Iterator[Measurement]:
        for code in _exchanges(data, table):
            peak = _peak(check, data, code, 1, by)
            if peak is None:  # a named exchange with nothing all day
                peak = Measurement(check, data.asset, code, 0.0, "nothing in any hour", (), {})
            yield peak

    return measure


def _concentration(
    data: AssetDay, _day: date, _ctx: CheckContext, table: AssetLimits | None
) -> Iterator[Measurement]:
    whole = data.totals.total_usd
    floor = table.min_usd if isinstance(table, ExchangeShareLimits) else 0.0
    below = (
        f"{data.asset}'s day of {format_value(whole, 'usd')} is below the "
        f"{format_value(floor, 'usd')} floor (concentration.min_usd)"
        if whole < floor
        else None
    )
    for code in _exchanges(data, table):
        part = data.by_exchange.get(code, Volumes()).total_usd
        pct = share_pct(part, whole)
        text = (
            f"{pct:.1f}% of {data.asset}'s {format_value(whole, 'usd')}"
            if pct is not None
            else "no liquidations in the day"
        )
        detail = {"usd": part, "asset_usd": whole}
        yield Measurement(
            "concentration",
            data.asset,
            code,
            pct if pct is not None else 0.0,
            text,
            _exchange_shas(data, code),
            detail,
            not_graded=below if pct is not None else "no liquidations in the day",
        )


MEASURES: dict[str, Measure] = {
    "gaps": _gaps,
    "staleness": _staleness,
    "reconciliation": _reconciliation,
    "daily_usd": _daily,
    "velocity_usd": _velocity("velocity_usd", 1, "usd"),
    "velocity_count": _velocity("velocity_count", 1, "count"),
    "velocity_2h_usd": _velocity("velocity_2h_usd", 2, "usd"),
    "velocity_2h_count": _velocity("velocity_2h_count", 2, "count"),
    "imbalance": _imbalance,
    "funding_swing": _funding,
    "oi_change": _open_interest,
    "daily_usd_exchange": _daily_exchange,
    "velocity_usd_exchange": _velocity_exchange("velocity_usd_exchange", "usd"),
    "velocity_count_exchange": _velocity_exchange("velocity_count_exchange", "count"),
    "concentration": _concentration,
}
"""Every check with limits, by name: how it measures one asset's day."""


def measure(
    check: str, data: AssetDay, day: date, ctx: CheckContext, table: AssetLimits | None
) -> list[Measurement]:
    """One check on one asset's day. A day without data is an error measurement per scope; a
    crashing check raises (:func:`evaluate` turns that into an ``error`` result)."""
    if not data.intervals:
        why = f"cannot compute: no data for {data.asset} from {data.source} on {day}"
        # per asset; a per-exchange check also on the asset itself (no exchange is known) and
        # on every exchange a limit names
        scopes: list[str | None] = [None]
        if CATALOGUE[check].level == "asset_exchange":
            scopes += _exchanges(data, table)
        return [Measurement(check, data.asset, code, None, "", error=why) for code in scopes]
    return list(MEASURES[check](data, day, ctx, table))


# --- the day --------------------------------------------------------------------------------------


def _coverage(data: AssetDay, day: date) -> LimitOutcome:
    received, expected = data.intervals_received, data.intervals_expected
    status: Status
    if received == 0:
        status, message = "error", f"no data for {data.asset} from {data.source} on {day}"
    elif received < expected:
        status, message = "warn", f"{data.asset}: {received} of {expected} intervals received"
    else:
        status, message = "ok", f"{data.asset}: all {expected} intervals received"
    return LimitOutcome(
        "coverage",
        data.asset,
        day,
        float(received),
        None,
        float(expected),
        status,
        message,
        data.evidence,
        unit="intervals",
        detail={"received": received, "expected": expected},
    )


def _error_outcome(check: str, scope: str, day: date, why: str) -> LimitOutcome:
    return LimitOutcome(
        check,
        scope,
        day,
        None,
        None,
        None,
        "error",
        f"{CHECK_TITLES[check]} for {scope}: {why}",
        unit=CHECK_UNITS[check],
    )


def evaluate(
    metrics: dict[str, AssetDay],
    day: date,
    settings: Settings,
    *,
    context: CheckContext | None = None,
    limits: LimitSet | None = None,
) -> list[CheckOutcome]:
    """Every configured check on every scope of ``day``; never raises.

    ``limits`` replaces the configured limit set (a backtest's candidate). Per asset: ``coverage``
    first, then the checks in the order of :class:`reporting.checks.limits.LimitSet`.
    """
    ctx = context or CheckContext()
    limit_set = limits or settings.limits
    outcomes: list[CheckOutcome] = []
    for asset, data in metrics.items():
        outcomes.append(_coverage(data, day))
        for check in limit_set.configured_checks():
            table = limit_set.for_check(check)
            assert table is not None
            try:
                for m in measure(check, data, day, ctx, table):
                    graded = grade(m, table, day, settings.jurisdiction)
                    if graded is not None:
                        outcomes.append(graded)
            except Exception as exc:  # grading itself failed: still a result, not a dead run
                why = f"check failed: {type(exc).__name__}: {exc}"
                outcomes.append(_error_outcome(check, asset, day, why))
    return outcomes
