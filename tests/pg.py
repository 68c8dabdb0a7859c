"""PostgreSQL for tests: a throwaway database per test on the local server.

The server is ``$LIQRISK_TEST_PG_SERVER`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432``,
trust auth). Without it, tests that need it are skipped, unless ``$CI`` is set: then they fail,
so CI cannot go green by silently skipping PostgreSQL.

Fixtures (register with ``pytest_plugins = ["tests.pg"]`` or import them in ``conftest.py``):

* ``pg_url``    URL of a fresh, empty database ``liqrisk_test_<random>``, dropped afterwards.
* ``any_store`` a migrated :class:`Store`, once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from audit_store.db import Store

PG_SERVER = os.environ.get(
    "LIQRISK_TEST_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432"
).rstrip("/")
MAINTENANCE_DB = "test"


def _admin_url() -> str:
    return f"{PG_SERVER}/{MAINTENANCE_DB}"


@cache
def pg_available() -> bool:
    engine = create_engine(_admin_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def require_pg() -> None:
    """Skip the calling test without a server, or fail it when ``$CI`` is set."""
    if pg_available():
        return
    message = f"PostgreSQL is not reachable at {PG_SERVER}/{MAINTENANCE_DB}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (required because $CI is set)")
    pytest.skip(message)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create ``liqrisk_test_<random>``; yield its URL; drop it (terminating its connections)."""
    name = f"liqrisk_test_{secrets.token_hex(6)}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield f"{PG_SERVER}/{name}"
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    require_pg()
    with throwaway_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store with the current schema, on each engine in turn."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
        store.create_schema()
        yield store
        store.dispose()
        return
    require_pg()
    with throwaway_database() as url:
        store = Store(url)
        store.create_schema()
        yield store
        store.dispose()
