"""Helpers for the audit store's tests: a tiny format and deriver, filling a store, tampering.

The tiny format stands in for :mod:`reporting`'s, which ``audit_store`` must not know::

    {"asset": "BTC", "interval": 3600,
     "data": [{"t": "2025-01-01T00:00:00Z", "ex": "binc", "lc": 1, "sc": 2, "lu": 1.5, "su": 2.25}]}

``_drop_append_only_triggers`` is for tamper tests only: it is what an attacker with database
access would do first, and nothing in production calls it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from audit_store.db import Store
from audit_store.models import CheckResult, CheckRun, Snapshot
from audit_store.snapshots import (
    RawResponse,
    SnapshotRecord,
    append_interval_rows,
    append_snapshot,
    new_snapshot,
)

KIND = "test.tiny.v1"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
EXCHANGES = ("binc", "okex", "bbit")


def tiny_body(asset: str, start: datetime, hours: int, seed: int = 0) -> bytes:
    data = [
        {
            "t": (start + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ex": ex,
            "lc": (seed + h + i) % 7,
            "sc": (seed + 2 * h + i) % 5,
            "lu": round(1000.25 * ((seed + h + i) % 13) + 0.1, 2),
            "su": round(733.5 * ((seed + 3 * h + i) % 11) + 0.01, 2),
        }
        for h in range(hours)
        for i, ex in enumerate(EXCHANGES)
    ]
    return json.dumps({"asset": asset, "interval": 3600, "data": data}).encode()


def tiny_derive(snapshot: SnapshotRecord) -> tuple[list[dict[str, Any]], str | None]:
    """The deriver ``verify_store`` is given in these tests."""
    if snapshot.http_status != 200:
        return [], f"HTTP {snapshot.http_status}"
    try:
        doc = json.loads(snapshot.body)
        rows = [
            {
                "source": snapshot.source,
                "asset": doc["asset"],
                "exchange": d["ex"],
                "interval_start": datetime.fromisoformat(d["t"].replace("Z", "+00:00")),
                "interval_seconds": doc["interval"],
                "long_count": d["lc"],
                "short_count": d["sc"],
                "total_count": d["lc"] + d["sc"],
                "long_usd": float(d["lu"]),
                "short_usd": float(d["su"]),
                "total_usd": float(d["lu"]) + float(d["su"]),
            }
            for d in doc["data"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        return [], f"not the tiny format: {type(exc).__name__}"
    return rows, None


def raw_response(
    asset: str = "BTC",
    *,
    start: datetime = EPOCH,
    hours: int = 2,
    seed: int = 0,
    status: int = 200,
    body: bytes | None = None,
) -> RawResponse:
    return RawResponse(
        source="test",
        kind=KIND,
        url=f"https://api.invalid/tiny/{asset.lower()}?api_key=REDACTED",
        params={"start": start.isoformat(), "api_key": "REDACTED"},
        fetched_at=start + timedelta(hours=hours, minutes=5),
        http_status=status,
        body=tiny_body(asset, start, hours, seed) if body is None else body,
    )


def add_snapshot(store: Store, raw: RawResponse, *, corrects: int | None = None) -> Snapshot:
    """Append ``raw`` as ingest does: snapshot, then its derived rows unless quarantined."""
    with store.session() as session:
        snapshot = new_snapshot(
            raw, software_version="test", config_hash="cfg", corrects_leaf_index=corrects
        )
        rows, reason = tiny_derive(snapshot)
        append_snapshot(session, snapshot, quarantine_reason=reason)
        if reason is None:
            append_interval_rows(session, snapshot, rows)
        return snapshot


def fill(store: Store, count: int, *, first_seed: int = 0) -> list[Snapshot]:
    """``count`` snapshots over three assets; every fifth one quarantined (HTTP 503)."""
    snapshots = []
    for i in range(first_seed, first_seed + count):
        asset = ("BTC", "ETH", "SOL")[i % 3]
        start = EPOCH + timedelta(hours=2 * i)
        status = 503 if i % 5 == 4 else 200
        snapshots.append(
            add_snapshot(store, raw_response(asset, start=start, seed=i, status=status))
        )
    return snapshots


def add_check_result(store: Store, evidence: Sequence[str]) -> int:
    with store.session() as session:
        run = CheckRun(
            day=EPOCH.date(),
            started_at=EPOCH,
            limit_set_sha256="0" * 64,
            config_hash="cfg",
            software_version="test",
        )
        session.add(run)
        session.flush()
        assert run.id is not None
        result = CheckResult(
            run_id=run.id,
            day=EPOCH.date(),
            check="daily_usd",
            scope="BTC",
            observed=1.0,
            warn_at=2.0,
            limit=3.0,
            pct_of_limit=33.3,
            status="ok",
            message="fine",
            evidence_json=json.dumps(sorted(evidence)),
        )
        session.add(result)
        session.flush()
        assert result.id is not None
        return result.id


def _drop_append_only_triggers(store: Store) -> None:
    """Remove the append-only triggers, as an attacker with database access could. Tests only."""
    with store.engine.begin() as connection:
        if store.dialect == "sqlite":
            names = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            triggers = connection.execute(
                text(
                    "SELECT t.tgname, c.relname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            ).all()
            for name, table in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}" ON "{table}"'))


def tamper(store: Store, *statements: str, **params: Any) -> None:
    """Run raw SQL against the store in one transaction (triggers must be dropped first)."""
    with store.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), params)


def append_worker(url: str, worker: int, count: int, start: Any = None) -> list[int]:
    """A separate process appending ``count`` snapshots; returns their leaf indexes.

    ``start`` is a barrier shared with the other writers, so they begin at the same moment.
    """
    store = Store(url)
    try:
        store.require_schema()  # connect before the barrier, so the race is on appending
        if start is not None:
            start.wait()
        indexes = []
        for i in range(count):
            raw = raw_response(("BTC", "ETH")[worker % 2], seed=1000 * worker + i)
            indexes.append(add_snapshot(store, raw).leaf_index)
        return indexes
    finally:
        store.dispose()
