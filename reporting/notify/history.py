"""What was sent to whom, when: the outbox read back, with each message's state derived."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_outbox import OutboxAttempt, OutboxItem, OutboxMessage, message_state
from reporting.errors import NotFound
from reporting.notify.records import AttemptRecord, ItemRecord, OutboxEntry


def _entry(
    message: OutboxMessage,
    attempts: list[OutboxAttempt],
    items: list[OutboxItem],
    now: datetime,
) -> OutboxEntry:
    assert message.id is not None
    state = message_state(attempts, now)
    delivered = next((a for a in attempts if a.result == "delivered"), None)
    return OutboxEntry(
        id=message.id,
        key=message.idempotency_key,
        kind=message.kind,
        channel=message.channel,
        target=message.target,
        day=message.day,
        created_at=as_utc(message.created_at),
        sender=message.sender,
        recipients=tuple(json.loads(message.recipients_json)),
        subject=message.subject,
        message_id=message.message_id,
        body_sha256=message.body_sha256,
        attachments=tuple(json.loads(message.attachments_json)),
        state=state.state,
        delivered_at=as_utc(delivered.at) if delivered else None,
        attempts=tuple(
            AttemptRecord(
                attempt=a.attempt,
                result=a.result,
                at=as_utc(a.at),
                transport=a.transport,
                response_code=a.response_code,
                detail=a.detail,
                refused=json.loads(a.refused_json),
                retry_at=as_utc(a.retry_at) if a.retry_at else None,
            )
            for a in attempts
        ),
        items=tuple(ItemRecord(i.check, i.scope, i.severity, i.state, i.result_id) for i in items),
    )


def _entries(session: Session, messages: list[OutboxMessage], now: datetime) -> list[OutboxEntry]:
    ids = [m.id for m in messages]
    attempts: dict[int | None, list[OutboxAttempt]] = {i: [] for i in ids}
    items: dict[int | None, list[OutboxItem]] = {i: [] for i in ids}
    if ids:
        for a in session.execute(
            select(OutboxAttempt)
            .where(col(OutboxAttempt.outbox_message_id).in_(ids))
            .order_by(col(OutboxAttempt.id))
        ).scalars():
            attempts[a.outbox_message_id].append(a)
        for i in session.execute(
            select(OutboxItem)
            .where(col(OutboxItem.outbox_message_id).in_(ids))
            .order_by(col(OutboxItem.id))
        ).scalars():
            items[i.outbox_message_id].append(i)
    return [_entry(m, attempts[m.id], items[m.id], now) for m in messages]


def list_outbox(
    store: Store,
    *,
    day: date | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[OutboxEntry, ...]:
    """Every message (of ``day``, when given) in the order enqueued, with its attempts."""
    query = select(OutboxMessage).options(defer(OutboxMessage.body))  # type: ignore[arg-type]
    if day is not None:
        query = query.where(col(OutboxMessage.day) == day)
    with store.read_session() as session:
        messages = list(session.execute(query.order_by(col(OutboxMessage.id))).scalars())
        return tuple(_entries(session, messages, as_utc(clock())))


def find_message(
    store: Store, ref: str, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> tuple[OutboxEntry, bytes]:
    """One message by idempotency key, Message-ID or id, with its stored bytes."""
    conditions = [
        col(OutboxMessage.idempotency_key) == ref,
        col(OutboxMessage.message_id) == ref,
    ]
    if ref.isdigit():
        conditions.append(col(OutboxMessage.id) == int(ref))
    with store.read_session() as session:
        message = (
            session.execute(
                select(OutboxMessage).where(or_(*conditions)).order_by(col(OutboxMessage.id))
            )
            .scalars()
            .first()
        )
        if message is None:
            raise NotFound(f"no message {ref!r} in the outbox (see `liqrisk outbox list`)")
        (entry,) = _entries(session, [message], as_utc(clock()))
        return entry, message.body
