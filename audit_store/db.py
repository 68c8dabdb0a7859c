"""Opening the store: one engine per URL, schema creation, sessions, error translation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from audit_store import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from audit_store.errors import SchemaError, StoreError


def _describe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


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
                    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
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
        """Create every table that does not exist yet."""
        try:
            SQLModel.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot create the schema in {self.description}: {exc}") from exc

    def require_schema(self) -> None:
        try:
            existing = set(inspect(self.engine).get_table_names())
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read database {self.description}: {exc}") from exc
        missing = set(SQLModel.metadata.tables) - existing
        if missing:
            raise SchemaError(
                f"database {self.description} lacks tables {', '.join(sorted(missing))}; "
                "run `liqrisk init`"
            )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        session = Session(self.engine, expire_on_commit=False)
        try:
            yield session
            session.commit()
        except SQLAlchemyError as exc:
            session.rollback()
            raise StoreError(f"database error in {self.description}: {exc}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
