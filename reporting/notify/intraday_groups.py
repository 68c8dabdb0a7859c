"""Intraday alerts grouped per route: the first goes at once, the ones right after it together.

A *channel* is one email route (``email.routes``, or the default route of ``risk`` and
``compliance``) or one webhook (``notify.webhooks``). A stored intraday result is *for* a channel
when the channel's levels include its episode's level (``warn`` or ``breach``; a resolved row
goes where its episode's crossing went) and, for a route with ``assets``, its asset. A result is
*announced* on a channel when an outbox item of that channel names it (``outbox_item.
intraday_result_id``, migration 0014); until then it is *held*.

:func:`announce` enqueues, per channel, one message carrying every held result, unless the
channel's last intraday message was enqueued less than ``notify.intraday_group_seconds`` ago: then
they wait, and the next call after that time (the collector's ticker, once a second) sends them
as one. So a crossing with nothing before it goes out at once, and a cascade of crossings on one
route is one message every group window, not one per crossing.

Exactly once: what is held is read from the store, never from memory, so a result stored by a
process killed before announcing it is announced by the next one (a collector's start, its
ticker, ``liqrisk outbox drain``), and the message and its items are one transaction, with a
key derived from the result ids: two processes cannot both announce a result (on PostgreSQL an
advisory lock serialises them; SQLite serialises writers). Results are looked for over the last
:data:`HORIZON`; older unannounced ones (the route was added later) are left alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session, col

from audit_store.canonical import as_utc, canonical_json
from audit_store.snapshots import writer_lock
from audit_store.tables_intraday import STREAMS_FEED, IntradayResult
from audit_store.tables_outbox import OutboxItem, OutboxMessage
from reporting.checks.intraday import OPEN_KINDS, Decision, Scope, top_instruments
from reporting.checks.intraday_hourly import stored_top
from reporting.config import Settings
from reporting.fetch.streams.venues import EXCHANGE_CODES
from reporting.notify.checkpoints import published, signed_checkpoint
from reporting.notify.inserting import insert_with_items
from reporting.notify.intraday_text import group_text, webhook_body
from reporting.notify.messages import SignedCheckpoint, build_email, message_id
from reporting.notify.outbox import EMAIL, email_row
from reporting.notify.webhook import WEBHOOK, webhook_delivery_id, webhook_row

KIND = "intraday"
HORIZON = timedelta(hours=24)
_ANNOUNCE_LOCK = 0x6C6971616C7274  # PostgreSQL advisory lock: "liqalrt"


@dataclass(frozen=True)
class Channel:
    """Where intraday alerts go: an email route or a webhook."""

    name: str  # "email:<digest of the route>" or "webhook:<name>", as its outbox items say
    severity: tuple[str, ...]
    assets: tuple[str, ...] = ()
    to: tuple[str, ...] = ()  # an email route's recipients
    webhook: str = ""  # a webhook's configured name

    def wants(self, level: str, asset: str) -> bool:
        return level in self.severity and (not self.assets or asset.upper() in self.assets)


def channels(settings: Settings) -> list[Channel]:
    found: list[Channel] = []
    for route in settings.email.breach_routes():
        shape = [sorted(route.to), sorted(route.severity), sorted(route.assets)]
        digest = hashlib.sha256(canonical_json(shape)).hexdigest()[:12]
        found.append(
            Channel(f"{EMAIL}:{digest}", tuple(route.severity), tuple(route.assets), route.to)
        )
    for name, hook in sorted(settings.notify.webhooks.items()):
        found.append(Channel(f"{WEBHOOK}:{name}", tuple(hook.severity), webhook=name))
    return found


def scope_of(result: IntradayResult) -> Scope:
    asset, _, exchange = result.scope.partition("/")
    return Scope(asset, None, exchange or None)


def episode_level(session: Session, result: IntradayResult) -> str:
    """The level of the episode ``result`` belongs to: its own status, or for a resolved row the
    status of the row before it."""
    if result.kind != "resolved":
        return result.status
    before = session.execute(
        select(col(IntradayResult.status))
        .where(
            col(IntradayResult.episode) == result.episode,
            col(IntradayResult.id) < (result.id or 0),
            col(IntradayResult.kind).in_(OPEN_KINDS),
        )
        .order_by(col(IntradayResult.id).desc())
        .limit(1)
    ).scalar()
    return str(before or "breach")


def decision_of(session: Session, result: IntradayResult, level: str) -> Decision:
    """The stored result as its message needs it (the venues behind it read again, from the same
    stored events the evaluation read)."""
    top: tuple[tuple[str, str, float, int], ...] = ()
    if result.feed != STREAMS_FEED:
        top = stored_top(session, result)  # the exchanges behind it, from the hours it read
    elif result.kind != "resolved":
        scope = scope_of(result)
        if scope.exchange:  # the venue's events only: find its venue name
            scope = Scope(scope.asset, _venue_of(scope.exchange), scope.exchange)
        top = top_instruments(
            session, scope, as_utc(result.window_start), as_utc(result.window_end)
        )
    crossed = result.limit if result.status == "breach" else result.warn_at
    return Decision(result, top, crossed, level)


def _venue_of(exchange: str) -> str:
    """The stream venue whose exchange code is ``exchange`` (``binc`` -> ``binance``)."""
    return next((v for v, code in EXCHANGE_CODES.items() if code == exchange), exchange)


def _recent(session: Session, now: datetime) -> list[IntradayResult]:
    query = (
        select(IntradayResult)
        .where(col(IntradayResult.kind) != "error", col(IntradayResult.created_at) >= now - HORIZON)
        .order_by(col(IntradayResult.id))
    )
    return list(session.execute(query).scalars())


def _announced(session: Session, ids: Sequence[int]) -> set[tuple[str, int]]:
    query = select(col(OutboxItem.channel), col(OutboxItem.intraday_result_id)).where(
        col(OutboxItem.intraday_result_id).in_(ids)
    )
    return {(str(c), int(i)) for c, i in session.execute(query) if i is not None}


def _legacy_key(result: IntradayResult) -> str:
    """The key one alert per result had before groups (0013): such a result was announced."""
    key = f"{KIND}:{result.episode}:{result.kind}"
    return key + f":{result.window_end.isoformat()}" if result.kind == "repeat" else key


def _announced_before_groups(session: Session, results: Sequence[IntradayResult]) -> set[int]:
    """The ids of ``results`` announced by a message of 0013's one-per-result keys (one query)."""
    keys = {_legacy_key(r): r.id for r in results if r.id is not None}
    query = select(col(OutboxMessage.idempotency_key)).where(
        col(OutboxMessage.idempotency_key).in_(sorted(keys))
    )
    return {int(keys[k] or 0) for k in session.execute(query).scalars() if k in keys}


