"""The append-only guard every migration puts on the audit tables it creates.

On PostgreSQL a trigger function (created once, by the first revision) refuses UPDATE, DELETE and
TRUNCATE; on SQLite a trigger per table and action aborts the statement. The DDL lives here once so
every revision guards its tables the same way; a revision names only its tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic import op

PG_FUNCTION = """
CREATE FUNCTION audit_store_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$
"""


def create_append_only_function() -> None:
    """The PostgreSQL trigger function; the first revision creates it, the others reuse it."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)


def create_append_only_triggers(tables: Iterable[str]) -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_store_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_store_append_only()"
            )
    elif dialect == "sqlite":
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'append-only: {action} on {table} refused'); END"
                )
    else:
        raise NotImplementedError(f"append-only triggers for {dialect} are not written")
