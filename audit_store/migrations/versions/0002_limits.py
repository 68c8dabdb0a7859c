"""The limit framework: limit-set versions, result details with breach lifecycle, acknowledgements.

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-21

Append-only like the evidence tables: an acknowledgement never edits the result it acknowledges and
a breach's lifecycle is recorded with the result, so the database refuses UPDATE and DELETE (and
TRUNCATE on PostgreSQL) with the same ``append-only:`` message as 0001 (PostgreSQL reuses 0001's
``audit_store_append_only()``). The table list is spelled out rather than imported, so this
migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("limit_set", "check_result_detail", "acknowledgement")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_tables() -> None:
    op.create_table(
        "limit_set",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("canonical_json", sa.Text(), nullable=False),
        sa.Column("loaded_from", sa.String(), nullable=False),
        sa.Column("recorded_at", _timestamp(), nullable=False),
        sa.UniqueConstraint("sha256", name="uq_limit_set_sha256"),
    )

    op.create_table(
        "check_result_detail",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("result_id", sa.Integer(), sa.ForeignKey("check_result.id"), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("check_run.id"), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("threshold_scope", sa.String(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.Column("lifecycle", sa.String(), nullable=True),
        sa.Column("breach_since", sa.Date(), nullable=True),
        sa.Column("breach_days", sa.Integer(), nullable=True),
        sa.Column(
            "previous_result_id", sa.Integer(), sa.ForeignKey("check_result.id"), nullable=True
        ),
        sa.UniqueConstraint("result_id", name="uq_check_result_detail_result_id"),
    )
    op.create_index("ix_check_result_detail_run_id", "check_result_detail", ["run_id"])

    op.create_table(
        "acknowledgement",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("result_id", sa.Integer(), sa.ForeignKey("check_result.id"), nullable=False),
        sa.Column("acked_by", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("acked_at", _timestamp(), nullable=False),
        sa.Column("result_sha256", sa.String(), nullable=False),
        sa.Column("previous_sha256", sa.String(), nullable=False),
        sa.Column("entry_sha256", sa.String(), nullable=False),
        sa.UniqueConstraint("entry_sha256", name="uq_acknowledgement_entry_sha256"),
    )
    op.create_index("ix_acknowledgement_result_id", "acknowledgement", ["result_id"])


def upgrade() -> None:
    _create_tables()
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the audit log is never dropped by a migration")
