"""The scheduler: claims of (job, period), the run rows of every claim, verify outcomes.

Revision ID: 0006
Revises: 0005
Create Date: 2025-11-22

Append-only like the evidence tables: a claim is never released and a run never rewritten (its
end is a new row), so the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) with the
same ``append-only:`` message as 0001 (PostgreSQL reuses 0001's ``audit_store_append_only()``).
The unique constraints are what make a claim exclusive across processes. The table list is
spelled out rather than imported, so this migration stays what it was when released.

APScheduler's job store table is not created here: APScheduler creates it (one per daemon
instance), updates and deletes its rows, and nothing in it is evidence.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0006"
down_revision: str | tuple[str, ...] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("schedule_claim", "schedule_run", "verify_run")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _create_tables() -> None:
    op.create_table(
        "schedule_claim",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("takes_over", sa.Integer(), sa.ForeignKey("schedule_claim.id"), nullable=True),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("claimed_at", _timestamp(), nullable=False),
        sa.UniqueConstraint("job", "period", "generation", name="uq_schedule_claim_generation"),
        sa.UniqueConstraint("takes_over", name="uq_schedule_claim_takes_over"),
    )
    op.create_index("ix_schedule_claim_job_period", "schedule_claim", ["job", "period"])

    op.create_table(
        "schedule_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("claim_id", sa.Integer(), sa.ForeignKey("schedule_claim.id"), nullable=False),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("beat", sa.Integer(), nullable=False),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.UniqueConstraint("claim_id", "event", "beat", name="uq_schedule_run_event"),
    )
    op.create_index("ix_schedule_run_claim_id", "schedule_run", ["claim_id"])

    op.create_table(
        "verify_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", _timestamp(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("discrepancies", sa.Integer(), nullable=False),
        sa.Column("leaves", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(), nullable=False),
        sa.Column("checkpointed_leaves", sa.Integer(), nullable=False),
        sa.Column("trusted_keys", sa.String(), nullable=False),
        sa.Column("software_version", sa.String(), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
    )


def upgrade() -> None:
    _create_tables()
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the scheduler's record is never dropped by a migration")
