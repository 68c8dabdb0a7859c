"""Benchmark: the report's PDF for 20 assets x 10 exchanges against a bare WeasyPrint table.

Run from the repository root: ``/work/venv/bin/python bench/bench_pdf.py [--repeat N]``.

The baseline is WeasyPrint laying out a bare HTML table of the same rows (asset x exchange, the
same columns, no styling, no charts) through the same ``render_pdf`` in the same process, so the
ratio measures what the report adds (styles, charts, other sections, attachments) and not the
machine. Target: the report's PDF step within 1.5x the baseline (issue #15). The full pipeline
(store -> model -> charts -> HTML -> PDF) is timed too.

How it measures, on a shared and noisy machine: CPU time of this process (not wall time, which
counts waiting for a busy machine), with a full garbage collection before every timed run (so no
run pays for collecting the garbage of the one before it: a bare run after a report run would
otherwise be charged for the report's box tree). The bare table and the report are timed in
alternation, bare then report, ``--repeat`` times, and the headline ratio is the median of the
per-pair ratios: a pair is measured within a few seconds, so slow drift of the machine's speed
cancels within a pair instead of landing on one side. The medians of each are printed as well.

Not a test: it builds a synthetic store in a temporary directory (8 days x 20 assets x 10
exchanges, hourly) and prints its timings.
"""

from __future__ import annotations

import argparse
import gc
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
    with_assets,
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


def run_once(fn: Callable[[], object]) -> tuple[float, float, object]:
    """CPU time and wall time of one run of ``fn``, after a full garbage collection, and its result.

    CPU time (this process only) is what the ratios use: it does not count time spent waiting
    for a busy machine, which is what makes wall-clock ratios jump between runs.
    """
    gc.collect()
    c, w = time.process_time(), time.perf_counter()
    result = fn()
    return time.process_time() - c, time.perf_counter() - w, result


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median CPU time and median wall time of ``repeat`` runs, and the last result."""
    cpu, wall, result = [], [], None
    for _ in range(repeat):
        c, w, result = run_once(fn)
        cpu.append(c)
        wall.append(w)
    return statistics.median(cpu), statistics.median(wall), result


def paired(
    baseline: Callable[[], object], candidate: Callable[[], object], repeat: int
) -> tuple[list[tuple[float, float]], list[tuple[float, float]], object, object]:
    """``baseline`` and ``candidate`` run alternately ``repeat`` times: (CPU, wall) of each run
    of each, and the last result of each."""
    base: list[tuple[float, float]] = []
    cand: list[tuple[float, float]] = []
    base_result = cand_result = None
    for _ in range(repeat):
        c, w, base_result = run_once(baseline)
        base.append((c, w))
        c, w, cand_result = run_once(candidate)
        cand.append((c, w))
    return base, cand, base_result, cand_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=7, help="bare/report pairs, and runs of the other steps"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="liqrisk-bench-") as tmp:
        config = with_assets(TEST_CONFIG, ASSETS)
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
        render_pdf(html, attachments, created=NOW)
        base_runs, pdf_runs, bare_pdf, report_pdf = paired(
            lambda: render_pdf(bare, created=NOW),
            lambda: render_pdf(html, attachments, created=NOW),
            args.repeat,
        )
        c_table, w_table, _ = timed(lambda: render_pdf(table_only(html), created=NOW), args.repeat)
        c_full, w_full, _ = timed(
            lambda: render_report(store, settings, STRESS_DAY, now=NOW), args.repeat
        )
        c_model, _, _ = timed(lambda: build_report(store, settings, STRESS_DAY, now=NOW), 1)
        c_html, _, _ = timed(lambda: render_html(model, software_version=SOFTWARE_VERSION), 1)

    assert isinstance(bare_pdf, bytes) and isinstance(report_pdf, bytes)
    c_bare = statistics.median(c for c, _ in base_runs)
    w_bare = statistics.median(w for _, w in base_runs)
    c_pdf = statistics.median(c for c, _ in pdf_runs)
    w_pdf = statistics.median(w for _, w in pdf_runs)
    ratios = sorted(p / b for (p, _), (b, _) in zip(pdf_runs, base_runs, strict=True))
    ratio = statistics.median(ratios)
    print(
        f"store: {len(ASSETS)} assets x {len(EXCHANGES)} exchanges, 8 days hourly "
        f"(built in {setup:.1f} s); table rows: {rows}; medians of {args.repeat} runs"
    )
    print("                         CPU s   wall s")
    print(f"bare table PDF         {c_bare:7.2f}  {w_bare:7.2f}  ({len(bare_pdf):,} bytes)")
    print(f"report table only PDF  {c_table:7.2f}  {w_table:7.2f}  (same rows, report styles)")
    print(
        f"report PDF step        {c_pdf:7.2f}  {w_pdf:7.2f}  ({len(report_pdf):,} bytes, "
        f"{len(html):,} chars of HTML, {len(attachments)} attachments)"
    )
    print(f"  model from store     {c_model:7.2f}")
    print(f"  charts and HTML      {c_html:7.2f}")
    print(f"full render_report     {c_full:7.2f}  {w_full:7.2f}")
    print("ratio report PDF / bare table PDF, CPU, per pair (bare then report), sorted:")
    print("  " + "  ".join(f"{r:.2f}" for r in ratios))
    verdict = "OK" if ratio <= 1.5 else "over target"
    print(
        f"ratio report PDF / bare table PDF: {ratio:.2f}x, median of {len(ratios)} pairs "
        f"(target <= 1.5x: {verdict}); ratio of the medians {c_pdf / c_bare:.2f}x"
    )
    print(f"ratio report table only / bare table: {c_table / c_bare:.2f}x")
    print(f"ratio full pipeline / bare table PDF: {c_full / c_bare:.2f}x")


if __name__ == "__main__":
    main()
