"""Ingestion: funding rates, open interest, OKX liquidation orders and instruments, watermarks.

Revision ID: 0004
Revises: 0002, 0003
Create Date: 2025-11-21

Derived tables (each row points at the snapshot it is re-derived from, like ``interval_volume``) and
the watermark table. Append-only like the evidence tables: a watermark advance is a new row, a
re-fetched value a new row from a new snapshot, so the database refuses UPDATE and DELETE (and
TRUNCATE on PostgreSQL) with the same ``append-only:`` message as 0001 (PostgreSQL reuses 0001's
``audit_store_append_only()``). The table list is spelled out rather than imported, so this
migration stays what it was when released.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit_store.migrations.append_only import create_append_only_triggers

revision: str = "0004"
down_revision: str | tuple[str, ...] | None = ("0002", "0003")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = (
    "funding_rate",
    "open_interest",
    "liquidation_order",
    "instrument_spec",
    "ingest_watermark",
)


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _derived(name: str, *columns: sa.Column[object]) -> None:
    """A derived table: id, snapshot_id, row_index, the common naming columns, then ``columns``."""
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("snapshot_id", sa.Integer(), sa.ForeignKey("snapshot.id"), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("exchange", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("instrument", sa.String(), nullable=False),
        sa.Column("quote", sa.String(), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_snapshot_id", name, ["snapshot_id"])


def _create_tables() -> None:
    _derived(
        "funding_rate",
        sa.Column("funding_time", _timestamp(), nullable=False),
        sa.Column("funding_rate", sa.Float(), nullable=False),
        sa.Column("realized_rate", sa.Float(), nullable=True),
        sa.Column("mark_price", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_funding_rate_key",
        "funding_rate",
        ["source", "asset", "exchange", "instrument", "funding_time"],
    )
    _derived(
        "open_interest",
        sa.Column("ts", _timestamp(), nullable=False),
        sa.Column("period_seconds", sa.Integer(), nullable=False),
        sa.Column("oi_contracts", sa.Float(), nullable=True),
        sa.Column("oi_base", sa.Float(), nullable=True),
        sa.Column("oi_usd", sa.Float(), nullable=True),
    )
    op.create_index(
        "ix_open_interest_key",
        "open_interest",
        ["source", "asset", "exchange", "instrument", "ts"],
    )
    _derived(
        "liquidation_order",
        sa.Column("ts", _timestamp(), nullable=False),
        sa.Column("side", sa.String(), nullable=False),
        sa.Column("pos_side", sa.String(), nullable=False),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("size", sa.Float(), nullable=False),
        sa.Column("bankruptcy_price", sa.Float(), nullable=False),
        sa.Column("bankruptcy_loss", sa.Float(), nullable=True),
    )
    op.create_index("ix_liquidation_order_key", "liquidation_order", ["source", "asset", "ts"])
    _derived(
        "instrument_spec",
        sa.Column("inst_type", sa.String(), nullable=False),
        sa.Column("settle_ccy", sa.String(), nullable=False),
        sa.Column("ct_val", sa.Float(), nullable=False),
        sa.Column("ct_mult", sa.Float(), nullable=False),
        sa.Column("ct_val_ccy", sa.String(), nullable=False),
        sa.Column("ct_type", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
    )
    op.create_index("ix_instrument_spec_key", "instrument_spec", ["source", "instrument"])

    op.create_table(
        "ingest_watermark",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("dataset", sa.String(), nullable=False),
        sa.Column("asset", sa.String(), nullable=False),
        sa.Column("covered_from", _timestamp(), nullable=False),
        sa.Column("watermark", _timestamp(), nullable=False),
        sa.Column("recorded_at", _timestamp(), nullable=False),
        sa.Column("software_version", sa.String(), nullable=False),
        sa.Column("config_hash", sa.String(), nullable=False),
    )
    op.create_index("ix_ingest_watermark_key", "ingest_watermark", ["source", "dataset", "asset"])


def upgrade() -> None:
    _create_tables()
    create_append_only_triggers(APPEND_ONLY_TABLES)


def downgrade() -> None:
    raise NotImplementedError("the ingestion record is never dropped by a migration")
