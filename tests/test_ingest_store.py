"""Ingestion's tables on SQLite and PostgreSQL: stored with their snapshot, re-derivable,
append-only, and corrections found by the same query on both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.models import Snapshot
from audit_store.snapshots import RawResponse
from audit_store.tables_ingest import INGEST_TABLES
from reporting.checks.overlay_store import funding_rates, okx_hourly
from reporting.fetch import watermarks
from reporting.fetch.corrections import corrections
from reporting.fetch.derivers import derive_all, verify_derived_tables
from reporting.fetch.ingest import store_response
from reporting.fetch.normalise import to_epoch_ms
from reporting.fetch.sources.binance import format as binance_format
from reporting.fetch.sources.kaiko.format import KIND
from reporting.fetch.sources.okx import format as okx_format
from tests.kaiko_server import datum
from tests.okx_server import swap_instrument

pytest_plugins = ["tests.pg"]

T0 = datetime(2025, 11, 3, tzinfo=UTC)


def raw(kind: str, url: str, params: dict[str, str], doc: object, at: datetime = T0) -> RawResponse:
    return RawResponse(
        source=url.split("/")[2].split(".")[0],
        kind=kind,
        url=url,
        params=params,
        fetched_at=at,
        http_status=200,
        body=json.dumps(doc).encode(),
    )


def fill(store: Store) -> None:
    funding = [
        {
            "symbol": "BTCUSDT",
            "fundingRate": rate,
            "fundingTime": to_epoch_ms(T0 + timedelta(hours=h)),
        }
        for rate, h in (("-0.00040000", 8), ("-0.00120000", 16))
    ]
    store_response(
        store,
        raw(
            binance_format.FUNDING_KIND,
            "https://binance.invalid/fapi/v1/fundingRate",
            {"symbol": "BTCUSDT"},
            funding,
        ),
        config_hash="t",
    )
    store_response(
        store,
        raw(
            okx_format.INSTRUMENTS_KIND,
            "https://okx.invalid/api/v5/public/instruments",
            {"instType": "SWAP"},
            {"code": "0", "data": [swap_instrument("BTC-USDT-SWAP", "0.01", "BTC", "linear")]},
        ),
        config_hash="t",
    )
    detail = {"side": "sell", "posSide": "long", "bkPx": "90000", "sz": "5", "bkLoss": "0"}
    orders = {
        "code": "0",
        "data": [
            {
                "instId": "BTC-USDT-SWAP",
                "instType": "SWAP",
                "details": [{**detail, "ts": str(to_epoch_ms(T0 + timedelta(hours=14)))}],
            }
        ],
    }
    store_response(
        store,
        raw(
            okx_format.LIQUIDATIONS_KIND,
            "https://okx.invalid/api/v5/public/liquidation-orders",
            {"instType": "SWAP", "instFamily": "BTC-USDT", "state": "filled"},
            orders,
        ),
        config_hash="t",
    )
    oi = {"code": "0", "data": [[str(to_epoch_ms(T0)), "10", "0.1", "9000"]]}
    store_response(
        store,
        raw(
            okx_format.OPEN_INTEREST_KIND,
            "https://okx.invalid/api/v5/rubik/stat/contracts/open-interest-history",
            {"instId": "BTC-USDT-SWAP", "period": "1H"},
            oi,
        ),
        config_hash="t",
    )
    watermarks.advance(
        store,
        source="okx",
        dataset="liquidations",
        asset="btc",
        start=T0,
        end=T0 + timedelta(days=1),
        recorded_at=T0 + timedelta(days=2),
        config_hash="t",
    )


def kaiko_page(store: Store, total: float, at: datetime) -> None:
    body = {"query": {"interval": "1h"}, "data": [datum(T0, {"okex": (1, total, 0, 0.0)})]}
    store_response(
        store,
        raw(KIND, "https://kaiko.invalid/v2/data/liquidation.v1/token/btc", {}, body, at),
        config_hash="t",
    )


def test_rows_are_stored_read_and_verified(any_store: Store) -> None:
    fill(any_store)
    points = funding_rates(any_store, asset="BTC", start=T0, end=T0 + timedelta(days=1))
    assert [p.funding_rate for p in points] == [-0.0004, -0.0012]
    hours = okx_hourly(any_store, asset="BTC", start=T0, end=T0 + timedelta(days=1))
    assert hours.totals.long_usd == pytest.approx(5 * 0.01 * 90000)
    assert verify_derived_tables(any_store) == []
    mark = watermarks.current(any_store, "okx", "liquidations", "BTC")
    assert mark is not None and mark.watermark == T0 + timedelta(days=1)


@pytest.mark.parametrize("table", INGEST_TABLES)
def test_every_ingestion_table_refuses_update_and_delete(any_store: Store, table: str) -> None:
    fill(any_store)
    for statement in (f"UPDATE {table} SET source = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(AppendOnlyViolation), any_store.session() as session:
            session.execute(text(statement))
    with any_store.session() as session:
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() >= 1


def test_corrections_are_found_on_both_databases(any_store: Store) -> None:
    kaiko_page(any_store, 100.0, T0 + timedelta(hours=2))
    kaiko_page(any_store, 100.0, T0 + timedelta(hours=3))
    kaiko_page(any_store, 250.0, T0 + timedelta(hours=4))
    found = corrections(any_store, source="kaiko", start=T0, end=T0 + timedelta(days=1))
    assert {(c.exchange, c.before.values.total_usd, c.after.values.total_usd) for c in found} == {
        ("okex", 100.0, 250.0),
        ("*", 100.0, 250.0),
    }
    assert all(c.after.corrects_leaf_index == c.before.leaf_index for c in found)


HUGE = 10**400  # a JSON integer beyond any float


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (
            raw(
                KIND,
                "https://kaiko.invalid/v2/data/liquidation.v1/token/btc",
                {},
                {
                    "query": {"interval": "1h"},
                    "data": [{**datum(T0, {"okex": (1, 5.0, 0, 0.0)}), "long_amount": HUGE}],
                },
            ),
            "data[0]: long_amount is not finite",
        ),
        (
            raw(
                binance_format.FUNDING_KIND,
                "https://binance.invalid/fapi/v1/fundingRate",
                {"symbol": "BTCUSDT"},
                [{"symbol": "BTCUSDT", "fundingRate": HUGE, "fundingTime": to_epoch_ms(T0)}],
            ),
            "[0]: fundingRate is not finite",
        ),
        (
            raw(
                okx_format.OPEN_INTEREST_KIND,
                "https://okx.invalid/api/v5/rubik/stat/contracts/open-interest-history",
                {"instId": "BTC-USDT-SWAP", "period": "1H"},
                {"code": "0", "data": [[str(to_epoch_ms(T0)), "10", HUGE, "9000"]]},
            ),
            "data[0]: oiCcy is not finite",
        ),
    ],
    ids=["kaiko", "binance", "okx"],
)
def test_an_integer_beyond_any_float_is_kept_and_quarantined(
    any_store: Store, page: RawResponse, reason: str
) -> None:
    stored = store_response(any_store, page, config_hash="t")
    assert stored.quarantine_reason == reason and stored.rows == 0
    with any_store.session() as session:
        snapshot = session.get(Snapshot, stored.snapshot_id)
        assert snapshot is not None and snapshot.body == page.body and snapshot.quarantined
        assert derive_all(snapshot).quarantine_reason == reason  # as verify re-derives it
    assert verify_derived_tables(any_store) == []
