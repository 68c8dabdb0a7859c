"""The Kaiko emulator: the documented endpoint's paging, aggregation and errors, on the demo."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from reporting.fetch.sources.demo.client import (
    DEMO_BASE_URL,
    KaikoEmulator,
    demo_transport,
    interval_hours,
    load_demo_dataset,
)

PATH = "/v2/data/liquidation.v1/token/"
QUERY_KEYS = [
    "request_time",
    "query_start_time",
    "query_end_time",
    "data_start_time",
    "data_end_time",
    "start_time",
    "start_timestamp",
    "end_time",
    "end_timestamp",
    "page_size",
    "sort",
    "token",
    "interval",
    "commodity",
    "data_version",
]
VOLUMES = (
    "total_trades",
    "total_amount",
    "long_trades",
    "long_amount",
    "short_trades",
    "short_amount",
)


@pytest.fixture(scope="module")
def dataset() -> dict[str, Any]:
    return load_demo_dataset()


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(transport=demo_transport(), base_url=DEMO_BASE_URL) as http:
        yield http


def _hours(dataset: dict[str, Any], asset: str, start: str, end: str) -> list[dict[str, Any]]:
    return [d for d in dataset["assets"][asset] if start <= d["interval_time"] < end]


def _fetch_all(
    client: httpx.Client, asset: str, params: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page of a query, following next_url; returns (data, bodies)."""
    response = client.get(PATH + asset, params=params)
    bodies = []
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        if "next_url" not in body:
            assert "continuation_token" not in body
            break
        next_url = body["next_url"]
        # Follow-ups carry only the token, as in the documented example.
        assert next_url.startswith(f"{DEMO_BASE_URL}{PATH}{asset}?")
        assert parse_qsl(urlsplit(next_url).query) == [
            ("continuation_token", body["continuation_token"])
        ]
        response = client.get(next_url)
    return [d for body in bodies for d in body["data"]], bodies


# --- paging ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["asc", "desc"])
def test_paging_returns_exactly_the_range(
    client: httpx.Client, dataset: dict[str, Any], sort: str
) -> None:
    params = {
        "interval": "1h",
        "start_time": "2025-10-25T05:00:00.000Z",
        "end_time": "2025-11-04T17:00:00.000Z",
        "sort": sort,
        "page_size": "24",
    }
    data, bodies = _fetch_all(client, "btc", params)
    expected = _hours(dataset, "btc", "2025-10-25T05", "2025-11-04T17")
    if sort == "desc":
        expected = expected[::-1]
    assert len(expected) == 10 * 24 + 12
    assert data == expected  # no gap, no duplicate, in order
    assert len({d["interval_time"] for d in data}) == len(data)
    assert len(bodies) == math.ceil(len(expected) / 24)
    assert all(len(b["data"]) == 24 for b in bodies[:-1])
    for body in bodies:
        query = body["query"]
        assert list(query) == QUERY_KEYS
        assert query["sort"] == sort and query["page_size"] == 24 and query["token"] == "btc"
        assert query["query_start_time"] == "2025-10-25T05:00:00Z"
        assert query["query_end_time"] == "2025-11-04T17:00:00Z"
        starts = sorted(d["interval_time"] for d in body["data"])
        assert query["start_time"] == starts[0]
        end = datetime.fromisoformat(starts[-1].replace("Z", "+00:00")) + timedelta(hours=1)
        assert query["end_timestamp"] == int(end.timestamp() * 1000)


@pytest.mark.parametrize("asset", ["btc", "eth", "sol", "xrp", "doge"])
def test_whole_dataset_by_default(
    client: httpx.Client, dataset: dict[str, Any], asset: str
) -> None:
    data, bodies = _fetch_all(client, asset, {"sort": "asc", "page_size": "1000"})
    assert data == dataset["assets"][asset]
    assert len(bodies) == 1
    desc, bodies = _fetch_all(client, asset, {})  # desc, 100 a page: the documented defaults
    assert desc == dataset["assets"][asset][::-1]
    assert len(bodies) == 6 and bodies[0]["query"]["page_size"] == 100


