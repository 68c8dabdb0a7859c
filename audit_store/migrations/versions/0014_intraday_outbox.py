"""Outbox items that announce an intraday result: ``outbox_item.intraday_result_id``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07

An intraday alert message lists the intraday results it announces as outbox items, as a breach
group lists its check results. The column says which result an item announces, so a result held
back by the group window is known to be still unannounced after a restart, and is announced once.
Nullable: items of daily breach groups leave it empty. ``outbox_item`` stays append-only (0003).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | tuple[str, ...] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild, so the append-only triggers stay): SQLite takes the
    # reference inline only, PostgreSQL as a named constraint.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE outbox_item ADD COLUMN intraday_result_id INTEGER "
            "REFERENCES intraday_result (id)"
        )
    else:
        op.add_column("outbox_item", sa.Column("intraday_result_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            "fk_outbox_item_intraday_result_id",
            "outbox_item",
            "intraday_result",
            ["intraday_result_id"],
            ["id"],
        )
    op.create_index("ix_outbox_item_intraday_result_id", "outbox_item", ["intraday_result_id"])


def downgrade() -> None:
    raise NotImplementedError("outbox items are evidence, never dropped")
