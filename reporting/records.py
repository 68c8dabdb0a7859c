"""The frozen records the pipeline stages hand each other.

fetch  -> :class:`audit_store.snapshots.RawResponse` (raw bytes + request, before the store)
derive -> :class:`Derivation`: rows as :data:`IntervalValues` tuples (one asset x exchange x
          interval, UTC), or why the body was quarantined; :class:`IntervalRecord` names the fields
check  -> :class:`CheckOutcome`
Problems in data never raise: they travel as :class:`Problem` records with a source and a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Literal, NamedTuple

from audit_store.models import ALL_EXCHANGES

Status = Literal["ok", "warn", "breach", "error"]
Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Problem:
    """Something wrong in the data, collected rather than raised."""

    source: str  # where: "kaiko:btc page 3", "snapshot 12", "check daily_usd BTC"
    message: str
    severity: Severity = "warning"


@dataclass(frozen=True, slots=True)
class IntervalRecord:
    """Liquidations of one asset on one exchange (or all, ``ALL_EXCHANGES``) in one interval."""

    source: str
    asset: str
    exchange: str
    interval_start: datetime  # aware, UTC
    interval_seconds: int
    long_count: int
    short_count: int
    total_count: int
    long_usd: float
    short_usd: float
    total_usd: float

    @property
    def is_total(self) -> bool:
        return self.exchange == ALL_EXCHANGES

    def as_values(self) -> tuple[Any, ...]:
        """The values in field order, which is :data:`IntervalValues` order (a record is built as
        ``IntervalRecord(*values)``): ``dataclasses.astuple`` without its deep copies."""
        return tuple(getattr(self, f.name) for f in fields(self))

    def as_row(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "asset": self.asset,
            "exchange": self.exchange,
            "interval_start": self.interval_start,
            "interval_seconds": self.interval_seconds,
            "long_count": self.long_count,
            "short_count": self.short_count,
            "total_count": self.total_count,
            "long_usd": self.long_usd,
            "short_usd": self.short_usd,
            "total_usd": self.total_usd,
        }


IntervalValues = tuple[str, str, str, datetime, int, int, int, int, float, float, float]
"""One interval row as values in :data:`audit_store.snapshots.INTERVAL_VALUE_FIELDS` order (the
fields of :class:`IntervalRecord`): what a parser makes and the store keeps."""


@dataclass(frozen=True)
class Derivation:
    """What a raw body yields: its rows, or why it was quarantined, plus any problems seen.

    The rows are ``values``, plain tuples in :data:`IntervalValues` order: the form the store
    inserts and verify compares, built straight from the body with no object per row (the hot path
    of every fetch). ``records`` is the same rows as :class:`IntervalRecord`, built on first use.
    """

    values: tuple[IntervalValues, ...]
    quarantine_reason: str | None = None
    problems: tuple[Problem, ...] = ()
    next_url: str | None = None
    continuation_token: str | None = None

    @cached_property
    def records(self) -> tuple[IntervalRecord, ...]:
        return tuple(IntervalRecord(*v) for v in self.values)


@dataclass(frozen=True)
class FetchSummary:
    source: str
    asset: str
    pages: int
    rows: int
    quarantined: int
    snapshot_ids: tuple[int, ...]
    problems: tuple[Problem, ...] = ()
    already_stored: bool = False  # nothing asked for: the watermark covers the range


@dataclass(frozen=True)
class CheckOutcome:
    """One check on one scope for one day, before it is stored."""

    check: str
    scope: str
    day: date
    observed: float | None
    warn_at: float | None
    limit: float | None
    status: Status
    message: str
    evidence: tuple[str, ...] = field(default=())  # SHA-256 of the snapshots it rests on

    @property
    def pct_of_limit(self) -> float | None:
        if self.observed is None or not self.limit:
            return None
        return 100.0 * self.observed / self.limit


# -- liquidation volumes, the unit every stage counts in

HOUR = 3600
DAY = 86400


class Volumes(NamedTuple):
    """Counts and USD of one interval, exchange or day. A named tuple rather than a dataclass:
    a year's backtest makes a few hundred thousand, and a tuple is made at a fifth of the cost."""

    long_count: int = 0
    short_count: int = 0
    total_count: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0
    total_usd: float = 0.0

    def __add__(self, other: Volumes) -> Volumes:  # type: ignore[override]  # not concatenation
        return Volumes(
            self.long_count + other.long_count,
            self.short_count + other.short_count,
            self.total_count + other.total_count,
            self.long_usd + other.long_usd,
            self.short_usd + other.short_usd,
            self.total_usd + other.total_usd,
        )

    @property
    def average_usd(self) -> float | None:
        return self.total_usd / self.total_count if self.total_count else None

    @property
    def long_share(self) -> float | None:
        return self.long_usd / self.total_usd if self.total_usd else None


def sum_volumes(items: Iterable[Volumes]) -> Volumes:
    """The sum of ``items``, added in order (the same floats as ``sum(items, Volumes())``) into
    one record instead of one per step."""
    lc = sc = tc = 0
    lu = su = tu = 0.0
    for v in items:
        lc += v.long_count
        sc += v.short_count
        tc += v.total_count
        lu += v.long_usd
        su += v.short_usd
        tu += v.total_usd
    return Volumes(lc, sc, tc, lu, su, tu)


@dataclass(frozen=True)
class Interval:
    """One interval's current figures: the total, the per-exchange breakdown, and the SHA-256s of
    the snapshots they rest on (one for an interval-volume source; every frame batch holding one of
    its events for the streams). Where several sources were combined, ``fed_by`` names the source
    of each exchange's figures and ``exchange_evidence`` the snapshots of each exchange's figures
    (``None``: all of them rest on ``evidence``, from the period's one source)."""

    start: datetime
    volumes: Volumes
    by_exchange: dict[str, Volumes]
    evidence: tuple[str, ...]
    fed_by: dict[str, str] | None = None
    exchange_evidence: dict[str, tuple[str, ...]] | None = None

    def evidence_of(self, exchange: str) -> tuple[str, ...]:
        """The SHA-256s of the snapshots holding ``exchange``'s figures of this interval (none
        when the interval has no figure for it)."""
        if exchange not in self.by_exchange:
            return ()
        if self.exchange_evidence is None:
            return self.evidence
        return self.exchange_evidence.get(exchange, ())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)
