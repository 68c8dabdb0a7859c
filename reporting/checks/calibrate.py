"""Proposing limits from history, and the time to the next liquidation cluster.

**Calibration.** For each check and scope, the day values over the chosen range give the proposal:
``breach`` is their ``percentile``-th percentile and ``warn`` their ``warn_percentile``-th (linear
interpolation between order statistics, numpy's default). Each comes with a percentile-bootstrap
confidence interval: the days are resampled with replacement ``resamples`` times, the percentile is
taken of every resample, and the interval is the central ``confidence`` share of those. The random
generator is seeded, so the same history and options always give the same proposal. Days a check
could not measure (no data) are left out; so are days below a share check's ``min_usd`` floor. An
exchange that had no liquidations on a day the asset had some counts as zero that day.

With ``n`` days, a percentile above ``100 * (1 - 1/n)`` lies beyond what the sample resolves: the
estimate sits at the sample maximum and the bootstrap cannot reach above it. Such proposals are
flagged; they need more history, or judgement.

**Intraday tables** (``[velocity_usd_15m]``, ``[exposure_usd_day]``, ``[imbalance_60m]`` of the
limit set in force, or those asked for with ``--check``) are calibrated the same way on the
stored stream minutes: the day values are each day's peak window value per scope (the window
ending at every minute measured, :func:`reporting.checks.intraday_history.day_peaks`), so a
breach at the p99 is crossed on about 1 day in 100. An imbalance counts graded windows only.

**Time to the next cluster.** An hour is a cluster hour of an asset when its liquidations reach the
configured level (``[clusters]`` in ``limits.toml``); consecutive cluster hours make one cluster.
The gaps, in hours, between successive cluster starts are fitted with a two-parameter Weibull
distribution (``scipy.stats.weibull_min.fit`` with the location fixed at 0), giving its shape ``k``
and scale ``lambda``. ``P(cluster within 24h) = 1 - exp(-(24/lambda)^k)`` counts from a cluster
start; ``P(next 24h)`` is the same given the hours already elapsed since the last cluster start at
the end of the range, ``1 - S(e + 24) / S(e)``. The fit needs at least :data:`MIN_GAPS` gaps.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from itertools import pairwise

import numpy as np
from scipy import stats

from audit_store.db import Store
from reporting.checks.backtest import MeasuredHistory, history_by_day, measure_history
from reporting.checks.catalogue import CATALOGUE, CATALOGUE_ORDER
from reporting.checks.engine import resolve_threshold
from reporting.checks.intraday_history import (
    day_peaks,
    lead_minutes,
    load_stream_history,
    measure_unit,
)
from reporting.checks.limits import AssetLimits, LimitSet, Threshold
from reporting.checks.measures import HOUR
from reporting.checks.metrics import AssetDay, day_bounds
from reporting.checks.overlays import RangeOverlays
from reporting.config import Settings

MIN_GAPS = 5


@dataclass(frozen=True)
class PercentileCI:
    percentile: float
    estimate: float
    low: float
    high: float


def percentile_cis(
    values: Sequence[float],
    percentiles: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[PercentileCI]:
    """Each percentile of ``values`` with its percentile-bootstrap interval (same resamples)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} must lie between 0 and 1")
    ps = np.asarray(percentiles, dtype=float)
    estimates = np.percentile(x, ps)
    rng = np.random.default_rng(seed)
    boots = np.empty((resamples, ps.size))
    chunk = max(1, 2_000_000 // x.size)  # bounded memory for long histories
    for first in range(0, resamples, chunk):
        count = min(chunk, resamples - first)
        sample = x[rng.integers(0, x.size, size=(count, x.size))]
        boots[first : first + count] = np.percentile(sample, ps, axis=1).T
    alpha = (1.0 - confidence) / 2.0
    lows = np.percentile(boots, 100 * alpha, axis=0)
    highs = np.percentile(boots, 100 * (1 - alpha), axis=0)
    return [
        PercentileCI(float(p), float(e), float(lo), float(hi))
        for p, e, lo, hi in zip(ps, estimates, lows, highs, strict=True)
    ]


@dataclass(frozen=True)
class Proposal:
    check: str
    scope: str
    unit: str
    key: str  # where it goes in limits.toml: asset.BTC or asset_exchange."BTC/binc"
    n: int
    warn: PercentileCI
    breach: PercentileCI
    current: Threshold | None
    current_source: str | None
    unresolved: bool  # the breach percentile lies beyond what n days resolve

    @property
    def proposed(self) -> Threshold:
        warn, breach = round_sig(self.warn.estimate), round_sig(self.breach.estimate)
        return Threshold(warn=min(warn, breach), breach=breach)


def round_sig(value: float, digits: int = 3) -> float:
    """``value`` to ``digits`` significant figures (what a reviewer reads and a file keeps)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


@dataclass(frozen=True)
class ClusterFit:
    asset: str
    level_usd: float | None
    hours: int  # hours of history looked at
    clusters: int = 0
    n: int = 0  # gaps fitted
    shape: float | None = None
    scale: float | None = None
    p_within_24h: float | None = None  # from a cluster start
    hours_since_last: float | None = None  # at the end of the range
    p_next_24h: float | None = None  # given the hours since the last cluster start
    problem: str | None = None  # why there is no fit


@dataclass(frozen=True)
class Calibration:
    start: date
    end: date
    source: str
    days: int
    percentile: float
    warn_percentile: float
    confidence: float
    resamples: int
    seed: int
    proposals: tuple[Proposal, ...]
    clusters: tuple[ClusterFit, ...]
    problems: tuple[str, ...]
    intraday: tuple[str, ...] = ()  # the intraday tables calibrated (on stream minutes)


def _values_by_scope(
    history: MeasuredHistory,
) -> dict[tuple[str, str, str, str | None], list[float]]:
    """Day values per (check, scope, asset, exchange), zeros filled for quiet exchanges."""
    found: dict[tuple[str, str, str, str | None], dict[date, float]] = {}
    asset_days: dict[tuple[str, str], set[date]] = {}
    for day, m in history.measurements:
        if m.error is not None or m.value is None:
            continue
        asset_days.setdefault((m.check, m.asset), set()).add(day)
        if m.not_graded is not None:
            continue
        found.setdefault((m.check, m.scope, m.asset, m.exchange), {})[day] = m.value
    out: dict[tuple[str, str, str, str | None], list[float]] = {}
    for key, by_day in found.items():
        check, _scope, asset, exchange = key
        if exchange is not None:
            for day in asset_days.get((check, asset), set()):
                by_day.setdefault(day, 0.0)
        out[key] = [by_day[d] for d in sorted(by_day)]
    return out


def propose(
    history: MeasuredHistory,
    limits: LimitSet,
    jurisdictions: Mapping[str, str] | Callable[[str], str | None],
    *,
    percentile: float = 99.0,
    warn_percentile: float = 95.0,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[Proposal]:
    """A warn and breach proposal for every measured check and scope, in catalogue order.

    ``jurisdictions`` gives an exchange's jurisdiction (a mapping, or a lookup such as
    :meth:`reporting.config.Settings.jurisdiction`), to show the threshold in force.
    """
    _check_percentiles(percentile, warn_percentile)
    jurisdiction_of = jurisdictions.get if isinstance(jurisdictions, Mapping) else jurisdictions
    values = _values_by_scope(history)
    return [
        _proposal(
            check,
            scope,
            asset,
            exchange,
            xs,
            limits.for_check(check),
            CATALOGUE[check].unit,
            jurisdiction_of,
            percentile=percentile,
            warn_percentile=warn_percentile,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
        for (check, scope, asset, exchange), xs in sorted(
            values.items(), key=lambda kv: (CATALOGUE_ORDER.get(kv[0][0], 99), kv[0][1])
        )
    ]


def _check_percentiles(percentile: float, warn_percentile: float) -> None:
    if not 0 < warn_percentile <= percentile < 100:
        raise ValueError(
            f"need 0 < warn percentile ({warn_percentile}) <= percentile ({percentile}) < 100"
        )


def _proposal(
    check: str,
    scope: str,
    asset: str,
    exchange: str | None,
    xs: Sequence[float],
    table: AssetLimits | None,
    unit: str,
    jurisdiction_of: Callable[[str], str | None],
    *,
    percentile: float,
    warn_percentile: float,
    confidence: float,
    resamples: int,
    seed: int,
) -> Proposal:
    """One proposal from the day values ``xs`` of one check (or intraday table) and scope."""
    warn, breach = percentile_cis(
        xs, (warn_percentile, percentile), confidence=confidence, resamples=resamples, seed=seed
    )
    resolved = (
        resolve_threshold(table, asset, exchange, jurisdiction_of) if table is not None else None
    )
    key = f'asset_exchange."{scope}"' if exchange is not None else f"asset.{asset}"
    return Proposal(
        check=check,
        scope=scope,
        unit=unit,
        key=key,
        n=len(xs),
        warn=warn,
        breach=breach,
        current=resolved.threshold if resolved else None,
        current_source=resolved.source if resolved else None,
        unresolved=percentile > 100.0 * (1.0 - 1.0 / len(xs)),
    )


def propose_intraday(
    store: Store,
    limits: LimitSet,
    names: Sequence[str],
    start: date,
    end: date,
    jurisdiction_of: Callable[[str], str | None],
    *,
    percentile: float = 99.0,
    warn_percentile: float = 95.0,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[Proposal]:
    """A warn and breach proposal for each intraday table of ``names`` (of ``limits``) and each
    scope with stream minutes in ``start`` .. ``end``, from the days' peak window values."""
    _check_percentiles(percentile, warn_percentile)
    if not names:
        return []
    history = load_stream_history(store, start, end, lead_minutes(limits))
    proposals = []
    for name in names:
        table = limits.intraday[name]
        peaks = day_peaks(history, table, jurisdiction_of)
        for (scope, asset, exchange), xs in sorted(peaks.items()):
            proposals.append(
                _proposal(
                    name,
                    scope,
                    asset,
                    exchange,
                    xs,
                    table,
                    measure_unit(table.measure),
                    jurisdiction_of,
                    percentile=percentile,
                    warn_percentile=warn_percentile,
                    confidence=confidence,
                    resamples=resamples,
                    seed=seed,
                )
            )
    return proposals


