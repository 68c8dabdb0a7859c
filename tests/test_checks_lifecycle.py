"""Breach lifecycle across days, the acknowledgement trail, limit-set history, append-only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.models import CheckResult
from audit_store.tables_limits import GENESIS_SHA256, LIMIT_TABLES
from reporting.checks.store import (
    Previous,
    acknowledge,
    acknowledgements,
    latest_run,
    lifecycle,
    limit_history,
    limit_set_hash,
    run_checks,
    verify_acknowledgements,
)
from reporting.config import Settings
from reporting.errors import CheckError
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.limit_factories import flat_day, make_limits, result, with_limits
from tests.store_helpers import _drop_append_only_triggers

pytest_plugins = ["tests.pg"]

D1 = date(2025, 11, 1)


def day(n: int) -> date:
    return D1 + timedelta(days=n - 1)


@pytest.fixture
def daily_only(make_settings: SettingsFactory) -> Settings:
    limits = make_limits(daily_usd={"warn": 1000, "breach": 2000})
    return with_limits(make_settings(), limits, assets=("btc",))


def run_day(store: Store, settings: Settings, n: int, usd_per_hour: float | None) -> CheckResult:
    """Store day ``n`` (``None``: no data) and check it; the BTC daily_usd result."""
    if usd_per_hour is not None:
        store_hours(store, "btc", flat_day({"binc": usd_per_hour}, day=day(n)))
    clock = datetime.combine(day(n) + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    _m, stored = run_checks(store, settings, day(n), clock=lambda: clock + timedelta(hours=1))
    return result(list(stored.results), "daily_usd", "BTC")  # type: ignore[no-any-return]


def state(store: Store, r: CheckResult) -> tuple[str | None, str | None, int | None]:
    stored = latest_run(store, r.day)
    assert stored is not None and r.id is not None
    life = stored.extras_json(r)["lifecycle"]
    return life["state"], life["since"], life["days"]


def test_lifecycle_across_days(store: Store, daily_only: Settings) -> None:
    # per day: 24 x usd; breach at 2000 (usd >= 83.4), warn at 1000
    r1 = run_day(store, daily_only, 1, 100.0)  # 2400 breach
    assert r1.status == "breach" and state(store, r1) == ("new", day(1).isoformat(), 1)
    assert r1.message.endswith("; new breach")
    r2 = run_day(store, daily_only, 2, 90.0)  # 2160 breach
    assert state(store, r2) == ("ongoing", day(1).isoformat(), 2)
    r3 = run_day(store, daily_only, 3, 200.0)
    assert state(store, r3) == ("ongoing", day(1).isoformat(), 3)
    assert f"breach ongoing, day 3 (since {day(1)})" in r3.message
    r4 = run_day(store, daily_only, 4, 50.0)  # 1200 warn: resolved after 3 days
    assert r4.status == "warn" and state(store, r4) == ("resolved", day(1).isoformat(), 3)
    assert "breach resolved after 3 days" in r4.message
    r5 = run_day(store, daily_only, 5, 10.0)  # 240 ok: nothing to follow
    assert state(store, r5) == (None, None, None)
    r6 = run_day(store, daily_only, 6, 100.0)  # a new breach, a new run of days
    assert state(store, r6) == ("new", day(6).isoformat(), 1)
    r7 = run_day(store, daily_only, 7, None)  # no data: error, neither confirmed nor cleared
    assert r7.status == "error" and state(store, r7)[0] == "unknown"
    r8 = run_day(store, daily_only, 8, 100.0)  # breach again: the same run continues
    assert state(store, r8) == ("ongoing", day(6).isoformat(), 3)
    # a gap in checking (no run on day 9) breaks the chain
    r10 = run_day(store, daily_only, 10, 100.0)
    assert state(store, r10) == ("new", day(10).isoformat(), 1)


def test_lifecycle_follows_the_latest_run_of_the_day_before(
    store: Store, daily_only: Settings
) -> None:
    run_day(store, daily_only, 1, 100.0)  # breach...
    strict = with_limits(daily_only, make_limits(daily_usd={"warn": 5000, "breach": 9000}))
    run_day(store, strict, 1, None)  # ...re-checked under looser limits: ok, the latest run
    r2 = run_day(store, daily_only, 2, 100.0)
    assert state(store, r2) == ("new", day(2).isoformat(), 1)


def test_lifecycle_is_a_pure_function_of_yesterday() -> None:
    d = day(5)
    prev = Previous(7, "breach", "ongoing", day(2))
    assert lifecycle("breach", d, prev).__dict__ == {
        "state": "ongoing", "since": day(2), "days": 4, "previous_result_id": 7,
    }  # fmt: skip
    assert lifecycle("ok", d, prev).state == "resolved" and lifecycle("ok", d, prev).days == 3
    assert lifecycle("warn", d, Previous(7, "warn", None, None)).state is None
    assert lifecycle("breach", d, None).state == "new"
    # yesterday breached without a stored lifecycle (an older run): it began yesterday
    assert lifecycle("breach", d, Previous(7, "breach", None, None)).since == day(4)


def test_acknowledgement_never_edits_the_result(store: Store, daily_only: Settings) -> None:
    r = run_day(store, daily_only, 1, 100.0)
    assert r.id is not None
    before = (r.status, r.message, r.observed, r.evidence_json)
    moment = datetime(2025, 11, 2, 9, tzinfo=UTC)
    first, _ = acknowledge(store, r.id, by="A. Risk", comment="hedged", clock=lambda: moment)
    second, _ = acknowledge(
        store, r.id, by="B. Compliance", comment="reviewed", clock=lambda: moment
    )
    assert first.previous_sha256 == GENESIS_SHA256
    assert second.previous_sha256 == first.entry_sha256 != second.entry_sha256
    stored = latest_run(store, day(1))
    assert stored is not None
    again = result(list(stored.results), "daily_usd", "BTC")
    assert (again.status, again.message, again.observed, again.evidence_json) == before
    trail = stored.extras_json(again)["acks"]
    assert [(a["by"], a["comment"]) for a in trail] == [
        ("A. Risk", "hedged"),
        ("B. Compliance", "reviewed"),
    ]
    assert verify_acknowledgements(store) == []
    assert [a.id for a, _r in acknowledgements(store, day(1))] == [first.id, second.id]
    assert acknowledgements(store, day(2)) == []


def test_acknowledgements_show_on_a_rerun_of_the_day(store: Store, daily_only: Settings) -> None:
    r = run_day(store, daily_only, 1, 100.0)
    assert r.id is not None
    acknowledge(store, r.id, by="A. Risk", comment="seen")
    rerun = run_day(store, daily_only, 1, None)  # same day, a new run, a new result id
    stored = latest_run(store, day(1))
    assert stored is not None and rerun.id != r.id
    assert [a["result_id"] for a in stored.extras_json(rerun)["acks"]] == [r.id]


def test_acknowledgement_refusals(store: Store, daily_only: Settings) -> None:
    breach = run_day(store, daily_only, 1, 100.0)
    ok = run_day(store, daily_only, 2, 1.0)
    assert breach.id is not None and ok.id is not None
    with pytest.raises(CheckError, match="no check result 999999"):
        acknowledge(store, 999999, by="x", comment="y")
    with pytest.raises(CheckError, match="is ok: there is nothing to acknowledge"):
        acknowledge(store, ok.id, by="x", comment="y")
    with pytest.raises(CheckError, match="--by"):
        acknowledge(store, breach.id, by="  ", comment="y")
    with pytest.raises(CheckError, match="--comment"):
        acknowledge(store, breach.id, by="x", comment="")
    assert acknowledgements(store) == []


def test_a_tampered_acknowledgement_shows(store: Store, daily_only: Settings) -> None:
    r = run_day(store, daily_only, 1, 100.0)
    assert r.id is not None
    acknowledge(store, r.id, by="A. Risk", comment="hedged")
    acknowledge(store, r.id, by="B. Compliance", comment="reviewed")
    _drop_append_only_triggers(store)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE acknowledgement SET comment = 'nothing' WHERE id = 1"))
        connection.execute(text(f"UPDATE check_result SET status = 'ok' WHERE id = {r.id}"))
    problems = [p.message for p in verify_acknowledgements(store)]
    assert "its content does not match its hash" in problems
    assert any("differs from what was acknowledged" in p for p in problems)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM acknowledgement WHERE id = 1"))
    problems = [p.message for p in verify_acknowledgements(store)]
    assert "does not follow the acknowledgement before it" in problems


def test_limit_history_shows_when_each_version_came_into_force(
    store: Store, daily_only: Settings
) -> None:
    other = with_limits(daily_only, make_limits(daily_usd={"warn": 1000, "breach": 3000}))
    store_hours(store, "btc", flat_day({"binc": 1.0}, day=day(1)))
    times = iter(datetime(2025, 11, 2, h, tzinfo=UTC) for h in range(1, 10))
    for settings in (daily_only, daily_only, other, daily_only):
        run_checks(store, settings, day(1), clock=lambda: next(times))
    history = limit_history(store)
    assert [(v.sha256, v.runs) for v in history] == [
        (limit_set_hash(daily_only), 2), (limit_set_hash(other), 1), (limit_set_hash(daily_only), 1)
    ]  # fmt: skip
    assert [v.in_force_from.hour for v in history] == [1, 3, 4]
    assert history[1].content is not None
    assert history[1].content["daily_usd"]["breach"] == 3000
    assert history[0].first_day == history[0].last_day == day(1)


@pytest.mark.parametrize("table", LIMIT_TABLES)
def test_limit_tables_are_append_only(any_store: Store, table: str) -> None:
    settings_like = make_limits(daily_usd={"warn": 1, "breach": 2})
    from reporting.config import load_settings

    settings = with_limits(
        load_settings(env={"LIQRISK_DATABASE_URL": any_store.url}), settings_like, assets=("btc",)
    )
    store_hours(any_store, "btc", flat_day({"binc": 1.0}, day=day(1)))
    _m, stored = run_checks(any_store, settings, day(1))
    flagged = next(r for r in stored.results if r.status in ("warn", "breach"))
    acknowledge(any_store, flagged.id or 0, by="x", comment="y")
    column = {
        "limit_set": "loaded_from",
        "check_result_detail": "unit",
        "acknowledgement": "comment",
    }[table]
    for statement in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(AppendOnlyViolation, match=f"append-only.*{table}"):
            with any_store.session() as session:
                session.execute(text(statement))
    with any_store.session() as session:
        assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() > 0
