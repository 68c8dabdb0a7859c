"""The ``liqrisk`` command: a thin layer over the library, one module per command group.

Every command has ``--help`` (and ``-h``); ``liqrisk --version`` prints the version. Errors are
one line on stderr, never a traceback, with one exit-code table for every command
(:data:`EXIT_CODES`, also in ``liqrisk --help`` and the README): 0 ok; 1 a finding (a
difference found by ``verify``, ``verify-export`` or ``reproduce``, a fetch that failed for an
asset, a message given up); 2 a usage or input error (an unknown option, a bad value, an invalid
config); 3 a store or environment error (the store cannot be opened or read, the signing key,
a source or the mail server cannot be reached). Commands whose output a machine reads take
``--json``.

This module builds the typer app from the command modules, in pipeline order:
:mod:`.fetch` (fetch, backfill, corrections, versions, watermarks), :mod:`.collect` (collect,
events), :mod:`.check` (check), :mod:`.limits` (limits ..., ack), :mod:`.report` (report,
reproduce, daily), :mod:`.audit` (init, checkpoint, anchor, witness, verify, retention, export,
verify-export), :mod:`.outbox` (outbox ...), :mod:`.users` (users ...), :mod:`.schedule` (run),
:mod:`.serve` (serve), :mod:`.status` (status); :mod:`.common` holds what they share.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer._click import exceptions as click  # typer carries its own click
from typer.core import TyperGroup

from audit_store import SOFTWARE_VERSION
from audit_store.errors import (
    ExportError,
    IntegrityError,
    LiqriskError,
    SigningKeyError,
    StoreError,
)
from reporting.cli import (
    audit,
    check,
    collect,
    fetch,
    limits,
    outbox,
    report,
    schedule,
    serve,
    status,
    users,
)
from reporting.cli.common import ConfigOption, state
from reporting.errors import NotifyError, SourceError

EXIT_OK, EXIT_FINDING, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3
EXIT_CODES = {
    EXIT_OK: "ok",
    EXIT_FINDING: "a finding: a difference (verify, verify-export, reproduce), a failed fetch, "
    "a message given up",
    EXIT_USAGE: "a usage or input error: unknown option, bad value, invalid config",
    EXIT_ENVIRONMENT: "a store or environment error: the store cannot be opened or read, the "
    "signing key, a source or the mail server",
}
ENVIRONMENT_ERRORS = (StoreError, SigningKeyError, SourceError, NotifyError, ExportError)
"""Errors of the machine and its services rather than of the input: exit 3."""

STAGES = (
    ("Set up", ("init", "keys", "users", "status", "run", "serve")),
    ("Fetch", ("fetch", "backfill", "collect", "events", "watermarks", "corrections", "versions")),
    ("Check", ("check", "ack", "limits")),
    ("Report", ("report", "reproduce", "daily")),
    ("Notify", ("outbox",)),
    (
        "Audit and export",
        ("checkpoint", "anchor", "witness", "verify", "retention", "export", "verify-export"),
    ),
)
"""The root help's command groups, in pipeline order (a command in none goes under "Other")."""


class _StagedGroup(TyperGroup):
    """The root command: its help lists the commands grouped by pipeline stage."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        commands = {
            name: cmd
            for name in self.list_commands(ctx)
            if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden
        }
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name in commands)
        placed = {name for _title, names in STAGES for name in names}
        groups = [*STAGES, ("Other", tuple(n for n in commands if n not in placed))]
        for title, names in groups:
            rows = [(n, commands[n].get_short_help_str(limit)) for n in names if n in commands]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


_EPILOG = "Exit codes: " + "; ".join(f"{code} {text}" for code, text in EXIT_CODES.items()) + "."

app = typer.Typer(
    name="liqrisk",
    cls=_StagedGroup,
    help="Liquidation risk reporting and audit export for crypto derivatives.",
    epilog=_EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"liqrisk {SOFTWARE_VERSION}")
        raise typer.Exit()


@app.callback()
def _main(
    config: ConfigOption = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state.config = config


app.command()(audit.init)
app.command("fetch")(fetch.fetch_cmd)
app.command("backfill")(fetch.backfill_cmd)
app.command()(fetch.corrections)
app.command()(fetch.versions)
app.command("watermarks")(fetch.watermarks_cmd)
app.command()(collect.collect)
app.command()(collect.events)
app.command()(check.check)
app.add_typer(limits.limits_app, name="limits")
app.command("ack")(limits.ack)
app.command()(report.report)
app.command()(report.reproduce)
app.command()(report.daily)
app.command()(audit.checkpoint)
app.command()(audit.anchor)
app.command()(audit.witness)
app.add_typer(audit.keys_app, name="keys")
app.command()(audit.verify)
app.command()(audit.retention)
app.command("export")(audit.export_cmd)
app.command("verify-export")(audit.verify_export_cmd)
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(users.users_app, name="users")
app.command("run")(schedule.run_cmd)
app.command()(serve.serve)
app.command()(status.status)


def exit_code(exc: LiqriskError) -> int:
    """The documented exit code of a domain error."""
    if isinstance(exc, IntegrityError):  # an unsafe or altered package, a proof that fails
        return EXIT_FINDING
    if isinstance(exc, ENVIRONMENT_ERRORS):
        return EXIT_ENVIRONMENT
    return EXIT_USAGE


def _name_metavars(command: Any) -> None:
    """One metavar convention: a value's name in capitals (``--start START``, ``--asset ASSET``),
    where typer would print its Python type (``<str>``, ``<list[str]>``); flags take none."""
    for param in getattr(command, "params", ()):
        if param.metavar is None and not getattr(param, "is_flag", False) and param.name:
            param.metavar = param.name.rstrip("_").upper()
    for sub in getattr(command, "commands", {}).values():
        _name_metavars(sub)


def build_command() -> Any:
    """The click command of :data:`app`, with the metavar convention applied."""
    command = typer.main.get_command(app)
    _name_metavars(command)
    return command


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; every error is one line on stderr and its documented code."""
    command = build_command()
    try:
        code = command.main(args=argv, prog_name="liqrisk", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:  # `liqrisk` alone: the help, as a usage error
        typer.echo(exc.format_message())
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:  # unknown option, missing or bad value
        where = exc.ctx.command_path if exc.ctx is not None else "liqrisk"
        typer.echo(f"liqrisk: error: {exc.format_message()} (see `{where} --help`)", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        typer.echo(f"liqrisk: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except LiqriskError as exc:
        typer.echo(f"liqrisk: error: {exc}", err=True)
        sys.exit(exit_code(exc))
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("liqrisk: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else EXIT_OK)
