"""The record of audit packages handed out: one append-only row per ``liqrisk export``.

Why a table: each package carries an RFC 9162 consistency proof from the checkpoint of the export
before it, so a regulator holding two packages can check that the log the second one commits to
extends the first. That needs to know, later, which checkpoint each earlier package used; this
table remembers it (and what was in the package, by hash), never the key or any secret.

Append-only like the evidence tables (the triggers are in migration ``0005``): an export is never
edited or forgotten, even if the file is lost.

* ``export_record``  one package: its range ``[range_start, range_end)`` (UTC days), the
                     checkpoint it was made against (id, tree size, root), the export whose
                     checkpoint its consistency proof starts from, how many leaves it holds, the
                     SHA-256 of its signed manifest and of the zip file itself.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime
from sqlmodel import Field, SQLModel


class ExportRecord(SQLModel, table=True):
    __tablename__ = "export_record"

    id: int | None = Field(default=None, primary_key=True)
    range_start: date  # first UTC day of the range (inclusive)
    range_end: date  # UTC day the range stops before (exclusive)
    checkpoint_id: int = Field(foreign_key="checkpoint.id")
    tree_size: int = Field(index=True)  # the checkpoint's tree size: the next consistency proof's m
    root_hash: str  # hex root of that checkpoint
    # The export whose checkpoint this package's consistency proof starts from, if any.
    previous_export_id: int | None = Field(default=None, foreign_key="export_record.id")
    previous_tree_size: int | None = Field(default=None)
    leaves: int  # snapshots (leaves) in the package
    manifest_sha256: str
    package_sha256: str  # of the zip file as written
    package_size: int
    software_version: str
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


EXPORT_TABLES: tuple[str, ...] = ("export_record",)
"""The append-only tables of this module."""
