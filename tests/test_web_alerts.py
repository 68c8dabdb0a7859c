"""The console's intraday alert pages: every episode (filtered by day and state), one episode with
its rows, evidence, messages (found by outbox items and, for older messages, by key) and
acknowledgements; an officer's acknowledgement under the authenticated name; roles, CSRF,
escaping, the JSON; the alert email's link to the page. Rows are produced through the real
collector path (batches through ``store_batch`` with the intraday hook) on a real SQLite store."""

from __future__ import annotations

import email
import email.policy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlmodel import col
from starlette.testclient import TestClient

from audit_store.db import Store
from audit_store.tables_intraday import IntradayAcknowledgement, IntradayResult
from audit_store.tables_outbox import OutboxItem, OutboxMessage
from reporting.checks.store import limit_set_sha256
from reporting.config import Settings, load_settings
from reporting.fetch.streams.writer import CommittedBatch
from reporting.notify.intraday import record_failure
from reporting.notify.intraday_groups import alert_link
from reporting.notify.messages import build_email, message_id
from reporting.notify.outbox import email_row, insert_message
from reporting.web.accounts import add_user
from reporting.web.app import CSP, create_app
from reporting.web.links import alert_path
from tests.intraday_helpers import LEVELS, RISK, T0, Feed, intraday_rows, intraday_settings
from tests.test_web import PASSWORD, Clock, login

SCRIPT = "<script>alert(1)</script>"
ETH_LEVELS = {"warn": 90_000, "breach": 100_000}
TABLES = {
    "velocity_usd_15m": {
        "asset_exchange": {"BTC/binc": LEVELS, "ETH/binc": ETH_LEVELS},
        "repeat_minutes": 0,
    }
}
BASE_URL = "https://console.example"


@dataclass(frozen=True)
class World:
    store: Store
    settings: Settings
    feed: Feed
    btc: list[IntradayResult]  # new (warn), escalated (breach), resolved: a closed episode
    eth: IntradayResult  # new (breach): an episode still open
    error: IntradayResult  # a failed evaluation: no alert
    legacy_message_id: int  # a message of the one-per-result era, found by its key only


def _settings(root: Path) -> Settings:
    base = load_settings(
        env={
            "LIQRISK_DATABASE_URL": f"sqlite:///{root / 'store.db'}",
            "LIQRISK_REPORTS_DIR": str(root / "reports"),
        }
    )
    base = base.model_copy(update={"web": base.web.model_copy(update={"base_url": BASE_URL})})
    return intraday_settings(TABLES, base=base)


def _legacy_message(store: Store, settings: Settings, row: IntradayResult) -> int:
    """The email the 0013 code enqueued for one result, with its key ``intraday:<episode>:<kind>``
    and no outbox item (as the real functions of that code wrote it)."""
    key = f"intraday:{row.episode}:{row.kind}"
    sender = settings.email.sender
    email = build_email(
        sender=sender,
        to=(RISK,),
        subject=f"intraday WARN: {row.scope} {row.limit_name} crossed",
        text="the old, one-alert-per-result email\n",
        html=None,
        msg_id=message_id(key, sender),
        when=row.created_at,
        attachments=(),
    )
    message = email_row(
        key=key,
        kind="intraday",
        day=row.window_end.date(),
        now=row.created_at,
        email=email,
        sender=sender,
        to=(RISK,),
    )
    with store.session() as session:
        added = insert_message(session, message)
        assert added is not None and added.id is not None
        return added.id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("alerts")
    settings = _settings(root)
    store = Store(settings.database_url)
    store.create_schema()
    feed = Feed(store, settings)
    feed.episode()  # BTC: warn at minute 8, breach at 9, resolved at 36
    feed.minute(40, {"ETH": 200_000})  # ETH: a breach at once, still open
    last = feed.stored[-1]
    with store.session() as session:
        batch = CommittedBatch(last.snapshot_id, last.leaf_index, "binance", {}, feed.now)
        record_failure(
            session, batch.snapshot_id, batch.leaf_index, RuntimeError("the disk is full"),
            "0" * 64, feed.now,
        )  # fmt: skip
    rows = intraday_rows(store)
    btc = [r for r in rows if r.scope == "BTC/binc"]
    (eth,) = [r for r in rows if r.scope == "ETH/binc"]
    (error,) = [r for r in rows if r.kind == "error"]
    assert [(r.kind, r.status) for r in btc] == [
        ("new", "warn"),
        ("escalated", "breach"),
        ("resolved", "ok"),
    ]
    legacy = _legacy_message(store, settings, btc[0])
    for role in ("viewer", "officer", "admin"):
        add_user(store, role, role, PASSWORD, by="test")
    yield World(store, settings, feed, btc, eth, error, legacy)
    store.dispose()


