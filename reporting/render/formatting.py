"""Number and date formatting for the report, registered as Jinja2 filters.

Every figure a reader sees goes through one of these functions, so the same value is written the
same way in every table, sentence and attachment caption. They return plain ``str``: Jinja2's
autoescape still applies to their output, so a filter can never smuggle markup into the page.
``None`` always reads "n/a" (a figure that does not exist), never "0".
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

NA = "n/a"
MINUS = "\u2212"  # a real minus sign: it lines up with the digits in tabular figures
LONDON = ZoneInfo("Europe/London")

_COMPACT_UNITS = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _missing(value: float | None) -> bool:
    return value is None or not math.isfinite(value)


def usd(value: float | None) -> str:
    """``$1,234,568``: whole dollars with thousands separators."""
    if value is None or _missing(value):
        return NA
    text = f"${abs(value):,.0f}"
    return f"{MINUS}{text}" if round(value) < 0 else text


def usd_compact(value: float | None) -> str:
    """``$1.2M``, ``$950.0k``, ``$12.3B``; below $1,000 whole dollars."""
    if value is None or _missing(value):
        return NA
    magnitude = abs(value)
    sign = MINUS if value < 0 and magnitude >= 0.5 else ""
    for size, suffix in _COMPACT_UNITS:
        # Round first so $999,960 reads $1.0M, not $1000.0k.
        if round(magnitude / size, 1) >= 1:
            return f"{sign}${magnitude / size:,.1f}{suffix}"
    return f"{sign}${magnitude:,.0f}"


def count(value: float | None) -> str:
    """``1,421``."""
    if value is None or _missing(value):
        return NA
    return f"{value:,.0f}"


def pct(value: float | None, digits: int = 0) -> str:
    """A value already in per cent: ``122%``."""
    if value is None or _missing(value):
        return NA
    text = f"{abs(value):,.{digits}f}%"
    return f"{MINUS}{text}" if value < 0 and text.strip("0.,%") else text


def signed_pct(value: float | None, digits: int = 0) -> str:
    """A change in per cent with its sign: ``+520%``, ``−35%``."""
    if value is None or _missing(value):
        return NA
    text = pct(abs(value), digits)
    if not text.strip("0.,%"):
        return text
    return f"+{text}" if value > 0 else f"{MINUS}{text}"


def share(value: float | None, digits: int = 0) -> str:
    """A fraction as a percentage: ``0.734`` -> ``73%``."""
    if value is None or _missing(value):
        return NA
    return pct(100.0 * value, digits)


def ratio(value: float | None) -> str:
    """A multiple: ``6.2×``."""
    if value is None or _missing(value):
        return NA
    return f"{value:,.1f}\u00d7"


def multiple(value: float | None) -> str:
    """Observed as a multiple of its limit: ``4.83×`` (``1.00×``: at the limit), ``48.3×``,
    ``4,837×``: two places below ten, one below a hundred, none above."""
    if value is None or _missing(value):
        return NA
    places = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:,.{places}f}\u00d7"


def long_date(value: date) -> str:
    """``Monday 3 November 2025`` (no platform-specific strftime flags)."""
    return f"{value:%A} {value.day} {value:%B %Y}"


def short_date(value: date) -> str:
    """``3 Nov 2025``."""
    return f"{value.day} {value:%b %Y}"


def utc_time(value: datetime) -> str:
    """``2025-11-04 07:00:00 UTC``."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def london_time(value: datetime) -> str:
    """``2025-11-04 07:00:00 GMT`` (or BST): the same instant on the wall clocks in London."""
    local = value.astimezone(LONDON)
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "Europe/London")


def clock(value: datetime, days: tuple[date, ...] = ()) -> str:
    """``09:09:31``, a UTC time of one of ``days`` (the report's); ``2 Nov 23:58:10`` for a time
    of another day."""
    utc = value.astimezone(UTC)
    if utc.date() in days:
        return utc.strftime("%H:%M:%S")
    return f"{utc.day} {utc:%b} {utc:%H:%M:%S}"


def minutes_span(start: datetime, end: datetime) -> str:
    """``08:55\u201309:10``: a window of whole minutes, UTC (``2 Nov 23:50`` when it starts on
    another day than it ends)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    first = f"{start:%H:%M}" if start.date() == end.date() else f"{start.day} {start:%b %H:%M}"
    return f"{first}\u2013{end:%H:%M}"


def iso_utc(value: datetime) -> str:
    """``2025-11-04T07:00:00Z``, for machine-readable metadata."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def short_hash(value: str | None, length: int = 12) -> str:
    if not value:
        return NA
    return value[:length]


def in_unit(value: float | None, unit: str) -> str:
    """A check's figure in its unit: ``$1,234``, ``3 intervals``, ``81.2%``, ``8.0 bps``."""
    if value is None or _missing(value):
        return NA
    if unit == "usd":
        return usd(value)
    if unit == "pct":
        return pct(value, 1)
    if unit == "bps":
        return f"{value:,.1f} bps"
    if unit == "hours":
        return f"{value:,.1f} h"
    if unit == "intervals":
        return f"{count(value)} interval{'' if round(value) == 1 else 's'}"
    return count(value)


FILTERS = {
    "in_unit": in_unit,
    "usd": usd,
    "usd_compact": usd_compact,
    "count": count,
    "pct": pct,
    "signed_pct": signed_pct,
    "share": share,
    "ratio": ratio,
    "multiple": multiple,
    "long_date": long_date,
    "short_date": short_date,
    "utc_time": utc_time,
    "london_time": london_time,
    "iso_utc": iso_utc,
    "clock": clock,
    "minutes_span": minutes_span,
    "short_hash": short_hash,
}
