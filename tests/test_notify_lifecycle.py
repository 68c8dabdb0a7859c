"""Breach notices follow the lifecycle the check run stored, so emails and the report agree."""

from __future__ import annotations

from datetime import date

from audit_store.db import Store
from reporting.checks.store import run_checks
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


def test_breach_emails_give_each_figure_in_its_unit(make_settings: SettingsFactory) -> None:
    from datetime import UTC, datetime

    from reporting.notify.lifecycle import BreachEvent
    from reporting.notify.messages import breach_email

    event = BreachEvent(
        day=D1, check="funding_swing", scope="BTC", severity="breach", state="new",
        status="breach", previous_status=None, observed=10.2, warn_at=4.0, limit=8.0,
        pct_of_limit=127.5, message="swing of 10.2 bps", result_id=1,
    )  # fmt: skip
    mail = breach_email(
        make_settings(), D1, [event], ["risk@example.com"], msg_id="<x@example.com>",
        when=datetime(2025, 11, 4, tzinfo=UTC),
    )  # fmt: skip
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "10.2 bps" in text and "8.0 bps" in text and "$10" not in text
