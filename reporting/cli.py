"""The ``liqrisk`` command: a thin layer over the library.

Every command has ``--help``. Domain errors (:class:`audit_store.errors.LiqriskError`) are printed
as one line on stderr with exit code 2, never a traceback; ``verify`` exits 1 when it finds
discrepancies. Commands whose output a machine reads take ``--json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from audit_store.db import Store
from audit_store.errors import LiqriskError
from reporting.config import Settings, load_settings
from reporting.limits_cli import ack, limits_app
from reporting.records import FetchSummary

if TYPE_CHECKING:
    from reporting.render import Reproduction
    from reporting.render.model import Period

app = typer.Typer(
    name="liqrisk",
    help="Liquidation risk reporting and audit export for crypto derivatives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(limits_app, name="limits")  # the limit framework: reporting.limits_cli
app.command("ack")(ack)

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


PeriodOption = Annotated[
    str, typer.Option("--period", help="day, or week (7 days ending on --date).")
]


def _period(value: str) -> Period:
    if value not in ("day", "week"):
        _fail(f"--period {value!r} is not day or week")
    return cast("Period", value)


def _print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _verdict(as_json: bool, document: Any, lines: Iterable[str], *, ok: bool) -> None:
    """A check's outcome for machines (JSON) or people (lines); exit 1 when it failed."""
    if as_json:
        _print_json(document)
    else:
        for line in lines:
            typer.echo(line)
    if not ok:
        raise typer.Exit(1)


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
    """Create or upgrade the audit store, and make the signing key if there is none.

    The key goes to the configured file (mode 0600) unless $LIQRISK_SIGNING_KEY holds one; it is
    never stored in the database. The verifier key printed is public: publish it.
    """
    from reporting.evidence import ensure_key, key_path

    settings = _settings()
    store = _store(settings, create=True)
    typer.echo(f"store ready: {store.description}")
    vkey, created = ensure_key(settings)
    if created:
        typer.echo(f"signing key created: {key_path(settings)} (keep it secret, keep it safe)")
    typer.echo(f"verifier key (public): {vkey}")


@app.command()
def retention(as_json: JsonOption = False) -> None:
    """What has passed the retention period (audit.retention_days); nothing is ever deleted."""
    from audit_store.retention import retention_report

    settings = _settings()
    found = retention_report(_store(settings), settings.audit.retention_days)
    if as_json:
        _print_json(
            {
                "retention_days": found.retention_days,
                "cutoff": found.cutoff.isoformat(),
                "snapshots": found.snapshots,
                "rows": found.rows,
                "check_runs": found.check_runs,
                "artifacts": found.artifacts,
                "pruned": found.pruned,
            }
        )
        return
    for line in found.summary_lines():
        typer.echo(line)


