"""The officer console as a Starlette application: routes, roles, sessions, CSRF, headers.

Every route is in :data:`ROUTES` with the least role it needs (``None``: public); the route x role
test walks that table, and fails when the application has a route the table lacks. Anonymous
requests for a page are sent to the login form (``/api/`` answers 401), a role too low gets 403.
Every POST carries the session's CSRF token (the login form its own, from a signed cookie).
Every response carries a strict Content-Security-Policy (``default-src 'self'``, no inline
script, ``frame-ancestors 'none'``), ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: same-origin``; session cookies are ``HttpOnly``, ``SameSite=Lax`` and
``Secure`` unless the console is bound to loopback. Templates autoescape: a comment of
``<script>`` shows as text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route as StarletteRoute

from audit_store.db import Store
from reporting.checks.store import acknowledge
from reporting.config import Settings
from reporting.errors import CheckError, NotFound
from reporting.resources import templates_dir
from reporting.web import history_views, live_views, views
from reporting.web.accounts import NAME, Account, authenticate, find_account
from reporting.web.alert_pages import alert_ack, alert_api, alert_page, alerts_api, alerts_page
from reporting.web.common import (
    RANK,
    Console,
    Handler,
    client_address,
    csrf_token,
    environment,
    error_page,
    page,
    record_action,
)
from reporting.web.evidence_pages import (
    activity_api,
    activity_page,
    evidence_api,
    evidence_page,
    export_file,
    export_now,
    users_api,
    users_page,
    verify_now,
)
from reporting.web.sessions import LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions, csrf_ok
from reporting.web.throttle import LoginThrottle
from reporting.web.verified_files import attachment, open_verified, stream

log = logging.getLogger("liqrisk.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # Starlette's form, e.g. /breaches/{result_id:int}
    role: str | None  # the least role that may use it; None: anyone
    # Whether using it counts as activity for the idle timeout: the Live page's own polling does
    # not, or an open tab would keep a session alive until its absolute end.
    renews: bool = True


ROUTES: tuple[Route, ...] = (
    Route("GET", "/login", None),
    Route("POST", "/login", None),
    Route("GET", "/static/console.css", None),
    Route("POST", "/logout", "viewer"),
    Route("GET", "/", "viewer"),
    Route("GET", "/api/overview", "viewer"),
    Route("GET", "/breaches", "viewer"),
    Route("GET", "/api/breaches", "viewer"),
    Route("GET", "/breaches/{result_id:int}", "viewer"),
    Route("GET", "/api/breaches/{result_id:int}", "viewer"),
    Route("POST", "/breaches/{result_id:int}/ack", "officer"),
    Route("GET", "/alerts", "viewer"),
    Route("GET", "/api/alerts", "viewer"),
    Route("GET", "/alerts/{result_id:int}", "viewer"),
    Route("GET", "/api/alerts/{result_id:int}", "viewer"),
    Route("POST", "/alerts/{result_id:int}/ack", "officer"),
    Route("GET", "/reports", "viewer"),
    Route("GET", "/api/reports", "viewer"),
    Route("GET", "/reports/{artifact_id:int}", "viewer"),
    Route("GET", "/limits", "viewer"),
    Route("GET", "/api/limits", "viewer"),
    Route("GET", "/deliveries", "viewer"),
    Route("GET", "/api/deliveries", "viewer"),
    Route("GET", "/evidence", "viewer"),
    Route("GET", "/api/evidence", "viewer"),
    Route("POST", "/evidence/verify", "admin"),
    Route("POST", "/evidence/export", "admin"),
    Route("GET", "/exports/{export_id:int}", "viewer"),
    Route("GET", "/activity", "admin"),
    Route("GET", "/api/activity", "admin"),
    Route("GET", "/users", "admin"),
    Route("GET", "/api/users", "admin"),
    Route("GET", "/live", "viewer"),
    Route("GET", "/api/live", "viewer", renews=False),
    Route("GET", "/static/live.js", None),
)


def create_app(
    store: Store,
    settings: Settings,
    *,
    session_key: bytes,
    secure_cookies: bool,
    idle_seconds: float = 1800,
    absolute_seconds: float = 12 * 3600,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    console = Console(
        store,
        settings,
        Sessions(session_key, idle=idle_seconds, absolute=absolute_seconds),
        LoginThrottle(),
        secure_cookies,
        clock,
        environment(),
    )
    handlers: dict[tuple[str, str], Handler] = {
        ("GET", "/login"): login_form,
        ("POST", "/login"): login,
        ("GET", "/static/console.css"): stylesheet,
        ("POST", "/logout"): logout,
        ("GET", "/"): overview_page,
        ("GET", "/api/overview"): overview_api,
        ("GET", "/breaches"): breaches_page,
        ("GET", "/api/breaches"): breaches_api,
        ("GET", "/breaches/{result_id:int}"): breach_page,
        ("GET", "/api/breaches/{result_id:int}"): breach_api,
        ("POST", "/breaches/{result_id:int}/ack"): ack,
        ("GET", "/alerts"): alerts_page,
        ("GET", "/api/alerts"): alerts_api,
        ("GET", "/alerts/{result_id:int}"): alert_page,
        ("GET", "/api/alerts/{result_id:int}"): alert_api,
        ("POST", "/alerts/{result_id:int}/ack"): alert_ack,
        ("GET", "/reports"): reports_page,
        ("GET", "/api/reports"): reports_api,
        ("GET", "/reports/{artifact_id:int}"): report_file,
        ("GET", "/limits"): limits_page,
        ("GET", "/api/limits"): limits_api,
        ("GET", "/deliveries"): deliveries_page,
        ("GET", "/api/deliveries"): deliveries_api,
        ("GET", "/evidence"): evidence_page,
        ("GET", "/api/evidence"): evidence_api,
        ("POST", "/evidence/verify"): verify_now,
        ("POST", "/evidence/export"): export_now,
        ("GET", "/exports/{export_id:int}"): export_file,
        ("GET", "/activity"): activity_page,
        ("GET", "/api/activity"): activity_api,
        ("GET", "/users"): users_page,
        ("GET", "/api/users"): users_api,
        ("GET", "/live"): live_page,
        ("GET", "/api/live"): live_api,
        ("GET", "/static/live.js"): live_script,
    }
    routes = [
        StarletteRoute(
            r.path, _guarded(console, r, handlers[(r.method, r.path)]), methods=[r.method]
        )
        for r in ROUTES
    ]
    return Starlette(routes=routes)


def _guarded(console: Console, route: Route, handler: Handler) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        now = console.clock()
        session = console.sessions.load(request.cookies.get(SESSION_COOKIE), now)
        account = _account(console, session)
        if account is None:
            session = None
        if route.role is not None:
            if account is None:
                response = _anonymous(request)
                response.delete_cookie(SESSION_COOKIE, path="/")
                return _secured(response)
            if RANK[account.role] < RANK[route.role]:
                return _secured(error_page(request, console, 403, "your role may not do this"))
            if route.method == "POST":
                form = await request.form()
                if session is None or not csrf_ok(session, str(form.get("csrf", ""))):
                    return _secured(
                        error_page(request, console, 403, "the form is stale; reload it")
                    )
        try:
            response = await handler(request, console, account, session)
        except NotFound as exc:
            response = error_page(request, console, 404, str(exc))
        if (
            route.renews
            and session is not None
            and account is not None
            and SESSION_COOKIE not in str(response.headers.get("set-cookie", ""))
        ):
            renewed = Session(session.user, session.csrf, session.issued, now)
            _set_session(console, response, console.sessions.dump(renewed))
        return _secured(response)

    return endpoint


def _account(console: Console, session: Session | None) -> Account | None:
    """The session's account as stored now: a disabled account has no session."""
    if session is None:
        return None
    found = find_account(console.store, session.user)
    return None if found is None or found.disabled else found


