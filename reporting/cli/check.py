"""``liqrisk check``: run a day's checks against the limit set and store the results."""

from __future__ import annotations

from typing import Any

import typer

from reporting.cli.common import (
    DateOption,
    JsonOption,
    app_settings,
    open_store,
    parse_day,
    print_json,
    result_json,
)


def _metrics_json(metrics: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for asset, m in metrics.items():
        out[asset] = {
            "source": m.source,
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


def check(date_: DateOption, as_json: JsonOption = False) -> None:
    """Run every check for a day against the configured limits and store the results.

    Exits 0 when the checks ran, whatever they found.
    """
    from reporting.checks.store import run_checks

    settings = app_settings()
    day = parse_day(date_)
    store = open_store(settings)
    metrics, stored = run_checks(store, settings, day)
    if as_json:
        print_json(
            {
                "date": day.isoformat(),
                "run": {
                    "id": stored.run.id,
                    "limit_set_sha256": stored.run.limit_set_sha256,
                    "config_hash": stored.run.config_hash,
                },
                "metrics": _metrics_json(metrics),
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
