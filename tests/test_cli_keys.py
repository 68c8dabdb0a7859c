"""The signing key (#21): a lost key is refused before any work and leaves no stray key; the key
is rotated deliberately with ``liqrisk keys rotate``; ``daily`` says when it made a key; ``init``,
``daily`` and ``report`` take ``--json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from audit_store.db import Store
from audit_store.models import Snapshot
from tests.test_cli import run


@pytest.fixture
def demo_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.delenv("LIQRISK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 'liqrisk.db'}")
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(tmp_path / "keys" / "signing.key"))
    return tmp_path


def _leaves(tmp: Path) -> int:
    store = Store(f"sqlite:///{tmp / 'liqrisk.db'}")
    with store.session() as session:
        n = int(session.execute(select(func.count()).select_from(Snapshot)).scalar_one())
    store.dispose()
    return n


@pytest.mark.slow
def test_a_lost_key_is_refused_before_any_work_and_rotated_deliberately(
    demo_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = demo_env / "keys" / "signing.key"
    code, out, _err = run(["daily"], capsys)
    assert code == 0
    first_key = next(ln for ln in out.splitlines() if ln.startswith("signing key created: "))
    assert str(key) in first_key and "verifier key (public, publish it): " in first_key
    old_vkey = first_key.rsplit(" ", 1)[1]
    leaves = _leaves(demo_env)

    key.rename(demo_env / "elsewhere.key")  # the key is lost
    code, out, err = run(["daily"], capsys)
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "signing key file" in err and "is missing" in err and "liqrisk keys rotate" in err
    assert not key.exists(), "a stray key was left behind"
    assert _leaves(demo_env) == leaves, "the refused run fetched"
    code, _out, err = run(["init"], capsys)
    assert code == 3 and "is missing" in err and not key.exists()

    code, out, _err = run(["keys", "rotate", "--json"], capsys)
    assert code == 0
    rotation = json.loads(out)
    assert rotation["old_verifier_key"] == old_vkey and rotation["retired_file"] is None
    new_vkey = rotation["new_verifier_key"]
    assert new_vkey != old_vkey and key.exists()
    assert rotation["checkpoint"]["tree_size"] == leaves

    code, out, _err = run(["daily", "--json"], capsys)
    assert code == 0
    daily = json.loads(out)
    assert daily["signing_key"] == {"created": False, "file": None, "verifier_key": new_vkey}
    assert daily["checks"]["breach"] == 42 and daily["report"]["pdf"].endswith(".pdf")

    # The lost key vouched for nothing: unpinned, verify refuses the change; pinned, it holds.
    assert rotation["vouched_by_old_key"] is False
    code, out, _err = run(["verify"], capsys)
    assert code == 1 and "no statement signed by that key vouches for it" in out
    code, out, _err = run(["verify", "--trusted-key", old_vkey, "--trusted-key", new_vkey], capsys)
    assert code == 0 and out.startswith("verify: OK")

    # A rotation with the key at hand keeps the retired file.
    code, out, _err = run(["keys", "rotate"], capsys)
    assert code == 0 and f"old verifier key: {new_vkey}" in out
    (retired,) = (demo_env / "keys").glob("signing.key.retired-*")
    assert retired.stat().st_mode & 0o777 == 0o600


def test_a_rotation_with_the_old_key_is_vouched_for_and_verifies_unpinned(
    demo_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#21: `keys rotate` records the old and new key in the log, signed by the old key, so that
    verify follows the change from the first key without both keys pinned."""
    from audit_store.checkpoint import load_signer
    from audit_store.models import Checkpoint
    from audit_store.rotation import Rotation, open_rotation, sign_rotation

    code, out, _err = run(["init", "--json"], capsys)
    old_vkey = json.loads(out)["verifier_key"]
    run(["fetch", "--source", "demo", "--start", "2025-11-02", "--end", "2025-11-03"], capsys)
    assert run(["checkpoint"], capsys)[0] == 0
    code, out, _err = run(["keys", "rotate", "--json"], capsys)
    rotation = json.loads(out)
    assert code == 0 and rotation["vouched_by_old_key"] is True
    new_vkey = rotation["new_verifier_key"]
    code, out, _err = run(["verify", "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["summary"]["key_rotations"] == 1

    url = os.environ["LIQRISK_DATABASE_URL"]
    store = Store(url)
    with store.read_session() as session:
        noted = [(c.id, c.tree_size, c.rotation_note) for c in session.scalars(select(Checkpoint))]
    ((checkpoint_id, tree_size, note),) = [n for n in noted if n[2] is not None]
    change = open_rotation(note or "", old_vkey)
    assert (change.old_key, change.new_key) == (old_vkey, new_vkey)
    assert change.tree_size == tree_size
    # A statement the new key signed for itself vouches for nothing.
    new_signer = load_signer(change.origin, demo_env / "keys" / "signing.key")
    forged = Rotation(change.origin, new_vkey, new_vkey, change.tree_size, change.root_hash)
    with store.session() as session:
        session.execute(text("DROP TRIGGER IF EXISTS checkpoint_no_update"))  # the tamperer
        session.execute(
            text("UPDATE checkpoint SET rotation_note = :n WHERE id = :i"),
            {"n": sign_rotation(forged, new_signer), "i": checkpoint_id},
        )
    store.dispose()
    code, out, _err = run(["verify"], capsys)
    assert code == 1 and "its rotation statement does not verify under that key" in out


def test_init_and_report_take_json(demo_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["init", "--json"], capsys)
    document = json.loads(out)
    assert code == 0 and document["key_created"] is True
    assert document["key_file"] == str(demo_env / "keys" / "signing.key")
    assert document["verifier_key"].startswith("liqrisk.example/audit-log+")
    code, out, _err = run(["init", "--json"], capsys)
    assert json.loads(out)["key_created"] is False
    code, _out, _err = run(["fetch", "--source", "demo", "--start", "2025-11-02", "--end",
                            "2025-11-04"], capsys)  # fmt: skip
    code, _out, _err = run(["check", "--date", "2025-11-03"], capsys)
    code, out, _err = run(["report", "--date", "2025-11-03", "--json"], capsys)
    document = json.loads(out)
    assert code == 0 and document["source"] == "demo" and document["period"] == "day"
    assert Path(document["pdf"]).exists() and Path(document["html"]).exists()


@pytest.mark.slow
def test_a_daily_rerun_fetches_nothing_already_stored_unless_asked(
    demo_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """#21: each re-run of daily appended the same pages again (35 -> 70 leaves)."""
    code, out, _err = run(["daily"], capsys)
    leaves = _leaves(demo_env)
    assert code == 0 and leaves == 30  # (35 with the former page size of 100)
    # The demo's deliberately unlisted exchange code reads as a demonstration, not five warnings.
    assert "warning" not in out and "the demo data carries it on purpose" in out
    code, out, _err = run(["daily"], capsys)
    assert code == 0 and _leaves(demo_env) == leaves
    assert "already stored, not fetched again: demo BTC" in out and "--refetch" in out
    assert "checks for 2025-11-03: 42 breach" in out
    code, _out, _err = run(["daily", "--refetch"], capsys)
    assert code == 0 and _leaves(demo_env) == 2 * leaves


def test_an_unknown_exchange_code_from_a_real_source_is_a_warning() -> None:
    from reporting.fetch.ingest import _unknown_exchange

    real = _unknown_exchange("kaiko", "kaiko BTC page 1", "bgfx")
    assert real.severity == "warning" and "add it to the exchange table" in real.message
    demo = _unknown_exchange("demo", "demo BTC page 1", "bgfx")
    assert demo.severity == "info" and "on purpose" in demo.message
    assert _unknown_exchange("demo", "demo BTC page 1", "zzzz").severity == "warning"