def _client(world: World, who: str | None = "viewer") -> TestClient:
    clock = Clock((world.feed.now + timedelta(minutes=5)).timestamp())
    app = create_app(world.store, world.settings, session_key=b"k" * 48, secure_cookies=False,
                     clock=clock)  # fmt: skip
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False)
    if who is not None:
        assert login(client, who)[0] == 303
    return client


def _csrf(client: TestClient, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(url).text)
    assert found is not None
    return found.group(1)


def _acks(store: Store) -> list[IntradayAcknowledgement]:
    with store.read_session() as session:
        rows = list(
            session.execute(
                select(IntradayAcknowledgement).order_by(col(IntradayAcknowledgement.id))
            ).scalars()
        )
        session.expunge_all()
        return rows


def _by_scope(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["scope"]: e for e in data["episodes"]}


# -- /alerts


def test_every_episode_is_listed_newest_first(world: World) -> None:
    client = _client(world)
    data = client.get("/api/alerts").json()
    assert [e["scope"] for e in data["episodes"]] == ["ETH/binc", "BTC/binc"]  # no error row
    assert data["truncated"] is False
    btc, eth = _by_scope(data)["BTC/binc"], _by_scope(data)["ETH/binc"]
    first, _escalated, resolved = world.btc
    assert btc["episode"] == first.episode and btc["url"] == f"/alerts/{first.id}"
    assert btc["first_crossed"] == (T0 + timedelta(minutes=8, seconds=31)).isoformat()
    assert btc["first_status"] == "warn" and btc["rows"] == 3
    assert btc["peak"] == {"observed": 1_000_000.0, "text": "$1,000,000", "status": "breach"}
    assert (btc["state"], btc["latest"]["id"], btc["latest"]["kind"]) == (
        "resolved",
        resolved.id,
        "resolved",
    )
    assert btc["acknowledged"] is False and btc["acknowledgements"] == 0
    assert (eth["state"], eth["peak"]["text"], eth["limit_title"]) == (
        "open",
        "$200,011",  # and the quiet minutes' 1 USD ETH events, eleven of them in the window
        "velocity_usd_15m (15 min)",
    )
    html = client.get("/alerts").text
    assert f'<a href="/alerts/{first.id}">2025-10-22 09:08:31 UTC</a>' in html
    assert '<span class="pill breach">breach</span> $1,000,000' in html
    assert '<a href="/alerts">Alerts</a>' in html  # in the nav


@pytest.mark.parametrize(
    ("query", "scopes"),
    [
        ("state=open", ["ETH/binc"]),
        ("state=resolved", ["BTC/binc"]),
        ("day=2025-10-22", ["ETH/binc", "BTC/binc"]),
        ("day=2025-10-21", []),
        ("day=2025-10-23", ["ETH/binc"]),  # still open: over on the next day too
        ("day=2025-10-22&state=resolved", ["BTC/binc"]),
        ("day=22.10.2025&state=both", ["ETH/binc", "BTC/binc"]),  # mistyped: everything
    ],
)
def test_episodes_filter_by_day_and_state(world: World, query: str, scopes: list[str]) -> None:
    client = _client(world)
    assert [e["scope"] for e in client.get(f"/api/alerts?{query}").json()["episodes"]] == scopes
    page = client.get(f"/alerts?{query}")
    assert page.status_code == 200
    assert page.text.count('<td class="nowrap"><a href="/alerts/') == len(scopes)
    if not scopes:
        assert "No intraday alert matches." in page.text


