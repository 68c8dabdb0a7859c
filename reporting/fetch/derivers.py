"""The registry of derivers: for each snapshot ``kind``, how its raw body becomes records.

``liqrisk verify`` hands :func:`derived_rows` to :func:`audit_store.verify.verify_store`, which
re-derives every ``interval_volume`` row and every quarantine reason from its snapshot; the
evidence layer itself knows no format. The ingestion tables (funding rates, open interest, OKX
liquidation orders and instruments, :mod:`audit_store.tables_ingest`) are re-derived and compared
by :func:`verify_derived_tables`, which ``liqrisk verify`` runs beside it.

A deriver is a pure function of the snapshot (body, URL, parameters, source, HTTP status): a
response that is not 2xx is quarantined as ``HTTP <status>`` whatever its body says.

Kinds, with their endpoint and the table their rows go to:

* ``kaiko.liquidation.v1``: Kaiko ``/v2/data/liquidation.v1/token/{asset}`` -> interval_volume
* ``binance.fapi.funding_rate.v1``: Binance ``/fapi/v1/fundingRate`` -> funding_rate
* ``binance.futures_data.open_interest_hist.v1``: Binance ``/futures/data/openInterestHist``
  -> open_interest
* ``okx.v5.funding_rate_history``: OKX ``/api/v5/public/funding-rate-history`` -> funding_rate
* ``okx.v5.open_interest_history``: OKX ``/api/v5/rubik/stat/contracts/open-interest-history``
  -> open_interest
* ``okx.v5.liquidation_orders``: OKX ``/api/v5/public/liquidation-orders`` -> liquidation_order
* ``okx.v5.instruments``: OKX ``/api/v5/public/instruments`` -> instrument_spec
* ``binance.dapi.exchange_info.v1``: Binance COIN-M ``/dapi/v1/exchangeInfo`` -> instrument_spec
* ``binance.ws.force_order.v1``, ``binance.ws.force_order.coinm.v1``,
  ``bybit.ws.all_liquidation.v1``, ``okx.ws.liquidation_orders.v1``:
  batches of websocket frames (:mod:`reporting.fetch.streams`) -> stream_event,
  stream_rejected_frame
* ``liqrisk.activity.v1``: who did what (logins, acknowledgements, account changes, exports,
  :mod:`audit_store.activity`) -> no rows; quarantined when the body is not an activity record
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session, col

from audit_store import activity
from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.snapshots import SnapshotRecord, SnapshotView
from audit_store.tables_ingest import DERIVED_FIELDS, DERIVED_TABLES
from audit_store.verify import Discrepancy, diff_rows
from reporting.fetch.sources.binance import coinm as binance_coinm
from reporting.fetch.sources.binance import format as binance_format
from reporting.fetch.sources.derived import Derived, snapshot_params
from reporting.fetch.sources.kaiko import format as kaiko_format
from reporting.fetch.sources.okx import format as okx_format
from reporting.fetch.streams.derive import STREAM_KINDS, derive_batch
from reporting.records import Derivation, Problem

BodyParser = Callable[[bytes, Mapping[str, str], str], Derived]


def _http_failure(snapshot: SnapshotRecord) -> Derived | None:
    if 200 <= snapshot.http_status < 300:
        return None
    return Derived.quarantined(f"HTTP {snapshot.http_status}")


def _kaiko(snapshot: SnapshotRecord) -> Derived:
    failed = _http_failure(snapshot)
    if failed:
        return failed
    derivation = kaiko_format.derive(
        snapshot.body, snapshot.url, snapshot_params(snapshot), snapshot.source
    )
    if derivation.quarantine_reason is None:
        query = kaiko_format.query_block(snapshot.body) or {}
        version = query.get("data_version")
        if version is not None and version != kaiko_format.EXPECTED_DATA_VERSION:
            derivation = replace(
                derivation,
                problems=(
                    *derivation.problems,
                    Problem(
                        "query",
                        f"Kaiko data_version is {version!r}; this software was written for "
                        f"{kaiko_format.EXPECTED_DATA_VERSION!r}: check the figures",
                    ),
                ),
            )
    return Derived(derivation)


def _body(parser: BodyParser) -> Callable[[SnapshotRecord], Derived]:
    def derive(snapshot: SnapshotRecord) -> Derived:
        failed = _http_failure(snapshot)
        return failed or parser(snapshot.body, snapshot_params(snapshot), snapshot.source)

    return derive


def _activity(snapshot: SnapshotRecord) -> Derived:
    """An activity leaf yields no rows: its body is the record, read back strictly."""
    try:
        activity.read_activity(snapshot.body)
    except ValueError as exc:
        return Derived.quarantined(f"not an activity record: {exc}")
    return Derived(Derivation(()))


DERIVERS: Mapping[str, Callable[[SnapshotRecord], Derived]] = {
    kaiko_format.KIND: _kaiko,
    binance_format.FUNDING_KIND: _body(binance_format.derive_funding),
    binance_format.OPEN_INTEREST_KIND: _body(binance_format.derive_open_interest),
    okx_format.FUNDING_KIND: _body(okx_format.derive_funding),
    okx_format.OPEN_INTEREST_KIND: _body(okx_format.derive_open_interest),
    okx_format.LIQUIDATIONS_KIND: _body(okx_format.derive_liquidations),
    okx_format.INSTRUMENTS_KIND: _body(okx_format.derive_instruments),
    binance_coinm.EXCHANGE_INFO_KIND: _body(binance_coinm.derive_exchange_info),
    **dict.fromkeys(STREAM_KINDS, derive_batch),  # websocket frame batches: HTTP 101, no status
    activity.KIND: _activity,
}

TABLE_KINDS: frozenset[str] = frozenset(DERIVERS) - {kaiko_format.KIND, activity.KIND}
"""The kinds whose rows go to the ingestion tables rather than ``interval_volume``."""


def derive_all(snapshot: SnapshotRecord) -> Derived:
    """Everything ``snapshot`` yields: its records, its table rows, quarantine, problems."""
    try:
        deriver = DERIVERS[snapshot.kind]
    except KeyError:
        return Derived.quarantined(f"no deriver for snapshot kind {snapshot.kind!r}")
    return deriver(snapshot)


def derive_snapshot(snapshot: SnapshotRecord) -> Derivation:
    """The ``interval_volume`` records of ``snapshot`` (none for the overlay kinds)."""
    return derive_all(snapshot).derivation


def derived_rows(snapshot: SnapshotRecord) -> tuple[list[tuple[Any, ...]], str | None]:
    """Rows as the store keeps them (values in ``INTERVAL_VALUE_FIELDS`` order), and the
    quarantine reason: the form verify compares."""
    derivation = derive_snapshot(snapshot)
    return list(derivation.values), derivation.quarantine_reason


# -- verifying the ingestion tables


def verify_derived_tables(store: Store, *, batch_size: int = 200) -> list[Discrepancy]:
    """Re-derive every row of the ingestion tables from its snapshot and list every difference:
    missing, extra and changed rows, and rows whose snapshot is gone or cannot yield them."""
    found: list[Discrepancy] = []
    with store.read_session() as session:
        for batch in _table_snapshots(session, batch_size):
            ids = [s.id for s in batch]
            stored = {table: _stored_rows(session, table, ids) for table in DERIVED_TABLES}
            for snapshot in batch:
                _compare(snapshot, stored, found)
        _orphans(session, found)
    return found


def _table_snapshots(session: Session, size: int) -> Iterator[list[SnapshotView]]:
    """The snapshots of the table kinds in id order, as plain rows (not ORM objects)."""
    connection = session.connection()
    columns = SnapshotView.columns()
    last = 0
    while True:
        query = (
            select(*columns)
            .where(col(Snapshot.kind).in_(sorted(TABLE_KINDS)), col(Snapshot.id) > last)
            .order_by(col(Snapshot.id))
            .limit(size)
        )
        batch = [SnapshotView._make(row) for row in connection.execute(query)]
        if not batch:
            return
        yield batch
        last = batch[-1].id


def _stored_rows(
    session: Session, table: str, snapshot_ids: list[int]
) -> dict[int, list[tuple[Any, ...]]]:
    model = DERIVED_TABLES[table]
    columns = [
        getattr(model, c) for c in ("id", "snapshot_id", "row_index", *DERIVED_FIELDS[table])
    ]
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    if not snapshot_ids:
        return grouped
    query = (
        select(*columns)
        .where(model.snapshot_id.in_(snapshot_ids))  # type: ignore[attr-defined]
        .order_by(model.snapshot_id, model.row_index, model.id)  # type: ignore[attr-defined]
    )
    for row in session.execute(query):
        grouped.setdefault(row[1], []).append(tuple(row))
    return grouped


def _compare(
    snapshot: SnapshotView,
    stored: Mapping[str, Mapping[int, list[tuple[Any, ...]]]],
    found: list[Discrepancy],
) -> None:
    name = f"snapshot {snapshot.id} (leaf {snapshot.leaf_index})"
    try:
        derived = derive_all(snapshot)
    except Exception as exc:  # a deriver bug must not hide the rest of the report
        found.append(Discrepancy("snapshot", snapshot.id, f"{name}: re-derivation failed: {exc!r}"))
        return
    for table, fields in DERIVED_FIELDS.items():
        have = stored[table].get(snapshot.id, [])
        want = (
            []
            if derived.quarantine_reason is not None
            else [[row[f] for f in fields] for row in derived.tables.get(table, ())]
        )
        found.extend(diff_rows(table, name, fields, have, want))


def _orphans(session: Session, found: list[Discrepancy]) -> None:
    """Rows whose snapshot does not exist or is of a kind that yields no such rows."""
    for table, model in DERIVED_TABLES.items():
        query = (
            select(model.id, model.snapshot_id, col(Snapshot.kind))  # type: ignore[attr-defined]
            .outerjoin(Snapshot, col(Snapshot.id) == model.snapshot_id)  # type: ignore[attr-defined]
            .where(or_(col(Snapshot.id).is_(None), col(Snapshot.kind).not_in(sorted(TABLE_KINDS))))
            .order_by(model.id)  # type: ignore[attr-defined]
        )
        for row_id, snapshot_id, kind in session.execute(query):
            why = "which does not exist" if kind is None else f"of kind {kind}, which yields none"
            found.append(
                Discrepancy(
                    table, row_id, f"{table} {row_id} points at snapshot {snapshot_id}, {why}"
                )
            )
