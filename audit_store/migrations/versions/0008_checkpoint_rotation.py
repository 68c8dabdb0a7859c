"""The retiring key's statement on a key rotation: ``checkpoint.rotation_note``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

The first checkpoint a new signing key signs carries a note signed by the key it replaces, naming
both keys and that checkpoint's tree head (:mod:`audit_store.rotation`), so that verification can
follow a change of key from the first key onward. Earlier checkpoints keep ``NULL``; adding a
nullable column rewrites no row, so the append-only triggers stand as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | tuple[str, ...] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkpoint", sa.Column("rotation_note", sa.Text(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("a checkpoint's record is never dropped by a migration")