# -- /alerts/{result_id}


def test_an_alert_page_shows_its_episode_with_evidence(world: World) -> None:
    client = _client(world)
    first, escalated, resolved = world.btc
    data = client.get(f"/api/alerts/{escalated.id}").json()
    assert data["result_id"] == escalated.id and data["ack_through"] == escalated.id
    assert [r["id"] for r in data["rows"]] == [first.id, escalated.id, resolved.id]
    assert [r["kind"] for r in data["rows"]] == ["new", "escalated", "resolved"]
    row = data["rows"][1]
    # the window ending at the batch's newest minute (09:09), end exclusive; the 10 batches in it
    assert (row["window_start"], row["window_end"]) == (
        "2025-10-22T08:55:00+00:00",
        "2025-10-22T09:10:00+00:00",
    )
    leaves = [b.leaf_index for b in world.feed.stored[:10]]
    assert row["leaves"] == leaves and row["leaves_text"] == f"{leaves[0]}–{leaves[-1]}"
    assert (row["observed"], row["warn_at"], row["limit"]) == (1_000_000, 900_000, 1_000_000)
    sha = limit_set_sha256(world.settings.limits)
    assert row["limit_set_sha256"] == sha and data["limit_sets"] == [sha]
    assert data["episode"]["peak"]["result_id"] == escalated.id
    assert data["episode"]["source"] == "asset_exchange BTC/binc"
    html = client.get(f"/alerts/{escalated.id}").text
    assert f'<tr class="current" id="result-{escalated.id}">' in html
    assert f"<strong>{escalated.id}</strong>" in html and f'href="/alerts/{first.id}"' in html
    assert ">08:55–09:10<" in html and f">{leaves[0]}–{leaves[-1]}<" in html
    assert sha in html and "$1,000,000" in html and "100%" in html
    assert "(from asset_exchange BTC/binc)" in html


def test_any_row_of_an_episode_opens_the_same_episode(world: World) -> None:
    client = _client(world)
    first, escalated, _resolved = world.btc
    pages = [client.get(f"/api/alerts/{r.id}").json() for r in world.btc]
    assert {json.dumps(p["rows"]) for p in pages} == {json.dumps(pages[0]["rows"])}
    # an acknowledgement from the resolution's page goes through the latest breach row
    assert [p["ack_through"] for p in pages] == [first.id, escalated.id, escalated.id]
    other = client.get(f"/api/alerts/{world.eth.id}").json()
    assert [r["id"] for r in other["rows"]] == [world.eth.id]


def test_the_messages_found_by_items_and_by_key(world: World) -> None:
    client = _client(world)
    first, escalated, resolved = world.btc
    messages = client.get(f"/api/alerts/{escalated.id}").json()["messages"]
    found = [(m["announces"], m["found_by"]) for m in messages]
    assert found == [
        ([escalated.id], ["item"]),  # the grouped alerts' messages: by their items
        ([resolved.id], ["item"]),
        ([first.id], ["key"]),  # enqueued before items were written: by its key
    ]
    assert [m["id"] for m in messages][-1] == world.legacy_message_id
    assert all(m["kind"] == "intraday" and m["recipients"] == [RISK] for m in messages)
    assert all(m["state"] == "pending" and m["other_alerts"] == 0 for m in messages)
    assert "escalated to breach" in messages[0]["subject"]
    # the ETH episode is told of in its own message, not in the BTC episode's
    eth = client.get(f"/api/alerts/{world.eth.id}").json()["messages"]
    assert [m["announces"] for m in eth] == [[world.eth.id]]
    html = client.get(f"/alerts/{escalated.id}").text
    assert "found by its idempotency key" in html and "found by its outbox items" in html
    assert messages[0]["subject"].replace("&", "&amp;") in html