@app.command()
def checkpoint(
    publish: Annotated[
        Path | None,
        typer.Option("--publish", help="Also write the checkpoint and verifier key to DIR."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sign a checkpoint of the audit log (C2SP tlog-checkpoint, Ed25519) and print it."""
    from audit_store.checkpoint import publish_checkpoint
    from reporting.evidence import sign_latest

    settings = _settings()
    store = _store(settings)
    signed = sign_latest(store, settings)
    written = publish_checkpoint(store, publish) if publish else None
    if as_json:
        _print_json(
            {
                "tree_size": signed.tree_size,
                "root_hash": signed.root_hash,
                "note": signed.note,
                "verifier_key": signed.verifier_key,
                "published": str(written) if written else None,
            }
        )
        return
    typer.echo(signed.note, nl=False)
    if written:
        typer.echo(f"published: {written}")


@app.command("fetch")
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
    as_json: JsonOption = False,
) -> None:
    """Fetch from a source and keep every raw page in the audit store.

    Exits 1 when a page was quarantined for good or the source failed for an asset.
    """
    from reporting.ingest import FETCH_SOURCES, fetch

    settings = _settings()
    chosen = source or settings.fetch.default_source
    if chosen not in FETCH_SOURCES:
        _fail(f"--source {chosen!r} is not one of {', '.join(FETCH_SOURCES)}")
    if since_watermark and start:
        _fail("--since-watermark and --start exclude each other")
    begin = _parse_moment(start, "--start") if start else None
    finish = _parse_moment(end, "--end") if end else None
    store = _store(settings, create=True)
    fetches = fetch(
        store,
        settings,
        source=chosen,
        assets=asset or settings.fetch.assets,
        start=begin,
        end=finish,
        datasets=dataset,
    )
    if as_json:
        _print_json({"fetches": [_fetch_json(f) for f in fetches]})
        errors = sum(p.severity == "error" for f in fetches for p in f.problems)
    else:
        errors = _print_fetches(fetches)
    if errors:
        raise typer.Exit(1)


def _fetch_json(f: FetchSummary) -> dict[str, Any]:
    return {
        "source": f.source,
        "asset": f.asset,
        "pages": f.pages,
        "rows": f.rows,
        "quarantined": f.quarantined,
        "snapshot_ids": list(f.snapshot_ids),
        "problems": [
            {"severity": p.severity, "source": p.source, "message": p.message} for p in f.problems
        ],
    }


@app.command("backfill")
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

    from reporting.backfill import backfill

    settings = _settings()
    begin, finish = _parse_moment(start, "--start"), _parse_moment(end, "--end")
    store = _store(settings, create=True)
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
            assets=asset or settings.fetch.assets,
            start=begin,
            end=finish,
            datasets=dataset,
            chunk_days=chunk_days,
            on_progress=lambda done, total, what: bar.update(
                task, completed=done, total=total, description=what
            ),
        )
    if as_json:
        _print_json(
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


@app.command()
def corrections(
    date_: DateOption,
    source: Annotated[str, typer.Option("--source", help="Source (default: the configured).")] = "",
    as_json: JsonOption = False,
) -> None:
    """List a day's values that changed on a re-fetch, with the value before and after."""
    from reporting.history import corrections_for_day

    settings = _settings()
    day = _parse_day(date_)
    chosen = source or settings.fetch.default_source
    found = corrections_for_day(_store(settings), source=chosen, day=day)
    if as_json:
        _print_json(
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


@app.command()
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
    from reporting.history import versions as list_versions

    settings = _settings()
    chosen = source or settings.fetch.default_source
    found = list_versions(
        _store(settings),
        source=chosen,
        asset=asset,
        exchange=exchange,
        interval_start=_parse_moment(interval_start, "--interval-start"),
    )
    if as_json:
        _print_json({"versions": [v.to_json() for v in found]})
        return
    for v in found:
        typer.echo(
            f"leaf {v.leaf_index} fetched {v.fetched_at:%Y-%m-%d %H:%M:%S}Z "
            f"data_version {v.data_version or '-'}: {v.values.total_count} liq., "
            f"${v.values.total_usd:,.2f} (long ${v.values.long_usd:,.2f}, "
            f"short ${v.values.short_usd:,.2f}) sha256 {v.body_sha256[:16]}"
        )
    typer.echo(f"{len(found)} version(s); the last is current")


@app.command("watermarks")
def watermarks_cmd(
    source: Annotated[str, typer.Option("--source", help="Only this source.")] = "",
    as_json: JsonOption = False,
) -> None:
    """The current watermark of every source, dataset and asset."""
    from reporting.watermarks import latest

    settings = _settings()
    rows = sorted(
        latest(_store(settings), source or None), key=lambda w: (w.source, w.dataset, w.asset)
    )
    if as_json:
        _print_json(
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
                "results": [{**_result_json(r), **stored.extras_json(r)} for r in stored.results],
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
def report(date_: DateOption, period: PeriodOption = "day") -> None:
    """Render the risk report for a day (HTML and PDF) from the store and print the paths."""
    from reporting.render import render_report

    chosen = _period(period)
    settings = _settings()
    files = render_report(_store(settings), settings, _parse_day(date_), period=chosen)
    typer.echo(str(files.html_path))
    typer.echo(str(files.pdf_path))


def _reproduction_lines(found: Reproduction) -> Iterator[str]:
    if not found.inputs_ok:
        got = found.inputs_file_sha256 or "missing"
        yield (
            f"inputs  MISMATCH {found.inputs_name}: registered "
            f"{found.inputs_registered_sha256}, file {got}; not re-rendered"
        )
    else:
        assert found.inputs is not None
        yield (
            f"inputs  ok       {found.inputs_name} (tree size {found.inputs.tree_size}, "
            f"generated {found.inputs.generated_at.isoformat()})"
        )
        if found.inputs.software_version != found.software_version:
            yield (
                f"note: rendered by liqrisk {found.inputs.software_version}, reproducing "
                f"with {found.software_version}; the bytes may differ for that reason alone"
            )
        if found.config_changed:
            yield (
                f"note: rendered with configuration {found.inputs.config_hash}, the "
                f"configuration now is {found.config_hash}; the bytes may differ for that "
                "reason alone"
            )
    for f in found.files:
        if f.reproduced_sha256 is None:
            state = "skipped "
        else:
            state = "match   " if f.matches else "MISMATCH"
        yield f"{f.kind:12} {state} {f.name} {f.registered_sha256}"
        if f.reproduced_sha256 is not None and not f.matches:
            yield f"{'':12} reproduced {f.reproduced_sha256}"
    yield f"{found.period_label}: {'reproduced' if found.matches else 'NOT reproduced'}"


@app.command()
def reproduce(date_: DateOption, period: PeriodOption = "day", as_json: JsonOption = False) -> None:
    """Re-render the latest registered report from its recorded inputs and compare the hashes.

    Exit 0 when the HTML and the PDF both match their registered SHA-256, 1 otherwise (also when
    the inputs file no longer matches its own registered hash: then nothing is re-rendered).
    """
    from reporting.render import reproduce_report

    chosen = _period(period)
    settings = _settings()
    found = reproduce_report(_store(settings), settings, _parse_day(date_), period=chosen)
    _verdict(as_json, found.as_json(), _reproduction_lines(found), ok=found.matches)


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
    cp = result.checkpoint
    typer.echo(f"audit log: {cp.tree_size} leaves, root {cp.root_hash}, signed checkpoint {cp.id}")
    statuses = [r.status for r in result.run.results]
    typer.echo(
        f"checks for {day}: {statuses.count('breach')} breach, {statuses.count('warn')} warn, "
        f"{statuses.count('error')} error, {statuses.count('ok')} ok"
    )
    breached: dict[str, list[str]] = {}
    for r in result.run.results:
        if r.status == "breach":
            breached.setdefault(r.check, []).append(r.scope)
    for check_name, scopes in breached.items():  # the report and the emails give the details
        typer.echo(f"  BREACH {check_name}: {', '.join(scopes)}")
    typer.echo(f"report: {result.report.html_path}")
    typer.echo(f"report: {result.report.pdf_path}")
    if result.notices is not None:
        where = "" if settings.smtp.host else f" ({settings.reports_dir / 'outbox'})"
        typer.echo(f"outbox: {result.notices.summary()}{where}")
    if errors:
        raise typer.Exit(1)


@app.command()
def verify(
    as_json: JsonOption = False,
    trusted_key: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-key",
            help="A verifier key to pin (repeatable; adds to audit.trusted_keys). Checkpoints "
            "signed by any other key fail.",
        ),
    ] = None,
) -> None:
    """Recompute every stored hash, the Merkle log and every derived row; exit 1 on a difference."""
    from audit_store.verify import verify_store
    from reporting.derivers import derived_rows, verify_derived_tables

    settings = _settings()
    store = _store(settings)
    from reporting.evidence import trusted_keys

    result = verify_store(store, derived_rows, trusted_keys=trusted_keys(settings, trusted_key))
    for found in verify_derived_tables(store):  # funding, open interest, OKX orders, instruments
        result.add(found.table, found.record_id, found.message)
    from audit_store.verify import record_verify

    try:
        record_verify(store, result, datetime.now(UTC))  # what `liqrisk status` shows
    except LiqriskError as exc:  # the verdict stands even when it cannot be recorded
        typer.echo(f"liqrisk: warning: the outcome was not recorded: {exc}", err=True)
    _verdict(as_json, result.to_json(), result.summary_lines(), ok=result.ok)


@app.command("export")
def export_cmd(
    start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")],
    end: Annotated[
        str, typer.Option("--end", help="UTC day the range stops before (excluded), YYYY-MM-DD.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The zip to write (replaced if it exists).")],
    as_json: JsonOption = False,
) -> None:
    """Write the audit package of [start, end) that a regulator checks with python3 alone.

    Signs a checkpoint of the log first (or reuses the latest); report files come from reports_dir.
    The same store and range give the same bytes.
    """
    from audit_store.export import export_package
    from reporting.evidence import key_path

    days = []
    for option, value in (("--start", start), ("--end", end)):
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            _fail(f"{option} {value!r} is not a date in YYYY-MM-DD form")
    settings = _settings()
    result = export_package(
        _store(settings),
        start=days[0],
        end=days[1],
        out=out,
        origin=settings.audit.origin,
        key_path=key_path(settings),
        reports_dir=settings.reports_dir,
    )
    if as_json:
        _print_json({**vars(result), "path": str(result.path), "notes": list(result.notes)})
        return
    typer.echo(f"audit package: {result.path} ({result.files} files, {result.size} bytes)")
    typer.echo(f"  sha256 {result.sha256}")
    typer.echo(f"  {result.leaves} raw snapshots of {days[0]} up to {days[1]} (end excluded)")
    link = result.previous_tree_size
    typer.echo(
        f"  checkpoint: {result.tree_size} leaves, root {result.root_hash}; "
        + ("the first export" if link is None else f"extends the previous export's ({link})")
    )
    typer.echo(f"  signing key fingerprint (SHA-256): {result.fingerprint}")
    for note in result.notes:
        typer.echo(f"  note: {note}")


@app.command("verify-export")
def verify_export_cmd(
    package: Annotated[Path, typer.Argument(help="The audit package (zip) to check.")],
    expect_key: Annotated[
        str | None,
        typer.Option(
            "--expect-key",
            metavar="FINGERPRINT",
            help="Fail unless the signing key has this SHA-256 fingerprint (as published).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check an audit package as its verify.py does; refuse unsafe zips; exit 1 on a failure."""
    from audit_store.export_verify import verify_export

    result = verify_export(package, expect_key=expect_key)
    _verdict(as_json, result.to_dict(), result.lines(), ok=result.ok)


@app.command("run")
def run_cmd(
    instance: Annotated[
        str | None,
        typer.Option(
            "--instance",
            help="This daemon's name, for its job store table (default: schedule.instance, "
            "else the host name). Daemons sharing a database need different names.",
        ),
    ] = None,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up/--no-catch-up",
            help="First fetch since the watermarks, report missing days, publish, drain.",
        ),
    ] = True,
    log_level: Annotated[
        str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR (to stderr).")
    ] = "INFO",
) -> None:
    """Run the scheduler daemon: the jobs of the config's schedule section, each period once.

    Stops on SIGTERM or Ctrl-C after the running jobs finish (a fetch stops between pages, the
    daily job between days; the next start resumes them) and exits 0.
    """
    import logging

    from reporting.schedule.daemon import run_daemon

    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        _fail(f"--log-level {log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    settings = _settings()
    logging.basicConfig(  # libraries (APScheduler, httpx, WeasyPrint) say only what goes wrong
        level=level if level <= logging.DEBUG else max(level, logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("liqrisk").setLevel(level)
    run_daemon(settings, instance=instance, catch_up_first=catch_up)


@app.command()
def status(as_json: JsonOption = False) -> None:
    """The daemon's jobs (last and next runs), watermark lag, outbox backlog, last checkpoint,
    last verify."""
    from reporting.schedule.status import gather

    settings = _settings()
    found = gather(_store(settings), settings, datetime.now(UTC))
    if as_json:
        _print_json(found.to_json())
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


outbox_app = typer.Typer(
    help="The outbox: what was sent to whom, when; deliver what is waiting.",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")


@outbox_app.command("list")
def outbox_list(
    date_: Annotated[
        str | None, typer.Option("--date", help="Only messages of this day, YYYY-MM-DD.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every message with its recipients, state, attempts and attachment hashes."""
    from reporting.notify import list_outbox

    settings = _settings()
    entries = list_outbox(_store(settings), day=_parse_day(date_) if date_ else None)
    if as_json:
        _print_json({"messages": [e.to_json() for e in entries]})
        return
    for e in entries:
        when = e.delivered_at.isoformat(timespec="seconds") if e.delivered_at else "-"
        tries = sum(1 for a in e.attempts if a.result == "sending")
        typer.echo(f"{e.id:5} {e.state:9} {when:25} {tries}x  {e.key}  to {e.addressee}")
    typer.echo(f"{len(entries)} message(s)")


@outbox_app.command("drain")
def outbox_drain(
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait", help="Seconds to keep retrying (default: notify.drain_wait_seconds)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver every message that is due, retrying with backoff; exit 1 if any was given up."""
    from reporting.notify import drain

    settings = _settings()
    result = drain(_store(settings), settings, wait_seconds=wait)
    if as_json:
        _print_json(result.to_json())
    else:
        typer.echo(f"outbox: {result.summary()}")
        for key in result.failed:
            typer.echo(f"  given up: {key} (see `liqrisk outbox show {key}`)", err=True)
    if result.failed:
        raise typer.Exit(1)


@outbox_app.command("show")
def outbox_show(
    ref: Annotated[str, typer.Argument(help="The message's key, Message-ID or id.")],
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the message as sent (.eml or JSON body).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """One message: its recipients, attachments and every attempt, or the bytes sent."""
    from reporting.notify import find_message

    settings = _settings()
    entry, body = find_message(_store(settings), ref)
    if raw:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    if as_json:
        _print_json(entry.to_json())
        return
    typer.echo(f"{entry.key}: {entry.state}")
    typer.echo(f"  subject:    {entry.subject}")
    typer.echo(f"  to:         {entry.addressee}")
    typer.echo(f"  message-id: {entry.message_id}")
    typer.echo(f"  sha256:     {entry.body_sha256}")
    for a in entry.attachments:
        typer.echo(f"  attachment: {a['filename']} {a['size']} bytes sha256 {a['sha256']}")
    for t in entry.attempts:
        code = f" {t.response_code}" if t.response_code is not None else ""
        typer.echo(
            f"  {t.at.isoformat(timespec='seconds')} #{t.attempt} {t.result}{code} {t.detail}"
        )


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
