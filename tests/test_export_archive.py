"""``liqrisk verify-export``: unsafe zips refused before anything is written; the CLI end to end.

Each hostile archive is built by hand with :mod:`zipfile`; the test checks the refusal names the
member and that nothing appeared outside (or inside) the folder the archive sits in.
"""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from audit_store.errors import IntegrityError, UnsafeArchiveError
from audit_store.export_verify import ArchiveLimits, verify_export
from reporting.cli import main
from reporting.web.evidence_views import activity
from tests.export_helpers import DAY, NEXT_DAY, build_store


def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def _link(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


HOSTILE: dict[str, tuple[list[tuple[zipfile.ZipInfo | str, bytes]], str]] = {
    "dot-dot": ([("manifest.json", b"{}"), ("../escaped.txt", b"x")], "climbs out"),
    "nested dot-dot": ([("a/../../escaped.txt", b"x")], "climbs out"),
    "absolute": ([("/liqrisk-test-escaped.txt", b"x")], "absolute path"),
    "backslash": ([("..\\escaped.txt", b"x")], "not a plain relative path"),
    "drive letter": ([("C:/escaped.txt", b"x")], "not a plain relative path"),
    "symlink": ([_link("data/key/verifier_key.txt", "/etc/passwd")], "symbolic link"),
    "duplicate": ([("a.txt", b"1"), ("A.txt", b"2")], "appears twice"),
    "zip bomb": ([("data/snapshots/bomb.bin", bytes(4 << 20))], "zip bomb"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archives_are_refused_before_extracting(tmp_path: Path, case: str) -> None:
    members, expected = HOSTILE[case]
    archive = _zip(tmp_path / "hostile.zip", members)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UnsafeArchiveError, match=expected):
        verify_export(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not Path("/liqrisk-test-escaped.txt").exists()


def test_limits_on_size_and_count(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "big.zip", [(f"f{i}.txt", b"x" * 100) for i in range(5)])
    with pytest.raises(UnsafeArchiveError, match="more than the 4 allowed"):
        verify_export(archive, limits=ArchiveLimits(max_members=4))
    with pytest.raises(UnsafeArchiveError, match=r"f0\.txt.*100 bytes, more than the 99 allowed"):
        verify_export(archive, limits=ArchiveLimits(max_member_bytes=99))
    with pytest.raises(UnsafeArchiveError, match="unpacks to more than the 250 bytes"):
        verify_export(archive, limits=ArchiveLimits(max_total_bytes=250))


def test_not_a_zip_is_an_integrity_error(tmp_path: Path) -> None:
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(IntegrityError, match="not a zip archive"):
        verify_export(fake)


# -- the CLI, end to end


Run = Callable[[list[str]], tuple[int, str, str]]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def runner(argv: list[str]) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        out, err = capsys.readouterr()
        code = exc.value.code
        return (code if isinstance(code, int) else 0), out, err

    return runner


def test_cli_export_then_verify_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    built = build_store(tmp_path)
    monkeypatch.delenv("LIQRISK_SIGNING_KEY", raising=False)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", built.settings.database_url)
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(built.reports))
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(built.key_file))
    out = tmp_path / "out" / "package.zip"
    argv = ["export", "--start", str(DAY), "--end", str(NEXT_DAY), "--out", str(out)]
    code, stdout, err = run(argv)
    assert code == 0, err
    assert f"audit package: {out}" in stdout and "4 raw snapshots" in stdout
    fingerprint = stdout.split("signing key fingerprint (SHA-256): ")[1].splitlines()[0]
    first_sha256 = stdout.split("  sha256 ")[1].splitlines()[0]
    first_tree = int(stdout.split("checkpoint: ")[1].split(" leaves")[0])

    code, stdout, err = run(["verify-export", str(out), "--expect-key", fingerprint])
    assert code == 0, stdout + err
    assert "RESULT: OK" in stdout and f"liqrisk audit package: {out}" in stdout

    code, stdout, _ = run(["verify-export", str(out), "--json"])
    document = json.loads(stdout)
    assert code == 0 and document["ok"] and document["facts"]["leaves"] == 4

    code, stdout, _ = run(["verify-export", str(out), "--expect-key", "ab" * 32])
    assert code == 1 and "not the expected" in stdout

    # The same range again: the first export is itself a leaf now (who made it), outside the
    # range, so the package holds the same 4 snapshots under a checkpoint one leaf larger.
    code, stdout, _ = run([*argv, "--json"])
    again = json.loads(stdout)
    assert code == 0 and again["leaves"] == 4 and again["tree_size"] == first_tree + 1
    assert again["sha256"] != first_sha256
    made = [a for a in activity(built.store) if a["action"] == "export"]
    assert [a["subject"] for a in made] == [f"export {again['export_id']}", "export 1"]
    assert made[0]["actor"].startswith("cli:") and made[0]["via"] == "cli"
    assert made[0]["details"]["package_sha256"] == again["sha256"]
    built.store.dispose()


def test_cli_refusals_are_one_line(tmp_path: Path, run: Run) -> None:
    archive = _zip(tmp_path / "hostile.zip", [("../escaped.txt", b"x")])
    code, _, err = run(["verify-export", str(archive)])
    assert code == 1 and err.startswith("liqrisk: error: ") and err.count("\n") == 1
    code, _, err = run(["verify-export", str(tmp_path / "missing.zip")])
    assert code == 2 and "no such file" in err
    code, _, err = run(["export", "--start", "3/11/2025", "--end", "2025-11-04", "--out", "x.zip"])
    assert code == 2 and "--start '3/11/2025' is not a date" in err
