"""A small store with one of everything an audit package carries, and ways to unpack and check one.

``build_store`` fills a store the way liqrisk does (Kaiko-format snapshots through the real parse
path, a real check run) and adds, directly through ``audit_store``, what other parts of liqrisk
would write: report artifacts, an email in the outbox, a quarantined page. (The check run
records its limit set itself.)
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from audit_store.checkpoint import init_signing_key
from audit_store.db import Store
from audit_store.export import export_package
from audit_store.models import Artifact
from audit_store.snapshots import RawResponse, append_snapshot, new_snapshot
from audit_store.tables_outbox import OutboxAttempt, OutboxMessage
from reporting.checks.store import run_checks
from reporting.config import Settings, load_settings
from tests.factories import Exchanges, store_hours

DAY = date(2025, 11, 3)
NEXT_DAY = date(2025, 11, 4)
REPORT_NAME = f"{DAY}/report-{DAY}.html"
REPORT_BYTES = b"<html><body>risk report 2025-11-03</body></html>\n"
EMAIL = b"From: liqrisk@example.com\r\nTo: risk@example.com\r\nSubject: report\r\n\r\nattached\r\n"


def hours(day: date, base: float) -> dict[datetime, Exchanges]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return {
        start + timedelta(hours=h): {
            "binc": (1 + h % 3, base + 10.5 * h, 2, 2000.25),
            "okex": (h % 2, 0.5 * h, 1, base / 3),
        }
        for h in range(24)
    }


@dataclass
class Built:
    store: Store
    settings: Settings
    key_file: Path
    reports: Path


def make_settings(root: Path) -> Settings:
    return load_settings(
        env={
            "LIQRISK_DATABASE_URL": f"sqlite:///{root / 'store.db'}",
            "LIQRISK_REPORTS_DIR": str(root / "reports"),
            "LIQRISK_SIGNING_KEY_FILE": str(root / "keys" / "signing.key"),
        }
    )


def build_store(root: Path, store: Store | None = None) -> Built:
    """The store of the export tests; ``store`` to use another database than SQLite in ``root``."""
    settings = make_settings(root)
    if store is None:
        store = Store(settings.database_url)
        store.create_schema()
    key_file = root / "keys" / "signing.key"
    init_signing_key(key_file, settings.audit.origin)
    # In range by their rows (fetched the next day), by fetch time (rows two days later), neither.
    in_range_fetch = datetime(2025, 11, 4, 0, 5, tzinfo=UTC)
    store_hours(store, "BTC", hours(DAY, 1000.0), fetched_at=in_range_fetch)
    store_hours(store, "ETH", hours(DAY, 500.0), fetched_at=in_range_fetch)
    store_hours(
        store,
        "SOL",
        hours(date(2025, 11, 5), 70.0),
        fetched_at=datetime(2025, 11, 3, 12, tzinfo=UTC),
    )
    store_hours(
        store, "BTC", hours(date(2025, 11, 6), 9.0), fetched_at=datetime(2025, 11, 7, tzinfo=UTC)
    )
    with store.session() as session:
        page = RawResponse(
            source="demo",
            kind="kaiko.liquidation.v1",
            url="https://demo.invalid/v2/data/liquidation.v1/token/xrp",
            params={"interval": "1h"},
            fetched_at=datetime(2025, 11, 3, 13, tzinfo=UTC),
            http_status=503,
            body=b"Service Unavailable",
        )
        quarantined = new_snapshot(page, software_version="test", config_hash="test")
        append_snapshot(session, quarantined, quarantine_reason="HTTP 503")
    run_checks(store, settings, DAY, clock=lambda: datetime(2025, 11, 4, 1, tzinfo=UTC))
    reports = root / "reports"
    (reports / str(DAY)).mkdir(parents=True)
    (reports / REPORT_NAME).write_bytes(REPORT_BYTES)
    created = datetime(2025, 11, 4, 1, 5, tzinfo=UTC)
    with store.session() as session:
        session.add(
            Artifact(
                kind="report.html",
                period=str(DAY),
                name=REPORT_NAME,
                sha256=hashlib.sha256(REPORT_BYTES).hexdigest(),
                size=len(REPORT_BYTES),
                created_at=created,
            )
        )
        session.add(
            Artifact(
                kind="report.pdf",
                period=str(DAY),
                name=f"{DAY}/report-{DAY}.pdf",
                sha256="ab" * 32,
                size=1234,
                created_at=created,
            )
        )
        message = OutboxMessage(
            idempotency_key=f"report:{DAY}:compliance",
            kind="report",
            channel="email",
            target="",
            day=DAY,
            created_at=created,
            sender="liqrisk@example.com",
            recipients_json='["risk@example.com"]',
            subject=f"Liquidation risk report {DAY}",
            message_id="<report-2025-11-03@liqrisk.example>",
            content_type="message/rfc822",
            body=EMAIL,
            body_sha256=hashlib.sha256(EMAIL).hexdigest(),
            attachments_json="[]",
        )
        session.add(message)
        session.flush()
        assert message.id is not None
        session.add(
            OutboxAttempt(
                outbox_message_id=message.id,
                attempt=1,
                result="delivered",
                at=created,
                transport="file",
                response_code=None,
                detail="written to the outbox folder",
                refused_json="{}",
            )
        )
    return Built(store, settings, key_file, reports)


def add_later_snapshot(store: Store, day: date, base: float) -> None:
    """A snapshot outside the test range: it only grows the log."""
    store_hours(store, "ETH", hours(day, base), fetched_at=datetime(2025, 12, 1, tzinfo=UTC))


def export_range(
    built: Built, out: Path, *, store: Store | None = None, reports: bool = True
) -> Path:
    """The package of the test day, signed with the test key (from ``store``, default built's)."""
    export_package(
        store or built.store,
        start=DAY,
        end=NEXT_DAY,
        out=out,
        origin=built.settings.audit.origin,
        key_path=built.key_file,
        reports_dir=built.reports if reports else None,
        environ={},
    )
    return out


def unpack(package: Path, folder: Path) -> Path:
    with zipfile.ZipFile(package) as archive:
        archive.extractall(folder)
    return folder


def run_verify(
    folder: Path, *extra: str, flags: tuple[str, ...] = ("-I",)
) -> subprocess.CompletedProcess[str]:
    """Run the package's own verify.py in its folder, as a regulator does."""
    return subprocess.run(
        [sys.executable, *flags, "verify.py", *extra],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
