"""The audit store's tables.

Evidence tables (append-only; corrections are new rows that point at what they correct):

* ``snapshot``         one raw HTTP response, byte for byte, with its provenance; one Merkle leaf.
* ``interval_volume``  liquidation volumes derived from one snapshot (one row per asset, exchange
                       and interval); never exists without the snapshot it can be re-derived from.
* ``check_run``        one run of the checks for one day, with the hash of the limit set in force.
* ``check_result``     one check on one scope: observed value, thresholds, status, evidence.
* ``artifact``         a rendered report file and its SHA-256.
* ``checkpoint``       a signed tree head (C2SP tlog-checkpoint) of the snapshot log, with the
                       verifier key that checks it and the consistency proof from the one before.

The database refuses UPDATE and DELETE on all of them (triggers, see ``migrations``); a correction
is a new snapshot whose ``corrects_leaf_index`` names the leaf it corrects.

Datetimes are stored in UTC; SQLite hands them back naive, so read them through
:func:`audit_store.canonical.as_utc`.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

ALL_EXCHANGES = "*"
"""The ``exchange`` value of a row holding a source's own all-exchange total for an interval."""


class Snapshot(SQLModel, table=True):
    __tablename__ = "snapshot"
    __table_args__ = (UniqueConstraint("leaf_index", name="uq_snapshot_leaf_index"),)

    id: int | None = Field(default=None, primary_key=True)
    leaf_index: int = Field(index=True)
    source: str = Field(index=True)  # configured source name: "demo", "kaiko", ...
    kind: str  # the body's format, which names the deriver: "kaiko.liquidation.v1"
    method: str = "GET"
    url: str  # full request URL, secrets redacted
    params_json: str = Field(sa_column=Column(Text, nullable=False))  # canonical, redacted
    fetched_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    http_status: int
    software_version: str
    config_hash: str
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    body_sha256: str = Field(index=True)
    body_size: int
    leaf_hash: str  # hex RFC 6962 leaf hash of the canonical provenance JSON
    quarantined: bool = False
    quarantine_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # A correction points at the leaf it supersedes; part of the provenance (and leaf) when set.
    corrects_leaf_index: int | None = Field(default=None)


class IntervalVolume(SQLModel, table=True):
    __tablename__ = "interval_volume"
    __table_args__ = (
        Index(
            "ix_interval_volume_key",
            "source",
            "asset",
            "exchange",
            "interval_start",
            "interval_seconds",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    snapshot_id: int = Field(foreign_key="snapshot.id", index=True)
    row_index: int  # position of the row in what its snapshot's deriver returns
    source: str
    asset: str  # normalised upper-case code: "BTC"
    exchange: str  # source's exchange code, verbatim ("binc", "okex"), or ALL_EXCHANGES
    interval_start: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    interval_seconds: int
    long_count: int
    short_count: int
    total_count: int
    long_usd: float
    short_usd: float
    total_usd: float


class CheckRun(SQLModel, table=True):
    __tablename__ = "check_run"

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    limit_set_sha256: str
    config_hash: str
    software_version: str
    # the liquidation source the run read; None for runs recorded before migration 0007, when it
    # was always the configuration's fetch.default_source (covered by config_hash)
    source: str | None = None


class CheckResult(SQLModel, table=True):
    __tablename__ = "check_result"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="check_run.id", index=True)
    day: date = Field(index=True)
    check: str  # "daily_usd", "velocity_usd", ...
    scope: str  # "BTC", "BTC/binc", ...
    observed: float | None
    warn_at: float | None
    limit: float | None
    pct_of_limit: float | None
    status: str  # ok | warn | breach | error
    message: str = Field(sa_column=Column(Text, nullable=False))
    evidence_json: str = Field(sa_column=Column(Text, nullable=False))  # sorted snapshot SHA-256s


class Artifact(SQLModel, table=True):
    __tablename__ = "artifact"

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # "report.html", "report.pdf"
    period: str  # "2025-11-03" or "week:2025-11-03"
    name: str  # file name inside the reports directory
    sha256: str
    size: int
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Checkpoint(SQLModel, table=True):
    """One signed tree head; every one is kept, each consistent with the one before."""

    __tablename__ = "checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    origin: str  # the log's identity, first line of the note
    tree_size: int = Field(index=True)
    root_hash: str  # hex RFC 6962 root of leaves 0..tree_size-1
    note: str = Field(sa_column=Column(Text, nullable=False))  # the signed note, as published
    key_name: str
    key_id: str  # 8 hex digits
    verifier_key: str = Field(sa_column=Column(Text, nullable=False))  # name+hash+base64 pubkey
    previous_tree_size: int | None = Field(default=None)  # size of the checkpoint before, if any
    # JSON list of base64 node hashes: RFC 9162 consistency proof previous_tree_size -> tree_size.
    consistency_proof_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # On the first checkpoint of a new key: the retiring key's signed statement naming both keys
    # and this tree head (audit_store.rotation); NULL otherwise.
    rotation_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


AUDIT_TABLES: tuple[str, ...] = (
    "snapshot",
    "interval_volume",
    "check_run",
    "check_result",
    "artifact",
    "checkpoint",
)
"""Every append-only table of the store, in the order they depend on each other."""
