"""The measures of intraday limits: one window's value, computed from the minute sums it covers.

An intraday window ends at a minute ``end`` (inclusive, the batch's newest minute live, each minute
in a backtest) and covers the scope's ``stream_minute`` sums (long and short USD and counts of
counted events, summed across batches, and across venues for ``per = "asset"``):

========================  ===========  ===========================================================
table                     measure      window and value
========================  ===========  ===========================================================
``velocity_usd_<w>``      ``usd``      minutes ``end - w + 1 .. end``; USD liquidated
``velocity_count_<w>``    ``count``    the same minutes; liquidations
``exposure_usd_day``      ``exposure`` 00:00 UTC of ``end``'s day .. ``end``; USD liquidated. It
                                       starts again at midnight. ``window_minutes`` of its results
                                       is the minutes from midnight to the end of ``end``
                                       (``end - 00:00`` + 1, so 1..1440), the window's real length
``imbalance_<w>``         ``imbalance`` minutes ``end - w + 1 .. end``; the dominant side's share of
                                       the window's USD in percent, 50 (balanced) to 100, as the
                                       daily ``imbalance`` check measures a day (the same wording:
                                       "long liquidations 81.2% of $2,400,000"). Graded only when
                                       the window's USD reaches the table's ``min_usd``; under it
                                       the window has *not enough volume* (value 50 with no USD).
========================  ===========  ===========================================================

Each measure is one small function from a :class:`WindowSums` (arrays: one element per window) to
:class:`Values`, so the same function grades a live batch's few windows and a backtest's every
minute. :class:`MinuteSeries` holds a scope's minutes densely and gives the window sums of any
set of window ends by differences of one running (prefix) sum, never by re-summing a window.

:func:`format_measure` writes a value in its measure's words ("1,000,000 USD", "1,421
liquidations", "81.2%") for whatever shows an :class:`audit_store.tables_intraday.IntradayResult`;
:func:`measure_title` says what the measure is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from reporting.checks.catalogue import format_value
from reporting.checks.limits import IntradayImbalanceLimits, IntradayLimits
from reporting.checks.measures import imbalance

MINUTE = timedelta(minutes=1)
DAY_MINUTES = 24 * 60

Floats = NDArray[np.float64]
Sums = tuple[float, float, float, float]
"""One minute's (or window's) long USD, short USD, long count, short count."""


@dataclass(frozen=True)
class WindowSums:
    """The sums of some windows, one element per window."""

    long_usd: Floats
    short_usd: Floats
    long_count: Floats
    short_count: Floats

    @classmethod
    def of(cls, table: NDArray[np.float64]) -> WindowSums:
        """From an array of shape ``(windows, 4)`` (columns in :data:`Sums` order)."""
        return cls(table[:, 0], table[:, 1], table[:, 2], table[:, 3])

    def at(self, k: int) -> Sums:
        return (
            float(self.long_usd[k]),
            float(self.short_usd[k]),
            float(self.long_count[k]),
            float(self.short_count[k]),
        )


@dataclass(frozen=True)
class Values:
    """Each window's value, and whether it is graded (an imbalance needs ``min_usd``)."""

    value: Floats
    graded: NDArray[np.bool_]


def velocity_usd(s: WindowSums, _table: IntradayLimits) -> Values:
    """``velocity_usd_<w>``: the window's USD."""
    usd = s.long_usd + s.short_usd
    return Values(usd, np.ones(usd.shape, dtype=bool))


def velocity_count(s: WindowSums, _table: IntradayLimits) -> Values:
    """``velocity_count_<w>``: the window's liquidations."""
    count = s.long_count + s.short_count
    return Values(count, np.ones(count.shape, dtype=bool))


def exposure_usd(s: WindowSums, table: IntradayLimits) -> Values:
    """``exposure_usd_day``: the USD since midnight (the window is the day so far)."""
    return velocity_usd(s, table)


def imbalance_share(s: WindowSums, table: IntradayLimits) -> Values:
    """``imbalance_<w>``: the dominant side's share of the window's USD in percent (50 with no
    USD), graded when the window's USD reaches ``min_usd``."""
    total = s.long_usd + s.short_usd
    floor = table.min_usd if isinstance(table, IntradayImbalanceLimits) else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        long_pct = np.where(total > 0, 100.0 * s.long_usd / np.where(total > 0, total, 1.0), 50.0)
    return Values(np.maximum(long_pct, 100.0 - long_pct), (total > 0) & (total >= floor))


@dataclass(frozen=True)
class MeasureSpec:
    """What one measure is: its value function, its unit (as the catalogue's), its words."""

    name: str
    value: Callable[[WindowSums, IntradayLimits], Values]
    unit: str  # "usd" | "count" | "pct", for :func:`reporting.checks.catalogue.format_value`
    title: str
    since_midnight: bool = False  # the window starts at 00:00 UTC, not ``window`` minutes back


