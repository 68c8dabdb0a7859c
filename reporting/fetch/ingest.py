"""Fetch stage: pull pages from a source, keep each one in the audit store, derive its rows.

Each page is stored in its own transaction, snapshot first and its rows with it, before the next
page is requested: a run that dies (even ``kill -9``) loses at most the page in flight, and memory
stays flat however long the range (pages are streamed; rows are bulk-inserted).

Sources and their datasets:

* ``kaiko`` (live API) and ``demo`` (the bundled set behind an emulator of Kaiko's endpoint):
  ``liquidations``, Kaiko's hourly volumes per exchange, into ``interval_volume``. ``demo`` also
  has ``funding`` and ``open_interest`` from emulators of Binance's and OKX's endpoints.
* ``binance``: ``funding`` and ``open_interest`` of the asset's USD-M perpetual.
* ``okx``: ``funding`` and ``open_interest`` of the asset's perpetual, and ``liquidations``: OKX's
  own filled liquidation orders (with the instruments whose contract values convert them to USD),
  the independent cross-check of Kaiko's ``okex`` figures.

Corrections: when a page changes the current value of an interval (source, asset, exchange,
interval) that an earlier snapshot holds, the new snapshot records the leaf it corrects
(``corrects_leaf_index``, committed to in its Merkle leaf); the earlier snapshot and its rows stay,
so the content before the correction remains visible (MiFID II Art. 72; see ``corrections``).

Incremental runs: without a start, each (source, dataset, asset) is fetched from its watermark to
the last closed interval (:mod:`reporting.fetch.watermarks`); a part without errors advances it,
once the whole run has ended (a run that dies on the way moves none). Problems never stop other
assets: they are collected and returned with each asset's summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from itertools import chain
from operator import itemgetter

import httpx
from sqlmodel import Session

from audit_store import SOFTWARE_VERSION
from audit_store.bulk import gc_paused
from audit_store.db import Store
from audit_store.models import ALL_EXCHANGES
from audit_store.snapshots import (
    RawResponse,
    append_interval_values,
    append_snapshot,
    lock_sequencer,
    new_snapshot,
)
from audit_store.tables_ingest import append_derived_rows
from reporting.config import Settings
from reporting.errors import ConfigError, SourceError
from reporting.fetch import registry, watermarks
from reporting.fetch.corrections import changed_values
from reporting.fetch.derivers import derive_all
from reporting.fetch.registry import DATASETS, DEFAULT_DATASETS, FETCH_SOURCES, VOLUME_SOURCES
from reporting.fetch.sources.binance.client import BinanceClient
from reporting.fetch.sources.derived import period_seconds
from reporting.fetch.sources.kaiko.client import KaikoClient
from reporting.fetch.sources.kaiko.format import interval_seconds
from reporting.fetch.sources.okx.client import OkxClient
from reporting.records import FetchSummary, IntervalValues, Problem, Severity

DEMO_BASE_URL = "https://demo.invalid"
DEMO_BINANCE_URL = "https://demo-binance.invalid"
DEMO_OKX_URL = "https://demo-okx.invalid"
HOUR = 3600

Pages = Callable[[datetime, datetime], Iterator[RawResponse]]


def make_client(
    settings: Settings,
    source: str,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> KaikoClient:
    """A Kaiko client for ``source``: the real API, or the bundled demo set behind a mock."""
    now = clock or (lambda: datetime.now(UTC))
    if source == "kaiko":
        return KaikoClient(settings.kaiko, source_name="kaiko", transport=transport, clock=now)
    if source == "demo":
        from reporting.fetch.sources.demo.client import demo_transport

        demo = settings.kaiko.model_copy(update={"base_url": DEMO_BASE_URL, "api_key": None})
        return KaikoClient(
            demo,
            source_name="demo",
            transport=transport or demo_transport(),
            require_key=False,
            clock=now,
        )
    raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(VOLUME_SOURCES)}")


# -- storing one response


@dataclass(frozen=True)
class StoredPage:
    """What keeping one response did."""

    snapshot_id: int
    leaf_index: int
    rows: int
    quarantine_reason: str | None
    problems: tuple[Problem, ...]
    corrected: int  # interval values this page changed (corrections)
    corrects_leaf_index: int | None
    values: tuple[IntervalValues, ...]  # the interval rows stored (none when quarantined)
    latest: datetime | None  # the latest time among the page's rows
    enqueued: int = 0  # messages the page hook put in the outbox (to be delivered at once)


PageHook = Callable[[Session, StoredPage], int]
"""Runs in the transaction that stores a page, after its rows, on every page that was not
quarantined (the intraday limits on hourly volumes, :mod:`reporting.notify.intraday_hourly`);
returns how many messages it enqueued."""


# Fields of an interval row (values in INTERVAL_VALUE_FIELDS order), read without a Python call.
_ASSET, _EXCHANGE, _START = itemgetter(1), itemgetter(2), itemgetter(3)


def store_response(
    store: Store,
    raw: RawResponse,
    *,
    config_hash: str,
    software_version: str = SOFTWARE_VERSION,
    after: PageHook | None = None,
) -> StoredPage:
    """Keep ``raw`` as the next snapshot with every row derived from it, in one transaction
    (with what ``after`` adds to it, the page stored).

    The cyclic garbage collector waits while the page is parsed and stored (a page of 1000 hours is
    a few hundred thousand objects, none in a cycle; see :func:`audit_store.bulk.gc_paused`)."""
    with store.session() as session, gc_paused():
        lock_sequencer(session)
        snapshot = new_snapshot(raw, software_version=software_version, config_hash=config_hash)
        # Derive from the snapshot exactly as verify will; keep the bytes whatever it says.
        derived = derive_all(snapshot)
        records = derived.derivation.values
        corrected, corrects = (0, None)
        if derived.quarantine_reason is None:
            corrected, corrects = changed_values(session, raw.source, records)
        snapshot.corrects_leaf_index = corrects
        append_snapshot(session, snapshot, quarantine_reason=derived.quarantine_reason)
        rows = 0
        latest: datetime | None = None
        if derived.quarantine_reason is None:
            rows += append_interval_values(session, snapshot, records)
            for table, table_rows in derived.tables.items():
                rows += append_derived_rows(session, snapshot, table, table_rows)
            latest = max(
                chain(
                    map(_START, records),
                    (t for rs in derived.tables.values() for r in rs for t in _row_times(r)),
                ),
                default=None,
            )
        assert snapshot.id is not None
        stored = StoredPage(
            snapshot_id=snapshot.id,
            leaf_index=snapshot.leaf_index,
            rows=rows,
            quarantine_reason=derived.quarantine_reason,
            problems=derived.problems,
            corrected=corrected,
            corrects_leaf_index=corrects,
            values=records if derived.quarantine_reason is None else (),
            latest=latest,
        )
        if after is not None and derived.quarantine_reason is None:
            stored = replace(stored, enqueued=after(session, stored))
        return stored


def _row_times(row: object) -> Iterator[datetime]:
    assert isinstance(row, dict)
    for key in ("funding_time", "ts"):
        value = row.get(key)
        if isinstance(value, datetime):
            yield value


# -- walking a source


@dataclass(frozen=True)
class Stream:
    """One walk over a range: its label in messages, the pages, the watermark granularity."""

    label: str
    pages: Pages
    step_seconds: int


class _Clients:
    """The clients of one fetch, made on first use and closed together."""

    def __init__(
        self,
        settings: Settings,
        source: str,
        transport: httpx.BaseTransport | None,
        clock: Callable[[], datetime],
        stack: ExitStack,
    ) -> None:
        self.settings, self.source, self.transport, self.clock = settings, source, transport, clock
        self._stack = stack
        self._kaiko: KaikoClient | None = None
        self._binance: BinanceClient | None = None
        self._okx: OkxClient | None = None

    def kaiko(self) -> KaikoClient:
        if self._kaiko is None:
            client = make_client(
                self.settings, self.source, transport=self.transport, clock=self.clock
            )
            self._kaiko = self._stack.enter_context(client)
        return self._kaiko

    def take_notes(self) -> list[Problem]:
        """What the clients could not guarantee during the walks so far (OKX cursor ties)."""
        return self._okx.take_notes() if self._okx is not None else []

    def binance(self) -> BinanceClient:
        if self._binance is None:
            api, transport = self.settings.binance, self.transport
            if self.source == "demo":
                from reporting.fetch.sources.demo.overlay_client import demo_overlay_transport

                api = api.model_copy(update={"base_url": DEMO_BINANCE_URL})
                transport = transport or demo_overlay_transport()
            client = BinanceClient(
                api, source_name=self.source, transport=transport, clock=self.clock
            )
            self._binance = self._stack.enter_context(client)
        return self._binance

    def okx(self) -> OkxClient:
        if self._okx is None:
            api, transport = self.settings.okx, self.transport
            if self.source == "demo":
                from reporting.fetch.sources.demo.overlay_client import demo_overlay_transport

                api = api.model_copy(update={"base_url": DEMO_OKX_URL})
                transport = transport or demo_overlay_transport()
            client = OkxClient(api, source_name=self.source, transport=transport, clock=self.clock)
            self._okx = self._stack.enter_context(client)
        return self._okx


def _streams(clients: _Clients, source: str, dataset: str, asset: str) -> list[Stream]:
    settings = clients.settings
    if dataset == "liquidations" and source in VOLUME_SOURCES:
        kaiko = clients.kaiko()
        step = interval_seconds(settings.fetch.interval)
        return [
            Stream(
                source,
                lambda s, e: kaiko.iter_pages(asset, s, e, interval=settings.fetch.interval),
                step,
            )
        ]
    if dataset == "liquidations" and source == "okx":
        okx = clients.okx()

        def okx_liquidations(start: datetime, end: datetime) -> Iterator[RawResponse]:
            yield from okx.instrument_pages(asset)  # the contract values, as of this fetch
            yield from okx.liquidation_pages(asset, start, end)

        return [Stream("okx:liquidations", okx_liquidations, HOUR)]
    streams: list[Stream] = []
    suffix = source == "demo"  # the demo serves both exchanges: say which one
    if source in ("binance", "demo"):
        binance = clients.binance()
        label = f"{source}:{dataset}" + (":binance" if suffix else "")
        if dataset == "funding":
            streams.append(Stream(label, lambda s, e: binance.funding_pages(asset, s, e), HOUR))
        else:
            streams.append(
                Stream(
                    label,
                    lambda s, e: binance.open_interest_pages(asset, s, e),
                    period_seconds(settings.binance.oi_period),
                )
            )
    if source in ("okx", "demo"):
        okx_client = clients.okx()
        label = f"{source}:{dataset}" + (":okx" if suffix else "")
        if dataset == "funding":
            streams.append(Stream(label, lambda s, e: okx_client.funding_pages(asset, s, e), HOUR))
        else:
            streams.append(
                Stream(
                    label,
                    lambda s, e: okx_client.open_interest_pages(asset, s, e),
                    period_seconds(settings.okx.oi_period),
                )
            )
    return streams


def check_request(source: str, datasets: Iterable[str] | None) -> tuple[str, ...]:
    """The datasets to fetch from ``source``; ``ConfigError`` for a source or dataset it lacks."""
    if source not in FETCH_SOURCES:
        raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(FETCH_SOURCES)}")
    chosen = tuple(datasets) if datasets else DEFAULT_DATASETS[source]
    for dataset in chosen:
        if dataset not in DATASETS[source]:
            raise ConfigError(
                f"source {source} has no dataset {dataset!r}; it has {', '.join(DATASETS[source])}"
            )
    return chosen


PageListener = Callable[[str, str, StoredPage], None]
"""Told of every page kept: (stream label, asset, what was stored)."""


def fetch(
    store: Store,
    settings: Settings,
    *,
    source: str,
    assets: Iterable[str],
    start: datetime | None = None,
    end: datetime | None = None,
    datasets: Iterable[str] | None = None,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
    on_page: PageListener | None = None,
    skip_stored: bool = False,
    after_store: PageHook | None = None,
) -> list[FetchSummary]:
    """Fetch ``datasets`` of ``source`` for every asset over [start, end).

    Without ``start``, each (dataset, asset) starts at its watermark (an error for that asset when
    it has none); without ``end``, the range ends at the last closed interval. A fetch that ends
    without an error advances the watermark. ``skip_stored``: what the watermark already covers
    is not asked for again (the range starts at the watermark, or nothing is fetched): a re-run
    of the daily job appends no duplicate pages; a deliberate re-fetch leaves it ``False``.
    ``after_store`` runs in each page's transaction (:data:`PageHook`).
    """
    chosen = check_request(source, datasets)
    now = clock or (lambda: datetime.now(UTC))
    config_hash = settings.config_hash()
    summaries: list[FetchSummary] = []
    advances: list[Callable[[], object]] = []
    with ExitStack() as stack:
        clients = _Clients(settings, source, transport, now, stack)
        for dataset in chosen:
            for asset in assets:
                summary, advance = _fetch_one(
                    store,
                    settings,
                    clients,
                    source,
                    dataset,
                    asset.lower(),
                    start,
                    end,
                    config_hash,
                    now,
                    on_page,
                    skip_stored,
                    after_store,
                )
                summaries.append(summary)
                if advance is not None:
                    advances.append(advance)
    # Only now, every part having run: a run that dies on the way (an exception, a stop) moves no
    # watermark at all, while the pages it stored stay (they are evidence either way).
    for advance in advances:
        advance()
    return summaries


def _fetch_one(
    store: Store,
    settings: Settings,
    clients: _Clients,
    source: str,
    dataset: str,
    asset: str,
    start: datetime | None,
    end: datetime | None,
    config_hash: str,
    now: Callable[[], datetime],
    on_page: PageListener | None,
    skip_stored: bool = False,
    after_store: PageHook | None = None,
) -> tuple[FetchSummary, Callable[[], object] | None]:
    """One (dataset, asset) of a fetch: its summary, and the watermark's advance to make once the
    whole run has ended (``None`` when this part had an error or asked for nothing)."""
    label = registry.snapshot_label(source, dataset)
    where = f"{label} {asset.upper()}"

    def nothing(
        message: str, severity: Severity, *, stored: bool = False
    ) -> tuple[FetchSummary, None]:
        """The summary of a fetch that asked for nothing, with the one note saying why."""
        noted = (Problem(where, message, severity),)
        return FetchSummary(label, asset.upper(), 0, 0, 0, (), noted, already_stored=stored), None

    try:
        streams = _streams(clients, source, dataset, asset)
    except SourceError as exc:
        failed = Problem(label, str(exc), "error")
        return FetchSummary(label, asset.upper(), 0, 0, 0, (), (failed,)), None
    step = min(s.step_seconds for s in streams)
    closed = watermarks.closed_until(now(), step, settings.fetch.settle_seconds)
    begin, finish = start, end or closed
    if begin is None:
        mark = watermarks.current(store, source, dataset, asset)
        if mark is None:
            return nothing(
                f"no watermark for {source} {dataset} {asset.upper()}: give --start "
                "(or run `liqrisk backfill` first)",
                "error",
            )
        begin = mark.watermark
    begin, finish = begin.astimezone(UTC), finish.astimezone(UTC)
    if skip_stored and start is not None:
        mark = watermarks.current(store, source, dataset, asset)
        if mark is not None and mark.covered_from <= begin < mark.watermark:
            if finish <= mark.watermark:
                return nothing(
                    f"already stored: {begin.isoformat()} to {finish.isoformat()} is covered by "
                    "the watermark; not fetched again (pass --refetch to ask the source again)",
                    "info",
                    stored=True,
                )
            begin = mark.watermark
    if finish <= begin:
        return nothing(f"up to date: nothing closed after {begin.isoformat()}", "info")
    totals = _Totals()
    for stream in streams:
        _walk(
            store, settings, stream, asset, begin, finish, config_hash, totals, on_page, after_store
        )
    totals.problems.extend(clients.take_notes())
    advance: Callable[[], object] | None = None
    if not any(p.severity == "error" for p in totals.problems):
        advance = partial(
            watermarks.advance,
            store,
            source=source,
            dataset=dataset,
            asset=asset,
            start=begin,
            end=min(finish, closed),
            recorded_at=now(),
            config_hash=config_hash,
        )

    summary = FetchSummary(
        source=label,
        asset=asset.upper(),
        pages=totals.pages,
        rows=totals.rows,
        quarantined=totals.quarantined,
        snapshot_ids=tuple(totals.snapshot_ids),
        problems=tuple(totals.problems),
    )
    return summary, advance


class _Totals:
    def __init__(self) -> None:
        self.pages = self.rows = self.quarantined = 0
        self.snapshot_ids: list[int] = []
        self.problems: list[Problem] = []


def _unknown_exchange(label: str, where: str, code: str) -> Problem:
    """A code the exchange table lacks: a warning, except the one the demo data carries on purpose
    (so that a first demo run shows the path without reading as a fault)."""
    from reporting.fetch.sources.demo.generate import UNLISTED_EXCHANGE

    if label == "demo" and code == UNLISTED_EXCHANGE:
        return Problem(
            where,
            f"exchange code {code!r} is not in the exchange table: the demo data carries it on "
            "purpose, to show that an unknown code is kept verbatim and flagged in the report",
            "info",
        )
    return Problem(
        where, f"unknown exchange code {code!r} kept verbatim; add it to the exchange table"
    )


def _walk(
    store: Store,
    settings: Settings,
    stream: Stream,
    asset: str,
    start: datetime,
    end: datetime,
    config_hash: str,
    totals: _Totals,
    on_page: PageListener | None,
    after_store: PageHook | None = None,
) -> None:
    known = settings.exchanges
    page = 0
    try:
        for raw in stream.pages(start, end):
            transient = bool(raw.extra.get("transient"))
            page += not transient
            totals.pages += not transient
            where = f"{stream.label} {asset} page {page + transient}"
            stored = store_response(store, raw, config_hash=config_hash, after=after_store)
            totals.snapshot_ids.append(stored.snapshot_id)
            totals.rows += stored.rows
            if stored.quarantine_reason:
                totals.quarantined += 1
                totals.problems.append(
                    Problem(
                        where,
                        f"{'retried after' if transient else 'quarantined'} {raw.url}: "
                        f"{stored.quarantine_reason}",
                        "warning" if transient else "error",
                    )
                )
            totals.problems.extend(
                Problem(f"{where} {p.source}", p.message) for p in stored.problems
            )
            if stored.corrected:
                totals.problems.append(
                    Problem(
                        where,
                        f"{stored.corrected} interval value(s) differ from what was stored before "
                        f"(a correction of leaf {stored.corrects_leaf_index}; the earlier values "
                        "are kept)",
                        "info",
                    )
                )
            codes = set(map(_EXCHANGE, stored.values))
            codes.discard(ALL_EXCHANGES)  # the totals
            unknown = sorted(codes - set(known))
            totals.problems.extend(_unknown_exchange(stream.label, where, code) for code in unknown)
            if on_page is not None:
                on_page(stream.label, asset, stored)
    except SourceError as exc:
        totals.problems.append(Problem(f"{stream.label} {asset}", str(exc), "error"))
