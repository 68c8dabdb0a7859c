"""The data embedded in the PDF: the asset x exchange table as CSV, the check results as JSON.

A printed figure can only be re-typed; an attached one can be loaded and compared with the store.
Numbers are written at full precision (``repr`` of the float), not as printed.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reporting.render.formatting import iso_utc
from reporting.render.model import MarketRow, ReportModel
from reporting.render.pdf import AttachmentFile

CSV_COLUMNS = (
    "period",
    "source",
    "asset",
    "exchange_code",
    "exchange_name",
    "jurisdiction",
    "known_exchange",
    "liquidations",
    "long_liquidations",
    "short_liquidations",
    "usd",
    "long_usd",
    "short_usd",
    "average_usd",
    "long_share_usd",
    "funding_rate_8h",
    "open_interest_usd",
)


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _csv_row(report: ReportModel, row: MarketRow) -> list[str]:
    ex = row.exchange
    return [
        report.period_label,
        report.source,
        row.asset,
        ex.code if ex else "*",
        ex.name if ex else "All exchanges",
        ex.jurisdiction if ex else "",
        ("yes" if ex.known else "no") if ex else "",
        str(row.count),
        str(row.long_count),
        str(row.short_count),
        _number(row.usd),
        _number(row.long_usd),
        _number(row.short_usd),
        _number(row.average_usd),
        _number(row.long_share),
        _number(row.funding_rate_8h),
        _number(row.open_interest_usd),
    ]


def markets_csv(report: ReportModel) -> bytes:
    """The asset x exchange table: one all-exchange row (``*``) per asset, then its exchanges."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for market in report.markets:
        writer.writerow(_csv_row(report, market.total))
        for row in market.exchanges:
            writer.writerow(_csv_row(report, row))
    return out.getvalue().encode("utf-8")


def results_json(report: ReportModel) -> bytes:
    """Every stored check result the report rests on, with the runs that produced them."""
    doc: dict[str, Any] = {
        "report": {
            "firm": report.firm_name,
            "period": report.period_label,
            "days": [d.isoformat() for d in report.days],
            "source": report.source,
            "status": report.badge,
            "generated_at": iso_utc(report.generated_at),
        },
        "runs": [
            {
                "id": run.id,
                "day": run.day.isoformat(),
                "started_at": iso_utc(run.started_at),
                "limit_set_sha256": run.limit_set_sha256,
                "config_hash": run.config_hash,
                "software_version": run.software_version,
            }
            for run in report.provenance.runs
        ],
        "results": [
            {
                "run_id": r.run_id,
                "id": r.result_id,
                "day": r.day.isoformat(),
                "check": r.check,
                "scope": r.scope,
                "observed": r.observed,
                "warn_at": r.warn_at,
                "limit": r.limit,
                "pct_of_limit": r.pct_of_limit,
                "status": r.status,
                "message": r.message,
                "evidence_sha256": list(r.evidence),
            }
            for r in report.results
        ],
    }
    return (json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def report_attachments(report: ReportModel, stem: str) -> tuple[AttachmentFile, ...]:
    return (
        AttachmentFile(
            name=f"{stem}-assets-exchanges.csv",
            data=markets_csv(report),
            description=f"Liquidations by asset and exchange, {report.period_label} (CSV)",
        ),
        AttachmentFile(
            name=f"{stem}-check-results.json",
            data=results_json(report),
            description=f"Stored check results, {report.period_label} (JSON)",
        ),
    )
