"""``liqrisk limits ...`` and ``liqrisk ack``: the limit framework's commands.

Mounted by :mod:`reporting.cli`; the shared helpers (config, store, dates, JSON) are
:mod:`reporting.cli.common`'s.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from reporting.cli.common import (
    JsonOption,
    app_settings,
    fail,
    open_store,
    parse_day,
    parse_day_range,
    print_json,
    result_json,
)

if TYPE_CHECKING:
    from reporting.checks.calibrate import PercentileCI

limits_app = typer.Typer(
    help="The limit set: when each version came into force, backtests, calibration, the ack trail.",
    no_args_is_help=True,
)

StartOption = Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")]
EndOption = Annotated[str, typer.Option("--end", help="Last UTC day (included), YYYY-MM-DD.")]
SourceOption = Annotated[
    str, typer.Option("--source", help="The source whose history is read (default: configured).")
]


def _range(start: str, end: str) -> tuple[date, date]:
    return parse_day_range(start, end, end_included=True)


def _value(value: float, unit: str) -> str:
    from reporting.checks.catalogue import format_value

    return format_value(value, unit)


def _days(days: list[date]) -> str:
    return ", ".join(d.isoformat() for d in days) if days else "-"


@limits_app.command("history")
def history(as_json: JsonOption = False) -> None:
    """Every limit-set version with when it came into force (its first check run) and what it
    changed from the one before (intraday tables included); then the limit sets the live
    intraday evaluation stored results under."""
    from reporting.checks.intraday_history import intraday_limit_versions
    from reporting.checks.store import limit_history, limit_set_hash
    from reporting.cli.limits_intraday import change_lines, changes, intraday_version_lines

    settings = app_settings()
    store = open_store(settings)
    versions = limit_history(store)
    intraday = intraday_limit_versions(store)
    current = limit_set_hash(settings)
    diffs = [
        changes(versions[n - 1].content, v.content)
        if n and versions[n - 1].content is not None and v.content is not None
        else []
        for n, v in enumerate(versions)
    ]
    if as_json:
        print_json(
            {
                "configured": {"sha256": current, "file": settings.limits.loaded_from},
                "intraday_versions": [
                    {
                        "sha256": v.sha256,
                        "first_result_at": v.first_at.isoformat(),
                        "last_result_at": v.last_at.isoformat(),
                        "results": v.results,
                        "loaded_from": v.loaded_from,
                        "limit_set": v.content,
                    }
                    for v in intraday
                ],
                "versions": [
                    {
                        "sha256": v.sha256,
                        "in_force_from": v.in_force_from.isoformat(),
                        "first_run_id": v.first_run_id,
                        "last_run_at": v.last_run_at.isoformat(),
                        "runs": v.runs,
                        "first_day": v.first_day.isoformat(),
                        "last_day": v.last_day.isoformat(),
                        "loaded_from": v.loaded_from,
                        "limit_set": v.content,
                        "changes": diffs[n],
                    }
                    for n, v in enumerate(versions)
                ],
            }
        )
        return
    if not versions:
        typer.echo("no check run yet: no limit set has come into force")
    for v, found in zip(versions, diffs, strict=True):
        typer.echo(
            f"{v.sha256[:16]}  in force from {v.in_force_from:%Y-%m-%d %H:%M:%S} UTC "
            f"(run {v.first_run_id}); {v.runs} run(s) checking {v.first_day}..{v.last_day}, "
            f"last {v.last_run_at:%Y-%m-%d %H:%M:%S} UTC; from {v.loaded_from or 'unknown file'}"
        )
        for line in change_lines(found):
            typer.echo(line)
    for line in intraday_version_lines(intraday):
        typer.echo(line)
    in_force = versions[-1].sha256 if versions else None
    note = "in force" if current == in_force else "not yet used by a check run"
    typer.echo(f"configured: {current[:16]} ({settings.limits.loaded_from}): {note}")


@limits_app.command("backtest")
def backtest_cmd(
    limits_file: Annotated[
        Path, typer.Option("--limits", help="The candidate limit set (a limits.toml).")
    ],
    start: StartOption,
    end: EndOption,
    source: SourceOption = "",
    as_json: JsonOption = False,
) -> None:
    """Replay stored history against a candidate limit set: per limit, its warn and breach days.

    Intraday tables ([velocity_usd_15m], [exposure_usd_day], [imbalance_60m]) are replayed on
    the stored stream minutes, every minute's end evaluated: per limit and scope, the episodes
    it would have opened, when, and their peak. Nothing is stored. Exits 0 whatever the
    candidate would have found.
    """
    from reporting.checks.backtest import backtest
    from reporting.cli.limits_intraday import tallies_json, tally_lines
    from reporting.config import check_limit_scopes, load_limits

    settings = app_settings()
    first, last = _range(start, end)
    candidate = load_limits(limits_file)
    for warning in check_limit_scopes(settings, candidate, limits_file):
        typer.echo(f"warning: {warning}", err=True)
    result = backtest(open_store(settings), settings, candidate, first, last, source=source or None)
    if as_json:
        print_json(
            {
                "start": first.isoformat(),
                "end": last.isoformat(),
                "days": result.days,
                "source": result.source,
                "limit_set_sha256": result.limit_set_sha256,
                "limits_file": result.loaded_from,
                "limits": [
                    {
                        "check": t.check,
                        "scope": t.scope,
                        "threshold_scope": t.threshold_scope,
                        "warn_at": t.warn_at,
                        "limit": t.limit,
                        "unit": t.unit,
                        "warn_days": [d.isoformat() for d in t.warn_days],
                        "breach_days": [d.isoformat() for d in t.breach_days],
                        "error_days": [d.isoformat() for d in t.error_days],
                        "ok_days": t.ok_days,
                    }
                    for t in result.tallies
                ],
                **({"intraday": tallies_json(result.intraday)} if candidate.intraday else {}),
            }
        )
        return
    typer.echo(
        f"backtest of {result.loaded_from} ({result.limit_set_sha256[:16]}) on {result.source} "
        f"data, {first}..{last} ({result.days} days)"
    )
    quiet = 0
    for t in result.tallies:
        if not (t.warn_days or t.breach_days or t.error_days):
            quiet += 1
            continue
        levels = (
            f"warn {_value(t.warn_at, t.unit)}, limit {_value(t.limit, t.unit)}"
            if t.warn_at is not None and t.limit is not None
            else "no value"
        )
        typer.echo(f"{t.check} {t.scope} ({levels}; {t.threshold_scope}):")
        typer.echo(f"  breach {len(t.breach_days):3} day(s): {_days(t.breach_days)}")
        typer.echo(f"  warn   {len(t.warn_days):3} day(s): {_days(t.warn_days)}")
        if t.error_days:
            typer.echo(f"  error  {len(t.error_days):3} day(s): {_days(t.error_days)}")
    breach_days = sum(len(t.breach_days) for t in result.tallies)
    warn_days = sum(len(t.warn_days) for t in result.tallies)
    typer.echo(
        f"{len(result.tallies)} limits: {breach_days} breach and {warn_days} warn day(s) in all; "
        f"{quiet} limit(s) ok on every day"
    )
    if candidate.intraday and not result.intraday:
        typer.echo("intraday limits: no stream minutes stored in the range, nothing replayed")
    for line in tally_lines(result.intraday):
        typer.echo(line)


@limits_app.command("calibrate")
def calibrate_cmd(
    start: StartOption,
    end: EndOption,
    percentile: Annotated[
        float, typer.Option("--percentile", help="Percentile of the day values proposed as breach.")
    ] = 99.0,
    warn_percentile: Annotated[
        float, typer.Option("--warn-percentile", help="Percentile proposed as warn.")
    ] = 95.0,
    confidence: Annotated[
        float, typer.Option("--confidence", help="Confidence of the bootstrap intervals.")
    ] = 0.95,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the resampling.")] = 0,
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="A check or intraday table to calibrate, repeatable (default: configured).",
        ),
    ] = None,
    source: SourceOption = "",
    as_json: JsonOption = False,
) -> None:
    """Propose thresholds from history, with bootstrap intervals, as a TOML snippet to review.

    Intraday tables of the limit set in force are proposed from each day's peak window value
    over the stored stream minutes. Also fits the time to the next liquidation cluster per asset
    (Weibull, see [clusters] in limits.toml) and prints shape, scale, P(cluster within 24h) and
    the fit's sample size.
    """
    from reporting.checks.calibrate import calibrate, proposals_toml

    settings = app_settings()
    first, last = _range(start, end)
    try:
        result = calibrate(
            open_store(settings),
            settings,
            first,
            last,
            percentile=percentile,
            warn_percentile=warn_percentile,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
            checks=check,
            source=source or None,
        )
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        print_json(_calibration_json(result, proposals_toml(result)))
        return
    typer.echo(proposals_toml(result), nl=False)
    typer.echo("")
    typer.echo("# Time to the next liquidation cluster (Weibull fit of the hours between cluster")
    typer.echo("# starts; an hour is a cluster hour at or above the level of [clusters]):")
    for f in result.clusters:
        if f.shape is None or f.scale is None or f.p_within_24h is None:
            typer.echo(f"#   {f.asset}: not fitted: {f.problem}")
            continue
        level = _value(f.level_usd or 0.0, "usd")
        since = f"{f.hours_since_last:g} h" if f.hours_since_last is not None else "-"
        p_next = f"{f.p_next_24h:.0%}" if f.p_next_24h is not None else "-"
        typer.echo(
            f"#   {f.asset}: level {level}/h, n={f.n} gaps ({f.clusters} clusters in {f.hours} h); "
            f"shape {f.shape:.2f}, scale {f.scale:.1f} h; P(cluster within 24h) "
            f"{f.p_within_24h:.0%}; {since} since the last, P(next 24h) {p_next}"
        )
    for problem in result.problems:
        typer.echo(f"# note: {problem}")


def _ci_json(ci: PercentileCI, proposed: float) -> dict[str, Any]:
    """One proposed value with its percentile-bootstrap interval."""
    return {
        "estimate": ci.estimate,
        "low": ci.low,
        "high": ci.high,
        "percentile": ci.percentile,
        "proposed": proposed,
    }


def _calibration_json(result: Any, snippet: str) -> dict[str, Any]:
    return {
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "days": result.days,
        "source": result.source,
        "percentile": result.percentile,
        "warn_percentile": result.warn_percentile,
        "confidence": result.confidence,
        "resamples": result.resamples,
        "seed": result.seed,
        "proposals": [
            {
                "check": p.check,
                "scope": p.scope,
                "key": p.key,
                "unit": p.unit,
                "n": p.n,
                "warn": _ci_json(p.warn, p.proposed.warn),
                "breach": _ci_json(p.breach, p.proposed.breach),
                "current": p.current.model_dump() if p.current else None,
                "current_source": p.current_source,
                "unresolved": p.unresolved,
            }
            for p in result.proposals
        ],
        "clusters": [
            {
                "asset": f.asset,
                "level_usd": f.level_usd,
                "hours": f.hours,
                "clusters": f.clusters,
                "n": f.n,
                "shape": f.shape,
                "scale_hours": f.scale,
                "p_within_24h": f.p_within_24h,
                "hours_since_last": f.hours_since_last,
                "p_next_24h": f.p_next_24h,
                "problem": f.problem,
            }
            for f in result.clusters
        ],
        "problems": list(result.problems),
        **({"intraday_tables": list(result.intraday)} if result.intraday else {}),
        "toml": snippet,
    }


@limits_app.command("acks")
def acks_cmd(
    date_: Annotated[
        str | None, typer.Option("--date", help="Only acknowledgements of this day's results.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The acknowledgement trails, oldest first: check results', then intraday alerts', each
    with its hash chain checked (exit 1 if either is broken)."""
    from reporting.checks.intraday_acks import (
        intraday_ack_json,
        intraday_acknowledgements,
        row_day,
        verify_intraday_acknowledgements,
    )
    from reporting.checks.store import ack_json, acknowledgements, verify_acknowledgements

    settings = app_settings()
    store = open_store(settings)
    day = parse_day(date_) if date_ else None
    rows = acknowledgements(store, day)
    alerts = [(a, r) for a, r in intraday_acknowledgements(store) if day in (None, row_day(r))]
    problems = verify_acknowledgements(store) + verify_intraday_acknowledgements(store)
    if as_json:
        print_json(
            {
                "acks": [
                    {
                        **ack_json(a),
                        "check": r.check,
                        "scope": r.scope,
                        "day": r.day.isoformat(),
                        "status": r.status,
                    }
                    for a, r in rows
                ],
                "intraday_acks": [
                    {
                        **intraday_ack_json(a),
                        "limit": r.limit_name,
                        "scope": r.scope,
                        "day": row_day(r).isoformat(),
                        "status": r.status,
                    }
                    for a, r in alerts
                ],
                "chain_ok": not problems,
                "problems": [f"{p.source}: {p.message}" for p in problems],
            }
        )
    else:
        for a, r in rows:
            typer.echo(
                f"ack {a.id}: result {r.id} ({r.status} {r.check} {r.scope} on {r.day}) by "
                f"{a.acked_by} at {a.acked_at:%Y-%m-%d %H:%M:%S}: {a.comment}"
            )
        for i, ir in alerts:
            typer.echo(
                f"intraday ack {i.id}: alert {ir.limit_name} {ir.scope} (episode {ir.episode}, "
                f"result {ir.id}, {ir.status}) by {i.acked_by} at "
                f"{i.acked_at:%Y-%m-%d %H:%M:%S}: {i.comment}"
            )
        of_alerts = f", {len(alerts)} of intraday alerts" if alerts else ""
        typer.echo(
            f"{len(rows)} acknowledgement(s){of_alerts}; chain {'ok' if not problems else 'BROKEN'}"
        )
        for p in problems:
            typer.echo(f"  {p.source}: {p.message}", err=True)
    if problems:
        raise typer.Exit(1)


