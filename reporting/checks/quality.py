"""Data-quality checks per day and source, as check outcomes beside the limit checks.

:func:`data_quality_outcomes` returns one :class:`~reporting.records.CheckOutcome` per check and
scope, never raising (a check that crashes becomes an ``error`` outcome), for the day's figures of
the liquidation source (``fetch.default_source``), judged on the same current values the limit
checks use (:func:`reporting.checks.metrics.load_period`):

``dq_missing_intervals`` (per asset)
    intervals of the day with no figure; ``warn`` when some are missing, ``error`` when all are.
``dq_exchange_sums`` (per asset)
    intervals where the exchanges' counts or USD do not add up to the source's own total.
``dq_long_short`` (per asset)
    rows (totals and per exchange) where long + short differs from the total.
``dq_stale`` (per asset)
    hours between the end of the latest interval received and the last interval that should be
    there (the end of the day, or the last closed interval for today); ``warn`` beyond
    ``quality.stale_after_hours``. Intervals whose current value was fetched before the interval
    had closed and settled (``fetch.settle_seconds``) are provisional figures and also ``warn``.
``dq_quarantined`` (per source)
    kept responses refused by the parsers whose request covered the day (or, for a request that
    names no range, such as a continuation page, that were fetched on the day); ``warn`` when a
    body broke the format, ``ok`` (with the count) when the server only refused (429, 5xx) and the
    request was retried.
``dq_corrections`` (per source)
    values of the day that changed on a re-fetch (:mod:`reporting.fetch.corrections`); ``warn`` when
    any.
``dq_data_version`` (per source)
    Kaiko's ``query.data_version`` of the responses the day's figures rest on, and whether their
    ``query`` block matches what was asked (interval, token); ``warn`` on a version other than
    ``v1`` or a mismatch.
``dq_reconcile_okx`` (per asset, scope ``ASSET/okex``)
    the source's ``okex`` USD against OKX's own filled liquidation orders
    (:mod:`reporting.checks.overlay_store`) over the hours both cover: the day, within OKX's
    watermark, from OKX's oldest stored order on (OKX keeps only recent orders, so earlier hours
    would compare against nothing). ``warn`` when
    the difference exceeds ``quality.reconcile_tolerance_pct`` of the larger figure and the larger
    figure is at least ``quality.reconcile_min_usd``; ``ok`` saying "not cross-checked" when OKX
    has nothing for the day.

``dq_stream_coverage`` (per live stream)
    the share of the day the stream was collecting, and every gap with its recorded reason
    (:mod:`reporting.checks.stream_quality`).

Evidence is the SHA-256 of the snapshots each outcome rests on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial

from sqlalchemy import select
from sqlmodel import col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import IntervalVolume, Snapshot
from reporting.checks.metrics import HOUR, AssetDay, Volumes, day_bounds, load_period
from reporting.checks.overlay_store import okx_hourly
from reporting.checks.stream_quality import CHECK as STREAM_CHECK
from reporting.checks.stream_quality import RECONCILE as STREAM_RECONCILE
from reporting.checks.stream_quality import stream_coverage_outcomes, stream_reconcile_outcomes
from reporting.config import Settings
from reporting.fetch import watermarks
from reporting.fetch.corrections import corrections_for_day
from reporting.fetch.normalise import floor_time, iso_to_utc, to_utc
from reporting.fetch.registry import volume_parts
from reporting.fetch.sources.kaiko.format import (
    EXPECTED_DATA_VERSION,
    interval_seconds,
    query_block,
)
from reporting.records import CheckOutcome, Status

CHECK_TITLES = {
    "dq_missing_intervals": "Data quality: missing intervals",
    "dq_exchange_sums": "Data quality: exchanges add up to the total",
    "dq_long_short": "Data quality: long + short = total",
    "dq_stale": "Data quality: latest interval fresh and final",
    "dq_quarantined": "Data quality: responses quarantined",
    "dq_corrections": "Data quality: corrections (values changed on re-fetch)",
    "dq_data_version": "Data quality: Kaiko data version and query",
    "dq_reconcile_okx": "Data quality: Kaiko okex vs OKX liquidation orders",
}
CHECK_UNITS = {
    "dq_missing_intervals": "intervals",
    "dq_exchange_sums": "intervals",
    "dq_long_short": "intervals",
    "dq_stale": "hours",
    "dq_quarantined": "count",
    "dq_corrections": "count",
    "dq_data_version": "count",
    "dq_reconcile_okx": "pct",
}
"""The unit of each result's observed value (the units of :mod:`reporting.checks.catalogue`)."""
GRADED_TWINS = {
    "gaps": "dq_missing_intervals",
    "staleness": "dq_stale",
}
"""Limit-graded check -> the data-quality check that asks the same question. ``reconciliation``
(the asset's day against a second interval-volume source) has no twin: ``dq_reconcile_okx`` asks
another question (Kaiko's ``okex`` column against OKX's own liquidation orders)."""
NO_DATA_ERRORS = frozenset({"dq_missing_intervals", "dq_stale"})
"""The checks that report a day without data (as errors); the others have nothing to examine."""
LISTED = 5  # how many items a message names before "and N more"