def _anonymous(request: Request) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": "log in first"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _secured(response: Response) -> Response:
    """The security headers; a handler may have set a stricter policy of its own (report files)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _set_session(console: Console, response: Response, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(console.sessions.absolute),
        path="/",
        httponly=True,
        samesite="lax",
        secure=console.secure_cookies,
    )


def _safe_next(target: str) -> str:
    """Only a path of this site: never an open redirect."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# -- login and logout


async def login_form(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    token, cookie = console.sessions.login_token()
    response = page(
        console,
        "login.html",
        None,
        csrf=token,
        next=_safe_next(request.query_params.get("next", "/")),
        message="",
    )
    response.set_cookie(
        LOGIN_COOKIE, cookie, max_age=3600, path="/login", httponly=True, samesite="lax",
        secure=console.secure_cookies,
    )  # fmt: skip
    return response


async def login(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    form = await request.form()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "/")))
    address = client_address(request)
    now = console.clock()

    def again(message: str, status: int) -> Response:
        token, cookie = console.sessions.login_token()
        response = page(
            console, "login.html", None, status=status, csrf=token, next=target, message=message
        )
        response.set_cookie(
            LOGIN_COOKIE, cookie, max_age=3600, path="/login", httponly=True, samesite="lax",
            secure=console.secure_cookies,
        )  # fmt: skip
        return response

    if not console.sessions.login_token_ok(
        request.cookies.get(LOGIN_COOKIE), str(form.get("csrf", ""))
    ):
        return again("The form was stale; please try again.", 403)
    wait = console.throttle.wait(name, address, now)
    if wait > 0:
        return again(f"Too many failed logins: try again in {int(wait) + 1} s.", 429)
    found = authenticate(console.store, name, password)
    if found is None:
        console.throttle.failed(name, address, now)
        known = find_account(console.store, name) if NAME.match(name) else None
        record_action(console, "login_failed", known.name if known else "", address, now, {
            "reason": "account disabled" if known and known.disabled else
                      "wrong password" if known else "no such account",
        })  # fmt: skip
        return again("Wrong name or password, or the account is disabled.", 401)
    console.throttle.succeeded(name)
    log.info("console login: %s from %s", found.name, address)
    record_action(console, "login", found.name, address, now, {"role": found.role})
    _, cookie = console.sessions.issue(found.name, now)
    response = RedirectResponse(target, status_code=303)
    _set_session(console, response, cookie)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    if account is not None:
        log.info("console logout: %s", account.name)
        record_action(console, "logout", account.name, client_address(request), console.clock(), {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def stylesheet(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    css = (templates_dir() / "web" / "console.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css")


# -- pages and their JSON


async def overview_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    data = views.overview(console.store, console.settings)
    return page(console, "overview.html", account, csrf=csrf_token(session), overview=data)


async def overview_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse(views.overview(console.store, console.settings).to_json())


async def breaches_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    rows = views.breaches(console.store)
    return page(console, "breaches.html", account, csrf=csrf_token(session), rows=rows)


async def breaches_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse({"breaches": views.breaches(console.store)})


async def breach_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return _breach(console, account, session, int(request.path_params["result_id"]))


def _breach(
    console: Console,
    account: Account | None,
    session: Session | None,
    result_id: int,
    message: str = "",
    status: int = 200,
) -> Response:
    data = views.breach(console.store, result_id)
    can_ack = account is not None and RANK[account.role] >= RANK["officer"]
    return page(
        console,
        "breach.html",
        account,
        status=status,
        csrf=csrf_token(session),
        data=data,
        can_ack=can_ack,
        message=message,
    )


async def breach_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse(views.breach(console.store, int(request.path_params["result_id"])))


async def ack(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    assert account is not None  # the route needs an officer
    result_id = int(request.path_params["result_id"])
    form = await request.form()
    comment = str(form.get("comment", ""))
    try:
        record, _ = acknowledge(
            console.store,
            result_id,
            by=account.name,
            comment=comment,
            via="console",
            address=client_address(request),
            clock=lambda: datetime.fromtimestamp(console.clock(), UTC),
        )
    except CheckError as exc:
        # no comment, an ok result: said on the page, nothing stored
        return _breach(console, account, session, result_id, message=str(exc), status=400)
    log.info("console ack %s of result %s by %s", record.id, result_id, account.name)
    return RedirectResponse(f"/breaches/{result_id}#ack-{record.id}", status_code=303)


async def reports_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    start, end = _day(request, "from"), _day(request, "to")
    rows = views.reports(console.store, start, end)
    return page(
        console,
        "reports.html",
        account,
        csrf=csrf_token(session),
        periods=rows,
        start=start.isoformat() if start else "",
        end=end.isoformat() if end else "",
    )


async def reports_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    start, end = _day(request, "from"), _day(request, "to")
    return JSONResponse({"reports": views.reports(console.store, start, end)})


def _day(request: Request, name: str) -> date | None:
    value = request.query_params.get(name, "")
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None  # a mistyped filter shows everything rather than failing


REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
"""A report file is the firm's own HTML with its CSS inline: styles only, no script, sandboxed."""


async def report_file(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    """A report file as it was registered: refused when it no longer hashes to its SHA-256."""
    artifact = views.artifact(console.store, int(request.path_params["artifact_id"]))
    root = console.settings.reports_dir.expanduser().resolve()
    path = root.joinpath(*artifact.name.split("/")).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound(f"report {artifact.name} is not in the reports directory")
    handle = await run_in_threadpool(open_verified, path, artifact.sha256)
    if handle is None:
        return error_page(
            request,
            console,
            409,
            f"{artifact.name} no longer matches the SHA-256 recorded when it was made "
            f"({artifact.sha256[:16]}…); it is not shown",
        )
    if artifact.kind == "report.inputs":
        return stream(handle, "application/json")
    if artifact.kind.endswith("pdf"):
        return stream(handle, "application/pdf", attachment(path.name))
    return stream(handle, "text/html; charset=utf-8", {"Content-Security-Policy": REPORT_CSP})


async def limits_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    versions = history_views.limit_versions(console.store)
    return page(console, "limits.html", account, csrf=csrf_token(session), versions=versions)


async def limits_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse({"versions": history_views.limit_versions(console.store)})


async def deliveries_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    rows = history_views.deliveries(console.store)
    return page(console, "deliveries.html", account, csrf=csrf_token(session), rows=rows)


async def deliveries_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse({"messages": history_views.deliveries(console.store)})


def _live(console: Console) -> dict[str, Any]:
    now = datetime.fromtimestamp(console.clock(), UTC)
    return live_views.live(console.store, console.settings, now)


async def live_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return page(console, "live.html", account, csrf=csrf_token(session), live=_live(console))


async def live_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse(_live(console))


async def live_script(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    """The Live page's polling, a file of this site (the CSP allows no inline script)."""
    script = (templates_dir() / "web" / "live.js").read_text(encoding="utf-8")
    return Response(script, media_type="text/javascript")


def loopback(host: str) -> bool:
    return host in ("127.0.0.1", "::1", "localhost") or host.startswith("127.")
