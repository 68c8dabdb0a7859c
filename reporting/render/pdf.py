"""The report as PDF/A-3b: WeasyPrint over the very HTML the HTML report is, plus its data attached.

Why PDF/A-3b: an archival profile (fonts embedded, colour space declared, XMP metadata) that also
allows embedded files, so the table and the check results travel inside the PDF as data a
regulator can load, not only as printed figures.

One step between the two: each inline chart ``<svg>`` goes to WeasyPrint as an ``<img>`` of the
very same SVG (see :func:`_svgs_as_images`), which draws identically at a fraction of the cost.

WeasyPrint never reaches the network or the file system at large: its URL fetcher here serves
``data:`` URLs and files under the templates directory, and refuses anything else. A refusal stops
the rendering (WeasyPrint's ``FatalURLFetchingError``) and becomes a :class:`RenderError` naming the
URL: the report must look the same wherever it is produced, so a template that points outside is a
bug to fix, not a resource to skip silently. Every WeasyPrint error is translated here.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from html import escape, unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import weasyprint
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from reporting.errors import RenderError
from reporting.resources import templates_dir

PDF_VARIANT = "pdf/a-3b"
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
# A standalone inline SVG (one that declares its own namespace, as matplotlib's charts do).
_INLINE_SVG = re.compile(r'<svg\b[^>]*\sxmlns="http://www\.w3\.org/2000/svg"[^>]*>.*?</svg>', re.S)
_SVG_TITLE = re.compile(r"<title>(.*?)</title>", re.S)


class RefusedResource(ValueError):
    """The report asked for a resource outside the templates directory."""


@dataclass(frozen=True)
class AttachmentFile:
    """A file to embed in the PDF (a PDF/A-3 associated file)."""

    name: str
    data: bytes
    description: str
    relationship: str = "Data"  # PDF 2.0 AFRelationship: the data the document shows


class TemplatesOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """Serves ``data:`` URLs and files under ``root``; refuses everything else, and says what."""

    def __init__(self, root: Path) -> None:
        super().__init__(
            allowed_protocols=("data", "file"), allow_redirects=False, fail_on_errors=True
        )
        self.root = root.resolve()
        self.refused: list[str] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        scheme = url.partition(":")[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            parts = urlsplit(url)
            if parts.netloc in ("", "localhost"):
                path = Path(url2pathname(parts.path)).resolve()
                if path.is_relative_to(self.root) and path.is_file():
                    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": kind})
        self.refused.append(url)
        raise RefusedResource(f"{url} is outside the report templates directory {self.root}")


def render_pdf(
    html: str,
    attachments: Sequence[AttachmentFile] = (),
    *,
    created: datetime,
    base_dir: Path | None = None,
) -> bytes:
    """Lay out ``html`` on A4 pages and return the PDF/A-3b bytes with ``attachments`` embedded."""
    root = (base_dir or templates_dir()).resolve()
    fetcher = TemplatesOnlyFetcher(root)
    try:
        document = weasyprint.HTML(
            string=_svgs_as_images(html), base_url=root.as_uri() + "/", url_fetcher=fetcher
        )
        files = [
            weasyprint.Attachment(
                string=a.data,
                name=a.name,
                description=a.description,
                created=created,
                modified=created,
                relationship=a.relationship,
                url_fetcher=fetcher,
            )
            for a in attachments
        ]
        with _quiet_weasyprint(), _font_timestamps(created):
            pdf = document.write_pdf(
                pdf_variant=PDF_VARIANT, attachments=files, finisher=_dedupe_associated_files
            )
    except FatalURLFetchingError as exc:
        refused = ", ".join(fetcher.refused) or str(exc)
        raise RenderError(
            f"the report refers to a resource that may not be fetched: {refused}; only data: URLs "
            f"and files under {root} are allowed"
        ) from exc
    except RenderError:
        raise
    except Exception as exc:  # WeasyPrint raises a variety of library errors
        raise RenderError(
            f"WeasyPrint could not write the PDF: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(pdf, bytes):
        raise RenderError("WeasyPrint returned no PDF bytes")
    return pdf


def _svgs_as_images(html: str) -> str:
    """Each inline chart ``<svg>`` as an ``<img>`` of the very same SVG (a ``data:`` URL).

    WeasyPrint draws both the same way (its SVG renderer, the same text and paths), but an inline
    SVG's elements are also HTML elements to it: parsed by the HTML parser, their style attributes
    parsed again as CSS and every one given a computed style in the page's cascade, which is
    wasted work (the SVG renderer styles them itself) and a large part of the PDF's cost. An
    image's SVG skips all that. The report's stylesheet sizes ``figure img`` as ``figure svg``.
    An SVG that is not well-formed XML on its own stays inline, as it was.
    """

    def as_image(match: re.Match[str]) -> str:
        svg = match.group(0)
        try:
            ET.fromstring(svg)  # noqa: S314 (matplotlib's output, written by this process)
        except ET.ParseError:
            return svg
        title = _SVG_TITLE.search(svg)
        alt = escape(unescape(title.group(1).strip()), quote=True) if title else ""
        data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
        return f'<img alt="{alt}" src="data:image/svg+xml;base64,{data}">'

    return _INLINE_SVG.sub(as_image, html)


def _dedupe_associated_files(_document: Any, pdf: Any) -> None:
    """List each attachment once in the catalog's /AF (WeasyPrint 70 adds each one twice)."""
    files = pdf.catalog.get("AF")
    if files is not None:
        unique = list(dict.fromkeys(files))
        files.clear()
        files.extend(unique)


@contextmanager
def _quiet_weasyprint() -> Iterator[None]:
    """WeasyPrint warns about every SVG style property its HTML CSS parser does not know (the
    inline charts have hundreds); those warnings are noise for the CLI, errors still show."""
    logger = logging.getLogger("weasyprint")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextmanager
def _font_timestamps(created: datetime) -> Iterator[None]:
    """Pin the 'modified' time fontTools writes into every font subset to the report's time.

    fontTools takes it from ``SOURCE_DATE_EPOCH`` (the reproducible-builds convention) or the
    clock; pinned, the same store and generation time give the same PDF bytes, so a PDF can be
    re-rendered and its registered SHA-256 checked. A value already set in the environment wins.
    """
    if SOURCE_DATE_EPOCH in os.environ:
        yield
        return
    os.environ[SOURCE_DATE_EPOCH] = str(int(created.timestamp()))
    try:
        yield
    finally:
        os.environ.pop(SOURCE_DATE_EPOCH, None)
