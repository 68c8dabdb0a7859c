"""The daily (and weekly) risk report: one model, one template set, an HTML file and a PDF/A-3b.

Pipeline, one module each:

* :mod:`~reporting.render.context` reads the store into a frozen :mod:`~reporting.render.model`;
* :mod:`~reporting.render.charts` draws the charts as deterministic matplotlib SVG;
* :mod:`~reporting.render.html` fills the Jinja2 templates (autoescaped) with model and charts;
* :mod:`~reporting.render.pdf` lays the same HTML out with WeasyPrint, data attached
  (:mod:`~reporting.render.attachments`);
* :mod:`~reporting.render.report` writes both files and registers their SHA-256 in the store,
  with the :mod:`~reporting.render.inputs` the store was read as of; ``reproduce_report`` renders
  them again and compares.

Callers use :func:`render_report`; the other functions are public for tests and tools.

One render at a time per process: drawing the charts swaps matplotlib's global rcParams (restored
afterwards), and writing the PDF pins ``SOURCE_DATE_EPOCH`` and quiets WeasyPrint's logger for its
duration. Separate processes are fine.
"""

from __future__ import annotations

from reporting.render.context import build_report
from reporting.render.html import render_html
from reporting.render.inputs import ReportInputs, capture_inputs
from reporting.render.model import ReportModel
from reporting.render.pdf import render_pdf
from reporting.render.report import (
    ReportFiles,
    Reproduction,
    render_report,
    report_stem,
    reproduce_report,
)

__all__ = [
    "ReportFiles",
    "ReportInputs",
    "ReportModel",
    "Reproduction",
    "build_report",
    "capture_inputs",
    "render_html",
    "render_pdf",
    "render_report",
    "report_stem",
    "reproduce_report",
]
