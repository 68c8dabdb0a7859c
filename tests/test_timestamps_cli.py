"""RFC 3161 end to end: `liqrisk daily` stamps its checkpoint at a real TSA on 127.0.0.1, the export
carries the token, the package's verify.py checks imprint, nonce and time with the standard
library and prints the `openssl ts -verify` command, which OpenSSL accepts; a TSA that is down
never stops the daily job, `liqrisk status` shows what waits, and `liqrisk verify` names a forged
token."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store import standalone_verify as sv
from audit_store.db import Store
from audit_store.tables_timestamps import STAMPED, TimestampRequest
from reporting.cli import main
from reporting.config import load_settings
from tests.export_helpers import add_later_snapshot, run_verify
from tests.tsa_server import TsaServer, make_pki, needs_openssl, running_tsa

pytestmark = needs_openssl


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


@dataclass
class Env:
    root: Path
    tsa: TsaServer


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("anchored")
    pki = make_pki(root / "pki")
    patch = pytest.MonkeyPatch()
    with running_tsa(pki) as tsa:
        patch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{root / 'store.db'}")
        patch.setenv("LIQRISK_REPORTS_DIR", str(root / "reports"))
        patch.setenv("LIQRISK_SIGNING_KEY_FILE", str(root / "keys" / "signing.key"))
        patch.setenv("LIQRISK_TSA_URL", tsa.url)
        patch.setenv("LIQRISK_TSA_CA_FILE", str(pki.ca))
        patch.delenv("LIQRISK_CONFIG", raising=False)
        patch.delenv("LIQRISK_SIGNING_KEY", raising=False)
        patch.chdir(root)
        yield Env(root, tsa)
    patch.undo()


def _daily_day(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(["daily", "--json"], capsys)
    assert code == 0
    document = json.loads(out)
    return str(document["date"])


def test_the_daily_job_stamps_its_checkpoint(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["daily", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["time_stamp"]["status"] == "stamped"
    code, out, _ = run(["status"], capsys)
    assert f"time stamps: every checkpoint covered by a token of {env.tsa.url}" in out
    code, out, _ = run(["verify"], capsys)
    assert code == 0, out


def test_the_export_carries_the_token_and_openssl_accepts_it(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    day = _daily_day(capsys)
    end = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    package = tmp_path / "package.zip"
    code, out, _ = run(["export", "--start", day, "--end", end, "--out", str(package)], capsys)
    assert code == 0, out
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    listing = json.loads((folder / sv.TIMESTAMPS_FILE).read_text(encoding="utf-8"))
    assert listing["tokens"] and listing["tsa_ca_file"] == f"{sv.TIMESTAMPS_DIR}tsa_ca.pem"
    done = run_verify(folder)
    assert done.returncode == 0, done.stdout
    assert "RFC 3161 time stamps:" in done.stdout
    commands = [
        line.strip() for line in done.stdout.splitlines() if line.strip().startswith("openssl ts")
    ]
    assert len(commands) == len(listing["tokens"])
    for command in commands:
        checked = subprocess.run(
            command.split(), cwd=folder, capture_output=True, text=True, check=False
        )
        assert checked.returncode == 0 and "Verification: OK" in checked.stdout, checked.stderr

    # The stdlib checks: another nonce, a checkpoint signed after the TSA's time.
    for field, value, expected in (
        ("nonce", "12345", "its nonce is"),
        ("signed_at", "2099-01-01T00:00:00.000000Z", "is before the checkpoint was signed"),
        ("next_signed_at", "2000-01-01T00:00:00.000000Z", "is after the next checkpoint"),
    ):
        altered = Path(shutil.copytree(folder, tmp_path / f"altered-{field}"))
        path = altered / sv.TIMESTAMPS_FILE
        document = json.loads(path.read_text(encoding="utf-8"))
        document["tokens"][0][field] = value
        path.write_text(json.dumps(document), encoding="utf-8")
        report = sv.verify_package(altered)
        assert any(expected in f and "time-stamp token" in f for f in report.failures), (
            field,
            report.failures,
        )


def test_a_tsa_that_is_down_never_stops_the_daily_job(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.tsa.mode = "down"
    try:
        code, out, _ = run(["daily", "--refetch"], capsys)
        assert code == 0 and "answered HTTP 503" in out, out  # its checkpoint waits
        store = Store(load_settings().database_url)  # the log grows: a checkpoint to stamp
        add_later_snapshot(store, date(2025, 12, 20), 77.0)
        store.dispose()
        code, out, _ = run(["checkpoint"], capsys)
        assert code == 0 and "time stamp:" in out and "answered HTTP 503" in out
        code, out, _ = run(["status", "--json"], capsys)
        stamps = json.loads(out)["time_stamps"]
        # the daily run's checkpoint (the refetched pages) and this one
        assert stamps["waiting"] == 2 and "answered HTTP 503" in stamps["last_error"]
        code, out, _ = run(["anchor"], capsys)
        assert code == 1 and "answered HTTP 503" in out
    finally:
        env.tsa.mode = "ok"
    code, out, _ = run(["anchor", "--json"], capsys)
    assert code == 0 and json.loads(out)["status"] in ("stamped", "current")
    code, out, _ = run(["status", "--json"], capsys)
    assert json.loads(out)["time_stamps"]["waiting"] == 0


def test_verify_names_a_forged_token(
    env: Env, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = make_pki(tmp_path / "other", name="Forger")
    settings = load_settings()
    store = Store(settings.database_url)
    with running_tsa(other) as forger, store.session() as session:
        query_genuine = select(TimestampRequest).where(col(TimestampRequest.outcome) == STAMPED)
        genuine = session.scalars(query_genuine).first()
        assert genuine is not None
        from rfc3161_client._rust import parse_timestamp_request

        query = genuine.request
        forged = forger.reply(query)  # a real token, for the same request, from another CA
        assert parse_timestamp_request(query).nonce is not None
        row = TimestampRequest(
            checkpoint_id=genuine.checkpoint_id,
            tree_size=genuine.tree_size,
            tsa_url=genuine.tsa_url,
            requested_at=datetime.now(UTC),
            message_sha256=genuine.message_sha256,
            nonce=genuine.nonce,
            outcome=STAMPED,
            request=query,
            response=forged,
            gen_time=datetime.now(UTC),
        )
        session.add(row)
        session.flush()
        forged_id = row.id
    store.dispose()
    code, out, _ = run(["verify"], capsys)
    assert code == 1
    assert f"token {forged_id} on checkpoint" in out
    assert (
        "does not verify against [anchor] tsa_ca_file: Verify error: unable to get local issuer"
        in out
    )
