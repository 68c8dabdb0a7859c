"""Watermarks: scheduled fetches ask only for intervals not yet closed and stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_ingest import IngestWatermark
from reporting.cli import main
from reporting.config import Settings
from reporting.fetch import watermarks
from reporting.fetch.ingest import fetch
from tests.conftest import SettingsFactory
from tests.kaiko_server import Canned, KaikoTestServer, datum

T0 = datetime(2025, 11, 1, tzinfo=UTC)
KEY = "sk-watermark-test"


def hours(n: int) -> list[dict[str, object]]:
    return [datum(T0 + timedelta(hours=h), {"binc": (1, 10.0, 1, 20.0)}) for h in range(n)]


@pytest.fixture
def server() -> Iterator[KaikoTestServer]:
    srv = KaikoTestServer({"btc": hours(72), "eth": hours(72)}, api_key=KEY)
    with srv.running():
        yield srv


@pytest.fixture
def kaiko(make_settings: SettingsFactory, server: KaikoTestServer) -> Settings:
    return make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY)


def test_closed_until_waits_for_the_settle_time() -> None:
    now = datetime(2025, 11, 3, 14, 10, tzinfo=UTC)
    assert watermarks.closed_until(now, 3600, 900) == datetime(2025, 11, 3, 13, tzinfo=UTC)
    assert watermarks.closed_until(now, 3600, 0) == datetime(2025, 11, 3, 14, tzinfo=UTC)
    assert watermarks.closed_until(now, 86400, 900) == datetime(2025, 11, 3, tzinfo=UTC)


def test_fetch_without_start_continues_from_the_watermark(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    first_clock = T0 + timedelta(hours=24, minutes=20)  # 00:00-24:00 closed and settled
    (summary,) = fetch(
        store, kaiko, source="kaiko", assets=["btc"], start=T0, clock=lambda: first_clock
    )
    assert summary.rows == 24 * 2
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and (mark.covered_from, mark.watermark) == (T0, T0 + timedelta(days=1))

    later = T0 + timedelta(hours=30, minutes=14)  # 05:00-06:00 closed, not settled (15 min)
    server.requests.clear()
    (summary,) = fetch(store, kaiko, source="kaiko", assets=["btc"], clock=lambda: later)
    (request,) = server.requests
    assert request.query["start_time"] == "2025-11-02T00:00:00.000Z"
    assert request.query["end_time"] == "2025-11-02T05:00:00.000Z"
    assert summary.rows == 5 * 2
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and mark.watermark == T0 + timedelta(hours=29)

    server.requests.clear()
    (summary,) = fetch(store, kaiko, source="kaiko", assets=["btc"], clock=lambda: later)
    assert server.requests == [] and summary.pages == 0
    assert any("up to date" in p.message for p in summary.problems)

    with store.session() as session:  # append-only: every advance is a row of its own
        rows = session.exec(select(IngestWatermark)).all()
    assert [as_utc(r.watermark) for r in rows] == [T0 + timedelta(days=1), T0 + timedelta(hours=29)]


def test_an_open_interval_is_fetched_but_not_passed(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    clock = T0 + timedelta(hours=10, minutes=30)  # the 10:00 hour is still open
    fetch(
        store, kaiko, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(hours=11),
        clock=lambda: clock,
    )  # fmt: skip
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and mark.watermark == T0 + timedelta(hours=10)


def test_no_watermark_means_an_error_naming_what_to_do(kaiko: Settings, store: Store) -> None:
    (summary,) = fetch(store, kaiko, source="kaiko", assets=["eth"], clock=lambda: T0)
    (problem,) = summary.problems
    assert (
        problem.severity == "error"
        and "--start" in problem.message
        and "backfill" in problem.message
    )


def test_a_failed_fetch_does_not_move_the_watermark(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    clock = T0 + timedelta(days=3)
    server.script.append(Canned(200, b'{"data": [{"interval_time": 3}]}'))
    (summary,) = fetch(
        store, kaiko, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(days=1),
        clock=lambda: clock,
    )  # fmt: skip
    assert summary.quarantined == 1
    assert watermarks.current(store, "kaiko", "liquidations", "btc") is None


def test_a_run_that_dies_on_the_way_moves_no_watermark(
    kaiko: Settings, server: KaikoTestServer, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """#21: the liquidation part had moved BTC's watermark when a later part of the same run
    crashed; now the pages stay and no watermark moves until the whole run ends."""
    from reporting.fetch import ingest

    clock = T0 + timedelta(days=3)
    walk, calls = ingest._walk, []

    def dies_on_the_second(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise OverflowError("synthetic: a later part of the run crashes")
        walk(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest, "_walk", dies_on_the_second)
    with pytest.raises(OverflowError):
        fetch(
            store, kaiko, source="kaiko", assets=["btc", "eth"], start=T0,
            end=T0 + timedelta(days=1), clock=lambda: clock,
        )  # fmt: skip
    assert watermarks.current(store, "kaiko", "liquidations", "btc") is None  # BTC had finished
    with store.read_session() as session:
        assert session.scalars(select(IngestWatermark)).all() == []
    monkeypatch.setattr(ingest, "_walk", walk)
    summaries = fetch(
        store, kaiko, source="kaiko", assets=["btc", "eth"], start=T0,
        end=T0 + timedelta(days=1), clock=lambda: clock,
    )  # fmt: skip
    assert all(not s.problems for s in summaries)
    for asset in ("btc", "eth"):
        mark = watermarks.current(store, "kaiko", "liquidations", asset)
        assert mark is not None and mark.watermark == T0 + timedelta(days=1)


def test_a_gap_does_not_move_the_watermark_but_touching_ranges_do(
    kaiko: Settings, store: Store
) -> None:
    clock = T0 + timedelta(days=3)

    def get(start: datetime, end: datetime) -> None:
        fetch(
            store, kaiko, source="kaiko", assets=["btc"], start=start, end=end, clock=lambda: clock
        )

    get(T0 + timedelta(hours=10), T0 + timedelta(hours=20))
    get(T0 + timedelta(hours=30), T0 + timedelta(hours=40))  # a gap: not covered
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None and mark.watermark == T0 + timedelta(hours=20)
    get(T0, T0 + timedelta(hours=10))  # touches from before
    get(T0 + timedelta(hours=20), T0 + timedelta(hours=30))  # fills the gap
    mark = watermarks.current(store, "kaiko", "liquidations", "btc")
    assert mark is not None
    assert (mark.covered_from, mark.watermark) == (T0, T0 + timedelta(hours=30))
    fetch(store, kaiko, source="kaiko", assets=["eth"], start=T0, end=T0 + timedelta(hours=5),
          clock=lambda: clock)  # fmt: skip
    eth = watermarks.current(store, "kaiko", "liquidations", "eth")
    assert len(watermarks.history(store)) == 4  # three advances of BTC's, one of ETH's
    by_key = lambda w: (w.source, w.dataset, w.asset)  # noqa: E731
    assert sorted(watermarks.latest(store), key=by_key) == [mark, eth]  # the current ones
    assert sorted(watermarks.latest(store, "kaiko"), key=by_key) == [mark, eth]
    assert watermarks.latest(store, "okx") == []


def test_cli_fetch_since_watermark_and_watermarks_listing(
    kaiko: Settings,
    server: KaikoTestServer,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in (
        ("LIQRISK_DATABASE_URL", kaiko.database_url),
        ("LIQRISK_KAIKO_BASE_URL", server.base_url),
        ("KAIKO_API_KEY", KEY),
    ):
        monkeypatch.setenv(name, value)
    fetch(
        store, kaiko, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(hours=48),
        clock=lambda: T0 + timedelta(days=30),
    )  # fmt: skip
    server.requests.clear()
    with pytest.raises(SystemExit) as exit_:
        main(["fetch", "--source", "kaiko", "--asset", "btc", "--since-watermark", "--json"])
    assert exit_.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fetches"][0]["rows"] == 24 * 2  # 48:00 to 72:00 (the server's last hour)
    assert server.requests[0].query["start_time"] == "2025-11-03T00:00:00.000Z"
    with pytest.raises(SystemExit):
        main(["watermarks", "--json"])
    (mark,) = json.loads(capsys.readouterr().out)["watermarks"]
    assert mark["source"] == "kaiko" and mark["asset"] == "BTC"
    assert mark["covered_from"].startswith("2025-11-01T00:00")
    with pytest.raises(SystemExit) as exit_:
        main(["fetch", "--source", "kaiko", "--since-watermark", "--start", "2025-11-01"])
    assert exit_.value.code == 2 and "exclude" in capsys.readouterr().err
