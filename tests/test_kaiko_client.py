"""The Kaiko client against a real HTTP server on 127.0.0.1 that follows the documented format."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from audit_store.db import Store
from audit_store.models import ALL_EXCHANGES, IntervalVolume, Snapshot
from reporting.checks.metrics import load_period
from reporting.config import Settings
from reporting.errors import AuthError, ResponseError, TransportError
from reporting.fetch.ingest import fetch
from reporting.fetch.sources.kaiko.client import KaikoClient
from tests.conftest import SettingsFactory
from tests.kaiko_server import Canned, KaikoTestServer, datum

T0 = datetime(2025, 2, 27, 0, tzinfo=UTC)
KEY = "sk-test-0123456789"


def hours(n: int, ts_unit: str = "ns") -> list[dict[str, object]]:
    return [
        datum(
            T0 + timedelta(hours=h),
            {"bbit": (h, 1000.0 * h, 1, 250.5), "okex": (2, 99.25, h % 3, 10.0 * h)},
            ts_unit=ts_unit,
        )
        for h in range(n)
    ]


@pytest.fixture
def server() -> Iterator[KaikoTestServer]:
    srv = KaikoTestServer({"eth": hours(30), "btc": hours(5, "ms")}, api_key=KEY)
    with srv.running():
        yield srv


@pytest.fixture
def kaiko_settings(make_settings: SettingsFactory, server: KaikoTestServer) -> Settings:
    return make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY)


def test_pages_are_followed_to_the_last(kaiko_settings: Settings, server: KaikoTestServer) -> None:
    settings = kaiko_settings.model_copy(
        update={"kaiko": kaiko_settings.kaiko.model_copy(update={"page_size": 7})}
    )
    with KaikoClient(settings.kaiko) as client:
        pages = list(client.iter_pages("eth", T0, T0 + timedelta(hours=30)))
    assert len(pages) == 5  # 7 + 7 + 7 + 7 + 2
    first, *rest = server.requests
    assert first.path == "/v2/data/liquidation.v1/token/eth"
    assert first.query["page_size"] == "7"
    assert first.query["interval"] == "1h" and first.query["sort"] == "asc"
    assert first.query["start_time"] == "2025-02-27T00:00:00.000Z"
    assert first.headers["X-Api-Key"] == KEY
    for later in rest:  # Kaiko: page_size on the first call only; then the token alone
        assert set(later.query) == {"continuation_token"}
    times = [d["interval_time"] for p in pages for d in json.loads(p.body)["data"]]
    assert times == sorted(set(times)) and len(times) == 30


def test_api_key_never_reaches_the_snapshot(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    fetch(
        store,
        kaiko_settings,
        source="kaiko",
        assets=["eth"],
        start=T0,
        end=T0 + timedelta(hours=30),
    )
    with store.session() as session:
        snaps = session.exec(select(Snapshot)).all()
    assert snaps
    for s in snaps:
        assert KEY not in s.url and KEY not in s.params_json
        assert s.http_status == 200 and s.body_sha256 and s.leaf_hash


def test_fetch_stores_rows_that_sum_to_the_source(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    start, end = T0, T0 + timedelta(hours=30)
    (summary,) = fetch(store, kaiko_settings, source="kaiko", assets=["eth"], start=start, end=end)
    assert summary.problems == () and summary.quarantined == 0
    assert summary.rows == 30 * 3  # a total row and two exchanges per hour
    expected = sum(d["total_amount"] for d in hours(30))  # type: ignore[misc]
    data = load_period(store, source="kaiko", assets=["eth"], start=start, end=end)["ETH"]
    assert data.intervals_received == 30
    assert data.totals.total_usd == pytest.approx(expected, rel=1e-12)
    assert set(data.by_exchange) == {"bbit", "okex"}


def test_refetching_never_double_counts(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    start, end = T0, T0 + timedelta(hours=30)
    for _ in range(2):
        fetch(store, kaiko_settings, source="kaiko", assets=["eth"], start=start, end=end)
    with store.session() as session:
        assert (
            len(
                session.exec(
                    select(IntervalVolume).where(IntervalVolume.exchange == ALL_EXCHANGES)
                ).all()
            )
            == 60
        )
    data = load_period(store, source="kaiko", assets=["eth"], start=start, end=end)["ETH"]
    assert data.intervals_received == 30
    assert data.totals.total_count == sum(d["total_trades"] for d in hours(30))  # type: ignore[misc]


def test_millisecond_timestamps_also_parse(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    (summary,) = fetch(
        store, kaiko_settings, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(hours=5)
    )
    assert summary.rows == 15 and summary.problems == ()


def test_refused_key_names_the_variable_not_the_key(
    make_settings: SettingsFactory, server: KaikoTestServer
) -> None:
    settings = make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY="wrong-key")
    with KaikoClient(settings.kaiko) as client, pytest.raises(AuthError) as err:
        list(client.iter_pages("eth", T0, T0 + timedelta(hours=1)))
    assert "KAIKO_API_KEY" in str(err.value) and "wrong-key" not in str(err.value)


def test_missing_key_is_refused_before_any_request(
    make_settings: SettingsFactory, server: KaikoTestServer
) -> None:
    settings = make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url)
    with pytest.raises(AuthError, match="KAIKO_API_KEY"):
        KaikoClient(settings.kaiko)
    assert server.requests == []


def test_malformed_page_is_kept_quarantined_and_reported(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    server.script.append(Canned(200, b'{"data": [{"interval_time": "2025-02-27T00:00:00Z"'))
    (summary,) = fetch(
        store, kaiko_settings, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=3)
    )
    assert summary.quarantined == 1 and summary.rows == 0
    assert any("not valid JSON" in p.message for p in summary.problems)
    with store.session() as session:
        (snap,) = session.exec(select(Snapshot)).all()
        assert snap.quarantined and snap.body.startswith(b'{"data"')
        assert len(session.exec(select(IntervalVolume)).all()) == 0


def test_next_url_to_another_host_is_refused(
    kaiko_settings: Settings, server: KaikoTestServer
) -> None:
    evil = {"data": [], "continuation_token": "t", "next_url": "http://203.0.113.9/steal?t=1"}
    server.script.append(Canned(200, json.dumps(evil).encode()))
    with (
        KaikoClient(kaiko_settings.kaiko) as client,
        pytest.raises(ResponseError, match="next_url"),
    ):
        list(client.iter_pages("eth", T0, T0 + timedelta(hours=1)))
    assert len(server.requests) == 1


def test_repeated_continuation_token_is_a_loop(
    kaiko_settings: Settings, server: KaikoTestServer
) -> None:
    page = {
        "data": [],
        "continuation_token": "same",
        "next_url": f"{server.base_url}/v2/data/liquidation.v1/token/eth?continuation_token=same",
    }
    server.script.extend([Canned(200, json.dumps(page).encode())] * 2)
    with KaikoClient(kaiko_settings.kaiko) as client, pytest.raises(ResponseError, match="loop"):
        list(client.iter_pages("eth", T0, T0 + timedelta(hours=1)))


def fast_retry(settings: Settings, **update: object) -> Settings:
    kaiko = settings.kaiko.model_copy(
        update={"backoff_seconds": 0.01, "backoff_max_seconds": 0.05, **update}
    )
    return settings.model_copy(update={"kaiko": kaiko})


def test_429_with_retry_after_is_honoured(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    waits: list[float] = []
    server.script.append(
        Canned(429, b'{"result":"error","message":"slow down"}', {"Retry-After": "2"})
    )
    settings = fast_retry(kaiko_settings)
    with KaikoClient(settings.kaiko, sleep=waits.append) as client:
        pages = list(client.iter_pages("eth", T0, T0 + timedelta(hours=3)))
    assert waits == [2.0]
    assert [p.http_status for p in pages] == [429, 200]
    assert pages[0].extra["transient"] is True


def test_500_mid_paging_resumes_from_the_last_good_token(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    settings = fast_retry(kaiko_settings, page_size=10)
    server.faults[2] = Canned(500, b"upstream hiccup")
    (summary,) = fetch(
        store, settings, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=30)
    )
    tokens = [r.query.get("continuation_token") for r in server.requests]
    assert tokens[1] == tokens[2] and tokens[1] is not None  # the failed request, sent again
    assert summary.pages == 3 and summary.rows == 90
    assert [p.severity for p in summary.problems] == ["warning"]  # kept, retried, not fatal
    with store.session() as session:
        snaps = session.exec(select(Snapshot).order_by(col(Snapshot.leaf_index))).all()
    assert [s.http_status for s in snaps] == [200, 500, 200, 200]
    assert snaps[1].quarantined and snaps[1].body == b"upstream hiccup"
    data = load_period(
        store, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=30)
    )["ETH"]
    assert data.intervals_received == 30


def test_timeouts_are_retried_then_give_up(
    make_settings: SettingsFactory, server: KaikoTestServer
) -> None:
    settings = fast_retry(
        make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY),
        timeout_seconds=0.2,
        max_attempts=2,
    )
    server.script.extend([Canned(200, b"{}", delay=1.0), Canned(200, b"{}", delay=1.0)])
    with KaikoClient(settings.kaiko) as client, pytest.raises(TransportError) as err:
        list(client.iter_pages("eth", T0, T0 + timedelta(hours=1)))
    assert "timed out" in str(err.value) and "2 attempt" in str(err.value)


def test_one_timeout_then_success(make_settings: SettingsFactory, server: KaikoTestServer) -> None:
    settings = fast_retry(
        make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY),
        timeout_seconds=0.2,
    )
    server.script.append(Canned(200, b"{}", delay=1.0))
    with KaikoClient(settings.kaiko) as client:
        pages = list(client.iter_pages("eth", T0, T0 + timedelta(hours=2)))
    assert len(pages) == 1 and len(json.loads(pages[0].body)["data"]) == 2


def test_persistent_5xx_ends_with_the_last_response_kept(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    settings = fast_retry(kaiko_settings, max_attempts=3)
    server.script.extend([Canned(503, b"down")] * 3)
    (summary,) = fetch(
        store, settings, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=2)
    )
    assert summary.rows == 0 and summary.quarantined == 3
    assert any(p.severity == "error" and "HTTP 503" in p.message for p in summary.problems)


def test_oversize_response_is_refused(kaiko_settings: Settings, server: KaikoTestServer) -> None:
    settings = fast_retry(kaiko_settings, max_response_bytes=2048)
    with KaikoClient(settings.kaiko) as client, pytest.raises(ResponseError, match="cap"):
        list(client.iter_pages("eth", T0, T0 + timedelta(hours=30)))


def test_truncated_body_is_quarantined(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store
) -> None:
    full = KaikoTestServer({"eth": hours(3)})._page(
        {
            "asset": "eth",
            "interval": "1h",
            "start": None,
            "end": None,
            "sort": "asc",
            "page_size": 100,
            "offset": 0,
        }
    )
    server.script.append(Canned(200, full[: len(full) // 2]))
    (summary,) = fetch(
        store, kaiko_settings, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=3)
    )
    assert summary.quarantined == 1 and summary.rows == 0
    assert any("paging stopped" in p.message for p in summary.problems)


# -- prefetch: the next page is asked for while the caller stores the current one


def _with_prefetch(settings: Settings, prefetch: bool) -> Settings:
    kaiko = settings.kaiko.model_copy(update={"page_size": 7, "prefetch": prefetch})
    return settings.model_copy(update={"kaiko": kaiko})


def test_the_next_page_is_on_its_way_while_the_caller_holds_this_one(
    kaiko_settings: Settings, server: KaikoTestServer
) -> None:
    settings = _with_prefetch(kaiko_settings, True)
    with KaikoClient(settings.kaiko) as client:
        pages = client.iter_pages("eth", T0, T0 + timedelta(hours=30))
        next(pages)
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while len(server.requests) < 2 and datetime.now(UTC) < deadline:
            time.sleep(0.01)  # the background thread asks for page 2 without being waited for
        assert len(server.requests) == 2
        rest = list(pages)
    assert len(rest) == 4 and len(server.requests) == 5  # each page asked for once


def test_without_prefetch_a_page_is_asked_for_only_when_wanted(
    kaiko_settings: Settings, server: KaikoTestServer
) -> None:
    settings = _with_prefetch(kaiko_settings, False)
    with KaikoClient(settings.kaiko) as client:
        pages = client.iter_pages("eth", T0, T0 + timedelta(hours=30))
        next(pages)
        assert len(server.requests) == 1
        assert len(list(pages)) == 4


@pytest.mark.parametrize("prefetch", [True, False])
def test_prefetch_changes_nothing_that_is_kept(
    kaiko_settings: Settings, server: KaikoTestServer, store: Store, prefetch: bool
) -> None:
    """The same snapshots in the same leaf order, a failed page mid-walk included (its retry
    happens in order, after the failure is handed back)."""
    server.faults[2] = Canned(500, b"upstream hiccup")  # page 2's first attempt (prefetched)
    settings = fast_retry(kaiko_settings, page_size=7)
    kaiko = settings.kaiko.model_copy(update={"prefetch": prefetch})
    settings = settings.model_copy(update={"kaiko": kaiko})
    fetch(store, settings, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=30))
    with store.session() as session:
        snaps = session.exec(select(Snapshot).order_by(col(Snapshot.leaf_index))).all()
    assert [s.http_status for s in snaps] == [200, 500, 200, 200, 200, 200]
    tokens = [r.query.get("continuation_token") for r in server.requests]
    assert tokens[1] == tokens[2] and tokens[1] is not None  # the failed request, sent again
    assert len(server.requests) == 6
