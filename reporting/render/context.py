"""Build the :class:`~reporting.render.model.ReportModel` of a day or a week from the store.

Everything is read, nothing is recomputed that the store already decided: check results come from
the latest stored check run of each day (:func:`reporting.checks.latest_run`), figures from
:func:`reporting.checks.metrics.load_period` (the current value of every interval, i.e. the latest
snapshot's). The only derived numbers are presentational: sums per exchange and jurisdiction,
shares, the trailing seven-day mean. Every collection is put in a fixed order here, so the same
store gives the same model, and so the same bytes.

Every read is bounded by the render's :class:`~reporting.render.inputs.ReportInputs`: snapshots
(figures, overlays, quarantined pages, evidence, Merkle leaves) with ``leaf_index < tree_size``,
the recorded check run of each day, acknowledgements up to ``max_ack_id``, and the latest
checkpoint within the tree size signed by the generation time. A store that has grown since gives
the same model from the same inputs (``liqrisk reproduce``).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.merkle import root_from_leaf_hashes
from audit_store.models import Checkpoint, CheckResult, Snapshot
from reporting.checks.catalogue import CHECK_TITLES, RESULT_UNITS
from reporting.checks.metrics import TRAILING_DAYS, AssetDay, Volumes, day_bounds, load_period
from reporting.checks.overlay_store import (
    FundingPoint,
    OpenInterestPoint,
    funding_rates,
    open_interest,
)
from reporting.checks.overlays import venue_interval_hours
from reporting.checks.store import StoredRun, latest_run, limit_set_hash
from reporting.checks.stream_compare import reference_intervals
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.render import formatting as fmt
from reporting.render.inputs import ReportInputs, capture_inputs, period_days
from reporting.render.intraday import build_intraday
from reporting.render.model import (
    AssetMarket,
    Badge,
    ChartData,
    CheckpointRef,
    Counts,
    CoverageRow,
    ExchangeRef,
    Finding,
    FundingLine,
    Heatmap,
    HourlySeries,
    JurisdictionRow,
    MarketRow,
    Move,
    OverlayVenue,
    Period,
    Provenance,
    QuarantinedSnapshot,
    ReportModel,
    RunRef,
    ScopeRef,
    StoredResult,
    UnknownExchange,
)
from reporting.render.streams import StreamsSection, build_streams
from reporting.render.summary import build_summary

MAX_HEATMAP_EXCHANGES = 12  # more columns than this are folded into "other"
SEVERITY = {"breach": 0, "warn": 1, "error": 2, "ok": 3}
_EVIDENCE_CHUNK = 500  # SQL parameters per IN (...) query


def exchange_ref(settings: Settings, code: str) -> ExchangeRef:
    known = code in settings.exchanges
    return ExchangeRef(code, settings.exchange_name(code), settings.jurisdiction(code), known)


def scope_ref(settings: Settings, scope: str) -> ScopeRef:
    asset, sep, code = scope.partition("/")
    return ScopeRef(scope, asset, exchange_ref(settings, code) if sep else None)


def build_report(
    store: Store,
    settings: Settings,
    day: date,
    *,
    period: Period = "day",
    now: datetime | None = None,
    inputs: ReportInputs | None = None,
) -> ReportModel:
    """Read everything the report of ``day`` (or the week ending on it) shows.

    The store is read as of ``inputs`` (by default taken now, see :func:`capture_inputs`): only
    the first ``tree_size`` leaves, the recorded check runs and acknowledgements up to
    ``max_ack_id``; ``now`` is ignored when ``inputs`` are given.
    """
    if inputs is None:
        inputs = capture_inputs(store, settings, day, period=period, now=now)
    elif (inputs.day, inputs.period) != (day, period):
        raise RenderError(f"report inputs are for {inputs.period} {inputs.day}, not {period} {day}")
    days = period_days(day, period)
    generated_at = inputs.generated_at
    tree_size = inputs.tree_size
    recorded = dict(inputs.runs)
    runs = {
        d: None
        if recorded.get(d) is None
        else latest_run(store, d, run_id=recorded[d], max_ack_id=inputs.max_ack_id)
        for d in days
    }
    chosen = runs[day]
    if chosen is None:
        wanted = settings.fetch.default_source
        raise RenderError(
            f"no check results for {day} from source {wanted}; run "
            f"`liqrisk check --date {day} --source {wanted}` first"
        )
    stored = {d: r for d, r in runs.items() if r is not None}
    results = tuple(_stored_result(run, r) for run in stored.values() for r in run.results)

    # The figures come from the source the day's run read (a reproduction re-reads the same).
    source: str = chosen.run.source or settings.fetch.default_source
    start, end = day_bounds(days[0])[0], day_bounds(days[-1])[1]
    metrics = load_period(
        store,
        source=source,
        assets=settings.fetch.assets,
        start=start,
        end=end,
        tree_size=tree_size,
    )
    history = load_period(
        store,
        source=source,
        assets=settings.fetch.assets,
        start=start - timedelta(days=TRAILING_DAYS),
        end=start,
        tree_size=tree_size,
    )

    follow = _followups(stored.values())
    every = tuple(_finding(settings, r, follow.get(r.result_id)) for r in results)
    findings = tuple(
        sorted(
            (f for f in every if f.status != "ok"),
            key=lambda f: (
                SEVERITY.get(f.status, 9),
                -f.day.toordinal(),
                -(f.pct_of_limit or 0.0),
                f.check,
                f.scope.raw,
            ),
        )
    )
    counts = Counts(
        breaches=sum(r.status == "breach" for r in results),
        warnings=sum(r.status == "warn" for r in results),
        errors=sum(r.status == "error" for r in results),
        ok=sum(r.status == "ok" for r in results),
    )
    missing_run_days = tuple(d for d in days if d not in stored)
    incomplete = counts.errors > 0 or bool(missing_run_days)

    overlays = {asset: _load_overlays(store, asset, start, end, tree_size) for asset in metrics}
    markets = tuple(
        _asset_market(settings, data, overlays[data.asset]) for data in metrics.values()
    )
    title = ("Daily" if period == "day" else "Weekly") + " liquidation risk report"
    return ReportModel(
        firm_name=settings.firm_name,
        period=period,
        day=day,
        days=days,
        start=start,
        end=end,
        title=title,
        generated_at=generated_at,
        source=source,
        badge=_badge(counts, incomplete),
        incomplete=incomplete,
        counts=counts,
        total_usd=sum(m.total.usd for m in markets),
        moves=_moves(metrics, history, len(days)),
        findings=findings,
        markets=markets,
        jurisdictions=_jurisdictions(markets),
        unknown_exchanges=_unknown_exchanges(markets),
        coverage=tuple(_coverage_row(data) for data in metrics.values()),
        coverage_results=tuple(
            sorted(
                (_finding(settings, r) for r in results if r.check == "coverage"),
                key=lambda f: (f.day, f.scope.raw),
            )
        ),
        quarantined=_quarantined(store, source, start, end, tree_size),
        stale_notes=_stale_notes(results, metrics),
        provenance=_provenance(store, settings, inputs, stored, missing_run_days, results),
        charts=_chart_data(settings, metrics, overlays, start, end),
        results=results,
        overlay_venues=_overlay_venues(settings, overlays),
        summary=build_summary(settings.fetch.assets, findings, every, day),
        streams=_streams(store, settings, source, metrics, start, end, tree_size, generated_at),
        intraday=build_intraday(
            store,
            settings.limits,
            days,
            tree_size=tree_size,
            bounds=inputs.intraday,
            as_of=generated_at,
            scope_of=lambda raw: scope_ref(settings, raw),
        ),
    )


def _streams(
    store: Store,
    settings: Settings,
    source: str,
    metrics: dict[str, AssetDay],
    start: datetime,
    end: datetime,
    tree_size: int,
    as_of: datetime,
) -> StreamsSection | None:
    """The stream section, its streams set beside the report's interval-volume source (Kaiko
    where the report reads only the streams)."""
    own = {asset: list(data.intervals) for asset, data in metrics.items()}
    reference, intervals = reference_intervals(
        store, settings, source, own, start, end, tree_size=tree_size
    )
    return build_streams(
        store, settings, intervals, reference, start, end, tree_size=tree_size, as_of=as_of
    )


# --- check results ---------------------------------------------------------------------------


def _badge(counts: Counts, incomplete: bool) -> Badge:
    """A breach is a fact even when other checks failed, so it outranks INCOMPLETE (which the
    header then shows as a second badge); an unknown outranks a mere warning."""
    if counts.breaches:
        return "BREACH"
    if incomplete:
        return "INCOMPLETE"
    return "WARNING" if counts.warnings else "OK"


def _stored_result(run: StoredRun, result: CheckResult) -> StoredResult:
    assert run.run.id is not None and result.id is not None
    try:
        evidence = tuple(str(e) for e in json.loads(result.evidence_json))
    except (ValueError, TypeError) as exc:
        raise RenderError(f"check result {result.id} has unreadable evidence JSON: {exc}") from exc
    return StoredResult(
        run_id=run.run.id,
        result_id=result.id,
        day=result.day,
        check=result.check,
        scope=result.scope,
        observed=result.observed,
        warn_at=result.warn_at,
        limit=result.limit,
        pct_of_limit=result.pct_of_limit,
        status=result.status,
        message=result.message,
        evidence=evidence,
    )


@dataclass(frozen=True)
class _Followup:
    lifecycle: str | None
    since: date | None
    acknowledged_by: str | None


def _followups(runs: Iterable[StoredRun]) -> dict[int, _Followup]:
    """Each stored result's lifecycle, first day of its breach run and acknowledgers, by id."""
    out: dict[int, _Followup] = {}
    for run in runs:
        for result in run.results:
            assert result.id is not None
            detail = run.details.get(result.id)
            acks = run.acks.get(result.id, ())
            names = ", ".join(dict.fromkeys(a.acked_by for a in acks))
            out[result.id] = _Followup(
                lifecycle=detail.lifecycle if detail is not None else None,
                since=detail.breach_since if detail is not None else None,
                acknowledged_by=names or None,
            )
    return out


