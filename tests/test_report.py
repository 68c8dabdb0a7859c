"""The report's HTML: golden file, determinism, content, escaping, artifacts, and the model.

The store is the bundled demo data for 2025-11-03 (the stress day) and the seven days before it,
stored as a daily fetch stores it, with two faults added (a quarantined page, a missing hour); see
``test_report_factory``. ``LIQRISK_UPDATE_GOLDEN=1`` rewrites the golden file
``tests/golden/report-2025-11-03.html``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from audit_store.merkle import root_from_leaf_hashes
from audit_store.models import Artifact, Checkpoint, Snapshot
from audit_store.snapshots import RawResponse, append_snapshot, new_snapshot
from audit_store.tables_ingest import append_derived_rows
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.render import (
    ReportFiles,
    build_report,
    capture_inputs,
    render_html,
    render_report,
)
from reporting.render import formatting as fmt
from reporting.render.charts import exchange_heatmap, labels_cells, render_charts
from reporting.render.model import Heatmap
from tests.test_report_factory import (
    STRESS_DAY,
    TEST_CONFIG,
    day_start,
    demo_store,
    kaiko_body,
    open_store,
    report_settings,
    run_checks_on,
    store_page,
    synthetic_data,
    with_assets,
)

GOLDEN = Path(__file__).parent / "golden" / f"report-{STRESS_DAY.isoformat()}.html"
NOW = datetime(2025, 11, 4, 7, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Settings, ReportFiles]:
    tmp = tmp_path_factory.mktemp("report")
    settings = report_settings(tmp)
    store = demo_store(settings)
    files = render_report(store, settings, STRESS_DAY, now=NOW)
    return store, settings, files


@pytest.fixture(scope="module")
def html(demo: tuple[Store, Settings, ReportFiles]) -> str:
    return demo[2].html_path.read_text(encoding="utf-8")


def mask_volatile(text: str) -> str:
    """Blank what may differ between runs and installations: elements marked ``data-volatile``."""
    text = re.sub(r'content="[^"]*"( data-volatile)', r'content="MASKED"\1', text)
    return re.sub(r"(<[^>]*\bdata-volatile\b[^>]*>)[^<]*", r"\1MASKED", text)


# --- golden and determinism --------------------------------------------------------------------


def test_html_matches_golden_file(demo: tuple[Store, Settings, ReportFiles]) -> None:
    store, settings, _files = demo
    model = build_report(store, settings, STRESS_DAY)  # real clock: masking must hide it
    rendered = mask_volatile(render_html(model, software_version=SOFTWARE_VERSION))
    if os.environ.get("LIQRISK_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(rendered, encoding="utf-8")
    assert GOLDEN.is_file(), f"no golden file {GOLDEN}; run with LIQRISK_UPDATE_GOLDEN=1"
    expected = GOLDEN.read_text(encoding="utf-8")
    if rendered != expected:
        diff = next(i for i, (a, b) in enumerate(zip(rendered, expected, strict=False)) if a != b)
        pytest.fail(
            f"report HTML differs from {GOLDEN.name} at character {diff}: "
            f"{rendered[diff - 80 : diff + 80]!r} vs {expected[diff - 80 : diff + 80]!r}; "
            "if the change is intended, rerun with LIQRISK_UPDATE_GOLDEN=1 and review the diff"
        )


def test_html_is_byte_identical_across_renders(
    demo: tuple[Store, Settings, ReportFiles], html: str
) -> None:
    store, settings, files = demo
    again = render_html(
        build_report(store, settings, STRESS_DAY, now=NOW), software_version=SOFTWARE_VERSION
    )
    assert again == html
    assert hashlib.sha256(again.encode()).hexdigest() == files.html_sha256


def test_only_the_generation_time_is_volatile(demo: tuple[Store, Settings, ReportFiles]) -> None:
    store, settings, _ = demo
    one = render_html(build_report(store, settings, STRESS_DAY, now=NOW), software_version="x")
    two = render_html(
        build_report(store, settings, STRESS_DAY, now=NOW + timedelta(hours=5, seconds=7)),
        software_version="x",
    )
    assert one != two
    assert mask_volatile(one) == mask_volatile(two)


def test_charts_are_deterministic_and_leave_no_global_state(
    demo: tuple[Store, Settings, ReportFiles],
) -> None:
    store, settings, _ = demo
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    before = dict(matplotlib.rcParams)
    first, second = render_charts(model.charts), render_charts(model.charts)
    assert first == second
    assert dict(matplotlib.rcParams) == before
    svgs = [first["exchange_heatmap"], first["hour_heatmap"], *first["chronology"]]
    for svg in svgs:
        assert svg.startswith("<svg")
        assert "dc:date" not in svg and "Matplotlib v" not in svg
        assert "<style" not in svg  # no stylesheet that would apply to the whole page
    assert "<image" not in first["exchange_heatmap"]  # labelled cells stay vector
    assert first["hour_heatmap"].count("<image") == 1  # 24 x 5 cells in one PNG
    for svg in svgs:  # what WeasyPrint would parse per element: as attributes, and no identity
        assert ' style="' not in svg and "rotate(-0 " not in svg
        ET.fromstring(svg)  # noqa: S314 (still well-formed: the PDF step takes it as an image)
    assert "$213.0M" in first["exchange_heatmap"]  # 5 x 7 cells: each labelled


def test_a_large_exchange_heatmap_shows_a_scale_and_points_to_the_table(
    demo: tuple[Store, Settings, ReportFiles],
) -> None:
    store, settings, _ = demo
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assets = tuple(f"A{n:02d}" for n in range(20))
    columns = tuple(f"x{n}" for n in range(10))
    values = tuple(tuple(1e6 * (1 + r + c) for c in range(10)) for r in range(20))
    large = Heatmap(assets, columns, values)
    assert labels_cells(model.charts.exchange_heatmap) and not labels_cells(large)
    svg = exchange_heatmap(large)
    texts = re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)
    assert len(texts) == 20 + 10 + 5 + 1  # row and column labels, the scale's 5 ticks and title
    assert "$1.0M" not in texts and "$29.0M" in texts  # no cell figure; the peak on the scale
    assert svg.count("<image") == 1  # the colour scale
    caption = "Each cell's figure is in the table of section 4, below."
    assert caption not in render_html(model, software_version="x")
    large_model = replace(model, charts=replace(model.charts, exchange_heatmap=large))
    assert caption in render_html(large_model, software_version="x")


# --- content -----------------------------------------------------------------------------------


def test_header_and_summary(html: str) -> None:
    assert (
        "<title>Example Derivatives Ltd &mdash; Daily liquidation risk report &mdash; 2025-11-03"
        in html
    )
    assert "Monday 3 November 2025" in html
    assert "2025-11-04 07:00:00 UTC" in html
    assert "2025-11-04 07:00:00 GMT" in html  # Europe/London in November
    assert '<span class="badge badge-breach">BREACH</span>' in html
    assert '<meta name="generator" content="liqrisk ' in html
    assert '<meta name="dcterms.created" content="2025-11-04T07:00:00Z"' in html
    summary = html[html.index('id="summary"') : html.index('id="findings"')]
    assert "Worst: <strong>Velocity: largest hour (USD), ETH</strong>, $144,861,406" in summary
    assert "against a limit of $60,000,000 (2.41\u00d7 the limit)" in summary
    assert '<table class="matrix">' in summary and "Most severe" in summary
    assert "Largest moves against the 7-day average" in html


def test_findings_table_names_exchanges_and_flags_unknown_codes(html: str) -> None:
    findings = html[html.index('id="findings"') : html.index('id="charts"')]
    assert "Daily liquidations per exchange (USD)" in findings
    assert 'BTC &middot; Binance <span class="code">binc</span>' in findings
    assert findings.count('<span class="status status-breach">') == 8
    markets = html[html.index('id="markets"') : html.index('id="jurisdictions"')]
    assert '<span class="code">bgfx</span><span class="flag">unknown code</span>' in markets
    rows = markets.count('<tr class="group">') + markets.count('<tr class="sub">')
    assert rows == 35
    assert markets.count('<td class="num na">n/a</td>') == 2 * rows  # funding, open interest


def test_jurisdictions_coverage_and_provenance(
    demo: tuple[Store, Settings, ReportFiles], html: str
) -> None:
    store, _settings, _ = demo
    jurisdictions = html[html.index('id="jurisdictions"') : html.index('id="coverage"')]
    assert "SC Seychelles" in jurisdictions and "unknown" in jurisdictions
    coverage = html[html.index('id="coverage"') : html.index('id="provenance"')]
    assert "2025-11-03 03:00" in coverage  # XRP's missing hour
    assert "XRP: 23 of 24 intervals received" in coverage
    assert "/token/doge?" in coverage and "is not a number" in coverage  # the quarantined page
    with store.session() as session:
        leaves = session.execute(
            select(col(Snapshot.leaf_hash)).order_by(col(Snapshot.leaf_index))
        ).all()
    root = root_from_leaf_hashes([bytes.fromhex(h) for (h,) in leaves]).hex()
    provenance = html[html.index('id="provenance"') :]
    assert root in provenance
    assert f"tree size {len(leaves)}" in provenance
    assert "no signed checkpoint yet" in provenance
    # five pages of the day, and the quarantined page the data-quality result cites
    assert "6 snapshots (6 distinct response bodies)" in provenance


def test_html_is_self_contained(html: str) -> None:
    assert "<script" not in html
    assert "<link" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|file:|//)""", html)
    assert html.count("<svg") == 3  # two heatmaps and one chronology (five assets)
    ids = Counter(re.findall(r' id="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []


def test_artifacts_are_registered(demo: tuple[Store, Settings, ReportFiles]) -> None:
    store, settings, files = demo
    assert files.html_path == settings.reports_dir / "2025-11-03" / "liqrisk-report-2025-11-03.html"
    assert files.pdf_path.name == "liqrisk-report-2025-11-03.pdf"
    with store.session() as session:
        rows = session.execute(select(Artifact).order_by(col(Artifact.kind))).scalars().all()
    assert [(a.kind, a.period, a.name) for a in rows] == [
        ("report.html", "2025-11-03", "2025-11-03/liqrisk-report-2025-11-03.html"),
        ("report.inputs", "2025-11-03", "2025-11-03/liqrisk-report-2025-11-03.inputs.json"),
        ("report.pdf", "2025-11-03", "2025-11-03/liqrisk-report-2025-11-03.pdf"),
    ]
    assert (
        rows[0].sha256
        == files.html_sha256
        == hashlib.sha256(files.html_path.read_bytes()).hexdigest()
    )
    assert (
        rows[2].sha256
        == files.pdf_sha256
        == hashlib.sha256(files.pdf_path.read_bytes()).hexdigest()
    )
    assert files.inputs_path is not None
    assert (
        rows[1].sha256
        == files.inputs_sha256
        == hashlib.sha256(files.inputs_path.read_bytes()).hexdigest()
    )
    assert rows[2].size == files.pdf_path.stat().st_size


# --- refusals and escaping ---------------------------------------------------------------------


def test_no_check_run_is_a_clear_error(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings, check_days=[])
    with pytest.raises(
        RenderError,
        match=r"no check results for 2025-11-03 from source demo; "
        r"run `liqrisk check --date 2025-11-03 --source demo` first",
    ):
        render_report(store, settings, STRESS_DAY, now=NOW)
    assert not (settings.reports_dir / "2025-11-03").exists()


def test_external_strings_are_escaped(tmp_path: Path) -> None:
    hostile = "<script>x</script>"
    config = TEST_CONFIG.replace(
        'firm_name = "Example Derivatives Ltd"', 'firm_name = "Smith & <b>Jones</b>"'
    )
    settings = report_settings(tmp_path, config=config)
    store = open_store(settings)
    start = day_start(STRESS_DAY)
    data = synthetic_data(
        ["btc", "eth", "sol", "xrp", "doge"], ["binc", hostile, "a$b$"], start, 24
    )
    for asset, series in data.items():
        store_page(
            store,
            source="demo",
            asset=asset,
            start=start,
            end=start + timedelta(days=1),
            body=kaiko_body(asset, series, start, start + timedelta(days=1)),
            fetched_at=start + timedelta(days=1),
        )
    run_checks_on(store, settings, [STRESS_DAY])
    html = render_html(build_report(store, settings, STRESS_DAY, now=NOW), software_version="x")
    assert "<script" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "Smith &amp; &lt;b&gt;Jones&lt;/b&gt;" in html
    assert "<b>Jones" not in html
    assert "a$b$" in html  # shown verbatim in the charts too: no mathtext


def test_unknown_period_is_refused(demo: tuple[Store, Settings, ReportFiles]) -> None:
    store, settings, _ = demo
    with pytest.raises(RenderError, match="unknown report period"):
        build_report(store, settings, STRESS_DAY, period="month", now=NOW)  # type: ignore[arg-type]


# --- the model ---------------------------------------------------------------------------------


def test_model_counts_moves_and_badge(demo: tuple[Store, Settings, ReportFiles]) -> None:
    store, settings, _ = demo
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    # 6 limit warnings, and 7 data-quality ones: XRP's missing hour, the quarantined DOGE page,
    # and each asset's 23:00 interval fetched before it had settled
    assert (model.counts.breaches, model.counts.warnings, model.counts.errors) == (8, 13, 0)
    assert model.badge == "BREACH" and not model.incomplete
    changes = [m.change for m in model.moves]
    assert len(model.moves) == 3 and all(c is not None and c > 5 for c in changes)
    assert changes == sorted(changes, reverse=True)  # type: ignore[type-var]
    assert all(m.baseline_days == 7 for m in model.moves)
    assert [f.status for f in model.findings] == sorted(
        (f.status for f in model.findings), key=["breach", "warn", "error"].index
    )
    btc = next(mk for mk in model.markets if mk.asset == "BTC")
    assert btc.total.usd == pytest.approx(sum(r.usd for r in btc.exchanges) + btc.unattributed_usd)
    assert [r.usd for r in btc.exchanges] == sorted((r.usd for r in btc.exchanges), reverse=True)
    assert model.unknown_exchanges[0].code == "bgfx"
    assert model.total_usd == pytest.approx(sum(mk.total.usd for mk in model.markets))


def test_error_results_make_the_report_incomplete(tmp_path: Path) -> None:
    config = with_assets(TEST_CONFIG, ["btc", "eth", "ada"])
    settings = report_settings(tmp_path, config=config)
    calm = date(2025, 10, 28)
    store = demo_store(settings, day=calm, history_days=0, quarantine=False, drop_xrp_hour=False)
    model = build_report(store, settings, calm, now=NOW)
    # ADA: no data, so coverage, three checks, and the missing and stale data-quality checks
    assert model.counts.errors == 6
    assert model.incomplete
    assert model.badge == "INCOMPLETE" if not model.counts.breaches else "BREACH"
    assert any(f.status == "error" and f.scope.asset == "ADA" for f in model.findings)
    assert model.moves[-1].baseline_days == 0 and model.moves[-1].change is None


def test_stale_check_results_are_pointed_out(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings, history_days=0, quarantine=False, drop_xrp_hour=False)
    start = day_start(STRESS_DAY)
    hour = [
        {
            "interval_time": "2025-11-03T00:00:00Z",
            "total_trades": 1,
            "long_trades": 1,
            "short_trades": 0,
            "total_amount": 1.0,
            "long_amount": 1.0,
            "short_amount": 0,
        }
    ]
    store_page(
        store,
        source="demo",
        asset="sol",
        start=start,
        end=start + timedelta(hours=1),
        body=kaiko_body("sol", hour, start, start + timedelta(hours=1)),
        fetched_at=NOW,
    )
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assert len(model.stale_notes) == 1
    assert model.stale_notes[0].startswith("SOL on 2025-11-03: check run 1 saw $166,700,987")


def test_weekly_report(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    days = [STRESS_DAY - timedelta(days=n) for n in range(0, 5)]  # two days of the week unchecked
    store = demo_store(settings, history_days=13, check_days=days)
    files = render_report(store, settings, STRESS_DAY, period="week", now=NOW)
    assert files.html_path.name == "liqrisk-weekly-2025-11-03.html"
    assert files.pdf_path.name == "liqrisk-weekly-2025-11-03.pdf"
    html = files.html_path.read_text("utf-8")
    assert "Weekly liquidation risk report" in html
    assert "Week ending Monday 3 November 2025" in html
    assert "No check run is stored for 2025-10-28" in html
    assert '<span class="badge badge-incomplete badge-secondary">INCOMPLETE</span>' in html
    model = build_report(store, settings, STRESS_DAY, period="week", now=NOW)
    assert model.days[0] == date(2025, 10, 28) and len(model.days) == 7
    assert model.provenance.missing_run_days == (date(2025, 10, 28), date(2025, 10, 29))
    assert all(c.expected == 168 for c in model.coverage)
    with store.session() as session:
        periods = session.execute(select(col(Artifact.period))).scalars().all()
    assert periods == ["week:2025-11-03"] * 3  # HTML, PDF and the inputs they were read as of


# --- formatting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "$0"),
        (950, "$950"),
        (999_960, "$1.0M"),
        (1_234_567, "$1.2M"),
        (417_650, "$417.6k"),
        (1.44e9, "$1.4B"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_usd_compact(value: float | None, expected: str) -> None:
    assert fmt.usd_compact(value) == expected


def test_number_filters() -> None:
    assert fmt.usd(633_319_573.42) == "$633,319,573"
    assert fmt.usd(None) == "n/a"
    assert fmt.pct(126.66) == "127%"
    assert fmt.share(0.8081) == "81%" and fmt.share(0.8081, 1) == "80.8%"
    assert fmt.signed_pct(846.2) == "+846%" and fmt.signed_pct(-35.0) == "\u221235%"
    assert fmt.signed_pct(0.0) == "0%"
    assert fmt.ratio(9.46) == "9.5\u00d7"
    assert fmt.count(21535) == "21,535"
    assert fmt.long_date(date(2025, 11, 3)) == "Monday 3 November 2025"
    summer = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)
    assert fmt.london_time(summer) == "2025-07-01 13:00:00 BST"


def test_signed_checkpoint_is_shown_and_its_root_rechecked(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings, history_days=0, quarantine=False, drop_xrp_hour=False)
    with store.session() as session:
        leaves = session.execute(
            select(col(Snapshot.leaf_hash)).order_by(col(Snapshot.leaf_index))
        ).all()
    hashes = [bytes.fromhex(h) for (h,) in leaves]

    def checkpoint(size: int, root: str) -> Checkpoint:
        return Checkpoint(
            origin="liqrisk.example/audit-log", tree_size=size, root_hash=root,
            note="(signed note)", key_name="liqrisk.example/audit-log", key_id="4dce997f",
            verifier_key="(verifier key)", consistency_proof_json="[]", created_at=NOW,
        )  # fmt: skip

    good = root_from_leaf_hashes(hashes[:3]).hex()
    with store.session() as session:
        session.add(checkpoint(3, good))
    html = render_html(build_report(store, settings, STRESS_DAY, now=NOW), software_version="x")
    assert "no signed checkpoint yet" not in html
    assert f'root <span class="hash">{good}</span>' in html
    assert "the root recomputed from the store's first 3 leaves matches" in html

    with store.session() as session:
        session.add(checkpoint(len(hashes), "00" * 32))  # a later, wrong one: the latest is shown
    model = build_report(store, settings, STRESS_DAY, now=NOW)
    assert model.provenance.checkpoint is not None
    assert model.provenance.checkpoint.tree_size == len(hashes)
    assert not model.provenance.checkpoint.root_matches
    html = render_html(model, software_version="x")
    assert "the root recomputed from the store does not match" in html


# --- overlays: funding rates and open interest -------------------------------------------------


def keep_overlay(
    store: Store, table: str, rows: list[dict[str, Any]], *, source: str = "binance"
) -> None:
    """One snapshot holding ``rows`` of an overlay table, as an exchange fetch stores them."""
    raw = RawResponse(
        source=source, kind=f"test.{table}", url=f"https://api.invalid/{table}", params={},
        fetched_at=NOW, http_status=200, body=json.dumps(rows, default=str).encode(),
    )  # fmt: skip
    with store.session() as session:
        snapshot = new_snapshot(raw, software_version="test", config_hash="test")
        append_snapshot(session, snapshot)
        append_derived_rows(session, snapshot, table, rows)


def funding_row(exchange: str, instrument: str, at: datetime, rate: float) -> dict[str, Any]:
    return {"source": "binance", "exchange": exchange, "asset": "BTC", "instrument": instrument,
            "quote": "USDT", "funding_time": at, "funding_rate": rate, "realized_rate": None,
            "mark_price": None}  # fmt: skip


def oi_row(exchange: str, instrument: str, at: datetime, usd: float) -> dict[str, Any]:
    return {"source": "binance", "exchange": exchange, "asset": "BTC", "instrument": instrument,
            "quote": "USDT", "ts": at, "period_seconds": 3600, "oi_contracts": None,
            "oi_base": None, "oi_usd": usd}  # fmt: skip


def test_overlays_fill_the_market_table_and_the_chronology(tmp_path: Path) -> None:
    settings = report_settings(tmp_path)
    store = demo_store(settings, history_days=0, quarantine=False, drop_xrp_hour=False)
    start = day_start(STRESS_DAY)
    # Binance settles every 8 hours, OKX (here) every 4: its rates are scaled to 8 hours.
    keep_overlay(store, "funding_rate", [
        *(funding_row("binc", "BTCUSDT", start + timedelta(hours=h), -0.0001 * (1 + h // 8))
          for h in (-8, 0, 8, 16)),
        *(funding_row("okex", "BTC-USDT-SWAP", start + timedelta(hours=h), 0.00005)
          for h in range(-4, 24, 4)),
    ])  # fmt: skip
    keep_overlay(store, "open_interest", [
        *(oi_row("binc", "BTCUSDT", start + timedelta(hours=h), 8e9 + h * 1e7) for h in range(24)),
        *(oi_row("okex", "BTC-USDT-SWAP", start + timedelta(hours=h), 3e9)
          for h in range(24) if h != 5),
    ])  # fmt: skip
    inputs = capture_inputs(store, settings, STRESS_DAY, now=NOW)
    model = build_report(store, settings, STRESS_DAY, inputs=inputs)
    btc = next(m for m in model.markets if m.asset == "BTC")
    rows = {r.exchange.code: r for r in btc.exchanges if r.exchange is not None}
    assert rows["binc"].funding_rate_8h == pytest.approx(-0.03)  # the 16:00 settlement, in %
    assert rows["okex"].funding_rate_8h == pytest.approx(0.01)  # 0.005% per 4 hours
    assert rows["binc"].open_interest_usd == pytest.approx(8.23e9)  # the 23:00 observation
    assert rows["okex"].open_interest_usd == pytest.approx(3e9)
    assert rows["bbit"].funding_rate_8h is None and rows["bbit"].open_interest_usd is None
    assert btc.total.funding_rate_8h is None and btc.total.open_interest_usd is None
    eth = next(m for m in model.markets if m.asset == "ETH")
    assert all(r.funding_rate_8h is None for r in eth.exchanges)  # no ETH overlays stored
    venues = {v.exchange.code: v for v in model.overlay_venues}
    assert venues["binc"].instruments == ("BTCUSDT",) and venues["binc"].sources == ("binance",)
    assert venues["okex"].funding_hours == (4.0,) and venues["okex"].scaled

    series = next(s for s in model.charts.chronology if s.asset == "BTC")
    assert series.open_interest_usd[0] == pytest.approx(11e9)
    assert math.isnan(series.open_interest_usd[5])  # OKX lacks 05:00: no partial sum
    lines = {line.label: line.points for line in series.funding}
    assert [x for x, _y in lines["Binance"]] == [-0.5, 7.5, 15.5]  # at the hour's left edge
    assert [y for _x, y in lines["Binance"]] == pytest.approx([-0.01, -0.02, -0.03])
    assert len(lines["OKX"]) == 6
    assert next(s for s in model.charts.chronology if s.asset == "ETH").open_interest_usd == ()

    html = render_html(model, software_version="x")
    assert '<td class="num">\u22120.0300%</td>' in html
    assert '<td class="num">$8.2B</td>' in html
    assert "Binance (BTCUSDT; source binance) and OKX (BTC-USDT-SWAP; source binance)" in html
    assert "a venue settling more often is scaled to 8 hours" in html
    charts = render_charts(model.charts)
    assert charts == render_charts(model.charts)  # the overlays are deterministic too
    assert "funding, Binance" in charts["chronology"][0]
    assert "open interest" in charts["chronology"][0]

    # Overlays fetched after the render's inputs are not read (``liqrisk reproduce``).
    keep_overlay(store, "funding_rate", [
        funding_row("binc", "BTCUSDT", start + timedelta(hours=16), 0.0009),
    ])  # fmt: skip
    again = build_report(store, settings, STRESS_DAY, inputs=inputs)
    assert again == model
    fresh = build_report(store, settings, STRESS_DAY, now=NOW)
    btc = next(m for m in fresh.markets if m.asset == "BTC")
    binc = next(r for r in btc.exchanges if r.exchange is not None and r.exchange.code == "binc")
    assert binc.funding_rate_8h == pytest.approx(0.09)
