"""``liqrisk outbox list|drain|show``: what was sent to whom, when; deliver what is waiting."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reporting.cli.common import JsonOption, app_settings, open_store, parse_day, print_json

outbox_app = typer.Typer(
    help="The outbox: what was sent to whom, when; deliver what is waiting.",
    no_args_is_help=True,
)


def outbox_list(
    date_: Annotated[
        str | None, typer.Option("--date", help="Only messages of this day, YYYY-MM-DD.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Every message with its recipients, state, attempts and attachment hashes."""
    from reporting.notify import list_outbox

    settings = app_settings()
    entries = list_outbox(open_store(settings), day=parse_day(date_) if date_ else None)
    if as_json:
        print_json({"messages": [e.to_json() for e in entries]})
        return
    for e in entries:
        when = e.delivered_at.isoformat(timespec="seconds") if e.delivered_at else "-"
        tries = sum(1 for a in e.attempts if a.result == "sending")
        typer.echo(f"{e.id:5} {e.state:9} {when:25} {tries}x  {e.key}  to {e.addressee}")
    typer.echo(f"{len(entries)} message(s)")


def outbox_drain(
    wait: Annotated[
        float | None,
        typer.Option(
            "--wait", help="Seconds to keep retrying (default: notify.drain_wait_seconds)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver every message that is due, retrying with backoff; exit 1 if any was given up.

    Intraday alerts a stopped collector stored but had not announced yet (held by the group
    window) are enqueued first, once."""
    from reporting.notify import drain
    from reporting.notify.intraday_groups import announce
    from reporting.notify.outbox import utc_now

    settings = app_settings()
    store = open_store(settings)
    with store.session() as session:
        announce(session, settings, utc_now())
    result = drain(store, settings, wait_seconds=wait)
    if as_json:
        print_json(result.to_json())
    else:
        typer.echo(f"outbox: {result.summary()}")
        for key in result.failed:
            typer.echo(f"  given up: {key} (see `liqrisk outbox show {key}`)", err=True)
    if result.failed:
        raise typer.Exit(1)


def outbox_show(
    ref: Annotated[str, typer.Argument(help="The message's key, Message-ID or id.")],
    raw: Annotated[
        bool, typer.Option("--raw", help="Print the message as sent (.eml or JSON body).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """One message: its recipients, attachments and every attempt, or the bytes sent."""
    from reporting.notify import find_message

    settings = app_settings()
    entry, body = find_message(open_store(settings), ref)
    if raw:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    if as_json:
        print_json(entry.to_json())
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


outbox_app.command("list")(outbox_list)
outbox_app.command("drain")(outbox_drain)
outbox_app.command("show")(outbox_show)
