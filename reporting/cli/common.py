"""What every command module shares: the config option, the store, dates, JSON and the verdict.

Commands are plain functions; :mod:`reporting.cli` (the package) mounts them on the typer app.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from audit_store.db import Store
from reporting.config import Settings, load_settings
from reporting.records import FetchSummary

if TYPE_CHECKING:
    from reporting.render.model import Period

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
SourceOption = Annotated[
    str,
    typer.Option(
        "--source",
        help="The liquidation source to read: demo, kaiko, streams, or several joined by + in "
        "priority order, e.g. streams+kaiko (default: fetch.default_source).",
        show_default=False,
    ),
]
PeriodOption = Annotated[
    str, typer.Option("--period", help="day, or week (7 days ending on --date).")
]


class _State:
    config: Path | None = None


state = _State()
"""What the root callback read (``--config``), for the command that runs after it."""


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"liqrisk: error: {message}", err=True)
    raise typer.Exit(code)


def app_settings() -> Settings:
    return load_settings(state.config)


def source_settings(settings: Settings, source: str) -> tuple[Settings, str]:
    """``settings`` reading ``source`` (the configured default when empty), refused with one
    line when it is not a liquidation source."""
    from reporting.fetch.registry import source_problem
    from reporting.pipeline import with_source

    chosen = source or settings.fetch.default_source
    if why := source_problem(chosen):
        fail(f"--source {chosen!r}: {why}")
    return with_source(settings, chosen), chosen


def fetched_source(settings: Settings, source: str) -> str:
    """``source``, or the first fetched part of ``fetch.default_source`` (the streams are
    collected by ``liqrisk collect``, never fetched)."""
    from reporting.fetch.registry import volume_parts

    if source:
        return source
    parts = volume_parts(settings.fetch.default_source)
    if not parts:
        fail(
            f"fetch.default_source is {settings.fetch.default_source!r}: collected by "
            "`liqrisk collect`, not fetched; pass --source"
        )
    return parts[0]


def configured_assets(settings: Settings, given: list[str] | None) -> list[str]:
    """``--asset`` values (lower case), each one of ``fetch.assets``; the configured assets when
    none is given. An unknown asset is refused before any request: the source would answer an
    error that the permanent store keeps."""
    if not given:
        return list(settings.fetch.assets)
    known = set(settings.fetch.assets)
    for value in given:
        if value.lower() not in known:
            fail(
                f"--asset {value!r} is not a configured asset (fetch.assets: "
                f"{', '.join(settings.fetch.assets)}); add it to the config first"
            )
    return [v.lower() for v in given]


def warn_no_data(store: Store, settings: Settings, day: date, metrics: Any = None) -> str | None:
    """Print (on stderr) and return the line naming the assets the source read (the settings'
    ``fetch.default_source``) has no figures for on ``day`` and the sources that hold that day;
    ``metrics`` as loaded, else loaded here."""
    from reporting.checks.metrics import day_bounds, load_period, no_data_note

    source = settings.fetch.default_source
    if metrics is None:
        start, end = day_bounds(day)
        assets = settings.fetch.assets
        metrics = load_period(store, source=source, assets=assets, start=start, end=end)
    note = no_data_note(store, metrics, source=source, day=day)
    if note:
        typer.echo(f"liqrisk: warning: {note}", err=True)
    return note


def open_store(settings: Settings, *, create: bool = False) -> Store:
    store = Store(settings.database_url)
    if create:
        store.create_schema()
    else:
        store.require_schema()
    return store


def parse_day(value: str, option: str = "--date") -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date in YYYY-MM-DD form")


def parse_moment(value: str, option: str) -> datetime:
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 date or time")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _in_era(moment: date, option: str, value: str) -> None:
    from reporting.fetch.availability import EARLIEST_DAY

    if moment < EARLIEST_DAY:
        fail(f"{option} {value!r} is before {EARLIEST_DAY}, earlier than any market liqrisk reads")


def parse_range(
    start: str | None,
    end: str | None,
    *,
    now: datetime | None = None,
    max_days: int | None = None,
    long_flag: str = "",
) -> tuple[datetime | None, datetime | None]:
    """``--start`` (inclusive) and ``--end`` (exclusive) as UTC moments, either may be absent.

    Refused before anything is fetched: an empty or reversed range, a date before any market, a
    start in the future, an end more than a day ahead, and (with ``max_days``) a range longer
    than that many days unless the command's ``long_flag`` is given."""
    current = now or datetime.now(UTC)
    begin = parse_moment(start, "--start") if start else None
    finish = parse_moment(end, "--end") if end else None
    for moment, option, value in ((begin, "--start", start), (finish, "--end", end)):
        if moment is not None and value is not None:
            _in_era(moment.date(), option, value)
    if begin is not None and finish is not None and finish <= begin:
        fail(f"--end {end} is not after --start {start}: the range is empty")
    if begin is not None and begin >= current:
        fail(f"--start {start} is in the future: there is nothing to fetch yet")
    if finish is not None and finish > current + timedelta(days=1):
        fail(
            f"--end {end} is in the future; leave --end out to fetch up to the last closed interval"
        )
    if max_days is not None and begin is not None:
        span = (finish or current) - begin
        if span > timedelta(days=max_days):
            fail(
                f"the range {start} to {end or 'now'} spans {span.days} days, more than "
                f"{max_days}: use `liqrisk backfill` (chunked, resumable) or pass {long_flag}"
            )
    return begin, finish


