"""Intraday alert rows for the console tests, stored through the real collector path
(:class:`tests.intraday_helpers.Feed`: batches through ``store_batch`` with the intraday hook)."""

from __future__ import annotations

from audit_store.db import Store
from reporting.config import Route, Settings
from tests.intraday_helpers import LEVELS, Feed, intraday_rows, intraday_settings
from tests.notify_helpers import with_notify

ONE_MINUTE = {"velocity_usd_1m": {"asset_exchange": {"BTC/binc": LEVELS}}}
NOWHERE = Route(severity=("warn",), assets=("SOL",), to=("nobody@example.com",))
"""A route no BTC alert takes: the alert is stored, and no message is enqueued for it."""


def quiet_alert(store: Store, base: Settings) -> int:
    """One ``new`` breach row of ``velocity_usd_1m`` on BTC/binc (2M USD in a minute), announced
    on no route; returns its id."""
    settings = with_notify(intraday_settings(ONE_MINUTE, base=base), routes=(NOWHERE,))
    Feed(store, settings).minute(0, {"BTC": 2_000_000})
    (row,) = [r for r in intraday_rows(store) if r.kind == "new"]
    assert row.id is not None and row.status == "breach"
    return row.id