def _finding(settings: Settings, r: StoredResult, follow: _Followup | None = None) -> Finding:
    return Finding(
        day=r.day,
        check=r.check,
        title=CHECK_TITLES.get(r.check, r.check),
        scope=scope_ref(settings, r.scope),
        status=r.status,
        observed=r.observed,
        warn_at=r.warn_at,
        limit=r.limit,
        pct_of_limit=r.pct_of_limit,
        unit=RESULT_UNITS.get(r.check, "count"),
        message=r.message,
        since=follow.since if follow is not None else None,
        acknowledged_by=follow.acknowledged_by if follow is not None else None,
        lifecycle=follow.lifecycle if follow is not None else None,
        result_id=r.result_id,
    )


def _day_intervals(data: AssetDay, day: date) -> list[Volumes]:
    return [i.volumes for i in data.intervals if i.start.date() == day]


def _stale_notes(results: Sequence[StoredResult], metrics: dict[str, AssetDay]) -> tuple[str, ...]:
    """Where the store's current figures differ from what a daily check saw (data re-fetched)."""
    notes = []
    for r in results:
        if r.check != "daily_usd" or r.observed is None or r.scope not in metrics:
            continue
        current = sum(v.total_usd for v in _day_intervals(metrics[r.scope], r.day))
        if not math.isclose(current, r.observed, abs_tol=0.005):
            notes.append(
                f"{r.scope} on {r.day}: check run {r.run_id} saw {fmt.usd(r.observed)}, the store "
                f"now holds {fmt.usd(current)}; run `liqrisk check --date {r.day}` again."
            )
    return tuple(notes)


