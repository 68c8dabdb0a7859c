"""``render_report``: store -> model -> HTML -> PDF -> files, each file's SHA-256 in the store.

The HTML is written first and the PDF is laid out from the same text, so the two always agree.
Files are written under a temporary name and renamed into place, so a reader never sees half a
report; only when both are in place are their hashes registered as ``artifact`` rows.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from audit_store.models import Artifact
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.render.attachments import report_attachments
from reporting.render.context import build_report
from reporting.render.html import render_html
from reporting.render.model import Period
from reporting.render.pdf import render_pdf


@dataclass(frozen=True)
class ReportFiles:
    html_path: Path
    pdf_path: Path
    html_sha256: str
    pdf_sha256: str


def report_stem(day: date, period: Period) -> str:
    kind = "report" if period == "day" else "weekly"
    return f"liqrisk-{kind}-{day.isoformat()}"


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise RenderError(f"cannot write {path}: {exc.strerror or exc}") from exc


def render_report(
    store: Store,
    settings: Settings,
    day: date,
    *,
    period: Period = "day",
    now: datetime | None = None,
) -> ReportFiles:
    """Render the report of ``day`` (or the week ending on it) to HTML and PDF and register both.

    Raises :class:`RenderError` when the day has no check run, or a template, the layout or a file
    write fails; store errors propagate as :class:`audit_store.errors.StoreError`.
    """
    generated = (now or datetime.now(UTC)).astimezone(UTC)
    model = build_report(store, settings, day, period=period, now=generated)
    html = render_html(model, software_version=SOFTWARE_VERSION)
    stem = report_stem(day, period)
    html_bytes = html.encode("utf-8")
    pdf_bytes = render_pdf(html, report_attachments(model, stem), created=generated)

    directory = Path(settings.reports_dir) / day.isoformat()
    html_path, pdf_path = directory / f"{stem}.html", directory / f"{stem}.pdf"
    _write_atomically(html_path, html_bytes)
    _write_atomically(pdf_path, pdf_bytes)
    files = ReportFiles(
        html_path=html_path,
        pdf_path=pdf_path,
        html_sha256=hashlib.sha256(html_bytes).hexdigest(),
        pdf_sha256=hashlib.sha256(pdf_bytes).hexdigest(),
    )
    with store.session() as session:
        for kind, path, sha, size in (
            ("report.html", html_path, files.html_sha256, len(html_bytes)),
            ("report.pdf", pdf_path, files.pdf_sha256, len(pdf_bytes)),
        ):
            session.add(
                Artifact(
                    kind=kind,
                    period=model.period_label,
                    name=f"{day.isoformat()}/{path.name}",
                    sha256=sha,
                    size=size,
                    created_at=generated,
                )
            )
    return files