def _last_sent(session: Session, channel: str) -> datetime | None:
    query = (
        select(func.max(col(OutboxMessage.created_at)))
        .join(OutboxItem, col(OutboxItem.outbox_message_id) == col(OutboxMessage.id))
        .where(col(OutboxItem.channel) == channel, col(OutboxMessage.kind) == KIND)
    )
    found = session.execute(query).scalar()
    return as_utc(found) if found is not None else None


@dataclass(frozen=True)
class Announced:
    """What one call did: messages enqueued now, and results still held for a later one."""

    enqueued: int
    held: int


def announce(session: Session, settings: Settings, now: datetime) -> Announced:
    """Enqueue, per channel, one message with its held results, or leave them held while the
    channel's group window runs; in the caller's transaction."""
    targets = channels(settings)
    if not targets:
        return Announced(0, 0)
    writer_lock(session, _ANNOUNCE_LOCK)
    recent = _recent(session, now)
    if not recent:
        return Announced(0, 0)
    told = _announced(session, [r.id for r in recent if r.id is not None])
    # Only what some channel has not been told of yet is looked at further.
    recent = [r for r in recent if any((c.name, r.id) not in told for c in targets)]
    if not recent:
        return Announced(0, 0)
    legacy = _announced_before_groups(session, recent)
    levels = {r.id: episode_level(session, r) for r in recent if r.id not in legacy}
    wait = timedelta(seconds=settings.notify.intraday_group_seconds)
    enqueued = held = 0
    signed: SignedCheckpoint | None = None
    for channel in targets:
        mine = [
            r
            for r in recent
            if r.id not in legacy
            and (channel.name, r.id) not in told
            and channel.wants(levels[r.id], r.scope.partition("/")[0])
        ]
        if not mine:
            continue
        last = _last_sent(session, channel.name)
        if last is not None and now - last < wait:
            held += len(mine)
            continue
        group, later = _one_each(mine)
        held += len(later)
        if signed is None:
            signed = signed_checkpoint(session)
        decisions = [decision_of(session, r, str(levels[r.id])) for r in group]
        enqueued += _enqueue(session, settings, channel, decisions, signed, now)
    return Announced(enqueued, held)


