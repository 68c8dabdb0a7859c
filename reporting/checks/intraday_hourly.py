"""Intraday limits evaluated on fetched hourly interval volumes (Kaiko, the demo set), as soon as
an hour lands: in the transaction that stores the page (:func:`evaluate_page`).

The streams are evaluated on every committed batch (:mod:`.intraday`); a firm without them, or an
exchange they do not cover, is watched on its hourly fetch instead. The same limit set applies,
with the same decisions (:func:`.intraday.judge`: new, escalated, repeat, resolved with
hysteresis), on the figures an hour gives:

* Only tables whose window is whole hours are measured: ``[velocity_usd_60m]``,
  ``[velocity_count_4h]``, ``[imbalance_60m]``, ``[exposure_usd_day]``. A 5- or 15-minute window
  cannot be read off hourly figures and is left to the streams.
* The window ending with hour ``h`` is the hours ``h - window + 1h .. h`` (for exposure, 00:00 UTC
  to the end of ``h``), each hour at its current version: the newest leaf holding the interval
  wins, its total and breakdown together, as the daily checks read it. Its cost is the window's
  hours of one scope (at most 48 rows a scope), never the day's data.
* The hysteresis counts hours: the windows ending with each of the last
  ``ceil(resolve_after_minutes / 60)`` hours (at least one) must all be under;
  ``repeat_minutes`` is measured between window ends, so it repeats on the hour.
* Only hours that ended within :data:`HORIZON` of the fetch are evaluated, oldest first, each
  once: a backfill of last year alerts no one, and an hour already judged for a scope (or a later
  one) is not judged again, so a correction of an hour already evaluated is left to the daily
  checks, which read current versions. Of a page holding several such hours (a first fetch, a
  catch-up after a stop) every change of an episode is stored, a ``repeat`` only on its newest.

Which scopes a source owns follows ``fetch.default_source`` (:func:`plan_for`), so the same
liquidations are not alerted twice by two feeds of the same figure: only the first interval-volume
source listed is evaluated; the per-asset scope (``per = "asset"``, Kaiko's total across its
exchanges) only when that source is listed first; an exchange scope (``BTC/bbit``) for every
exchange of the page except, when the streams are listed ahead of the source, the venues the
streams collect (their batches are evaluated instead). A row's ``feed`` is the source's name; an
episode is followed per limit, scope and feed, never mixing minute and hourly figures.

The venues behind a per-asset crossing (``top``) are the exchanges of the window with the most
USD; an hourly source names no instruments.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.models import ALL_EXCHANGES, IntervalVolume, Snapshot
from audit_store.tables_intraday import IntradayResult
from reporting.checks.intraday import (
    OPEN_KINDS,
    TOP,
    Decision,
    Scope,
    judge,
    latest_row,
    open_scopes,
)
from reporting.checks.intraday_measures import (
    MINUTE,
    MinuteSeries,
    Sums,
    Values,
    format_measure,
    spec_of,
    window_first,
    window_length,
    window_note,
)
from reporting.checks.limits import IntradayLimits, LimitSet, Threshold, jurisdiction_code
from reporting.checks.store import limit_set_canonical, record_limit_set
from reporting.fetch.registry import STREAMS, source_parts, volume_parts
from reporting.records import IntervalValues

HOUR = timedelta(hours=1)
HOUR_SECONDS = 3600
HORIZON = timedelta(hours=24)
"""Hours that ended longer ago than this before the fetch are not evaluated intraday."""

Top = tuple[tuple[str, str, float, int], ...]


@dataclass(frozen=True)
class HourlyPlan:
    """What one source's pages are evaluated for (:func:`plan_for`)."""

    source: str  # the feed: "kaiko" or "demo"
    per_asset: bool  # the per-asset scopes are this source's
    skipped: frozenset[str]  # exchange codes the streams own


