"""The officer console's accounts: who may read, acknowledge and administer, and every change.

Append-only like every table of the store (the triggers are in migration ``0012``): an account is
the sequence of its versions, each row one change (``created``, ``password``, ``disabled``,
``enabled``, ``rehash``) made by someone (``cli:<os user>`` at the command line, or a console
account), and the account's state is its latest row. So who created, disabled or re-keyed an
account, and when, is never lost.

Not evidence: these rows are never leaves of the log and never go into an audit package, and the
password hash (argon2id, in the PHC string form) never leaves this table: no page, log line,
export or message shows it.

* ``console_user``  one version of an account: its name, role (``viewer``, ``officer``,
                    ``admin``), password hash, disabled or not, the change, by whom, when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Text
from sqlmodel import Field, SQLModel

ROLES = ("viewer", "officer", "admin")


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_user"
    __table_args__ = (Index("ix_console_user_name", "name", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str
    role: str  # one of ROLES
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    disabled: bool = False
    change: str  # "created", "password", "disabled", "enabled", "rehash"
    by: str  # "cli:<os user>", or the console account that made the change
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