def ack(
    result_id: Annotated[
        int | None,
        typer.Argument(help="The check result's id (see `check --json`).", show_default=False),
    ] = None,
    comment: Annotated[str, typer.Option("--comment", help="Why: what was done or decided.")] = "",
    alert: Annotated[
        int | None,
        typer.Option(
            "--alert",
            metavar="RESULT_ID",
            help="Acknowledge an intraday alert instead, through any of its warn or breach rows "
            "(an intraday result's id, see the report's Intraday alerts section).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="On whose behalf (recorded beside the OS user, as typed)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge a check result, or with --alert an intraday alert; the result is never edited,
    the ack is kept in the audit log.

    For scripts: the ack records the OS user that ran it, marked "cli" (a name given with --by is
    kept beside it, unverified); the console (`liqrisk serve`) records the account it
    authenticated."""
    from reporting.web.accounts import cli_actor

    if (result_id is None) == (alert is None):
        fail("give either a check result's id or --alert RESULT_ID for an intraday alert")
    settings = app_settings()
    actor = cli_actor()
    who = actor if not (by and by.strip()) else f"{by.strip()} ({actor})"
    if alert is not None:
        _ack_alert(settings, alert, who, comment, as_json)
        return
    from reporting.checks.store import ack_json, acknowledge

    assert result_id is not None
    record, result = acknowledge(open_store(settings), result_id, by=who, comment=comment)
    if as_json:
        print_json({"ack": ack_json(record), "result": result_json(result)})
        return
    typer.echo(
        f"ack {record.id}: result {result_id} ({result.status} {result.check} {result.scope} on "
        f"{result.day}) acknowledged by {record.acked_by}; entry {record.entry_sha256[:16]}"
    )


def _ack_alert(settings: Any, result_id: int, who: str, comment: str, as_json: bool) -> None:
    from reporting.checks.intraday_acks import (
        acknowledge_alert,
        intraday_ack_json,
        intraday_result_json,
    )

    record, result = acknowledge_alert(open_store(settings), result_id, by=who, comment=comment)
    if as_json:
        print_json(
            {"ack": intraday_ack_json(record), "intraday_result": intraday_result_json(result)}
        )
        return
    typer.echo(
        f"intraday ack {record.id}: alert {result.limit_name} {result.scope} (episode "
        f"{result.episode}, through result {result_id}, {result.status}) acknowledged by "
        f"{record.acked_by}; entry {record.entry_sha256[:16]}"
    )
