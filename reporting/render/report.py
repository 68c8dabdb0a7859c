"""``render_report``: store -> model -> HTML -> PDF -> files, each file's SHA-256 in the store.

The HTML is written first and the PDF is laid out from the same text, so the two always agree.
Files are written under a temporary name and renamed into place, so a reader never sees half a
report; only when both are in place are their hashes registered as ``artifact`` rows, together
with the render's inputs (``<stem>.inputs.json``, see :mod:`~reporting.render.inputs`), from which
:func:`reproduce_report` renders the same bytes again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.files import write_atomic
from audit_store.models import Artifact
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.render.attachments import report_attachments
from reporting.render.context import build_report
from reporting.render.html import render_html
from reporting.render.inputs import ReportInputs, capture_inputs
from reporting.render.model import Period, ReportModel, period_label
from reporting.render.pdf import render_pdf


@dataclass(frozen=True)
class ReportFiles:
    html_path: Path
    pdf_path: Path
    html_sha256: str
    pdf_sha256: str
    inputs_path: Path | None = None  # None only for files made by hand (tests, tools)
    inputs_sha256: str | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def report_stem(day: date, period: Period) -> str:
    kind = "report" if period == "day" else "weekly"
    return f"liqrisk-{kind}-{day.isoformat()}"


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise RenderError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _render_bytes(
    store: Store, settings: Settings, inputs: ReportInputs
) -> tuple[ReportModel, bytes, bytes]:
    """The one code path from inputs to bytes, shared by renders and reproductions."""
    model = build_report(store, settings, inputs.day, period=inputs.period, inputs=inputs)
    html = render_html(model, software_version=SOFTWARE_VERSION)
    stem = report_stem(inputs.day, inputs.period)
    pdf_bytes = render_pdf(html, report_attachments(model, stem), created=inputs.generated_at)
    return model, html.encode("utf-8"), pdf_bytes


def render_report(
    store: Store,
    settings: Settings,
    day: date,
    *,
    period: Period = "day",
    now: datetime | None = None,
) -> ReportFiles:
    """Render the report of ``day`` (or the week ending on it) to HTML and PDF and register both.

    The store is read as of :class:`ReportInputs` taken first; they are written beside the report
    as ``<stem>.inputs.json`` and registered with the HTML and the PDF, so ``liqrisk reproduce``
    can render the same bytes again after the store has grown.

    Raises :class:`RenderError` when the day has no check run, or a template, the layout or a file
    write fails; store errors propagate as :class:`audit_store.errors.StoreError`.
    """
    inputs = capture_inputs(store, settings, day, period=period, now=now)
    generated = inputs.generated_at
    model, html_bytes, pdf_bytes = _render_bytes(store, settings, inputs)
    inputs_bytes = inputs.to_json()
    inputs_sha256 = _sha256(inputs_bytes)
    stem = report_stem(day, period)

    directory = Path(settings.reports_dir) / day.isoformat()
    html_path, pdf_path = directory / f"{stem}.html", directory / f"{stem}.pdf"
    inputs_path = directory / f"{stem}.inputs.json"
    _write_atomically(inputs_path, inputs_bytes)
    _write_atomically(html_path, html_bytes)
    _write_atomically(pdf_path, pdf_bytes)
    files = ReportFiles(
        html_path=html_path,
        pdf_path=pdf_path,
        html_sha256=_sha256(html_bytes),
        pdf_sha256=_sha256(pdf_bytes),
        inputs_path=inputs_path,
        inputs_sha256=inputs_sha256,
    )
    with store.session() as session:
        for kind, path, sha, size in (
            ("report.html", html_path, files.html_sha256, len(html_bytes)),
            ("report.pdf", pdf_path, files.pdf_sha256, len(pdf_bytes)),
            ("report.inputs", inputs_path, inputs_sha256, len(inputs_bytes)),
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


# --- reproduction ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileCheck:
    kind: str  # "report.html", "report.pdf"
    name: str  # as registered: "2025-11-03/liqrisk-report-2025-11-03.html"
    registered_sha256: str
    reproduced_sha256: str | None  # None: not re-rendered (the inputs were refused)

    @property
    def matches(self) -> bool:
        return self.reproduced_sha256 == self.registered_sha256


@dataclass(frozen=True)
class Reproduction:
    """What ``liqrisk reproduce`` found: the inputs' check, then one :class:`FileCheck` per file."""

    period_label: str
    inputs_name: str
    inputs_registered_sha256: str
    inputs_file_sha256: str | None  # None: the file is missing
    inputs: ReportInputs | None  # None when refused
    files: tuple[FileCheck, ...]
    software_version: str  # the version reproducing; the inputs name the one that rendered
    config_hash: str = ""  # the configuration reproducing; the inputs name the one that rendered

    @property
    def config_changed(self) -> bool:
        """The configuration differs from the one the report was rendered with (which alone can
        change the bytes); ``False`` when the inputs predate recording it."""
        rendered = None if self.inputs is None else self.inputs.config_hash
        return rendered is not None and rendered != self.config_hash

    @property
    def inputs_ok(self) -> bool:
        return self.inputs_file_sha256 == self.inputs_registered_sha256

    @property
    def matches(self) -> bool:
        return self.inputs_ok and bool(self.files) and all(f.matches for f in self.files)

    def as_json(self) -> dict[str, object]:
        return {
            "period": self.period_label,
            "matches": self.matches,
            "inputs": {
                "name": self.inputs_name,
                "registered_sha256": self.inputs_registered_sha256,
                "file_sha256": self.inputs_file_sha256,
                "matches": self.inputs_ok,
                "rendered_by": None if self.inputs is None else self.inputs.software_version,
                "rendered_with_config": None if self.inputs is None else self.inputs.config_hash,
                "tree_size": None if self.inputs is None else self.inputs.tree_size,
            },
            "files": [
                {
                    "kind": f.kind,
                    "name": f.name,
                    "registered_sha256": f.registered_sha256,
                    "reproduced_sha256": f.reproduced_sha256,
                    "matches": f.matches,
                }
                for f in self.files
            ],
            "software_version": self.software_version,
            "config_hash": self.config_hash,
            "config_changed": self.config_changed,
        }


