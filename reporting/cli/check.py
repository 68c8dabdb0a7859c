"""``liqrisk check``: run a day's checks against the limit set and store the results."""

from __future__ import annotations

from datetime import date
from typing import Any

import typer

from reporting.cli.common import (
    DateOption,
    JsonOption,
    SourceOption,
    app_settings,
    open_store,
    parse_day,
    print_json,
    result_json,
    source_settings,
    warn_no_data,
)

MEASURED = (
    "liquidations_usd",
    "long_usd",
    "short_usd",
    "liquidations_count",
    "long_count",
    "short_count",
)


def _metrics_json(metrics: dict[str, Any], day: date) -> dict[str, Any]:
    """Each asset's figures; an asset the source has no figures for gets ``null`` for each (a
    zero would read as a measured zero), with ``status`` ``error`` and the reason."""
    out: dict[str, Any] = {}
    for asset, m in metrics.items():
        if not m.intervals:
            out[asset] = {
                "source": m.source,
                "status": "error",
                "reason": f"no data for {asset} from {m.source} on {day}",
                **dict.fromkeys(MEASURED),
                "by_exchange": None,
                "intervals_expected": m.intervals_expected,
                "intervals_received": 0,
            }
            continue
        out[asset] = {
            "source": m.source,
            "status": "ok",
            "reason": None,
            "liquidations_usd": m.totals.total_usd,
            "long_usd": m.totals.long_usd,
            "short_usd": m.totals.short_usd,
            "liquidations_count": m.totals.total_count,
            "long_count": m.totals.long_count,
            "short_count": m.totals.short_count,
            "by_exchange": {code: v.total_usd for code, v in m.by_exchange.items()},
            "intervals_expected": m.intervals_expected,
            "intervals_received": m.intervals_received,
        }
    return out


def check(date_: DateOption, source: SourceOption = "", as_json: JsonOption = False) -> None:
    """Run every check for a day against the configured limits and store the results.

    Exits 0 when the checks ran, whatever they found. An asset the source holds no figures for
    gets error results, and a warning on stderr names the sources that hold that day.
    """
    from reporting.checks.store import run_checks

    settings, chosen = source_settings(app_settings(), source)
    day = parse_day(date_)
    store = open_store(settings)
    metrics, stored = run_checks(store, settings, day, source=chosen)
    warn_no_data(store, settings, day, metrics)
    if as_json:
        print_json(
            {
                "date": day.isoformat(),
                "run": {
                    "id": stored.run.id,
                    "limit_set_sha256": stored.run.limit_set_sha256,
                    "config_hash": stored.run.config_hash,
                },
                "source": chosen,
                "metrics": _metrics_json(metrics, day),
                "results": [{**result_json(r), **stored.extras_json(r)} for r in stored.results],
            }
        )
        return
    counts: dict[str, int] = {}
    for r in stored.results:
        counts[r.status] = counts.get(r.status, 0) + 1
        if r.status != "ok":
            typer.echo(f"{r.status.upper():7} {r.check:20} {r.scope:14} {r.message}")
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("breach", "warn", "error", "ok"))
    typer.echo(f"checks for {day}: {summary} (run {stored.run.id})")
