"""Corrections: a value that changes on re-fetch is a new version; the earlier stays visible."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.snapshots import provenance
from reporting.checks.metrics import load_period
from reporting.checks.quality import data_quality_outcomes
from reporting.cli import main
from reporting.config import Settings
from reporting.fetch.corrections import corrections_for_day, versions
from reporting.fetch.ingest import fetch
from tests.conftest import SettingsFactory
from tests.kaiko_server import KaikoTestServer, datum

DAY = date(2025, 11, 3)
T0 = datetime(2025, 11, 3, tzinfo=UTC)
KEY = "sk-corrections-test"
LATER = datetime(2025, 11, 6, tzinfo=UTC)


def hours(bump: float = 0.0) -> list[dict[str, object]]:
    """24 hours of BTC; ``bump`` is added to okex's short amount at 14:00 (a late revision)."""
    out = []
    for h in range(24):
        okex = (1, 100.0, 2, 200.0 + (bump if h == 14 else 0.0))
        out.append(datum(T0 + timedelta(hours=h), {"binc": (h, 10.0 * h, 1, 5.0), "okex": okex}))
    return out


@pytest.fixture
def server() -> Iterator[KaikoTestServer]:
    srv = KaikoTestServer({"btc": hours()}, api_key=KEY)
    with srv.running():
        yield srv


@pytest.fixture
def kaiko(make_settings: SettingsFactory, server: KaikoTestServer) -> Settings:
    settings = make_settings(LIQRISK_KAIKO_BASE_URL=server.base_url, KAIKO_API_KEY=KEY)
    fetch_ = settings.fetch.model_copy(update={"assets": ("btc",), "default_source": "kaiko"})
    return settings.model_copy(update={"fetch": fetch_})


def fetch_day(store: Store, settings: Settings, at: datetime) -> None:
    (summary,) = fetch(
        store, settings, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(days=1),
        clock=lambda: at,
    )  # fmt: skip
    assert not [p for p in summary.problems if p.severity == "error"]


def test_a_changed_value_is_a_correction_and_the_earlier_value_stays(
    kaiko: Settings, server: KaikoTestServer, store: Store
) -> None:
    fetch_day(store, kaiko, LATER)
    server.data["btc"] = hours(bump=1234.5)  # Kaiko revises one hour
    fetch_day(store, kaiko, LATER + timedelta(hours=1))

    found = corrections_for_day(store, source="kaiko", day=DAY)
    changed = {(c.exchange, c.changed) for c in found}
    assert changed == {
        ("okex", ("short_usd", "total_usd")),
        ("*", ("short_usd", "total_usd")),
    }
    correction = next(c for c in found if c.exchange == "okex")
    assert correction.interval_start == T0 + timedelta(hours=14)
    assert correction.before.values.short_usd == 200.0
    assert correction.after.values.short_usd == 1434.5
    assert correction.before.fetched_at == LATER
    assert correction.after.leaf_index > correction.before.leaf_index
    assert "okex 2025-11-03 14:00Z: short_usd 200.0 -> 1,434.5" in correction.describe()

    # The current value is the corrected one; the earlier one is still listed, with its snapshot.
    day = load_period(store, source="kaiko", assets=["btc"], start=T0, end=T0 + timedelta(days=1))
    assert day["BTC"].by_exchange["okex"].short_usd == 24 * 200.0 + 1234.5
    history = versions(
        store, source="kaiko", asset="BTC", exchange="okex", interval_start=T0 + timedelta(hours=14)
    )
    assert [v.values.short_usd for v in history] == [200.0, 1434.5]
    assert [v.data_version for v in history] == ["v1", "v1"]

    # The correcting snapshot says which leaf it corrects, inside its Merkle leaf.
    with store.session() as session:
        snaps = session.exec(select(Snapshot).order_by(col(Snapshot.leaf_index))).all()
    assert snaps[0].corrects_leaf_index is None
    assert snaps[-1].corrects_leaf_index == correction.before.leaf_index
    assert provenance(snaps[-1])["corrects_leaf_index"] == correction.before.leaf_index


def test_an_unchanged_refetch_is_no_correction(kaiko: Settings, store: Store) -> None:
    fetch_day(store, kaiko, LATER)
    fetch_day(store, kaiko, LATER + timedelta(hours=1))
    assert corrections_for_day(store, source="kaiko", day=DAY) == []
    with store.session() as session:
        assert all(s.corrects_leaf_index is None for s in session.exec(select(Snapshot)).all())
    history = versions(store, source="kaiko", asset="BTC", interval_start=T0)
    assert len(history) == 2 and history[0].values == history[1].values


def test_corrections_show_in_data_quality_and_on_the_command_line(
    kaiko: Settings,
    server: KaikoTestServer,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fetch_day(store, kaiko, LATER)
    server.data["btc"] = hours(bump=10.0)
    fetch_day(store, kaiko, LATER + timedelta(hours=1))
    outcomes = data_quality_outcomes(store, kaiko, DAY, now=lambda: LATER)
    (outcome,) = [o for o in outcomes if o.check == "dq_corrections"]
    assert outcome.status == "warn" and outcome.observed == 2.0 and len(outcome.evidence) == 2

    monkeypatch.setenv("LIQRISK_DATABASE_URL", kaiko.database_url)
    with pytest.raises(SystemExit) as exit_:
        main(["corrections", "--date", "2025-11-03", "--source", "kaiko", "--json"])
    assert exit_.value.code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["count"] == 2
    assert {c["exchange"] for c in doc["corrections"]} == {"okex", "*"}
    assert all(c["before"]["leaf_index"] < c["after"]["leaf_index"] for c in doc["corrections"])
