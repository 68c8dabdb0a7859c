"""The quick start as a newcomer runs it: `liqrisk daily` in an empty directory, no network.

Runs the real command in a subprocess, so packaging-level mistakes (resources not found from
another working directory, a missing default) fail here and not in front of a user.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader


def test_daily_on_the_demo_from_an_empty_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIQRISK_", "KAIKO_"))}
    env["HOME"] = str(tmp_path)  # the signing key is made under ~/.config/liqrisk

    def liqrisk(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "reporting", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = liqrisk("daily")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    html = tmp_path / "reports" / "2025-11-03" / "liqrisk-report-2025-11-03.html"
    pdf = html.with_suffix(".pdf")
    assert f"report: reports/2025-11-03/{pdf.name}" in done.stdout
    assert "BREACH daily_usd: BTC" in done.stdout
    reader = PdfReader(pdf)
    assert len(reader.pages) > 1
    first = reader.pages[0].extract_text()
    assert "Daily liquidation risk report" in first and "BREACH" in first
    assert (tmp_path / "liqrisk.db").is_file()
    key = tmp_path / ".config" / "liqrisk" / "signing.key"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0
    assert sorted(p.suffix for p in (tmp_path / "reports" / "outbox").iterdir()) == [".eml", ".eml"]
    verify = liqrisk("verify")
    assert verify.returncode == 0 and "verify: OK" in verify.stdout
