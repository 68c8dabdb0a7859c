"""``liqrisk status``: the daemon's jobs, watermark lag, outbox backlog, checkpoints, verify."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from reporting.cli.common import JsonOption, app_settings, open_store, print_json


def status(as_json: JsonOption = False) -> None:
    """The daemon's jobs (last and next runs), watermark lag, outbox backlog, last checkpoint,
    last verify."""
    from reporting.schedule.status import gather

    settings = app_settings()
    found = gather(open_store(settings), settings, datetime.now(UTC))
    if as_json:
        print_json(found.to_json())
        return
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
    if found.unreported:
        days = ", ".join(d.isoformat() for d in found.unreported)
        typer.echo(f"daily reports due and not made: {days}")
    v = found.verify
    if v is None:
        typer.echo("verify: never run (`liqrisk verify`)")
    else:
        verdict = "OK" if v.ok else f"FAILED ({v.discrepancies} discrepancies)"
        typer.echo(f"verify: {verdict} at {v.at:%Y-%m-%d %H:%M} UTC, {v.leaves} leaves")
