"""RFC 3161 time-stamp tokens on signed checkpoints: one append-only row per request to a TSA.

A signed checkpoint proves what the log held to whoever trusts the firm's key; a token from an
outside Time-Stamping Authority proves *when* it held it, which the firm cannot backdate. Each
attempt is a row: a token received (``outcome = "stamped"``, the request and the TSA's whole
response kept as DER) or a failure (``"failed"``, the error in one line). Nothing is updated: a
checkpoint still *waits* for a token while no row of a later or equal checkpoint is stamped (a
token on a later checkpoint covers every earlier one, whose log it provably extends). Append-only
like the evidence tables (the triggers are in migration ``0011``).

* ``timestamp_request``  the checkpoint (id, tree size), the TSA's URL, when it was asked, the
                         SHA-256 of the note asked for, the nonce (decimal), the request and
                         response (DER), the time the TSA put in the token, the outcome and error.
* ``checkpoint_cosignature``  a witness's cosignature (c2sp.org/tlog-cosignature) on a checkpoint:
                         the witness's name and key ID, the time it signed, its signature line as
                         received, and when it was recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, LargeBinary, Text
from sqlmodel import Field, SQLModel

STAMPED = "stamped"
FAILED = "failed"


class TimestampRequest(SQLModel, table=True):
    __tablename__ = "timestamp_request"

    id: int | None = Field(default=None, primary_key=True)
    checkpoint_id: int = Field(foreign_key="checkpoint.id", index=True)
    tree_size: int
    tsa_url: str = Field(sa_column=Column(Text, nullable=False))
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    message_sha256: str  # SHA-256 of the checkpoint's note, the imprint asked for
    nonce: str  # decimal: up to 64 bits, beyond a signed 64-bit column
    outcome: str  # "stamped", "failed"
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    request: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    response: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    gen_time: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class CheckpointCosignature(SQLModel, table=True):
    __tablename__ = "checkpoint_cosignature"

    id: int | None = Field(default=None, primary_key=True)
    checkpoint_id: int = Field(foreign_key="checkpoint.id", index=True)
    tree_size: int
    witness: str  # the key name
    key_id: str  # 8 hex digits
    signed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    line: str = Field(sa_column=Column(Text, nullable=False))  # the signature line, as received
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
