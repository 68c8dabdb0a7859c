"""One documented file mode for everything written (#21): reports were 0600 and .eml files 0644.
Everything is 0600 (audit_store.files.FILE_MODE) whatever the umask; only a published checkpoint
directory is 0644, as it is written to be published."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit_store.files import FILE_MODE, PUBLIC_MODE, write_atomic
from tests.test_cli import run


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_sets_the_mode_whatever_the_umask(tmp_path: Path, loose_umask: None) -> None:
    target = tmp_path / "a" / "b.txt"
    write_atomic(target, b"x")
    assert target.read_bytes() == b"x" and _mode(target) == FILE_MODE == 0o600
    write_atomic(target, b"y", mode=PUBLIC_MODE)
    assert target.read_bytes() == b"y" and _mode(target) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["b.txt"]  # no temporary left


@pytest.mark.slow
def test_reports_emails_packages_are_0600_and_the_published_checkpoint_0644(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    loose_umask: None,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 'liqrisk.db'}")
    monkeypatch.setenv("LIQRISK_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(tmp_path / "keys" / "signing.key"))
    code, _out, _err = run(["daily"], capsys)
    assert code == 0
    written = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.suffix == ".eml" for p in written) and any(p.suffix == ".pdf" for p in written)
    assert {p.name: _mode(p) for p in written} == {p.name: 0o600 for p in written}
    code, _out, _err = run(["export", "--start", "2025-11-03", "--end", "2025-11-04", "--out",
                            str(tmp_path / "pkg.zip")], capsys)  # fmt: skip
    assert code == 0 and _mode(tmp_path / "pkg.zip") == 0o600
    code, _out, _err = run(["checkpoint", "--publish", str(tmp_path / "pub")], capsys)
    assert code == 0
    published = [p for p in (tmp_path / "pub").iterdir() if p.is_file()]
    assert published and all(_mode(p) == 0o644 for p in published)
