"""The ``liqrisk`` command: a thin layer over the library, one module per command group.

Every command has ``--help``. Domain errors (:class:`audit_store.errors.LiqriskError`) are printed
as one line on stderr with exit code 2, never a traceback; ``verify`` exits 1 when it finds
discrepancies. Commands whose output a machine reads take ``--json``.

This module builds the typer app from the command modules, in pipeline order:
:mod:`.fetch` (fetch, backfill, corrections, versions, watermarks), :mod:`.check` (check),
:mod:`.limits` (limits ..., ack), :mod:`.report` (report, reproduce, daily), :mod:`.audit` (init,
checkpoint, verify, retention, export, verify-export), :mod:`.outbox` (outbox ...),
:mod:`.schedule` (run), :mod:`.status` (status); :mod:`.common` holds what they share.
"""

from __future__ import annotations

import sys

import typer

from audit_store.errors import LiqriskError
from reporting.cli import audit, check, fetch, limits, outbox, report, schedule, status
from reporting.cli.common import ConfigOption, state

app = typer.Typer(
    name="liqrisk",
    help="Liquidation risk reporting and audit export for crypto derivatives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(config: ConfigOption = None) -> None:
    state.config = config


app.command()(audit.init)
app.command("fetch")(fetch.fetch_cmd)
app.command("backfill")(fetch.backfill_cmd)
app.command()(fetch.corrections)
app.command()(fetch.versions)
app.command("watermarks")(fetch.watermarks_cmd)
app.command()(check.check)
app.add_typer(limits.limits_app, name="limits")
app.command("ack")(limits.ack)
app.command()(report.report)
app.command()(report.reproduce)
app.command()(report.daily)
app.command()(audit.checkpoint)
app.command()(audit.verify)
app.command()(audit.retention)
app.command("export")(audit.export_cmd)
app.command("verify-export")(audit.verify_export_cmd)
app.add_typer(outbox.outbox_app, name="outbox")
app.command("run")(schedule.run_cmd)
app.command()(status.status)


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