def test_response_matches_the_documented_example(client: httpx.Client) -> None:
    # The seed's request: a start one second past the hour, an end one second before midnight.
    response = client.get(
        PATH + "eth",
        params={
            "interval": "1h",
            "start_time": "2025-11-03T09:00:01Z",
            "end_time": "2025-11-03T23:59:59Z",
            "page_size": "2",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == [
        "query",
        "answer_time",
        "answer_timestamp",
        "access",
        "data",
        "continuation_token",
        "next_url",
    ]
    query = body["query"]
    assert query["data_start_time"] == "2025-11-03T09:00:00Z"
    assert query["data_end_time"] == "2025-11-04T00:00:00Z"
    assert query["start_time"] == "2025-11-03T22:00:00Z"
    assert query["end_time"] == "2025-11-04T00:00:00Z"
    assert query["start_timestamp"] == 1762207200000
    assert query["commodity"] == "liquidationEvents" and query["data_version"] == "v1"
    assert query["sort"] == "desc" and query["interval"] == "1h"
    assert [d["interval_time"] for d in body["data"]] == [
        "2025-11-03T23:00:00Z",
        "2025-11-03T22:00:00Z",
    ]
    datum = body["data"][0]
    assert list(datum) == ["interval_time", "interval_timestamp", *VOLUMES, "exchanges"]
    assert list(datum["exchanges"][0]) == ["exchange", *VOLUMES]
    assert body["access"]["data_range"] == {"start_timestamp": None, "end_timestamp": None}
    assert body["answer_timestamp"] > 0


def test_answers_are_deterministic(dataset: dict[str, Any]) -> None:
    url = f"{DEMO_BASE_URL}{PATH}sol?interval=1h&page_size=7&start_time=2025-11-01T00:00:00Z"
    first = KaikoEmulator(dataset).handle(httpx.Request("GET", url))
    second = KaikoEmulator(dataset).handle(httpx.Request("GET", url))
    assert first.content == second.content
    body = first.json()
    assert body["query"]["request_time"] == "2025-11-10T00:00:00.000Z"
    assert body["answer_time"] == "2025-11-10T00:00:00.028Z"


def test_follow_up_with_only_the_token(client: httpx.Client, dataset: dict[str, Any]) -> None:
    first = client.get(
        PATH + "xrp",
        params={
            "sort": "asc",
            "page_size": "5",
            "start_time": "2025-11-02T00:00:00Z",
            "end_time": "2025-11-03T00:00:00Z",
            "interval": "2h",
        },
    ).json()
    token = first["continuation_token"]
    by_token = client.get(PATH + "xrp", params={"continuation_token": token})
    by_url = client.get(first["next_url"])
    assert by_token.content == by_url.content
    second = by_token.json()
    assert second["query"]["interval"] == "2h" and second["query"]["sort"] == "asc"
    assert second["query"]["page_size"] == 5
    assert [d["interval_time"][11:13] for d in second["data"]] == ["10", "12", "14", "16", "18"]
    # Parameters sent beside a token do not change the query it carries.
    noisy = client.get(
        PATH + "xrp", params={"continuation_token": token, "sort": "desc", "interval": "1d"}
    )
    assert noisy.content == by_token.content


def test_token_is_opaque_url_safe_text(client: httpx.Client) -> None:
    body = client.get(PATH + "btc", params={"page_size": "3"}).json()
    token = body["continuation_token"]
    assert token and set(token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )


# --- aggregation ----------------------------------------------------------------------------


@pytest.mark.parametrize("interval,hours", [("4h", 4), ("1d", 24), ("24h", 24), ("3h", 3)])
def test_longer_intervals_sum_the_hours(
    client: httpx.Client, dataset: dict[str, Any], interval: str, hours: int
) -> None:
    params = {
        "interval": interval,
        "sort": "asc",
        "page_size": "1000",
        "start_time": "2025-11-02T00:00:00Z",
        "end_time": "2025-11-05T00:00:00Z",
    }
    data, _ = _fetch_all(client, "eth", params)
    hourly = _hours(dataset, "eth", "2025-11-02", "2025-11-05")
    assert len(data) == 72 // hours
    for i, bucket in enumerate(data):
        part = hourly[i * hours : (i + 1) * hours]
        assert bucket["interval_time"] == part[0]["interval_time"]
        assert bucket["interval_timestamp"] == part[0]["interval_timestamp"]
        for key in VOLUMES:
            assert bucket[key] == pytest.approx(sum(h[key] for h in part), rel=1e-12)
        assert bucket["long_trades"] + bucket["short_trades"] == bucket["total_trades"]
        assert bucket["total_amount"] == bucket["long_amount"] + bucket["short_amount"]
        codes = sorted({e["exchange"] for h in part for e in h["exchanges"]})
        assert [e["exchange"] for e in bucket["exchanges"]] == codes
        for entry in bucket["exchanges"]:
            same = [e for h in part for e in h["exchanges"] if e["exchange"] == entry["exchange"]]
            for key in VOLUMES:
                assert entry[key] == pytest.approx(sum(e[key] for e in same), rel=1e-12)
        for key in ("total_trades", "long_trades", "short_trades"):
            assert sum(e[key] for e in bucket["exchanges"]) == bucket[key]


def test_daily_totals_match_the_generators_summary(
    client: httpx.Client, dataset: dict[str, Any]
) -> None:
    data, _ = _fetch_all(client, "btc", {"interval": "1d", "sort": "asc"})
    assert len(data) == 21
    stress = next(d for d in data if d["interval_time"] == "2025-11-03T00:00:00Z")
    expected = dataset["meta"]["summary"]["btc"]["stress_day_usd"]
    assert stress["total_amount"] == pytest.approx(expected, abs=0.01)


def test_intervals_restart_at_midnight(client: httpx.Client) -> None:
    data, _ = _fetch_all(
        client,
        "doge",
        {
            "interval": "5h",
            "sort": "asc",
            "start_time": "2025-11-01T00:00:00Z",
            "end_time": "2025-11-02T00:00:00Z",
        },
    )
    assert [d["interval_time"][11:13] for d in data] == ["00", "05", "10", "15", "20"]


def test_partial_interval_is_returned_whole(client: httpx.Client) -> None:
    body = client.get(
        PATH + "btc",
        params={
            "interval": "4h",
            "start_time": "2025-11-03T13:30:00Z",
            "end_time": "2025-11-03T14:10:00Z",
            "sort": "asc",
        },
    ).json()
    assert body["query"]["data_start_time"] == "2025-11-03T12:00:00Z"
    assert body["query"]["data_end_time"] == "2025-11-03T16:00:00Z"
    assert [d["interval_time"] for d in body["data"]] == ["2025-11-03T12:00:00Z"]


def test_interval_hours() -> None:
    assert [interval_hours(f"{n}h") for n in (1, 2, 12, 24)] == [1, 2, 12, 24]
    assert interval_hours("1d") == 24
    for bad in ("0h", "25h", "2d", "90m", "1w", "h", "01h", "1H", ""):
        with pytest.raises(ValueError):
            interval_hours(bad)


# --- empty ranges and errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    "start,end",
    [
        ("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z"),  # after the data
        ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),  # before it
        ("2025-11-03T00:00:00Z", "2025-11-03T00:00:00Z"),  # empty
    ],
)
def test_empty_range(client: httpx.Client, start: str, end: str) -> None:
    response = client.get(PATH + "btc", params={"start_time": start, "end_time": end})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == []
    assert "continuation_token" not in body and "next_url" not in body


