"""Acknowledging intraday alerts: an episode acknowledged through any of its warn or breach rows,
on a hash chain of its own that ``verify`` recomputes, with an activity leaf in the same
transaction; ``liqrisk ack --alert`` and ``liqrisk limits acks``. The rows are stored through the
real collector path (:class:`tests.intraday_helpers.Feed`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_limits import GENESIS_SHA256
from reporting.checks.intraday_acks import (
    acknowledge_alert,
    alert_acknowledgements,
    verify_intraday_acknowledgements,
)
from reporting.cli import main
from reporting.errors import CheckError
from reporting.evidence import verify_everything
from reporting.web.accounts import cli_actor
from reporting.web.evidence_views import activity
from tests.intraday_helpers import Feed, intraday_rows, intraday_settings
from tests.store_helpers import _drop_append_only_triggers
from tests.stream_helpers import new_store

pytest_plugins = ["tests.pg"]  # any_store: SQLite and PostgreSQL

AT = datetime(2025, 10, 22, 9, 30, tzinfo=UTC)


def _episode(store: Store) -> list[IntradayResult]:
    """One episode of velocity_usd_15m on BTC/binc: new (warn), escalated (breach), resolved."""
    feed = Feed(store, intraday_settings())
    feed.episode()
    rows = intraday_rows(store)
    assert [(r.kind, r.status) for r in rows] == [
        ("new", "warn"),
        ("escalated", "breach"),
        ("resolved", "ok"),
    ]
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = new_store(tmp_path)
    yield s
    s.dispose()


def test_an_episode_is_acknowledged_through_any_row_on_a_chain_that_verifies(
    any_store: Store,
) -> None:
    new, escalated, _resolved = _episode(any_store)
    assert new.id is not None and escalated.id is not None
    first, row = acknowledge_alert(
        any_store, new.id, by=" A. Officer ", comment=" hedged ", clock=lambda: AT
    )
    second, _ = acknowledge_alert(
        any_store,
        escalated.id,
        by="B. Officer",
        comment="desk flat",
        via="console",
        address="127.0.0.1",
        clock=lambda: AT + timedelta(minutes=5),
    )
    assert row.id == new.id and first.episode == new.episode == escalated.episode
    assert (first.acked_by, first.comment) == ("A. Officer", "hedged")  # stripped
    assert first.previous_sha256 == GENESIS_SHA256
    assert second.previous_sha256 == first.entry_sha256 != second.entry_sha256
    assert verify_intraday_acknowledgements(any_store) == []
    with any_store.read_session() as session:
        found = alert_acknowledgements(session, [new.episode, "no such episode"])
        assert [a.id for a in found[new.episode]] == [first.id, second.id]  # oldest first
        assert "no such episode" not in found and alert_acknowledgements(session, []) == {}
        bounded = alert_acknowledgements(session, [new.episode], max_ack_id=first.id)
        assert [a.id for a in bounded[new.episode]] == [first.id]
    leaves = [a for a in activity(any_store) if a["action"] == "acknowledge"]
    assert [a["subject"] for a in leaves] == [
        f"intraday_result {escalated.id}",
        f"intraday_result {new.id}",
    ]  # newest first
    console, cli = leaves
    assert (console["actor"], console["via"], console["address"]) == (
        "B. Officer",
        "console",
        "127.0.0.1",
    )
    assert cli["details"]["entry_sha256"] == first.entry_sha256
    assert cli["details"]["episode"] == new.episode and cli["details"]["comment"] == "hedged"
    with pytest.raises(AppendOnlyViolation):  # the acknowledgements are evidence
        with any_store.session() as session:
            session.execute(text("UPDATE intraday_acknowledgement SET comment = 'x'"))
    assert verify_everything(any_store, intraday_settings()).ok


def test_ok_and_error_rows_and_empty_fields_are_refused_in_one_line(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    new, _escalated, resolved = _episode(store)
    assert new.id is not None and resolved.id is not None
    with pytest.raises(CheckError) as info:
        acknowledge_alert(store, resolved.id, by="A", comment="x")
    message = str(info.value)
    assert "is ok: there is nothing to acknowledge" in message and "\n" not in message
    assert f"through result {new.id}" in message  # where the alert can be acknowledged
    with pytest.raises(CheckError, match="there is no intraday result 999"):
        acknowledge_alert(store, 999, by="A", comment="x")
    with pytest.raises(CheckError, match="--by"):
        acknowledge_alert(store, new.id, by="  ", comment="x")
    with pytest.raises(CheckError, match="--comment"):
        acknowledge_alert(store, new.id, by="A", comment="")
    feed = Feed(store, intraday_settings())
    monkeypatch.setattr(feed.hook, "evaluate", _fail)  # the next evaluation fails
    feed.minute(60, {"BTC": 1})
    (error,) = [r for r in intraday_rows(store) if r.kind == "error"]
    assert error.id is not None
    with pytest.raises(CheckError, match=r"failed evaluation .* nothing to acknowledge"):
        acknowledge_alert(store, error.id, by="A", comment="x")
    assert [a for a in activity(store) if a["action"] == "acknowledge"] == []  # none recorded
    assert verify_intraday_acknowledgements(store) == []


def _fail(*_args: Any) -> int:
    raise RuntimeError("window query failed")


def test_a_tampered_acknowledgement_or_row_is_reported_by_verify(store: Store) -> None:
    new, escalated, _ = _episode(store)
    assert new.id is not None and escalated.id is not None
    acknowledge_alert(store, new.id, by="A", comment="hedged", clock=lambda: AT)
    second, _ = acknowledge_alert(store, escalated.id, by="B", comment="flat", clock=lambda: AT)
    settings = intraday_settings()
    assert verify_everything(store, settings).ok
    _drop_append_only_triggers(store)
    with store.engine.begin() as connection:
        connection.execute(
            text("UPDATE intraday_acknowledgement SET comment = 'nothing' WHERE id = 1")
        )
    problems = [(p.source, p.message) for p in verify_intraday_acknowledgements(store)]
    assert problems == [("intraday_acknowledgement 1", "its content does not match its hash")]
    report = verify_everything(store, settings)
    assert not report.ok
    assert [(d.table, d.record_id) for d in report.discrepancies] == [
        ("intraday_acknowledgement", 1)
    ]
    # the acknowledged row altered, and the first acknowledgement removed
    with store.engine.begin() as connection:
        connection.execute(text(f"UPDATE intraday_result SET observed = 1 WHERE id = {new.id}"))
        connection.execute(text("DELETE FROM intraday_acknowledgement WHERE id = 1"))
    problems = [(p.source, p.message) for p in verify_intraday_acknowledgements(store)]
    assert problems == [
        (
            f"intraday_acknowledgement {second.id}",
            "does not follow the intraday acknowledgement before it",
        )
    ]
    with store.engine.begin() as connection:
        connection.execute(
            text(f"UPDATE intraday_result SET observed = 1 WHERE id = {escalated.id}")
        )
    messages = [p.message for p in verify_intraday_acknowledgements(store)]
    assert f"intraday result {escalated.id} differs from what was acknowledged" in messages


# --- the command line ------------------------------------------------------------------------


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def cli_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[IntradayResult]]:
    """The episode in the store the packaged configuration opens."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("LIQRISK_DATABASE_URL", url)
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    store = Store(url)
    store.create_schema()
    rows = _episode(store)
    store.dispose()
    yield rows