def refuse_unserved(
    source: str, datasets: list[str] | None, start: datetime | None, end: datetime | None
) -> None:
    """Refuse a range the source does not serve (before its first day, or after a fixed end)
    with one line, before anything is asked (:mod:`reporting.fetch.availability`)."""
    from reporting.fetch.availability import outside
    from reporting.fetch.ingest import check_request

    why = outside(source, check_request(source, datasets), start, end)
    if why is not None:
        fail(why)


def parse_day_range(start: str, end: str, *, end_included: bool) -> tuple[date, date]:
    """``--start`` and ``--end`` as UTC days; ``end_included`` says whether ``--end`` is the
    last day (limits backtest) or the day the range stops before (export). Empty or reversed
    ranges are refused."""
    first, last = parse_day(start, "--start"), parse_day(end, "--end")
    _in_era(first, "--start", start)
    _in_era(last, "--end", end)
    if last < first or (last == first and not end_included):
        shown = "before" if last < first else "the same day as"
        fail(f"--end {end} is {shown} --start {start}: the range is empty")
    return first, last


def parse_period(value: str) -> Period:
    if value not in ("day", "week"):
        fail(f"--period {value!r} is not day or week")
    return cast("Period", value)


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def show_verdict(as_json: bool, document: Any, lines: Iterable[str], *, ok: bool) -> None:
    """A check's outcome for machines (JSON) or people (lines); exit 1 when it failed."""
    if as_json:
        print_json(document)
    else:
        for line in lines:
            typer.echo(line)
    if not ok:
        raise typer.Exit(1)


def print_fetches(fetches: Iterable[FetchSummary]) -> int:
    """Print each asset's fetch and its problems; returns the number of error problems."""
    errors = 0
    stored: list[str] = []
    for f in fetches:
        if f.already_stored:
            stored.append(f"{f.source} {f.asset}")
            continue
        typer.echo(
            f"fetched {f.source} {f.asset}: {f.pages} page(s), {f.rows} row(s)"
            + (f", {f.quarantined} quarantined" if f.quarantined else "")
        )
        for p in f.problems:
            errors += p.severity == "error"
            typer.echo(f"  {p.severity}: {p.source}: {p.message}", err=p.severity == "error")
    if stored:
        typer.echo(
            f"already stored, not fetched again: {', '.join(stored)} (pass --refetch to ask "
            "the source again)"
        )
    return errors


def fetch_json(f: FetchSummary) -> dict[str, Any]:
    return {
        "source": f.source,
        "asset": f.asset,
        "pages": f.pages,
        "rows": f.rows,
        "quarantined": f.quarantined,
        "already_stored": f.already_stored,
        "snapshot_ids": list(f.snapshot_ids),
        "problems": [
            {"severity": p.severity, "source": p.source, "message": p.message} for p in f.problems
        ],
    }


def result_json(r: Any) -> dict[str, Any]:
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
