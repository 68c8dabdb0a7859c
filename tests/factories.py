"""Factories for stored data: Kaiko-format bodies kept through the real snapshot and parse path."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from audit_store.db import Store
from audit_store.snapshots import RawResponse, append_interval_values, append_snapshot, new_snapshot
from reporting.fetch.derivers import derive_snapshot
from tests.kaiko_server import datum

Exchanges = Mapping[
    str, tuple[int, float, int, float]
]  # code -> (long n, long $, short n, short $)


def kaiko_body(asset: str, hours: Mapping[datetime, Exchanges]) -> bytes:
    data = [datum(start, dict(ex)) for start, ex in sorted(hours.items())]
    return json.dumps({"query": {"interval": "1h", "token": asset}, "data": data}).encode()


def store_hours(
    store: Store,
    asset: str,
    hours: Mapping[datetime, Exchanges],
    *,
    source: str = "demo",
    fetched_at: datetime | None = None,
) -> int:
    """Keep one snapshot holding ``hours`` for ``asset``; returns the snapshot id."""
    raw = RawResponse(
        source=source,
        kind="kaiko.liquidation.v1",
        url=f"https://demo.invalid/v2/data/liquidation.v1/token/{asset.lower()}",
        params={"interval": "1h"},
        fetched_at=fetched_at or datetime(2026, 1, 1, tzinfo=UTC),
        http_status=200,
        body=kaiko_body(asset.lower(), hours),
    )
    with store.session() as session:
        snapshot = new_snapshot(raw, software_version="test", config_hash="test")
        derivation = derive_snapshot(snapshot)
        assert derivation.quarantine_reason is None, derivation.quarantine_reason
        append_snapshot(session, snapshot)
        append_interval_values(session, snapshot, derivation.values)
        assert snapshot.id is not None
        return snapshot.id


def any_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)
