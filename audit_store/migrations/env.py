"""Alembic environment: runs on the connection :mod:`audit_store.schema` hands over.

There is no ``alembic.ini``: ``liqrisk init`` calls :func:`audit_store.schema.upgrade`, which builds
the configuration in code, opens the transaction and passes its connection in
``config.attributes["connection"]``. Autogenerate compares only the tables declared on
``SQLModel.metadata`` by :mod:`audit_store.tables`, nothing else in the
database.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

from audit_store import tables  # noqa: F401  (declares every table)
from audit_store.schema import VERSION_TABLE

_OWN_TABLES = set(SQLModel.metadata.tables)


def _include_name(name: str | None, type_: str, _parent: Any) -> bool:
    return type_ != "table" or name in _OWN_TABLES


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the audit store migrations through audit_store.schema.upgrade")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        version_table=VERSION_TABLE,
        include_name=_include_name,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
