"""The Kaiko body parser: the documented example, its timestamp trap, and schema breaks."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit_store.models import ALL_EXCHANGES
from reporting.fetch.sources.kaiko.format import derive, interval_seconds, timestamp_to_datetime
from reporting.records import IntervalRecord

URL = "https://us.market-api.kaiko.io/v2/data/liquidation.v1/token/eth"

# The response example from the documentation page, verbatim where it is complete.
DOC_EXAMPLE_DATUM: dict[str, Any] = {
    "interval_time": "2025-02-27T23:00:00Z",
    "interval_timestamp": 1740697200000000000,
    "total_trades": 40,
    "total_amount": 474520.3599480028,
    "long_trades": 2,
    "long_amount": 11062.85615080547,
    "short_trades": 38,
    "short_amount": 463457.50379719737,
    "exchanges": [
        {
            "exchange": "bbit",
            "total_trades": 17,
            "total_amount": 281481.78156436956,
            "long_trades": 0,
            "long_amount": 0,
            "short_trades": 17,
            "short_amount": 281481.78156436956,
        },
        {
            "exchange": "okex",
            "total_trades": 23,
            "total_amount": 193038.57838363323,
            "long_trades": 2,
            "long_amount": 11062.85615080547,
            "short_trades": 21,
            "short_amount": 181975.72223282777,
        },
    ],
}


def body(*data: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps(
        {"query": {"interval": "1h", "token": "eth"}, "data": list(data), **extra}
    ).encode()


def test_documented_example_parses_exactly() -> None:
    d = derive(
        body(DOC_EXAMPLE_DATUM, continuation_token="abc", next_url=URL + "?c=1"), URL, {}, "kaiko"
    )
    assert d.quarantine_reason is None
    assert d.problems == ()
    assert d.continuation_token == "abc"
    total, bbit, okex = d.records
    assert total.exchange == ALL_EXCHANGES and total.asset == "ETH"
    assert total.interval_start == datetime(2025, 2, 27, 23, tzinfo=UTC)
    assert total.interval_seconds == 3600
    assert (total.long_count, total.short_count, total.total_count) == (2, 38, 40)
    assert total.total_usd == 474520.3599480028
    assert bbit.exchange == "bbit" and bbit.long_usd == 0.0 and bbit.short_count == 17
    assert okex.long_usd == 11062.85615080547


@pytest.mark.parametrize(
    "stamp",
    [1742169600, 1742169600000, 1742169600000000, 1742169600000000000],
    ids=["s", "ms", "us", "ns"],
)
def test_timestamp_units_by_magnitude(stamp: int) -> None:
    assert timestamp_to_datetime(stamp) == datetime(2025, 3, 17, tzinfo=UTC)


def test_interval_time_wins_when_timestamp_disagrees() -> None:
    wrong = {**DOC_EXAMPLE_DATUM, "interval_timestamp": 1740693600000}  # an hour earlier, in ms
    d = derive(body(wrong), URL, {}, "kaiko")
    assert d.records[0].interval_start == datetime(2025, 2, 27, 23, tzinfo=UTC)
    assert any("interval_time is used" in p.message for p in d.problems)


def test_unknown_fields_are_tolerated() -> None:
    extra = {**DOC_EXAMPLE_DATUM, "new_field": {"x": 1}}
    d = derive(body(extra, brand_new="yes"), URL, {}, "kaiko")
    assert d.quarantine_reason is None and len(d.records) == 3


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.pop("total_amount"), "total_amount is missing"),
        (lambda d: d.update(total_trades="40"), "not an integer"),
        (lambda d: d.update(long_amount=-1.0), "negative"),
        (lambda d: d.update(short_amount=True), "not a number"),
        (lambda d: d.update(interval_time="yesterday"), "interval_time"),
        (lambda d: d["exchanges"][0].pop("exchange"), "exchange code is missing"),
    ],
)
def test_schema_breaks_quarantine(mutate: Any, reason: str) -> None:
    broken = json.loads(json.dumps(DOC_EXAMPLE_DATUM))
    mutate(broken)
    d = derive(body(broken), URL, {}, "kaiko")
    assert d.records == ()
    assert d.quarantine_reason is not None and reason in d.quarantine_reason


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"data": [', "not valid JSON"),
        (b'{"data": [{"total_amount": NaN}]}', "NaN"),
        (b'{"result": "error", "message": "quota"}', "result=error"),
        (b'{"query": {}}', "data is missing"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_bodies_quarantine(raw: bytes, reason: str) -> None:
    d = derive(raw, URL, {}, "kaiko")
    assert d.records == () and d.quarantine_reason and reason in d.quarantine_reason


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(long_amount=10**400), "data[0]: long_amount is not finite"),
        (lambda d: d.update(total_amount=-(10**400)), "data[0]: total_amount is not finite"),
        (
            lambda d: d["exchanges"][1].update(short_amount=10**400),
            "data[0].exchanges[1]: short_amount is not finite",
        ),
    ],
)
def test_an_integer_amount_beyond_any_float_quarantines(mutate: Any, reason: str) -> None:
    huge = json.loads(json.dumps(DOC_EXAMPLE_DATUM))
    mutate(huge)
    raw = body(huge)
    assert str(10**400).encode() in raw  # a JSON integer of 401 digits
    d = derive(raw, URL, {}, "kaiko")
    assert d.records == () and d.quarantine_reason == reason


def test_inconsistent_sums_are_problems_not_quarantine() -> None:
    skewed = json.loads(json.dumps(DOC_EXAMPLE_DATUM))
    skewed["total_trades"] = 41
    d = derive(body(skewed), URL, {}, "kaiko")
    assert d.quarantine_reason is None
    assert any("total_trades" in p.message for p in d.problems)


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("4h", 14400), ("24h", 86400), ("1d", 86400)]
)
def test_interval_seconds(text: str, seconds: int) -> None:
    assert interval_seconds(text) == seconds


@pytest.mark.parametrize("text", ["0h", "25h", "2d", "30m", "h", "1H"])
def test_interval_out_of_range(text: str) -> None:
    with pytest.raises(ValueError):
        interval_seconds(text)


amounts = st.floats(min_value=0, max_value=1e12, allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10**6)


@given(
    hour=st.integers(min_value=0, max_value=24 * 365 * 30),
    unit=st.sampled_from(["s", "ms", "ns"]),
    long_n=counts,
    short_n=counts,
    long_a=amounts,
    short_a=amounts,
)
def test_any_valid_datum_round_trips(
    hour: int, unit: str, long_n: int, short_n: int, long_a: float, short_a: float
) -> None:
    start = datetime(2000, 1, 1, tzinfo=UTC).timestamp() + hour * 3600
    seconds = int(start)
    stamp = {"s": seconds, "ms": seconds * 1000, "ns": seconds * 10**9}[unit]
    datum = {
        "interval_timestamp": stamp,
        "total_trades": long_n + short_n,
        "total_amount": long_a + short_a,
        "long_trades": long_n,
        "long_amount": long_a,
        "short_trades": short_n,
        "short_amount": short_a,
        "exchanges": [],
    }
    d = derive(body(datum), URL, {}, "kaiko")
    assert d.quarantine_reason is None
    (rec,) = d.records
    assert rec.interval_start.timestamp() == seconds
    assert rec.long_usd == long_a and rec.short_count == short_n
    assert math.isclose(rec.total_usd, long_a + short_a)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    d = derive(raw, URL, {}, "kaiko")
    assert d.records == () or d.quarantine_reason is None


# -- the fast path: a page it takes derives exactly as the detailed path does; a doubt falls back


def _mutations() -> list[Any]:
    def datum(**changes: Any) -> dict[str, Any]:
        d: dict[str, Any] = json.loads(json.dumps(DOC_EXAMPLE_DATUM))
        d.update(changes)
        return d

    def entry(j: int, **changes: Any) -> dict[str, Any]:
        d = datum()
        d["exchanges"][j].update(changes)
        return d

    second = datum(interval_time="2025-02-28T00:00:00Z", interval_timestamp=1740700800000)
    return [
        [datum()],
        [datum(), second],
        [datum(), datum()],  # the same interval twice
        [datum(interval_timestamp=1740697200)],  # seconds
        [datum(interval_timestamp=1740697201000000000)],  # disagrees with interval_time
        [datum(interval_time=None)],
        [datum(interval_timestamp=None)],
        [datum(interval_time="2025-02-27T23:00:00.5Z", interval_timestamp=1740697200500000000)],
        [datum(total_trades=41)],  # totals inconsistent
        [datum(total_amount=474530.0)],
        [datum(long_amount=-0.0, short_amount=474520.3599480028)],
        [datum(exchanges=[])],
        [datum(exchanges="x")],
        [entry(0, total_trades="17")],
        [entry(0, long_amount=True)],
        [entry(1, short_amount=-1)],
        [entry(1, short_amount=1e999)],
        [entry(0, exchange=" ")],
        [entry(0, exchange="okex")],
        [entry(0, exchange=ALL_EXCHANGES)],
        [entry(0, long_trades=1)],  # sums no longer match the total
        [entry(0, short_amount=281481.78156436956 + 0.5)],
        [datum(long_amount=10**400)],
        [entry(1, total_amount=10**400)],
        # long + short overflows to infinity: both paths report it
        [datum(long_amount=1.7e308, short_amount=1.7e308, total_amount=1.7e308, exchanges=[])],
        ["not an object"],
        [],
    ]


@pytest.mark.parametrize("data", _mutations())
def test_fast_path_derives_as_the_detailed_path(data: list[Any], monkeypatch: Any) -> None:
    from reporting.fetch.sources.kaiko import format as kaiko_format

    raw = body(*data)
    fast = derive(raw, URL, {}, "kaiko")
    monkeypatch.setattr(kaiko_format, "_fast_rows", lambda *_a: None)
    detailed = derive(bytes(raw), URL, {}, "kaiko")
    assert fast == detailed
    # the same values of the same types
    assert [tuple(map(type, v)) for v in fast.values] == [
        tuple(map(type, v)) for v in detailed.values
    ]


def test_fast_path_takes_clean_pages() -> None:
    from reporting.fetch.sources.kaiko import format as kaiko_format

    doc = json.loads(body(DOC_EXAMPLE_DATUM))
    fast = kaiko_format._fast_rows(doc["data"], "kaiko", "ETH", 3600)
    assert fast is not None
    derivation = derive(body(DOC_EXAMPLE_DATUM), URL, {}, "kaiko")
    assert fast == list(derivation.values)
    # The records are the same rows by field name.
    assert [r.as_values() for r in derivation.records] == fast
    assert all(type(r) is IntervalRecord for r in derivation.records)


def test_long_and_short_that_overflow_their_sum_are_reported() -> None:
    huge: dict[str, Any] = json.loads(json.dumps(DOC_EXAMPLE_DATUM))
    huge.update(long_amount=1.7e308, short_amount=1.7e308, total_amount=1.7e308, exchanges=[])
    d = derive(body(huge), URL, {}, "kaiko")
    assert d.quarantine_reason is None and len(d.values) == 1  # kept, and said to be wrong
    assert [p.source for p in d.problems] == ["data[0]"]
    assert "long_amount + short_amount" in d.problems[0].message
