"""Mail transports: SMTP with the standard library, or ``.eml`` files when no host is configured.

Both take one stored :class:`~audit_store.tables_outbox.OutboxMessage` and say what came of it as
an :class:`~reporting.notify.records.Outcome`; neither raises for a delivery problem.

SMTP replies decide: ``2xx`` delivered; ``4xx`` (and a lost or refused connection, a failed TLS
handshake or login) retry later; ``5xx`` to the message itself (sender, every recipient, or the
data) fails it for good. Some recipients refused while others were accepted: the message is
delivered to those accepted, and the refusals are recorded with it (sending again would repeat it
to the others). The password is handed to ``smtplib`` and nowhere else.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
from pathlib import Path
from typing import Protocol

from audit_store.files import write_atomic
from audit_store.tables_outbox import OutboxMessage
from reporting.config import Smtp
from reporting.errors import NotifyError
from reporting.notify.records import Outcome, Result, one_line


class MailTransport(Protocol):
    """Delivers stored email messages; one connection per drain pass, closed by :meth:`close`."""

    name: str  # recorded in the attempt rows: "smtp" | "file"

    def send(self, message: OutboxMessage) -> Outcome: ...

    def close(self) -> None: ...


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def _reply(text: bytes | str) -> str:
    return one_line(text.decode("utf-8", "replace") if isinstance(text, bytes) else text, 300)


def _by_code(code: int) -> Result:
    return "failed" if 500 <= code < 600 else "retry"


class SmtpTransport:
    """SMTP over STARTTLS, implicit TLS or (for a local relay) plain, with an optional login."""

    name = "smtp"

    def __init__(self, smtp: Smtp, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if not smtp.host:
            raise NotifyError("no SMTP host is configured (set $LIQRISK_SMTP_HOST)")
        self.smtp = smtp
        self.host = smtp.host
        self.ssl_context = ssl_context
        self._conn: smtplib.SMTP | None = None
        self._down: Outcome | None = None  # the connection failed: the rest of this pass waits

    def _context(self) -> ssl.SSLContext:
        return self.ssl_context or ssl.create_default_context()

    def _open(self) -> smtplib.SMTP:
        s = self.smtp
        assert s.host is not None
        conn: smtplib.SMTP
        if s.security == "tls":
            conn = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_seconds, context=self._context()
            )
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            conn.ehlo()
            if s.security == "starttls":
                conn.starttls(context=self._context())
                conn.ehlo()
            if s.user:
                secret = s.password.get_secret_value() if s.password else ""
                conn.login(s.user, secret)
        except BaseException:
            _quietly_close(conn)
            raise
        return conn

    def _connection(self) -> smtplib.SMTP | Outcome:
        if self._conn is not None:
            return self._conn
        where = f"{self.host}:{self.smtp.port}"
        if self.smtp.user and self.smtp.security == "none" and self.host not in LOOPBACK:
            self._down = Outcome(
                "retry",
                f"not logging in to {where} without TLS (the password would travel in clear); "
                "set $LIQRISK_SMTP_SECURITY to starttls or tls",
            )
            return self._down
        try:
            self._conn = self._open()
            return self._conn
        except smtplib.SMTPAuthenticationError as exc:
            down = Outcome(
                "retry", f"{where} refused the login: {_reply(exc.smtp_error)}", exc.smtp_code
            )
        except smtplib.SMTPResponseException as exc:
            down = Outcome(
                "retry", f"{where} refused the connection: {_reply(exc.smtp_error)}", exc.smtp_code
            )
        except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            down = Outcome(
                "retry", f"cannot connect to {where}: {type(exc).__name__}: {one_line(str(exc))}"
            )
        self._down = down
        return down

    def send(self, message: OutboxMessage) -> Outcome:
        if self._down is not None:
            return self._down
        conn = self._connection()
        if isinstance(conn, Outcome):
            return conn
        recipients: list[str] = json.loads(message.recipients_json)
        try:
            return self._transaction(conn, message.sender, recipients, message.body)
        except smtplib.SMTPResponseException as exc:  # DATA refused before the content
            self._reset(conn)
            code = exc.smtp_code
            if code == 421:
                self._drop()
            return Outcome(_by_code(code), f"DATA refused: {_reply(exc.smtp_error)}", code)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Outcome("retry", f"connection lost: {type(exc).__name__}: {one_line(str(exc))}")

    def _transaction(
        self, conn: smtplib.SMTP, sender: str, recipients: list[str], body: bytes
    ) -> Outcome:
        code, text = conn.mail(sender)
        if code != 250:
            return self._refused(conn, code, f"sender refused: {_reply(text)}")
        refused: dict[str, tuple[int, str]] = {}
        for address in recipients:
            code, text = conn.rcpt(address)
            if code not in (250, 251):
                refused[address] = (code, _reply(text))
                if code == 421:
                    break
        if len(refused) == len(recipients) or any(c == 421 for c, _ in refused.values()):
            codes = [c for c, _ in refused.values()]
            transient = any(not 500 <= c < 600 for c in codes)
            worst = min(codes)
            listed = "; ".join(f"{a}: {c} {t}" for a, (c, t) in refused.items())
            outcome = Outcome(
                "retry" if transient else "failed",
                f"recipients refused: {listed}",
                worst,
                refused,
            )
            self._reset(conn)
            if 421 in codes:
                self._drop()
            return outcome
        code, text = conn.data(body)
        if code != 250:
            return self._refused(conn, code, f"message refused: {_reply(text)}", refused)
        detail = f"accepted by {self.host}: {_reply(text)}"
        if refused:
            detail += f"; {len(refused)} recipient(s) refused"
        return Outcome("delivered", detail, code, refused)

    def _refused(
        self,
        conn: smtplib.SMTP,
        code: int,
        detail: str,
        refused: dict[str, tuple[int, str]] | None = None,
    ) -> Outcome:
        self._reset(conn)
        if code == 421:
            self._drop()
        return Outcome(_by_code(code), detail, code, refused or {})

    def _reset(self, conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            _quietly_close(self._conn)
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
        self._drop()
        self._down = None


def _quietly_close(conn: smtplib.SMTP) -> None:
    try:
        conn.close()
    except OSError:
        pass


def eml_filename(idempotency_key: str) -> str:
    """``report:2025-11-03:compliance`` -> ``2025-11-03_report_compliance.eml``."""
    kind, _, rest = idempotency_key.partition(":")
    day, _, group = rest.partition(":")
    stem = "_".join(p for p in (day, kind, group) if p)
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".") + ".eml"


class EmlDirectory:
    """Writes each message to ``<directory>/<day>_<kind>_<group>.eml``, for the demo and tests."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: OutboxMessage) -> Outcome:
        path = self.directory / eml_filename(message.idempotency_key)
        try:
            write_atomic(path, message.body)  # 0600, as every file liqrisk writes
        except OSError as exc:
            return Outcome("retry", f"cannot write {path}: {exc.strerror or exc}")
        return Outcome("delivered", f"written to {path}")

    def close(self) -> None:
        return None
