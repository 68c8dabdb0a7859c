"""What the console's handlers share: the :class:`Console` they are handed, the roles' ranks,
page and error rendering, the client's address, and recording an action as an activity leaf."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from audit_store.activity import Activity, record_activity
from audit_store.db import Store
from reporting.config import Settings
from reporting.render.formatting import FILTERS
from reporting.resources import templates_dir
from reporting.web.accounts import Account
from reporting.web.sessions import Session, Sessions
from reporting.web.throttle import LoginThrottle

RANK = {"viewer": 0, "officer": 1, "admin": 2}


@dataclass(frozen=True)
class Console:
    """What the handlers share."""

    store: Store
    settings: Settings
    sessions: Sessions
    throttle: LoginThrottle
    secure_cookies: bool
    clock: Callable[[], float]
    env: jinja2.Environment


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "web")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.filters["when"] = when
    return env


def when(iso: str | None) -> str:
    """An ISO time as ``2026-12-07 13:04 UTC``."""
    if not iso:
        return "–"
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


Handler = Callable[[Request, Console, Account | None, Session | None], Awaitable[Response]]


def error_page(request: Request, console: Console, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return page(console, "error.html", None, status=status, message=message, code=status)


def page(
    console: Console, template: str, account: Account | None, status: int = 200, **context: Any
) -> HTMLResponse:
    html = console.env.get_template(template).render(
        account=account, firm=console.settings.firm_name, csrf=context.pop("csrf", ""), **context
    )
    return HTMLResponse(html, status_code=status)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def record_action(
    console: Console,
    action: str,
    actor: str,
    address: str,
    now: float,
    details: dict[str, Any],
    subject: str | None = None,
) -> None:
    """One console action as a leaf of the log (:mod:`audit_store.activity`)."""
    at = datetime.fromtimestamp(now, UTC)
    done = Activity(action, actor, "console", at, address, subject, details)
    with console.store.session() as session:
        record_activity(session, done)


def csrf_token(session: Session | None) -> str:
    return session.csrf if session is not None else ""
