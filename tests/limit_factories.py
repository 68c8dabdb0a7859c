"""Factories for the limit framework's tests: limit sets, settings with them, and asset days.

``asset_day`` builds the records :func:`reporting.checks.metrics.load_period` would return, in
memory, so metric and grading tests need no store; store-backed tests use
:func:`tests.factories.store_hours`, and :func:`keep` for the overlay tables (:func:`funding`,
:func:`oi` rows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from audit_store.db import Store
from audit_store.snapshots import RawResponse, append_snapshot, new_snapshot
from audit_store.tables_ingest import append_derived_rows
from reporting.checks.limits import LimitSet
from reporting.checks.metrics import AssetDay, Interval, Volumes, assemble_day, day_bounds
from reporting.config import Settings

DAY = date(2025, 11, 3)
H0 = datetime(2025, 11, 3, tzinfo=UTC)

Hours = Mapping[datetime, Mapping[str, tuple[int, float, int, float]]]
"""interval start -> exchange code -> (long count, long USD, short count, short USD)"""


def hour(h: int, day: date = DAY) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=h)


def make_limits(**tables: Any) -> LimitSet:
    """A validated limit set from tables given as in ``limits.toml``."""
    return LimitSet.model_validate(tables)


def with_limits(
    settings: Settings, limits: LimitSet, assets: tuple[str, ...] | None = None
) -> Settings:
    """``settings`` with another limit set (and asset list)."""
    update: dict[str, Any] = {"limits": limits}
    if assets is not None:
        update["fetch"] = settings.fetch.model_copy(update={"assets": assets})
    return settings.model_copy(update=update)


def vols(lc: int, lu: float, sc: int, su: float) -> Volumes:
    return Volumes(lc, sc, lc + sc, lu, su, lu + su)


def asset_day(
    asset: str, hours: Hours, *, day: date = DAY, source: str = "demo", sha: str = "s"
) -> AssetDay:
    """One asset's day as :func:`load_period` assembles it; snapshot SHA ``{sha}{hour}``."""
    intervals = []
    for moment, exchanges in sorted(hours.items()):
        per = {code: vols(*v) for code, v in sorted(exchanges.items())}
        total = sum(per.values(), Volumes())
        intervals.append(Interval(moment, total, per, (f"{sha}{moment.hour:02d}",)))
    return assemble_day(asset.upper(), source, *day_bounds(day), 3600, intervals)


def flat_day(
    per_hour: Mapping[str, float], *, day: date = DAY, skip: tuple[int, ...] = ()
) -> dict[datetime, dict[str, tuple[int, float, int, float]]]:
    """Every hour the same: each exchange ``usd`` split evenly long/short, one of each."""
    return {
        hour(h, day): {code: (1, usd / 2, 1, usd / 2) for code, usd in per_hour.items()}
        for h in range(24)
        if h not in skip
    }


def result(results: list[Any], check: str, scope: str) -> Any:
    """The one result of ``check`` on ``scope``."""
    (hit,) = [r for r in results if r.check == check and r.scope == scope]
    return hit


def keep(store: Store, table: str, rows: Sequence[dict[str, Any]]) -> str:
    """One snapshot holding ``rows`` of an overlay table; returns its body's SHA-256."""
    raw = RawResponse(
        source="binance", kind=f"test.{table}", url=f"https://api.invalid/{table}", params={},
        fetched_at=hour(23) + timedelta(days=2), http_status=200,
        body=json.dumps(rows, default=str).encode(),
    )  # fmt: skip
    with store.session() as session:
        snapshot = new_snapshot(raw, software_version="test", config_hash="test")
        append_snapshot(session, snapshot)
        append_derived_rows(session, snapshot, table, rows)
        return snapshot.body_sha256


def funding(exchange: str, instrument: str, at: datetime, rate: float) -> dict[str, Any]:
    return {"source": "binance", "exchange": exchange, "asset": "BTC", "instrument": instrument,
            "quote": "USDT", "funding_time": at, "funding_rate": rate, "realized_rate": None,
            "mark_price": None}  # fmt: skip


def oi(exchange: str, at: datetime, usd: float) -> dict[str, Any]:
    return {"source": "binance", "exchange": exchange, "asset": "BTC", "instrument": "BTCUSDT",
            "quote": "USDT", "ts": at, "period_seconds": 3600, "oi_contracts": None,
            "oi_base": None, "oi_usd": usd}  # fmt: skip
