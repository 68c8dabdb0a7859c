"""`liqrisk outbox ...` and the daily job's notices, end to end."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

import reporting.pipeline
from audit_store.checkpoint import latest_checkpoint
from audit_store.db import Store
from audit_store.since import check_since
from audit_store.tables_publication import CheckpointPublication
from reporting.cli import main
from reporting.config import load_settings
from reporting.notify import enqueue_breach_notices, list_outbox
from reporting.render import ReportFiles
from tests.notify_helpers import DAY, SmtpServer, smtp_env, store_results


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


def queue_one_breach() -> None:
    """A store (from the environment's settings) with one BTC breach notice queued."""
    settings = load_settings()
    store = Store(settings.database_url)
    store.create_schema()
    store_results(store, DAY, {("daily_usd", "BTC"): "breach"})
    with store.session() as session:
        enqueue_breach_notices(session, settings, DAY)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def test_outbox_drain_list_show(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    queue_one_breach()

    code, out, _ = run(["outbox", "drain", "--json"], capsys)
    assert code == 0 and len(json.loads(out)["delivered"]) == 1

    code, out, _ = run(["outbox", "list", "--json", "--date", "2025-11-03"], capsys)
    (message,) = json.loads(out)["messages"]
    assert message["state"] == "delivered" and message["kind"] == "breach"
    assert message["recipients"] == ["compliance@example.com", "risk-desk@example.com"]
    assert message["delivered_at"] and message["message_id"].startswith("<")
    assert message["items"] == [
        {"check": "daily_usd", "scope": "BTC", "severity": "breach", "state": "new",
         "result_id": message["items"][0]["result_id"]},
    ]  # fmt: skip

    code, out, _ = run(["outbox", "list", "--date", "2025-11-04"], capsys)
    assert code == 0 and out.strip() == "0 message(s)"
    code, out, _ = run(["outbox", "list"], capsys)
    assert "delivered" in out and message["key"] in out

    code, out, _ = run(["outbox", "show", message["key"]], capsys)
    assert code == 0 and "#1 delivered" in out and message["message_id"] in out
    code, out, _ = run(["outbox", "show", str(message["id"]), "--raw"], capsys)
    eml = next((env / "reports" / "outbox").glob("*.eml")).read_bytes()
    assert out.encode() == eml.replace(b"\r\n", b"\n") or out.encode() == eml

    code, _, err = run(["outbox", "show", "nope"], capsys)
    assert code == 2 and err.startswith("liqrisk: error: no message 'nope'")


def test_outbox_drain_exits_1_when_a_message_is_given_up(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SmtpServer()
    server.start()
    try:
        for name, value in smtp_env(server).items():
            monkeypatch.setenv(name, value)
        queue_one_breach()
        server.handler.script = ["550 5.7.1 Relaying denied"]
        code, out, err = run(["outbox", "drain"], capsys)
    finally:
        server.stop()
    assert code == 1 and "1 delivered" in out and "1 given up" in out  # the ops notice got out
    assert "given up: breach:2025-11-03:" in err


def test_daily_job_mails_the_rendered_report_once(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quick start with an SMTP server: report (the rendered PDF) and breaches, then the day
    again: nothing twice."""
    server = SmtpServer()
    server.start()
    try:
        for name, value in smtp_env(server).items():
            monkeypatch.setenv(name, value)
        code, out, _ = run(["daily"], capsys)
        assert code == 0 and "outbox: 2 delivered" in out
        # The day again: fetched and checked anew; the report is not rendered again (seconds of
        # WeasyPrint that the outbox does not look at: its keys are per kind, day and group).
        html, pdf = (
            next((env / "reports").rglob(f"liqrisk-report-*.{x}")) for x in ("html", "pdf")
        )
        files = ReportFiles(html, pdf, sha256(html.read_bytes()), sha256(pdf.read_bytes()))
        monkeypatch.setattr(reporting.pipeline, "render_report", lambda *a, **k: files)
        code, out, _ = run(["daily"], capsys)
        assert code == 0 and "outbox: 0 delivered" in out
    finally:
        server.stop()
    assert len(server.received) == 2
    (report,) = [r for r in server.received if "risk report" in str(r.message["Subject"])]
    attached, checkpoint = report.message.iter_attachments()
    pdf_path = next((env / "reports").rglob("liqrisk-report-*.pdf"))
    assert attached.get_filename() == pdf_path.name
    assert attached.get_content() == pdf_path.read_bytes()
    settings = load_settings()
    # The signed checkpoint the figures rest on goes with the report (and with the breaches):
    # whoever keeps the email can later check a package or the store against it.
    store = Store(settings.database_url)
    with store.read_session() as session:
        latest = latest_checkpoint(session)
        assert latest is not None
        signed, size, key = latest.note, latest.tree_size, latest.verifier_key
    assert checkpoint.get_filename() == "checkpoint.txt"
    assert checkpoint.get_content_charset() == "utf-8"
    payload = checkpoint.get_payload(decode=True)  # the bytes, exactly
    assert isinstance(payload, bytes)
    note = payload.decode("utf-8")
    assert note == signed and f"tree size {size}" in str(report.message)
    assert check_since(store, note, [key]).ok
    (breach,) = [r for r in server.received if r is not report]
    assert [a.get_filename() for a in breach.message.iter_attachments()] == ["checkpoint.txt"]
    with store.read_session() as session:  # who holds which checkpoint is on record
        query = select(col(CheckpointPublication.channel), col(CheckpointPublication.tree_size))
        went = [tuple(r) for r in session.execute(query).all()]
    assert sorted(went) == [("email", size), ("email", size)]
    entries = {e.kind: e for e in list_outbox(Store(settings.database_url))}
    assert set(entries) == {"report", "breach"} and entries["breach"].items


def test_outbox_drain_counts_what_waits_for_a_retry_not_yet_due(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMTP down (#21): the first drain tries and schedules a retry; a second drain finds nothing
    due, and its summary still counts the message waiting (it said "0 waiting")."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("LIQRISK_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("LIQRISK_SMTP_PORT", str(port))
    monkeypatch.setenv("LIQRISK_SMTP_SECURITY", "none")
    queue_one_breach()
    code, out, _ = run(["outbox", "drain", "--wait", "0"], capsys)
    assert code == 0 and "0 delivered, 1 waiting for a retry (next due " in out
    code, out, _ = run(["outbox", "drain", "--wait", "0", "--json"], capsys)
    document = json.loads(out)
    assert document["attempts"] == 0 and document["retrying"] == []
    assert document["waiting"] == 1 and document["next_due"]
    code, out, _ = run(["outbox", "drain", "--wait", "0"], capsys)
    assert "0 delivered, 1 waiting for a retry" in out
    code, out, _ = run(["outbox", "list", "--json"], capsys)
    assert [m["state"] for m in json.loads(out)["messages"]] == ["retry"]
