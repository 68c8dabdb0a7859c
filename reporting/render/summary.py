"""The executive summary: the shape of a period's results, for a two-minute read.

An officer reads the first page to learn how bad the day was and where: a headline (how many
breaches and warnings, across which assets and checks, the worst by observed / limit), an asset x
check matrix (each cell the worst status of that check on that asset, with observed as a multiple
of the limit), the five most severe results, what is new since the day before, what is still open
and what nobody has acknowledged. Every finding stays in the detailed sections; nothing here is
computed that the stored results did not decide: statuses, lifecycles and acknowledgements are
the check run's own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

from reporting.checks.catalogue import CATALOGUE_ORDER, CHECK_TITLES
from reporting.render.model import (
    Finding,
    MatrixCell,
    ScopeGroup,
    StatusMatrix,
    Summary,
)

TOP = 5
"""How many of the most severe results the summary names."""

SHORT_TITLES = {
    "coverage": "Coverage",
    "gaps": "Gaps",
    "staleness": "Staleness",
    "reconciliation": "Second source",
    "daily_usd": "Day USD",
    "velocity_usd": "1 h USD",
    "velocity_count": "1 h count",
    "velocity_2h_usd": "2 h USD",
    "velocity_2h_count": "2 h count",
    "imbalance": "Imbalance",
    "funding_swing": "Funding swing",
    "oi_change": "OI change",
    "daily_usd_exchange": "Day USD per exch.",
    "velocity_usd_exchange": "1 h USD per exch.",
    "velocity_count_exchange": "1 h count per exch.",
    "concentration": "Concen\u00adtration",
    "dq_missing_intervals": "DQ missing",
    "dq_exchange_sums": "DQ exch. sums",
    "dq_long_short": "DQ long + short",
    "dq_stale": "DQ stale",
    "dq_quarantined": "DQ quarantined",
    "dq_corrections": "DQ corrections",
    "dq_data_version": "DQ data version",
    "dq_reconcile_okx": "DQ vs OKX",
    "dq_stream_coverage": "DQ streams",
    "dq_stream_reconcile": "DQ stream vs source",
}
"""Column heads of the matrix: the full titles are in the findings table and the methodology."""

_RANK = {"breach": 0, "warn": 1, "error": 2, "ok": 3, "": 4}


def short_title(check: str) -> str:
    return SHORT_TITLES.get(check, check.replace("_", " "))


def _check_order(check: str) -> tuple[int, str]:
    return (CATALOGUE_ORDER.get(check, len(CATALOGUE_ORDER)), check)


def _severity(f: Finding) -> tuple[int, float, str, str]:
    return (_RANK.get(f.status, 9), -(f.multiple or 0.0), f.check, f.scope.raw)


def build_summary(
    assets: Sequence[str],
    findings: Sequence[Finding],
    results: Sequence[Finding],
    day: date,
) -> Summary:
    """The summary of ``findings`` (breach, warn, error) among ``results`` (every result, with
    its lifecycle), for the report ending on ``day``. ``assets`` are the configured assets, in
    their configured order: the matrix shows each of them even when all its checks passed."""
    flagged = [f for f in findings if f.status in ("breach", "warn")]
    breaches = [f for f in findings if f.status == "breach"]
    ranked = sorted(flagged, key=_severity)
    configured = {a.upper() for a in assets}
    assets_flagged = tuple(
        dict.fromkeys(f.scope.asset for f in ranked if f.scope.asset in configured)
    )
    checks = sorted({f.check for f in flagged}, key=_check_order)
    on_day = [f for f in breaches if f.day == day]
    new = [f for f in on_day if f.lifecycle == "new"]
    still_open = [f for f in on_day if f.lifecycle == "ongoing"]
    resolved = [f for f in results if f.day == day and f.lifecycle == "resolved"]
    return Summary(
        assets_flagged=assets_flagged,
        checks_flagged=tuple(CHECK_TITLES.get(c, c) for c in checks),
        worst=ranked[0] if ranked else None,
        matrix=_matrix(assets, findings, results),
        top=tuple(ranked[:TOP]),
        new=_groups(new),
        still_open=_groups(still_open),
        resolved=_groups(resolved),
        new_count=len(new),
        still_open_count=len(still_open),
        resolved_count=len(resolved),
        unacknowledged=sum(1 for f in breaches if not f.acknowledged_by),
        breaches=len(breaches),
    )


def _matrix(
    assets: Sequence[str], findings: Sequence[Finding], results: Sequence[Finding]
) -> StatusMatrix:
    """Assets x checks with any breach, warning or error; each cell the worst result behind it."""
    columns = sorted({f.check for f in findings}, key=_check_order)
    configured = [a.upper() for a in assets]
    others = sorted({f.scope.asset for f in findings} - set(configured))
    rows = [*configured, *others]
    worst: dict[tuple[str, str], Finding] = {}
    count: dict[tuple[str, str], int] = defaultdict(int)
    for f in results:
        key = (f.scope.asset, f.check)
        if f.status != "ok":
            count[key] += 1
        held = worst.get(key)
        if held is None or _severity(f) < _severity(held):
            worst[key] = f
    cells = []
    for row in rows:
        line = []
        for check in columns:
            key = (row, check)
            cell = worst.get(key)
            if cell is None:
                line.append(MatrixCell("", None, 0))
            else:
                multiple = cell.multiple if cell.status in ("breach", "warn", "ok") else None
                line.append(MatrixCell(cell.status, multiple, count[key]))
        cells.append(tuple(line))
    return StatusMatrix(
        rows=tuple(rows),
        columns=tuple(columns),
        labels=tuple(short_title(c) for c in columns),
        cells=tuple(cells),
    )


def _groups(findings: Iterable[Finding]) -> tuple[ScopeGroup, ...]:
    """One group per check, in catalogue order; scopes in the order of the findings."""
    by_check: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_check[f.check].append(f)
    groups = []
    for check in sorted(by_check, key=_check_order):
        members = by_check[check]
        starts = [f.since for f in members if f.since is not None]
        groups.append(
            ScopeGroup(
                title=CHECK_TITLES.get(check, check),
                scopes=tuple(dict.fromkeys(f.scope.raw for f in members)),
                since=min(starts) if starts else None,
            )
        )
    return tuple(groups)
