"""``dq_stream_coverage`` (per stream): how much of the day each live stream was collecting.

A minute is covered while a connection of the stream was subscribed (:mod:`reporting.fetch.streams
.reading`); a quiet minute inside a covered span is not a gap (the venue had nothing to say). The
outcome's observed value is the covered share of the day, in per cent (of the day up to ``now``
for today); ``warn`` when any gap is on record, with each gap's time and recorded reason. Only
streams with a connection record touching the day are graded: a venue never collected is not a
gap of this day.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from audit_store.db import Store
from reporting.config import Settings
from reporting.fetch.streams.reading import coverage, has_sessions
from reporting.fetch.streams.venues import stream_specs
from reporting.records import CheckOutcome, Status

CHECK = "dq_stream_coverage"
TITLES = {CHECK: "Data quality: live stream coverage of the day"}
UNITS = {CHECK: "pct"}
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
