"""The frozen report model: every figure the report shows, as plain data.

The templates and the charts read only these records; they never touch the store. That keeps the
rendering pure (the same model always gives the same bytes) and lets tests build a model by hand.
Records are frozen dataclasses of tuples, strings, numbers and dates: nothing mutable, nothing lazy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from reporting.checks.intraday_alerts import FailedEvaluation, IntradayAlert
from reporting.render.streams import StreamsSection

Period = Literal["day", "week"]
Badge = Literal["BREACH", "INCOMPLETE", "WARNING", "OK"]
Unit = str  # "usd", "count", "pct", "bps", "hours", "intervals": see reporting.checks.catalogue


@dataclass(frozen=True)
class ExchangeRef:
    """An exchange code as the source sent it, with the name and jurisdiction from config."""

    code: str
    name: str
    jurisdiction: str
    known: bool  # False: the code is missing from the exchange table (shown verbatim, flagged)


@dataclass(frozen=True)
class ScopeRef:
    """A check's scope, ``BTC`` or ``BTC/binc``, split so the exchange can be named."""

    raw: str
    asset: str
    exchange: ExchangeRef | None


@dataclass(frozen=True)
class StoredResult:
    """One stored check result, copied out of the store (the JSON attachment is made from these)."""

    run_id: int
    result_id: int
    day: date
    check: str
    scope: str
    observed: float | None
    warn_at: float | None
    limit: float | None
    pct_of_limit: float | None
    status: str
    message: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Finding:
    """A check result as the report shows it."""

    day: date
    check: str
    title: str
    scope: ScopeRef
    status: str  # breach | warn | error | ok
    observed: float | None
    warn_at: float | None
    limit: float | None
    pct_of_limit: float | None
    unit: Unit
    message: str
    # The breach lifecycle the check run stored (new | ongoing | resolved | unknown; None for
    # results with nothing to follow), the first day of the breach run, and who acknowledged it.
    since: date | None = None
    acknowledged_by: str | None = None
    lifecycle: str | None = None
    result_id: int | None = None

    @property
    def multiple(self) -> float | None:
        """Observed as a multiple of the limit (1.0: at the limit)."""
        return None if self.pct_of_limit is None else self.pct_of_limit / 100.0


@dataclass(frozen=True)
class Move:
    """An asset's daily USD against its trailing seven-day daily mean."""

    asset: str
    period_usd: float  # the day's USD; for a week, the mean per day
    baseline_usd: float | None  # mean per day over the days of history found
    baseline_days: int  # how many of the seven days before the period had any data

    @property
    def change(self) -> float | None:
        if not self.baseline_usd:
            return None
        return (self.period_usd - self.baseline_usd) / self.baseline_usd

    @property
    def multiple(self) -> float | None:
        if not self.baseline_usd:
            return None
        return self.period_usd / self.baseline_usd


@dataclass(frozen=True)
class MarketRow:
    """One asset on one exchange (or on all of them, ``exchange is None``) over the period."""

    asset: str
    exchange: ExchangeRef | None
    count: int
    long_count: int
    short_count: int
    usd: float
    long_usd: float
    short_usd: float
    # The venue's own overlays (Binance, OKX; see OverlayVenue), None ("n/a") for other venues
    # and for the all-exchange row: the last funding settlement of the period, in per cent per
    # 8 hours, and the last open-interest observation of the period, USD.
    funding_rate_8h: float | None = None
    open_interest_usd: float | None = None
    fed_by: str = ""  # the source of the row's figures, where the report combines several

    @property
    def average_usd(self) -> float | None:
        return self.usd / self.count if self.count else None

    @property
    def long_share(self) -> float | None:
        return self.long_usd / self.usd if self.usd else None


@dataclass(frozen=True)
class AssetMarket:
    asset: str
    total: MarketRow  # the source's own all-exchange figures
    exchanges: tuple[MarketRow, ...]  # largest USD first
    unattributed_usd: float  # total minus the sum of the exchange breakdown (normally ~0)


@dataclass(frozen=True)
class JurisdictionRow:
    jurisdiction: str
    usd: float
    share: float | None
    exchanges: tuple[ExchangeRef, ...]


@dataclass(frozen=True)
class UnknownExchange:
    code: str
    usd: float
    assets: tuple[str, ...]


@dataclass(frozen=True)
class CoverageRow:
    asset: str
    expected: int
    received: int
    missing: tuple[datetime, ...]  # interval starts with no data, UTC

    @property
    def share(self) -> float | None:
        return self.received / self.expected if self.expected else None


