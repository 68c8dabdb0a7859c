"""Opening the store: one engine per URL, schema creation, sessions, error translation.

Database errors become :mod:`audit_store.errors` exceptions here. Their messages carry the driver's
one-line reason, never the SQL parameters (which hold bodies and could hold anything); a refusal by
the append-only triggers (message ``append-only: ...``) becomes :class:`AppendOnlyViolation`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, create_engine

from audit_store import (
    schema,
    tables,  # noqa: F401  (registers every table on SQLModel.metadata)
)
from audit_store.errors import AppendOnlyViolation, LiqriskError, StoreError

APPEND_ONLY_MARKER = "append-only:"
_READ_ONLY_OPTION = "audit_store_read_only"


def _describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _make_parent(database: Path, description: str) -> None:
    """Create a SQLite file's missing directory, only beneath the working directory: a typo'd
    absolute path must not leave directories anywhere on the machine (even at ``/``)."""
    parent = database.absolute().parent
    if parent.is_dir():
        return
    if parent.exists():
        raise StoreError(f"cannot open database {description}: {parent} is not a directory")
    cwd = Path.cwd().absolute()
    if parent != cwd and cwd not in parent.parents:
        raise StoreError(
            f"cannot open database {description}: the directory {parent} does not exist "
            "(liqrisk creates a store's directory only beneath the working directory; create "
            "it first)"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot open database {description}: cannot create {parent}: {exc.strerror}"
        ) from exc


class Store:
    """A handle on one audit store database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.description = _describe(url)
        try:
            parsed = make_url(url)
            kwargs: dict[str, Any] = {}
            if parsed.get_backend_name() == "sqlite":
                kwargs["connect_args"] = {"timeout": 30}
                database = parsed.database
                if database and database != ":memory:":
                    _make_parent(Path(database).expanduser(), self.description)
            self.engine: Engine = create_engine(url, **kwargs)
        except (ArgumentError, NoSuchModuleError) as exc:
            raise StoreError(f"cannot open database {self.description}: {exc}") from exc
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # Take the write lock at BEGIN so leaf indexes are assigned by one writer at a time.
            event.listen(self.engine, "begin", _sqlite_begin_immediate)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Create the schema or upgrade it to this software's revision (Alembic migrations)."""
        try:
            schema.upgrade(self.engine, self.description)
        except SQLAlchemyError as exc:
            context = f"cannot create the schema in {self.description}"
            raise translate_db_error(exc, context) from exc

    def require_schema(self) -> None:
        """Raise :class:`SchemaError` (saying "run `liqrisk init`") unless the schema is current."""
        try:
            with self.engine.connect() as connection:
                schema.require_current(connection, self.description)
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, f"cannot read database {self.description}") from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise translate_db_error(exc, f"database error in {self.description}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only session on one consistent view of the store that does not block writers.

        PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite: a deferred ``BEGIN`` (the
        WAL gives it a stable snapshot) instead of the writers' ``BEGIN IMMEDIATE``.
        """
        options: dict[str, Any] = {_READ_ONLY_OPTION: True}
        if self.dialect == "postgresql":
            options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        session = Session(self.engine.execution_options(**options), expire_on_commit=False)
        try:
            yield session
        except SQLAlchemyError as exc:
            raise translate_db_error(exc, f"database error in {self.description}") from exc
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _driver_reason(exc: SQLAlchemyError) -> str:
    """The driver's own one-line reason, without SQLAlchemy's statement and parameters."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    lines = str(cause).strip().splitlines()
    first = lines[0] if lines else type(cause).__name__
    return first if isinstance(exc, DBAPIError) else first.split(" [SQL:")[0]


def translate_db_error(exc: SQLAlchemyError, context: str) -> LiqriskError:
    """The :mod:`audit_store.errors` exception for a database error (raise it ``from exc``)."""
    reason = _driver_reason(exc)
    if APPEND_ONLY_MARKER in reason:
        return AppendOnlyViolation(f"{context}: the audit tables are append-only ({reason})")
    return StoreError(f"{context}: {reason}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    if connection.get_execution_options().get(_READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