@dataclass(frozen=True)
class Page:
    """A stored page of interval volumes, as the evaluation needs it."""

    snapshot_id: int
    leaf_index: int
    values: tuple[IntervalValues, ...]


def plan_for(default_source: str, source: str, streamed: Iterable[str]) -> HourlyPlan | None:
    """Whether pages of ``source`` are evaluated under ``fetch.default_source`` (``None``: not),
    and for which scopes; ``streamed`` holds the exchange codes of the venues the streams
    collect."""
    parts = source_parts(default_source)
    fetched = volume_parts(default_source)
    if not fetched or fetched[0] != source:
        return None
    ahead = parts[: parts.index(source)]
    skipped = frozenset(streamed) if STREAMS in ahead else frozenset()
    return HourlyPlan(source, per_asset=not ahead, skipped=skipped)


def hourly_tables(limits: LimitSet) -> list[tuple[str, IntradayLimits]]:
    """The intraday tables hourly figures can measure: whole-hour windows, and exposure."""
    return [
        (name, table)
        for name, table in sorted(limits.intraday.items())
        if spec_of(table).since_midnight or table.minutes % 60 == 0
    ]


def landed_hours(page: Page, now: datetime) -> list[datetime]:
    """The starts of the page's hours that ended within :data:`HORIZON` before ``now``."""
    starts = {as_utc(r[3]) for r in page.values if r[4] == HOUR_SECONDS}
    return sorted(s for s in starts if now - HORIZON <= s + HOUR <= now)


def evaluate_page(
    session: Session,
    limits: LimitSet,
    jurisdictions: Mapping[str, str],
    page: Page,
    plan: HourlyPlan,
    *,
    limit_set_sha256: str,
    now: datetime,
) -> list[Decision]:
    """Evaluate the hourly intraday tables on each hour of ``page`` that landed within
    :data:`HORIZON`, for the assets of the page; add the rows decided (flushed, in the caller's
    transaction) and return them."""
    tables = hourly_tables(limits)
    hours = landed_hours(page, now)
    if not tables or not hours:
        return []
    decisions: list[Decision] = []
    for hour in hours:
        end = hour + HOUR - MINUTE  # the hour's last minute: windows end there
        for name, table in tables:
            for scope in _scopes(session, name, table, page, hour, plan):
                resolved = (
                    table.resolve(scope.asset)
                    if scope.exchange is None
                    else table.resolve(
                        scope.asset,
                        scope.exchange,
                        jurisdiction_code(jurisdictions.get(scope.exchange)),
                    )
                )
                if resolved is None:
                    continue
                decision = _decide(
                    session, name, table, scope, resolved.threshold, end, page, plan,
                    newest=hour == hours[-1],
                )  # fmt: skip
                if decision is not None:
                    decision.result.source = resolved.source
                    decision.result.limit_set_sha256 = limit_set_sha256
                    decision.result.created_at = now
                    session.add(decision.result)
                    session.flush()  # the next hour's decision reads it
                    decisions.append(decision)
    if decisions:
        record_limit_set(session, limits, limit_set_sha256, limit_set_canonical(limits), now)
        session.flush()
    return decisions


def _scopes(
    session: Session, name: str, table: IntradayLimits, page: Page, hour: datetime, plan: HourlyPlan
) -> list[Scope]:
    """The page's scopes with figures for ``hour``, and the open episodes of the page's assets."""
    rows = [r for r in page.values if r[4] == HOUR_SECONDS and as_utc(r[3]) == hour]
    assets = {r[1] for r in page.values}
    found: set[Scope] = set()
    if table.per == "asset":
        if not plan.per_asset:
            return []
        found = {Scope(r[1], None, None) for r in rows}
        found |= {Scope(s, None, None) for s in open_scopes(session, name, plan.source)}
    else:
        found = {Scope(r[1], None, r[2]) for r in rows if r[2] != ALL_EXCHANGES}
        for scope in open_scopes(session, name, plan.source):
            asset, sep, code = scope.partition("/")
            if sep:
                found.add(Scope(asset, None, code))
    return sorted(
        (s for s in found if s.asset in assets and s.exchange not in plan.skipped),
        key=lambda s: s.name,
    )


