"""``liqrisk run``: the scheduler daemon."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reporting.cli.common import app_settings, fail


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
        fail(f"--log-level {log_level!r} is not DEBUG, INFO, WARNING or ERROR")
    settings = app_settings()
    logging.basicConfig(  # libraries (APScheduler, httpx, WeasyPrint) say only what goes wrong
        level=level if level <= logging.DEBUG else max(level, logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("liqrisk").setLevel(level)
    run_daemon(settings, instance=instance, catch_up_first=catch_up)
