"""The report's PDF: text, pages, metadata, PDF/A-3 structure, attachments, and the URL fetcher.

The store is filled through the real pipeline: ``reporting.fetch.ingest.fetch`` from the bundled
demo source (the Kaiko emulator), then ``reporting.checks.run_checks`` for the stress day.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from reporting.checks.store import latest_run, run_checks
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.fetch.ingest import fetch
from reporting.render import (
    ReportFiles,
    build_report,
    render_html,
    render_pdf,
    render_report,
    report_stem,
)
from reporting.render.attachments import report_attachments
from reporting.render.pdf import (
    SOURCE_DATE_EPOCH,
    RefusedResource,
    TemplatesOnlyFetcher,
    _svgs_as_images,
)
from reporting.resources import templates_dir
from tests.test_report_factory import (
    STRESS_DAY,
    check_clock,
    day_start,
    open_store,
    report_settings,
)

NOW = datetime(2025, 11, 4, 7, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Settings, ReportFiles]:
    tmp = tmp_path_factory.mktemp("pdf")
    settings = report_settings(tmp)
    store = open_store(settings)
    start = day_start(STRESS_DAY) - timedelta(days=7)
    fetch(
        store,
        settings,
        source="demo",
        assets=settings.fetch.assets,
        start=start,
        end=day_start(STRESS_DAY) + timedelta(days=1),
        clock=lambda: NOW - timedelta(hours=1),
    )
    run_checks(store, settings, STRESS_DAY, clock=lambda: check_clock(STRESS_DAY))
    files = render_report(store, settings, STRESS_DAY, now=NOW)
    return store, settings, files


@pytest.fixture(scope="module")
def reader(demo_pdf: tuple[Store, Settings, ReportFiles]) -> PdfReader:
    return PdfReader(demo_pdf[2].pdf_path)


@pytest.fixture(scope="module")
def pages_text(reader: PdfReader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


def test_pdf_pages_and_running_header_and_footer(pages_text: list[str]) -> None:
    n = len(pages_text)
    assert n > 1
    for number, text in enumerate(pages_text, start=1):
        assert f"page {number} of {n}" in text
        assert "Example Derivatives Ltd" in text  # the running header
        assert "Daily liquidation risk report" in text
    assert "BREACH" in pages_text[0]


def test_pdf_text_has_the_breaches(pages_text: list[str]) -> None:
    text = re.sub(r"\s+", " ", " ".join(pages_text))
    # The summary's headline and its most severe finding, then the full findings table.
    assert "limit breaches" in text
    assert "Worst: Velocity: largest hour (USD), ETH" in text
    assert "Daily liquidations (USD) BTC $633,319,573 $500,000,000" in text
    assert "no signed checkpoint yet" in text
    assert "Appendix B. Methodology" in text


def test_pdf_metadata(reader: PdfReader) -> None:
    meta = reader.metadata
    assert meta is not None
    assert (
        meta.title
        == "Example Derivatives Ltd \u2014 Daily liquidation risk report \u2014 2025-11-03"
    )
    assert meta.author == "Example Derivatives Ltd"
    assert meta.creator is not None and meta.creator.startswith("liqrisk ")
    assert meta.producer is not None and meta.producer.startswith("WeasyPrint")
    assert meta.creation_date is not None
    assert meta.creation_date.astimezone(UTC) == NOW
    assert "2025-11-03" in (meta.subject or "")


def _xmp(reader: PdfReader) -> str:
    root: Any = reader.trailer["/Root"]
    return str(root["/Metadata"].get_object().get_data().decode("utf-8"))


def test_pdf_a3b_structure(reader: PdfReader) -> None:
    root: Any = reader.trailer["/Root"]
    xmp = _xmp(reader)
    assert re.search(r'pdfaid:part(="3"|>3<)', xmp), xmp[:500]
    assert re.search(r'pdfaid:conformance(="B"|>B<)', xmp), xmp[:500]
    intents = root["/OutputIntents"]
    assert len(intents) >= 1
    assert intents[0].get_object()["/S"] == "/GTS_PDFA1"
    assert "/AF" in root and len(root["/AF"]) == 2
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    assert len(names) == 4  # (name, filespec) x 2
    for filespec in root["/AF"]:
        assert filespec.get_object()["/AFRelationship"] == "/Data"


def test_pdf_attachments_carry_the_data(
    demo_pdf: tuple[Store, Settings, ReportFiles], reader: PdfReader
) -> None:
    store, settings, _ = demo_pdf
    attachments = reader.attachments
    assert sorted(attachments) == [
        "liqrisk-report-2025-11-03-assets-exchanges.csv",
        "liqrisk-report-2025-11-03-check-results.json",
    ]
    rows = list(
        csv.DictReader(
            io.StringIO(
                attachments["liqrisk-report-2025-11-03-assets-exchanges.csv"][0].decode("utf-8")
            )
        )
    )
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assert len(rows) == sum(1 + len(m.exchanges) for m in model.markets)
    btc = next(r for r in rows if r["asset"] == "BTC" and r["exchange_code"] == "*")
    assert float(btc["usd"]) == pytest.approx(633_319_573.42, abs=0.01)
    assert {r["exchange_code"] for r in rows if r["known_exchange"] == "no"} == {"bgfx"}
    # The demo's overlays: funding and open interest of Binance and OKX, on those venues' rows.
    venues = {"binc", "okex"}
    overlaid = [r for r in rows if r["exchange_code"] in venues]
    assert overlaid and all(r["funding_rate_8h"] and r["open_interest_usd"] for r in overlaid)
    assert all(
        r["funding_rate_8h"] == "" and r["open_interest_usd"] == ""
        for r in rows
        if r["exchange_code"] not in venues
    )

    doc = json.loads(attachments["liqrisk-report-2025-11-03-check-results.json"][0])
    run = latest_run(store, STRESS_DAY)
    assert run is not None
    assert [r["id"] for r in doc["results"]] == [r.id for r in run.results]
    assert doc["runs"][0]["limit_set_sha256"] == run.run.limit_set_sha256
    assert doc["report"]["status"] == "BREACH"
    breaches = [r for r in doc["results"] if r["status"] == "breach"]
    assert breaches and all(r["evidence_sha256"] for r in breaches)


def test_pdf_is_reproducible(demo_pdf: tuple[Store, Settings, ReportFiles]) -> None:
    """The same store and generation time give the same PDF bytes (fonts' timestamps pinned)."""
    store, settings, files = demo_pdf
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    html = render_html(model, software_version=SOFTWARE_VERSION)
    again = render_pdf(html, report_attachments(model, report_stem(STRESS_DAY, "day")), created=NOW)
    assert hashlib.sha256(again).hexdigest() == files.pdf_sha256
    assert SOURCE_DATE_EPOCH not in os.environ  # pinned only while writing


# --- the URL fetcher ---------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record (and refuse) every attempt to open a socket connection."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_fetcher_serves_only_templates_and_data() -> None:
    fetcher = TemplatesOnlyFetcher(templates_dir())
    css = fetcher.fetch((templates_dir() / "report.css").as_uri())
    assert b"@page" in css.read()
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"
    outside = (templates_dir() / ".." / "config" / "liqrisk.toml").as_uri()
    for url in (
        "https://example.com/x.png",
        "http://127.0.0.1/x",
        "file:///etc/passwd",
        outside,
        "file://evil.example/share/x.css",
        "ftp://example.com/x",
    ):
        with pytest.raises(RefusedResource):
            fetcher.fetch(url)
    assert len(fetcher.refused) == 6


@pytest.mark.parametrize(
    "snippet",
    [
        '<img src="https://example.com/x.png" alt="">',
        '<img src="file:///etc/passwd" alt="">',
        '<link rel="stylesheet" href="file:///etc/passwd">',
        '<style>@import url("https://example.com/x.css");</style>',
        '<p style="background: url(https://example.com/x.png)">x</p>',
    ],
)
def test_render_refuses_outside_resources(snippet: str, no_network: list[object]) -> None:
    html = (
        f"<!DOCTYPE html><html><head><title>t</title></head><body>{snippet}<p>x</p></body></html>"
    )
    with pytest.raises(
        RenderError, match=r"may not be fetched: (https://example\.com|file:///etc)"
    ):
        render_pdf(html, created=NOW)
    assert no_network == []


def test_data_urls_render(no_network: list[object]) -> None:
    dot = (
        "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRo"
        "PSIxIiBoZWlnaHQ9IjEiLz4="
    )
    html = f'<!DOCTYPE html><html><body><img src="{dot}" alt=""><p>x</p></body></html>'
    assert render_pdf(html, created=NOW).startswith(b"%PDF-")
    assert no_network == []


def test_a_template_pointing_outside_fails_clearly(
    demo_pdf: tuple[Store, Settings, ReportFiles], tmp_path: Path, no_network: list[object]
) -> None:
    store, settings, _ = demo_pdf
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    page = templates / "report.html.j2"
    page.write_text(
        page.read_text("utf-8").replace(
            "<body>", '<body><img src="https://example.com/x.png" alt="">', 1
        ),
        "utf-8",
    )
    html = render_html(
        build_report(store, settings, STRESS_DAY, now=NOW),
        software_version="x",
        directory=templates,
    )
    assert 'src="https://example.com/x.png"' in html
    with pytest.raises(RenderError, match=r"https://example\.com/x\.png"):
        render_pdf(html, created=NOW, base_dir=templates)
    assert no_network == []


def test_inline_svgs_go_to_weasyprint_as_images_of_the_same_svg() -> None:
    svg = (
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink" width="10pt" height="5pt" '
        'xmlns="http://www.w3.org/2000/svg" version="1.1">\n <title>A &amp; B</title>\n'
        ' <text x="1" y="4">$1.2M</text>\n</svg>\n'
    )
    broken = '<svg xmlns="http://www.w3.org/2000/svg"><text>unclosed</svg>'
    html = f"<style>figure svg {{}}</style><figure>{svg}</figure><figure>{broken}</figure>"
    out = _svgs_as_images(html)
    images = re.findall(r'<img alt="([^"]*)" src="data:image/svg\+xml;base64,([^"]*)">', out)
    assert [alt for alt, _ in images] == ["A &amp; B"]
    assert base64.b64decode(images[0][1]).decode() == svg.rstrip("\n")
    assert broken in out  # not well-formed on its own: left inline
    assert out.startswith("<style>figure svg {}</style>")
