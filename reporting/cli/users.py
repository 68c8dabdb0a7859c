"""``liqrisk users add|list|disable|enable|passwd``: the officer console's accounts."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from reporting.cli.common import JsonOption, app_settings, fail, open_store, print_json

users_app = typer.Typer(
    help="The console's accounts: viewer reads, officer also acknowledges, admin also manages.",
    no_args_is_help=True,
)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password as one line of standard input (scripts)."
    ),
]


def _password(name: str, from_stdin: bool) -> str:
    """The new password: one line of standard input, or asked twice on a terminal."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: standard input is empty")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        fail("no terminal to ask for the password on: pass it with --password-stdin")
    value: str = typer.prompt(
        f"Password for {name}", hide_input=True, confirmation_prompt=True, err=True
    )
    return value


def users_add(
    name: Annotated[str, typer.Argument(help="The account's name (what it logs in with).")],
    role: Annotated[
        str,
        typer.Option("--role", help="viewer (reads), officer (also acks), admin (also manages)."),
    ],
    password_stdin: PasswordStdin = False,
    as_json: JsonOption = False,
) -> None:
    """Create an account; its password is asked twice (or read with --password-stdin)."""
    from reporting.web.accounts import add_user, cli_actor

    settings = app_settings()
    store = open_store(settings, create=True)
    account = add_user(store, name, role, _password(name, password_stdin), by=cli_actor())
    if as_json:
        print_json(account.to_json())
        return
    typer.echo(f"account {account.name} created, role {account.role}")


def users_list(as_json: JsonOption = False) -> None:
    """Every account: name, role, enabled or not, when its password last changed."""
    from reporting.web.accounts import list_users

    accounts = list_users(open_store(app_settings()))
    if as_json:
        print_json({"users": [a.to_json() for a in accounts]})
        return
    for a in accounts:
        state = "disabled" if a.disabled else "enabled"
        changed = a.password_changed_at.isoformat(timespec="seconds")
        typer.echo(f"{a.name:24} {a.role:8} {state:9} password set {changed}")
    typer.echo(f"{len(accounts)} account(s)")


def users_disable(
    name: Annotated[str, typer.Argument(help="The account to disable.")],
    as_json: JsonOption = False,
) -> None:
    """Disable an account: it can no longer log in (its history stays)."""
    _enabled(name, False, as_json)


def users_enable(
    name: Annotated[str, typer.Argument(help="The account to enable again.")],
    as_json: JsonOption = False,
) -> None:
    """Enable a disabled account again."""
    _enabled(name, True, as_json)


def _enabled(name: str, enabled: bool, as_json: bool) -> None:
    from reporting.web.accounts import cli_actor, set_disabled

    account = set_disabled(open_store(app_settings()), name, not enabled, by=cli_actor())
    if as_json:
        print_json(account.to_json())
        return
    typer.echo(f"account {account.name} {'enabled' if enabled else 'disabled'}")


def users_passwd(
    name: Annotated[str, typer.Argument(help="The account whose password to set.")],
    password_stdin: PasswordStdin = False,
    as_json: JsonOption = False,
) -> None:
    """Set an account's password (asked twice, or read with --password-stdin)."""
    from reporting.web.accounts import cli_actor, set_password

    store = open_store(app_settings())
    account = set_password(store, name, _password(name, password_stdin), by=cli_actor())
    if as_json:
        print_json(account.to_json())
        return
    typer.echo(f"password of {account.name} changed")


users_app.command("add")(users_add)
users_app.command("list")(users_list)
users_app.command("disable")(users_disable)
users_app.command("enable")(users_enable)
users_app.command("passwd")(users_passwd)
