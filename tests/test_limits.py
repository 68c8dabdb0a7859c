"""The limit set: loading and validation (file, key, value), scope overrides, the canonical hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporting.checks.limits import Threshold, jurisdiction_code
from reporting.checks.store import limit_set_hash
from reporting.config import load_limits, load_settings
from reporting.errors import ConfigError
from reporting.resources import config_dir, default_config_file
from tests.limit_factories import make_limits


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def packaged_limits() -> str:
    return (config_dir() / "limits.toml").read_text(encoding="utf-8")


def config_with_limits(tmp_path: Path, limits_text: str) -> Path:
    """A copy of the packaged config with ``limits_text`` as the limits.toml beside it."""
    write(tmp_path / "limits.toml", limits_text)
    return write(tmp_path / "liqrisk.toml", default_config_file().read_text(encoding="utf-8"))


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    return str(err.value)


def test_packaged_limits_load_and_configure_every_check() -> None:
    s = load_settings(env={})
    assert s.limits.loaded_from == str(config_dir() / "limits.toml")
    assert set(s.limits.configured_checks()) >= {
        "gaps", "staleness", "daily_usd", "velocity_usd", "velocity_count",
        "velocity_2h_usd", "velocity_2h_count", "imbalance", "funding_swing", "oi_change",
        "daily_usd_exchange", "velocity_usd_exchange", "concentration",
    }  # fmt: skip
    # Unset by default: the OKX cross-check (dq_reconcile_okx) reconciles Kaiko's okex figures.
    assert s.limits.reconciliation is None
    seed = s.limits.velocity_usd_exchange
    assert seed is not None and set(seed.asset_exchange) == {"BTC/binc"}


def test_a_limits_file_beside_the_config_is_used(tmp_path: Path) -> None:
    path = config_with_limits(tmp_path, "[daily_usd]\nwarn = 1\nbreach = 2\n")
    s = load_settings(path, env={})
    assert s.limits.configured_checks() == ("daily_usd",)
    assert s.limits.loaded_from == str((tmp_path / "limits.toml").resolve())


def test_warn_above_breach_names_file_key_and_value(tmp_path: Path) -> None:
    text = packaged_limits().replace(
        "asset.XRP = { warn = 14_000_000, breach = 25_000_000 }",
        "asset.XRP = { warn = 30_000_000, breach = 25_000_000 }",
    )
    message = load_error(config_with_limits(tmp_path, text))
    assert str((tmp_path / "limits.toml").resolve()) in message
    assert "key daily_usd.asset.XRP" in message and "must not exceed breach" in message
    assert "3e+07" in message or "30000000" in message


@pytest.mark.parametrize(
    ("snippet", "words"),
    [
        ('[daily_usd]\nwarn = "lots"\nbreach = 2\n', ["key daily_usd.warn = 'lots'"]),
        ("[daily_usd]\nwarn = -1\nbreach = 2\n", ["key daily_usd.warn = -1"]),
        ("[daily_usd]\nwarn = 1\n", ["daily_usd", "both warn and breach"]),
        ("[velocity]\nwarn = 1\nbreach = 2\n", ["unknown key velocity", "the checks are"]),
        (
            "[daily_usd]\nexchange.binc = { warn = 1, breach = 2 }\n",
            ["unknown key daily_usd.exchange", "checked per asset"],
        ),
        ("[imbalance]\nwarn = 40\nbreach = 90\n", ["imbalance", "warn = 40: must be 50 to 100"]),
        ("[concentration]\nwarn = 60\nbreach = 120\n", ["breach = 120: must be 0 to 100"]),
        (
            "[daily_usd_exchange]\nasset_exchange.binc = { warn = 1, breach = 2 }\n",
            ["daily_usd_exchange.asset_exchange", "must be ASSET/exchange"],
        ),
        (
            "[daily_usd_exchange]\njurisdiction.Seychelles = { warn = 1, breach = 2 }\n",
            ["daily_usd_exchange.jurisdiction", "ISO 3166"],
        ),
        (
            '[velocity_usd_exchange]\nasset_exchange."BTC/binance" = { warn = 1, breach = 2 }\n',
            [
                'key velocity_usd_exchange.asset_exchange."BTC/binc"'.replace("binc", "binance"),
                "'binance'",
                "not an exchange code of exchanges.toml",
            ],
        ),
        (
            "[concentration]\njurisdiction.FR = { warn = 1, breach = 2 }\n",
            ["key concentration.jurisdiction.FR = 'FR'", "no exchange in exchanges.toml has it"],
        ),
    ],
)
def test_invalid_limits_are_refused_with_file_key_and_value(
    tmp_path: Path, snippet: str, words: list[str]
) -> None:
    message = load_error(config_with_limits(tmp_path, snippet))
    assert "limits.toml" in message
    for word in words:
        assert word in message, (word, message)


def test_an_asset_not_configured_is_refused(tmp_path: Path) -> None:
    """``asset.ADA`` where ADA is not fetched would never apply: refused like an unknown
    exchange code (it was a warning, and a typo slipped through it)."""
    path = config_with_limits(tmp_path, "[daily_usd]\nasset.ADA = { warn = 1, breach = 2 }\n")
    message = load_error(path)
    assert "key daily_usd.asset.ADA = 'ADA'" in message and "not a configured asset" in message


def test_a_typo_in_an_asset_override_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = config_with_limits(tmp_path, "[daily_usd]\nasset.BTX = { warn = 1, breach = 2 }\n")
    message = load_error(path)
    assert "limits.toml" in message and "key daily_usd.asset.BTX = 'BTX'" in message
    assert "did you mean BTC?" in message


@pytest.mark.parametrize("value", ["true", "false", '"5"'])
def test_a_limit_that_is_not_a_number_is_refused(tmp_path: Path, value: str) -> None:
    path = config_with_limits(tmp_path, f"[daily_usd]\nwarn = {value}\nbreach = 2\n")
    message = load_error(path)
    assert "key daily_usd.warn" in message and "valid number" in message


def test_missing_named_limits_file_is_refused(tmp_path: Path) -> None:
    text = default_config_file().read_text(encoding="utf-8")
    path = write(tmp_path / "liqrisk.toml", 'limits_file = "nope.toml"\n' + text)
    assert "key limits_file = 'nope.toml'" in load_error(path)


def test_inline_limits_and_the_first_layout_are_read(tmp_path: Path) -> None:
    text = default_config_file().read_text(encoding="utf-8") + (
        "\n[limits.daily_usd]\nwarn = 10\nbreach = 20\n"
        "[limits.daily_usd_exchange]\nwarn = 5\nbreach = 8\n"
        '[limits.daily_usd_exchange.overrides]\n"BTC/binc" = { warn = 6, breach = 9 }\n'
        "BTC = { warn = 7, breach = 11 }\n"
    )
    s = load_settings(write(tmp_path / "liqrisk.toml", text), env={})
    assert s.limits.loaded_from.endswith("liqrisk.toml [limits]")
    table = s.limits.daily_usd_exchange
    assert table is not None
    assert table.asset_exchange == {"BTC/binc": Threshold(warn=6, breach=9)}
    assert table.asset == {"BTC": Threshold(warn=7, breach=11)}
    both = write(tmp_path / "both.toml", 'limits_file = "limits.toml"\n' + text)
    assert "give one, not both" in load_error(both)


def test_scope_precedence() -> None:
    table = make_limits(
        concentration={
            "warn": 50, "breach": 60,
            "asset": {"BTC": {"warn": 40, "breach": 70}, "ETH": {"warn": 20, "breach": 30}},
            "exchange": {"binc": {"warn": 45, "breach": 65}},
            "jurisdiction": {"SC": {"warn": 35, "breach": 55}},
            "asset_exchange": {"BTC/okex": {"warn": 10, "breach": 90}},
        }
    ).concentration  # fmt: skip
    assert table is not None

    def source(asset: str, exchange: str, jurisdiction: str | None) -> str:
        found = table.resolve(asset, exchange, jurisdiction)
        assert found is not None
        return f"{found.source}: {found.threshold.warn:g}/{found.threshold.breach:g}"

    # the pair's own value beats everything, even when looser
    assert source("BTC", "okex", "SC") == "asset_exchange BTC/okex: 10/90"
    # asset and exchange both match: the stricter (lower breach) applies
    assert source("BTC", "binc", "SC").startswith("exchange binc (stricter than asset BTC): 45/65")
    assert source("ETH", "binc", "SC").startswith("asset ETH (at least as strict as exchange")
    # only one of them: that one, whatever the jurisdiction says
    assert source("BTC", "bbit", "SC") == "asset BTC: 40/70"
    assert source("SOL", "binc", "SC") == "exchange binc: 45/65"
    # then the jurisdiction, then the global value
    assert source("SOL", "hbdm", "SC") == "jurisdiction SC: 35/55"
    assert source("SOL", "bbit", "AE") == "global: 50/60"
    assert source("SOL", "zzzz", None) == "global: 50/60"


def test_a_scope_no_value_reaches_is_not_checked() -> None:
    table = make_limits(
        velocity_usd_exchange={"asset_exchange": {"BTC/binc": {"warn": 1, "breach": 2}}}
    ).velocity_usd_exchange
    assert table is not None
    assert table.resolve("BTC", "binc") is not None
    assert table.resolve("BTC", "okex") is None and table.resolve("ETH", "binc") is None
    assert table.named_scopes("BTC") == ("binc",) and table.named_scopes("ETH") == ()


def test_per_asset_checks_ignore_exchange_and_jurisdiction() -> None:
    table = make_limits(
        daily_usd={"warn": 1, "breach": 2, "asset": {"btc": {"warn": 3, "breach": 4}}}
    )
    assert table.daily_usd is not None
    found = table.daily_usd.resolve("BTC", "binc", "SC")
    assert found is not None and found.source == "asset BTC"  # keys are upper-cased


def test_hash_is_of_the_canonical_set_not_the_file(tmp_path: Path) -> None:
    plain = "[daily_usd]\nwarn = 1_000\nbreach = 2000\n"
    reordered = "# a comment\n[daily_usd]\nbreach = 2e3   # same value\nwarn = 1000\n"
    changed = "[daily_usd]\nwarn = 1000\nbreach = 2001\n"
    hashes = []
    for n, text in enumerate((plain, reordered, changed)):
        d = tmp_path / str(n)
        d.mkdir()
        hashes.append(limit_set_hash(load_settings(config_with_limits(d, text), env={})))
    assert hashes[0] == hashes[1] != hashes[2]
    assert all(len(h) == 64 for h in hashes)


def test_load_limits_alone(tmp_path: Path) -> None:
    limits = load_limits(write(tmp_path / "candidate.toml", "[gaps]\nwarn = 1\nbreach = 2\n"))
    assert limits.configured_checks() == ("gaps",) and limits.loaded_from.endswith("candidate.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_limits(write(tmp_path / "broken.toml", "[gaps"))


def test_jurisdiction_codes() -> None:
    assert jurisdiction_code("SC Seychelles") == "SC"
    assert jurisdiction_code("unknown") is None and jurisdiction_code(None) is None
