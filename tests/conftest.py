"""Shared fixtures: settings and stores in temporary directories, never the working directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from audit_store.db import Store
from reporting.config import Settings, load_settings

pytest_plugins = ["tests.pg"]

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings from the packaged config with the store and reports under ``tmp_path``."""

    def factory(**env: str) -> Settings:
        base = {
            "LIQRISK_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
            "LIQRISK_REPORTS_DIR": str(tmp_path / "reports"),
            "LIQRISK_SIGNING_KEY_FILE": str(tmp_path / "keys" / "signing.key"),
        }
        return load_settings(env={**base, **env})

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.database_url)
    s.create_schema()
    yield s
    s.dispose()
