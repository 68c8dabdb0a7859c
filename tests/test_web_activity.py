"""Who did what, as leaves of the log: logins, failed logins, logouts, acknowledgements, account
changes and exports, each an activity leaf stored with the action; and the console's exports,
made by an admin and handed out only while they hash to what was recorded."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store import activity as activity_log
from audit_store.activity import Activity, read_activity, record_activity
from audit_store.models import Snapshot
from audit_store.snapshots import SnapshotView
from audit_store.standalone_verify import SNAPSHOT_DIR, SNAPSHOTS_CSV
from audit_store.tables_export import ExportRecord
from audit_store.tables_limits import Acknowledgement
from reporting.evidence import verify_everything
from reporting.fetch.derivers import derive_all
from reporting.web.accounts import add_user, set_disabled, set_password
from reporting.web.evidence_views import activity
from reporting.web.exports import exports_dir, make_console_export, package_name
from tests import test_web
from tests.export_helpers import run_verify
from tests.test_web import DAY, PASSWORD, Console, csrf_of, login

base = test_web.base  # the console's fixtures: one store for this module, a fresh console each
console = test_web.console


def _leaves(console: Console) -> list[Activity]:
    with console.store.read_session() as session:
        bodies = session.scalars(
            select(col(Snapshot.body))
            .where(col(Snapshot.source) == activity_log.SOURCE)
            .order_by(col(Snapshot.leaf_index))
        )
        return [read_activity(b) for b in bodies]


def _new(console: Console, before: int) -> list[Activity]:
    return _leaves(console)[before:]


def test_login_failed_login_and_logout_are_leaves(console: Console) -> None:
    before = len(_leaves(console))
    client = console.new_client()
    assert login(client, "officer", "not the password at all")[0] == 401
    assert login(client, "Secret-typed-in-the-name-field", PASSWORD)[0] == 401
    assert login(client, "officer")[0] == 303
    assert client.post("/logout", data={"csrf": csrf_of(client)}).status_code == 303
    done = _new(console, before)
    assert [a.action for a in done] == ["login_failed", "login_failed", "login", "logout"]
    assert done[0].actor == "officer" and done[0].details == {"reason": "wrong password"}
    # a name with no account is not kept: it may be a password typed in the wrong field
    assert done[1].actor == "" and done[1].details == {"reason": "no such account"}
    assert done[2].actor == "officer" and done[2].details == {"role": "officer"}
    assert {a.via for a in done} == {"console"} and {a.address for a in done} == {"testclient"}
    assert done[2].at.timestamp() == console.clock.now
    with console.store.read_session() as session:
        everything = b"".join(session.scalars(select(col(Snapshot.body))))
    assert PASSWORD.encode() not in everything and b"Secret-typed" not in everything


def test_a_disabled_accounts_login_is_recorded_as_such(console: Console) -> None:
    add_user(console.store, "leaver", "viewer", PASSWORD, by="cli:root")
    set_disabled(console.store, "leaver", True, by="cli:root")
    before = len(_leaves(console))
    assert login(console.new_client(), "leaver")[0] == 401
    (failed,) = _new(console, before)
    assert (failed.action, failed.actor) == ("login_failed", "leaver")
    assert failed.details == {"reason": "account disabled"}


def test_account_changes_are_leaves_without_the_hash(console: Console) -> None:
    before = len(_leaves(console))
    add_user(console.store, "newcomer", "officer", PASSWORD, by="cli:root")
    set_password(console.store, "newcomer", "another long password", by="cli:root")
    set_disabled(console.store, "newcomer", True, by="admin")
    set_disabled(console.store, "newcomer", True, by="admin")  # no change: no version, no leaf
    set_disabled(console.store, "newcomer", False, by="admin")
    done = _new(console, before)
    assert [a.action for a in done] == [
        "account_created",
        "account_password",
        "account_disabled",
        "account_enabled",
    ]
    assert {a.subject for a in done} == {"account newcomer"}
    assert [a.via for a in done] == ["cli", "cli", "console", "console"]
    assert done[0].details == {"role": "officer", "disabled": False}
    with console.store.read_session() as session:
        bodies = list(session.scalars(select(col(Snapshot.body))))
    assert not any(b"argon2" in body or b"another long" in body for body in bodies)


def test_a_console_ack_and_its_leaf_are_stored_together(console: Console) -> None:
    client = console.new_client()
    assert login(client, "officer")[0] == 303
    before = len(_leaves(console))
    url = f"/breaches/{console.result_id}/ack"
    comment = "Reviewed <script>alert(1)</script> with the desk"
    answer = client.post(url, data={"csrf": csrf_of(client), "comment": comment})
    assert answer.status_code == 303
    (signed,) = _new(console, before)
    with console.store.read_session() as session:
        ack = session.scalars(
            select(Acknowledgement).order_by(col(Acknowledgement.id).desc())
        ).first()
        assert ack is not None
        session.expunge(ack)
    assert (signed.action, signed.actor, signed.via) == ("acknowledge", "officer", "console")
    assert signed.subject == f"check_result {console.result_id}"
    assert signed.details["entry_sha256"] == ack.entry_sha256
    assert signed.details["acknowledgement_id"] == ack.id
    assert signed.details["comment"] == comment and signed.details["status"] == "breach"
    # a refused ack (no comment) stores neither
    assert client.post(url, data={"csrf": csrf_of(client), "comment": " "}).status_code == 400
    assert len(_leaves(console)) == before + 1
    # the admin's activity page shows it, escaped
    admin = console.new_client()
    assert login(admin, "admin")[0] == 303
    page = admin.get("/activity").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page


def test_activity_leaves_verify_and_a_bad_one_is_quarantined(console: Console) -> None:
    assert login(console.new_client(), "viewer")[0] == 303
    result = verify_everything(console.store, console.base.settings)
    assert result.ok, result.discrepancies
    with console.store.read_session() as session:
        row = session.scalars(
            select(Snapshot).where(col(Snapshot.source) == activity_log.SOURCE).limit(1)
        ).one()
        view = SnapshotView(**{c: getattr(row, c) for c in SnapshotView._fields})
    assert derive_all(view).quarantine_reason is None
    spaced = view._replace(body=view.body.replace(b",", b", ", 1))
    reason = derive_all(spaced).quarantine_reason
    assert reason is not None and "not in canonical form" in reason
    reason = derive_all(view._replace(body=b"[]")).quarantine_reason
    assert reason is not None and "exactly the fields" in reason


def test_an_activity_must_name_a_known_action_and_a_zone() -> None:
    with pytest.raises(ValueError, match="unknown activity action"):
        Activity("deleted_everything", "x", "console", datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone"):
        Activity("login", "x", "console", datetime.now())


def test_an_admin_makes_an_export_and_a_viewer_downloads_it(console: Console) -> None:
    admin = console.new_client()
    assert login(admin, "admin")[0] == 303
    answer = admin.post(
        "/evidence/export", data={"csrf": csrf_of(admin), "start": str(DAY), "end": str(DAY)}
    )
    assert answer.status_code == 303
    export_id = int(answer.headers["location"].rsplit("-", 1)[1])
    with console.store.read_session() as session:
        record = session.get(ExportRecord, export_id)
        assert record is not None
        session.expunge(record)
    name = package_name(record.range_start, record.range_end, export_id)
    path = exports_dir(console.base.settings) / name
    assert path.is_file() and not list(path.parent.glob(".making-*"))
    made = [a for a in _leaves(console) if a.action == "export"][-1]
    assert (made.actor, made.via, made.subject) == ("admin", "console", f"export {export_id}")
    assert made.details["package_sha256"] == record.package_sha256

    viewer = console.new_client()
    assert login(viewer, "viewer")[0] == 303
    evidence = viewer.get("/evidence").text
    assert f'href="/exports/{export_id}"' in evidence and "Make an audit package" not in evidence
    assert evidence.count("Audit packages exported") == 1 and evidence.count("<h1>") == 1
    download = viewer.get(f"/exports/{export_id}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-length"] == str(record.package_size)
    assert f'filename="{name}"' in download.headers["content-disposition"]
    assert hashlib.sha256(download.content).hexdigest() == record.package_sha256
    with zipfile.ZipFile(io.BytesIO(download.content)) as package:
        assert "verify.py" in package.namelist()

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))  # altered on disk, same size
    refused = viewer.get(f"/exports/{export_id}")
    assert refused.status_code == 409 and "it is not served" in refused.text
    assert viewer.get("/exports/999999").status_code == 404


def test_a_bad_export_form_is_said_on_the_page(console: Console) -> None:
    admin = console.new_client()
    assert login(admin, "admin")[0] == 303
    token = csrf_of(admin)
    bad = admin.post("/evidence/export", data={"csrf": token, "start": "soon", "end": ""})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text
    backwards = {"csrf": token, "start": "2025-11-05", "end": "2025-11-01"}
    answer = admin.post("/evidence/export", data=backwards)
    assert answer.status_code == 400 and "comes before" in answer.text


def test_the_activity_api_lists_newest_first(console: Console) -> None:
    admin = console.new_client()
    assert login(admin, "admin")[0] == 303
    rows = admin.get("/api/activity").json()["activity"]
    assert rows[0]["action"] == "login" and rows[0]["actor"] == "admin"
    assert [r["leaf_index"] for r in rows] == sorted((r["leaf_index"] for r in rows), reverse=True)
    assert rows == activity(console.store)
    with console.store.session() as session:
        record_activity(
            session,
            Activity("verify", "admin", "console", datetime.now(UTC), details={"ok": True}),
        )
    newest = activity(console.store)[0]
    assert newest["action"] == "verify" and newest["sentence"] == "admin ran verify via the console"


def test_a_regulators_package_carries_who_signed_off(console: Console, tmp_path: Path) -> None:
    """The day of the console's clock exported: its acks and logins are leaves in the package,
    each body byte for byte, and the package's own verify.py accepts them."""
    client = console.new_client()
    assert login(client, "officer")[0] == 303
    url = f"/breaches/{console.result_id}/ack"
    assert client.post(url, data={"csrf": csrf_of(client), "comment": "seen"}).status_code == 303
    day = datetime.fromtimestamp(console.clock.now, UTC).date()
    made = make_console_export(
        console.store,
        console.base.settings,
        start=day,
        end=day + timedelta(days=1),
        by="admin",
        address="127.0.0.1",
    )
    folder = tmp_path / "package"
    with zipfile.ZipFile(made.result.path) as package:
        package.extractall(folder)
    with (folder / SNAPSHOTS_CSV).open(encoding="utf-8") as listing:
        leaves = [row for row in csv.DictReader(listing) if row["kind"] == activity_log.KIND]
    bodies = [(folder / SNAPSHOT_DIR).glob(f"*{row['body_sha256']}*") for row in leaves]
    actions = [read_activity(next(iter(found)).read_bytes()).action for found in bodies]
    assert "login" in actions and "acknowledge" in actions
    done = run_verify(folder)
    assert done.returncode == 0, done.stdout + done.stderr