# --- figures -----------------------------------------------------------------------------------


def _market_row(asset: str, exchange: ExchangeRef | None, v: Volumes) -> MarketRow:
    return MarketRow(
        asset=asset,
        exchange=exchange,
        count=v.total_count,
        long_count=v.long_count,
        short_count=v.short_count,
        usd=v.total_usd,
        long_usd=v.long_usd,
        short_usd=v.short_usd,
    )


def _asset_market(settings: Settings, data: AssetDay, overlay: AssetOverlays) -> AssetMarket:
    rows = tuple(
        replace(
            _market_row(data.asset, exchange_ref(settings, code), vols),
            funding_rate_8h=overlay.last_funding_8h(code),
            open_interest_usd=overlay.last_open_interest(code),
            fed_by=data.fed_by.get(code, data.source),
        )
        for code, vols in sorted(data.by_exchange.items(), key=lambda kv: (-kv[1].total_usd, kv[0]))
    )
    unattributed = data.totals.total_usd - sum(r.usd for r in rows)
    return AssetMarket(
        asset=data.asset,
        total=_market_row(data.asset, None, data.totals),
        exchanges=rows,
        unattributed_usd=unattributed if abs(unattributed) >= 0.005 else 0.0,
    )


def _jurisdictions(markets: Sequence[AssetMarket]) -> tuple[JurisdictionRow, ...]:
    usd: dict[str, float] = defaultdict(float)
    exchanges: dict[str, dict[str, ExchangeRef]] = defaultdict(dict)
    for market in markets:
        for row in market.exchanges:
            assert row.exchange is not None
            usd[row.exchange.jurisdiction] += row.usd
            exchanges[row.exchange.jurisdiction][row.exchange.code] = row.exchange
        if market.unattributed_usd:
            usd["not broken down by exchange"] += market.unattributed_usd
            exchanges.setdefault("not broken down by exchange", {})
    grand = sum(usd.values())
    return tuple(
        JurisdictionRow(
            jurisdiction=name,
            usd=value,
            share=value / grand if grand else None,
            exchanges=tuple(sorted(exchanges[name].values(), key=lambda e: e.code)),
        )
        for name, value in sorted(usd.items(), key=lambda kv: (-kv[1], kv[0]))
    )


