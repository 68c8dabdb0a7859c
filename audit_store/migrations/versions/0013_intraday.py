"""Intraday limit results: ``intraday_result``; an index on ``stream_minute`` by asset and minute.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

One row per crossing, escalation, repeat or resolution of an intraday limit found on a committed
stream batch (:mod:`audit_store.tables_intraday`). Append-only, with the guard of 0001. The index
lets an asset's trailing window across venues be read without scanning the day. The columns are
spelled out rather than imported, so this migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0013"
down_revision: str | tuple[str, ...] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("intraday_result",)


def upgrade() -> None:
    op.create_table(
        "intraday_result",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("snapshot_id", sa.Integer(), sa.ForeignKey("snapshot.id"), nullable=False),
        sa.Column("limit_name", sa.String(), nullable=False),
        sa.Column("measure", sa.String(), nullable=False),
        sa.Column("window_minutes", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("episode", sa.String(), nullable=False),
        sa.Column("observed", sa.Float(), nullable=False),
        sa.Column("warn_at", sa.Float(), nullable=False),
        sa.Column("limit", sa.Float(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("limit_set_sha256", sa.String(), nullable=False),
        sa.Column("leaves_json", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intraday_result_snapshot_id", "intraday_result", ["snapshot_id"])
    op.create_index("ix_intraday_result_scope", "intraday_result", ["limit_name", "scope", "id"])
    op.create_index("ix_stream_minute_asset", "stream_minute", ["asset", "minute"])
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("intraday results are evidence, never dropped")