def _assert_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["result"] == "error"
    assert isinstance(body["message"], str) and body["message"]


@pytest.mark.parametrize("interval", ["0h", "25h", "2d", "30m", "1w", "abc"])
def test_bad_interval_is_400(client: httpx.Client, interval: str) -> None:
    _assert_error(client.get(PATH + "btc", params={"interval": interval}), 400)


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "up"},
        {"page_size": "0"},
        {"page_size": "1001"},
        {"page_size": "ten"},
        {"start_time": "yesterday"},
        {"start_time": "2025-11-04T00:00:00Z", "end_time": "2025-11-03T00:00:00Z"},
        {"continuation_token": "not-a-token"},
    ],
)
def test_bad_parameters_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    _assert_error(client.get(PATH + "btc", params=params), 400)


def test_tampered_or_foreign_token_is_400(client: httpx.Client) -> None:
    token = client.get(PATH + "btc", params={"page_size": "3"}).json()["continuation_token"]
    _assert_error(client.get(PATH + "eth", params={"continuation_token": token}), 400)
    state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    state["p"] = 5000
    forged = base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")
    _assert_error(client.get(PATH + "btc", params={"continuation_token": forged}), 400)


def test_unknown_asset_is_404(client: httpx.Client) -> None:
    _assert_error(client.get(PATH + "pepe"), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/v2/data/liquidation.v1/token/",
        "/v2/data/liquidation.v2/token/btc",
        "/v2/data/liquidation.v1/token/btc/extra",
    ],
)
def test_unknown_path_is_404(client: httpx.Client, path: str) -> None:
    _assert_error(client.get(path), 404)


