"""The outbox's tables: every message liqrisk sends, each item it announces, every delivery attempt.

Append-only like the evidence tables (the triggers are in migration ``0003``): a message's state is
never written, it is derived from its attempt rows (see :func:`message_state`).

* ``outbox_message``  one message as enqueued, byte for byte: an RFC 5322 email (with its
                      attachments) or a webhook's JSON body; who it is for, its Message-ID, the
                      SHA-256 of the body and of each attachment. ``idempotency_key`` is unique:
                      ``kind:day:group`` (``report:2025-11-03:compliance``), so a day run again
                      enqueues nothing twice.
* ``outbox_item``     one breach announcement a message carries (check, scope, severity, lifecycle
                      state, day) on its channel (``email`` or ``webhook:<name>``): what a channel
                      was told is never told again, and the repeat interval of ongoing breaches is
                      measured from these rows.
* ``outbox_attempt``  one row per step of a delivery: ``sending`` (a claim with a lease), then
                      ``delivered``, ``retry`` (with the time of the next try) or ``failed`` (for
                      good), with the server's response code and one line of its answer.

Webhook messages name their target by its configured name, never its URL (URLs can carry tokens);
HMAC secrets are read from the environment when sending and never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from audit_store.canonical import as_utc

AttemptResult = Literal["sending", "delivered", "retry", "failed"]
MessageState = Literal["pending", "sending", "retry", "delivered", "failed"]


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (UniqueConstraint("idempotency_key", name="uq_outbox_message_key"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str  # kind:day:group, e.g. "breach:2025-11-03:3f2a9c0d1e4b"
    kind: str = Field(index=True)  # "report" | "breach" | "ops"
    channel: str  # "email" | "webhook"
    target: str  # "" for email; the configured webhook's name
    day: date = Field(index=True)
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    sender: str
    recipients_json: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of addresses
    subject: str = Field(sa_column=Column(Text, nullable=False))
    message_id: str  # the RFC 5322 Message-ID, "<...@...>"; the webhook's delivery id
    content_type: str  # "message/rfc822" | "application/json"
    body: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    body_sha256: str
    # JSON list of {"filename", "content_type", "size", "sha256"}, one per attachment.
    attachments_json: str = Field(sa_column=Column(Text, nullable=False))


class OutboxItem(SQLModel, table=True):
    __tablename__ = "outbox_item"
    __table_args__ = (
        UniqueConstraint(
            "outbox_message_id", "check", "scope", "severity", "state", name="uq_outbox_item_event"
        ),
        Index("ix_outbox_item_told", "channel", "check", "scope", "severity", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    outbox_message_id: int = Field(foreign_key="outbox_message.id", index=True)
    channel: str  # "email", or "webhook:<name>"
    day: date = Field(index=True)
    check: str
    scope: str
    severity: str  # "breach" | "warn": the level whose episode this is
    state: str  # "new" | "ongoing" | "resolved"
    result_id: int | None = Field(default=None, foreign_key="check_result.id")
    # 0014: the intraday result an intraday alert's item announces (None for daily items)
    intraday_result_id: int | None = Field(
        default=None, foreign_key="intraday_result.id", index=True
    )


class OutboxAttempt(SQLModel, table=True):
    __tablename__ = "outbox_attempt"
    __table_args__ = (
        UniqueConstraint("outbox_message_id", "attempt", "result", name="uq_outbox_attempt_step"),
    )

    id: int | None = Field(default=None, primary_key=True)
    outbox_message_id: int = Field(foreign_key="outbox_message.id", index=True)
    attempt: int  # 1, 2, ...
    result: str  # AttemptResult
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    transport: str  # "smtp" | "file" | "http"
    response_code: int | None = None  # SMTP reply code or HTTP status, when the server answered
    detail: str = Field(sa_column=Column(Text, nullable=False))  # one line, no secrets
    refused_json: str = Field(sa_column=Column(Text, nullable=False))  # {address: [code, text]}
    lease_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    retry_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


OUTBOX_TABLES: tuple[str, ...] = ("outbox_message", "outbox_item", "outbox_attempt")
"""The outbox's append-only tables, in the order they depend on each other."""


@dataclass(frozen=True)
class State:
    """A message's delivery state, derived from its attempt rows (never stored)."""

    state: MessageState
    attempts: int  # attempts started so far
    due_at: datetime | None  # when it may be tried next (pending: None = now)
    last: OutboxAttempt | None


def message_state(attempts: list[OutboxAttempt], now: datetime) -> State:
    """The state of a message from its attempt rows, in any order.

    The latest row decides: none -> pending; ``sending`` whose lease has run out -> due again (the
    sender died mid-attempt; the same Message-ID lets a receiver drop a duplicate); ``retry`` -> due
    at its ``retry_at``; ``delivered`` and ``failed`` are final, whatever comes after.
    """
    if not attempts:
        return State("pending", 0, None, None)
    rows = sorted(attempts, key=lambda a: a.id or 0)
    for row in rows:
        if row.result in ("delivered", "failed"):
            return State(row.result, row.attempt, None, row)  # type: ignore[arg-type]
    last = rows[-1]
    started = max(a.attempt for a in rows)
    if last.result == "sending":
        lease = as_utc(last.lease_until) if last.lease_until else as_utc(last.at)
        if lease > as_utc(now):
            return State("sending", started, lease, last)
        return State("retry", started, lease, last)
    due = as_utc(last.retry_at) if last.retry_at else as_utc(last.at)
    return State("retry", started, due, last)
