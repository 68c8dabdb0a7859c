"""Factories for the limit framework's tests: limit sets, settings with them, and asset days.

``asset_day`` builds the records :func:`reporting.metrics.load_period` would return, in memory, so
metric and grading tests need no store; store-backed tests use :func:`tests.factories.store_hours`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from reporting.config import Settings
from reporting.limits import LimitSet
from reporting.metrics import AssetDay, Interval, Volumes, day_bounds

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
    start, end = day_bounds(day)
    intervals = []
    for moment, exchanges in sorted(hours.items()):
        per = {code: vols(*v) for code, v in sorted(exchanges.items())}
        total = sum(per.values(), Volumes())
        intervals.append(Interval(moment, total, per, f"{sha}{moment.hour:02d}"))
    totals = sum((i.volumes for i in intervals), Volumes())
    by_exchange: dict[str, Volumes] = {}
    for interval in intervals:
        for code, v in interval.by_exchange.items():
            by_exchange[code] = by_exchange.get(code, Volumes()) + v
    return AssetDay(
        asset=asset.upper(),
        source=source,
        start=start,
        end=end,
        interval_seconds=3600,
        intervals=tuple(intervals),
        totals=totals,
        by_exchange=dict(sorted(by_exchange.items(), key=lambda kv: -kv[1].total_usd)),
        evidence=tuple(sorted({i.snapshot_sha256 for i in intervals})),
    )


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
