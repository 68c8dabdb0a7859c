"""The officer console: every route x role, login and its throttle, session expiry, CSRF on every
POST, acknowledgements under the authenticated name, escaping, and the security headers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.testclient import TestClient

from audit_store.db import Store
from audit_store.models import Artifact, CheckResult
from audit_store.snapshots import log_size
from audit_store.tables_limits import Acknowledgement
from reporting.config import Settings, load_settings
from reporting.evidence import prepare_key
from reporting.notify import enqueue_breach_notices
from reporting.web.accounts import add_user, set_disabled
from reporting.web.app import CSP, REPORT_CSP, ROUTES, create_app
from reporting.web.exports import make_console_export
from reporting.web.history_views import diff
from tests.alert_helpers import quiet_alert
from tests.notify_helpers import store_results

DAY = date(2025, 11, 3)
PASSWORD = "a long enough password"
ROLES = ("viewer", "officer", "admin")

# The expected least role of every route: a route added to the console without a row here fails
# test_every_route_has_a_row (so it cannot ship without its access rule being decided).
EXPECTED: dict[tuple[str, str], str | None] = {
    ("GET", "/login"): None,
    ("POST", "/login"): None,
    ("GET", "/static/console.css"): None,
    ("POST", "/logout"): "viewer",
    ("GET", "/"): "viewer",
    ("GET", "/api/overview"): "viewer",
    ("GET", "/breaches"): "viewer",
    ("GET", "/api/breaches"): "viewer",
    ("GET", "/breaches/{result_id:int}"): "viewer",
    ("GET", "/api/breaches/{result_id:int}"): "viewer",
    ("POST", "/breaches/{result_id:int}/ack"): "officer",
    ("GET", "/alerts"): "viewer",
    ("GET", "/api/alerts"): "viewer",
    ("GET", "/alerts/{result_id:int}"): "viewer",
    ("GET", "/api/alerts/{result_id:int}"): "viewer",
    ("POST", "/alerts/{result_id:int}/ack"): "officer",
    ("GET", "/reports"): "viewer",
    ("GET", "/api/reports"): "viewer",
    ("GET", "/reports/{artifact_id:int}"): "viewer",
    ("GET", "/limits"): "viewer",
    ("GET", "/api/limits"): "viewer",
    ("GET", "/deliveries"): "viewer",
    ("GET", "/api/deliveries"): "viewer",
    ("GET", "/evidence"): "viewer",
    ("GET", "/api/evidence"): "viewer",
    ("POST", "/evidence/verify"): "admin",
    ("POST", "/evidence/export"): "admin",
    ("GET", "/exports/{export_id:int}"): "viewer",
    ("GET", "/activity"): "admin",
    ("GET", "/api/activity"): "admin",
    ("GET", "/users"): "admin",
    ("GET", "/api/users"): "admin",
    ("GET", "/live"): "viewer",
    ("GET", "/api/live"): "viewer",
    ("GET", "/static/live.js"): None,
}
RANK = {"viewer": 0, "officer": 1, "admin": 2}


@dataclass
class Clock:
    now: float = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Console:
    store: Store
    clock: Clock
    result_id: int
    client: TestClient
    base: Base
    made: list[TestClient] = field(default_factory=list)

    def new_client(self) -> TestClient:
        client = TestClient(self.client.app, base_url="http://127.0.0.1", follow_redirects=False)
        self.made.append(client)
        return client


@dataclass(frozen=True)
class Base:
    store: Store
    settings: Settings
    result_id: int
    html_id: int
    pdf_id: int
    export_id: int
    alert_id: int  # an intraday result: the alert pages' {result_id}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    """One store for the module (its accounts hashed once: argon2 is slow on purpose)."""
    root = tmp_path_factory.mktemp("console")
    settings = load_settings(
        env={
            "LIQRISK_DATABASE_URL": f"sqlite:///{root / 'store.db'}",
            "LIQRISK_REPORTS_DIR": str(root / "reports"),
            "LIQRISK_SIGNING_KEY_FILE": str(root / "signing.key"),
        }
    )
    store = Store(settings.database_url)
    store.create_schema()
    prepare_key(store, settings)
    store_results(store, DAY, {("daily_usd", "BTC"): "breach", ("daily_usd", "ETH"): "warn"})
    with store.read_session() as session:
        result_id = session.scalars(
            select(col(CheckResult.id)).where(col(CheckResult.status) == "breach")
        ).one()
    assert result_id is not None
    for role in ROLES:
        add_user(store, role, role, PASSWORD, by="test")
    with store.session() as session:
        enqueue_breach_notices(session, settings, DAY)  # one breach email waiting
    alert_id = quiet_alert(store, settings)
    html_id = register(store, settings, f"{DAY}/report-{DAY}.html", "report.html", HTML)
    pdf_id = register(store, settings, f"{DAY}/report-{DAY}.pdf", "report.pdf", b"%PDF-1.7 test")
    made = make_console_export(
        store, settings, start=DAY, end=DAY + timedelta(days=1), by="admin", address="127.0.0.1"
    )
    yield Base(store, settings, result_id, html_id, pdf_id, made.result.export_id, alert_id)
    store.dispose()


@pytest.fixture
def console(base: Base) -> Console:
    """A fresh console (its own login throttle and clock) over the module's store."""
    clock = Clock()
    app = create_app(
        base.store, base.settings, session_key=b"k" * 48, secure_cookies=False, clock=clock
    )
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    return Console(base.store, clock, base.result_id, client, base)