@dataclass(frozen=True)
class QuarantinedSnapshot:
    leaf_index: int
    fetched_at: datetime
    url: str
    reason: str


@dataclass(frozen=True)
class RunRef:
    id: int
    day: date
    started_at: datetime
    limit_set_sha256: str
    config_hash: str
    software_version: str


@dataclass(frozen=True)
class CheckpointRef:
    """The latest signed checkpoint of the snapshot log, as stored."""

    origin: str
    tree_size: int
    root_hash: str
    key_name: str
    key_id: str
    created_at: datetime
    root_matches: bool  # the root recomputed here over its first tree_size leaves is the same
    note: str = ""  # the signed note, verbatim: cut out and checked with `verify --since`


@dataclass(frozen=True)
class Provenance:
    runs: tuple[RunRef, ...]
    missing_run_days: tuple[date, ...]
    evidence_hashes: int  # distinct body SHA-256s the results cite
    evidence_snapshots: int  # snapshots holding those bodies
    fetched_first: datetime | None
    fetched_last: datetime | None
    tree_size: int
    merkle_root: str  # hex, RFC 6962, over every snapshot's leaf hash in leaf order
    checkpoint: CheckpointRef | None  # None: no checkpoint has been signed yet
    limit_set_current: str
    config_hash_current: str
    software_version: str

    @property
    def limit_sets(self) -> tuple[str, ...]:
        return tuple(sorted({r.limit_set_sha256 for r in self.runs}))

    @property
    def config_hashes(self) -> tuple[str, ...]:
        return tuple(sorted({r.config_hash for r in self.runs}))


@dataclass(frozen=True)
class Heatmap:
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    values: tuple[tuple[float, ...], ...]  # rows x columns
    column_labels: tuple[str, ...] = ()  # what the axis shows, when not the column keys

    @property
    def labels(self) -> tuple[str, ...]:
        return self.column_labels or self.columns


def period_label(day: date, period: Period) -> str:
    """As artifacts are registered: ``2025-11-03`` or ``week:2025-11-03``."""
    return day.isoformat() if period == "day" else f"week:{day.isoformat()}"


@dataclass(frozen=True)
class FundingLine:
    """One venue's funding settlements of an asset, for the chronology's overlay."""

    label: str  # the venue's name: "Binance"
    points: tuple[tuple[float, float], ...]  # (hours since the period's start, % per 8 hours)


@dataclass(frozen=True)
class HourlySeries:
    asset: str
    long_usd: tuple[float, ...]  # one per hour of the period; NaN where no data arrived
    short_usd: tuple[float, ...]
    # Open interest summed over the overlay venues, one per hour; NaN where a venue lacks the hour.
    open_interest_usd: tuple[float, ...] = ()
    funding: tuple[FundingLine, ...] = ()


@dataclass(frozen=True)
class OverlayVenue:
    """A venue whose own funding rates and open interest the report shows."""

    exchange: ExchangeRef
    sources: tuple[str, ...]  # the store's sources that fetched them ("binance", "demo")
    instruments: tuple[str, ...]  # "BTCUSDT", "BTC-USDT-SWAP"
    funding_hours: tuple[float, ...]  # settlement intervals seen (8.0; 4.0 is scaled to 8 h)

    @property
    def scaled(self) -> bool:
        """Whether a rate of this venue was scaled to the table's 8 hours."""
        return any(h != 8.0 for h in self.funding_hours)


@dataclass(frozen=True)
class ChartData:
    start: datetime
    end: datetime
    exchange_heatmap: Heatmap  # assets x exchanges, USD
    hour_heatmap: Heatmap  # assets x hour of day (UTC), USD
    chronology: tuple[HourlySeries, ...]


@dataclass(frozen=True)
class Counts:
    breaches: int
    warnings: int
    errors: int
    ok: int

    @property
    def total(self) -> int:
        return self.breaches + self.warnings + self.errors + self.ok


@dataclass(frozen=True)
class MatrixCell:
    """One asset x check cell of the summary: the worst result of that check on that asset."""

    status: str  # breach | warn | error | ok; "" where the check has no result for the asset
    multiple: float | None  # the worst observed / limit among its flagged results
    flagged: int  # results behind the cell that are not ok (several exchanges of one asset)