def _toml_number(value: float, unit: str) -> str:
    if unit in ("usd", "count", "hours") and float(value).is_integer():
        return f"{int(value):_}"
    return f"{value:g}"


def _ci_text(ci: PercentileCI, unit: str) -> str:
    low, high = (_toml_number(round_sig(v), unit) for v in (ci.low, ci.high))
    return f"p{ci.percentile:g} {_toml_number(round_sig(ci.estimate), unit)} [{low}, {high}]"


def proposals_toml(calibration: Calibration) -> str:
    """The proposals as a TOML snippet for ``limits.toml``, each line annotated for review."""
    c = calibration
    pct = f"{100 * c.confidence:g}%"
    lines = [
        f"# Proposed by `liqrisk limits calibrate` from {c.source} data {c.start}..{c.end} "
        f"({c.days} days):",
        f"# breach = p{c.percentile:g}, warn = p{c.warn_percentile:g} of the day values, "
        "rounded to 3 significant figures;",
        f"# [low, high]: {pct} percentile-bootstrap intervals ({c.resamples} resamples, "
        f"seed {c.seed}). Review every line before use.",
    ]
    if c.intraday:
        lines.insert(
            2,
            "# intraday tables (" + ", ".join(c.intraday) + "): of each day's peak window value "
            "over the stored stream minutes;",
        )
    current_check = None
    for p in c.proposals:
        if p.check != current_check:
            lines += ["", f"[{p.check}]"]
            current_check = p.check
        t = p.proposed
        note = f"n={p.n}; {_ci_text(p.warn, p.unit)}; {_ci_text(p.breach, p.unit)}"
        if p.current is not None:
            note += (
                f"; now {_toml_number(p.current.warn, p.unit)}/"
                f"{_toml_number(p.current.breach, p.unit)} ({p.current_source})"
            )
        if p.unresolved:
            note += f"; p{p.breach.percentile:g} beyond what {p.n} days resolve"
        lines.append(
            f"{p.key} = {{ warn = {_toml_number(t.warn, p.unit)}, "
            f"breach = {_toml_number(t.breach, p.unit)} }}  # {note}"
        )
    return "\n".join(lines) + "\n"


