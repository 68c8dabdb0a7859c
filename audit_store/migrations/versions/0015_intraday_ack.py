"""Acknowledgements of intraday alerts: ``intraday_acknowledgement``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08

Who acknowledged an intraday alert (an episode of :mod:`audit_store.tables_intraday`), when and
why, through which of its rows; hash-chained on a chain of its own, like ``acknowledgement``
(0002). Append-only, with the guard of 0001. The columns are spelled out rather than imported, so
this migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0015"
down_revision: str | tuple[str, ...] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("intraday_acknowledgement",)


def upgrade() -> None:
    op.create_table(
        "intraday_acknowledgement",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("result_id", sa.Integer(), sa.ForeignKey("intraday_result.id"), nullable=False),
        sa.Column("episode", sa.String(), nullable=False),
        sa.Column("acked_by", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("acked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result_sha256", sa.String(), nullable=False),
        sa.Column("previous_sha256", sa.String(), nullable=False),
        sa.Column("entry_sha256", sa.String(), nullable=False),
        sa.UniqueConstraint("entry_sha256", name="uq_intraday_acknowledgement_entry_sha256"),
    )
    op.create_index(
        "ix_intraday_acknowledgement_result_id", "intraday_acknowledgement", ["result_id"]
    )
    op.create_index("ix_intraday_acknowledgement_episode", "intraday_acknowledgement", ["episode"])
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("acknowledgements are evidence, never dropped")