def test_an_error_row_and_an_unknown_row_are_404(world: World) -> None:
    client = _client(world)
    answer = client.get(f"/api/alerts/{world.error.id}")
    assert answer.status_code == 404
    assert answer.json() == {
        "error": f"intraday result {world.error.id} records a failed evaluation, not an alert"
    }
    assert client.get("/alerts/999999").status_code == 404
    assert client.get("/api/alerts/999999").json() == {
        "error": "there is no intraday result 999999"
    }


# -- acknowledging


def test_an_officer_acknowledges_under_their_own_name(world: World) -> None:
    client = _client(world, "officer")
    url = f"/alerts/{world.eth.id}"
    page = client.get(url).text
    assert f'<form method="post" action="{url}/ack">' in page and "Acknowledge as officer" in page
    before = len(_acks(world.store))
    comment = f"{SCRIPT} hedged with the desk"
    answer = client.post(
        f"{url}/ack", data={"csrf": _csrf(client, url), "comment": comment, "by": "mallory"}
    )
    assert answer.status_code == 303
    acks = _acks(world.store)
    assert len(acks) == before + 1
    ack = acks[-1]
    assert answer.headers["location"] == f"{url}#ack-{ack.id}"
    assert (ack.acked_by, ack.comment, ack.result_id, ack.episode) == (
        "officer",
        comment,
        world.eth.id,
        world.eth.episode,
    )  # the account's name, never one the form typed
    html = client.get(url).text
    assert f'id="ack-{ack.id}"><strong>officer</strong>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; hedged with the desk" in html
    assert SCRIPT not in html
    data = client.get(f"/api/alerts/{world.eth.id}").json()
    assert data["acknowledgements"][-1]["by"] == "officer"
    assert data["acknowledgements"][-1]["entry_sha256"] == ack.entry_sha256
    listed = _by_scope(client.get("/api/alerts").json())
    assert listed["ETH/binc"]["acknowledged"] is True
    assert listed["BTC/binc"]["acknowledged"] is False
    # and in the log of who did what, from the console
    activity = _client(world, "admin").get("/api/activity").json()["activity"]
    (leaf,) = [a for a in activity if a.get("subject") == f"intraday_result {world.eth.id}"]
    assert (leaf["action"], leaf["actor"], leaf["via"]) == ("acknowledge", "officer", "console")
    assert leaf["details"]["intraday_acknowledgement_id"] == ack.id


def test_a_viewer_may_not_acknowledge_and_sees_no_form(world: World) -> None:
    client = _client(world, "viewer")
    url = f"/alerts/{world.eth.id}"
    assert "Acknowledge as" not in client.get(url).text
    before = len(_acks(world.store))
    token = _csrf(client, url)  # the viewer's own session token: the role refuses it
    answer = client.post(f"{url}/ack", data={"csrf": token, "comment": "seen"})
    assert answer.status_code == 403 and "your role may not do this" in answer.text
    assert len(_acks(world.store)) == before


def test_an_ack_without_the_csrf_token_is_refused(world: World) -> None:
    client = _client(world, "officer")
    before = len(_acks(world.store))
    url = f"/alerts/{world.eth.id}/ack"
    assert client.post(url, data={"comment": "no token"}).status_code == 403
    assert client.post(url, data={"comment": "a wrong one", "csrf": "x" * 43}).status_code == 403
    assert len(_acks(world.store)) == before


