"""Normalisation: asset symbols, exchange codes and timestamps, by example and by property."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting.fetch.normalise import (
    CONCATENATED_QUOTES,
    NS_FROM,
    WELL_KNOWN_ASSETS,
    epoch_divisor,
    epoch_to_utc,
    exchange_code,
    floor_time,
    parse_symbol,
    to_epoch_ms,
    to_utc,
)

# Base codes that are not aliases and do not start like a multiplier prefix ("1000PEPE").
codes = st.from_regex(r"[A-Z][A-Z0-9]{1,7}", fullmatch=True).filter(
    lambda c: c not in ("XBT", "XDG") and not c.startswith("1")
)
quotes = st.sampled_from(["USDT", "USDC", "USD", "BTC", "ETH", "EUR"])
moments = st.datetimes(
    min_value=datetime(1975, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@pytest.mark.parametrize(
    ("symbol", "base", "quote", "kind"),
    [
        ("BTC", "BTC", None, "asset"),
        ("btc", "BTC", None, "asset"),
        ("XBT", "BTC", None, "asset"),
        ("BTCUSDT", "BTC", "USDT", "pair"),
        ("XBTUSD", "BTC", "USD", "pair"),
        ("BTC-USDT-SWAP", "BTC", "USDT", "perpetual"),
        ("BTC-USD-SWAP", "BTC", "USD", "perpetual"),
        ("BTC-PERP", "BTC", "USD", "perpetual"),
        ("BTC-PERPETUAL", "BTC", "USD", "perpetual"),
        ("ETH-USD", "ETH", "USD", "pair"),
        ("ETH/USDT", "ETH", "USDT", "pair"),
        ("BTC/USDT:USDT", "BTC", "USDT", "perpetual"),
        ("BTCUSD_PERP", "BTC", "USD", "perpetual"),
        ("PF_XBTUSD", "BTC", "USD", "perpetual"),
        ("1000PEPEUSDT", "PEPE", "USDT", "pair"),
        ("WUSDT", "W", "USDT", "pair"),
    ],
)
def test_documented_symbols(symbol: str, base: str, quote: str | None, kind: str) -> None:
    parsed = parse_symbol(symbol)
    assert (parsed.base, parsed.quote, parsed.kind) == (base, quote, kind)
    assert parsed.instrument == symbol  # kept verbatim


def test_futures_keep_their_expiry_and_multipliers_their_size() -> None:
    assert parse_symbol("BTC-USDT-251226").expiry == date(2025, 12, 26)
    assert parse_symbol("BTCUSDT_251226").expiry == date(2025, 12, 26)
    assert parse_symbol("BTC-27DEC24").expiry == date(2024, 12, 27)
    assert parse_symbol("BTC-27DEC24-60000-C").kind == "option"
    assert parse_symbol("1000PEPEUSDT").multiplier == 1000


@pytest.mark.parametrize("bad", ["", "   ", "BTC-???-SWAP", "B$C", "BTC-USDT-NOTADATE", "A/B/C:"])
def test_unreadable_symbols_are_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_symbol(bad)


@given(codes, quotes)
def test_delimited_forms_round_trip(base: str, quote: str) -> None:
    for text, kind in (
        (f"{base}-{quote}-SWAP", "perpetual"),
        (f"{base}-{quote}", "pair"),
        (f"{base}/{quote}", "pair"),
        (f"{base}/{quote}:{quote}", "perpetual"),
        (f"{base.lower()}-{quote.lower()}-swap", "perpetual"),
    ):
        parsed = parse_symbol(text)
        assert (parsed.base, parsed.quote, parsed.kind, parsed.instrument) == (
            base,
            quote,
            kind,
            text,
        )


@given(codes | st.sampled_from(sorted(WELL_KNOWN_ASSETS - {"XBT", "XDG"})), quotes)
def test_concatenated_pairs_split_into_a_quote_and_what_precedes_it(base: str, quote: str) -> None:
    parsed = parse_symbol(base + quote)
    if quote in CONCATENATED_QUOTES:
        assert parsed.quote in CONCATENATED_QUOTES
        assert (base + quote).endswith(parsed.quote or "")
        assert parsed.base + (parsed.quote or "") == base + quote  # a split, nothing lost
        if base in WELL_KNOWN_ASSETS:
            assert (parsed.base, parsed.quote) == (base, quote)
    else:  # crypto quotes need a delimiter: the whole text is read as one code
        assert parsed.quote is None and parsed.base == base + quote


@given(st.sampled_from(["XBT", "xbt"]), quotes)
def test_xbt_is_bitcoin_in_every_form(xbt: str, quote: str) -> None:
    for text in (xbt, f"{xbt}-{quote}-SWAP", f"{xbt}/{quote}"):
        assert parse_symbol(text).base == "BTC"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Binance", "binc"),
        ("BINANCE", "binc"),
        (" binance ", "binc"),
        ("binc", "binc"),
        ("OKX", "okex"),
        ("okex", "okex"),
        ("Bybit", "bbit"),
        ("Deribit", "drbt"),
        ("HTX", "hbdm"),
        ("Kraken  Futures", "krkn"),
        ("Bitget", "bitget"),  # unknown: kept, lower-cased
    ],
)
def test_exchange_codes(name: str, code: str) -> None:
    assert exchange_code(name) == code


def test_empty_exchange_name_is_refused() -> None:
    with pytest.raises(ValueError):
        exchange_code("  ")


@given(moments)
def test_epoch_numbers_in_any_unit_and_iso_text_give_the_same_utc_time(moment: datetime) -> None:
    moment = moment.replace(microsecond=(moment.microsecond // 1000) * 1000)  # ms precision
    ms = to_epoch_ms(moment)
    assert to_utc(ms) == moment
    assert to_utc(str(ms)) == moment  # OKX sends numeric strings
    assert to_utc(ms * 1_000) == moment
    assert to_utc(ms * 1_000_000) == moment  # Kaiko's documented example is in ns
    assert to_utc(moment.isoformat().replace("+00:00", "Z")) == moment
    shifted = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert to_utc(shifted.isoformat()) == moment
    assert to_utc(shifted) == moment
    if ms % 1000 == 0:
        assert to_utc(ms // 1000) == moment
    assert to_utc(ms).tzinfo == UTC


def test_nanoseconds_start_at_ns_from() -> None:
    assert epoch_divisor(NS_FROM - 1) == 1_000_000  # microseconds up to it
    assert epoch_divisor(NS_FROM) == 1_000_000_000
    # Kaiko's documented stamp, and the earliest nanosecond one (1973)
    assert epoch_to_utc(1742169600000000000) == datetime(2025, 3, 17, tzinfo=UTC)
    assert epoch_to_utc(NS_FROM) == datetime.fromtimestamp(10**8, tz=UTC)


@given(moments)
def test_naive_times_are_refused_never_guessed(moment: datetime) -> None:
    naive = moment.replace(tzinfo=None)
    with pytest.raises(ValueError, match="no time zone"):
        to_utc(naive)
    with pytest.raises(ValueError):
        to_utc(naive.isoformat())


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), "yesterday", "", None, 10**30])
def test_non_timestamps_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        to_utc(bad)  # type: ignore[arg-type]


@given(moments, st.sampled_from([300, 3600, 4 * 3600, 8 * 3600, 86400]))
def test_floor_time_is_the_aligned_start_of_the_interval(moment: datetime, step: int) -> None:
    start = floor_time(moment, step)
    assert start <= moment < start + timedelta(seconds=step)
    assert to_epoch_ms(start) % (step * 1000) == 0