def test_liqrisk_ack_alert_and_the_trail(
    cli_rows: list[IntradayResult], capsys: pytest.CaptureFixture[str]
) -> None:
    new, escalated, resolved = cli_rows
    code, out, _ = run(["ack", "--alert", str(escalated.id), "--comment", "hedged"], capsys)
    assert code == 0 and out.startswith("intraday ack 1: alert velocity_usd_15m BTC/binc")
    assert f"by {cli_actor()}" in out
    code, out, _ = run(
        ["ack", "--alert", str(new.id), "--by", "A. Risk", "--comment", "seen", "--json"], capsys
    )
    doc = json.loads(out)
    assert code == 0 and doc["ack"]["by"] == f"A. Risk ({cli_actor()})"
    assert doc["ack"]["episode"] == new.episode and doc["intraday_result"]["kind"] == "new"
    assert doc["intraday_result"]["window_end"].endswith("+00:00")
    code, _, err = run(["ack", "--alert", str(resolved.id), "--comment", "x"], capsys)
    assert code == 2 and "nothing to acknowledge" in err and err.count("\n") == 1
    code, _, err = run(["ack", "1", "--alert", str(new.id), "--comment", "x"], capsys)
    assert code == 2 and "either a check result's id or --alert" in err
    code, _, err = run(["ack", "--alert", str(new.id)], capsys)
    assert code == 2 and "--comment" in err
    code, out, _ = run(["limits", "acks", "--json"], capsys)
    trail = json.loads(out)
    assert code == 0 and trail["chain_ok"] and trail["acks"] == []
    assert [(a["result_id"], a["limit"], a["status"]) for a in trail["intraday_acks"]] == [
        (escalated.id, "velocity_usd_15m", "breach"),
        (new.id, "velocity_usd_15m", "warn"),
    ]
    code, out, _ = run(["limits", "acks", "--date", "2025-10-22"], capsys)
    assert code == 0 and "0 acknowledgement(s), 2 of intraday alerts; chain ok" in out
    code, out, _ = run(["limits", "acks", "--date", "2025-10-23"], capsys)
    assert code == 0 and "0 acknowledgement(s); chain ok" in out  # none of that day
    code, out, _ = run(["ack", "--help"], capsys)
    assert code == 0 and "--alert" in out and "intraday" in out
