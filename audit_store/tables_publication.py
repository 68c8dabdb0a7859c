"""Where each signed checkpoint went: one append-only row per copy that left the store.

A checkpoint proves something only to whoever holds it: the report email that carried it, the
folder it was published to (``liqrisk checkpoint --publish``). Each such copy is recorded here, so
the firm can say, and an auditor can ask, who holds which checkpoint. (An export's checkpoint is in
``export_record``.) Append-only like the evidence tables (the triggers are in migration ``0010``).

* ``checkpoint_publication``  one copy: the checkpoint (id, tree size), the channel (``email``,
                              ``directory``), where it went (the recipients, the folder), the
                              reference of what carried it (the outbox message's idempotency key,
                              the file written), and when.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Text
from sqlmodel import Field, SQLModel


class CheckpointPublication(SQLModel, table=True):
    __tablename__ = "checkpoint_publication"

    id: int | None = Field(default=None, primary_key=True)
    checkpoint_id: int = Field(foreign_key="checkpoint.id", index=True)
    tree_size: int
    channel: str  # "email", "directory"
    target: str = Field(sa_column=Column(Text, nullable=False))  # recipients, or the folder
    reference: str = Field(sa_column=Column(Text, nullable=False))  # message key, or the file
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
