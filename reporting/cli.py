"""The ``liqrisk`` command: a thin layer over the library.

Every command has ``--help``. Domain errors (:class:`audit_store.errors.LiqriskError`) are printed
as one line on stderr with exit code 2, never a traceback; ``verify`` exits 1 when it finds
discrepancies. Commands whose output a machine reads take ``--json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from audit_store.db import Store
from audit_store.errors import LiqriskError
from reporting.config import Settings, load_settings
from reporting.records import FetchSummary

app = typer.Typer(
    name="liqrisk",
    help="Liquidation risk reporting and audit export for crypto derivatives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $LIQRISK_CONFIG, ./liqrisk.toml, then the packaged default).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object for machines.")]
DateOption = Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD.")]


class _State:
    config: Path | None = None


_state = _State()


@app.callback()
def _main(config: ConfigOption = None) -> None:
    _state.config = config


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"liqrisk: error: {message}", err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    return load_settings(_state.config)


def _store(settings: Settings, *, create: bool = False) -> Store:
    store = Store(settings.database_url)
    if create:
        store.create_schema()
    else:
        store.require_schema()
    return store


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--date {value!r} is not a date in YYYY-MM-DD form")


def _parse_moment(value: str, option: str) -> datetime:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        _fail(f"{option} {value!r} is not an ISO 8601 date or time")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _print_fetches(fetches: Iterable[FetchSummary]) -> int:
    """Print each asset's fetch and its problems; returns the number of error problems."""
    errors = 0
    for f in fetches:
        typer.echo(
            f"fetched {f.source} {f.asset}: {f.pages} page(s), {f.rows} row(s)"
            + (f", {f.quarantined} quarantined" if f.quarantined else "")
        )
        for p in f.problems:
            errors += p.severity == "error"
            typer.echo(f"  {p.severity}: {p.source}: {p.message}", err=p.severity == "error")
    return errors


@app.command()
def init() -> None:
    """Create the audit store's schema, or upgrade it to this version."""
    settings = _settings()
    store = _store(settings, create=True)
    typer.echo(f"store ready: {store.description}")


@app.command("fetch")
def fetch_cmd(
    start: Annotated[str, typer.Option("--start", help="Start, ISO 8601 (inclusive).")],
    end: Annotated[str, typer.Option("--end", help="End, ISO 8601 (exclusive).")],
    source: Annotated[
        str, typer.Option("--source", help="demo (bundled data set) or kaiko (live API).")
    ] = "",
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", help="Asset code, repeatable (default: the configured assets)."),
    ] = None,
) -> None:
    """Fetch liquidation volumes and keep every raw page in the audit store."""
    from reporting.ingest import SOURCES, fetch

    settings = _settings()
    chosen = source or settings.fetch.default_source
    if chosen not in SOURCES:
        _fail(f"--source {chosen!r} is not one of {', '.join(SOURCES)}")
    begin, finish = _parse_moment(start, "--start"), _parse_moment(end, "--end")
    store = _store(settings, create=True)
    fetches = fetch(
        store,
        settings,
        source=chosen,
        assets=asset or settings.fetch.assets,
        start=begin,
        end=finish,
    )
    if _print_fetches(fetches):
        raise typer.Exit(1)


def _result_json(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "check": r.check,
        "scope": r.scope,
        "observed": r.observed,
        "warn_at": r.warn_at,
        "limit": r.limit,
        "pct_of_limit": r.pct_of_limit,
        "status": r.status,
        "message": r.message,
        "evidence": json.loads(r.evidence_json),
    }


