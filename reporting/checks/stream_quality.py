"""The live streams' data-quality checks.

``dq_stream_coverage`` (per stream): how much of the day each live stream was collecting.

A minute is covered while a connection of the stream was subscribed (:mod:`reporting.fetch.streams
.reading`); a quiet minute inside a covered span is not a gap (the venue had nothing to say). The
outcome's observed value is the covered share of the day, in per cent (of the day up to ``now``
for today); ``warn`` when any gap is on record, with each gap's time and recorded reason. Only
streams with a connection record touching the day are graded: a venue never collected is not a
gap of this day.

``dq_stream_reconcile`` (per asset and venue, scope ``ASSET/code``): the stream beside the
interval-volume source (the report's Kaiko-format source, Kaiko itself when the report reads only
the streams), hour by hour over the hours the stream covered in full and the source holds the
venue for (:mod:`reporting.checks.stream_compare`). The observed value is the stream's USD in per
cent of the source's over those hours: below 100 is the venue's sampling, shown, not graded. Above
is not sampling: ``warn`` when an hour of the stream exceeds the source by more than
``quality.reconcile_tolerance_pct`` of the larger figure (and that figure is at least
``quality.reconcile_min_usd``): a contract size, a side or a count is wrong in one of the two.
Outcomes only where both hold the venue on the day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from audit_store.db import Store
from reporting.checks.stream_compare import StreamFigure, compare_streams, reference_intervals
from reporting.config import Settings
from reporting.fetch.streams.reading import coverage, has_sessions
from reporting.fetch.streams.venues import EXCHANGE_CODES, stream_specs
from reporting.records import CheckOutcome, Interval, Status

CHECK = "dq_stream_coverage"
RECONCILE = "dq_stream_reconcile"
TITLES = {
    CHECK: "Data quality: live stream coverage of the day",
    RECONCILE: "Data quality: live stream vs the interval source, per venue and hour",
}
UNITS = {CHECK: "pct", RECONCILE: "pct"}
"""Graded only where streams are collected, so kept apart from the per-day data-quality checks'
titles (:data:`reporting.checks.quality.CHECK_TITLES`, which every day has)."""
LISTED = 5


def stream_coverage_outcomes(
    store: Store, settings: Settings, day: date, now: datetime
) -> Iterator[CheckOutcome]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = min(start + timedelta(days=1), now)
    if end <= start:
        return
    for spec in stream_specs(settings):
        if not has_sessions(store, spec.stream):
            continue
        covered, missing = coverage(store, spec.stream, start, end)
        if not covered and all(g.detail == "no collector was running" for g in missing):
            continue  # not collected on this day at all
        seconds = sum(s.seconds for s in covered)
        share = 100.0 * seconds / (end - start).total_seconds()
        status: Status
        if missing:
            listed = "; ".join(
                f"{g.start:%H:%M:%S}-{g.end:%H:%M:%S} ({g.detail})" for g in missing[:LISTED]
            )
            more = f" and {len(missing) - LISTED} more" if len(missing) > LISTED else ""
            message = (
                f"{spec.stream} collected {share:.2f}% of the day; {len(missing)} gap(s): "
                f"{listed}{more}"
            )
            status = "warn"
        else:
            message, status = f"{spec.stream} collected the whole day, no gap", "ok"
        yield CheckOutcome(CHECK, spec.stream, day, share, None, None, status, message, ())


def stream_reconcile_outcomes(
    store: Store,
    settings: Settings,
    day: date,
    source: str,
    now: datetime,
    loaded: dict[str, list[Interval]] | None = None,
) -> Iterator[CheckOutcome]:
    """``dq_stream_reconcile`` of ``day``; ``loaded``: the day's hourly intervals of ``source``
    per asset, when the caller holds them (they are the reference when ``source`` is one
    interval-volume source)."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    end = start + timedelta(days=1)
    reference, held = reference_intervals(store, settings, source, loaded, start, end)
    found = compare_streams(store, settings, held, start, end, tree_size=None, as_of=now)
    for figure in found.figures if found else ():
        if figure.compared:
            yield _reconciled(settings, day, figure, reference, held.get(figure.asset, []))


def _reconciled(
    settings: Settings, day: date, f: StreamFigure, reference: str, intervals: list[Interval]
) -> CheckOutcome:
    code = EXCHANGE_CODES.get(f.venue, f.venue)
    tolerance = settings.quality.reconcile_tolerance_pct
    over = []
    for h in f.compared:
        larger = max(h.stream_usd, h.reference_usd)
        apart = 100.0 * (h.stream_usd - h.reference_usd) / larger if larger else 0.0
        if apart > tolerance and larger >= settings.quality.reconcile_min_usd:
            over.append(f"{h.hour:%H:%M}Z {h.stream_usd:,.0f} vs {h.reference_usd:,.0f} USD")
    ref_usd = f.reference_usd_compared or 0.0
    share = 100.0 * f.stream_usd_compared / ref_usd if ref_usd else None
    hours = {h.hour for h in f.compared}
    shas = {s for i in intervals if i.start in hours for s in i.evidence_of(code)}
    evidence = tuple(sorted(shas | set(f.evidence)))
    head = (
        f"{f.asset} on {code}: the stream holds {f.stream_usd_compared:,.0f} USD against "
        f"{reference}'s {ref_usd:,.0f} over {len(f.compared)} hour(s) covered in full"
    )
    head += f" ({share:.1f}%)" if share is not None else ""
    status: Status
    if over:
        status = "warn"
        listed = "; ".join(over[:LISTED]) + (
            f" and {len(over) - LISTED} more" if len(over) > LISTED else ""
        )
        message = (
            f"{head}; above {reference} by more than {tolerance:g}% in {len(over)} hour(s): "
            f"{listed}"
        )
    else:
        status = "ok"
        message = f"{head}; never above it (a lower share is the venue's sampling)"
    return CheckOutcome(
        RECONCILE, f"{f.asset}/{code}", day, share, None, None, status, message, evidence
    )