def _unknown_exchanges(markets: Sequence[AssetMarket]) -> tuple[UnknownExchange, ...]:
    usd: dict[str, float] = defaultdict(float)
    assets: dict[str, set[str]] = defaultdict(set)
    for market in markets:
        for row in market.exchanges:
            assert row.exchange is not None
            if not row.exchange.known:
                usd[row.exchange.code] += row.usd
                assets[row.exchange.code].add(market.asset)
    return tuple(
        UnknownExchange(code, usd[code], tuple(sorted(assets[code]))) for code in sorted(usd)
    )


def _daily_totals(data: AssetDay) -> dict[date, float]:
    totals: dict[date, float] = defaultdict(float)
    for interval in data.intervals:
        totals[interval.start.date()] += interval.volumes.total_usd
    return totals


def _moves(
    metrics: dict[str, AssetDay], history: dict[str, AssetDay], n_days: int
) -> tuple[Move, ...]:
    moves = []
    for asset, data in metrics.items():
        past = _daily_totals(history[asset]) if asset in history else {}
        baseline = sum(past.values()) / len(past) if past else None
        moves.append(Move(asset, data.totals.total_usd / n_days, baseline, len(past)))

    def rank(move: Move) -> tuple[int, float, str]:
        change = move.change
        return (change is None, -abs(change) if change is not None else 0.0, move.asset)

    return tuple(sorted(moves, key=rank)[:3])


def _coverage_row(data: AssetDay) -> CoverageRow:
    received = {i.start for i in data.intervals}
    step = timedelta(seconds=data.interval_seconds)
    missing = []
    moment = data.start
    while moment < data.end:
        if moment not in received:
            missing.append(moment)
        moment += step
    return CoverageRow(data.asset, data.intervals_expected, data.intervals_received, tuple(missing))


def _exchange_label(settings: Settings, code: str) -> str:
    return settings.exchange_name(code) if code in settings.exchanges else f"{code} (unknown)"


def _hours(start: datetime, end: datetime) -> list[datetime]:
    count = int((end - start).total_seconds()) // 3600
    return [start + timedelta(hours=h) for h in range(count)]


