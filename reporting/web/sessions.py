"""Console sessions: a signed cookie, idle and absolute expiry, a CSRF token per session.

The cookie holds the account's name, the session's CSRF token and two times (issued, last seen),
signed with HMAC-SHA256 (``itsdangerous``) under the session key; nothing else, and never a
password or hash. Each request re-reads the account (a disabled account or changed role takes
effect at once) and re-issues the cookie with the new last-seen time. A session ends after
``idle`` without a request or ``absolute`` after login, whichever first. The key is
``$LIQRISK_SESSION_KEY`` or the file ``[web] session_key_file`` (outside the repository), made on
first ``serve`` with mode 0600; it never reaches a page, a log line or a message.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from reporting.errors import ConfigError

SESSION_COOKIE = "liqrisk_session"
LOGIN_COOKIE = "liqrisk_login"  # the login form's CSRF token, before there is a session
SESSION_KEY_ENV = "LIQRISK_SESSION_KEY"
_SALT = "liqrisk-console-session"
_LOGIN_SALT = "liqrisk-console-login"


def session_key(path: Path, environ: Mapping[str, str] | None = None) -> bytes:
    """The session key: ``$LIQRISK_SESSION_KEY``, or the file at ``path`` (made 0600 if absent)."""
    env = os.environ if environ is None else environ
    if env.get(SESSION_KEY_ENV):
        value = env[SESSION_KEY_ENV].encode()
        if len(value) < 32:
            raise ConfigError(f"${SESSION_KEY_ENV} is shorter than 32 characters")
        return value
    target = path.expanduser()
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        value = target.read_text(encoding="ascii").strip().encode()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the session key file {target} cannot be read") from exc
    if len(value) < 32:
        raise ConfigError(f"the session key file {target} holds fewer than 32 characters")
    return value


@dataclass(frozen=True)
class Session:
    user: str
    csrf: str
    issued: float
    seen: float


class Sessions:
    """Signs and checks session and login cookies under one key, with the given lifetimes."""

    def __init__(self, key: bytes, *, idle: float, absolute: float) -> None:
        self._session = URLSafeTimedSerializer(key, salt=_SALT)
        self._login = URLSafeTimedSerializer(key, salt=_LOGIN_SALT)
        self.idle, self.absolute = idle, absolute

    def issue(self, user: str, now: float) -> tuple[Session, str]:
        session = Session(user, secrets.token_urlsafe(32), now, now)
        return session, self.dump(session)

    def dump(self, session: Session) -> str:
        return self._session.dumps(
            {"u": session.user, "c": session.csrf, "i": session.issued, "s": session.seen}
        )

    def load(self, cookie: str | None, now: float) -> Session | None:
        """The session in ``cookie`` if its signature holds and it has not expired."""
        if not cookie:
            return None
        try:
            data: Any = self._session.loads(cookie)
            session = Session(str(data["u"]), str(data["c"]), float(data["i"]), float(data["s"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        if now - session.seen > self.idle or now - session.issued > self.absolute:
            return None
        return session

    def login_token(self) -> tuple[str, str]:
        """A fresh login-form token and the cookie that carries it."""
        token = secrets.token_urlsafe(32)
        return token, self._login.dumps(token)

    def login_token_ok(self, cookie: str | None, token: str) -> bool:
        if not cookie or not token:
            return False
        try:
            expected = self._login.loads(cookie, max_age=3600)
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, token)


def csrf_ok(session: Session, token: str) -> bool:
    return bool(token) and hmac.compare_digest(session.csrf, token)
