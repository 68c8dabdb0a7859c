"""The source a check run read: ``check_run.source``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

``liqrisk check --source`` and ``report --source`` read a source other than the configured
default, so a run records which source its figures came from, and a report pairs the results
with the figures of the same source. Runs recorded before this revision keep ``NULL``: their
source was the configuration's ``fetch.default_source`` then, which their ``config_hash`` covers.
Adding a nullable column rewrites no row, so the append-only triggers stand as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | tuple[str, ...] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("check_run", sa.Column("source", sa.String(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("a check run's record is never dropped by a migration")
