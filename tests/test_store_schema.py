"""Schema through Alembic migrations, and the database's refusal to UPDATE or DELETE evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from audit_store import models
from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation, SchemaError, StoreError
from audit_store.models import AUDIT_TABLES, Artifact, Checkpoint
from audit_store.schema import VERSION_TABLE, alembic_config, head_revision
from tests.store_helpers import add_check_result, fill

pytest_plugins = ["tests.pg"]


def test_migrations_ship_inside_the_package() -> None:
    migrations = files("audit_store") / "migrations"
    assert (migrations / "env.py").is_file()
    assert (migrations / "versions" / "0001_initial.py").is_file()
    chain = [s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()]
    assert chain[-1] == "0001" and chain[0] == head_revision()  # one line of history


def test_migrated_schema_matches_the_models(any_store: Store) -> None:
    with any_store.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, SQLModel.metadata) == []  # every declared table
        tables = set(inspect(connection).get_table_names())
    assert set(AUDIT_TABLES) | {VERSION_TABLE} <= tables


def test_create_schema_is_idempotent_and_require_schema_passes(any_store: Store) -> None:
    fill(any_store, 2)
    any_store.create_schema()  # `liqrisk init` on an initialised store: nothing to do
    any_store.require_schema()


def test_require_schema_says_run_liqrisk_init(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    with pytest.raises(SchemaError, match="run `liqrisk init`"):
        store.require_schema()
    store.create_schema()
    store.require_schema()
    with store.engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
    with pytest.raises(SchemaError, match="does not know"):
        store.require_schema()
    store.dispose()


def test_tables_without_a_schema_version_are_refused(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    SQLModel.metadata.create_all(store.engine)  # how the pre-migration skeleton made stores
    with pytest.raises(SchemaError, match="predates migrations"):
        store.create_schema()
    store.dispose()


_UPDATES = {
    "snapshot": "UPDATE snapshot SET body_size = body_size + 1",
    "interval_volume": "UPDATE interval_volume SET long_usd = long_usd + 1",
    "check_run": "UPDATE check_run SET config_hash = 'x'",
    "check_result": "UPDATE check_result SET status = 'ok'",
    "artifact": "UPDATE artifact SET sha256 = 'x'",
    "checkpoint": "UPDATE checkpoint SET tree_size = tree_size + 1",
}


def _one_of_each(store: Store) -> None:
    snapshots = fill(store, 2)
    add_check_result(store, [snapshots[0].body_sha256])
    now = datetime(2025, 1, 2, tzinfo=UTC)
    with store.session() as session:
        session.add(
            Artifact(
                kind="report.html",
                period="2025-01-01",
                name="r.html",
                sha256="0" * 64,
                size=1,
                created_at=now,
            )
        )
        session.add(
            Checkpoint(
                origin="o",
                tree_size=0,
                root_hash="",
                note="",
                key_name="o",
                key_id="",
                verifier_key="",
                consistency_proof_json="[]",
                created_at=now,
            )
        )


def test_triggers_refuse_update_and_delete(any_store: Store) -> None:
    _one_of_each(any_store)
    for table in AUDIT_TABLES:
        for statement in (_UPDATES[table], f"DELETE FROM {table}"):
            with pytest.raises(AppendOnlyViolation, match=f"append-only.*{table}"):
                with any_store.session() as session:
                    session.execute(text(statement))
        with any_store.session() as session:
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0


def test_truncate_is_refused_on_postgresql(pg_url: str) -> None:
    store = Store(pg_url)
    store.create_schema()
    fill(store, 1)
    with pytest.raises(AppendOnlyViolation):
        with store.session() as session:
            session.execute(text("TRUNCATE snapshot CASCADE"))
    store.dispose()


def test_orm_updates_are_refused_too(any_store: Store) -> None:
    snapshot = fill(any_store, 1)[0]
    with pytest.raises(AppendOnlyViolation) as info:
        with any_store.session() as session:
            stored = session.get(models.Snapshot, snapshot.id)
            assert stored is not None
            stored.body = b"rewritten"
    message = str(info.value)
    assert "rewritten" not in message and "[SQL" not in message and "parameters" not in message


def test_database_errors_do_not_echo_parameters(any_store: Store) -> None:
    with pytest.raises(StoreError) as info:
        with any_store.session() as session:
            session.execute(
                text("INSERT INTO no_such_table VALUES (:secret)"), {"secret": "hunter2"}
            )
    assert "hunter2" not in str(info.value)


def test_every_table_of_the_store_is_append_only(any_store: Store) -> None:
    """A table added later without its triggers, or left with only one, fails here on both engines.

    Every table needs a trigger refusing UPDATE and one refusing DELETE.
    """
    with any_store.session() as session:
        if any_store.dialect == "sqlite":
            rows = session.execute(
                text("SELECT tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")
            ).all()
            guarded = {
                (table, action)
                for table, sql in rows
                if "RAISE(ABORT" in sql
                for action in ("UPDATE", "DELETE")
                if f"BEFORE {action} " in sql
            }
        else:
            rows = session.execute(
                text(
                    "SELECT event_object_table, event_manipulation "
                    "FROM information_schema.triggers "
                    "WHERE action_statement LIKE '%audit_store_append_only%' "
                    "AND action_timing = 'BEFORE'"
                )
            ).all()
            guarded = {(table, action) for table, action in rows}
    wanted = {
        (table, action) for table in SQLModel.metadata.tables for action in ("UPDATE", "DELETE")
    }
    assert wanted - guarded == set()
