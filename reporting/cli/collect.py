"""``liqrisk collect`` (the live streams, in the foreground) and ``liqrisk events`` (what they
stored)."""

from __future__ import annotations

import asyncio
import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from audit_store.db import Store
from reporting.cli.common import (
    JsonOption,
    app_settings,
    fail,
    open_store,
    parse_moment,
    print_json,
)

if TYPE_CHECKING:
    from reporting.config import Settings
    from reporting.fetch.streams.runner import CollectResult
    from reporting.fetch.streams.writer import BatchHook
    from reporting.notify.intraday import Deliverer

VENUES = ("binance", "bybit", "okx")
EVENT_COLUMNS = (
    "venue",
    "instrument",
    "asset",
    "side",
    "price",
    "quantity",
    "usd",
    "exchange_time",
    "receive_time",
    "snapshot",
)


def collect(
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="A venue to collect: binance, bybit or okx; repeat for several "
            "(default: streams.venues).",
            show_default=False,
        ),
    ] = None,
    for_seconds: Annotated[
        float | None,
        typer.Option(
            "--for", help="Stop after this many seconds (default: until SIGINT or SIGTERM)."
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Replay the real recorded Binance sample through a loopback server "
            "(no network), then stop.",
        ),
    ] = False,
    sample: Annotated[
        Path | None,
        typer.Option("--sample", help="With --demo: the recorded CSV to replay."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Collect liquidations live from the exchanges' websocket streams, frame by frame, into the
    audit store; no API key needed. Stops cleanly (batches committed, disconnects recorded)."""
    from reporting.fetch.streams.runner import prepare_specs, run_streams

    venues = tuple(v.lower() for v in source or ())
    for venue in venues:
        if venue not in VENUES:
            fail(f"--source {venue!r} is not one of {', '.join(VENUES)}")
    if for_seconds is not None and for_seconds <= 0:
        fail(f"--for {for_seconds:g} is not a positive number of seconds")
    if demo and venues and venues != ("binance",):
        fail("--demo replays Binance's stream only: leave --source out")
    if sample is not None and not demo:
        fail("--sample goes with --demo")
    from reporting.notify.intraday import Deliverer, IntradayAlerts

    settings = app_settings()
    store = open_store(settings, create=True)  # one command from nothing to collecting
    # The intraday limits are evaluated in each batch's transaction; their alerts go at once.
    hook = IntradayAlerts(settings) if settings.limits.intraday else None
    deliverer = Deliverer(store, settings)
    if hook is not None:  # what a group window held, or a killed collector left, goes now
        deliverer.start()
    try:
        if demo:
            result = asyncio.run(_demo(store, settings, sample, for_seconds, hook, deliverer))
        else:
            specs = prepare_specs(store, settings, venues or None)
            streams = ", ".join(s.stream for s in specs)
            typer.echo(f"collecting {streams} (Ctrl-C stops)", err=True)
            result = asyncio.run(
                run_streams(
                    store,
                    settings,
                    specs,
                    seconds=for_seconds,
                    handle_signals=True,
                    after_batch=hook,
                    on_batch=deliverer.on_batch,
                )
            )
    finally:
        deliverer.close()
    if as_json:
        print_json(result.to_json())
        return
    for stats in result.streams.values():
        typer.echo(
            f"{stats.stream}: {stats.frames} frames, {stats.events} events "
            f"({stats.duplicates} duplicates not counted), {stats.rejected} rejected frames, "
            f"{stats.batches} batches, {stats.connections} connections"
        )
        for reason in stats.disconnects:
            if reason != "stopped":
                typer.echo(f"  disconnect: {reason}")
        if stats.connect_failures:
            typer.echo(
                f"  could not connect {stats.connect_failures} time(s); last: {stats.last_failure}"
            )
    typer.echo(f"stopped by {result.stopped_by}")


async def _demo(
    store: Store,
    settings: Settings,
    sample: Path | None,
    seconds: float | None,
    hook: BatchHook | None = None,
    deliverer: Deliverer | None = None,
) -> CollectResult:
    from reporting.fetch.streams.demo import find_sample, replay_server, sample_frames
    from reporting.fetch.streams.runner import run_streams
    from reporting.fetch.streams.venues import stream_specs

    path = find_sample(sample)
    frames = sample_frames(path)
    typer.echo(f"replaying {len(frames)} recorded frames of {path}", err=True)
    async with replay_server(frames) as url:
        demo_settings = settings.model_copy(
            update={"streams": settings.streams.model_copy(update={"binance_url": url})}
        )
        specs = stream_specs(demo_settings, ("binance",))
        return await run_streams(
            store,
            demo_settings,
            specs,
            seconds=seconds or 120.0,
            until=lambda stats: sum(s.frames for s in stats.values()) >= len(frames),
            handle_signals=True,
            after_batch=hook,
            on_batch=deliverer.on_batch if deliverer is not None else None,
        )


def events(
    source: Annotated[str, typer.Option("--source", help="The venue: binance, bybit or okx.")],
    start: Annotated[str, typer.Option("--start", help="From this exchange time (ISO 8601).")],
    end: Annotated[str, typer.Option("--end", help="Up to this exchange time, exclusive.")],
    asset: Annotated[
        str | None, typer.Option("--asset", help="Only this base asset (e.g. btc).")
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
) -> None:
    """List stored stream events (duplicates not counted), in exchange-time order; side is the
    position liquidated (long or short), usd the notional."""
    from reporting.fetch.streams.reading import events as read_events

    venue = source.lower()
    if venue not in VENUES:
        fail(f"--source {source!r} is not one of {', '.join(VENUES)}")
    if format_ not in ("csv", "json"):
        fail(f"--format {format_!r} is not csv or json")
    begin, finish = parse_moment(start, "--start"), parse_moment(end, "--end")
    if finish <= begin:
        fail(f"--end {end} is not after --start {start}: the range is empty")
    settings = app_settings()
    found = read_events(open_store(settings), venue=venue, start=begin, end=finish, asset=asset)
    if format_ == "json":
        print_json(found)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(EVENT_COLUMNS)
    for event in found:
        snapshot = event["snapshot"]
        writer.writerow([event[c] for c in EVENT_COLUMNS[:-1]] + [f"leaf {snapshot['leaf_index']}"])