def _metrics_json(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for asset, m in metrics.items():
        out[asset] = {
            "source": m.source,
            "liquidations_usd": m.totals.total_usd,
            "long_usd": m.totals.long_usd,
            "short_usd": m.totals.short_usd,
            "liquidations_count": m.totals.total_count,
            "long_count": m.totals.long_count,
            "short_count": m.totals.short_count,
            "by_exchange": {code: v.total_usd for code, v in m.by_exchange.items()},
            "intervals_expected": m.intervals_expected,
            "intervals_received": m.intervals_received,
        }
    return out


@app.command()
def check(date_: DateOption, as_json: JsonOption = False) -> None:
    """Run every check for a day against the configured limits and store the results.

    Exits 0 when the checks ran, whatever they found.
    """
    from reporting.checks import run_checks

    settings = _settings()
    day = _parse_day(date_)
    store = _store(settings)
    metrics, stored = run_checks(store, settings, day)
    if as_json:
        _print_json(
            {
                "date": day.isoformat(),
                "run": {
                    "id": stored.run.id,
                    "limit_set_sha256": stored.run.limit_set_sha256,
                    "config_hash": stored.run.config_hash,
                },
                "metrics": _metrics_json(metrics),
                "results": [_result_json(r) for r in stored.results],
            }
        )
        return
    counts: dict[str, int] = {}
    for r in stored.results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status != "ok":
            typer.echo(f"{r.status.upper():7} {r.check:20} {r.scope:14} {r.message}")
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("breach", "warn", "error", "ok"))
    typer.echo(f"checks for {day}: {summary} (run {stored.run.id})")


@app.command()
def report(
    date_: DateOption,
    period: Annotated[
        str, typer.Option("--period", help="day, or week (7 days ending on --date).")
    ] = "day",
) -> None:
    """Render the risk report for a day (HTML and PDF) from the store and print the paths."""
    from reporting.render import render_report

    if period not in ("day", "week"):
        _fail(f"--period {period!r} is not day or week")
    settings = _settings()
    store = _store(settings)
    files = render_report(store, settings, _parse_day(date_), period=period)  # type: ignore[arg-type]
    typer.echo(str(files.html_path))
    typer.echo(str(files.pdf_path))


@app.command()
def daily(
    date_: Annotated[
        str | None,
        typer.Option("--date", help="UTC day (default: yesterday; the stress day for the demo)."),
    ] = None,
    source: Annotated[str, typer.Option("--source", help="demo or kaiko.")] = "",
) -> None:
    """Fetch, check and report one day: the whole daily job."""
    from reporting.ingest import SOURCES
    from reporting.pipeline import default_day, run_daily

    settings = _settings()
    chosen = source or settings.fetch.default_source
    if chosen not in SOURCES:
        _fail(f"--source {chosen!r} is not one of {', '.join(SOURCES)}")
    day = _parse_day(date_) if date_ else default_day(settings, chosen)
    store = _store(settings, create=True)
    result = run_daily(store, settings, day, source=chosen)
    errors = _print_fetches(result.fetches)
    statuses = [r.status for r in result.run.results]
    typer.echo(
        f"checks for {day}: {statuses.count('breach')} breach, {statuses.count('warn')} warn, "
        f"{statuses.count('error')} error, {statuses.count('ok')} ok"
    )
    for r in result.run.results:
        if r.status == "breach":
            typer.echo(f"  BREACH {r.message}")
    typer.echo(f"report: {result.report.html_path}")
    typer.echo(f"report: {result.report.pdf_path}")
    if errors:
        raise typer.Exit(1)


@app.command()
def verify(as_json: JsonOption = False) -> None:
    """Recompute every stored hash, the Merkle log and every derived row; exit 1 on a difference."""
    from audit_store.verify import verify_store
    from reporting.derivers import derived_rows

    settings = _settings()
    store = _store(settings)
    result = verify_store(store, derived_rows)
    if as_json:
        _print_json(result.to_json())
    else:
        for line in result.summary_lines():
            typer.echo(line)
    if not result.ok:
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning domain errors into one line and exit code 2."""
    try:
        app(args=argv, prog_name="liqrisk")  # usage errors and --help exit through click
    except LiqriskError as exc:
        typer.echo(f"liqrisk: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("liqrisk: interrupted", err=True)
        sys.exit(130)