# --- time to the next cluster ---------------------------------------------------------------------


def cluster_starts(hourly: Mapping[datetime, float], level: float) -> list[datetime]:
    """Starts of the runs of consecutive hours whose USD reaches ``level``."""
    hot = sorted(moment for moment, usd in hourly.items() if usd >= level)
    starts: list[datetime] = []
    previous: datetime | None = None
    for moment in hot:
        if previous is None or moment - previous != HOUR:
            starts.append(moment)
        previous = moment
    return starts


def gaps_hours(starts: Sequence[datetime]) -> list[float]:
    return [(b - a).total_seconds() / 3600.0 for a, b in pairwise(starts)]


def weibull_fit(gaps: Sequence[float]) -> tuple[float, float]:
    """Shape and scale of a two-parameter Weibull fitted to ``gaps`` by maximum likelihood."""
    data = np.asarray(gaps, dtype=float)
    if data.size < 2 or np.any(data <= 0):
        raise ValueError("need at least two positive gaps")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shape, _loc, scale = stats.weibull_min.fit(data, floc=0)
    return float(shape), float(scale)


def weibull_cdf(hours: float, shape: float, scale: float) -> float:
    return 1.0 - math.exp(-((hours / scale) ** shape))


def cluster_fit(
    asset: str, hourly: Mapping[datetime, float], level: float | None, as_of: datetime
) -> ClusterFit:
    """The Weibull time-to-cluster estimate of one asset over the hours in ``hourly``."""
    hours = len(hourly)
    if level is None:
        return ClusterFit(
            asset, None, hours, problem="no cluster level configured ([clusters] in limits.toml)"
        )
    starts = cluster_starts(hourly, level)
    gaps = gaps_hours(starts)
    since = (as_of - starts[-1]).total_seconds() / 3600.0 if starts else None
    unfit = partial(
        ClusterFit, asset, level, hours, clusters=len(starts), n=len(gaps), hours_since_last=since
    )
    if len(gaps) < MIN_GAPS:
        return unfit(
            problem=f"{len(gaps)} gap(s) between {len(starts)} cluster(s): "
            f"at least {MIN_GAPS} are needed"
        )
    try:
        shape, scale = weibull_fit(gaps)
    except (ValueError, RuntimeError) as exc:
        return unfit(problem=f"the Weibull fit failed: {exc}")
    p24 = weibull_cdf(24.0, shape, scale)
    p_next = None
    if since is not None:
        survive = 1.0 - weibull_cdf(since, shape, scale)
        p_next = (
            1.0 - (1.0 - weibull_cdf(since + 24.0, shape, scale)) / survive if survive > 0 else 1.0
        )
    return ClusterFit(
        asset,
        level,
        hours,
        clusters=len(starts),
        n=len(gaps),
        shape=shape,
        scale=scale,
        p_within_24h=p24,
        hours_since_last=since,
        p_next_24h=p_next,
    )