def _usd(value: float) -> str:
    return f"${value:,.0f}"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" and {len(items) - LISTED} more" if len(items) > LISTED else "")


def _outcome(
    check: str,
    scope: str,
    day: date,
    status: Status,
    message: str,
    observed: float | None = None,
    *,
    warn_at: float | None = None,
    limit: float | None = None,
    evidence: tuple[str, ...] = (),
) -> CheckOutcome:
    return CheckOutcome(
        check, scope, day, observed, warn_at, limit, status, message, tuple(sorted(evidence))
    )


def data_quality_outcomes(
    store: Store,
    settings: Settings,
    day: date,
    *,
    source: str | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    graded: frozenset[str] = frozenset(),
    metrics: Mapping[str, AssetDay] | None = None,
) -> list[CheckOutcome]:
    """Every data-quality outcome for ``day`` (see the module's docstring); never raises.

    ``graded`` names the checks the limit set grades; a data-quality check that asks the same
    question (:data:`GRADED_TWINS`) is left to it, so one fact is never reported twice.
    ``metrics`` are the day's figures at the configured interval when the caller has already
    loaded them (:func:`reporting.checks.run_checks`); otherwise they are loaded here.
    """
    source = source or settings.fetch.default_source
    start, end = day_bounds(day)
    outcomes: list[CheckOutcome] = []

    def guarded(check: str, scope: str, run: Callable[[], Iterator[CheckOutcome]]) -> None:
        try:
            outcomes.extend(run())
        except Exception as exc:  # a crashing check is an error outcome, not a dead run
            outcomes.append(
                _outcome(check, scope, day, "error", f"check failed: {type(exc).__name__}: {exc}")
            )

    step = interval_seconds(settings.fetch.interval)
    loaded: dict[str, AssetDay] = dict(metrics or {})

    def load() -> Iterator[CheckOutcome]:
        loaded.update(
            load_period(
                store,
                source=source,
                assets=settings.fetch.assets,
                start=start,
                end=end,
                interval_seconds=step,
            )
        )
        return iter(())

    if metrics is None:
        guarded("dq_missing_intervals", source, load)
    moment = now()
    skip = {twin for check, twin in GRADED_TWINS.items() if check in graded}
    for asset, data in loaded.items():
        per_asset: list[tuple[str, str, Callable[[], Iterator[CheckOutcome]]]] = [
            ("dq_missing_intervals", asset, partial(_missing, data, day)),
            ("dq_exchange_sums", asset, partial(_exchange_sums, data, day, settings)),
            ("dq_long_short", asset, partial(_long_short, data, day, settings)),
            ("dq_stale", asset, partial(_stale, store, settings, data, day, source, moment)),
            ("dq_reconcile_okx", f"{asset}/okex", partial(_reconcile, store, settings, data, day)),
        ]
        for check, scope, run in per_asset:
            if check in skip or (not data.intervals and check not in NO_DATA_ERRORS):
                continue  # graded by the limit set, or nothing to add up for a day without data
            guarded(check, scope, run)
    for part in volume_parts(source):  # the streams' own quality: dq_stream_coverage, below
        guarded("dq_quarantined", part, partial(_quarantined, store, part, day))
        guarded("dq_corrections", part, partial(_corrections, store, settings, part, day))
        guarded("dq_data_version", part, partial(_data_version, store, loaded, part, day, step))
    guarded(
        STREAM_CHECK, "streams", partial(stream_coverage_outcomes, store, settings, day, moment)
    )
    hourly = {a: list(d.intervals) for a, d in loaded.items()} if step == HOUR else None
    run = partial(stream_reconcile_outcomes, store, settings, day, source, moment, hourly)
    guarded(STREAM_RECONCILE, "streams", run)
    return outcomes


# -- per asset


def _expected_starts(data: AssetDay) -> list[datetime]:
    step = timedelta(seconds=data.interval_seconds)
    count = data.intervals_expected
    return [data.start + i * step for i in range(count)]