HTML = b"<html><head><style>p{color:red}</style></head><body><p>report</p></body></html>"


def register(store: Store, settings: Settings, name: str, kind: str, data: bytes) -> int:
    """A report file in the reports directory, registered as render_report registers one."""
    path = settings.reports_dir.joinpath(*name.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with store.session() as session:
        artifact = Artifact(
            kind=kind,
            period=str(DAY),
            name=name,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            created_at=datetime(2025, 11, 4, 1, tzinfo=UTC),
        )
        session.add(artifact)
        session.flush()
        assert artifact.id is not None
        return artifact.id


def login(client: TestClient, name: str, password: str = PASSWORD) -> tuple[int, str]:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login", data={"name": name, "password": password, "csrf": token.group(1), "next": "/"}
    )
    return answer.status_code, answer.text


def csrf_of(client: TestClient) -> str:
    page = client.get("/breaches")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def test_every_route_has_a_row() -> None:
    assert {(r.method, r.path): r.role for r in ROUTES} == EXPECTED


@pytest.mark.parametrize("who", [None, *ROLES])
@pytest.mark.parametrize(("method", "path"), list(EXPECTED))
def test_route_by_role(console: Console, who: str | None, method: str, path: str) -> None:
    client = console.new_client()
    if who is not None:
        assert login(client, who)[0] == 303
    url = path.replace("/alerts/{result_id:int}", f"/alerts/{console.base.alert_id}")
    url = url.replace("{result_id:int}", str(console.result_id))
    url = url.replace("{artifact_id:int}", str(console.base.html_id))
    url = url.replace("{export_id:int}", str(console.base.export_id))
    if method == "GET":
        answer = client.get(url)
    else:
        data = {"csrf": csrf_of(client) if who else "", "comment": "reviewed"}
        data |= {"start": str(DAY), "end": str(DAY)}  # an export's days
        answer = client.post(url, data=data)
    needed = EXPECTED[(method, path)]
    if needed is None:
        expected = 403 if (method, path) == ("POST", "/login") else 200  # no login-form token
    elif who is None:
        expected = 401 if path.startswith("/api/") else 303
    elif RANK[who] < RANK[needed]:
        expected = 403
    else:
        expected = 200 if method == "GET" else 303
    assert answer.status_code == expected, (who, method, path, answer.text[:300])
    if who is None and needed is not None and not path.startswith("/api/"):
        assert answer.headers["location"].startswith("/login?next=")
    policy = REPORT_CSP if (url.startswith("/reports/") and answer.status_code == 200) else CSP
    assert answer.headers["content-security-policy"] == policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