@dataclass(frozen=True)
class _Window:
    """The hourly figures of a scope's windows: values, the newest window's sums, evidence."""

    values: Values
    sums: Sums
    leaves: list[int]
    top: Top


def hourly_window(
    session: Session, source: str, scope: Scope, table: IntradayLimits, end: datetime, count: int
) -> _Window:
    """The values of ``table``'s windows ending at minute ``end``, ``end - 1 hour``, ... (``count``
    of them, index 0 the newest), from the current version of each hour; and the newest window's
    sums, the leaves its hours rest on and (per asset) the exchanges with the most USD in it."""
    points = [end - k * HOUR for k in range(count)]
    lo = min(window_first(table, p) for p in points)
    hours = current_hours(session, source, scope.asset, lo, end)
    wanted = scope.exchange or ALL_EXCHANGES
    at_minute = {
        start + HOUR - MINUTE: by_exchange.get(wanted, (0.0, 0.0, 0.0, 0.0))
        for start, (_leaf, by_exchange) in hours.items()
    }
    series = MinuteSeries.of(at_minute, lo, end)
    sums = series.windows(table, [series.index(p) for p in points])
    first = window_first(table, end)
    newest = {s: h for s, h in hours.items() if s >= first}
    leaves = sorted({leaf for leaf, _ in newest.values()})
    top = top_exchanges(newest) if scope.exchange is None else ()
    return _Window(spec_of(table).value(sums, table), sums.at(0), leaves, top)


def current_hours(
    session: Session, source: str, asset: str, first: datetime, last: datetime
) -> dict[datetime, tuple[int, dict[str, Sums]]]:
    """Per hour starting in ``first .. last``: the leaf of its current version (the newest leaf
    holding the hour's total row) and that leaf's sums per exchange code (``*`` the total)."""
    iv = IntervalVolume
    query = (
        select(
            col(iv.interval_start),
            col(iv.exchange),
            col(iv.long_usd),
            col(iv.short_usd),
            col(iv.long_count),
            col(iv.short_count),
            col(Snapshot.leaf_index),
        )
        .join(Snapshot, col(Snapshot.id) == col(iv.snapshot_id))
        .where(
            col(iv.source) == source,
            col(iv.asset) == asset,
            col(iv.interval_seconds) == HOUR_SECONDS,
            col(iv.interval_start) >= first,  # whole-hour windows start on the hour
            col(iv.interval_start) <= last,
            col(Snapshot.quarantined).is_(False),
        )
    )
    rows = list(session.execute(query))
    newest: dict[datetime, int] = {}
    for start, code, *_values, leaf in rows:
        if code == ALL_EXCHANGES:
            key = as_utc(start)
            newest[key] = max(newest.get(key, -1), int(leaf))
    found: dict[datetime, tuple[int, dict[str, Sums]]] = {k: (v, {}) for k, v in newest.items()}
    for start, code, lu, su, lc, sc, leaf in rows:
        key = as_utc(start)
        if key in found and found[key][0] == leaf:
            found[key][1][str(code)] = (float(lu), float(su), float(lc), float(sc))
    return found