def test_an_ack_needs_a_comment_and_an_alert_row(world: World) -> None:
    client = _client(world, "officer")
    first, escalated, resolved = world.btc
    before = len(_acks(world.store))
    url = f"/alerts/{escalated.id}"
    answer = client.post(f"{url}/ack", data={"csrf": _csrf(client, url), "comment": "  "})
    assert answer.status_code == 400 and "needs a comment" in answer.text
    url = f"/alerts/{resolved.id}"  # the resolution: nothing to sign off through it
    answer = client.post(f"{url}/ack", data={"csrf": _csrf(client, url), "comment": "late"})
    assert answer.status_code == 400
    assert f"acknowledge the alert through result {first.id}" in answer.text
    answer = client.post(
        f"/alerts/{world.error.id}/ack", data={"csrf": _csrf(client, url), "comment": "x"}
    )
    assert answer.status_code == 404
    assert len(_acks(world.store)) == before


# -- escaping, headers, the email's link


def test_a_scope_is_shown_escaped(tmp_path: Path, world: World) -> None:
    """No venue module names an asset so; a store written by something else could."""
    settings = _settings(tmp_path)
    store = Store(settings.database_url)
    store.create_schema()
    Feed(store, settings).minute(0, {"ETH": 200_000})
    (row,) = intraday_rows(store)
    values = {
        **{k: getattr(row, k) for k in IntradayResult.model_fields if k != "id"},
        "scope": SCRIPT,
        "episode": f"velocity_usd_15m|{SCRIPT}|2025-10-22T09:01:00+00:00",
    }
    with store.session() as session:
        session.execute(insert(IntradayResult.__table__), values)  # type: ignore[attr-defined]
    add_user(store, "viewer", "viewer", PASSWORD, by="test")
    (_, odd) = intraday_rows(store)
    client = TestClient(
        create_app(store, settings, session_key=b"k" * 48, secure_cookies=False),
        base_url="http://127.0.0.1",
        follow_redirects=False,
    )
    assert login(client, "viewer")[0] == 303
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for url in ("/alerts", f"/alerts/{odd.id}", "/live"):
        page = client.get(url)
        assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
        assert escaped in page.text and SCRIPT not in page.text, url
    assert client.get(f"/api/alerts/{odd.id}").json()["episode"]["scope"] == SCRIPT
    store.dispose()


def test_the_pages_ask_for_a_login(world: World) -> None:
    client = _client(world, None)
    assert client.get("/api/alerts").status_code == 401
    assert client.get(f"/api/alerts/{world.eth.id}").status_code == 401
    assert (
        client.get("/alerts?state=open").headers["location"]
        == "/login?next=%2Falerts%3Fstate%3Dopen"
    )


def test_the_alert_link_of_an_email_opens_its_page(world: World) -> None:
    escalated = world.btc[1]
    assert escalated.id is not None
    url = alert_link(world.settings, escalated.id)  # what the email carries
    assert url == f"{BASE_URL}{alert_path(escalated.id)}" == f"{BASE_URL}/alerts/{escalated.id}"
    page = _client(world).get(url.removeprefix(BASE_URL))
    assert page.status_code == 200 and world.btc[0].episode.split("|")[1] in page.text
    unset = world.settings.model_copy(
        update={"web": world.settings.web.model_copy(update={"base_url": None})}
    )
    assert alert_link(unset, escalated.id) is None  # no address configured: no link
    (sent,) = _messages_for(world.store, escalated.id)
    mail = email.message_from_bytes(sent.body, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    text = mail.get_body(("plain",))
    assert text is not None and url in text.get_content()


def _messages_for(store: Store, result_id: int) -> list[OutboxMessage]:
    with store.read_session() as session:
        found = list(
            session.execute(
                select(OutboxMessage)
                .join(OutboxItem, col(OutboxItem.outbox_message_id) == col(OutboxMessage.id))
                .where(col(OutboxItem.intraday_result_id) == result_id)
            ).scalars()
        )
        session.expunge_all()
        return found