MATRIX_WIDTH = 10
"""Check columns per matrix table: ten fill the A4 page's width at the summary's type size."""


@dataclass(frozen=True)
class StatusMatrix:
    rows: tuple[str, ...]  # assets (then other scopes, such as a source's data-quality checks)
    columns: tuple[str, ...]  # check names that have a breach, warning or error in the period
    labels: tuple[str, ...]  # the columns' short titles
    cells: tuple[tuple[MatrixCell, ...], ...]  # rows x columns

    def parts(self, width: int = MATRIX_WIDTH) -> tuple[StatusMatrix, ...]:
        """The matrix cut into tables of at most ``width`` columns, every row in each, so that a
        day with findings on many checks still fits the page's width."""
        return tuple(
            StatusMatrix(
                self.rows,
                self.columns[i : i + width],
                self.labels[i : i + width],
                tuple(row[i : i + width] for row in self.cells),
            )
            for i in range(0, len(self.columns), width)
        )


@dataclass(frozen=True)
class ScopeGroup:
    """Findings of one check, for the summary's one-line lists ("new", "still open")."""

    title: str
    scopes: tuple[str, ...]
    since: date | None = None  # the earliest first day among them (still-open lists)


@dataclass(frozen=True)
class Summary:
    """The executive summary: the shape of the period first, every detail later in the report."""

    assets_flagged: tuple[str, ...]  # configured assets with a breach or warning, worst first
    checks_flagged: tuple[str, ...]  # titles of checks with a breach or warning
    worst: Finding | None  # the breach (else warning) with the largest observed / limit
    matrix: StatusMatrix
    top: tuple[Finding, ...]  # the five most severe: breaches, then warnings, by observed / limit
    new: tuple[ScopeGroup, ...]  # breaches that began on the report day
    still_open: tuple[ScopeGroup, ...]  # breaches continuing from an earlier day
    resolved: tuple[ScopeGroup, ...]  # breaches of the day before that are back within limits
    new_count: int
    still_open_count: int
    resolved_count: int
    unacknowledged: int  # breaches with no acknowledgement
    breaches: int


# --- intraday alerts (built by reporting.render.intraday) ---------------------------------------


@dataclass(frozen=True)
class IntradaySection:
    """The "Intraday alerts" part of section 2: the period's episodes as stored."""

    alerts: tuple[IntradayAlert, ...]
    scopes: Mapping[str, ScopeRef]  # each alert's scope, named as the rest of the report does
    limits: tuple[tuple[str, str], ...]  # the intraday limits configured: (name, what it sums)
    failures: tuple[FailedEvaluation, ...]  # evaluations that failed in the period

    @property
    def unacknowledged(self) -> int:
        return sum(not a.acks for a in self.alerts)

    @property
    def still_open(self) -> int:
        return sum(a.resolved is None for a in self.alerts)


@dataclass(frozen=True)
class ReportModel:
    firm_name: str
    period: Period
    day: date  # the report date (the last day of a weekly report)
    days: tuple[date, ...]  # every UTC day covered, in order
    start: datetime
    end: datetime
    title: str
    generated_at: datetime  # UTC; the only value that changes between renders of one store
    source: str
    badge: Badge
    incomplete: bool
    counts: Counts
    total_usd: float
    moves: tuple[Move, ...]
    findings: tuple[Finding, ...]  # breach, warn and error results, most severe first
    markets: tuple[AssetMarket, ...]
    jurisdictions: tuple[JurisdictionRow, ...]
    unknown_exchanges: tuple[UnknownExchange, ...]
    coverage: tuple[CoverageRow, ...]
    coverage_results: tuple[Finding, ...]
    quarantined: tuple[QuarantinedSnapshot, ...]
    stale_notes: tuple[str, ...]
    provenance: Provenance
    charts: ChartData
    results: tuple[StoredResult, ...]  # every stored result the report rests on
    overlay_venues: tuple[OverlayVenue, ...] = ()
    summary: Summary | None = None
    streams: StreamsSection | None = None  # only when the store holds stream events
    intraday: IntradaySection | None = None  # only with intraday limits or rows in the period

    @property
    def period_label(self) -> str:
        return period_label(self.day, self.period)

    @property
    def source_parts(self) -> tuple[str, ...]:
        """The sources the figures come from, in priority order (one, unless combined)."""
        return tuple(self.source.split("+"))

    @property
    def has_followup(self) -> bool:
        return any(f.since or f.acknowledged_by for f in self.findings)