def _one_each(results: list[IntradayResult]) -> tuple[list[IntradayResult], list[IntradayResult]]:
    """The results one message can carry (one per limit, scope, level and kind, as an outbox
    item's uniqueness asks), and the rest, left for the next message."""
    seen: set[tuple[str, str, str, str]] = set()
    group: list[IntradayResult] = []
    later: list[IntradayResult] = []
    for r in results:
        key = (r.limit_name, r.scope, r.status, r.kind)
        (later if key in seen else group).append(r)
        seen.add(key)
    return group, later


def _items(channel: Channel, decisions: Sequence[Decision]) -> list[OutboxItem]:
    return [
        OutboxItem(
            outbox_message_id=0,
            channel=channel.name,
            day=d.result.window_end.date(),
            check=d.result.limit_name,
            scope=d.result.scope,
            severity=d.result.status,
            state=d.result.kind,
            intraday_result_id=d.result.id,
        )
        for d in decisions
    ]


def group_key(channel: Channel, decisions: Sequence[Decision]) -> str:
    ids = [d.result.id for d in decisions]
    digest = hashlib.sha256(json.dumps(ids).encode()).hexdigest()[:16]
    return f"{KIND}:{channel.name}:{ids[0]}-{ids[-1]}:{digest}"


def _enqueue(
    session: Session,
    settings: Settings,
    channel: Channel,
    decisions: Sequence[Decision],
    signed: SignedCheckpoint | None,
    now: datetime,
) -> int:
    key = group_key(channel, decisions)
    day = decisions[0].result.window_end.date()
    links = [alert_link(settings, d.result.id) for d in decisions]
    if channel.webhook:
        delivery_id = webhook_delivery_id(key)
        body = webhook_body(settings, decisions, signed, delivery_id=delivery_id, links=links)
        subject = f"intraday alerts: {len(decisions)}"
        row = webhook_row(key=key, kind=KIND, target=channel.webhook, day=day, now=now,
                          subject=subject, body=body)  # fmt: skip
        return 1 if insert_with_items(session, row, _items(channel, decisions)) else 0
    sender = settings.email.sender
    subject, body_text = group_text(
        settings,
        decisions,
        signed,
        group_seconds=settings.notify.intraday_group_seconds,
        links=links,
    )
    attachments = (signed.attachment(),) if signed else ()
    email = build_email(
        sender=sender,
        to=channel.to,
        subject=subject,
        text=body_text,
        html=None,
        msg_id=message_id(key, sender),
        when=now,
        attachments=attachments,
    )
    row = email_row(
        key=key,
        kind=KIND,
        day=day,
        now=now,
        email=email,
        sender=sender,
        to=channel.to,
        attachments=attachments,
    )
    added = insert_with_items(session, row, _items(channel, decisions))
    published(session, signed, added, now)
    return 1 if added is not None else 0


def alert_link(settings: Settings, result_id: int | None) -> str | None:
    """The console's page of an alert, where the console's public address is configured."""
    base = settings.web.base_url
    if not base or result_id is None:
        return None
    return f"{base}/alerts/{result_id}"
