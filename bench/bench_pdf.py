"""Benchmark: the report's PDF for 20 assets x 10 exchanges against a bare WeasyPrint table.

Run from the repository root: ``/work/venv/bin/python bench/bench_pdf.py [--repeat N]``.

The baseline is WeasyPrint laying out a bare HTML table of the same rows (asset x exchange, the
same columns, no styling, no charts) in the same process, so the ratio measures what the report
adds (styles, charts, other sections) and not the machine. Target: the report's PDF step within
2x the baseline. The full pipeline (store -> model -> charts -> HTML -> PDF) is timed too.

Not a test: it builds a synthetic store in a temporary directory (8 days x 20 assets x 10
exchanges, hourly) and prints its timings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from audit_store import SOFTWARE_VERSION  # noqa: E402
from reporting.render import build_report, render_html, render_pdf, render_report  # noqa: E402
from reporting.render.attachments import report_attachments  # noqa: E402
from reporting.render.model import ReportModel  # noqa: E402
from tests.test_report_factory import (  # noqa: E402
    STRESS_DAY,
    TEST_CONFIG,
    day_start,
    open_store,
    report_settings,
    run_checks_on,
    store_days,
    synthetic_data,
)

ASSETS = [f"a{n:02d}" for n in range(20)]
EXCHANGES = ["binc", "bbit", "okex", "drbt", "hbdm", "bmex", "krkn", "cbse", "gtio", "zzex"]
NOW = datetime(2025, 11, 4, 7, 0, tzinfo=UTC)


def bare_table(model: ReportModel) -> str:
    """The asset x exchange rows as the plainest HTML WeasyPrint can lay out."""
    rows = []
    for market in model.markets:
        for row in (market.total, *market.exchanges):
            name = row.exchange.code if row.exchange else "*"
            rows.append(
                f"<tr><td>{escape(row.asset)}</td><td>{escape(name)}</td><td>{row.count}</td>"
                f"<td>{row.usd:.0f}</td><td>{row.average_usd or 0:.0f}</td>"
                f"<td>{row.long_share or 0:.2f}</td><td>n/a</td><td>n/a</td></tr>"
            )
    head = (
        "<tr><th>Asset</th><th>Exchange</th><th>Liquidations</th><th>USD</th><th>Avg</th>"
        "<th>Long</th><th>Funding</th><th>OI</th></tr>"
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bare</title></head><body>"
        f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )


def table_only(html: str) -> str:
    """The report's page with only its asset x exchange section: styles and page boxes kept."""
    body = html.index("<body>") + len("<body>")
    start = html.index('<section id="markets">')
    end = html.index("</section>", start) + len("</section>")
    return html[:body] + html[start:end] + "</body></html>"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median CPU time and median wall time of ``repeat`` runs, and the last result.

    CPU time (this process only) is what the ratio uses: it does not count time spent waiting for
    a busy machine, which is what makes wall-clock ratios jump between runs.
    """
    cpu, wall, result = [], [], None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="liqrisk-bench-") as tmp:
        config = TEST_CONFIG.replace(
            'assets = ["btc", "eth", "sol", "xrp", "doge"]',
            "assets = [" + ", ".join(f'"{a}"' for a in ASSETS) + "]",
        )
        settings = report_settings(Path(tmp), config=config)
        store = open_store(settings)
        first = STRESS_DAY - timedelta(days=7)
        data = synthetic_data(ASSETS, EXCHANGES, day_start(first), 24 * 8)
        started = time.perf_counter()
        store_days(store, data, [first + timedelta(days=n) for n in range(8)])
        run_checks_on(store, settings, [STRESS_DAY])
        setup = time.perf_counter() - started

        model = build_report(store, settings, STRESS_DAY, now=NOW)
        html = render_html(model, software_version=SOFTWARE_VERSION)
        attachments = report_attachments(model, "bench")
        bare = bare_table(model)
        rows = sum(1 + len(m.exchanges) for m in model.markets)

        render_pdf(bare, created=NOW)  # warm up fonts and caches for both
        c_bare, w_bare, bare_pdf = timed(lambda: render_pdf(bare, created=NOW), args.repeat)
        c_pdf, w_pdf, report_pdf = timed(
            lambda: render_pdf(html, attachments, created=NOW), args.repeat
        )
        c_table, w_table, _ = timed(lambda: render_pdf(table_only(html), created=NOW), args.repeat)
        c_full, w_full, _ = timed(
            lambda: render_report(store, settings, STRESS_DAY, now=NOW), args.repeat
        )
        c_model, _, _ = timed(lambda: build_report(store, settings, STRESS_DAY, now=NOW), 1)
        c_html, _, _ = timed(lambda: render_html(model, software_version=SOFTWARE_VERSION), 1)

    assert isinstance(bare_pdf, bytes) and isinstance(report_pdf, bytes)
    ratio = c_pdf / c_bare
    print(
        f"store: {len(ASSETS)} assets x {len(EXCHANGES)} exchanges, 8 days hourly "
        f"(built in {setup:.1f} s); table rows: {rows}; median of {args.repeat} runs"
    )
    print("                         CPU s   wall s")
    print(f"bare table PDF         {c_bare:7.2f}  {w_bare:7.2f}  ({len(bare_pdf):,} bytes)")
    print(f"report table only PDF  {c_table:7.2f}  {w_table:7.2f}  (same rows, report styles)")
    print(
        f"report PDF step        {c_pdf:7.2f}  {w_pdf:7.2f}  ({len(report_pdf):,} bytes, "
        f"{len(html):,} chars of HTML)"
    )
    print(f"  model from store     {c_model:7.2f}")
    print(f"  charts and HTML      {c_html:7.2f}")
    print(f"full render_report     {c_full:7.2f}  {w_full:7.2f}")
    verdict = "OK" if ratio <= 2 else "over target"
    print(f"ratio report PDF / bare table PDF: {ratio:.2f}x (target <= 2x: {verdict})")
    print(f"ratio report table only / bare table: {c_table / c_bare:.2f}x")
    print(f"ratio full pipeline / bare table PDF: {c_full / c_bare:.2f}x")


if __name__ == "__main__":
    main()
