"""The transactional outbox: enqueue in the caller's transaction, drain with retries and backoff.

Enqueueing (:func:`enqueue_breach_notices`, :func:`enqueue_daily_report`) takes the caller's
session, so a message is committed with the results that cause it or not at all. Each message has
an idempotency key ``kind:day:group``; a key already in the outbox is not enqueued again, and each
breach announcement is an ``outbox_item`` row unique per channel, day, check, scope, level and
lifecycle state, so running a day again sends nothing twice.

:func:`drain` delivers what is due: one attempt per message per pass, claimed first (an attempt
row ``sending`` with a lease, so two senders never send the same message), then recorded as
``delivered``, ``retry`` (next try after ``retry_base_seconds * 2**(attempt-1)``, at most
``retry_max_seconds``) or ``failed`` (a permanent refusal, or ``max_attempts`` used up; operations
are then told by email). It keeps retrying in-process for up to ``drain_wait_seconds``; what is
still waiting then is sent by the next drain (``liqrisk outbox drain`` or the next daily run).

Exactly once, and its limit: a message is sent again only when no ``delivered`` row was written for
it, i.e. the server's acceptance never reached us (the connection dropped after the data was sent,
or the process died). It then goes out with the same Message-ID (webhooks: the same
``X-Liqrisk-Delivery``), so a receiver can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from audit_store.canonical import as_utc, canonical_json
from audit_store.db import Store
from audit_store.snapshots import writer_lock
from audit_store.tables_outbox import OutboxAttempt, OutboxItem, OutboxMessage, message_state
from reporting.checks.catalogue import CHECK_TITLES
from reporting.config import Route, Settings
from reporting.errors import NotifyError
from reporting.notify.checkpoints import published, signed_checkpoint
from reporting.notify.inserting import has_key, insert_with_items
from reporting.notify.lifecycle import BreachEvent, breach_events, latest_results
from reporting.notify.messages import (
    Attachment,
    ResultLine,
    already_alerted,
    breach_email,
    message_id,
    report_email,
    undeliverable_email,
)
from reporting.notify.records import (
    DrainReport,
    Outcome,
    one_line,
)
from reporting.notify.smtp import EmlDirectory, MailTransport, SmtpTransport
from reporting.notify.webhook import (
    WEBHOOK,
    WebhookSender,
    breach_payload,
    webhook_delivery_id,
    webhook_row,
)

Clock = Callable[[], datetime]
EMAIL = "email"
OUTBOX_DIR = "outbox"
_STATUS_ORDER = {"breach": 0, "warn": 1, "error": 2}
_ENQUEUE_LOCK = 0x6C69716E6F7469  # PostgreSQL advisory lock: "liqnoti"


def utc_now() -> datetime:
    return datetime.now(UTC)


class RenderedReport(Protocol):
    """What the report email needs of :class:`reporting.render.ReportFiles`."""

    @property
    def pdf_path(self) -> Path: ...

    @property
    def pdf_sha256(self) -> str: ...


# --- enqueueing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemSpec:
    channel: str
    event: BreachEvent


def insert_message(
    session: Session, message: OutboxMessage, items: Sequence[_ItemSpec] = ()
) -> OutboxMessage | None:
    """Add ``message`` and its items in a savepoint; ``None`` when its key or an item is taken."""
    rows = [
        OutboxItem(
            outbox_message_id=0,
            channel=spec.channel,
            day=spec.event.day,
            check=spec.event.check,
            scope=spec.event.scope,
            severity=spec.event.severity,
            state=spec.event.state,
            result_id=spec.event.result_id,
        )
        for spec in items
    ]
    return insert_with_items(session, message, rows)


def email_row(
    *,
    key: str,
    kind: str,
    day: date,
    now: datetime,
    email: EmailMessage,
    sender: str,
    to: Sequence[str],
    attachments: Sequence[Attachment] = (),
) -> OutboxMessage:
    body = email.as_bytes()
    return OutboxMessage(
        idempotency_key=key,
        kind=kind,
        channel=EMAIL,
        target="",
        day=day,
        created_at=now,
        sender=sender,
        recipients_json=json.dumps(list(to)),
        subject=str(email["Subject"]),
        message_id=str(email["Message-ID"]),
        content_type="message/rfc822",
        body=body,
        body_sha256=hashlib.sha256(body).hexdigest(),
        attachments_json=json.dumps([a.record() for a in attachments]),
    )


def enqueue_daily_report(
    session: Session,
    settings: Settings,
    day: date,
    report: RenderedReport,
    *,
    clock: Clock = utc_now,
) -> OutboxMessage | None:
    """Enqueue the day's report email (PDF attached) to ``email.compliance``, once per day.

    Returns the new message, or ``None`` when there are no compliance recipients or it was
    enqueued before. Raises :class:`NotifyError` when the PDF is unreadable or is not the file that
    was rendered (its SHA-256 differs).
    """
    to = settings.email.compliance
    key = f"report:{day.isoformat()}:compliance"
    if not to or has_key(session, key):
        return None
    try:
        data = report.pdf_path.read_bytes()
    except OSError as exc:
        raise NotifyError(f"cannot read the report {report.pdf_path}: {exc.strerror}") from exc
    pdf = Attachment(report.pdf_path.name, "application/pdf", data)
    if pdf.sha256 != report.pdf_sha256:
        raise NotifyError(
            f"{report.pdf_path} changed after it was rendered (SHA-256 {pdf.sha256}, "
            f"rendered {report.pdf_sha256}); render the report again"
        )
    results = latest_results(session, day)
    run_id = next(iter(results.values())).run_id if results else None
    lines = [
        ResultLine(
            r.status, CHECK_TITLES.get(r.check, r.check), one_line(r.scope), one_line(r.message)
        )
        for r in sorted(
            results.values(), key=lambda r: (_STATUS_ORDER.get(r.status, 9), r.check, r.scope)
        )
        if r.status in _STATUS_ORDER
    ]
    now = clock()
    sender = settings.email.sender
    signed = signed_checkpoint(session)
    email = report_email(
        settings, day, lines, pdf, to, run_id=run_id, msg_id=message_id(key, sender), when=now,
        checkpoint=signed,
    )  # fmt: skip
    attached = (pdf, signed.attachment()) if signed else (pdf,)
    row = email_row(
        key=key, kind="report", day=day, now=now, email=email, sender=sender, to=to,
        attachments=attached,
    )  # fmt: skip
    added = insert_message(session, row)
    published(session, signed, added, now)
    return added


def recipients_for(routes: Iterable[Route], event: BreachEvent) -> tuple[str, ...]:
    """Everyone whose route matches the event's level and asset, sorted, each once.

    A warn-level event of a scope that is in breach today is inhibited (as Alertmanager's
    inhibition rules do) for whoever receives its breach-level event: that one speaks for both.
    """
    found = {a for r in routes if r.matches(event.severity, event.asset) for a in r.to}
    if event.severity == "warn" and event.status == "breach":
        found -= {a for r in routes if r.matches("breach", event.asset) for a in r.to}
    return tuple(sorted(found))


def _already_told(session: Session, channel: str, event: BreachEvent, interval: timedelta) -> bool:
    """Whether ``channel`` has this event already, or (ongoing) was told within ``interval``."""
    same = select(col(OutboxItem.id)).where(
        col(OutboxItem.channel) == channel,
        col(OutboxItem.check) == event.check,
        col(OutboxItem.scope) == event.scope,
        col(OutboxItem.severity) == event.severity,
    )
    if session.execute(
        same.where(col(OutboxItem.day) == event.day, col(OutboxItem.state) == event.state)
    ).first():
        return True
    if event.state != "ongoing":
        return False
    told = session.execute(
        select(col(OutboxItem.day))
        .where(
            col(OutboxItem.channel) == channel,
            col(OutboxItem.check) == event.check,
            col(OutboxItem.scope) == event.scope,
            col(OutboxItem.severity) == event.severity,
            col(OutboxItem.state).in_(("new", "ongoing")),
            col(OutboxItem.day) < event.day,
        )
        .order_by(col(OutboxItem.day).desc())
    ).first()
    return told is not None and event.day - told[0] < interval


def _group_digest(to: Sequence[str], events: Sequence[BreachEvent]) -> str:
    parts = [list(to), [[e.check, e.scope, e.severity, e.state] for e in events]]
    return hashlib.sha256(canonical_json(parts)).hexdigest()[:12]


def enqueue_breach_notices(
    session: Session, settings: Settings, day: date, *, clock: Clock = utc_now
) -> tuple[OutboxMessage, ...]:
    """Enqueue the breach group(s) of ``day``'s latest check run, in the caller's transaction.

    Every new and resolved breach, and every ongoing one not announced within the repeat interval,
    is announced: each recipient (``email.routes`` by level and asset) gets one email listing all
    of theirs, shared by the recipients whose lists are the same; each configured webhook whose
    levels match gets one POST. Returns the messages enqueued now.
    """
    routes = settings.email.breach_routes()
    hooks = settings.notify.webhooks
    levels = {s for r in routes for s in r.severity} | {
        s for h in hooks.values() for s in h.severity
    }
    if not levels:
        return ()
    # One enqueuer at a time, so two runs of a day cannot both announce (SQLite's BEGIN IMMEDIATE
    # serialises writers already).
    writer_lock(session, _ENQUEUE_LOCK)
    events = breach_events(session, day, levels)
    interval = settings.notify.repeat_interval
    now = clock()
    sender = settings.email.sender
    enqueued: list[OutboxMessage] = []
    signed = signed_checkpoint(session)
    alerted = already_alerted(session, settings, day, now)  # named as already alerted, not new

    # Each recipient gets one email per run with all their events; recipients with the same
    # events share it.
    per_person: dict[str, list[int]] = {}
    for n, event in enumerate(events):
        addressed = recipients_for(routes, event)
        if addressed and not _already_told(session, EMAIL, event, interval):
            for address in addressed:
                per_person.setdefault(address, []).append(n)
    shared: dict[tuple[int, ...], list[str]] = {}
    for address, indexes in sorted(per_person.items()):
        shared.setdefault(tuple(indexes), []).append(address)
    for numbers, people in sorted(shared.items(), key=lambda kv: kv[1]):
        to = tuple(people)
        group = [events[n] for n in numbers]
        key = f"breach:{day.isoformat()}:email.{_group_digest(to, group)}"
        msg_id = message_id(key, sender)
        email = breach_email(
            settings, day, group, to, msg_id=msg_id, when=now, checkpoint=signed, intraday=alerted
        )
        row = email_row(
            key=key, kind="breach", day=day, now=now, email=email, sender=sender, to=to,
            attachments=(signed.attachment(),) if signed else (),
        )  # fmt: skip
        added = insert_message(session, row, [_ItemSpec(EMAIL, e) for e in group])
        published(session, signed, added, now)
        if added is not None:
            enqueued.append(added)

    for name, hook in sorted(hooks.items()):
        channel = f"{WEBHOOK}:{name}"
        group = [
            e
            for e in events
            if e.severity in hook.severity
            and not (e.severity == "warn" and e.status == "breach" and "breach" in hook.severity)
            and not _already_told(session, channel, e, interval)
        ]
        if not group:
            continue
        key = f"breach:{day.isoformat()}:webhook.{name}.{_group_digest((name,), group)}"
        delivery_id = webhook_delivery_id(key)
        body = breach_payload(settings, day, group, delivery_id=delivery_id)
        subject = f"breach group {day.isoformat()}: {len(group)} event(s)"
        row = webhook_row(key=key, kind="breach", target=name, day=day, now=now,
                          subject=subject, body=body)  # fmt: skip
        added = insert_message(session, row, [_ItemSpec(channel, e) for e in group])
        if added is not None:
            enqueued.append(added)
    return tuple(enqueued)


def _enqueue_undeliverable(
    session: Session,
    settings: Settings,
    failed: OutboxMessage,
    attempts: int,
    outcome: Outcome,
    detail: str,
    now: datetime,
) -> None:
    """Tell ``email.operations`` that ``failed`` was given up (never about such a notice itself)."""
    to = settings.email.operations
    if failed.kind == "ops" or not to:
        return
    key = f"ops:{failed.day.isoformat()}:undeliverable.{failed.id}"
    sender = settings.email.sender
    email = undeliverable_email(
        settings,
        failed_key=failed.idempotency_key,
        failed_subject=failed.subject,
        failed_recipients=json.loads(failed.recipients_json),
        target=f"webhook {failed.target}" if failed.channel == WEBHOOK else "",
        attempts=attempts,
        code=outcome.code,
        detail=detail,
        to=to,
        msg_id=message_id(key, sender),
        when=now,
    )
    row = email_row(key=key, kind="ops", day=failed.day, now=now, email=email, sender=sender, to=to)
    insert_message(session, row)


# --- draining ------------------------------------------------------------------------------------


def default_mail_transport(settings: Settings) -> MailTransport:
    """SMTP when a host is configured, else ``.eml`` files in ``<reports_dir>/outbox/``."""
    if settings.smtp.host:
        return SmtpTransport(settings.smtp)
    return EmlDirectory(settings.reports_dir / OUTBOX_DIR)


def backoff(settings: Settings, attempt: int) -> timedelta:
    n = settings.notify
    return timedelta(seconds=min(n.retry_base_seconds * 2 ** (attempt - 1), n.retry_max_seconds))


UNSETTLED = ~exists().where(
    col(OutboxAttempt.outbox_message_id) == col(OutboxMessage.id),
    col(OutboxAttempt.result).in_(("delivered", "failed")),
)
"""Where-clause of an outbox message still open: neither delivered nor given up."""


@dataclass(frozen=True)
class OpenMessage:
    """A message still open, with the state its attempts give it now."""

    id: int
    channel: str
    state: str
    due_at: datetime | None  # None: now
    created_at: datetime


def open_messages(session: Session, now: datetime) -> list[OpenMessage]:
    """Every message neither delivered nor failed, oldest first, with its derived state."""
    messages = {
        mid: (channel, created)
        for mid, channel, created in session.execute(
            select(col(OutboxMessage.id), col(OutboxMessage.channel), col(OutboxMessage.created_at))
            .where(UNSETTLED)
            .order_by(col(OutboxMessage.id))
        )
        if mid is not None
    }
    if not messages:
        return []
    ids = list(messages)
    rows = session.execute(
        select(OutboxAttempt).where(col(OutboxAttempt.outbox_message_id).in_(ids))
    ).scalars()
    by_message: dict[int, list[OutboxAttempt]] = {i: [] for i in ids}
    for row in rows:
        by_message[row.outbox_message_id].append(row)
    out = []
    for mid, attempts in by_message.items():  # before the read session expires the rows
        state = message_state(attempts, now)
        channel, created = messages[mid]
        out.append(OpenMessage(mid, channel, state.state, state.due_at, as_utc(created)))
    return out


def _open_messages(store: Store, now: datetime) -> list[OpenMessage]:
    with store.read_session() as session:
        return open_messages(session, now)


def _claim(
    store: Store, settings: Settings, message_pk: int, transport: str, now: datetime
) -> tuple[OutboxMessage, int] | None:
    """Start an attempt on a due message: the message and attempt number, or None (not due)."""
    with store.session() as session:
        message = session.get(OutboxMessage, message_pk)
        if message is None:
            return None
        attempts = list(
            session.execute(
                select(OutboxAttempt).where(col(OutboxAttempt.outbox_message_id) == message_pk)
            ).scalars()
        )
        state = message_state(attempts, now)
        if state.state in ("delivered", "failed", "sending"):
            return None
        if state.due_at is not None and state.due_at > as_utc(now):
            return None
        number = state.attempts + 1
        claim = OutboxAttempt(
            outbox_message_id=message_pk,
            attempt=number,
            result="sending",
            at=now,
            transport=transport,
            detail="",
            refused_json="{}",
            lease_until=now + timedelta(seconds=settings.notify.lease_seconds),
        )
        try:
            with session.begin_nested():
                session.add(claim)
                session.flush()
        except IntegrityError:  # another sender claimed it first
            return None
    return message, number


def _record(
    store: Store,
    settings: Settings,
    message: OutboxMessage,
    number: int,
    transport: str,
    outcome: Outcome,
    now: datetime,
) -> str:
    result: str = outcome.result
    detail = outcome.detail
    retry_at = None
    if result == "retry":
        if number >= settings.notify.max_attempts:
            result, detail = "failed", f"gave up after {number} attempts: {detail}"
        else:
            retry_at = now + backoff(settings, number)
    assert message.id is not None
    with store.session() as session:
        session.add(
            OutboxAttempt(
                outbox_message_id=message.id,
                attempt=number,
                result=result,
                at=now,
                transport=transport,
                response_code=outcome.code,
                detail=one_line(detail),
                refused_json=json.dumps({a: list(v) for a, v in outcome.refused.items()}),
                retry_at=retry_at,
            )
        )
        if result == "failed":
            _enqueue_undeliverable(session, settings, message, number, outcome, detail, now)
    return result


def drain(
    store: Store,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    sleep: Callable[[float], None] = time.sleep,
    wait_seconds: float | None = None,
    mail: MailTransport | None = None,
    http_transport: httpx.BaseTransport | None = None,
    env: Mapping[str, str] | None = None,
) -> DrainReport:
    """Deliver every due message; keep retrying for up to ``wait_seconds`` (default: config).

    ``mail`` defaults to :func:`default_mail_transport`; ``env`` (default ``os.environ``) is where
    webhook keys are read. Never raises for a delivery problem: see the returned report.
    """
    wait = settings.notify.drain_wait_seconds if wait_seconds is None else wait_seconds
    deadline = as_utc(clock()) + timedelta(seconds=wait)
    mailer = mail if mail is not None else default_mail_transport(settings)
    hooks = WebhookSender(
        settings.notify.webhooks,
        env=os.environ if env is None else env,
        clock=clock,
        transport=http_transport,
    )
    results: dict[str, str] = {}
    attempts = 0
    try:
        while True:
            now = as_utc(clock())
            pending = _open_messages(store, now)
            due = [m for m in pending if m.state != "sending" and (m.due_at or now) <= now]
            made = 0
            for item in due:
                sender: MailTransport | WebhookSender = hooks if item.channel == WEBHOOK else mailer
                claimed = _claim(store, settings, item.id, sender.name, as_utc(clock()))
                if claimed is None:
                    continue
                message, number = claimed
                try:
                    outcome = sender.send(message)
                except Exception as exc:  # a bug in a transport must not strand the claim
                    outcome = Outcome("retry", f"internal error: {type(exc).__name__}: {exc}")
                when = as_utc(clock())
                results[message.idempotency_key] = _record(
                    store, settings, message, number, sender.name, outcome, when
                )
                attempts += 1
                made += 1
            mailer.close()
            hooks.close()
            if made:
                continue
            # Another sender's live claim is not waited for; a retry within the deadline is.
            waiting = [
                m.due_at for m in pending if m.state == "retry" and m.due_at and m.due_at > now
            ]
            if not waiting or min(waiting) > deadline:
                break
            sleep(max(0.0, (min(waiting) - now).total_seconds()))
    finally:
        mailer.close()
        hooks.close()
    now = as_utc(clock())
    left = _open_messages(store, now)
    dues = [as_utc(m.due_at) for m in left if m.due_at is not None and as_utc(m.due_at) > now]
    return DrainReport(
        delivered=tuple(k for k, r in results.items() if r == "delivered"),
        retrying=tuple(k for k, r in results.items() if r == "retry"),
        failed=tuple(k for k, r in results.items() if r == "failed"),
        attempts=attempts,
        waiting=len(left),
        next_due=min(dues, default=None),
    )
