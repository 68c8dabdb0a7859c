"""What the second outside probe broke (#21): JSON shapes, unknown assets, limit typos, the
outbox summary, unreadable stores, exit codes and CLI conventions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import run
from tests.test_cli_ranges import store_url as store_url  # the fixture

__all__ = ["store_url"]


def test_verify_json_is_an_object(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["verify", "--json"], capsys)
    document = json.loads(out)
    assert isinstance(document, dict), out[:80]
    assert document["ok"] is True and document["discrepancies"] == [] and code == 0
    assert document["summary"]["leaves"] == 0


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run(argv, capsys)
    assert code == 2, (argv, out, err)
    assert err.startswith("liqrisk: error: ") and err.count("\n") == 1, err
    assert out == ""
    return err


@pytest.mark.parametrize(
    "argv",
    [
        ["fetch", "--source", "demo", "--asset", "FOO"],
        ["fetch", "--source", "demo", "--asset", "btc", "--asset", "foo"],
        [
            "backfill",
            "--source",
            "demo",
            "--asset",
            "FOO",
            "--start",
            "2025-11-01",
            "--end",
            "2025-11-02",
        ],
    ],
)
def test_an_asset_not_configured_is_refused_before_any_request(
    argv: list[str], store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli_ranges import _snapshots

    err = _one_line_exit_2(argv, capsys)
    assert "is not a configured asset" in err and "fetch.assets: btc, eth" in err
    assert _snapshots(store_url) == 0


def test_an_end_far_in_the_future_is_refused(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.test_cli_ranges import _snapshots

    argv = ["fetch", "--source", "demo", "--asset", "btc", "--start", "2025-11-01"]
    err = _one_line_exit_2([*argv, "--end", "9999-12-31"], capsys)
    assert "--end 9999-12-31 is in the future" in err
    assert _snapshots(store_url) == 0


def test_a_long_fetch_needs_the_flag(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from reporting.cli.common import parse_range
    from tests.test_cli_ranges import _snapshots

    argv = ["fetch", "--source", "demo", "--start", "2025-01-01", "--end", "2025-11-01"]
    err = _one_line_exit_2(argv, capsys)
    assert "spans 304 days, more than 92" in err and "--long-range" in err
    assert "liqrisk backfill" in err
    assert _snapshots(store_url) == 0
    begin, finish = parse_range("2025-01-01", "2025-11-01", max_days=None)
    assert begin is not None and finish is not None and (finish - begin).days == 304


def test_every_command_takes_help_and_refuses_a_bad_option_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from reporting.cli import EXIT_USAGE
    from tests.test_cli import all_command_paths

    paths = all_command_paths()
    assert len(paths) >= 25
    for path in paths:
        for flag in ("--help", "-h"):
            code, out, err = run([*path, flag], capsys)
            assert code == 0 and out.startswith("Usage: liqrisk ") and err == "", (path, flag)
            assert "<bool>" not in out, path
            options = [ln.split("  ", 2)[1] for ln in out.splitlines() if ln.startswith("  -")]
            assert all("<" not in o for o in options), (path, options)
        code, out, err = run([*path, "--no-such-option"], capsys)
        if code == 0 and "Usage:" in out:  # a group: the option goes to its subcommands
            continue
        assert code == EXIT_USAGE, (path, code, err)
        assert err.count("\n") == 1 and err.startswith("liqrisk: error: "), (path, err)
        assert "--no-such-option" in err and "--help" in err and "Traceback" not in err


def test_version_and_the_exit_code_table(capsys: pytest.CaptureFixture[str]) -> None:
    from audit_store import SOFTWARE_VERSION
    from reporting.cli import EXIT_CODES

    code, out, _err = run(["--version"], capsys)
    assert code == 0 and out == f"liqrisk {SOFTWARE_VERSION}\n"
    code, out, _err = run(["--help"], capsys)
    text = " ".join(out.split())
    assert code == 0 and "Exit codes: 0 ok; 1 a finding" in text and "3 a store or" in text
    assert sorted(EXIT_CODES) == [0, 1, 2, 3]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for code_number, meaning in EXIT_CODES.items():
        assert f"| {code_number} | {meaning} |" in readme


def test_rich_markup_does_not_swallow_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(["limits", "calibrate", "--help"], capsys)
    assert code == 0 and "[clusters] in limits.toml" in " ".join(out.split())


def test_an_unreadable_store_is_exit_3_not_a_difference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 300)
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{bad}")
    code, out, err = run(["verify"], capsys)
    assert code == 3 and out == "" and err.count("\n") == 1
    assert "cannot read database" in err and "not a database" in err


@pytest.mark.parametrize("where", ["file", "outside"])
def test_a_store_path_that_cannot_be_made_is_one_line_exit_3(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    target = tmp_path / "afile" / "x.db" if where == "file" else tmp_path / "elsewhere" / "x.db"
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{target}")
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(work / "signing.key"))
    code, out, err = run(["init"], capsys)
    assert code == 3 and out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    assert ("is not a directory" if where == "file" else "does not exist") in err
    assert not (tmp_path / "elsewhere").exists()
    monkeypatch.setenv("LIQRISK_DATABASE_URL", "sqlite:///sub/dir/x.db")  # beneath the cwd
    code, out, err = run(["init"], capsys)
    assert code == 0 and (work / "sub" / "dir" / "x.db").exists(), err


def test_the_root_help_groups_commands_by_stage(capsys: pytest.CaptureFixture[str]) -> None:
    from reporting.cli import STAGES
    from tests.test_cli import all_command_paths

    code, out, _err = run(["--help"], capsys)
    heads = [ln[:-1] for ln in out.splitlines() if ln.endswith(":") and not ln.startswith(" ")]
    assert code == 0 and heads == ["Options", *(title for title, _names in STAGES)]
    top = {p[0] for p in all_command_paths()}
    assert top == {n for _title, names in STAGES for n in names}, "a command is in no stage"
