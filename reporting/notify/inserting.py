"""Adding a message to the outbox once: by its idempotency key, with its items, in a savepoint."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from audit_store.tables_outbox import OutboxItem, OutboxMessage


def has_key(session: Session, key: str) -> bool:
    found = session.execute(
        select(col(OutboxMessage.id)).where(col(OutboxMessage.idempotency_key) == key)
    ).first()
    return found is not None


def insert_with_items(
    session: Session, message: OutboxMessage, items: Sequence[OutboxItem]
) -> OutboxMessage | None:
    """Add ``message`` and ``items`` (their message id is set here) in a savepoint; ``None`` when
    the message's key or an item is taken."""
    if has_key(session, message.idempotency_key):
        return None
    try:
        with session.begin_nested():
            session.add(message)
            session.flush()
            assert message.id is not None
            for item in items:
                item.outbox_message_id = message.id
            session.add_all(items)
            session.flush()
    except IntegrityError:  # a concurrent run enqueued it first
        return None
    return message
