"""The outbox: messages, the breach announcements they carry, and every delivery attempt.

Revision ID: 0003
Revises: 0001
Create Date: 2025-11-21

Append-only like the evidence tables: a message's state is derived from its attempt rows, never
updated, so the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) with the same
``append-only:`` message as 0001 (PostgreSQL reuses 0001's ``audit_store_append_only()``). The
table list is spelled out rather than imported, so this migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("outbox_message", "outbox_item", "outbox_attempt")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_tables() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("recipients_json", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("body_sha256", sa.String(), nullable=False),
        sa.Column("attachments_json", sa.Text(), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_message_key"),
    )
    op.create_index("ix_outbox_message_kind", "outbox_message", ["kind"])
    op.create_index("ix_outbox_message_day", "outbox_message", ["day"])

    op.create_table(
        "outbox_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "outbox_message_id",
            sa.Integer(),
            sa.ForeignKey("outbox_message.id"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("result_id", sa.Integer(), sa.ForeignKey("check_result.id"), nullable=True),
        sa.UniqueConstraint(
            "outbox_message_id", "check", "scope", "severity", "state", name="uq_outbox_item_event"
        ),
    )
    op.create_index("ix_outbox_item_outbox_message_id", "outbox_item", ["outbox_message_id"])
    op.create_index("ix_outbox_item_day", "outbox_item", ["day"])
    op.create_index(
        "ix_outbox_item_told", "outbox_item", ["channel", "check", "scope", "severity", "day"]
    )

    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "outbox_message_id",
            sa.Integer(),
            sa.ForeignKey("outbox_message.id"),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("transport", sa.String(), nullable=False),
        sa.Column("response_code", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("refused_json", sa.Text(), nullable=False),
        sa.Column("lease_until", _timestamp(), nullable=True),
        sa.Column("retry_at", _timestamp(), nullable=True),
        sa.UniqueConstraint(
            "outbox_message_id", "attempt", "result", name="uq_outbox_attempt_step"
        ),
    )
    op.create_index("ix_outbox_attempt_outbox_message_id", "outbox_attempt", ["outbox_message_id"])


def upgrade() -> None:
    _create_tables()
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the outbox's record of what was sent is never dropped")
