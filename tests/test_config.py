"""Config: precedence, environment overrides, and errors that name file, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from reporting.config import load_settings
from reporting.errors import ConfigError
from reporting.resources import default_config_file


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def packaged_text() -> str:
    return default_config_file().read_text(encoding="utf-8")


def test_packaged_default_loads() -> None:
    s = load_settings(env={})
    assert s.fetch.default_source == "demo"
    assert s.database_url == "sqlite:///liqrisk.db"
    assert s.exchange_name("binc") == "Binance" and s.exchange_name("zzzz") == "zzzz"


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    local = write(
        tmp_path / "liqrisk.toml", packaged_text().replace("Example Derivatives", "Local")
    )
    envfile = write(tmp_path / "env.toml", packaged_text().replace("Example Derivatives", "Env"))
    explicit = write(tmp_path / "x.toml", packaged_text().replace("Example Derivatives", "Flag"))
    assert load_settings(env={}).firm_name.startswith("Local")
    assert load_settings(env={"LIQRISK_CONFIG": str(envfile)}).firm_name.startswith("Env")
    assert load_settings(explicit, env={"LIQRISK_CONFIG": str(envfile)}).firm_name.startswith(
        "Flag"
    )
    assert local.exists()


def test_environment_overrides_the_file() -> None:
    s = load_settings(
        env={
            "LIQRISK_DATABASE_URL": "postgresql+psycopg://u@h/db",
            "LIQRISK_REPORTS_DIR": "/srv/reports",
            "LIQRISK_KAIKO_BASE_URL": "http://127.0.0.1:9",
            "KAIKO_API_KEY": "k",
            "LIQRISK_SMTP_HOST": "mail",
            "LIQRISK_SMTP_PORT": "2525",
            "LIQRISK_SMTP_USER": "u",
            "LIQRISK_SMTP_PASSWORD": "p",
        }
    )
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert str(s.reports_dir) == "/srv/reports"
    assert s.kaiko.effective_base_url == "http://127.0.0.1:9"
    assert s.kaiko.api_key is not None and s.kaiko.api_key.get_secret_value() == "k"
    assert (s.smtp.host, s.smtp.port, s.smtp.user) == ("mail", 2525, "u")


def test_region_picks_kaiko_host() -> None:
    assert load_settings(env={}).kaiko.effective_base_url == "https://eu.market-api.kaiko.io"


def test_secrets_are_not_in_the_config_hash() -> None:
    a = load_settings(env={"KAIKO_API_KEY": "one"}).config_hash()
    b = load_settings(env={"KAIKO_API_KEY": "two"}).config_hash()
    assert a == b


def test_error_names_file_key_and_value(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "bad.toml", packaged_text().replace("page_size = 1000", 'page_size = "lots"')
    )
    with pytest.raises(ConfigError) as err:
        load_settings(bad, env={})
    assert str(bad) in str(err.value) and "kaiko.page_size" in str(err.value)
    assert "'lots'" in str(err.value)


def test_warn_above_breach_is_refused(tmp_path: Path) -> None:
    limits = (default_config_file().parent / "limits.toml").read_text(encoding="utf-8")
    head, tail = limits.split("[daily_usd]", 1)
    tail = tail.replace("warn = ", "warn = 1e15 # ", 1)
    write(tmp_path / "limits.toml", head + "[daily_usd]" + tail)
    bad = write(tmp_path / "liqrisk.toml", packaged_text())
    with pytest.raises(ConfigError, match=r"limits\.toml: key daily_usd.*must not exceed breach"):
        load_settings(bad, env={})


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.toml", packaged_text() + "\n[fetch2]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown key fetch2"):
        load_settings(bad, env={})


def test_secret_value_never_in_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(env={"LIQRISK_SMTP_PORT": "not-a-port", "KAIKO_API_KEY": "hunter2"})
    assert "hunter2" not in str(err.value) and "LIQRISK_SMTP_PORT" in str(err.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    broken = write(tmp_path / "broken.toml", "a = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, env={})
