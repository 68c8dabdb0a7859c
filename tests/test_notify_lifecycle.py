"""Breach notices follow the lifecycle the check run stored, so emails and the report agree."""

from __future__ import annotations

from datetime import date

from audit_store.db import Store
from reporting.checks import run_checks
from reporting.notify.lifecycle import breach_events
from tests.conftest import SettingsFactory
from tests.factories import store_hours
from tests.limit_factories import flat_day, make_limits, with_limits

D1, D2, D3, D4 = (date(2025, 11, n) for n in (3, 4, 5, 6))


def states(store: Store, day: date) -> dict[tuple[str, str], str]:
    with store.session() as session:
        return {(e.check, e.scope): e.state for e in breach_events(session, day)}


def test_a_breach_across_a_day_without_data_stays_one_episode(
    store: Store, make_settings: SettingsFactory
) -> None:
    settings = with_limits(
        make_settings(), make_limits(daily_usd={"warn": 50, "breach": 100}), assets=("btc",)
    )
    store_hours(store, "btc", flat_day({"binc": 10.0}, day=D1))  # 240 a day: breach
    store_hours(store, "btc", flat_day({"binc": 10.0}, day=D3))
    store_hours(store, "btc", flat_day({"binc": 1.0}, day=D4))  # 24: back within limits
    for day in (D1, D2, D3, D4):  # D2 has no data: the check cannot be computed
        run_checks(store, settings, day)
    assert states(store, D1)[("daily_usd", "BTC")] == "new"
    assert ("daily_usd", "BTC") not in states(store, D2)  # unknown: nothing announced
    # the stored lifecycle keeps the breach open across the error day: not announced as new again
    assert states(store, D3)[("daily_usd", "BTC")] == "ongoing"
    assert states(store, D4)[("daily_usd", "BTC")] == "resolved"
