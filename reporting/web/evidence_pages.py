"""The console's evidence handlers: checkpoints and verify runs, an admin running verify and
making an audit package, the packages' downloads, the activity log and the accounts."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from audit_store.errors import LiqriskError
from reporting.web import evidence_views
from reporting.web.accounts import Account, list_users
from reporting.web.common import (
    Console,
    client_address,
    csrf_token,
    error_page,
    page,
    record_action,
)
from reporting.web.exports import make_console_export, package_path, served_package
from reporting.web.sessions import Session
from reporting.web.verified_files import attachment, stream

log = logging.getLogger("liqrisk.web")


async def evidence_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return _evidence(request, console, account, session)


def _evidence(
    request: Request,
    console: Console,
    account: Account | None,
    session: Session | None,
    message: str = "",
    status: int = 200,
) -> Response:
    data = evidence_views.evidence(console.store, console.settings)
    is_admin = account is not None and account.role == "admin"
    return page(
        console, "evidence.html", account, status=status, csrf=csrf_token(session), data=data,
        is_admin=is_admin, message=message,
    )  # fmt: skip


async def evidence_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse(evidence_views.evidence(console.store, console.settings))


async def verify_now(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    """An admin runs `liqrisk verify` (in a worker thread: it reads the whole log)."""
    assert account is not None
    ok, found = await run_in_threadpool(evidence_views.run_verify, console.store, console.settings)
    log.info("console verify by %s: %s", account.name, "OK" if ok else f"{found} discrepancies")
    outcome = {"ok": ok, "discrepancies": found}
    record_action(
        console, "verify", account.name, client_address(request), console.clock(), outcome
    )
    return RedirectResponse("/evidence#verify", status_code=303)


async def export_now(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    """An admin makes an audit package of the days chosen (the last one included)."""
    assert account is not None
    form = await request.form()
    try:
        first = date.fromisoformat(str(form.get("start", "")))
        last = date.fromisoformat(str(form.get("end", "")))
    except ValueError:
        return _evidence(request, console, account, session, "Give both days as YYYY-MM-DD.", 400)
    if last < first:
        message = f"The last day {last} comes before the first {first}."
        return _evidence(request, console, account, session, message, 400)
    try:
        made = await run_in_threadpool(
            make_console_export, console.store, console.settings, start=first,
            end=last + timedelta(days=1), by=account.name, address=client_address(request),
        )  # fmt: skip
    except LiqriskError as exc:  # no signing key, a store that cannot be read: said, not a 500
        return _evidence(request, console, account, session, str(exc), 409)
    log.info("console export %s by %s", made.result.export_id, account.name)
    return RedirectResponse(f"/evidence#export-{made.result.export_id}", status_code=303)


async def export_file(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    """An audit package the console made, streamed, while it hashes to its recorded SHA-256."""
    record = evidence_views.export_record(console.store, int(request.path_params["export_id"]))
    handle = await run_in_threadpool(served_package, console.settings, record)
    if handle is None:
        message = (
            f"export {record.id}'s package is not in the console's exports directory as it was "
            f"made (SHA-256 {record.package_sha256[:16]}…); it is not served"
        )
        return error_page(request, console, 409, message)
    name = package_path(console.settings, record).name
    return stream(handle, "application/zip", attachment(name))


async def activity_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    rows = evidence_views.activity(console.store)
    return page(console, "activity.html", account, csrf=csrf_token(session), rows=rows)


async def activity_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse({"activity": evidence_views.activity(console.store)})


async def users_page(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    users = list_users(console.store)
    return page(console, "users.html", account, csrf=csrf_token(session), users=users)


async def users_api(
    request: Request, console: Console, account: Account | None, session: Session | None
) -> Response:
    return JSONResponse({"users": [a.to_json() for a in list_users(console.store)]})