MEASURES: dict[str, MeasureSpec] = {
    "usd": MeasureSpec("usd", velocity_usd, "usd", "USD liquidated"),
    "count": MeasureSpec("count", velocity_count, "count", "liquidations"),
    "exposure": MeasureSpec(
        "exposure", exposure_usd, "usd", "USD liquidated since 00:00 UTC", since_midnight=True
    ),
    "imbalance": MeasureSpec(
        "imbalance",
        imbalance_share,
        "pct",
        "long/short imbalance (dominant side, % of USD)",
    ),
}


def spec_of(table: IntradayLimits) -> MeasureSpec:
    return MEASURES[table.measure]


def midnight(moment: datetime) -> datetime:
    """00:00 UTC of ``moment``'s day."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def window_first(table: IntradayLimits, end: datetime) -> datetime:
    """The first minute of ``table``'s window ending at minute ``end`` (both included)."""
    if spec_of(table).since_midnight:
        return midnight(end)
    return end - (table.minutes - 1) * MINUTE


def window_length(table: IntradayLimits, end: datetime) -> int:
    """The window's minutes: ``window`` minutes, or for exposure those since midnight (1..1440)."""
    return int((end - window_first(table, end)) / MINUTE) + 1


def format_measure(value: float, measure: str) -> str:
    """A window's value (or a level, or a difference) in its measure's words, for messages:
    ``1,000,000 USD`` (``usd``, ``exposure``), ``1,421 liquidations`` (``count``), ``81.2%``
    (``imbalance``: the dominant side's share of USD)."""
    if measure == "count":
        return f"{value:,.0f} liquidations"
    if measure == "imbalance":
        return f"{value:.1f}%"
    return f"{value:,.0f} USD"


def measure_title(measure: str) -> str:
    """What a measure is, in words: ``USD liquidated since 00:00 UTC``, ..."""
    spec = MEASURES.get(measure)
    return spec.title if spec is not None else measure


def window_note(table: IntradayLimits, sums: Sums) -> str:
    """What a result's ``detail`` says of the window itself (before the instruments behind it):
    for an imbalance the dominant side, in the daily check's words, or that the window has not
    enough volume; nothing for the other measures (their value says it all)."""
    if not isinstance(table, IntradayImbalanceLimits):
        return ""
    long_usd, short_usd = sums[0], sums[1]
    total = long_usd + short_usd
    if total < table.min_usd or total <= 0:
        return (
            f"not enough volume: {format_value(total, 'usd')} in the window, under "
            f"min_usd {format_value(table.min_usd, 'usd')}"
        )
    found = imbalance(long_usd, short_usd)
    assert found is not None
    return (
        f"{found.side} liquidations {found.dominant_pct:.1f}% of {format_value(total, 'usd')} "
        f"(long {format_value(long_usd, 'usd')}, short {format_value(short_usd, 'usd')})"
    )


@dataclass(frozen=True)
class MinuteSeries:
    """One scope's minute sums over consecutive minutes from ``first`` (zero where none)."""

    first: datetime
    sums: Floats  # shape (minutes, 4), columns in :data:`Sums` order

    @classmethod
    def of(cls, rows: Mapping[datetime, Sums], first: datetime, last: datetime) -> MinuteSeries:
        """Dense minutes ``first .. last`` from the minutes that have sums."""
        n = int((last - first) / MINUTE) + 1
        sums = np.zeros((max(n, 0), 4))
        for minute, values in rows.items():
            k = int((minute - first) / MINUTE)
            if 0 <= k < n:
                sums[k] += values
        return cls(first, sums)

    def __len__(self) -> int:
        return int(self.sums.shape[0])

    def minute(self, k: int) -> datetime:
        return self.first + k * MINUTE

    def index(self, minute: datetime) -> int:
        return int((minute - self.first) / MINUTE)

    def first_indices(self, table: IntradayLimits, ends: NDArray[np.int64]) -> NDArray[np.int64]:
        """The index of each window's first minute (negative: before the series starts)."""
        if spec_of(table).since_midnight:
            offset = int((self.first - midnight(self.first)) / MINUTE)  # since its midnight
            return ((offset + ends) // DAY_MINUTES) * DAY_MINUTES - offset
        return ends - (table.minutes - 1)

    def windows(self, table: IntradayLimits, ends: Sequence[int] | NDArray[np.int64]) -> WindowSums:
        """The sums of ``table``'s windows ending at each index of ``ends``; minutes before the
        series starts count as none (a caller that needs them adds them: see
        :func:`reporting.checks.intraday.window_values`)."""
        at = np.asarray(ends, dtype=np.int64)
        prefix = np.zeros((len(self) + 1, 4))
        np.cumsum(self.sums, axis=0, out=prefix[1:])
        firsts = np.clip(self.first_indices(table, at), 0, None)
        return WindowSums.of(prefix[at + 1] - prefix[firsts])

    def values(self, table: IntradayLimits, ends: Sequence[int] | NDArray[np.int64]) -> Values:
        return spec_of(table).value(self.windows(table, ends), table)