def _latest_artifacts(store: Store, label: str) -> dict[str, Artifact]:
    """The latest registered render of the period: the newest inputs row and the HTML and PDF
    rows registered with it (same period and creation time)."""
    with store.session() as session:
        rows = (
            session.execute(
                select(Artifact)
                .where(col(Artifact.period) == label)
                .order_by(col(Artifact.id).desc())
            )
            .scalars()
            .all()
        )
    inputs = next((r for r in rows if r.kind == "report.inputs"), None)
    if inputs is None:
        if rows:
            raise RenderError(
                f"the report for {label} was registered without its inputs (rendered before "
                "`liqrisk reproduce` existed); render it again to make it reproducible"
            )
        raise RenderError(f"no report registered for {label}; run `liqrisk report` first")
    found = {"report.inputs": inputs}
    for row in rows:
        if row.kind in ("report.html", "report.pdf") and row.kind not in found:
            assert row.id is not None and inputs.id is not None
            if row.id < inputs.id and as_utc(row.created_at) == as_utc(inputs.created_at):
                found[row.kind] = row
    newer = [r for r in rows if r.kind == "report.html" and (r.id or 0) > (inputs.id or 0)]
    if newer:
        raise RenderError(
            f"the latest report for {label} (artifact {newer[0].id}) has no registered inputs"
        )
    return found


def reproduce_report(
    store: Store, settings: Settings, day: date, *, period: Period = "day"
) -> Reproduction:
    """Render the latest registered report of ``day`` again from its recorded inputs and compare.

    The inputs file must still hash to its registered SHA-256, else nothing is rendered. The
    re-render goes to a temporary directory; nothing is registered. Raises :class:`RenderError`
    when no reproducible report is registered or the inputs cannot be read.
    """
    label = period_label(day, period)
    artifacts = _latest_artifacts(store, label)
    registered = artifacts["report.inputs"]
    path = Path(settings.reports_dir).joinpath(*registered.name.split("/"))
    try:
        data: bytes | None = path.read_bytes()
    except FileNotFoundError:
        data = None
    except OSError as exc:
        raise RenderError(f"cannot read {path}: {exc.strerror or exc}") from exc
    file_sha = None if data is None else _sha256(data)
    wanted = [artifacts[k] for k in ("report.html", "report.pdf") if k in artifacts]
    if data is None or file_sha != registered.sha256:
        return Reproduction(
            period_label=label,
            inputs_name=registered.name,
            inputs_registered_sha256=registered.sha256,
            inputs_file_sha256=file_sha,
            inputs=None,
            files=tuple(FileCheck(a.kind, a.name, a.sha256, None) for a in wanted),
            software_version=SOFTWARE_VERSION,
            config_hash=settings.config_hash(),
        )
    inputs = ReportInputs.from_json(data)
    if (inputs.day, inputs.period) != (day, period):
        raise RenderError(f"{registered.name} holds the inputs of {inputs.period} {inputs.day}")
    _model, html_bytes, pdf_bytes = _render_bytes(store, settings, inputs)
    reproduced = {"report.html": _sha256(html_bytes), "report.pdf": _sha256(pdf_bytes)}
    return Reproduction(
        period_label=label,
        inputs_name=registered.name,
        inputs_registered_sha256=registered.sha256,
        inputs_file_sha256=file_sha,
        inputs=inputs,
        files=tuple(FileCheck(a.kind, a.name, a.sha256, reproduced[a.kind]) for a in wanted),
        software_version=SOFTWARE_VERSION,
        config_hash=settings.config_hash(),
    )