def _chart_data(
    settings: Settings,
    metrics: dict[str, AssetDay],
    overlays: dict[str, AssetOverlays],
    start: datetime,
    end: datetime,
) -> ChartData:
    assets = tuple(metrics)
    # Exchanges by their USD over all assets; the tail folded into "other" to keep cells legible.
    by_code: dict[str, float] = defaultdict(float)
    for data in metrics.values():
        for code, vols in data.by_exchange.items():
            by_code[code] += vols.total_usd
    ranked = [c for c, _ in sorted(by_code.items(), key=lambda kv: (-kv[1], kv[0]))]
    shown, folded = ranked[:MAX_HEATMAP_EXCHANGES], ranked[MAX_HEATMAP_EXCHANGES:]
    if folded:
        shown = ranked[: MAX_HEATMAP_EXCHANGES - 1]
        folded = ranked[MAX_HEATMAP_EXCHANGES - 1 :]
    columns = tuple(shown) + (("other",) if folded else ())
    rows = []
    for data in metrics.values():
        cells = [data.by_exchange[c].total_usd if c in data.by_exchange else 0.0 for c in shown]
        if folded:
            cells.append(
                sum(data.by_exchange[c].total_usd for c in folded if c in data.by_exchange)
            )
        rows.append(tuple(cells))
    labels = tuple(_exchange_label(settings, c) for c in shown) + (("other",) if folded else ())
    exchange_heatmap = Heatmap(assets, columns, tuple(rows), labels)

    hour_rows = []
    for data in metrics.values():
        by_hour = [0.0] * 24
        for interval in data.intervals:
            by_hour[interval.start.hour] += interval.volumes.total_usd
        hour_rows.append(tuple(by_hour))
    hour_heatmap = Heatmap(assets, tuple(f"{h:02d}" for h in range(24)), tuple(hour_rows))

    hours = _hours(start, end)
    series = []
    for asset, data in metrics.items():
        held = {i.start: i.volumes for i in data.intervals}
        overlay = overlays[asset]
        series.append(
            HourlySeries(
                asset,
                tuple(held[h].long_usd if h in held else math.nan for h in hours),
                tuple(held[h].short_usd if h in held else math.nan for h in hours),
                open_interest_usd=overlay.hourly_open_interest(hours),
                funding=overlay.funding_lines(settings, start, end),
            )
        )
    return ChartData(start, end, exchange_heatmap, hour_heatmap, tuple(series))


# --- overlays: funding rates and open interest -------------------------------------------------

FUNDING_LOOKBACK = timedelta(days=1)  # settlements before the period: to tell a venue's interval
FUNDING_BASIS_HOURS = 8.0  # the table's "Funding rate (8h)"


@dataclass(frozen=True)
class AssetOverlays:
    """One asset's funding settlements and open interest, as the store held them (``tree_size``).

    A venue is an exchange code; it may have several instruments (and, in a store fed by two
    sources, the same instrument twice: the first source by name is kept, so the choice is fixed).
    """

    funding: tuple[FundingPoint, ...]  # [start - FUNDING_LOOKBACK, end), by time
    open_interest: tuple[OpenInterestPoint, ...]  # [start, end) with a USD value, by time
    start: datetime
    interval_hours: dict[tuple[str, str], float]  # (exchange, instrument): settlement interval

    def _rate_8h(self, p: FundingPoint) -> float:
        hours = self.interval_hours[(p.exchange, p.instrument)]
        return p.funding_rate * 100.0 * FUNDING_BASIS_HOURS / hours

    def last_funding_8h(self, exchange: str) -> float | None:
        """The exchange's last settlement in the period, in per cent per 8 hours."""
        inside = [
            p for p in self.funding if p.exchange == exchange and p.funding_time >= self.start
        ]
        if not inside:
            return None
        last = max(inside, key=lambda p: (p.funding_time, p.instrument))
        return self._rate_8h(last)

    def last_open_interest(self, exchange: str) -> float | None:
        """The exchange's open interest (USD, its instruments summed) at its last observation."""
        points = [p for p in self.open_interest if p.exchange == exchange]
        if not points:
            return None
        latest = max(p.ts for p in points)
        return sum(p.oi_usd or 0.0 for p in points if p.ts == latest)

    def hourly_open_interest(self, hours: Sequence[datetime]) -> tuple[float, ...]:
        """Open interest summed over every venue and instrument, per hour; NaN where one of them
        has no observation for the hour (a partial sum would read as a drop); () when none."""
        keys = sorted({(p.exchange, p.instrument) for p in self.open_interest})
        if not keys:
            return ()
        at = {(p.exchange, p.instrument, p.ts): p.oi_usd or 0.0 for p in self.open_interest}
        return tuple(
            sum(at[(e, i, h)] for e, i in keys)
            if all((e, i, h) in at for e, i in keys)
            else math.nan
            for h in hours
        )

    def funding_lines(
        self, settings: Settings, start: datetime, end: datetime
    ) -> tuple[FundingLine, ...]:
        """One line per venue (and instrument, when a venue has several), in per cent per 8 h."""
        keys = sorted({(p.exchange, p.instrument) for p in self.funding if p.funding_time >= start})
        per_exchange: dict[str, int] = defaultdict(int)
        for exchange, _instrument in keys:
            per_exchange[exchange] += 1
        lines = []
        for exchange, instrument in keys:
            label = _exchange_label(settings, exchange)
            if per_exchange[exchange] > 1:
                label = f"{label} {instrument}"
            points = tuple(
                ((p.funding_time - start).total_seconds() / 3600.0 - 0.5, self._rate_8h(p))
                for p in self.funding
                if (p.exchange, p.instrument) == (exchange, instrument)
                and start <= p.funding_time < end
            )
            lines.append(FundingLine(label, points))
        return tuple(lines)

    def venues(self) -> dict[str, tuple[set[str], set[str], set[float]]]:
        found: dict[str, tuple[set[str], set[str], set[float]]] = {}
        for p in self.funding:
            if p.funding_time < self.start:
                continue
            sources, instruments, hours = found.setdefault(p.exchange, (set(), set(), set()))
            sources.add(p.source)
            instruments.add(p.instrument)
            hours.add(self.interval_hours[(p.exchange, p.instrument)])
        for q in self.open_interest:
            sources, instruments, _hours = found.setdefault(q.exchange, (set(), set(), set()))
            sources.add(q.source)
            instruments.add(q.instrument)
        return found


