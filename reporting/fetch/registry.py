"""The sources liqrisk can fetch from, and what each gives: the one list config and CLI read.

This module imports nothing of liqrisk's, so the config (which validates source names against it)
and the clients (which take config types) never import each other through it.
"""

from __future__ import annotations

SOURCES = ("demo", "kaiko")
"""The sources of Kaiko-format liquidation volumes (what the checks and the report read)."""
FETCH_SOURCES = ("demo", "kaiko", "binance", "okx")
"""Every source ``liqrisk fetch`` can pull from."""
DATASETS: dict[str, tuple[str, ...]] = {
    "demo": ("liquidations", "funding", "open_interest"),
    "kaiko": ("liquidations",),
    "binance": ("funding", "open_interest"),
    "okx": ("funding", "open_interest", "liquidations"),
}
"""What each source can fetch."""
DEFAULT_DATASETS: dict[str, tuple[str, ...]] = dict(DATASETS)
"""What ``fetch`` takes from a source when no dataset is named."""
OVERLAY_SOURCES: dict[str, tuple[str, ...]] = {"demo": (), "kaiko": ("binance", "okx")}
"""The daily job's context for a liquidation source: funding, open interest, the OKX cross-check
(the demo source carries its own funding and open interest)."""


def daily_sources(source: str) -> tuple[str, ...]:
    """What the daily job of a liquidation source reads: the source, then its overlays."""
    return (source, *OVERLAY_SOURCES.get(source, ()))