def test_login_sets_a_strict_cookie_and_logout_ends_it(console: Console) -> None:
    client = console.client
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "name": "viewer",
            "password": PASSWORD,
            "csrf": token.group(1),
            "next": "//evil.test",
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"  # no open redirect
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert PASSWORD not in cookie
    assert client.get("/").status_code == 200
    bye = client.post("/logout", data={"csrf": csrf_of(client)})
    assert bye.status_code == 303 and client.get("/").status_code == 303


def test_secure_cookies_off_loopback(console: Console) -> None:
    app = create_app(
        console.store,
        load_settings(),
        session_key=b"k" * 48,
        secure_cookies=True,
        clock=console.clock,
    )
    client = TestClient(app, base_url="https://console.example", follow_redirects=False)
    assert "Secure" in client.get("/login").headers["set-cookie"]


def test_failed_logins_slow_the_next_attempt(console: Console) -> None:
    client = console.client
    for _ in range(5):
        assert login(client, "officer", "wrong password, long")[0] == 401
    code, text = login(client, "officer")  # the right password, but too soon
    assert code == 429 and "Too many failed logins" in text
    console.clock.now += 2
    assert login(client, "officer")[0] == 303


def test_sessions_expire_when_idle_and_absolutely(console: Console) -> None:
    client = console.client
    assert login(client, "viewer")[0] == 303
    console.clock.now += 29 * 60
    assert client.get("/").status_code == 200  # used: the idle clock starts again
    console.clock.now += 31 * 60
    assert client.get("/").status_code == 303  # idle too long
    assert login(client, "viewer")[0] == 303
    for _ in range(30):  # busy all day: still ends after 12 hours
        console.clock.now += 25 * 60
        client.get("/")
    assert client.get("/").status_code == 303


def test_the_live_pages_polling_does_not_keep_a_session_alive(console: Console) -> None:
    client = console.client
    assert login(client, "viewer")[0] == 303
    for _ in range(5):  # an open Live tab polling for 25 minutes, nobody at the screen
        console.clock.now += 5 * 60
        assert client.get("/api/live").status_code == 200
    console.clock.now += 6 * 60
    assert client.get("/api/live").status_code == 401  # idle 31 minutes since the login: ended
    assert client.get("/").status_code == 303


def test_a_disabled_account_loses_its_session(console: Console) -> None:
    client = console.client
    assert login(client, "officer")[0] == 303
    set_disabled(console.store, "officer", True, by="test")
    try:
        assert client.get("/").status_code == 303
        assert login(client, "officer")[0] == 401
    finally:
        set_disabled(console.store, "officer", False, by="test")


