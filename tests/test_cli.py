"""The CLI: help everywhere, domain errors as one line with a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from reporting.cli import app, main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


def all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(group: object, prefix: list[str]) -> None:
        for name, cmd in group.commands.items():  # type: ignore[attr-defined]
            paths.append([*prefix, name])
            if hasattr(cmd, "commands"):
                walk(cmd, [*prefix, name])

    walk(root, [])
    return paths


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    paths = all_command_paths()
    assert {"init", "fetch", "check", "report", "daily", "verify"} <= {p[0] for p in paths}
    for path in paths:
        code, out, _err = run([*path, "--help"], capsys)
        assert code == 0 and "Usage:" in out, path


def test_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("firm_name = 3\n[limits]\n", encoding="utf-8")
    code, _out, err = run(["--config", str(bad), "check", "--date", "2025-11-03"], capsys)
    assert code == 2
    assert err.startswith("liqrisk: error: ") and err.count("\n") == 1
    assert str(bad) in err and "Traceback" not in err


def test_missing_store_says_run_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    code, _out, err = run(["check", "--date", "2025-11-03"], capsys)
    assert code == 3 and "liqrisk init" in err and err.count("\n") == 1


def test_bad_date_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["check", "--date", "03/11/2025"], capsys)
    assert code == 2 and "YYYY-MM-DD" in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["check", "--nope"], capsys)
    assert code == 2 and "No such option" in err


def test_retention_reports_and_prunes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from audit_store.db import Store

    url = f"sqlite:///{tmp_path / 'r.db'}"
    Store(url).create_schema()
    monkeypatch.setenv("LIQRISK_DATABASE_URL", url)
    code, out, _err = run(["retention", "--json"], capsys)
    found = json.loads(out)
    assert code == 0 and found["retention_days"] == 1826 and found["pruned"] == 0