def _decide(
    session: Session,
    name: str,
    table: IntradayLimits,
    scope: Scope,
    threshold: Threshold,
    end: datetime,
    page: Page,
    plan: HourlyPlan,
    *,
    newest: bool = True,
) -> Decision | None:
    latest = latest_row(session, name, scope.name, plan.source)
    if latest is not None and end <= as_utc(latest.window_end) - MINUTE:
        return None  # this hour (or a later one) has been judged for the scope
    last_end = as_utc(latest.window_end) - MINUTE if latest is not None else end
    is_open = latest is not None and latest.kind in OPEN_KINDS
    held = hysteresis_hours(table)
    window = hourly_window(session, plan.source, scope, table, end, held if is_open else 1)
    kind, status, level = judge(latest, window.values, threshold, table, end - last_end)
    if kind is None or (kind == "repeat" and not newest):
        return None  # a page of several hours repeats only on its newest
    start, stop = window_first(table, end), end + MINUTE
    episode = (
        f"{name}|{scope.name}|{stop.isoformat()}|{plan.source}"
        if kind == "new" or latest is None
        else latest.episode
    )
    leaves = (
        window.leaves if page.leaf_index in window.leaves else [*window.leaves, page.leaf_index]
    )
    top = window.top if kind != "resolved" else ()
    if kind == "resolved":
        detail = resolved_detail(table, level, held, window.values, plan.source)
    else:
        detail = _detail(table, window.sums, top, plan.source, stop - start)
    result = IntradayResult(
        snapshot_id=page.snapshot_id,
        limit_name=name,
        measure=table.measure,
        window_minutes=window_length(table, end),
        scope=scope.name,
        source="",
        kind=kind,
        status=status,
        episode=episode,
        observed=float(window.values.value[0]),
        warn_at=threshold.warn,
        limit=threshold.breach,
        window_start=start,
        window_end=stop,
        limit_set_sha256="",
        leaves_json=json.dumps(leaves),
        detail=detail,
        created_at=stop,
        feed=plan.source,
    )
    episode_status = latest.status if kind == "resolved" and latest is not None else status
    return Decision(result, top, level, episode_status)


def hysteresis_hours(table: IntradayLimits) -> int:
    """The hourly windows that must all be under for an episode to resolve."""
    return max(math.ceil(table.hysteresis.resolve_after_minutes / 60), 1)


def _detail(table: IntradayLimits, sums: Sums, top: Top, source: str, span: timedelta) -> str:
    hours = int(span / HOUR)
    parts = [window_note(table, sums), f"{source} hourly volumes, {hours} hour(s)"]
    if top:
        behind = ", ".join(f"{v}: {u:.0f} USD in {n} events" for v, _, u, n in top)
        parts.append(f"top exchanges: {behind}")
    return "; ".join(p for p in parts if p)


def resolved_detail(
    table: IntradayLimits, level: float, held: int, values: Values, source: str
) -> str:
    text = (
        f"under {format_measure(level, table.measure)} (hysteresis) for {held} hour(s) of "
        f"{source} hourly volumes"
    )
    thin = sum(1 for graded in values.graded if not graded)
    if thin:
        floor = getattr(table, "min_usd", 0.0)
        text += (
            f"; {thin} of those windows had not enough volume (under min_usd "
            f"{format_measure(floor, 'usd')}), counted as under"
        )
    return text


def stored_top(session: Session, result: IntradayResult) -> Top:
    """The exchanges behind a stored hourly result (per asset; none for an exchange scope), read
    again from the same current versions its evaluation read."""
    asset, sep, _code = result.scope.partition("/")
    if sep or result.kind == "resolved":
        return ()
    end = as_utc(result.window_end) - MINUTE
    first = as_utc(result.window_start)
    return top_exchanges(current_hours(session, result.feed, asset, first, end))


def top_exchanges(hours: Mapping[datetime, tuple[int, dict[str, Sums]]]) -> Top:
    """The :data:`.intraday.TOP` exchanges with the most USD over ``hours`` (venue, no instrument,
    USD, liquidations), largest first."""
    totals: dict[str, tuple[float, float]] = {}
    for _leaf, by_exchange in hours.values():
        for code, (lu, su, lc, sc) in by_exchange.items():
            if code != ALL_EXCHANGES:
                usd, n = totals.get(code, (0.0, 0.0))
                totals[code] = (usd + lu + su, n + lc + sc)
    ranked = sorted(totals.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP]
    return tuple((code, "", usd, int(n)) for code, (usd, n) in ranked if usd > 0)
