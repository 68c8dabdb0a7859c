"""``liqrisk status``: the daemon's jobs, watermark lag, outbox backlog, checkpoints, verify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from reporting.cli.common import JsonOption, app_settings, open_store, print_json


def status(as_json: JsonOption = False) -> None:
    """The daemon's jobs (last and next runs), watermark lag, outbox backlog, last checkpoint,
    checkpoints waiting for an RFC 3161 time stamp, last verify."""
    from reporting.schedule.status import gather

    settings = app_settings()
    store = open_store(settings)
    found = gather(store, settings, datetime.now(UTC))
    streams = _stream_health(store, settings)
    if as_json:
        print_json({**found.to_json(), "streams": [h.to_json() for h in streams]})
        return
    _print_streams(streams)
    for job in found.jobs:
        last = job.last
        typer.echo(f"{job.job:10} {job.trigger}")
        if last is not None:
            ended = last.ended_at.isoformat(timespec="seconds") if last.ended_at else "-"
            typer.echo(f"  last: {last.period} {last.status} at {ended}: {last.detail}")
        for run in job.active:
            since = run.started_at.isoformat(timespec="seconds")
            typer.echo(f"  {run.status}: {run.period} by {run.owner} since {since}: {run.detail}")
        for name, when in sorted(job.next_runs.items()):
            typer.echo(f"  next ({name}): {when.isoformat(timespec='seconds') if when else '-'}")
        if job.failures:
            typer.echo(f"  failed runs since it last went well: {job.failures}")
    for w in found.watermarks:
        typer.echo(
            f"watermark {w.source} {w.dataset} {w.asset}: {w.watermark:%Y-%m-%d %H:%M} UTC, "
            f"{w.lag_seconds / 3600:.1f} h behind"
        )
    box = found.outbox
    oldest = f", oldest {box.oldest:%Y-%m-%d %H:%M} UTC" if box.oldest else ""
    typer.echo(
        f"outbox: {box.waiting} waiting ({box.pending} new, {box.retry} to retry, "
        f"{box.sending} sending){oldest}; {box.failed} given up"
    )
    cp = found.checkpoint
    if cp is None:
        typer.echo("checkpoint: none signed yet")
    else:
        published = f"; published {cp.published} ({cp.published_tree_size})" if cp.published else ""
        typer.echo(f"checkpoint: {cp.tree_size} leaves, {cp.created_at:%Y-%m-%d %H:%M}{published}")
    stamps = found.anchor
    if stamps is not None and stamps.waiting == 0:
        typer.echo(f"time stamps: every checkpoint covered by a token of {stamps.tsa_url}")
    elif stamps is not None:
        since = f"{stamps.oldest_waiting:%Y-%m-%d %H:%M} UTC" if stamps.oldest_waiting else "-"
        typer.echo(
            f"time stamps: {stamps.waiting} checkpoint(s) waiting for a token of {stamps.tsa_url} "
            f"since {since}"
        )
        if stamps.last_error:
            typer.echo(f"  last attempt: {stamps.last_error}")
    if found.unreported:
        days = ", ".join(d.isoformat() for d in found.unreported)
        typer.echo(f"daily reports due and not made: {days}")
    v = found.verify
    if v is None:
        typer.echo("verify: never run (`liqrisk verify`)")
    else:
        verdict = "OK" if v.ok else f"FAILED ({v.discrepancies} discrepancies)"
        typer.echo(f"verify: {verdict} at {v.at:%Y-%m-%d %H:%M} UTC, {v.leaves} leaves")


def _stream_health(store: Any, settings: Any) -> list[Any]:
    """Each configured stream that has ever connected: connected or not, age of the last frame,
    frames and events in the last hour, gaps today."""
    from reporting.fetch.streams.reading import has_sessions, health
    from reporting.fetch.streams.venues import stream_specs

    warn = settings.streams.silent_warn_seconds
    return [
        health(store, spec, silent_warn_seconds=warn)
        for spec in stream_specs(settings)
        if has_sessions(store, spec.stream)
    ]


def _print_streams(streams: list[Any]) -> None:
    now = datetime.now(UTC)
    for h in streams:
        age = f"{(now - h.last_frame).total_seconds():.0f} s ago" if h.last_frame else "never"
        state = "connected" if h.connected else "not connected"
        typer.echo(
            f"stream {h.stream}: {state}, last frame {age}, last hour {h.frames_last_hour} frames "
            f"{h.events_last_hour} events ({h.duplicates_last_hour} duplicates), gaps today "
            f"{h.gaps_today} ({h.gap_seconds_today:.0f} s)"
        )
        if h.warning:
            typer.echo(f"  warning: {h.warning}")
