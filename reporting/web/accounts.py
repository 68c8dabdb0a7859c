"""Console accounts: who may read (``viewer``), also acknowledge (``officer``), also administer
(``admin``). ``liqrisk users add|list|disable|enable|passwd`` manages them.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, RFC 9106's second recommended
parameters) and checked in constant time; a name that has no account is checked against a dummy
hash, so the answer takes as long whether the name exists or not. A password is at least
:data:`MIN_PASSWORD` characters and not the account's name. The hash stays in ``console_user``:
nothing here returns it, and :class:`Account` (what callers see) does not carry it. Every change
is a new version of the account (``console_user`` is append-only) naming who made it, and a leaf
of the log in the same transaction (:mod:`audit_store.activity`).
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.activity import Activity, record_activity
from audit_store.db import Store
from audit_store.tables_users import ROLES, ConsoleUser
from reporting.errors import ConfigError, NotFound

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("liqrisk: no such account, same work")
_ACTIONS = {
    "created": "account_created",
    "password": "account_password",
    "disabled": "account_disabled",
    "enabled": "account_enabled",
    "rehash": "account_rehash",
}
"""A ``console_user`` change -> the activity leaf that records it."""


@dataclass(frozen=True)
class Account:
    """An account as pages and commands see it: never with its password hash."""

    name: str
    role: str
    disabled: bool
    created_at: datetime
    password_changed_at: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
            "password_changed_at": self.password_changed_at.isoformat(),
        }


def cli_actor() -> str:
    """Who makes a change at the command line: the OS user, marked as such."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid
        return "cli:unknown"


def password_problem(name: str, password: str) -> str | None:
    """Why ``password`` is refused for ``name``, or None (never echoes the password)."""
    if len(password) < MIN_PASSWORD:
        return f"a password has at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"a password has at most {MAX_PASSWORD} characters"
    if password.strip().casefold() == name.casefold():
        return "the password must not be the account's name"
    return None


def add_user(store: Store, name: str, role: str, password: str, *, by: str) -> Account:
    if not NAME.match(name):
        raise ConfigError(
            f"account name {name!r}: letters, digits and . _ @ - (up to 64), starting with a "
            "letter or digit"
        )
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: choose from {', '.join(ROLES)}")
    problem = password_problem(name, password)
    if problem:
        raise ConfigError(f"password for {name}: {problem}")
    with store.session() as session:
        if _versions(session, name):
            raise ConfigError(f"account {name} exists; use `liqrisk users passwd` to change it")
        _append(session, name, role, _HASHER.hash(password), False, "created", by)
        return _account(_versions(session, name))


def set_password(store: Store, name: str, password: str, *, by: str) -> Account:
    problem = password_problem(name, password)
    if problem:
        raise ConfigError(f"password for {name}: {problem}")
    with store.session() as session:
        latest = _latest(session, name)
        _append(session, name, latest.role, _HASHER.hash(password), latest.disabled, "password", by)
        return _account(_versions(session, name))


def set_disabled(store: Store, name: str, disabled: bool, *, by: str) -> Account:
    with store.session() as session:
        latest = _latest(session, name)
        if latest.disabled != disabled:
            change = "disabled" if disabled else "enabled"
            _append(session, name, latest.role, latest.password_hash, disabled, change, by)
        return _account(_versions(session, name))


def list_users(store: Store) -> list[Account]:
    with store.read_session() as session:
        rows = session.scalars(select(ConsoleUser).order_by(col(ConsoleUser.id)))
        by_name: dict[str, list[ConsoleUser]] = {}
        for row in rows:
            by_name.setdefault(row.name, []).append(row)
        return [_account(versions) for _, versions in sorted(by_name.items())]


def find_account(store: Store, name: str) -> Account | None:
    """The account named ``name`` as it stands now, or None."""
    with store.read_session() as session:
        versions = _versions(session, name)
        return _account(versions) if versions else None


def authenticate(store: Store, name: str, password: str) -> Account | None:
    """The account when ``password`` is its password and it is enabled; None otherwise, after the
    same work (a missing account is checked against a dummy hash)."""
    with store.session() as session:
        versions = _versions(session, name) if NAME.match(name) else []
        latest = versions[-1] if versions else None
        stored = latest.password_hash if latest is not None else _DUMMY
        try:
            _HASHER.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if latest is None or latest.disabled:
            return None
        if _HASHER.check_needs_rehash(stored):  # the parameters were raised since: re-hash now
            _append(session, name, latest.role, _HASHER.hash(password), False, "rehash", name)
            versions = _versions(session, name)
        return _account(versions)


def _versions(session: Session, name: str) -> list[ConsoleUser]:
    query = select(ConsoleUser).where(col(ConsoleUser.name) == name).order_by(col(ConsoleUser.id))
    return list(session.scalars(query))


def _latest(session: Session, name: str) -> ConsoleUser:
    versions = _versions(session, name)
    if not versions:
        raise NotFound(f"no account named {name!r} (see `liqrisk users list`)")
    return versions[-1]


def _append(
    session: Session, name: str, role: str, password_hash: str, disabled: bool, change: str, by: str
) -> None:
    at = datetime.now(UTC)
    session.add(
        ConsoleUser(
            name=name,
            role=role,
            password_hash=password_hash,
            disabled=disabled,
            change=change,
            by=by,
            at=at,
        )
    )
    session.flush()
    via = "cli" if by.startswith("cli:") else "console"
    details = {"role": role, "disabled": disabled}  # never the hash
    record_activity(
        session, Activity(_ACTIONS[change], by, via, at, None, f"account {name}", details)
    )


def _account(versions: list[ConsoleUser]) -> Account:
    latest = versions[-1]
    changed = [v.at for v in versions if v.change in ("created", "password")]
    return Account(latest.name, latest.role, latest.disabled, versions[0].at, changed[-1])
