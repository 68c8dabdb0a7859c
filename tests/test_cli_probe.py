"""What the second outside probe broke (#21): JSON shapes, unknown assets, limit typos, the
outbox summary, unreadable stores, exit codes and CLI conventions."""

from __future__ import annotations

import json

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
