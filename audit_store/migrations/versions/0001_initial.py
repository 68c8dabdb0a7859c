"""Initial audit store: evidence tables, checkpoints, and the append-only triggers.

Revision ID: 0001
Revises:
Create Date: 2025-11-21

Every table here is append-only: the database itself refuses UPDATE and DELETE (and TRUNCATE on
PostgreSQL), so a bug or a hand-typed statement cannot rewrite evidence; ``audit_store.db`` turns
the refusal into ``AppendOnlyViolation`` by the ``append-only:`` prefix of the message. The table
list is spelled out rather than imported, so this migration stays what it was when released.

A later migration that rebuilds an audit table (SQLite's batch mode copies the table) must create
its triggers again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import (
    create_append_only_function,
    create_append_only_triggers,
)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = (
    "snapshot",
    "interval_volume",
    "check_run",
    "check_result",
    "artifact",
    "checkpoint",
)


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_tables() -> None:
    op.create_table(
        "snapshot",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("params_json", sa.Text(), nullable=False),
        sa.Column("fetched_at", _timestamp(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("software_version", sa.String(), nullable=False),
        sa.Column("config_hash", sa.String(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_sha256", sa.String(), nullable=False),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.Column("leaf_hash", sa.String(), nullable=False),
        sa.Column("quarantined", sa.Boolean(), nullable=False),
        sa.Column("quarantine_reason", sa.Text(), nullable=True),
        sa.Column("corrects_leaf_index", sa.Integer(), nullable=True),
        sa.UniqueConstraint("leaf_index", name="uq_snapshot_leaf_index"),
    )
    op.create_index("ix_snapshot_leaf_index", "snapshot", ["leaf_index"])
    op.create_index("ix_snapshot_source", "snapshot", ["source"])
    op.create_index("ix_snapshot_body_sha256", "snapshot", ["body_sha256"])

    op.create_table(
        "interval_volume",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("snapshot_id", sa.Integer(), sa.ForeignKey("snapshot.id"), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("interval_start", _timestamp(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("long_count", sa.Integer(), nullable=False),
        sa.Column("short_count", sa.Integer(), nullable=False),
        sa.Column("total_count", sa.Integer(), nullable=False),
        sa.Column("long_usd", sa.Float(), nullable=False),
        sa.Column("short_usd", sa.Float(), nullable=False),
        sa.Column("total_usd", sa.Float(), nullable=False),
    )
    op.create_index("ix_interval_volume_snapshot_id", "interval_volume", ["snapshot_id"])
    op.create_index(
        "ix_interval_volume_key",
        "interval_volume",
        ["source", "asset", "exchange", "interval_start", "interval_seconds"],
    )

    op.create_table(
        "check_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("limit_set_sha256", sa.String(), nullable=False),
        sa.Column("config_hash", sa.String(), nullable=False),
        sa.Column("software_version", sa.String(), nullable=False),
    )
    op.create_index("ix_check_run_day", "check_run", ["day"])

    op.create_table(
        "check_result",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("check_run.id"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=True),
        sa.Column("warn_at", sa.Float(), nullable=True),
        sa.Column("limit", sa.Float(), nullable=True),
        sa.Column("pct_of_limit", sa.Float(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_check_result_run_id", "check_result", ["run_id"])
    op.create_index("ix_check_result_day", "check_result", ["day"])

    op.create_table(
        "artifact",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
    )

    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("key_name", sa.String(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("previous_tree_size", sa.Integer(), nullable=True),
        sa.Column("consistency_proof_json", sa.Text(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
    )
    op.create_index("ix_checkpoint_tree_size", "checkpoint", ["tree_size"])


def upgrade() -> None:
    _create_tables()
    create_append_only_function()
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the audit log is never dropped by a migration")
