"""The console's intraday alert handlers: ``/alerts`` (every episode), ``/alerts/{result_id}``
(one episode with its evidence, messages and acknowledgements), their ``/api/`` JSON, and an
officer's acknowledgement of an episode, under the authenticated account's name.

The data is :mod:`reporting.web.alert_views`'; the acknowledgement chain and its activity leaf are
:mod:`reporting.checks.intraday_acks`'. Routes and roles are in :data:`reporting.web.app.ROUTES`.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from reporting.checks.intraday_acks import acknowledge_alert
from reporting.errors import CheckError
from reporting.web import alert_views
from reporting.web.accounts import Account
from reporting.web.common import RANK, Console, client_address, csrf_token, page
from reporting.web.links import alert_path
from reporting.web.sessions import Session

log = logging.getLogger("liqrisk.web")


def _filters(request: Request) -> tuple[date | None, str | None]:
    """``?day=2025-10-22&state=open``: a mistyped filter shows everything rather than failing."""
    value = request.query_params.get("day", "")
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        day = None
    state = request.query_params.get("state", "")
    return day, state if state in alert_views.STATES else None


def _now(console: Console) -> datetime:
    return datetime.fromtimestamp(console.clock(), UTC)


def _episodes(console: Console, request: Request) -> dict[str, Any]:
    day, state = _filters(request)
    found = alert_views.episodes(console.store, day=day, state=state)
    return {**found, "day": day.isoformat() if day else "", "state": state or ""}


async def alerts_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    data = _episodes(console, request)
    return page(console, "alerts.html", account, csrf=csrf_token(session), data=data)


async def alerts_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse(_episodes(console, request))


def _episode(console: Console, result_id: int) -> dict[str, Any]:
    return alert_views.episode(console.store, result_id, _now(console))


def _alert(
    console: Console,
    account: Account | None,
    session: Session | None,
    result_id: int,
    message: str = "",
    status: int = 200,
) -> Response:
    can_ack = account is not None and RANK[account.role] >= RANK["officer"]
    return page(
        console,
        "alert.html",
        account,
        status=status,
        csrf=csrf_token(session),
        data=_episode(console, result_id),
        can_ack=can_ack,
        message=message,
    )


async def alert_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return _alert(console, account, session, int(request.path_params["result_id"]))


async def alert_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse(_episode(console, int(request.path_params["result_id"])))


async def alert_ack(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    """An officer's acknowledgement of the episode, through row ``result_id``: under the
    account's name (never one typed in), with the comment the form carries; the chain and the
    activity leaf are :func:`.intraday_acks.acknowledge_alert`'s."""
    assert account is not None  # the route needs an officer
    result_id = int(request.path_params["result_id"])
    alert_views.alert_row(console.store, result_id)  # an unknown row or an error row: a 404
    form = await request.form()
    try:
        record, _ = acknowledge_alert(
            console.store,
            result_id,
            by=account.name,
            comment=str(form.get("comment", "")),
            via="console",
            address=client_address(request),
            clock=lambda: _now(console),
        )
    except CheckError as exc:
        # no comment, a resolved row: said on the page, nothing stored
        return _alert(console, account, session, result_id, message=str(exc), status=400)
    log.info("console ack %s of intraday result %s by %s", record.id, result_id, account.name)
    return RedirectResponse(f"{alert_path(result_id)}#ack-{record.id}", status_code=303)
