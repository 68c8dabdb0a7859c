"""Checkpoints anchored outside the firm: ``timestamp_request``, ``checkpoint_cosignature``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

One row per request to a Time-Stamping Authority for a signed checkpoint (the RFC 3161 token it
answered with, or why it failed), and one per witness cosignature on a checkpoint. Append-only,
with the guard of 0001. The columns are spelled out rather than imported, so this migration stays
what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0011"
down_revision: str | tuple[str, ...] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("timestamp_request", "checkpoint_cosignature")


def upgrade() -> None:
    op.create_table(
        "timestamp_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checkpoint_id", sa.Integer(), sa.ForeignKey("checkpoint.id"), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("tsa_url", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message_sha256", sa.String(), nullable=False),
        sa.Column("nonce", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("request", sa.LargeBinary(), nullable=False),
        sa.Column("response", sa.LargeBinary(), nullable=True),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_timestamp_request_checkpoint_id", "timestamp_request", ["checkpoint_id"])
    op.create_table(
        "checkpoint_cosignature",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checkpoint_id", sa.Integer(), sa.ForeignKey("checkpoint.id"), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_checkpoint_cosignature_checkpoint_id", "checkpoint_cosignature", ["checkpoint_id"]
    )
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("time-stamp tokens and cosignatures are evidence, never dropped")
