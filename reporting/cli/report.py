"""``liqrisk report``, ``reproduce`` and ``daily``: the rendered report and the whole daily job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer

from reporting.cli.common import (
    DateOption,
    JsonOption,
    PeriodOption,
    SourceOption,
    app_settings,
    fetch_json,
    open_store,
    parse_day,
    parse_period,
    print_fetches,
    print_json,
    show_verdict,
    source_settings,
    warn_no_data,
)

if TYPE_CHECKING:
    from reporting.render import Reproduction


def report(
    date_: DateOption,
    period: PeriodOption = "day",
    source: SourceOption = "",
    as_json: JsonOption = False,
) -> None:
    """Render the risk report for a day (HTML and PDF) from the store and print the paths.

    Reads the latest check run of the day from ``--source`` and that source's figures; a warning
    on stderr names the sources that hold the day when this one lacks an asset.
    """
    from reporting.render import render_report

    chosen = parse_period(period)
    settings, name = source_settings(app_settings(), source)
    day = parse_day(date_)
    store = open_store(settings)
    files = render_report(store, settings, day, period=chosen)
    note = warn_no_data(store, settings, day)
    if as_json:
        print_json(
            {
                "date": day.isoformat(),
                "period": chosen,
                "source": name,
                "html": str(files.html_path),
                "pdf": str(files.pdf_path),
                "warning": note,
            }
        )
        return
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


def reproduce(date_: DateOption, period: PeriodOption = "day", as_json: JsonOption = False) -> None:
    """Re-render the latest registered report from its recorded inputs and compare the hashes.

    Exit 0 when the HTML and the PDF both match their registered SHA-256, 1 otherwise (also when
    the inputs file no longer matches its own registered hash: then nothing is re-rendered).
    """
    from reporting.render import reproduce_report

    chosen = parse_period(period)
    settings = app_settings()
    found = reproduce_report(open_store(settings), settings, parse_day(date_), period=chosen)
    show_verdict(as_json, found.as_json(), _reproduction_lines(found), ok=found.matches)


def daily(
    date_: Annotated[
        str | None,
        typer.Option("--date", help="UTC day (default: yesterday; the stress day for the demo)."),
    ] = None,
    source: SourceOption = "",
    refetch: Annotated[
        bool,
        typer.Option(
            "--refetch",
            help="Ask the source again for intervals already stored (to catch late corrections); "
            "without it a re-run fetches only what the watermarks do not cover.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Fetch, check and report one day: the whole daily job.

    Exits 1 when the fetch failed for an asset (the report is still made, marked incomplete);
    breaches are results, not failures: exit 0.
    """
    from reporting.evidence import key_path
    from reporting.pipeline import default_day, run_daily

    settings, chosen = source_settings(app_settings(), source)
    day = parse_day(date_) if date_ else default_day(settings, chosen)
    store = open_store(settings, create=True)
    result = run_daily(store, settings, day, source=chosen, refetch=refetch)
    cp = result.checkpoint
    statuses = [r.status for r in result.run.results]
    counts = {s: statuses.count(s) for s in ("breach", "warn", "error", "ok")}
    breached: dict[str, list[str]] = {}
    for r in result.run.results:
        if r.status == "breach":
            breached.setdefault(r.check, []).append(r.scope)
    errors = sum(p.severity == "error" for p in result.problems)
    if as_json:
        print_json(
            {
                "date": day.isoformat(),
                "source": chosen,
                "fetches": [fetch_json(f) for f in result.fetches],
                "signing_key": {
                    "created": result.key_created,
                    "file": str(key_path(settings)) if result.key_created else None,
                    "verifier_key": result.verifier_key,
                },
                "checkpoint": {"id": cp.id, "tree_size": cp.tree_size, "root_hash": cp.root_hash},
                "checks": {"run": result.run.run.id, **counts},
                "breaches": breached,
                "report": {
                    "html": str(result.report.html_path),
                    "pdf": str(result.report.pdf_path),
                },
                "outbox": None if result.notices is None else result.notices.to_json(),
                "time_stamp": None if result.anchor is None else vars(result.anchor),
            }
        )
        if errors:
            raise typer.Exit(1)
        return
    if result.key_created:
        typer.echo(
            f"signing key created: {key_path(settings)} (keep it secret, keep it safe); "
            f"verifier key (public, publish it): {result.verifier_key}"
        )
    print_fetches(result.fetches)
    typer.echo(f"audit log: {cp.tree_size} leaves, root {cp.root_hash}, signed checkpoint {cp.id}")
    if result.anchor is not None and result.anchor.status != "off":
        typer.echo(result.anchor.line)
    typer.echo(
        f"checks for {day}: {counts['breach']} breach, {counts['warn']} warn, "
        f"{counts['error']} error, {counts['ok']} ok"
    )
    for check_name, scopes in breached.items():  # the report and the emails give the details
        typer.echo(f"  BREACH {check_name}: {', '.join(scopes)}")
    typer.echo(f"report: {result.report.html_path}")
    typer.echo(f"report: {result.report.pdf_path}")
    if result.notices is not None:
        where = "" if settings.smtp.host else f" ({settings.reports_dir / 'outbox'})"
        typer.echo(f"outbox: {result.notices.summary()}{where}")
    if errors:
        raise typer.Exit(1)
