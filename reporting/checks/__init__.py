"""Check stage: day metrics against the limit set, stored as results with their evidence.

Every configured check on every scope yields exactly one result: ``ok``, ``warn``, ``breach``, or
``error`` when it could not be computed (no data, no second source, no overlay data, or the check
itself failed: a crashing check becomes an ``error`` result, never a dead run). Results are stored
with the SHA-256 of the limit set in force, a detail row (unit, the scope the threshold came from,
the figures behind the value, the breach lifecycle) and, later, acknowledgements.

* :mod:`.catalogue` the checks, their titles and units;
* :mod:`.measures`  the metrics as pure functions, and the methodology;
* :mod:`.overlays`  the funding-rate and open-interest interface;
* :mod:`.engine`    measuring a day and grading it against the limits;
* :mod:`.store`     runs, lifecycle, acknowledgements and limit-set history in the audit store;
* :mod:`.backtest`  replaying stored history against a candidate limit set.
"""

from __future__ import annotations

from reporting.checks.catalogue import CATALOGUE, CHECK_TITLES, CHECK_UNITS, format_value
from reporting.checks.engine import (
    MEASURES,
    CheckContext,
    LimitOutcome,
    Measurement,
    evaluate,
    grade_value,
)
from reporting.checks.overlays import (
    NO_OVERLAYS,
    FundingPoint,
    OpenInterestPoint,
    Overlays,
)
from reporting.checks.store import (
    LimitVersion,
    StoredRun,
    acknowledge,
    acknowledgements,
    latest_run,
    limit_history,
    limit_set_hash,
    limit_set_sha256,
    run_checks,
    verify_acknowledgements,
)

__all__ = [
    "CATALOGUE",
    "CHECK_TITLES",
    "CHECK_UNITS",
    "MEASURES",
    "NO_OVERLAYS",
    "CheckContext",
    "FundingPoint",
    "LimitOutcome",
    "LimitVersion",
    "Measurement",
    "OpenInterestPoint",
    "Overlays",
    "StoredRun",
    "acknowledge",
    "acknowledgements",
    "evaluate",
    "format_value",
    "grade_value",
    "latest_run",
    "limit_history",
    "limit_set_hash",
    "limit_set_sha256",
    "run_checks",
    "verify_acknowledgements",
]
