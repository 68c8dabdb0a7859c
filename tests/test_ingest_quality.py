"""Data-quality outcomes: each check finds what it is for, and passes a clean day."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from audit_store.db import Store
from audit_store.snapshots import RawResponse
from reporting.checks.quality import CHECK_TITLES, data_quality_outcomes
from reporting.config import Settings
from reporting.fetch.ingest import store_response
from reporting.fetch.sources.kaiko.client import iso_z
from reporting.fetch.sources.kaiko.format import KIND
from reporting.records import CheckOutcome
from tests.kaiko_server import datum

DAY = date(2025, 11, 3)
T0 = datetime(2025, 11, 3, tzinfo=UTC)
AFTER = T0 + timedelta(days=1, hours=2)  # the day is closed and settled


def page(
    store: Store,
    data: list[dict[str, Any]],
    *,
    fetched_at: datetime = AFTER,
    status: int = 200,
    body: bytes | None = None,
) -> None:
    params = {"interval": "1h", "start_time": iso_z(T0), "end_time": iso_z(T0 + timedelta(days=1))}
    raw = RawResponse(
        source="kaiko",
        kind=KIND,
        url="https://eu.market-api.kaiko.io/v2/data/liquidation.v1/token/btc",
        params=params,
        fetched_at=fetched_at,
        http_status=status,
        body=body
        if body is not None
        else json.dumps(
            {"query": {"interval": "1h", "token": "btc", "data_version": "v1"}, "data": data}
        ).encode(),
    )
    store_response(store, raw, config_hash="test")


def hour(h: int) -> dict[str, Any]:
    return datum(T0 + timedelta(hours=h), {"binc": (2, 100.0, 1, 50.0), "okex": (1, 10.0, 0, 0)})


@pytest.fixture
def kaiko(settings: Settings) -> Settings:
    fetch_ = settings.fetch.model_copy(update={"default_source": "kaiko", "assets": ("btc",)})
    return settings.model_copy(update={"fetch": fetch_})


def outcomes(
    store: Store, settings: Settings, now: datetime = AFTER, *, has_data: bool = True
) -> dict[str, CheckOutcome]:
    found = data_quality_outcomes(store, settings, DAY, now=lambda: now)
    # every check speaks; a day without data leaves nothing to add up, only missing and stale
    nothing_to_add_up = (
        set() if has_data else {"dq_exchange_sums", "dq_long_short", "dq_reconcile_okx"}
    )
    assert {o.check for o in found} == set(CHECK_TITLES) - nothing_to_add_up
    return {o.check: o for o in found if o.scope in ("BTC", "BTC/okex", "kaiko")}


def test_a_clean_day_passes_every_check(kaiko: Settings, store: Store) -> None:
    page(store, [hour(h) for h in range(24)])
    found = outcomes(store, kaiko)
    assert {c: o.status for c, o in found.items()} == {c: "ok" for c in CHECK_TITLES}
    assert found["dq_missing_intervals"].evidence and found["dq_data_version"].message.endswith(
        "v1 on 1 response(s)"
    )


def test_missing_intervals_are_listed(kaiko: Settings, store: Store) -> None:
    page(store, [hour(h) for h in range(24) if h not in (3, 4, 17)])
    missing = outcomes(store, kaiko)["dq_missing_intervals"]
    assert missing.status == "warn" and missing.observed == 3.0
    assert "03:00Z, 04:00Z, 17:00Z" in missing.message


def test_no_data_at_all_is_an_error(kaiko: Settings, store: Store) -> None:
    found = outcomes(store, kaiko, has_data=False)
    assert found["dq_missing_intervals"].status == "error"
    assert found["dq_stale"].status == "error"


def test_exchanges_that_do_not_add_up_are_found(kaiko: Settings, store: Store) -> None:
    data = [hour(h) for h in range(24)]
    data[5]["total_amount"] += 1000.0  # the source's own total disagrees with its parts
    data[5]["short_amount"] += 1000.0
    page(store, data)
    found = outcomes(store, kaiko)
    assert (
        found["dq_exchange_sums"].status == "warn" and "05:00Z" in found["dq_exchange_sums"].message
    )
    assert found["dq_long_short"].status == "ok"


def test_long_plus_short_not_total_is_found(kaiko: Settings, store: Store) -> None:
    data = [hour(h) for h in range(24)]
    data[9]["exchanges"][0]["long_trades"] += 1  # binc: 3 + 1 != total 3
    data[9]["long_trades"] += 1
    page(store, data)
    found = outcomes(store, kaiko)
    assert (
        found["dq_long_short"].status == "warn" and "09:00Z binc" in found["dq_long_short"].message
    )


def test_a_stale_latest_interval_and_provisional_figures_warn(
    kaiko: Settings, store: Store
) -> None:
    page(store, [hour(h) for h in range(20)], fetched_at=T0 + timedelta(hours=19, minutes=40))
    stale = outcomes(store, kaiko)["dq_stale"]
    assert stale.status == "warn" and stale.observed == 4.0 and stale.warn_at == 3.0
    assert "ends 4.0 h before" in stale.message
    assert "1 interval(s) fetched before they had closed" in stale.message  # 19:00, at 19:40


def test_today_is_judged_against_the_last_closed_interval(kaiko: Settings, store: Store) -> None:
    page(store, [hour(h) for h in range(12)], fetched_at=T0 + timedelta(hours=12, minutes=30))
    stale = outcomes(store, kaiko, now=T0 + timedelta(hours=12, minutes=30))["dq_stale"]
    assert stale.status == "ok" and stale.observed == 0.0


def test_quarantined_responses_for_the_day(kaiko: Settings, store: Store) -> None:
    page(store, [hour(h) for h in range(24)])
    page(store, [], status=503, body=b"upstream down")
    assert outcomes(store, kaiko)["dq_quarantined"].status == "ok"  # refused, retried
    page(store, [], body=b'{"data": [{"interval_time": 7}]}')
    quarantined = outcomes(store, kaiko)["dq_quarantined"]
    assert quarantined.status == "warn" and quarantined.observed == 2.0
    assert "broke the format" in quarantined.message and len(quarantined.evidence) == 2


def test_a_crashing_check_is_an_error_outcome_not_a_dead_run(
    kaiko: Settings, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    page(store, [hour(h) for h in range(24)])

    def boom(*_args: object, **_kw: object) -> list[object]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("reporting.checks.quality.corrections_for_day", boom)
    found = outcomes(store, kaiko)
    assert (
        found["dq_corrections"].status == "error"
        and "disk on fire" in found["dq_corrections"].message
    )
    assert found["dq_missing_intervals"].status == "ok"
