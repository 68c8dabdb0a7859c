"""Webhooks: a run's breach group POSTed as JSON, signed with HMAC-SHA256, through the outbox.

The body is fixed when the message is enqueued (canonical JSON, stored byte for byte); the signature
is made when it is sent, from the key in the environment variable the webhook's ``secret_env``
names, over ``<timestamp>.<body>``::

    X-Liqrisk-Timestamp: 1762214400
    X-Liqrisk-Signature: sha256=<hex HMAC-SHA256(key, b"1762214400." + body)>
    X-Liqrisk-Delivery:  <the message's id; the same on every retry, for de-duplication>

A receiver recomputes the HMAC (:func:`verify_signature` does), compares in constant time and
refuses old timestamps. ``2xx`` is delivered; ``408``, ``425``, ``429``, ``5xx`` and network errors
are retried; any other status fails the message for good. URLs and keys are never stored, logged or
put in a message: attempts name the webhook by its configured name.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import httpx

from audit_store.canonical import canonical_json
from audit_store.tables_outbox import OutboxMessage
from reporting.checks.catalogue import CHECK_TITLES
from reporting.config import Settings, Webhook
from reporting.fetch.sources.http import USER_AGENT
from reporting.notify.lifecycle import BreachEvent
from reporting.notify.records import Outcome, one_line

SIGNATURE_HEADER = "X-Liqrisk-Signature"
TIMESTAMP_HEADER = "X-Liqrisk-Timestamp"
DELIVERY_HEADER = "X-Liqrisk-Delivery"
EVENT_HEADER = "X-Liqrisk-Event"
PAYLOAD_TYPE = "liqrisk.breach_group.v1"
WEBHOOK = "webhook"  # the outbox channel
RETRY_STATUSES = frozenset({408, 425, 429})


def breach_payload(
    settings: Settings, day: date, events: Sequence[BreachEvent], *, delivery_id: str
) -> bytes:
    """The JSON body for a breach group (canonical: sorted keys, UTF-8)."""
    return canonical_json(
        {
            "type": PAYLOAD_TYPE,
            "firm": settings.firm_name,
            "day": day.isoformat(),
            "delivery_id": delivery_id,
            "events": [
                {
                    "state": e.state,
                    "severity": e.severity,
                    "check": e.check,
                    "title": CHECK_TITLES.get(e.check, e.check),
                    "scope": e.scope,
                    "asset": e.asset,
                    "exchange": e.exchange,
                    "status": e.status,
                    "previous_status": e.previous_status,
                    "observed": e.observed,
                    "warn_at": e.warn_at,
                    "limit": e.limit,
                    "pct_of_limit": e.pct_of_limit,
                    "message": e.message,
                    "result_id": e.result_id,
                }
                for e in events
            ],
        }
    )


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC of ``timestamp.body``."""
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: datetime | None = None,
    tolerance_seconds: int = 300,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    moment = (now or datetime.now(UTC)).timestamp()
    if abs(moment - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSender:
    """POSTs stored webhook messages to their configured URLs."""

    name = "http"

    def __init__(
        self,
        webhooks: Mapping[str, Webhook],
        *,
        env: Mapping[str, str],
        clock: Callable[[], datetime],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.webhooks = webhooks
        self.env = env
        self.clock = clock
        self.transport = transport
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(transport=self.transport, follow_redirects=False)
        return self._client

    def send(self, message: OutboxMessage) -> Outcome:
        name = message.target
        hook = self.webhooks.get(name)
        if hook is None:
            return Outcome("failed", f"webhook {name!r} is no longer configured")
        secret = self.env.get(hook.secret_env)
        if not secret:
            return Outcome("retry", f"webhook {name}: ${hook.secret_env} (its HMAC key) is not set")
        timestamp = str(int(self.clock().timestamp()))
        headers: dict[str, Any] = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: PAYLOAD_TYPE,
            DELIVERY_HEADER: message.message_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(secret.encode("utf-8"), timestamp, message.body),
        }
        try:
            response = self._http().post(
                hook.url, content=message.body, headers=headers, timeout=hook.timeout_seconds
            )
        except httpx.HTTPError as exc:
            reason = re.sub(r"\S*://\S*", "<url>", one_line(str(exc)).replace(hook.url, "<url>"))
            return Outcome("retry", f"webhook {name}: {type(exc).__name__}: {reason}")
        status = response.status_code
        if 200 <= status < 300:
            return Outcome("delivered", f"webhook {name} answered {status}", status)
        transient = status in RETRY_STATUSES or status >= 500
        return Outcome(
            "retry" if transient else "failed", f"webhook {name} answered {status}", status
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def webhook_delivery_id(key: str) -> str:
    """The delivery id a webhook's receiver de-duplicates by: derived from the message's key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def webhook_row(
    *, key: str, kind: str, target: str, day: date, now: datetime, subject: str, body: bytes
) -> OutboxMessage:
    """An outbox message POSTing ``body`` (JSON) to the webhook named ``target``."""
    return OutboxMessage(
        idempotency_key=key,
        kind=kind,
        channel=WEBHOOK,
        target=target,
        day=day,
        created_at=now,
        sender="",
        recipients_json="[]",
        subject=subject,
        message_id=webhook_delivery_id(key),
        content_type="application/json",
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        attachments_json="[]",
    )
