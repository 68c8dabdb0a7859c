"""Intraday results of hourly interval volumes beside the streams': ``intraday_result.feed``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08

An intraday limit is evaluated on every committed stream batch (feed ``streams``) and, as soon as
its hour lands, on every fetched page of hourly interval volumes (feed ``kaiko`` or ``demo``, the
source's name). The same limit and scope can be measured by both, from different figures, so an
episode is followed per feed: the column says which figures a row measured. Rows stored before
this migration were all the streams'. ``intraday_result`` stays append-only (0013): a plain ADD
COLUMN with a default, no table rebuild, so its triggers stay.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | tuple[str, ...] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "intraday_result",
        sa.Column("feed", sa.Text(), nullable=False, server_default="streams"),
    )


def downgrade() -> None:
    raise NotImplementedError("intraday results are evidence, never dropped")