def test_an_ack_records_the_authenticated_name_and_shows_escaped(console: Console) -> None:
    client = console.client
    assert login(client, "officer")[0] == 303
    url = f"/breaches/{console.result_id}/ack"
    assert client.post(url, data={"comment": "no token"}).status_code == 403  # CSRF
    comment = "<script>alert(1)</script> checked with the desk"
    answer = client.post(url, data={"csrf": csrf_of(client), "comment": comment})
    assert answer.status_code == 303
    with console.store.read_session() as session:
        ack = session.scalars(
            select(Acknowledgement).order_by(col(Acknowledgement.id).desc())
        ).first()
        assert ack is not None and ack.acked_by == "officer" and ack.comment == comment
    page = client.get(f"/breaches/{console.result_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    data = client.get(f"/api/breaches/{console.result_id}").json()
    assert data["acknowledgements"][-1]["by"] == "officer"


def test_a_viewer_sees_no_ack_form_and_an_unknown_result_is_404(console: Console) -> None:
    client = console.client
    assert login(client, "viewer")[0] == 303
    assert "Acknowledge as" not in client.get(f"/breaches/{console.result_id}").text
    assert client.get("/breaches/999999").status_code == 404
    assert client.get("/api/breaches/999999").json() == {"error": "there is no check result 999999"}


def test_pages_load_nothing_from_elsewhere(console: Console) -> None:
    client = console.client
    assert login(client, "admin")[0] == 303
    for url in ("/", "/breaches", f"/breaches/{console.result_id}", "/users"):
        page = client.get(url).text
        assert "<script" not in page
        assert not re.search(r'(src|href)="(https?:)?//', page), url


def test_reports_are_listed_filtered_and_served_as_registered(console: Console) -> None:
    client = console.client
    assert login(client, "viewer")[0] == 303
    page = client.get("/reports").text
    assert f'href="/reports/{console.base.html_id}"' in page and "PDF (download)" in page
    assert client.get("/api/reports?from=2025-11-04").json() == {"reports": []}
    (listed,) = client.get("/api/reports?from=2025-11-03&to=2025-11-03").json()["reports"]
    assert {f["kind"] for f in listed["files"]} == {"report.html", "report.pdf"}
    html = client.get(f"/reports/{console.base.html_id}")
    assert html.content == HTML and html.headers["content-security-policy"] == REPORT_CSP
    pdf = client.get(f"/reports/{console.base.pdf_id}")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert client.get("/reports/999999").status_code == 404


def test_a_report_file_altered_after_it_was_made_is_not_shown(console: Console) -> None:
    client = console.client
    assert login(client, "viewer")[0] == 303
    settings = console.base.settings
    path = settings.reports_dir / str(DAY) / f"report-{DAY}.pdf"
    original = path.read_bytes()
    path.write_bytes(original + b" altered")
    try:
        answer = client.get(f"/reports/{console.base.pdf_id}")
        assert answer.status_code == 409 and "no longer matches the SHA-256" in answer.text
    finally:
        path.write_bytes(original)


def test_an_ack_without_a_comment_says_so_on_the_page(console: Console) -> None:
    client = console.client
    assert login(client, "officer")[0] == 303
    answer = client.post(
        f"/breaches/{console.result_id}/ack", data={"csrf": csrf_of(client), "comment": " "}
    )
    assert answer.status_code == 400 and "needs a comment" in answer.text


def test_limit_sets_show_what_changed(console: Console) -> None:
    old = {"daily_usd": {"warn": 100.0, "breach": 200.0}, "imbalance": {"breach": 80.0}}
    new = {"daily_usd": {"warn": 120.0, "breach": 200.0}, "oi_change": {"breach": 50.0}}
    assert diff(old, new) == [
        {"path": "daily_usd.warn", "old": 100.0, "new": 120.0},
        {"path": "imbalance.breach", "old": 80.0, "new": None},
        {"path": "oi_change.breach", "old": None, "new": 50.0},
    ]
    client = console.client
    assert login(client, "viewer")[0] == 303
    (version,) = client.get("/api/limits").json()["versions"]
    assert version["first"] and version["sha256"] == "0" * 64
    assert "In force from" in client.get("/limits").text


def test_deliveries_list_what_was_sent_to_whom(console: Console) -> None:
    client = console.client
    assert login(client, "viewer")[0] == 303
    messages = client.get("/api/deliveries").json()["messages"]
    assert messages and messages[0]["kind"] == "breach" and messages[0]["state"] == "pending"
    page = client.get("/deliveries").text
    assert messages[0]["subject"] in page.replace("&amp;", "&") and "compliance@example.com" in page


def test_an_admin_runs_verify_and_the_evidence_page_shows_it(console: Console) -> None:
    client = console.client
    assert login(client, "admin")[0] == 303
    assert "Run verify now" in client.get("/evidence").text
    with console.store.read_session() as session:
        leaves = log_size(session)  # the accounts, the export, the logins: activity leaves
    assert client.post("/evidence/verify", data={"csrf": csrf_of(client)}).status_code == 303
    runs = client.get("/api/evidence").json()["verify_runs"]
    assert runs and runs[0]["leaves"] == leaves > 0  # every activity leaf re-read, consistent
    assert runs[0]["ok"] is True
