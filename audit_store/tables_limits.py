"""The limit framework's tables: limit-set versions, result details and lifecycle, acknowledgements.

Append-only like the evidence tables (the triggers are in migration ``0002``): nothing here is ever
updated. An acknowledgement is a new row that points at a result, never an edit of it; a breach's
lifecycle (new, ongoing, resolved) is recorded as the result is stored, in its detail row.

* ``limit_set``            one version of the limit set, by the SHA-256 of its canonical JSON
                           (the value every ``check_run.limit_set_sha256`` names), with that JSON.
* ``check_result_detail``  one per ``check_result``: the unit, which configured scope the
                           thresholds came from, the figures behind the observed value, and the
                           breach lifecycle (state, first day, days in breach, the result before).
* ``acknowledgement``      who acknowledged a result, when, and why; each row carries the SHA-256
                           of its canonical content chained to the row before it, so a removed or
                           altered acknowledgement shows (see :func:`ack_entry_sha256`).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit_store.canonical import canonical_json, utc_iso

GENESIS_SHA256 = "0" * 64
"""The ``previous_sha256`` of the first acknowledgement."""


class LimitSetVersion(SQLModel, table=True):
    __tablename__ = "limit_set"
    __table_args__ = (UniqueConstraint("sha256", name="uq_limit_set_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    sha256: str  # of canonical_json, as recorded in check_run.limit_set_sha256
    canonical_json: str = Field(sa_column=Column(Text, nullable=False))
    loaded_from: str  # the file the limit set was read from when first recorded
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CheckResultDetail(SQLModel, table=True):
    __tablename__ = "check_result_detail"
    __table_args__ = (UniqueConstraint("result_id", name="uq_check_result_detail_result_id"),)

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="check_result.id")
    run_id: int = Field(foreign_key="check_run.id", index=True)
    unit: str  # usd | count | pct | bps | hours | intervals
    threshold_scope: str | None = Field(default=None)  # "asset BTC", "global", ...; None: none
    detail_json: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON object
    lifecycle: str | None = Field(default=None)  # new | ongoing | resolved | unknown; None
    breach_since: date | None = Field(default=None)  # first day of the breach run
    breach_days: int | None = Field(default=None)  # consecutive days in breach, this one included
    previous_result_id: int | None = Field(default=None, foreign_key="check_result.id")


class Acknowledgement(SQLModel, table=True):
    __tablename__ = "acknowledgement"
    __table_args__ = (UniqueConstraint("entry_sha256", name="uq_acknowledgement_entry_sha256"),)

    id: int | None = Field(default=None, primary_key=True)
    result_id: int = Field(foreign_key="check_result.id", index=True)
    acked_by: str
    comment: str = Field(sa_column=Column(Text, nullable=False))
    acked_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    result_sha256: str  # what was acknowledged: see ack_result_sha256
    previous_sha256: str  # entry_sha256 of the acknowledgement before, GENESIS_SHA256 for the first
    entry_sha256: str


def ack_result_sha256(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the acknowledged result's fields as the acker saw them."""
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def ack_entry_sha256(ack: Acknowledgement) -> str:
    """The chained hash of one acknowledgement: its content and the hash of the one before."""
    content = {
        "result_id": ack.result_id,
        "acked_by": ack.acked_by,
        "comment": ack.comment,
        "acked_at": utc_iso(ack.acked_at),
        "result_sha256": ack.result_sha256,
        "previous_sha256": ack.previous_sha256,
    }
    return hashlib.sha256(canonical_json(content)).hexdigest()


LIMIT_TABLES: tuple[str, ...] = ("limit_set", "check_result_detail", "acknowledgement")
"""The append-only tables of the limit framework, in the order they depend on each other."""
