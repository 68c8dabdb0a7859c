"""Helpers for the notify tests: a real SMTP server on 127.0.0.1, stored check results, a clock.

:class:`SmtpServer` runs aiosmtpd in a thread and records every message it accepts. Its handler
follows a script, one entry per DATA command: a reply line (``"451 4.3.0 try later"``), ``DROP``
(cut the connection without answering, nothing accepted), ``VANISH`` (``DROP`` and stop listening:
the server goes away), or ``ACCEPT_THEN_DROP`` (keep the message, then cut the connection before
the reply, so the client never learns it was accepted).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select
from sqlmodel import col

from audit_store.db import Store
from audit_store.models import CheckResult, CheckRun
from audit_store.tables_outbox import OutboxMessage
from reporting.config import Route, Settings

DAY = date(2025, 11, 3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: records accepted messages, follows the DATA script."""

    received: list[Received] = field(default_factory=list)
    script: list[str] = field(default_factory=list)
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    on_vanish: Callable[[], None] | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        action = self.script.pop(0) if self.script else "ACCEPT"
        content = envelope.original_content or b""
        record = Received(str(envelope.mail_from), list(envelope.rcpt_tos), content)
        if action == "ACCEPT":
            self.received.append(record)
            return f"250 2.0.0 Ok: queued as {len(self.received)}"
        if action in ("DROP", "VANISH", "ACCEPT_THEN_DROP"):
            if action == "ACCEPT_THEN_DROP":
                self.received.append(record)
            if action == "VANISH" and self.on_vanish is not None:
                self.on_vanish()
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
            return "421 gone"
        return action


class SmtpServer:
    """aiosmtpd on 127.0.0.1 that can go away and come back on the same port."""

    def __init__(self, **smtp_kwargs: Any) -> None:
        self.port = free_port()
        self.handler = Recorder(on_vanish=self._stop_listening)
        self.smtp_kwargs = smtp_kwargs
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, **self.smtp_kwargs
        )
        self.controller.start()

    def _stop_listening(self) -> None:  # runs in the server's loop
        assert self.controller is not None and self.controller.server is not None
        self.controller.server.close()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop(no_assert=True)
            self.controller = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def message_ids(self) -> list[str]:
        return [str(r.message["Message-ID"]) for r in self.received]


def smtp_env(server: SmtpServer, security: str = "none") -> dict[str, str]:
    return {
        "LIQRISK_SMTP_HOST": "127.0.0.1",
        "LIQRISK_SMTP_PORT": str(server.port),
        "LIQRISK_SMTP_SECURITY": security,
    }


def with_notify(
    settings: Settings,
    *,
    routes: Iterable[Route] | None = None,
    operations: tuple[str, ...] | None = None,
    **notify: Any,
) -> Settings:
    email_update: dict[str, Any] = {}
    if routes is not None:
        email_update["routes"] = tuple(routes)
    if operations is not None:
        email_update["operations"] = operations
    return settings.model_copy(
        update={
            "email": settings.email.model_copy(update=email_update),
            "notify": settings.notify.model_copy(update=notify),
        }
    )


def store_results(
    store: Store, day: date, statuses: Mapping[tuple[str, str], str], *, observed: float = 150.0
) -> int:
    """A check run for ``day`` with one result per (check, scope); returns the run id."""
    with store.session() as session:
        run = CheckRun(
            day=day,
            started_at=datetime.combine(day, datetime.min.time(), tzinfo=UTC),
            limit_set_sha256="0" * 64,
            config_hash="test",
            software_version="test",
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        for (check, scope), status in statuses.items():
            session.add(
                CheckResult(
                    run_id=run.id,
                    day=day,
                    check=check,
                    scope=scope,
                    observed=observed,
                    warn_at=50.0,
                    limit=100.0,
                    pct_of_limit=observed,
                    status=status,
                    message=f"{check} for {scope}: {status}",
                    evidence_json="[]",
                )
            )
        return run.id


class FakeClock:
    """A clock that only moves when slept on; ``on_sleep`` runs at every sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2025, 11, 4, 6, 0, tzinfo=UTC)
        self.slept: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        if self.on_sleep is not None:
            self.on_sleep()


@dataclass(frozen=True)
class DummyReport:
    """Stands in for ``reporting.render.ReportFiles``: a small PDF file and its hash."""

    pdf_path: Path
    pdf_sha256: str


def dummy_report(directory: Path, day: date = DAY) -> DummyReport:
    import hashlib

    body = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + day.isoformat().encode()
    path = directory / f"liqrisk-report-{day.isoformat()}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return DummyReport(path, hashlib.sha256(body).hexdigest())


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context that trusts it) for 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


def password_authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check


class HookServer:
    """Records every POST; answers with the scripted statuses, then 200."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0K3N/liqrisk"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def outbox_messages(store: Store) -> list[OutboxMessage]:
    """Every message of the outbox, oldest first, detached from its session."""
    with store.read_session() as session:
        found = list(
            session.execute(select(OutboxMessage).order_by(col(OutboxMessage.id))).scalars()
        )
        session.expunge_all()
    return found
