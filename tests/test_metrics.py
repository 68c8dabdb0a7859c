"""Current values: the latest snapshot holding an interval speaks for all of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from audit_store.db import Store
from reporting.checks.metrics import load_period
from tests.factories import store_hours

H = datetime(2025, 11, 3, tzinfo=UTC)


def test_a_refetch_replaces_the_whole_interval_not_row_by_row(store: Store) -> None:
    store_hours(store, "btc", {H: {"binc": (1, 100.0, 0, 0.0), "okex": (0, 0.0, 2, 50.0)}})
    store_hours(store, "btc", {H: {"binc": (1, 120.0, 0, 0.0)}})  # okex no longer reported
    (btc,) = load_period(
        store, source="demo", assets=["btc"], start=H, end=H + timedelta(hours=1)
    ).values()
    assert btc.totals.total_usd == pytest.approx(120.0)
    assert set(btc.by_exchange) == {"binc"}  # no stale okex row from the first fetch
    assert len(btc.evidence) == 1


def test_other_intervals_keep_their_own_latest_version(store: Store) -> None:
    first = store_hours(
        store,
        "btc",
        {H: {"binc": (1, 10.0, 0, 0.0)}, H + timedelta(hours=1): {"binc": (1, 20.0, 0, 0.0)}},
    )
    store_hours(store, "btc", {H + timedelta(hours=1): {"binc": (1, 25.0, 0, 0.0)}})
    (btc,) = load_period(
        store, source="demo", assets=["btc"], start=H, end=H + timedelta(hours=2)
    ).values()
    assert [i.volumes.total_usd for i in btc.intervals] == [10.0, 25.0]
    assert len(btc.evidence) == 2 and first


def test_record_values_follow_the_stored_field_order() -> None:
    from audit_store.snapshots import INTERVAL_VALUE_FIELDS
    from reporting.records import IntervalRecord

    record = IntervalRecord("demo", "BTC", "binc", H, 3600, 1, 2, 3, 4.0, 5.0, 9.0)
    assert dict(zip(INTERVAL_VALUE_FIELDS, record.as_values(), strict=True)) == record.as_row()
    assert IntervalRecord(*record.as_values()) == record


def test_an_exchange_cites_only_the_intervals_holding_its_figures() -> None:
    from reporting.checks.metrics import assemble_day
    from reporting.records import Interval, Volumes

    start = datetime(2025, 11, 3, tzinfo=UTC)
    v = Volumes(1, 0, 1, 10.0, 0.0, 10.0)
    both = Interval(start, v + v, {"binc": v, "okex": v}, ("a",))
    okex_only = Interval(start + timedelta(hours=1), v, {"okex": v}, ("b",))
    day = assemble_day("BTC", "kaiko", start, start + timedelta(days=1), 3600, [both, okex_only])
    assert okex_only.evidence_of("binc") == () and both.evidence_of("binc") == ("a",)
    assert day.exchange_evidence("binc") == ("a",)
    assert day.exchange_evidence("okex") == ("a", "b")
