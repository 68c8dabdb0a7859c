"""``liqrisk reproduce``: a registered report renders again, byte for byte, after the store grew.

The store is the demo data of the stress day and the day before (``test_report_factory``); each
test renders, then changes the store the way later days do (new pages, new check runs, new
acknowledgements) or the way an attacker would (an edited inputs file, a rewritten derived row),
and reproduces.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from audit_store.merkle import root_from_leaf_hashes
from audit_store.models import Artifact, Checkpoint, CheckResult, Snapshot
from reporting.checks.store import acknowledge, limit_set_hash, run_checks
from reporting.cli import main
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.render import (
    ReportInputs,
    build_report,
    render_html,
    render_report,
    reproduce_report,
)
from tests.factories import store_hours
from tests.store_helpers import _drop_append_only_triggers
from tests.test_report import funding_row, keep_overlay, oi_row
from tests.test_report_factory import STRESS_DAY, day_start, demo_store, report_settings

NOW = datetime(2025, 11, 4, 7, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Store, Settings, Path]:
    settings = report_settings(tmp_path)
    store = demo_store(settings, history_days=1)
    render_report(store, settings, STRESS_DAY, now=NOW)
    return store, settings, tmp_path


def grow(store: Store, settings: Settings) -> None:
    """What the next days do to the store: a checkpoint, re-fetched hours, overlays, a new check
    run, an acknowledgement."""
    # Signed later, over the very leaves the report read: only its time keeps it out.
    with store.session() as session:
        hashes = [
            bytes.fromhex(h)
            for h in session.execute(
                select(col(Snapshot.leaf_hash)).order_by(col(Snapshot.leaf_index))
            ).scalars()
        ]
        session.add(
            Checkpoint(
                origin="liqrisk.example/audit-log",
                tree_size=len(hashes),
                root_hash=root_from_leaf_hashes(hashes).hex(),
                note="(signed note)",
                key_name="liqrisk.example/audit-log",
                key_id="4dce997f",
                verifier_key="(verifier key)",
                consistency_proof_json="[]",
                created_at=LATER,
            )
        )
    hour = day_start(STRESS_DAY) + timedelta(hours=5)
    store_hours(store, "BTC", {hour: {"bnce": (40, 9_000_000.0, 3, 15_000.0)}}, fetched_at=LATER)
    store_hours(
        store,
        "ETH",
        {day_start(STRESS_DAY - timedelta(days=1)): {"okex": (2, 1_000.0, 1, 500.0)}},
        fetched_at=LATER,
    )
    keep_overlay(store, "funding_rate", [
        funding_row("binc", "BTCUSDT", day_start(STRESS_DAY) + timedelta(hours=16), 0.0009),
    ])  # fmt: skip
    keep_overlay(store, "open_interest", [
        oi_row("binc", "BTCUSDT", day_start(STRESS_DAY) + timedelta(hours=23), 9e9),
    ])  # fmt: skip
    run_checks(store, settings, STRESS_DAY, clock=lambda: LATER)
    with store.session() as session:
        result = (
            session.execute(
                select(CheckResult)
                .where(col(CheckResult.day) == STRESS_DAY, col(CheckResult.status) != "ok")
                .order_by(col(CheckResult.id))
            )
            .scalars()
            .first()
        )
        assert result is not None and result.id is not None
        result_id = result.id
    acknowledge(store, result_id, by="Risk Officer", comment="seen", clock=lambda: LATER)


def run_cli(
    argv: list[str], settings: Settings, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    config = Path(settings.reports_dir).parent / "liqrisk.toml"
    with pytest.raises(SystemExit) as exc:
        main(["--config", str(config), *argv])
    out, _err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out


@pytest.fixture
def cli_env(rendered: tuple[Store, Settings, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    tmp = rendered[2]
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp / 'liqrisk.db'}")
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp / "reports"))


def inputs_path(settings: Settings) -> Path:
    return (
        Path(settings.reports_dir)
        / STRESS_DAY.isoformat()
        / (f"liqrisk-report-{STRESS_DAY.isoformat()}.inputs.json")
    )


def test_inputs_are_written_and_registered(rendered: tuple[Store, Settings, Path]) -> None:
    store, settings, _tmp = rendered
    data = inputs_path(settings).read_bytes()
    inputs = ReportInputs.from_json(data)
    assert inputs.generated_at == NOW and inputs.day == STRESS_DAY and inputs.period == "day"
    assert inputs.tree_size > 0 and inputs.run_id(STRESS_DAY) is not None
    assert inputs.max_ack_id == 0
    # The configuration and the limit set in force when it was rendered.
    assert inputs.config_hash == settings.config_hash()
    assert inputs.limit_set_sha256 == limit_set_hash(settings)
    assert inputs.to_json() == data  # canonical: the bytes round-trip
    with store.session() as session:
        rows = session.execute(select(Artifact).order_by(col(Artifact.id))).scalars().all()
    assert [r.kind for r in rows] == ["report.html", "report.pdf", "report.inputs"]
    assert rows[2].sha256 == sha256(data) and rows[2].size == len(data)
    assert len({r.created_at for r in rows}) == 1


def test_reproduces_after_the_store_grew(
    rendered: tuple[Store, Settings, Path], cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store, settings, _tmp = rendered
    registered_html = (
        Path(settings.reports_dir) / STRESS_DAY.isoformat() / "liqrisk-report-2025-11-03.html"
    ).read_bytes()
    grow(store, settings)
    # A fresh render would now show other figures, another run and the acknowledgement ...
    fresh = build_report(store, settings, STRESS_DAY, now=LATER + timedelta(hours=1))
    assert render_html(fresh, software_version=SOFTWARE_VERSION).encode() != registered_html
    assert fresh.provenance.checkpoint is not None
    assert fresh.overlay_venues  # the overlays fetched later show in a fresh render only
    assert fresh.provenance.runs[0].id != ReportInputs.from_json(
        inputs_path(settings).read_bytes()
    ).run_id(STRESS_DAY)
    # ... yet the recorded inputs give the registered bytes back.
    found = reproduce_report(store, settings, STRESS_DAY, period="day")
    assert found.inputs_ok and found.matches, found.as_json()
    assert [f.kind for f in found.files] == ["report.html", "report.pdf"]
    assert found.files[0].reproduced_sha256 == sha256(registered_html)

    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat()], settings, capsys)
    assert code == 0, out
    assert "report.html  match" in out and "report.pdf   match" in out
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat(), "--json"], settings, capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["matches"] is True and doc["inputs"]["matches"] is True
    assert [f["matches"] for f in doc["files"]] == [True, True]


def test_altered_inputs_are_refused(
    rendered: tuple[Store, Settings, Path], cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store, settings, _tmp = rendered
    path = inputs_path(settings)
    doc = json.loads(path.read_bytes())
    doc["tree_size"] -= 1
    path.write_bytes(json.dumps(doc).encode())
    found = reproduce_report(store, settings, STRESS_DAY, period="day")
    assert not found.inputs_ok and not found.matches and found.inputs is None
    assert all(f.reproduced_sha256 is None for f in found.files)
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat()], settings, capsys)
    assert code == 1
    assert "inputs  MISMATCH" in out and "not re-rendered" in out
    path.unlink()
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat(), "--json"], settings, capsys)
    assert code == 1 and json.loads(out)["inputs"]["file_sha256"] is None


def test_tampered_derived_row_is_a_mismatch(
    rendered: tuple[Store, Settings, Path], cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store, settings, _tmp = rendered
    _drop_append_only_triggers(store)
    with store.engine.begin() as connection:
        changed = connection.execute(
            text(
                "UPDATE interval_volume SET long_usd = long_usd + 1000000 "
                "WHERE asset = 'BTC' AND id = (SELECT MAX(id) FROM interval_volume "
                "WHERE asset = 'BTC')"
            )
        ).rowcount
    assert changed == 1
    found = reproduce_report(store, settings, STRESS_DAY, period="day")
    assert found.inputs_ok and not found.matches
    assert {f.kind: f.matches for f in found.files} == {"report.html": False, "report.pdf": False}
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat()], settings, capsys)
    assert code == 1 and "MISMATCH" in out and "NOT reproduced" in out


def test_a_changed_configuration_is_named_and_compared_as_it_was(
    rendered: tuple[Store, Settings, Path], cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    _store, settings, tmp = rendered
    # A change the report does not show (when an interval counts as closed): the report says
    # what it said when rendered ("the configuration now" is the one at render time), so the
    # bytes come back; the reproduction names the change.
    config = tmp / "liqrisk.toml"
    original = config.read_text("utf-8")
    assert "[fetch]\n" in original
    config.write_text(original.replace("[fetch]\n", "[fetch]\nsettle_seconds = 1800\n"), "utf-8")
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat()], settings, capsys)
    assert code == 0, out
    assert "rendered with configuration " + settings.config_hash() in out
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat(), "--json"], settings, capsys)
    doc = json.loads(out)
    assert doc["matches"] is True and doc["config_changed"] is True
    assert doc["inputs"]["rendered_with_config"] == settings.config_hash() != doc["config_hash"]
    # A change the report does show (the firm's name): not reproduced, and the note says why.
    config.write_text(original.replace("Example Derivatives Ltd", "Other Ltd"), "utf-8")
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat()], settings, capsys)
    assert code == 1 and "NOT reproduced" in out and "rendered with configuration" in out
    # Unchanged: no note.
    config.write_text(original, "utf-8")
    code, out = run_cli(["reproduce", "--date", STRESS_DAY.isoformat()], settings, capsys)
    assert code == 0 and "configuration" not in out


def test_inputs_written_before_the_configuration_was_recorded_are_read() -> None:
    v1 = json.dumps(
        {
            "format": "liqrisk.report-inputs.v1",
            "generated_at": "2025-11-04T07:00:00Z",
            "period": "day",
            "day": "2025-11-03",
            "tree_size": 12,
            "runs": [{"day": "2025-11-03", "run_id": 3}],
            "max_ack_id": 0,
            "software_version": "0.1.0",
        }
    ).encode()
    inputs = ReportInputs.from_json(v1)
    assert inputs.config_hash is None and inputs.limit_set_sha256 is None
    assert inputs.tree_size == 12 and inputs.run_id(STRESS_DAY) == 3
    with pytest.raises(RenderError, match="format"):
        ReportInputs.from_json(v1.replace(b"v1", b"v9"))


def test_nothing_to_reproduce(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings, history_days=0)
    with pytest.raises(RenderError, match="no report registered"):
        reproduce_report(store, settings, STRESS_DAY, period="day")
    with pytest.raises(RenderError, match="no report registered"):
        reproduce_report(store, settings, date(2025, 11, 2), period="week")