def _first_source(points: Iterable[Any], key: Callable[[Any], tuple[Any, ...]]) -> list[Any]:
    """One point per key: that of the first source by name, so a store fed by two sources (the
    demo and Binance, say) shows one figure per venue, and always the same one."""
    kept: dict[tuple[Any, ...], Any] = {}
    for p in sorted(points, key=lambda p: (key(p), p.source)):
        kept.setdefault(key(p), p)
    return list(kept.values())


def _load_overlays(
    store: Store, asset: str, start: datetime, end: datetime, tree_size: int
) -> AssetOverlays:
    funding = _first_source(
        funding_rates(
            store, asset=asset, start=start - FUNDING_LOOKBACK, end=end, tree_size=tree_size
        ),
        lambda p: (p.funding_time, p.exchange, p.instrument),
    )
    oi = _first_source(
        (
            p
            for p in open_interest(store, asset=asset, start=start, end=end, tree_size=tree_size)
            if p.oi_usd is not None
        ),
        lambda p: (p.ts, p.exchange, p.instrument),
    )
    return AssetOverlays(tuple(funding), tuple(oi), start, venue_interval_hours(funding))


def _overlay_venues(
    settings: Settings, overlays: dict[str, AssetOverlays]
) -> tuple[OverlayVenue, ...]:
    merged: dict[str, tuple[set[str], set[str], set[float]]] = {}
    for overlay in overlays.values():
        for code, (sources, instruments, hours) in overlay.venues().items():
            into = merged.setdefault(code, (set(), set(), set()))
            into[0].update(sources)
            into[1].update(instruments)
            into[2].update(hours)
    return tuple(
        OverlayVenue(
            exchange=exchange_ref(settings, code),
            sources=tuple(sorted(sources)),
            instruments=tuple(sorted(instruments)),
            funding_hours=tuple(sorted(hours)),
        )
        for code, (sources, instruments, hours) in sorted(merged.items())
    )


# --- data quality and provenance ---------------------------------------------------------------


