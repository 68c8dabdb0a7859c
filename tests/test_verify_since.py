"""``liqrisk verify --since FILE`` and ``verify.py --since FILE`` (#19): a checkpoint someone kept
proves the log they see later extends it, and a log the firm rebuilt with its own key, or cut
short, is named as a fork or a truncation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from audit_store import standalone_verify as sv
from audit_store.checkpoint import (
    init_signing_key,
    load_signer,
    publish_checkpoint,
    sign_checkpoint,
)
from audit_store.db import Store
from audit_store.since import check_since, stored_verifier_keys
from audit_store.standalone_verify import kept_note
from tests.export_helpers import (
    DAY,
    Built,
    add_later_snapshot,
    build_store,
    export_range,
    hours,
    run_verify,
    unpack,
)
from tests.factories import store_hours
from tests.test_cli import run


def _sign(built: Built, store: Store | None = None) -> str:
    signer = load_signer(built.settings.audit.origin, built.key_file, environ={})
    return sign_checkpoint(store or built.store, signer, built.settings.audit.origin).note


def _rebuilt(built: Built, root: Path, extra: int) -> Store:
    """The firm's log rebuilt from scratch with other figures, signed with the firm's own key."""
    store = Store(f"sqlite:///{root / 'rebuilt.db'}")
    store.create_schema()
    for n in range(extra):
        store_hours(store, "BTC", hours(DAY, 7.0 + n), fetched_at=datetime(2025, 11, 4, tzinfo=UTC))
    _sign(built, store)
    return store


@pytest.fixture
def built(tmp_path: Path) -> Built:
    (tmp_path / "firm").mkdir()
    return build_store(tmp_path / "firm")


def test_the_log_extends_a_checkpoint_kept_before_it_grew(built: Built) -> None:
    kept = _sign(built)
    same = check_since(built.store, kept, stored_verifier_keys(built.store))
    assert (same.ok, same.verdict) == (True, "same")
    add_later_snapshot(built.store, date(2025, 11, 20), 300.0)
    add_later_snapshot(built.store, date(2025, 11, 21), 310.0)
    later = check_since(built.store, kept, stored_verifier_keys(built.store))
    assert (later.ok, later.verdict) == (True, "extends")
    assert later.log_size == (later.kept_size or 0) + 2 and later.proof


def test_a_log_rebuilt_with_the_firms_key_is_a_fork(built: Built, tmp_path: Path) -> None:
    kept = _sign(built)
    with built.store.read_session() as session:
        size = session.execute(text("SELECT count(*) FROM snapshot")).scalar_one()
    rebuilt = _rebuilt(built, tmp_path, size + 3)  # longer than the kept log: not a truncation
    found = check_since(rebuilt, kept, stored_verifier_keys(rebuilt))
    assert (found.ok, found.verdict) == (False, "fork")
    assert "rebuilt" in found.message


def test_a_log_cut_short_is_named_truncated(built: Built, tmp_path: Path) -> None:
    kept = _sign(built)
    (tmp_path / "short").mkdir()
    rebuilt = _rebuilt(built, tmp_path / "short", 1)
    found = check_since(rebuilt, kept, stored_verifier_keys(rebuilt))
    assert (found.ok, found.verdict) == (False, "truncated")
    assert "truncated" in found.message


def test_a_checkpoint_signed_by_another_key_proves_nothing(built: Built, tmp_path: Path) -> None:
    other_key = tmp_path / "other.key"
    init_signing_key(other_key, built.settings.audit.origin)
    signer = load_signer(built.settings.audit.origin, other_key, environ={})
    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    other.create_schema()
    store_hours(other, "ETH", hours(DAY, 5.0))
    note = sign_checkpoint(other, signer, built.settings.audit.origin).note
    _sign(built)
    found = check_since(built.store, note, stored_verifier_keys(built.store))
    assert (found.ok, found.verdict) == (False, "unverified")


def test_verify_since_on_the_command_line(
    built: Built,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kept = tmp_path / "checkpoint.txt"
    kept.write_text(_sign(built), encoding="utf-8")
    add_later_snapshot(built.store, date(2025, 11, 20), 300.0)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", built.settings.database_url)
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(built.key_file))
    code, out, err = run(["verify", "--since", str(kept)], capsys)
    assert code == 0, out + err
    assert "append-only extension of the kept checkpoint" in out
    rebuilt = _rebuilt(built, tmp_path, 40)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", rebuilt.url)
    code, out, err = run(["verify", "--since", str(kept)], capsys)
    assert code == 1 and "fork" in out and "Traceback" not in err
    code, _out, err = run(["verify", "--since", str(tmp_path / "missing.txt")], capsys)
    assert code == 2 and "cannot read the checkpoint" in err


def test_the_package_proves_the_log_extends_a_checkpoint_kept_earlier(
    built: Built, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_text(_sign(built), encoding="utf-8")
    add_later_snapshot(built.store, date(2025, 11, 20), 300.0)
    good = _export(built, built.store, tmp_path / "good.zip")
    folder = unpack(good, tmp_path / "good")
    result = run_verify(folder, "--since", str(kept))
    assert result.returncode == 0, result.stdout
    assert "is an append-only extension of it" in result.stdout
    # the firm rebuilds its log and exports again, signed with its own key
    rebuilt = _rebuilt(built, tmp_path, 40)
    bad = _export(built, rebuilt, tmp_path / "bad.zip")
    folder = unpack(bad, tmp_path / "bad")
    assert run_verify(folder).returncode == 0  # on its own the package is sound
    result = run_verify(folder, "--since", str(kept))
    assert result.returncode == 1
    assert "the checkpoint you kept (--since)" in result.stdout
    # its only checkpoint is the rebuilt log's: nothing links it to the one the regulator kept
    assert "cannot show that its log extends the checkpoint you kept" in result.stdout


def test_a_forged_proof_in_the_package_fails(built: Built, tmp_path: Path) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_text(_sign(built), encoding="utf-8")
    add_later_snapshot(built.store, date(2025, 11, 20), 300.0)
    folder = unpack(_export(built, built.store, tmp_path / "p.zip"), tmp_path / "p")
    proofs = folder / sv.EARLIER_PROOFS_FILE
    document = json.loads(proofs.read_text(encoding="utf-8"))
    entry = document["proofs"][-1]
    assert entry["old_size"] == int(kept.read_text(encoding="utf-8").split("\n")[1])
    entry["proof"][0] = base64.b64encode(b"\x00" * 32).decode()
    proofs.write_text(json.dumps(document), encoding="utf-8")
    result = run_verify(folder, "--since", str(kept))
    assert result.returncode == 1 and "earlier_checkpoints.json" in result.stdout


def _export(built: Built, store: Store, out: Path) -> Path:
    return export_range(built, out, store=store, reports=False)


def test_a_checkpoint_copied_out_of_a_pdf_or_an_email_still_verifies(built: Built) -> None:
    note = _sign(built)
    text, signatures = note.split("\n\n")
    mangled = "\r\n".join([*text.split("\n"), *signatures.rstrip("\n").split("\n")]) + "  \r\n\r\n"
    assert kept_note(mangled) == note
    found = check_since(built.store, mangled, stored_verifier_keys(built.store))
    assert found.ok, found.message


def test_the_report_prints_the_signed_checkpoint_so_it_can_be_cut_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIQRISK_CONFIG", "")
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(tmp_path / "key"))
    code, out, err = run(["daily"], capsys)
    assert code == 0, out + err
    pdf = next(tmp_path.rglob("liqrisk-report-*.pdf"))
    pages = [page.extract_text() or "" for page in PdfReader(pdf).pages]
    text = next(p for p in pages if "The signed checkpoint, verbatim" in p)
    lines = text.split("\n")
    start = lines.index("liqrisk.example/audit-log")
    end = next(i for i, line in enumerate(lines) if line.startswith("\u2014 "))
    (tmp_path / "cut.txt").write_text("\n".join(lines[start : end + 1]), encoding="utf-8")
    code, out, err = run(["verify", "--since", str(tmp_path / "cut.txt")], capsys)
    assert code == 0, out + err
    assert "the log is the kept checkpoint's" in out


def test_a_published_checkpoint_is_recorded_with_where_it_went(
    built: Built, tmp_path: Path
) -> None:
    _sign(built)
    written = publish_checkpoint(built.store, tmp_path / "public")
    with built.store.read_session() as session:
        (row,) = session.execute(
            text("SELECT channel, target, tree_size FROM checkpoint_publication")
        )
    assert row[0] == "directory" and row[1] == str((tmp_path / "public").absolute())
    assert check_since(
        built.store, written.read_text(encoding="utf-8"), stored_verifier_keys(built.store)
    ).ok