def cluster_fits(
    days: Mapping[date, Mapping[str, AssetDay]], limits: LimitSet, as_of: datetime
) -> list[ClusterFit]:
    """One fit per asset over every hour of ``days``."""
    hourly: dict[str, dict[datetime, float]] = {}
    for day in sorted(days):
        for asset, data in days[day].items():
            series = hourly.setdefault(asset, {})
            for interval in data.intervals:
                series[interval.start] = interval.volumes.total_usd
    return [
        cluster_fit(asset, series, limits.clusters.level_for(asset), as_of)
        for asset, series in hourly.items()
    ]


def measured_checks(limits: LimitSet, chosen: Iterable[str] | None) -> list[str]:
    """The daily checks to calibrate: those asked for, else the calibratable ones configured
    (an intraday table asked for is :func:`measured_intraday`'s)."""
    if chosen:
        names = [n for n in dict.fromkeys(chosen) if n not in limits.intraday]
        unknown = [n for n in names if n not in CATALOGUE or not CATALOGUE[n].calibrate]
        if unknown:
            known = ", ".join(n for n, s in CATALOGUE.items() if s.calibrate)
            tables = ", ".join(sorted(limits.intraday)) or "none in the limit set in force"
            raise ValueError(
                f"cannot calibrate {', '.join(unknown)}; the checks are: {known}; "
                f"intraday tables: {tables}"
            )
        return names
    return [n for n in limits.configured_checks() if CATALOGUE[n].calibrate]


def measured_intraday(limits: LimitSet, chosen: Iterable[str] | None) -> list[str]:
    """The intraday tables to calibrate: those asked for, else every one configured."""
    if chosen:
        return [n for n in dict.fromkeys(chosen) if n in limits.intraday]
    return sorted(limits.intraday)


def calibrate(
    store: Store,
    settings: Settings,
    start: date,
    end: date,
    *,
    percentile: float = 99.0,
    warn_percentile: float = 95.0,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    checks: Iterable[str] | None = None,
    source: str | None = None,
) -> Calibration:
    """Proposals for the limit set in force, and cluster fits, from the stored history."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    if resamples < 100:
        raise ValueError(f"{resamples} resamples are too few for an interval (use 100 or more)")
    source = source or settings.fetch.default_source
    names = measured_checks(settings.limits, checks)
    days = history_by_day(store, settings, start, end, source=source)
    begin, _ = day_bounds(start)
    _, finish = day_bounds(end)
    overlays = RangeOverlays(store, begin, finish)
    history = measure_history(days, names, settings.limits, source=source, overlays=overlays)
    proposals = propose(
        history,
        settings.limits,
        settings.jurisdiction,
        percentile=percentile,
        warn_percentile=warn_percentile,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    intraday = measured_intraday(settings.limits, checks)
    proposals += propose_intraday(
        store,
        settings.limits,
        intraday,
        start,
        end,
        settings.jurisdiction,
        percentile=percentile,
        warn_percentile=warn_percentile,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    problems = [f"{p.source}: {p.message}" for p in history.problems]
    proposed = {p.check for p in proposals}
    problems += [
        f"{n}: no day could be measured, nothing to propose" for n in names if n not in proposed
    ]
    problems += [
        f"{n}: no stream minutes in the range, nothing to propose"
        for n in intraday
        if n not in proposed
    ]
    return Calibration(
        start=start,
        end=end,
        source=source,
        days=(end - start).days + 1,
        percentile=percentile,
        warn_percentile=warn_percentile,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        proposals=tuple(proposals),
        clusters=tuple(cluster_fits(days, settings.limits, finish)),
        problems=tuple(problems),
        intraday=tuple(intraday),
    )
