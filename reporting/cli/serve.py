"""``liqrisk serve``: the officer console on 127.0.0.1:8080 (or where --host and --port say)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from reporting.cli.common import app_settings, open_store

log = logging.getLogger("liqrisk.web")


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 0.0.0.0 only behind a TLS proxy.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to bind.")] = 8080,
) -> None:
    """Serve the officer console: overview, breaches with their evidence, acknowledgements.

    Log in with an account made by `liqrisk users add`. Sessions are signed with the key of
    [web] session_key_file (or $LIQRISK_SESSION_KEY), made on first start with mode 0600.
    """
    import uvicorn

    from reporting.web.app import create_app, loopback
    from reporting.web.sessions import session_key

    settings = app_settings()
    store = open_store(settings)
    key = session_key(settings.web.session_key_file)
    local = loopback(host)
    if not local:
        typer.echo(
            f"liqrisk: warning: serving on {host}, beyond this machine: put TLS in front (a "
            "reverse proxy); cookies are marked Secure, so plain http will not keep a session",
            err=True,
        )
    app = create_app(
        store,
        settings,
        session_key=key,
        secure_cookies=not local,
        idle_seconds=settings.web.idle_minutes * 60,
        absolute_seconds=settings.web.absolute_hours * 3600,
    )
    typer.echo(f"liqrisk console on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
