"""The live streams: events derived from recorded websocket frames, minute aggregates, sessions.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

``stream_event`` and ``stream_rejected_frame`` are derived from the frame batches (snapshots of the
stream kinds) like the other derived tables; ``stream_minute`` sums the counted events of each
batch per venue, asset and minute; ``stream_session`` records every connection's connect,
subscription, refusal, disconnect and gap; ``stream_lease`` who collects each stream. All
append-only, with the guard of 0001. The columns
are spelled out rather than imported, so this migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0009"
down_revision: str | tuple[str, ...] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = (
    "stream_event",
    "stream_rejected_frame",
    "stream_minute",
    "stream_session",
    "stream_lease",
)


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _snapshot_column() -> sa.Column[int]:
    return sa.Column("snapshot_id", sa.Integer(), sa.ForeignKey("snapshot.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "stream_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        _snapshot_column(),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("quote", sa.String(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("exchange_time", _timestamp(), nullable=False),
        sa.Column("receive_time", _timestamp(), nullable=False),
        sa.Column("dedup_key", sa.String(), nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_stream_event_snapshot_id", "stream_event", ["snapshot_id"])
    op.create_index("ix_stream_event_time", "stream_event", ["venue", "asset", "exchange_time"])
    op.create_index("ix_stream_event_key", "stream_event", ["venue", "dedup_key"])
    op.create_table(
        "stream_rejected_frame",
        sa.Column("id", sa.Integer(), primary_key=True),
        _snapshot_column(),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("receive_time", _timestamp(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_stream_rejected_frame_snapshot_id", "stream_rejected_frame", ["snapshot_id"]
    )
    op.create_table(
        "stream_minute",
        sa.Column("id", sa.Integer(), primary_key=True),
        _snapshot_column(),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("minute", _timestamp(), nullable=False),
        sa.Column("long_usd", sa.Float(), nullable=False),
        sa.Column("short_usd", sa.Float(), nullable=False),
        sa.Column("long_count", sa.Integer(), nullable=False),
        sa.Column("short_count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_stream_minute_snapshot_id", "stream_minute", ["snapshot_id"])
    op.create_index("ix_stream_minute_key", "stream_minute", ["venue", "asset", "minute"])
    op.create_table(
        "stream_session",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("venue", sa.String(), nullable=False),
        sa.Column("connection", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
    )
    op.create_index("ix_stream_session_stream", "stream_session", ["stream", "at"])
    op.create_table(
        "stream_lease",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("expires_at", _timestamp(), nullable=False),
    )
    op.create_index("ix_stream_lease_stream", "stream_lease", ["stream", "id"])
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the streams' record is never dropped by a migration")
