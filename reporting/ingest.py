"""Fetch stage: pull pages from a source, keep each one in the audit store, derive its rows.

Each page is stored in its own transaction, snapshot first and its rows with it, before the next
page is requested: a run that dies loses at most the page in flight, and memory stays flat.
Problems never stop other assets: they are collected and returned with each asset's summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import httpx

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from audit_store.snapshots import append_interval_rows, append_snapshot, new_snapshot
from reporting.config import Settings
from reporting.derivers import derive_snapshot
from reporting.errors import ConfigError, SourceError
from reporting.records import FetchSummary, Problem
from reporting.sources.kaiko import KaikoClient

SOURCES = ("demo", "kaiko")
DEMO_BASE_URL = "https://demo.invalid"


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
        from reporting.sources.demo import demo_transport

        demo = settings.kaiko.model_copy(update={"base_url": DEMO_BASE_URL, "api_key": None})
        return KaikoClient(
            demo,
            source_name="demo",
            transport=transport or demo_transport(),
            require_key=False,
            clock=now,
        )
    raise ConfigError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")


def fetch(
    store: Store,
    settings: Settings,
    *,
    source: str,
    assets: Iterable[str],
    start: datetime,
    end: datetime,
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
) -> list[FetchSummary]:
    config_hash = settings.config_hash()
    summaries = []
    with make_client(settings, source, transport=transport, clock=clock) as client:
        for asset in assets:
            summaries.append(
                _fetch_asset(store, client, asset.lower(), start, end, settings, config_hash)
            )
    return summaries


def _fetch_asset(
    store: Store,
    client: KaikoClient,
    asset: str,
    start: datetime,
    end: datetime,
    settings: Settings,
    config_hash: str,
) -> FetchSummary:
    pages = rows = quarantined = 0
    snapshot_ids: list[int] = []
    problems: list[Problem] = []
    known = settings.exchanges
    try:
        for raw in client.iter_pages(
            asset, start.astimezone(UTC), end.astimezone(UTC), interval=settings.fetch.interval
        ):
            transient = bool(raw.extra.get("transient"))
            pages += not transient
            where = f"{client.source_name} {asset} page {pages + transient}"
            with store.session() as session:
                # Derive from the snapshot exactly as verify will; keep the bytes whatever it says.
                snapshot = new_snapshot(
                    raw, software_version=SOFTWARE_VERSION, config_hash=config_hash
                )
                derivation = derive_snapshot(snapshot)
                append_snapshot(session, snapshot, quarantine_reason=derivation.quarantine_reason)
                if derivation.quarantine_reason:
                    quarantined += 1
                    problems.append(
                        Problem(
                            where,
                            f"{'retried after' if transient else 'quarantined'} {raw.url}: "
                            f"{derivation.quarantine_reason}",
                            "warning" if transient else "error",
                        )
                    )
                else:
                    rows += append_interval_rows(
                        session, snapshot, (r.as_row() for r in derivation.records)
                    )
                assert snapshot.id is not None
                snapshot_ids.append(snapshot.id)
            problems.extend(Problem(f"{where} {p.source}", p.message) for p in derivation.problems)
            unknown = sorted(
                {r.exchange for r in derivation.records if not r.is_total} - set(known)
            )
            problems.extend(
                Problem(
                    where,
                    f"unknown exchange code {code!r} kept verbatim; add it to the exchange table",
                )
                for code in unknown
            )
    except SourceError as exc:
        problems.append(Problem(f"{client.source_name} {asset}", str(exc), "error"))
    return FetchSummary(
        source=client.source_name,
        asset=asset.upper(),
        pages=pages,
        rows=rows,
        quarantined=quarantined,
        snapshot_ids=tuple(snapshot_ids),
        problems=tuple(problems),
    )
