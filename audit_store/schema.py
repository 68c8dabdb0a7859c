"""Schema versions through Alembic, run in code: ``liqrisk init`` creates or upgrades the store.

The migration scripts live inside this package (``audit_store/migrations``) so an installed wheel
carries them; no ``alembic.ini`` is needed. Alembic's version table is named ``audit_store_version``
so the evidence layer's schema history cannot be confused with any other.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine

from audit_store.errors import SchemaError
from audit_store.models import AUDIT_TABLES

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "audit_store_version"
_MIGRATION_LOCK = 0x6C69717269736C  # PostgreSQL advisory lock: one `liqrisk init` at a time


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The schema revision this software expects."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the audit store ships at least one migration"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or ``None`` when it was never initialised."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(engine: Engine, description: str) -> None:
    """Create the schema, or bring it to :func:`head_revision`, in one transaction."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        if current_revision(connection) is None:
            present = set(inspect(connection).get_table_names()) & set(AUDIT_TABLES)
            if present:
                raise SchemaError(
                    f"database {description} has audit tables ({', '.join(sorted(present))}) but "
                    "no schema version: it predates migrations; start a new database"
                )
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def require_current(connection: Connection, description: str) -> None:
    """Raise :class:`SchemaError` unless the database is exactly at this software's revision."""
    current = current_revision(connection)
    head = head_revision()
    if current == head:
        return
    if current is None:
        raise SchemaError(f"database {description} has no audit store schema; run `liqrisk init`")
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise SchemaError(
            f"database {description} is at schema revision {current}, which this software does "
            f"not know (it expects {head}); upgrade liqrisk"
        )
    raise SchemaError(
        f"database {description} is at schema revision {current}, this software needs {head}; "
        "run `liqrisk init` to upgrade it"
    )
