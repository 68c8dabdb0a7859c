"""Where each signed checkpoint went: ``checkpoint_publication``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

One row per copy of a checkpoint that left the store (an email carrying it, a folder it was
published to). Append-only, with the guard of 0001. The columns are spelled out rather than
imported, so this migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0010"
down_revision: str | tuple[str, ...] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("checkpoint_publication",)


def upgrade() -> None:
    op.create_table(
        "checkpoint_publication",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("checkpoint_id", sa.Integer(), sa.ForeignKey("checkpoint.id"), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_checkpoint_publication_checkpoint_id", "checkpoint_publication", ["checkpoint_id"]
    )
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the record of who holds a checkpoint is never dropped")
