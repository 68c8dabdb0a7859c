"""The executive summary: the shape of the day on one page (issue: a two-minute read).

Before, the first page listed every breach as a bullet (42 on the demo stress day) and the breach
table on the next page repeated them. Now it shows a headline, an asset x check matrix, the five
most severe results, what is new / still open / resolved since yesterday and what is not
acknowledged; the detailed sections keep everything else.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from audit_store import SOFTWARE_VERSION
from reporting.checks.store import acknowledge
from reporting.render import build_report, render_html, render_pdf
from reporting.render import formatting as fmt
from reporting.render.model import ExchangeRef, Finding, ScopeRef
from reporting.render.summary import build_summary
from tests.test_report_factory import (
    STRESS_DAY,
    TEST_CONFIG,
    day_start,
    demo_store,
    open_store,
    report_settings,
    run_checks_on,
    store_days,
    synthetic_data,
    with_assets,
)

NOW = datetime(2025, 11, 4, 7, 0, tzinfo=UTC)
DAY = date(2025, 11, 3)


def finding(
    check: str,
    scope: str,
    status: str,
    pct: float | None,
    *,
    lifecycle: str | None = None,
    since: date | None = None,
    acked: str | None = None,
    day: date = DAY,
) -> Finding:
    asset, _, code = scope.partition("/")
    exchange = ExchangeRef(code, code, "", True) if code else None
    return Finding(
        day=day,
        check=check,
        title=check,
        scope=ScopeRef(scope, asset, exchange),
        status=status,
        observed=None if pct is None else pct,
        warn_at=None,
        limit=None if pct is None else 100.0,
        pct_of_limit=pct,
        unit="usd",
        message="",
        since=since,
        acknowledged_by=acked,
        lifecycle=lifecycle,
    )


def test_summary_matrix_top_and_changes() -> None:
    results = [
        finding("daily_usd", "BTC", "breach", 150.0, lifecycle="new", since=DAY),
        finding("daily_usd", "ETH", "ok", 40.0),
        finding("daily_usd_exchange", "BTC/binc", "warn", 90.0),
        finding("daily_usd_exchange", "BTC/bbit", "breach", 310.0, lifecycle="new", since=DAY),
        finding(
            "velocity_usd", "ETH", "breach", 120.0, lifecycle="ongoing", since=date(2025, 11, 1)
        ),
        finding("velocity_usd", "BTC", "ok", 10.0, lifecycle="resolved", since=date(2025, 11, 2)),
        finding("imbalance", "ETH", "error", None),
        finding("daily_usd", "SOL", "breach", 101.0, lifecycle="new", since=DAY, acked="ann"),
    ]
    findings = [f for f in results if f.status != "ok"]
    s = build_summary(["btc", "eth", "sol", "doge"], findings, results, DAY)

    assert s.matrix.rows == ("BTC", "ETH", "SOL", "DOGE")  # every configured asset, in order
    assert s.matrix.columns == ("daily_usd", "velocity_usd", "imbalance", "daily_usd_exchange")
    cells = dict(zip(s.matrix.rows, s.matrix.cells, strict=True))
    btc_exchange = cells["BTC"][3]
    assert (btc_exchange.status, btc_exchange.multiple, btc_exchange.flagged) == ("breach", 3.1, 2)
    assert cells["ETH"][0].status == "ok" and cells["ETH"][0].multiple == pytest.approx(0.4)
    assert cells["ETH"][2].status == "error" and cells["ETH"][2].multiple is None
    assert cells["DOGE"][0].status == ""  # no result at all: an empty cell, not "ok"

    assert [f.scope.raw for f in s.top] == ["BTC/bbit", "BTC", "ETH", "SOL", "BTC/binc"]
    assert s.worst is not None and s.worst.scope.raw == "BTC/bbit"
    assert s.assets_flagged == ("BTC", "ETH", "SOL")
    assert (s.new_count, s.still_open_count, s.resolved_count) == (3, 1, 1)
    assert s.still_open[0].since == date(2025, 11, 1)
    assert [g.scopes for g in s.new] == [("BTC", "SOL"), ("BTC/bbit",)]
    assert (s.unacknowledged, s.breaches) == (3, 4)


def summary_html(html: str) -> str:
    return html[html.index('<section id="summary">') : html.index('<section id="findings">')]


def test_stress_day_summary_names_five_not_every_breach(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings)
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assert model.counts.breaches > 5
    html = render_html(model, software_version=SOFTWARE_VERSION)
    summary = summary_html(html)
    # the five most severe, not one line per breach; the findings table still has all of them
    assert len(re.findall(r'<tr class="finding finding-', summary)) == 5
    assert '<ul class="sentences">' not in summary
    findings = html[html.index('<section id="findings">') : html.index('<section id="charts">')]
    assert len(re.findall(r'<tr class="finding finding-breach"', findings)) == model.counts.breaches
    # the headline names the worst by observed / limit
    worst = max((f for f in model.findings if f.status == "breach"), key=lambda f: f.multiple or 0)
    assert model.summary is not None and model.summary.worst == worst
    assert f"{fmt.multiple(worst.multiple)} the limit" in summary
    assert 'class="matrix"' in summary
    kpi = f'<span class="kpi-value">{model.counts.breaches}</span><span class="kpi-label">of '
    assert kpi + f"{model.counts.breaches} breaches not acknowledged" in summary


def test_acknowledgement_and_lifecycle_reach_the_summary(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings)
    before = build_report(store, settings, STRESS_DAY, now=NOW)
    assert before.summary is not None
    target = before.summary.top[0]
    assert target.result_id is not None and target.lifecycle == "new"
    acknowledge(store, target.result_id, by="Ann Officer", comment="seen, desk informed")
    after = build_report(store, settings, STRESS_DAY, now=NOW + timedelta(minutes=5))
    assert after.summary is not None
    assert after.summary.unacknowledged == before.summary.unacknowledged - 1
    assert after.summary.top[0].acknowledged_by == "Ann Officer"
    assert "Ann Officer" in summary_html(render_html(after, software_version=SOFTWARE_VERSION))


def _page_of(reader: PdfReader, needle: str) -> int:
    for n, page in enumerate(reader.pages):
        if needle in (page.extract_text() or ""):
            return n
    raise AssertionError(f"{needle!r} is on no page")


@pytest.mark.slow
def test_summary_fits_one_page_on_a_20_asset_day_full_of_breaches(tmp_path: Path) -> None:
    assets = [f"a{n:02d}" for n in range(20)]
    exchanges = ["binc", "bbit", "okex", "drbt", "hbdm", "bmex", "krkn", "cbse", "gtio", "zzex"]
    config = with_assets(TEST_CONFIG, assets)
    # limits low enough that every asset breaches several checks: the worst case for the page
    config = re.sub(r"warn = [\d_]+\nbreach = [\d_]+", "warn = 1_000\nbreach = 2_000", config)
    settings = report_settings(tmp_path, config=config)
    store = open_store(settings)
    first = STRESS_DAY - timedelta(days=2)
    store_days(
        store,
        synthetic_data(assets, exchanges, day_start(first), 24 * 3),
        [first + timedelta(days=n) for n in range(3)],
    )
    run_checks_on(store, settings, [STRESS_DAY - timedelta(days=1), STRESS_DAY])
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assert model.summary is not None
    assert len(model.summary.assets_flagged) == 20 and len(model.summary.matrix.columns) >= 3
    assert model.counts.breaches > 100
    pdf = render_pdf(render_html(model, software_version=SOFTWARE_VERSION), created=NOW)
    reader = PdfReader(io.BytesIO(pdf))
    assert _page_of(reader, "1. Executive summary") == 0
    # the summary ends on page one: the findings (which start a page) begin on the second
    assert _page_of(reader, "2. Breaches and warnings") == 1
    first_page = reader.pages[0].extract_text() or ""
    assert "acknowledged" in first_page and "Resolved" in first_page


def test_a_matrix_of_many_checks_is_cut_to_fit_the_page_width() -> None:
    """Findings on all 26 checks: the matrix becomes tables of at most ten columns, each with
    every asset, the columns in the same order as one table would have them."""
    from reporting.render.model import MATRIX_WIDTH
    from reporting.render.summary import SHORT_TITLES

    checks = list(SHORT_TITLES)
    results = [finding(c, a, "warn", 80.0) for c in checks for a in ("BTC", "ETH")]
    matrix = build_summary(["BTC", "ETH"], results, results, DAY).matrix
    assert len(matrix.columns) == len(checks) == 26
    parts = matrix.parts()
    assert [len(p.columns) for p in parts] == [MATRIX_WIDTH, MATRIX_WIDTH, 26 - 2 * MATRIX_WIDTH]
    assert sum((p.columns for p in parts), ()) == matrix.columns
    for p in parts:
        assert p.rows == ("BTC", "ETH")
        assert all(len(row) == len(p.columns) for row in p.cells)
        assert all(cell.status == "warn" for row in p.cells for cell in row)
