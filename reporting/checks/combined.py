"""A combined liquidation source (``fetch.default_source = ["streams", "kaiko"]``): per asset,
exchange and UTC day, the figures of the first listed source that holds the exchange that day.

So ``["streams", "kaiko"]`` reads Binance, Bybit and OKX from their own streams and every other
exchange from Kaiko, and ``["kaiko", "streams"]`` reads Kaiko wherever it has the venue and the
streams only for a venue (or a day) Kaiko lacks. One source per exchange and day, never a sum of
two: the same liquidation is never counted twice, and a day's figure for an exchange is never a
patchwork of hours from different feeds.

An interval's total is the sum of its chosen exchanges plus what the first interval-volume source
counts beyond its own breakdown (Kaiko's total can exceed the sum of its exchanges: that remainder
belongs to no exchange another source could stand in for). Each exchange's figures carry their
source (``Interval.fed_by``) and evidence (``Interval.exchange_evidence``), so the report says
which source fed each figure and a check cites the snapshots its figure rests on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime

from reporting.fetch.registry import VOLUME_SOURCES
from reporting.records import Interval, Volumes, sum_volumes

Part = tuple[str, Mapping[str, list[Interval]]]
"""One source's intervals, per asset: what :func:`combine` is given, in priority order."""


def combine(parts: Sequence[Part]) -> dict[str, list[Interval]]:
    """Per asset, the combined intervals of ``parts`` (source name, its intervals per asset, all
    read at the same interval), in time order."""
    assets = sorted({asset for _name, found in parts for asset in found})
    return {asset: _combine_asset([(n, f.get(asset, [])) for n, f in parts]) for asset in assets}


def _combine_asset(parts: Sequence[tuple[str, list[Interval]]]) -> list[Interval]:
    owner: dict[tuple[date, str], str] = {}
    at: dict[str, dict[datetime, Interval]] = {}
    for name, intervals in parts:  # in priority order: the first holding an exchange owns it
        at[name] = {i.start: i for i in intervals}
        for interval in intervals:
            for code in interval.by_exchange:
                owner.setdefault((interval.start.date(), code), name)
    remainder_from = next((n for n, _i in parts if n in VOLUME_SOURCES), None)
    moments = sorted({m for found in at.values() for m in found})
    return [_combined(moment, at, owner, remainder_from) for moment in moments]


def _combined(
    moment: datetime,
    at: Mapping[str, Mapping[datetime, Interval]],  # in priority order
    owner: Mapping[tuple[date, str], str],
    remainder_from: str | None,
) -> Interval:
    day = moment.date()
    by_exchange: dict[str, Volumes] = {}
    fed_by: dict[str, str] = {}
    evidence: dict[str, tuple[str, ...]] = {}
    for name, intervals in at.items():
        interval = intervals.get(moment)
        if interval is None:
            continue
        for code, volumes in interval.by_exchange.items():
            if owner.get((day, code)) == name:
                by_exchange[code] = volumes
                fed_by[code] = name
                evidence[code] = interval.evidence_of(code)
    total = sum_volumes(by_exchange.values())
    shas = {sha for found in evidence.values() for sha in found}
    rest = at[remainder_from].get(moment) if remainder_from else None
    if rest is not None:
        extra = _beyond_breakdown(rest)
        if any(extra):
            total += extra
            shas.update(rest.evidence)
    return Interval(
        moment,
        total,
        dict(sorted(by_exchange.items())),
        tuple(sorted(shas)),
        fed_by=fed_by,
        exchange_evidence=evidence,
    )


def _beyond_breakdown(interval: Interval) -> Volumes:
    """What ``interval``'s total counts beyond the sum of its exchanges (never below zero)."""
    parts = sum_volumes(interval.by_exchange.values())
    whole = interval.volumes
    return Volumes(
        max(0, whole.long_count - parts.long_count),
        max(0, whole.short_count - parts.short_count),
        max(0, whole.total_count - parts.total_count),
        max(0.0, whole.long_usd - parts.long_usd),
        max(0.0, whole.short_usd - parts.short_usd),
        max(0.0, whole.total_usd - parts.total_usd),
    )
