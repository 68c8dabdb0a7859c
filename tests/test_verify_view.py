"""``verify`` streams the log as :class:`SnapshotView` rows: same leaves, same derivations.

Runs on SQLite and on PostgreSQL, because the view's values come from each driver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlmodel import col

from audit_store.canonical import as_utc, utc_iso
from audit_store.db import Store
from audit_store.models import Snapshot
from audit_store.snapshots import SnapshotView, provenance, provenance_leaf_hash
from tests.store_helpers import add_snapshot, fill, raw_response, tiny_derive

pytest_plugins = ["tests.pg"]


def _views(store: Store) -> list[SnapshotView]:
    with store.read_session() as session:
        query = select(*SnapshotView.columns()).order_by(col(Snapshot.leaf_index))
        return [SnapshotView._make(row) for row in session.connection().execute(query)]


def test_a_view_has_every_snapshot_column() -> None:
    table = Snapshot.__table__  # type: ignore[attr-defined]
    assert set(SnapshotView._fields) == {c.name for c in table.columns}


def test_a_view_commits_to_the_same_leaf_and_derives_the_same_rows(any_store: Store) -> None:
    snapshots = fill(any_store, 3)
    snapshots.append(add_snapshot(any_store, raw_response(seed=7), corrects=1))
    views = _views(any_store)
    assert len(views) == len(snapshots)
    for snapshot, view in zip(snapshots, views, strict=True):
        stored = SnapshotView.of(snapshot)  # its datetime as given, the view's as read back
        assert view._replace(fetched_at=as_utc(view.fetched_at)) == stored._replace(
            fetched_at=as_utc(stored.fetched_at)
        )
        assert provenance(view) == provenance(snapshot)
        assert provenance_leaf_hash(view) == snapshot.leaf_hash
        assert tiny_derive(view) == tiny_derive(snapshot)
    assert "corrects_leaf_index" in provenance(views[-1])


@pytest.mark.parametrize(
    "value",
    [
        datetime(2025, 11, 3, 14, 0),
        datetime(2025, 11, 3, 14, 0, 0, 1),
        datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2025, 3, 30, 2, 30, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
        datetime(1000, 1, 1),
        datetime(999, 12, 31, 23, 0),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_utc_iso_is_the_strftime_form(value: datetime) -> None:
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    assert utc_iso(value) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