def test_other_methods_are_refused(client: httpx.Client) -> None:
    _assert_error(client.post(PATH + "btc"), 405)


def test_asset_code_is_case_insensitive(client: httpx.Client) -> None:
    upper = client.get(PATH + "BTC", params={"page_size": "2"})
    lower = client.get(PATH + "btc", params={"page_size": "2"})
    assert upper.content == lower.content


def test_load_demo_dataset_is_cached() -> None:
    assert load_demo_dataset() is load_demo_dataset()


def test_emulator_over_a_small_dataset() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    data = [
        {
            "interval_time": (start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "interval_timestamp": int((start + timedelta(hours=h)).timestamp()) * 10**9,
            "total_trades": 1,
            "total_amount": 10.5,
            "long_trades": 1,
            "long_amount": 10.5,
            "short_trades": 0,
            "short_amount": 0,
            "exchanges": [
                {
                    "exchange": "binc",
                    "total_trades": 1,
                    "total_amount": 10.5,
                    "long_trades": 1,
                    "long_amount": 10.5,
                    "short_trades": 0,
                    "short_amount": 0,
                }
            ],
        }
        for h in range(3)
    ]
    emulator = KaikoEmulator({"assets": {"abc": data}}, base_url="https://x.test/")
    transport = httpx.MockTransport(emulator.handle)
    with httpx.Client(transport=transport, base_url="https://x.test") as http:
        body = http.get(PATH + "abc", params={"page_size": "2", "interval": "1h"}).json()
        assert body["next_url"].startswith("https://x.test/v2/")
        assert body["query"]["request_time"] == "2025-01-01T03:00:00.000Z"
        daily = http.get(PATH + "abc", params={"interval": "1d"}).json()["data"]
        assert daily[0]["total_trades"] == 3 and daily[0]["short_amount"] == 0
        assert daily[0]["long_amount"] == pytest.approx(31.5)


def test_the_kaiko_client_and_deriver_read_the_emulator_cleanly() -> None:
    # End to end through the product's own client and deriver: paging by next_url on the
    # configured host, and every page derived without quarantine or problem.
    from reporting.config import KaikoSource
    from reporting.fetch.sources.kaiko.client import KaikoClient
    from reporting.fetch.sources.kaiko.format import derive

    settings = KaikoSource(base_url=DEMO_BASE_URL, page_size=24)
    start, end = datetime(2025, 11, 1, tzinfo=UTC), datetime(2025, 11, 5, tzinfo=UTC)
    with KaikoClient(
        settings, source_name="demo", transport=demo_transport(), require_key=False
    ) as c:
        pages = list(c.iter_pages("btc", start, end))
    assert len(pages) == 4
    totals = []
    for raw in pages:
        derived = derive(raw.body, raw.url, raw.params, "demo")
        assert derived.quarantine_reason is None and derived.problems == ()
        totals += [r for r in derived.records if r.is_total]
    assert [r.interval_start for r in totals] == [start + timedelta(hours=h) for h in range(96)]