def _missing(data: AssetDay, day: date) -> Iterator[CheckOutcome]:
    have = {i.start for i in data.intervals}
    missing = [s for s in _expected_starts(data) if s not in have]
    expected = data.intervals_expected
    if len(missing) == expected:
        status: Status = "error"
        message = f"{data.asset}: no interval of {day} from {data.source}"
    elif missing:
        status = "warn"
        message = (
            f"{data.asset}: {len(missing)} of {expected} intervals missing from {data.source}: "
            + _listing([f"{s:%H:%M}Z" for s in missing])
        )
    else:
        status, message = "ok", f"{data.asset}: all {expected} intervals present"
    yield _outcome(
        "dq_missing_intervals",
        data.asset,
        day,
        status,
        message,
        float(len(missing)),
        warn_at=1.0,
        evidence=data.evidence,
    )


def _usd_close(a: float, b: float, settings: Settings) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=settings.quality.sum_tolerance_usd)


def _exchange_sums(data: AssetDay, day: date, settings: Settings) -> Iterator[CheckOutcome]:
    bad: list[str] = []
    shas: set[str] = set()
    for interval in data.intervals:
        if not interval.by_exchange:
            continue
        parts = sum(interval.by_exchange.values(), Volumes())
        whole = interval.volumes
        counts_differ = (parts.long_count, parts.short_count, parts.total_count) != (
            whole.long_count,
            whole.short_count,
            whole.total_count,
        )
        usd_differ = not all(
            _usd_close(getattr(parts, f), getattr(whole, f), settings)
            for f in ("long_usd", "short_usd", "total_usd")
        )
        if counts_differ or usd_differ:
            bad.append(
                f"{interval.start:%H:%M}Z ({_usd(parts.total_usd)} vs {_usd(whole.total_usd)})"
            )
            shas.update(interval.evidence)
    status: Status = "warn" if bad else "ok"
    message = (
        f"{data.asset}: exchanges do not add up to the total in {len(bad)} interval(s): "
        + _listing(bad)
        if bad
        else f"{data.asset}: exchanges add up to the total in every interval"
        if data.intervals
        else f"{data.asset}: no interval to check"
    )
    yield _outcome(
        "dq_exchange_sums",
        data.asset,
        day,
        status,
        message,
        float(len(bad)),
        warn_at=1.0,
        evidence=tuple(shas) or data.evidence,
    )


def _long_short(data: AssetDay, day: date, settings: Settings) -> Iterator[CheckOutcome]:
    bad: list[str] = []
    shas: set[str] = set()
    for interval in data.intervals:
        rows = [("total", interval.volumes), *interval.by_exchange.items()]
        for name, v in rows:
            if v.long_count + v.short_count != v.total_count or not _usd_close(
                v.long_usd + v.short_usd, v.total_usd, settings
            ):
                bad.append(f"{interval.start:%H:%M}Z {name}")
                shas.update(interval.evidence)
    status: Status = "warn" if bad else "ok"
    message = (
        f"{data.asset}: long + short differs from the total in {len(bad)} row(s): " + _listing(bad)
        if bad
        else f"{data.asset}: long + short equals the total in every row"
        if data.intervals
        else f"{data.asset}: no interval to check"
    )
    yield _outcome(
        "dq_long_short",
        data.asset,
        day,
        status,
        message,
        float(len(bad)),
        warn_at=1.0,
        evidence=tuple(shas) or data.evidence,
    )


def _stale(
    store: Store,
    settings: Settings,
    data: AssetDay,
    day: date,
    source: str,
    moment: datetime,
) -> Iterator[CheckOutcome]:
    step = data.interval_seconds
    settle = timedelta(seconds=settings.fetch.settle_seconds)
    due = min(data.end, watermarks.closed_until(moment, step, settings.fetch.settle_seconds))
    if due <= data.start:
        yield _outcome("dq_stale", data.asset, day, "ok", f"{data.asset}: {day} has not closed")
        return
    if not data.intervals:
        yield _outcome("dq_stale", data.asset, day, "error", f"{data.asset}: no data for {day}")
        return
    latest_end = data.intervals[-1].start + timedelta(seconds=step)
    lag = max(0.0, (due - latest_end).total_seconds() / 3600)
    provisional = _provisional(store, source, data, settle)
    limit = settings.quality.stale_after_hours
    problems = []
    if lag > limit:
        problems.append(f"the latest interval ends {lag:.1f} h before {due:%Y-%m-%d %H:%M}Z")
    if provisional:
        problems.append(
            f"{len(provisional)} interval(s) fetched before they had closed and settled "
            "(provisional; fetch again): " + _listing([f"{s:%H:%M}Z" for s in provisional])
        )
    status: Status = "warn" if problems else "ok"
    message = f"{data.asset}: " + (
        "; ".join(problems)
        if problems
        else f"latest interval ends {latest_end:%Y-%m-%d %H:%M}Z, every figure final"
    )
    yield _outcome(
        "dq_stale",
        data.asset,
        day,
        status,
        message,
        round(lag, 3),
        warn_at=limit,
        evidence=data.intervals[-1].evidence,
    )


