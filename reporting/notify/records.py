"""The notify stage's frozen records: a delivery's outcome, a drain's summary, a listed message."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from audit_store.canonical import utc_iso

Result = Literal["delivered", "retry", "failed"]
MAX_DETAIL = 500


def one_line(text: str, limit: int = MAX_DETAIL) -> str:
    """A server's or library's message as one printable line (for attempt rows and output)."""
    cleaned = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    line = " ".join(cleaned.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt came to."""

    result: Result
    detail: str
    code: int | None = None  # the SMTP reply code or HTTP status, when the server answered
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # address -> (code, reply)


@dataclass(frozen=True)
class DrainReport:
    """One drain: what was delivered, what was tried and waits for a retry, what was given up (by
    key); and every message still waiting once it ended (``waiting``: those tried now and those
    whose retry was not due yet), with the earliest time one is due again."""

    delivered: tuple[str, ...] = ()
    retrying: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    attempts: int = 0
    waiting: int = 0
    next_due: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "delivered": list(self.delivered),
            "retrying": list(self.retrying),
            "failed": list(self.failed),
            "attempts": self.attempts,
            "waiting": self.waiting,
            "next_due": None if self.next_due is None else self.next_due.isoformat(),
        }

    def summary(self) -> str:
        due = f" (next due {self.next_due:%Y-%m-%d %H:%M:%S} UTC)" if self.next_due else ""
        return (
            f"{len(self.delivered)} delivered, {self.waiting} waiting for a retry{due}, "
            f"{len(self.failed)} given up"
        )


@dataclass(frozen=True)
class AttemptRecord:
    attempt: int
    result: str  # sending | delivered | retry | failed
    at: datetime
    transport: str
    response_code: int | None
    detail: str
    refused: dict[str, Any]
    retry_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "result": self.result,
            "at": utc_iso(self.at),
            "transport": self.transport,
            "response_code": self.response_code,
            "detail": self.detail,
            "refused": self.refused,
            "retry_at": utc_iso(self.retry_at) if self.retry_at else None,
        }


@dataclass(frozen=True)
class ItemRecord:
    check: str
    scope: str
    severity: str
    state: str
    result_id: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "scope": self.scope,
            "severity": self.severity,
            "state": self.state,
            "result_id": self.result_id,
        }


@dataclass(frozen=True)
class OutboxEntry:
    """One message with its derived state: what was sent to whom, when."""

    id: int
    key: str
    kind: str
    channel: str
    target: str
    day: date
    created_at: datetime
    sender: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str
    body_sha256: str
    attachments: tuple[dict[str, Any], ...]
    state: str  # pending | sending | retry | delivered | failed
    delivered_at: datetime | None
    attempts: tuple[AttemptRecord, ...]
    items: tuple[ItemRecord, ...]

    @property
    def addressee(self) -> str:
        """Who it is for, in words: the recipients, or the webhook's name."""
        return f"webhook {self.target}" if self.channel == "webhook" else ", ".join(self.recipients)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "kind": self.kind,
            "channel": self.channel,
            "target": self.target,
            "day": self.day.isoformat(),
            "created_at": utc_iso(self.created_at),
            "sender": self.sender,
            "recipients": list(self.recipients),
            "subject": self.subject,
            "message_id": self.message_id,
            "body_sha256": self.body_sha256,
            "attachments": list(self.attachments),
            "state": self.state,
            "delivered_at": utc_iso(self.delivered_at) if self.delivered_at else None,
            "attempts": [a.to_json() for a in self.attempts],
            "items": [i.to_json() for i in self.items],
        }
