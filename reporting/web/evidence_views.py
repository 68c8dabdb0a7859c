"""The console's evidence page as plain data: the signed checkpoints (where each went, whether an
outside time stamp covers it), the verify runs, and the audit packages exported (who made each,
whether the console can hand it out); and the activity leaves (who did what)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from audit_store import activity as activity_log
from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.models import Checkpoint, Snapshot
from audit_store.tables_export import ExportRecord
from audit_store.tables_publication import CheckpointPublication
from audit_store.tables_schedule import VerifyRun
from audit_store.tables_timestamps import STAMPED, TimestampRequest
from audit_store.verify import record_verify
from reporting.config import Settings
from reporting.evidence import verify_everything
from reporting.web.exports import kept_package
from reporting.web.views import stored_row


def evidence(store: Store, settings: Settings, limit: int = 20) -> dict[str, Any]:
    with store.read_session() as session:
        checkpoints = list(
            session.scalars(select(Checkpoint).order_by(col(Checkpoint.id).desc()).limit(limit))
        )
        ids = [c.id for c in checkpoints]
        copies = dict(
            session.execute(
                select(col(CheckpointPublication.checkpoint_id), func.count())
                .where(col(CheckpointPublication.checkpoint_id).in_(ids))
                .group_by(col(CheckpointPublication.checkpoint_id))
            ).all()
        )
        stamped = session.scalars(
            select(func.max(TimestampRequest.tree_size)).where(
                col(TimestampRequest.outcome) == STAMPED
            )
        ).one()
        runs = list(session.scalars(select(VerifyRun).order_by(col(VerifyRun.id).desc()).limit(5)))
        exports = list(
            session.scalars(select(ExportRecord).order_by(col(ExportRecord.id).desc()).limit(limit))
        )
        makers = _export_makers(session, [e.id for e in exports if e.id is not None])
        return {
            "checkpoints": [
                {
                    "id": c.id,
                    "tree_size": c.tree_size,
                    "root_hash": c.root_hash,
                    "key_id": c.key_id,
                    "signed_at": as_utc(c.created_at).isoformat(),
                    "copies_sent": copies.get(c.id, 0),
                    "time_stamped": stamped is not None and stamped >= c.tree_size,
                    "note": c.note,
                }
                for c in checkpoints
            ],
            "verify_runs": [
                {
                    "at": as_utc(v.at).isoformat(),
                    "ok": v.ok,
                    "discrepancies": v.discrepancies,
                    "leaves": v.leaves,
                    "root_hash": v.root_hash,
                    "first_problems": json.loads(v.detail_json).get("discrepancies", [])[:5],
                }
                for v in runs
            ],
            "exports": [
                {
                    "id": e.id,
                    "range_start": e.range_start.isoformat(),
                    "range_end": e.range_end.isoformat(),
                    "tree_size": e.tree_size,
                    "leaves": e.leaves,
                    "package_sha256": e.package_sha256,
                    "package_size": e.package_size,
                    "created_at": as_utc(e.created_at).isoformat(),
                    "made_by": makers.get(e.id or 0),
                    "downloadable": kept_package(settings, e) is not None,
                }
                for e in exports
            ],
        }


def _export_makers(session: Session, ids: list[int]) -> dict[int, str]:
    """Export id -> who made it, from the exports' activity leaves."""
    subjects = [f"export {i}" for i in ids]
    if not subjects:
        return {}
    bodies = session.scalars(
        select(col(Snapshot.body)).where(
            col(Snapshot.source) == activity_log.SOURCE,
            col(Snapshot.url) == "liqrisk:activity/export",
            col(Snapshot.leaf_index) >= 0,
        )
    )
    found: dict[int, str] = {}
    for body in bodies:
        done = activity_log.read_activity(body)
        if done.subject is not None and done.subject in subjects:
            found[int(done.subject.split()[1])] = f"{done.actor} ({done.via})"
    return found


def export_record(store: Store, export_id: int) -> ExportRecord:
    return stored_row(store, ExportRecord, export_id, "export")


def activity(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """The latest activity leaves, newest first, each with its leaf index."""
    with store.read_session() as session:
        rows = session.execute(
            select(col(Snapshot.leaf_index), col(Snapshot.body))
            .where(col(Snapshot.source) == activity_log.SOURCE)
            .order_by(col(Snapshot.leaf_index).desc())
            .limit(limit)
        ).all()
    found = []
    for leaf_index, body in rows:
        try:
            done = activity_log.read_activity(body)
        except ValueError as exc:  # verify reports it too; shown, not hidden
            found.append({"leaf_index": leaf_index, "problem": str(exc)})
            continue
        found.append({"leaf_index": leaf_index, "sentence": done.sentence(), **done.to_json()})
    return found


def run_verify(store: Store, settings: Settings) -> tuple[bool, int]:
    """What ``liqrisk verify`` does, recorded as it records it: (ok, discrepancies)."""
    result = verify_everything(store, settings)
    record_verify(store, result, datetime.now(UTC))
    return result.ok, len(result.discrepancies)
