"""The sources liqrisk can fetch from, and what each gives: the one list config and CLI read.

This module imports nothing of liqrisk's, so the config (which validates source names against it)
and the clients (which take config types) never import each other through it.
"""

from __future__ import annotations

VOLUME_SOURCES = ("demo", "kaiko")
"""The sources of Kaiko-format liquidation volumes, fetched as hourly interval volumes."""
STREAMS = "streams"
"""The live exchange streams (:mod:`reporting.fetch.streams`): collected, never fetched."""
SOURCES = (*VOLUME_SOURCES, STREAMS)
"""The liquidation sources the checks and the report can read."""
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
OVERLAY_SOURCES: dict[str, tuple[str, ...]] = {
    "demo": (),
    "kaiko": ("binance", "okx"),
    STREAMS: ("binance", "okx"),
}
"""The daily job's context for a liquidation source: funding, open interest, the OKX cross-check
(the demo source carries its own funding and open interest)."""


def snapshot_label(source: str, dataset: str) -> str:
    """The ``source`` of a fetched page's snapshot: a liquidation-volume source's bare name (what
    the checks read by), ``source:dataset`` for everything else."""
    return (
        source if dataset == "liquidations" and source in VOLUME_SOURCES else f"{source}:{dataset}"
    )


JOIN = "+"
"""What joins the parts of a combined source's name: ``"streams+kaiko"``."""


def source_parts(source: str) -> tuple[str, ...]:
    """The sources a (possibly combined) source name reads, in priority order."""
    return tuple(source.split(JOIN))


def volume_parts(source: str) -> tuple[str, ...]:
    """The parts of ``source`` fetched as interval volumes (not the streams)."""
    return tuple(p for p in source_parts(source) if p in VOLUME_SOURCES)


def source_problem(source: str) -> str | None:
    """Why ``source`` is not a liquidation source the checks can read, or ``None`` when it is:
    one of :data:`SOURCES`, or several of them joined by ``+`` (each once; the demo data set is
    fictional and is never combined with real figures)."""
    parts = source_parts(source)
    unknown = [p for p in parts if p not in SOURCES]
    if unknown:
        return f"unknown source {unknown[0]!r}; choose from {', '.join(SOURCES)}"
    if len(set(parts)) < len(parts):
        return f"source {source!r} names a source twice"
    if len(parts) > 1 and "demo" in parts:
        return "the demo data set is fictional: it is not combined with other sources"
    return None


def daily_sources(source: str) -> tuple[str, ...]:
    """What the daily job of a (possibly combined) liquidation source fetches: each part that is
    fetched, then their overlays, each once. The streams are collected, not fetched: only their
    overlays are."""
    parts = source_parts(source)
    fetched = [p for p in parts if p != STREAMS]
    overlays = [s for p in parts for s in OVERLAY_SOURCES.get(p, ())]
    return tuple(dict.fromkeys((*fetched, *overlays)))
