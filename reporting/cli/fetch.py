"""``liqrisk fetch``, ``backfill``, ``corrections``, ``versions``, ``watermarks``: fetching."""

from __future__ import annotations

from typing import Annotated

import typer

from reporting.cli.common import (
    DateOption,
    JsonOption,
    app_settings,
    configured_assets,
    fail,
    fetch_json,
    fetched_source,
    open_store,
    parse_day,
    parse_moment,
    parse_range,
    print_fetches,
    print_json,
    refuse_unserved,
)

FETCH_MAX_DAYS = 92
"""The longest range one ``fetch`` asks for without ``--long-range`` (a quarter)."""


def fetch_cmd(
    start: Annotated[
        str | None,
        typer.Option("--start", help="Start, ISO 8601 (inclusive); default: each watermark."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--end", help="End, ISO 8601 (exclusive); default: the last closed interval."),
    ] = None,
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="demo (bundled data set), kaiko (live API), binance (funding, open interest) "
            "or okx (funding, open interest, liquidation orders).",
        ),
    ] = "",
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", help="Asset code, repeatable (default: the configured assets)."),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset",
            help="liquidations, funding or open_interest, repeatable (default: the source's).",
        ),
    ] = None,
    since_watermark: Annotated[
        bool,
        typer.Option(
            "--since-watermark",
            help="Start each asset at its watermark: ask only for intervals not yet closed and "
            "stored (what a scheduled run does; also the default without --start).",
        ),
    ] = False,
    long_range: Annotated[
        bool,
        typer.Option(
            "--long-range",
            help=f"Allow a range longer than {FETCH_MAX_DAYS} days in one run (backfill walks "
            "long ranges in resumable chunks).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fetch from a source and keep every raw page in the audit store.

    Exits 1 when a page was quarantined for good or the source failed for an asset.
    """
    from reporting.fetch.ingest import fetch
    from reporting.fetch.registry import FETCH_SOURCES
    from reporting.notify.intraday_hourly import HourlyAlerts, deliver_now

    settings = app_settings()
    chosen = fetched_source(settings, source)
    if chosen not in FETCH_SOURCES:
        fail(f"--source {chosen!r} is not one of {', '.join(FETCH_SOURCES)}")
    if since_watermark and start:
        fail("--since-watermark and --start exclude each other")
    begin, finish = parse_range(
        start,
        end,
        max_days=None if long_range else FETCH_MAX_DAYS,
        long_flag="--long-range",
    )
    refuse_unserved(chosen, dataset, begin, finish)
    wanted = configured_assets(settings, asset)
    store = open_store(settings, create=True)
    alerts = HourlyAlerts(settings)
    fetches = fetch(
        store,
        settings,
        source=chosen,
        assets=wanted,
        start=begin,
        end=finish,
        datasets=dataset,
        after_store=alerts,
    )
    delivered = deliver_now(store, settings) if alerts.decided else None
    if as_json:
        found: dict[str, object] = {"fetches": [fetch_json(f) for f in fetches]}
        if delivered is not None:
            found["intraday"] = {"alerts": alerts.decided, "outbox": delivered.to_json()}
        print_json(found)
        errors = sum(p.severity == "error" for f in fetches for p in f.problems)
    else:
        errors = print_fetches(fetches)
        if delivered is not None:
            typer.echo(
                f"intraday: {alerts.decided} alert row(s) on the hours fetched; "
                f"outbox: {delivered.summary()}"
            )
    if errors:
        raise typer.Exit(1)


def backfill_cmd(
    source: Annotated[
        str, typer.Option("--source", help="demo, kaiko, binance or okx (as for fetch).")
    ],
    start: Annotated[str, typer.Option("--start", help="Start, ISO 8601 (inclusive).")],
    end: Annotated[str, typer.Option("--end", help="End, ISO 8601 (exclusive).")],
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", help="Asset code, repeatable (default: the configured assets)."),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="Dataset, repeatable (default: the source's)."),
    ] = None,
    chunk_days: Annotated[
        int | None,
        typer.Option(
            "--chunk-days",
            min=1,
            max=366,
            help="Days per chunk (default fetch.backfill_chunk_days).",
        ),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar on stderr.")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Walk a long range in bounded chunks; safe to kill at any point and run again to resume.

    Exits 1 when a chunk failed (run it again to resume from there).
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from reporting.fetch.backfill import backfill

    settings = app_settings()
    begin, finish = parse_range(start, end)
    assert begin is not None and finish is not None  # both options are required
    refuse_unserved(source, dataset, begin, finish)
    wanted = configured_assets(settings, asset)
    store = open_store(settings, create=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress or as_json,
    )
    with bar:
        task = bar.add_task("backfill", total=None)
        result = backfill(
            store,
            settings,
            source=source,
            assets=wanted,
            start=begin,
            end=finish,
            datasets=dataset,
            chunk_days=chunk_days,
            on_progress=lambda done, total, what: bar.update(
                task, completed=done, total=total, description=what
            ),
        )
    if as_json:
        print_json(
            {
                "chunks": result.chunks,
                "skipped": result.skipped,
                "pages": result.pages,
                "rows": result.rows,
                "quarantined": result.quarantined,
                "problems": [
                    {"severity": p.severity, "source": p.source, "message": p.message}
                    for p in result.all_problems
                ],
            }
        )
    else:
        typer.echo(
            f"backfill {source}: {result.chunks} chunk(s) fetched, {result.skipped} already "
            f"stored; {result.pages} page(s), {result.rows} row(s)"
            + (f", {result.quarantined} quarantined" if result.quarantined else "")
        )
        for p in result.all_problems:
            typer.echo(f"  {p.severity}: {p.source}: {p.message}", err=p.severity == "error")
    if result.errors:
        raise typer.Exit(1)


def corrections(
    date_: DateOption,
    source: Annotated[str, typer.Option("--source", help="Source (default: the configured).")] = "",
    as_json: JsonOption = False,
) -> None:
    """List a day's values that changed on a re-fetch, with the value before and after."""
    from reporting.fetch.corrections import corrections_for_day

    settings = app_settings()
    day = parse_day(date_)
    chosen = fetched_source(settings, source)
    found = corrections_for_day(open_store(settings), source=chosen, day=day)
    if as_json:
        print_json(
            {
                "date": day.isoformat(),
                "source": chosen,
                "count": len(found),
                "corrections": [c.to_json() for c in found],
            }
        )
        return
    for c in found:
        typer.echo(c.describe())
    typer.echo(f"{len(found)} correction(s) of {chosen} figures for {day}")


def versions(
    asset: Annotated[str, typer.Option("--asset", help="Asset code, e.g. BTC.")],
    interval_start: Annotated[
        str, typer.Option("--interval-start", help="Start of the interval, ISO 8601.")
    ],
    exchange: Annotated[
        str, typer.Option("--exchange", help="Exchange code, or * for all exchanges.")
    ] = "*",
    source: Annotated[str, typer.Option("--source", help="Source (default: the configured).")] = "",
    as_json: JsonOption = False,
) -> None:
    """Every stored version of one interval's value, with its snapshot and fetch time."""
    from reporting.fetch.corrections import versions as list_versions

    settings = app_settings()
    chosen = fetched_source(settings, source)
    found = list_versions(
        open_store(settings),
        source=chosen,
        asset=asset,
        exchange=exchange,
        interval_start=parse_moment(interval_start, "--interval-start"),
    )
    if as_json:
        print_json({"versions": [v.to_json() for v in found]})
        return
    for v in found:
        typer.echo(
            f"leaf {v.leaf_index} fetched {v.fetched_at:%Y-%m-%d %H:%M:%S}Z "
            f"data_version {v.data_version or '-'}: {v.values.total_count} liq., "
            f"${v.values.total_usd:,.2f} (long ${v.values.long_usd:,.2f}, "
            f"short ${v.values.short_usd:,.2f}) sha256 {v.body_sha256[:16]}"
        )
    typer.echo(f"{len(found)} version(s); the last is current")


def watermarks_cmd(
    source: Annotated[str, typer.Option("--source", help="Only this source.")] = "",
    as_json: JsonOption = False,
) -> None:
    """The current watermark of every source, dataset and asset."""
    from reporting.fetch.watermarks import latest

    settings = app_settings()
    rows = sorted(
        latest(open_store(settings), source or None), key=lambda w: (w.source, w.dataset, w.asset)
    )
    if as_json:
        print_json(
            {
                "watermarks": [
                    {
                        "source": w.source,
                        "dataset": w.dataset,
                        "asset": w.asset,
                        "covered_from": w.covered_from.isoformat(),
                        "watermark": w.watermark.isoformat(),
                        "recorded_at": w.recorded_at.isoformat(),
                    }
                    for w in rows
                ]
            }
        )
        return
    for w in rows:
        typer.echo(
            f"{w.source:8} {w.dataset:14} {w.asset:6} stored {w.covered_from:%Y-%m-%d %H:%M} "
            f"to {w.watermark:%Y-%m-%d %H:%M} UTC (recorded {w.recorded_at:%Y-%m-%d %H:%M})"
        )
