"""Each venue's documented frame, its side convention and contract units, and bad input: a frame
the reader refuses raises with the reason (the batch keeps it raw), never yields a wrong event."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.sources.bybit import stream as bybit
from reporting.fetch.sources.derived import SchemaViolation
from reporting.fetch.sources.okx import stream as okx
from reporting.fetch.streams.frames import Event, FrameReading, decode_batch, encode_batch
from tests.ws_venues import binance_frame, bybit_frame, okx_frame

MS = 1761125802306  # 2025-10-22T09:36:42.306Z
CONTRACTS = {
    "context": {
        "assets": "BTC,ETH",
        "contracts": okx.contracts_param(
            {"BTC-USDT-SWAP": (0.01, 1.0, "BTC"), "BTC-USD-SWAP": (100.0, 1.0, "USD")}
        ),
    }
}


def _one(reading: FrameReading) -> Event:
    assert len(reading.events) == 1
    return reading.events[0]


def test_binance_sell_order_liquidates_a_long_and_buy_a_short() -> None:
    sell = _one(
        binance.read_frame(binance_frame("BTCUSDT", "SELL", "0.5", "100000", MS).encode(), {})
    )
    buy = _one(
        binance.read_frame(binance_frame("BTCUSDT", "BUY", "0.5", "100000", MS).encode(), {})
    )
    assert (sell.side, buy.side) == ("long", "short")
    assert sell.usd == 50000.0 and sell.asset == "BTC" and sell.quote == "USDT"
    assert sell.exchange_time == datetime(2025, 10, 22, 9, 36, 42, 306000, tzinfo=UTC)


def test_binance_thousand_unit_contracts_count_the_base_asset() -> None:
    event = _one(
        binance.read_frame(binance_frame("1000PEPEUSDT", "SELL", "666", "0.015", MS).encode(), {})
    )
    assert event.asset == "PEPE" and event.quantity == 666_000
    assert event.usd == pytest.approx(666 * 0.015) and event.price == pytest.approx(0.000015)


def test_binance_non_latin_symbols_are_kept_verbatim() -> None:
    frame = binance_frame("币安人生USDT", "SELL", "118.0", "0.31173", MS).encode()
    event = _one(binance.read_frame(frame, {}))
    assert event.instrument == "币安人生USDT" and event.asset == "币安人生"
    assert event.usd == 0.31173 * 118.0


def test_bybit_buy_is_a_long_position_liquidated_the_opposite_of_binance() -> None:
    buy = _one(bybit.read_frame(bybit_frame("BTCUSDT", "Buy", "0.01", "90000", MS).encode(), {}))
    sell = _one(bybit.read_frame(bybit_frame("BTCUSDT", "Sell", "0.01", "90000", MS).encode(), {}))
    assert (buy.side, sell.side) == ("long", "short")
    assert buy.usd == pytest.approx(900.0) and buy.quantity == 0.01


def test_bybit_inverse_contracts_are_one_dollar_each() -> None:
    event = _one(bybit.read_frame(bybit_frame("BTCUSD", "Sell", "5000", "100000", MS).encode(), {}))
    assert event.usd == 5000.0 and event.quantity == pytest.approx(0.05) and event.quote == "USD"


def test_bybit_subscriptions_hold_at_most_ten_topics_each() -> None:
    names = [f"A{i}USDT" for i in range(23)]
    messages = [json.loads(m) for m in bybit.subscribe_messages(names)]
    assert [len(m["args"]) for m in messages] == [10, 10, 3]
    assert messages[0]["args"][0] == "allLiquidation.A0USDT"


def test_bybit_control_frames() -> None:
    ack = bybit.read_frame(b'{"success":true,"ret_msg":"","op":"subscribe","req_id":"sub-0"}', {})
    no = bybit.read_frame(
        b'{"success":false,"ret_msg":"error:handler not found","op":"subscribe"}', {}
    )
    pong = bybit.read_frame(b'{"success":true,"ret_msg":"pong","op":"ping"}', {})
    assert (ack.control, no.control, pong.control) == ("subscribed", "refused", "pong")
    assert "handler not found" in no.detail


def test_okx_contracts_convert_to_usd_linear_and_inverse() -> None:
    context = CONTRACTS["context"]
    linear = _one(
        okx.read_frame(
            okx_frame("BTC-USDT-SWAP", "sell", "long", "5", "90000", MS).encode(), context
        )
    )
    assert linear.side == "long" and linear.quantity == pytest.approx(0.05)
    assert linear.usd == pytest.approx(4500.0)
    inverse = _one(
        okx.read_frame(
            okx_frame("BTC-USD-SWAP", "buy", "short", "3", "100000", MS).encode(), context
        )
    )
    assert inverse.side == "short" and inverse.usd == pytest.approx(300.0)
    net = _one(
        okx.read_frame(
            okx_frame("BTC-USDT-SWAP", "sell", "net", "1", "90000", MS).encode(), context
        )
    )
    assert net.side == "long"  # net mode: a sell closes a long


def test_okx_instrument_without_a_contract_value_is_refused_unless_not_watched() -> None:
    context = CONTRACTS["context"]
    with pytest.raises(SchemaViolation, match="no contract value for ETH-USDT-SWAP"):
        okx.read_frame(
            okx_frame("ETH-USDT-SWAP", "sell", "long", "1", "3000", MS).encode(), context
        )
    ignored = okx.read_frame(
        okx_frame("DOGE-USDT-SWAP", "sell", "long", "1", "0.2", MS).encode(), context
    )
    assert ignored.events == () and ignored.control is None


def test_okx_control_frames() -> None:
    assert okx.read_frame(b"pong", {}).control == "pong"
    assert (
        okx.read_frame(b'{"event":"subscribe","arg":{},"connId":"a"}', {}).control == "subscribed"
    )
    refused = okx.read_frame(b'{"event":"error","code":"60012","msg":"Invalid request"}', {})
    assert refused.control == "refused" and "60012" in refused.detail


def _order(**changes: object) -> bytes:
    frame = json.loads(binance_frame("BTCUSDT", "SELL", "0.5", "100000", MS))
    frame["o"].update(changes)
    return json.dumps(frame).encode()


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
        (b'{"e":"aggTrade"}', "not forceOrder"),
        (b'{"e":"forceOrder"}', "o: the order is missing"),
        (_order(S="HOLD"), "neither BUY nor SELL"),
        (_order(ap="abc"), "not a number"),
        (_order(z=None), "not a number"),
        (_order(z="-1"), "not above zero"),
        (_order(z="1e30"), "beyond any liquidation"),
        (_order(T="yesterday"), "not a timestamp"),
        (_order(s="<script>alert(1)</script>"), "not a contract of a known quote"),
        (
            b'{"e":"forceOrder","o":{"s":"BTCUSDT","S":"SELL","ap":NaN,"z":"1","T":1761125802306}}',
            "not a number",
        ),
    ],
)
def test_bad_binance_frames_are_refused_with_the_reason(frame: bytes, reason: str) -> None:
    with pytest.raises(SchemaViolation, match=reason):
        binance.read_frame(frame, {})


def test_a_batch_keeps_every_byte_and_refuses_a_truncated_body() -> None:
    at = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
    payloads = [b'{"a":1}', "币安人生".encode(), b"", b"\x00\xff binary\n with newline"]
    body = encode_batch((at, "c1", p) for p in payloads)
    frames = decode_batch(body)
    assert [f.data for f in frames] == payloads and frames[1].received_at == at
    with pytest.raises(SchemaViolation, match="ends inside the frame"):
        decode_batch(body[:-3])
    with pytest.raises(SchemaViolation, match="not valid"):
        decode_batch(b"garbage\n")


def test_the_fast_millisecond_time_is_the_exact_epoch_time() -> None:
    from reporting.fetch.normalise import epoch_to_utc, ms_to_utc

    for ms in (10**11, 1_591_154_240_949, 1_761_125_802_306, 10**14 - 1):
        assert ms_to_utc(ms) == epoch_to_utc(ms) and ms_to_utc(ms).tzinfo is UTC
