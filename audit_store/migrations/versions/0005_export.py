"""Audit packages: the record of every export and the checkpoint it was made against.

Revision ID: 0005
Revises: 0004
Create Date: 2025-11-22

Append-only like the evidence tables: a package handed to a regulator is never un-handed, and the
next package's consistency proof starts from the checkpoint recorded here. The database refuses
UPDATE and DELETE (and TRUNCATE on PostgreSQL) with the same ``append-only:`` message as 0001
(PostgreSQL reuses 0001's ``audit_store_append_only()``). The table list is spelled out rather
than imported, so this migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0005"
down_revision: str | tuple[str, ...] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("export_record",)


def _create_tables() -> None:
    op.create_table(
        "export_record",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("range_start", sa.Date(), nullable=False),
        sa.Column("range_end", sa.Date(), nullable=False),
        sa.Column("checkpoint_id", sa.Integer(), sa.ForeignKey("checkpoint.id"), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(), nullable=False),
        sa.Column(
            "previous_export_id", sa.Integer(), sa.ForeignKey("export_record.id"), nullable=True
        ),
        sa.Column("previous_tree_size", sa.Integer(), nullable=True),
        sa.Column("leaves", sa.Integer(), nullable=False),
        sa.Column("manifest_sha256", sa.String(), nullable=False),
        sa.Column("package_sha256", sa.String(), nullable=False),
        sa.Column("package_size", sa.Integer(), nullable=False),
        sa.Column("software_version", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_export_record_tree_size", "export_record", ["tree_size"])


def upgrade() -> None:
    _create_tables()
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the record of what was handed to a regulator is never dropped")