def _provisional(store: Store, source: str, data: AssetDay, settle: timedelta) -> list[datetime]:
    """Starts of the day's intervals whose current total was fetched before interval end+settle."""
    query = (
        select(col(IntervalVolume.interval_start), col(Snapshot.fetched_at))
        .join(Snapshot, col(Snapshot.id) == IntervalVolume.snapshot_id)
        .where(
            col(IntervalVolume.source).in_(volume_parts(source)),
            col(IntervalVolume.asset) == data.asset,
            col(IntervalVolume.exchange) == "*",
            col(IntervalVolume.interval_seconds) == data.interval_seconds,
            col(IntervalVolume.interval_start) >= data.start,
            col(IntervalVolume.interval_start) < data.end,
            col(Snapshot.quarantined).is_(False),
        )
        .order_by(col(Snapshot.leaf_index))
    )
    fetched: dict[datetime, datetime] = {}
    with store.read_session() as session:
        for start, fetched_at in session.execute(query):
            fetched[as_utc(start)] = as_utc(fetched_at)
    step = timedelta(seconds=data.interval_seconds)
    return sorted(s for s, at in fetched.items() if at < s + step + settle)


def _reconcile(
    store: Store, settings: Settings, data: AssetDay, day: date
) -> Iterator[CheckOutcome]:
    scope = f"{data.asset}/okex"
    mark = watermarks.current(store, "okx", "liquidations", data.asset)
    okx = okx_hourly(store, asset=data.asset, start=data.start, end=data.end)
    begin = data.start
    finish = data.end
    if mark is not None:
        begin, finish = max(begin, mark.covered_from), min(finish, mark.watermark)
    if okx.first_order is not None:
        begin = max(begin, floor_time(okx.first_order, 3600))
    if mark is None or okx.first_order is None or finish <= begin:
        yield _outcome(
            "dq_reconcile_okx",
            scope,
            day,
            "ok",
            f"{data.asset}: not cross-checked: no OKX liquidation orders stored for {day}",
        )
        return
    kaiko = sum(
        (i.by_exchange.get("okex", Volumes()) for i in data.intervals if begin <= i.start < finish),
        Volumes(),
    )
    ours = sum((v for h, v in okx.hours.items() if begin <= h < finish), Volumes())
    hours = int((finish - begin).total_seconds() // 3600)
    larger = max(kaiko.total_usd, ours.total_usd)
    diff = 100.0 * abs(kaiko.total_usd - ours.total_usd) / larger if larger else 0.0
    tolerance = settings.quality.reconcile_tolerance_pct
    graded = larger >= settings.quality.reconcile_min_usd
    status: Status = "warn" if graded and diff > tolerance else "ok"
    note = "" if graded else f"; below {_usd(settings.quality.reconcile_min_usd)}, not graded"
    message = (
        f"{data.asset}: {data.source} okex {_usd(kaiko.total_usd)} ({kaiko.total_count} liq.) vs "
        f"OKX orders {_usd(ours.total_usd)} ({ours.total_count}) over {hours} h from "
        f"{begin:%H:%M}Z: {diff:.1f}% apart (tolerance {tolerance:g}%){note}"
    )
    problems = "; ".join(p.message for p in okx.problems)
    if problems:
        message += f"; {problems}"
    shas = {sha for i in data.intervals if begin <= i.start < finish for sha in i.evidence}
    yield _outcome(
        "dq_reconcile_okx",
        scope,
        day,
        status,
        message,
        round(diff, 3),
        warn_at=tolerance,
        evidence=tuple(shas | set(okx.evidence)),
    )


# -- per source


def _window(params_json: str) -> tuple[datetime, datetime] | None:
    """The time range a request asked for, when its parameters name one."""
    try:
        params = json.loads(params_json)
        if "start_time" in params and "end_time" in params:
            return iso_to_utc(params["start_time"]), iso_to_utc(params["end_time"])
        if "startTime" in params and "endTime" in params:
            return to_utc(int(params["startTime"])), to_utc(int(params["endTime"]))
    except (ValueError, TypeError, AttributeError):
        return None
    return None


def _quarantined(store: Store, source: str, day: date) -> Iterator[CheckOutcome]:
    start, end = day_bounds(day)
    query = (
        select(
            col(Snapshot.leaf_index),
            col(Snapshot.params_json),
            col(Snapshot.fetched_at),
            col(Snapshot.http_status),
            col(Snapshot.quarantine_reason),
            col(Snapshot.body_sha256),
            col(Snapshot.url),
        )
        .where(col(Snapshot.source) == source, col(Snapshot.quarantined).is_(True))
        .order_by(col(Snapshot.leaf_index))
    )
    refused: list[str] = []
    broken: list[str] = []
    shas: set[str] = set()
    with store.read_session() as session:
        for leaf, params_json, fetched_at, status, reason, sha, _url in session.execute(query):
            window = _window(params_json)
            if window is not None:
                hit = window[0] < end and start < window[1]
            else:
                hit = start <= as_utc(fetched_at) < end
            if not hit:
                continue
            shas.add(sha)
            entry = f"leaf {leaf}: {reason}"
            (refused if status == 429 or status >= 500 else broken).append(entry)
    total = len(refused) + len(broken)
    if broken:
        status_: Status = "warn"
        message = f"{source}: {len(broken)} response(s) for {day} broke the format: " + _listing(
            broken
        )
        if refused:
            message += f"; {len(refused)} more refused by the server (429/5xx)"
    elif refused:
        status_ = "ok"
        message = (
            f"{source}: {len(refused)} response(s) for {day} refused by the server (429/5xx) "
            "and kept; the requests were retried"
        )
    else:
        status_, message = "ok", f"{source}: no response for {day} was quarantined"
    yield _outcome(
        "dq_quarantined",
        source,
        day,
        status_,
        message,
        float(total),
        warn_at=1.0,
        evidence=tuple(shas),
    )


def _corrections(
    store: Store, settings: Settings, source: str, day: date
) -> Iterator[CheckOutcome]:
    found = corrections_for_day(store, source=source, day=day, assets=settings.fetch.assets)
    shas = {c.before.body_sha256 for c in found} | {c.after.body_sha256 for c in found}
    if found:
        status: Status = "warn"
        message = (
            f"{source}: {len(found)} value(s) of {day} changed on a re-fetch; the earlier values "
            "are kept (`liqrisk corrections --date`): " + _listing([c.describe() for c in found])
        )
    else:
        status, message = "ok", f"{source}: no value of {day} changed on a re-fetch"
    yield _outcome(
        "dq_corrections",
        source,
        day,
        status,
        message,
        float(len(found)),
        warn_at=1.0,
        evidence=tuple(shas),
    )


def _data_version(
    store: Store, metrics: dict[str, AssetDay], source: str, day: date, step: int
) -> Iterator[CheckOutcome]:
    shas = sorted({sha for data in metrics.values() for sha in data.evidence})
    versions: dict[str, int] = {}
    mismatches: list[str] = []
    with store.read_session() as session:
        for i in range(0, len(shas), 500):
            query = select(col(Snapshot.body_sha256), col(Snapshot.body), col(Snapshot.url)).where(
                col(Snapshot.body_sha256).in_(shas[i : i + 500]), col(Snapshot.source) == source
            )
            for sha, body, url in session.execute(query):
                block = query_block(body) or {}
                version = str(block.get("data_version", "not stated"))
                versions[version] = versions.get(version, 0) + 1
                interval = block.get("interval")
                if interval is not None:
                    try:
                        if interval_seconds(str(interval)) != step:
                            mismatches.append(f"{sha[:12]}: interval {interval}")
                    except ValueError:
                        mismatches.append(f"{sha[:12]}: interval {interval!r}")
                token = block.get("token")
                if token is not None and f"/token/{str(token).lower()}" not in url.lower():
                    mismatches.append(f"{sha[:12]}: token {token}")
    odd = sorted(v for v in versions if v not in (EXPECTED_DATA_VERSION, "not stated"))
    counts = ", ".join(f"{v} on {n} response(s)" for v, n in sorted(versions.items()))
    problems = []
    if odd:
        problems.append(f"data_version {', '.join(odd)}, not {EXPECTED_DATA_VERSION}")
    if mismatches:
        problems.append("query block differs from the request: " + _listing(mismatches))
    status: Status = "warn" if problems else "ok"
    message = f"{source}: " + ("; ".join(problems) if problems else counts or "no responses")
    if problems and counts:
        message += f" ({counts})"
    yield _outcome("dq_data_version", source, day, status, message, evidence=tuple(shas))
