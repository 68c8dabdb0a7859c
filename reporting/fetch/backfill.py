"""Backfill: walk a long range in bounded chunks, resumable after any interruption (even kill -9).

Each (dataset, asset) range is cut into chunks of ``fetch.backfill_chunk_days``; each chunk is an
ordinary fetch (:func:`reporting.fetch.ingest.fetch`): pages streamed and kept one transaction each,
the watermark advanced once the chunk is complete. Before a chunk is fetched the current watermark
is read again, and a chunk it already covers is skipped: that is how a re-run after a kill resumes
where the last complete chunk ended. A chunk cut short by the kill is fetched again whole; its pages
kept before the kill stay as earlier snapshots, and since the current value of an interval is the
one from the latest snapshot, the final current rows are exactly those of an uninterrupted run.

Chunks run forwards from ``start``, or backwards from ``end`` when the range begins before what is
already covered, so that coverage grows as one contiguous range either way. A range separated from
the covered one by a gap is still fetched, but cannot move the watermark (a re-run fetches it
again), and the result says so.

The first chunk that fails (a source error, a page quarantined for good) stops that (dataset,
asset): the watermark stays before it and a re-run starts there; other assets go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from audit_store.db import Store
from reporting.config import Settings
from reporting.fetch import watermarks
from reporting.fetch.ingest import PageHook, StoredPage, check_request, fetch
from reporting.fetch.normalise import asset_code
from reporting.records import FetchSummary, Problem

ProgressListener = Callable[[float, float, str], None]
"""Told ``(done, total, description)`` as the backfill goes; done and total in seconds of range."""


@dataclass
class BackfillResult:
    chunks: int = 0  # chunks fetched
    skipped: int = 0  # chunks already covered by a watermark
    pages: int = 0
    rows: int = 0
    quarantined: int = 0
    fetches: list[FetchSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.all_problems)

    @property
    def all_problems(self) -> list[Problem]:
        return [*self.problems, *(p for f in self.fetches for p in f.problems)]


def chunks(
    start: datetime, end: datetime, days: int, *, backwards: bool
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into pieces of ``days`` (the last, or first, may be shorter)."""
    step = timedelta(days=days)
    pieces = []
    if backwards:
        cursor = end
        while cursor > start:
            pieces.append((max(start, cursor - step), cursor))
            cursor -= step
    else:
        cursor = start
        while cursor < end:
            pieces.append((cursor, min(end, cursor + step)))
            cursor += step
    return pieces


def _page_progress(
    report: Callable[[float, str], None],
    chunk_start: datetime,
    chunk_end: datetime,
    backwards: bool,
    text: str,
) -> Callable[[str, str, StoredPage], None]:
    """A page listener reporting how far into the chunk the latest page reached."""
    width = (chunk_end - chunk_start).total_seconds()

    def on_page(_label: str, _asset: str, page: StoredPage) -> None:
        if page.latest is None:
            return
        reached = (chunk_end - page.latest) if backwards else (page.latest - chunk_start)
        report(max(0.0, min(width, reached.total_seconds())), text)

    return on_page


def backfill(
    store: Store,
    settings: Settings,
    *,
    source: str,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    datasets: Iterable[str] | None = None,
    chunk_days: int | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
    on_progress: ProgressListener | None = None,
    after_store: PageHook | None = None,
) -> BackfillResult:
    """Fetch ``datasets`` of ``source`` for ``assets`` over [start, end), chunk by chunk
    (``after_store`` as for :func:`reporting.fetch.ingest.fetch`)."""
    chosen = check_request(source, datasets)
    wanted = [asset_code(a).lower() for a in assets]
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    days = chunk_days or settings.fetch.backfill_chunk_days
    now = clock or (lambda: datetime.now(UTC))
    result = BackfillResult()
    if end <= start:
        result.problems.append(
            Problem("backfill", f"end {end} is not after start {start}", "error")
        )
        return result
    span = (end - start).total_seconds()
    total = span * len(chosen) * len(wanted)
    done = 0.0

    def report(extra: float, what: str) -> None:
        if on_progress is not None:
            on_progress(min(total, done + extra), total, what)

    for dataset in chosen:
        for asset in wanted:
            label = f"{source} {dataset} {asset.upper()}"
            mark = watermarks.current(store, source, dataset, asset)
            backwards = mark is not None and start < mark.covered_from
            if mark is not None and (end < mark.covered_from or start > mark.watermark):
                result.problems.append(
                    Problem(
                        label,
                        f"[{start:%Y-%m-%d}, {end:%Y-%m-%d}) leaves a gap to what is covered "
                        f"([{mark.covered_from:%Y-%m-%d %H:%M}, {mark.watermark:%Y-%m-%d %H:%M})): "
                        "it is fetched, but the watermark cannot move (a re-run fetches it again)",
                        "warning",
                    )
                )
            for chunk_start, chunk_end in chunks(start, end, days, backwards=backwards):
                width = (chunk_end - chunk_start).total_seconds()
                what = f"{label} {chunk_start:%Y-%m-%d}..{chunk_end:%Y-%m-%d}"
                mark = watermarks.current(store, source, dataset, asset)
                if mark is not None and mark.covers(chunk_start, chunk_end):
                    result.skipped += 1
                    done += width
                    report(0.0, f"{what} (already stored)")
                    continue
                report(0.0, what)

                on_page = _page_progress(report, chunk_start, chunk_end, backwards, what)
                summaries = fetch(
                    store,
                    settings,
                    source=source,
                    assets=[asset],
                    start=chunk_start,
                    end=chunk_end,
                    datasets=[dataset],
                    transport=transport,
                    clock=now,
                    on_page=on_page,
                    after_store=after_store,
                )
                result.chunks += 1
                done += width
                report(0.0, what)
                failed = False
                for summary in summaries:
                    result.fetches.append(summary)
                    result.pages += summary.pages
                    result.rows += summary.rows
                    result.quarantined += summary.quarantined
                    failed = failed or any(p.severity == "error" for p in summary.problems)
                if failed:
                    result.problems.append(
                        Problem(
                            label,
                            f"stopped at {chunk_start:%Y-%m-%d}..{chunk_end:%Y-%m-%d} after an "
                            "error; run the backfill again to resume from there",
                            "error",
                        )
                    )
                    remaining = (end - chunk_end) if not backwards else (chunk_start - start)
                    done += max(0.0, remaining.total_seconds())
                    report(0.0, f"{label} stopped")
                    break
    return result
