"""The signed checkpoint an email carries, and the record that it went out.

Each report and breach email carries the latest signed checkpoint of the log (``checkpoint.txt``):
the daily job signs one before it renders and enqueues, so it covers the email's figures. Each
message that carries one is recorded in ``checkpoint_publication`` in the same transaction that
enqueues it (:mod:`audit_store.tables_publication`): who holds which checkpoint.
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlmodel import Session

from audit_store.checkpoint import latest_checkpoint
from audit_store.tables_outbox import OutboxMessage
from audit_store.tables_publication import CheckpointPublication
from reporting.notify.messages import SignedCheckpoint


def signed_checkpoint(session: Session) -> SignedCheckpoint | None:
    """The latest signed checkpoint of the log, as an email carries it (``None`` before the
    first): the daily job signs one before it renders and enqueues, so it covers the figures."""
    latest = latest_checkpoint(session)
    if latest is None:
        return None
    assert latest.id is not None
    return SignedCheckpoint(latest.id, latest.note, latest.tree_size, latest.root_hash)


def published(
    session: Session, signed: SignedCheckpoint | None, added: OutboxMessage | None, now: datetime
) -> None:
    """Record that the message ``added`` carries the checkpoint ``signed`` (both may be absent:
    no checkpoint yet, or the message was enqueued before)."""
    if signed is None or added is None:
        return
    session.add(
        CheckpointPublication(
            checkpoint_id=signed.checkpoint_id,
            tree_size=signed.tree_size,
            channel="email",
            target=", ".join(json.loads(added.recipients_json)),
            reference=added.idempotency_key,
            at=now,
        )
    )
