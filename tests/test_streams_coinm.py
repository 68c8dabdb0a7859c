"""Binance COIN-M futures' liquidations (``streams.binance_markets = ["usdm", "coinm"]``): the
``!forceOrder@arr`` stream on ``dstream``, quantities in contracts of a fixed USD face value read
from ``/dapi/v1/exchangeInfo``, which is stored like any response and travels with each batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reporting.fetch.derivers import verify_derived_tables
from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.sources.binance.coinm import derive_exchange_info
from reporting.fetch.sources.derived import SchemaViolation
from reporting.fetch.streams.reading import events
from reporting.fetch.streams.runner import binance_coinm_contracts, prepare_specs
from reporting.fetch.streams.venues import stream_specs
from reporting.fetch.streams.verify import verify_stream_tables
from tests.binance_server import BinanceTestServer
from tests.stream_helpers import collect, frames_at_least, new_store, rows, stream_settings
from tests.ws_venues import VenueServer, binance_coinm_frame, venue_server

MS = 1_591_154_240_949  # the documented example's trade time
DAY0 = datetime(2020, 6, 3, tzinfo=UTC)
SIZES = {"BTCUSD_200925": [100.0, "BTC"], "ETHUSD_PERP": [10.0, "ETH"]}
CONTEXT = {"contracts": json.dumps(SIZES), "assets": "BTC,ETH"}


def test_the_documented_frame_is_a_long_of_contracts_times_the_face_value() -> None:
    doc = (
        '{"e":"forceOrder","E":1591154240950,"o":{"s":"BTCUSD_200925","ps":"BTCUSD","S":"SELL",'
        '"o":"LIMIT","f":"IOC","q":"1","p":"9425.5","ap":"9496.5","X":"FILLED","l":"1","z":"1",'
        '"T":1591154240949}}'
    )
    (event,) = binance.read_coinm_frame(doc.encode(), CONTEXT).events
    assert (event.instrument, event.asset, event.quote, event.side) == (
        "BTCUSD_200925",
        "BTC",
        "USD",
        "long",  # a SELL liquidation order closes a long, as on USD-M
    )
    # one contract of 100 USD, whatever the price; the coin amount is the notional over the price
    assert event.usd == 100.0 and event.price == 9496.5
    assert event.quantity == pytest.approx(100.0 / 9496.5)


def test_other_coins_use_their_own_face_value_and_buy_is_a_short() -> None:
    frame = binance_coinm_frame("ETHUSD_PERP", "BUY", "3", "2500", MS)
    (event,) = binance.read_coinm_frame(frame.encode(), CONTEXT).events
    assert (event.side, event.usd) == ("short", 30.0)


def test_a_watched_contract_without_a_size_is_refused_and_an_unwatched_one_ignored() -> None:
    unknown = binance_coinm_frame("BTCUSD_251226", "SELL", "2", "90000", MS)
    with pytest.raises(SchemaViolation, match="no contract size for BTCUSD_251226"):
        binance.read_coinm_frame(unknown.encode(), CONTEXT)
    other = binance_coinm_frame("ADAUSD_PERP", "SELL", "2", "0.5", MS)
    assert binance.read_coinm_frame(other.encode(), CONTEXT).events == ()


def test_exchange_info_becomes_contract_sizes_and_a_broken_one_is_quarantined() -> None:
    server = BinanceTestServer(coinm_sizes={"BTCUSD_PERP": 100, "ETHUSD_PERP": 10})
    body = json.dumps(server._exchange_info()).encode()
    derived = derive_exchange_info(body, {}, "binance")
    found = derived.tables["instrument_spec"]
    assert {(r["instrument"], r["asset"], r["ct_val"], r["ct_val_ccy"]) for r in found} == {
        ("BTCUSD_PERP", "BTC", 100.0, "USD"),
        ("ETHUSD_PERP", "ETH", 10.0, "USD"),
    }
    broken = body.replace(b'"contractSize": 100', b'"contractSize": "a hundred"')
    assert "contractSize" in (derive_exchange_info(broken, {}, "binance").quarantine_reason or "")


def test_collecting_coinm_stores_the_sizes_used_and_re_derives(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    frames = [
        ("send", binance_coinm_frame("BTCUSD_PERP", "SELL", "5", "90000", MS)),
        ("send", binance_coinm_frame("ETHUSD_PERP", "BUY", "7", "2500", MS + 1)),
        ("send", binance_coinm_frame("BTCUSD_PERP", "SELL", "5", "90000", MS)),  # re-sent
    ]
    rest = BinanceTestServer(coinm_sizes={"BTCUSD_PERP": 100, "ETHUSD_PERP": 10})
    with rest.running(), venue_server(VenueServer("binance_coinm", [frames])) as url:
        settings = stream_settings(
            binance_markets=("coinm",), binance_coinm_url=url, binance_coinm_rest_url=rest.base_url
        )
        specs = prepare_specs(store, settings, ("binance",))
        assert [s.stream for s in specs] == ["binance.coinm"]
        assert url.rstrip("/") + "/ws/!forceOrder@arr" == specs[0].url
        collect(store, settings, specs, until=frames_at_least(3))
    assert binance_coinm_contracts(store) == {
        "BTCUSD_PERP": (100.0, "BTC"),
        "ETHUSD_PERP": (10.0, "ETH"),
    }
    found = events(store, venue="binance", start=DAY0, end=DAY0 + timedelta(days=1))
    assert sorted((e["instrument"], e["side"], e["usd"]) for e in found) == [
        ("BTCUSD_PERP", "long", 500.0),
        ("ETHUSD_PERP", "short", 70.0),
    ]
    (duplicates,) = rows(store, "SELECT count(*) FROM stream_event WHERE NOT counted")[0]
    assert duplicates == 1
    assert verify_derived_tables(store) == [] and not list(verify_stream_tables(store))
    # the batch carries the sizes it was read with: it re-derives from itself alone
    (batch,) = rows(
        store,
        "SELECT body, params_json FROM snapshot WHERE kind = 'binance.ws.force_order.coinm.v1'",
    )
    params = json.loads(batch[1])
    assert json.loads(params["contracts"])["BTCUSD_PERP"] == [100.0, "BTC"]


def test_a_restart_without_the_rest_endpoint_uses_the_stored_sizes(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    rest = BinanceTestServer(coinm_sizes={"BTCUSD_PERP": 100})
    with rest.running():
        settings = stream_settings(binance_markets=("coinm",), binance_coinm_rest_url=rest.base_url)
        prepare_specs(store, settings, ("binance",))
    down = stream_settings(binance_markets=("coinm",), binance_coinm_rest_url="http://127.0.0.1:9")
    once = down.binance.model_copy(update={"max_attempts": 1})  # the refusal, not its retries
    down = down.model_copy(update={"binance": once})
    (spec,) = prepare_specs(store, down, ("binance",))
    assert json.loads(spec.params["contracts"]) == {"BTCUSD_PERP": [100.0, "BTC"]}


def test_usdm_and_coinm_are_two_streams_of_one_venue() -> None:
    settings = stream_settings(binance_markets=("usdm", "coinm"))
    specs = stream_specs(settings, ("binance",))
    assert [(s.stream, s.venue, s.url) for s in specs] == [
        ("binance.usdm", "binance", "wss://fstream.binance.com/market/ws/!forceOrder@arr"),
        ("binance.coinm", "binance", "wss://dstream.binance.com/ws/!forceOrder@arr"),
    ]


def test_without_any_size_coinm_is_kept_raw_and_the_others_start(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    down = stream_settings(
        binance_markets=("usdm", "coinm"), binance_coinm_rest_url="http://127.0.0.1:9"
    )
    down = down.model_copy(update={"binance": down.binance.model_copy(update={"max_attempts": 1})})
    specs = prepare_specs(store, down, ("binance",))
    assert [s.stream for s in specs] == ["binance.usdm", "binance.coinm"]
    frame = binance_coinm_frame("BTCUSD_PERP", "SELL", "5", "90000", MS).encode()
    with pytest.raises(SchemaViolation, match="no contract size"):
        binance.read_coinm_frame(frame, specs[1].params)
