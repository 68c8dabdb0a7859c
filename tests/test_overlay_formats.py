"""The Binance and OKX parsers: documented examples, schema breaks, and properties."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.fetch.normalise import to_epoch_ms
from reporting.fetch.sources.binance import format as binance_format
from reporting.fetch.sources.derived import Derived
from reporting.fetch.sources.okx import format as okx_format

# The documentation's examples, verbatim.
BINANCE_FUNDING_DOC = [
    {
        "symbol": "BTCUSDT",
        "fundingRate": "-0.03750000",
        "fundingTime": 1570608000000,
        "markPrice": "34287.54619963",
    },
    {
        "symbol": "BTCUSDT",
        "fundingRate": "0.00010000",
        "fundingTime": 1570636800000,
        "markPrice": "34287.54619963",
    },
]
BINANCE_OI_DOC = [
    {
        "symbol": "BTCUSDT",
        "sumOpenInterest": "20403.63700000",
        "sumOpenInterestValue": "150570784.07809979",
        "CMCCirculatingSupply": "165880.538",
        "timestamp": "1583127900000",
    }
]
OKX_FUNDING_DOC = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "formulaType": "noRate",
            "fundingRate": "0.0000746604960499",
            "fundingTime": "1703059200000",
            "instId": "BTC-USD-SWAP",
            "instType": "SWAP",
            "method": "next_period",
            "realizedRate": "0.0000746572360545",
        }
    ],
}
OKX_LIQUIDATIONS_DOC = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "details": [
                {
                    "bkLoss": "0",
                    "bkPx": "0.007831",
                    "ccy": "",
                    "posSide": "short",
                    "side": "buy",
                    "sz": "13",
                    "ts": "1692266434010",
                }
            ],
            "instFamily": "IOST-USDT",
            "instId": "IOST-USDT-SWAP",
            "instType": "SWAP",
            "totalLoss": "0",
            "uly": "IOST-USDT",
        }
    ],
}
FILLED = {"instType": "SWAP", "instFamily": "IOST-USDT", "state": "filled"}


def dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_binance_funding_documented_example() -> None:
    d = binance_format.derive_funding(dumps(BINANCE_FUNDING_DOC), {"symbol": "BTCUSDT"}, "binance")
    assert d.quarantine_reason is None and d.problems == ()
    first, second = d.tables["funding_rate"]
    assert first["funding_time"] == datetime(2019, 10, 9, 8, tzinfo=UTC)
    assert first["funding_rate"] == -0.0375 and first["mark_price"] == 34287.54619963
    assert (first["asset"], first["instrument"], first["quote"]) == ("BTC", "BTCUSDT", "USDT")
    assert first["exchange"] == "binc" and second["funding_rate"] == 0.0001


def test_binance_open_interest_documented_example() -> None:
    d = binance_format.derive_open_interest(
        dumps(BINANCE_OI_DOC), {"symbol": "BTCUSDT", "period": "5m"}, "binance"
    )
    (row,) = d.tables["open_interest"]
    assert row["ts"] == datetime(2020, 3, 2, 5, 45, tzinfo=UTC)
    assert row["oi_base"] == 20403.637 and row["oi_usd"] == 150570784.07809979
    assert row["period_seconds"] == 300 and row["oi_contracts"] is None


def test_okx_funding_documented_example() -> None:
    d = okx_format.derive_funding(dumps(OKX_FUNDING_DOC), {"instId": "BTC-USD-SWAP"}, "okx")
    (row,) = d.tables["funding_rate"]
    assert row["funding_time"] == datetime(2023, 12, 20, 8, tzinfo=UTC)
    assert row["funding_rate"] == 0.0000746604960499
    assert row["realized_rate"] == 0.0000746572360545
    assert (row["asset"], row["quote"], row["exchange"]) == ("BTC", "USD", "okex")


def test_okx_liquidations_documented_example() -> None:
    d = okx_format.derive_liquidations(dumps(OKX_LIQUIDATIONS_DOC), FILLED, "okx")
    (row,) = d.tables["liquidation_order"]
    assert row["asset"] == "IOST" and row["instrument"] == "IOST-USDT-SWAP"
    assert (
        row["direction"] == "short" and row["size"] == 13.0 and row["bankruptcy_price"] == 0.007831
    )
    assert row["ts"] == datetime(2023, 8, 17, 10, 0, 34, 10000, tzinfo=UTC)


def test_okx_net_mode_positions_are_named_by_the_order_side() -> None:
    doc = json.loads(json.dumps(OKX_LIQUIDATIONS_DOC))
    doc["data"][0]["details"][0].update(posSide="net", side="sell")
    (row,) = okx_format.derive_liquidations(dumps(doc), FILLED, "okx").tables["liquidation_order"]
    assert row["direction"] == "long"  # selling to close: a long was liquidated


def test_okx_liquidations_of_unfilled_orders_never_count() -> None:
    params = {**FILLED, "state": "unfilled"}
    d = okx_format.derive_liquidations(dumps(OKX_LIQUIDATIONS_DOC), params, "okx")
    assert d.tables == {} and "filled" in (d.quarantine_reason or "")


def test_okx_open_interest_rows_are_arrays() -> None:
    body = dumps({"code": "0", "msg": "", "data": [["1701417600000", "731377.575", "111", "4"]]})
    d = okx_format.derive_open_interest(body, {"instId": "BTC-USDT-SWAP", "period": "1H"}, "okx")
    (row,) = d.tables["open_interest"]
    assert (row["oi_contracts"], row["oi_base"], row["oi_usd"]) == (731377.575, 111.0, 4.0)
    assert row["period_seconds"] == 3600 and row["asset"] == "BTC"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"code": -1121, "msg": "Invalid symbol."}', "code -1121"),
        (b"[{", "not valid JSON"),
        (b'{"a": 1}', "not a JSON list"),
        (b'[{"symbol": "BTCUSDT", "fundingTime": 1570608000000}]', "fundingRate is missing"),
        (
            b'[{"symbol": "BTCUSDT", "fundingTime": 1570608000000, "fundingRate": "abc"}]',
            "not a number",
        ),
        (
            b'[{"symbol": "BTCUSDT", "fundingTime": 1570608000000, "fundingRate": NaN}]',
            "NaN",
        ),
        (
            b'[{"symbol": "BTCUSDT", "fundingTime": "soon", "fundingRate": "0.1"}]',
            "not a timestamp",
        ),
        (
            b'[{"symbol": "BTCUSDT", "fundingTime": 1570608000, "fundingRate": "0.1"}]',
            "milliseconds",  # seconds where milliseconds are documented
        ),
        (
            b'[{"symbol": "BTCUSDT", "fundingTime": 1570608000000, "fundingRate": "0.1"},'
            b' {"symbol": "BTCUSDT", "fundingTime": 1570608000000, "fundingRate": "0.2"}]',
            "appears twice",
        ),
    ],
)
def test_binance_funding_schema_breaks_quarantine_the_page(body: bytes, reason: str) -> None:
    d = binance_format.derive_funding(body, {"symbol": "BTCUSDT"}, "binance")
    assert d.tables == {} and reason in (d.quarantine_reason or "")


def test_negative_open_interest_quarantines() -> None:
    doc = [{**BINANCE_OI_DOC[0], "sumOpenInterest": "-1"}]
    d = binance_format.derive_open_interest(dumps(doc), {"period": "5m"}, "binance")
    assert "negative" in (d.quarantine_reason or "")


def test_okx_error_envelope_quarantines() -> None:
    body = dumps({"code": "51001", "msg": "Instrument ID does not exist", "data": []})
    d = okx_format.derive_funding(body, {"instId": "NOPE-USDT-SWAP"}, "okx")
    assert d.quarantine_reason == "API answered code 51001: Instrument ID does not exist"


def test_okx_instruments_need_a_positive_contract_value() -> None:
    from tests.okx_server import swap_instrument

    good = swap_instrument("BTC-USDT-SWAP", "0.01", "BTC", "linear")
    d = okx_format.derive_instruments(dumps({"code": "0", "data": [good]}), {}, "okx")
    (row,) = d.tables["instrument_spec"]
    assert (row["ct_val"], row["ct_val_ccy"], row["ct_type"]) == (0.01, "BTC", "linear")
    bad = {**good, "ctVal": ""}
    d = okx_format.derive_instruments(dumps({"code": "0", "data": [bad]}), {}, "okx")
    assert "ctVal" in (d.quarantine_reason or "")


# -- properties

decimals = st.decimals(
    min_value=-1, max_value=10**9, allow_nan=False, allow_infinity=False, places=8
)
times_ms = st.integers(min_value=10**12, max_value=4 * 10**12)


@given(
    st.lists(
        st.tuples(times_ms, decimals, decimals.map(abs)), max_size=30, unique_by=lambda r: r[0]
    )
)
def test_binance_funding_rows_are_exactly_the_documented_fields(
    rows: list[tuple[int, Any, Any]],
) -> None:
    doc = [
        {"symbol": "ETHUSDT", "fundingTime": t, "fundingRate": str(rate), "markPrice": str(mark)}
        for t, rate, mark in rows
    ]
    d = binance_format.derive_funding(dumps(doc), {"symbol": "ETHUSDT"}, "binance")
    assert d.quarantine_reason is None
    got = d.tables["funding_rate"]
    assert [r["funding_rate"] for r in got] == [float(str(rate)) for _t, rate, _m in rows]
    assert [to_epoch_ms(r["funding_time"]) for r in got] == [t for t, _r, _m in rows]
    assert all(r["asset"] == "ETH" for r in got)


@given(st.binary(max_size=300))
def test_any_bytes_derive_without_raising(body: bytes) -> None:
    cases: list[tuple[Callable[[bytes, dict[str, str], str], Derived], dict[str, str]]] = [
        (binance_format.derive_funding, {}),
        (binance_format.derive_open_interest, {"period": "1h"}),
        (okx_format.derive_funding, {}),
        (okx_format.derive_open_interest, {"instId": "BTC-USDT-SWAP"}),
        (okx_format.derive_liquidations, FILLED),
        (okx_format.derive_instruments, {}),
    ]
    for derive, params in cases:
        d = derive(body, params, "test")
        assert (d.quarantine_reason is None) or d.tables == {}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.sampled_from(["sz", "bkPx", "ts", "side", "posSide"]), json_values)
def test_a_detail_field_of_the_wrong_type_quarantines_or_parses_but_never_half_counts(
    field: str, value: Any
) -> None:
    doc = json.loads(json.dumps(OKX_LIQUIDATIONS_DOC))
    doc["data"][0]["details"].append({**doc["data"][0]["details"][0], field: value})
    d = okx_format.derive_liquidations(dumps(doc), FILLED, "okx")
    if d.quarantine_reason is None:
        assert len(d.tables["liquidation_order"]) == 2  # both orders, or none at all
        for row in d.tables["liquidation_order"]:
            assert row["size"] > 0 and row["bankruptcy_price"] > 0
            assert row["direction"] in ("long", "short")
    else:
        assert d.tables == {}
