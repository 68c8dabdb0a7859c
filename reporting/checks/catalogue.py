"""The checks liqrisk knows: name, title, unit, and the scope each result is about.

A check's name is its key in ``limits.toml`` and its ``check`` in every stored result. ``level``
says what one result is about: ``asset`` (scope ``BTC``, all exchanges) or ``asset_exchange`` (scope
``BTC/binc``). ``coverage`` is the guard every run makes, with no limits of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reporting.checks.quality import CHECK_TITLES as DATA_QUALITY_TITLES
from reporting.checks.quality import CHECK_UNITS as DATA_QUALITY_UNITS
from reporting.checks.stream_quality import TITLES as STREAM_QUALITY_TITLES
from reporting.checks.stream_quality import UNITS as STREAM_QUALITY_UNITS

Unit = Literal["usd", "count", "pct", "bps", "hours", "intervals"]
Level = Literal["asset", "asset_exchange"]
Kind = Literal["data", "market", "overlay"]


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    unit: Unit
    level: Level
    kind: Kind
    calibrate: bool  # whether `liqrisk limits calibrate` proposes values for it


_SPECS = (
    CheckSpec(
        "coverage", "Data coverage (intervals received)", "intervals", "asset", "data", False
    ),
    CheckSpec("gaps", "Data gaps (hourly intervals missing)", "count", "asset", "data", False),
    CheckSpec("staleness", "Data staleness (hours behind)", "hours", "asset", "data", False),
    CheckSpec(
        "reconciliation", "Reconciliation with a second source (%)", "pct", "asset", "data", False
    ),
    CheckSpec("daily_usd", "Daily liquidations (USD)", "usd", "asset", "market", True),
    CheckSpec("velocity_usd", "Velocity: largest hour (USD)", "usd", "asset", "market", True),
    CheckSpec(
        "velocity_count", "Velocity: largest hour (liquidations)", "count", "asset", "market", True
    ),
    CheckSpec(
        "velocity_2h_usd", "Velocity: largest two hours (USD)", "usd", "asset", "market", True
    ),
    CheckSpec(
        "velocity_2h_count",
        "Velocity: largest two hours (liquidations)",
        "count",
        "asset",
        "market",
        True,
    ),
    CheckSpec(
        "imbalance",
        "Long/short imbalance (dominant side, % of USD)",
        "pct",
        "asset",
        "market",
        True,
    ),
    CheckSpec("funding_swing", "Funding-rate swing (bps per 8h)", "bps", "asset", "overlay", True),
    CheckSpec(
        "oi_change", "Open-interest change (% day over day)", "pct", "asset", "overlay", True
    ),
    CheckSpec(
        "daily_usd_exchange",
        "Daily liquidations per exchange (USD)",
        "usd",
        "asset_exchange",
        "market",
        True,
    ),
    CheckSpec(
        "velocity_usd_exchange",
        "Velocity per exchange: largest hour (USD)",
        "usd",
        "asset_exchange",
        "market",
        True,
    ),
    CheckSpec(
        "velocity_count_exchange",
        "Velocity per exchange: largest hour (liquidations)",
        "count",
        "asset_exchange",
        "market",
        True,
    ),
    CheckSpec(
        "concentration",
        "Exchange concentration (% of the asset's USD)",
        "pct",
        "asset_exchange",
        "market",
        True,
    ),
)

CATALOGUE: dict[str, CheckSpec] = {spec.name: spec for spec in _SPECS}
CATALOGUE_ORDER: dict[str, int] = {spec.name: n for n, spec in enumerate(_SPECS)}
"""A check's place in the catalogue, to list results and proposals in the same order."""
CHECK_TITLES: dict[str, str] = {
    **{spec.name: spec.title for spec in _SPECS},
    **DATA_QUALITY_TITLES,  # ungraded data-quality results stored beside the limit checks
    **STREAM_QUALITY_TITLES,
}
CHECK_UNITS: dict[str, Unit] = {spec.name: spec.unit for spec in _SPECS}
RESULT_UNITS: dict[str, str] = {**CHECK_UNITS, **DATA_QUALITY_UNITS, **STREAM_QUALITY_UNITS}
"""The unit of every stored result's observed value, limit checks and data quality alike."""


def format_value(value: float, unit: str) -> str:
    """A figure in its unit for messages: ``$1,234``, ``1,234``, ``81.2%``, ``8.0 bps``, ``3 h``."""
    if unit == "usd":
        return f"${value:,.0f}"
    if unit == "pct":
        return f"{value:.1f}%"
    if unit == "bps":
        return f"{value:.1f} bps"
    if unit == "hours":
        return f"{value:g} h"
    return f"{value:,.0f}"
