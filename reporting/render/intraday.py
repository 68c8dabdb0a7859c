"""The report's "Intraday alerts" part of section 2: each intraday episode of the period, who was
told when and who acknowledged it, with the stored rows behind it
(:mod:`reporting.checks.intraday_alerts` reads them).

Read as of the report's inputs, so ``liqrisk reproduce`` gives the same bytes: rows whose batch is
among the first ``tree_size`` leaves (a row is stored in its batch's transaction), messages,
attempts and acknowledgements up to the ids the inputs name (:class:`.AlertBounds`), delivery
states as at the generation time. Inputs without those bounds (rendered before the part existed)
give no part. The part is also left out when the limit set has no intraday limits and no row
falls in the period.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from audit_store.db import Store
from reporting.checks.intraday_alerts import AlertBounds, read_alerts
from reporting.checks.limits import LimitSet
from reporting.render.model import IntradaySection, ScopeRef


def describe_limit(name: str, minutes: int, per: str) -> str:
    """``USD liquidated over 15 minutes, per asset and exchange``."""
    what = "USD liquidated" if name.split("_")[1] == "usd" else "liquidations counted"
    window = f"{minutes} minute{'s' if minutes != 1 else ''}"
    if minutes % 60 == 0:
        window = f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    scope = "per asset across exchanges" if per == "asset" else "per asset and exchange"
    return f"{what} over {window}, {scope}"


def build_intraday(
    store: Store,
    limits: LimitSet,
    days: Sequence[date],
    *,
    tree_size: int,
    bounds: AlertBounds | None,
    as_of: datetime,
    scope_of: Callable[[str], ScopeRef],
) -> IntradaySection | None:
    """The part for ``days``, or None (no bounds in the inputs; no intraday limit and no row)."""
    if bounds is None:
        return None
    configured = tuple(
        (name, describe_limit(name, table.minutes, table.per))
        for name, table in sorted(limits.intraday.items())
    )
    with store.read_session() as session:
        alerts, failures = read_alerts(
            session, days, as_of=as_of, tree_size=tree_size, bounds=bounds
        )
        session.expunge_all()
    if not alerts and not failures and not configured:
        return None
    scopes = {a.scope: scope_of(a.scope) for a in alerts}
    return IntradaySection(alerts, scopes, configured, failures)