def _request_window(params_json: str) -> tuple[datetime, datetime] | None:
    try:
        params = json.loads(params_json)
        start = datetime.fromisoformat(str(params["start_time"]).replace("Z", "+00:00"))
        end = datetime.fromisoformat(str(params["end_time"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return None
    return as_utc(start), as_utc(end)


def _quarantined(
    store: Store, source: str, start: datetime, end: datetime, tree_size: int
) -> tuple[QuarantinedSnapshot, ...]:
    """Quarantined snapshots of the period: by the window they asked for, else by fetch time."""
    stmt = (
        select(
            col(Snapshot.leaf_index),
            col(Snapshot.fetched_at),
            col(Snapshot.url),
            col(Snapshot.params_json),
            col(Snapshot.quarantine_reason),
        )
        .where(
            col(Snapshot.quarantined).is_(True),
            col(Snapshot.source) == source,
            col(Snapshot.leaf_index) < tree_size,
        )
        .order_by(col(Snapshot.leaf_index))
    )
    found = []
    with store.session() as session:
        for leaf, fetched, url, params_json, reason in session.execute(stmt):
            fetched_at = as_utc(fetched)
            window = _request_window(params_json)
            overlaps = (
                window[0] < end and window[1] > start
                if window is not None
                else start <= fetched_at < end
            )
            if overlaps:
                found.append(QuarantinedSnapshot(leaf, fetched_at, url, reason or "unknown"))
    return tuple(found)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _checkpoint_ref(latest: Checkpoint, leaf_hashes: Sequence[bytes]) -> CheckpointRef:
    """The stored checkpoint, and whether the store's leaves still give its root."""
    prefix = leaf_hashes[: latest.tree_size]
    matches = (
        len(prefix) == latest.tree_size and root_from_leaf_hashes(prefix).hex() == latest.root_hash
    )
    return CheckpointRef(
        origin=latest.origin,
        tree_size=latest.tree_size,
        root_hash=latest.root_hash,
        key_name=latest.key_name,
        key_id=latest.key_id,
        created_at=as_utc(latest.created_at),
        root_matches=matches,
        note=latest.note,
    )


def _provenance(
    store: Store,
    settings: Settings,
    inputs: ReportInputs,
    runs: dict[date, StoredRun],
    missing_run_days: tuple[date, ...],
    results: Sequence[StoredResult],
) -> Provenance:
    evidence = sorted({sha for r in results for sha in r.evidence})
    snapshots = 0
    first: datetime | None = None
    last: datetime | None = None
    with store.session() as session:
        for chunk in _chunks(evidence, _EVIDENCE_CHUNK):
            stmt = select(col(Snapshot.fetched_at)).where(
                col(Snapshot.body_sha256).in_(chunk), col(Snapshot.leaf_index) < inputs.tree_size
            )
            for (fetched,) in session.execute(stmt):
                moment = as_utc(fetched)
                snapshots += 1
                first = moment if first is None or moment < first else first
                last = moment if last is None or moment > last else last
        leaves = (
            session.execute(
                select(col(Snapshot.leaf_hash))
                .where(col(Snapshot.leaf_index) < inputs.tree_size)
                .order_by(col(Snapshot.leaf_index))
            )
            .scalars()
            .all()
        )
        latest = (
            session.execute(
                select(Checkpoint)
                .where(
                    col(Checkpoint.tree_size) <= inputs.tree_size,
                    col(Checkpoint.created_at) <= inputs.generated_at,
                )
                .order_by(col(Checkpoint.tree_size).desc(), col(Checkpoint.id).desc())
                .limit(1)
            )
            .scalars()
            .first()
        )
    try:
        leaf_hashes = [bytes.fromhex(h) for h in leaves]
    except ValueError as exc:
        raise RenderError(f"a snapshot's leaf hash is not hexadecimal: {exc}") from exc
    checkpoint = None if latest is None else _checkpoint_ref(latest, leaf_hashes)
    run_refs = []
    for run in runs.values():
        assert run.run.id is not None
        run_refs.append(
            RunRef(
                id=run.run.id,
                day=run.run.day,
                started_at=as_utc(run.run.started_at),
                limit_set_sha256=run.run.limit_set_sha256,
                config_hash=run.run.config_hash,
                software_version=run.run.software_version,
            )
        )
    return Provenance(
        runs=tuple(sorted(run_refs, key=lambda r: r.day)),
        missing_run_days=missing_run_days,
        evidence_hashes=len(evidence),
        evidence_snapshots=snapshots,
        fetched_first=first,
        fetched_last=last,
        tree_size=len(leaf_hashes),
        merkle_root=root_from_leaf_hashes(leaf_hashes).hex(),
        checkpoint=checkpoint,
        # As they were when the report was rendered (the inputs), so a reproduction says the same.
        limit_set_current=inputs.limit_set_sha256 or limit_set_hash(settings),
        config_hash_current=inputs.config_hash or settings.config_hash(),
        software_version=SOFTWARE_VERSION,
    )
