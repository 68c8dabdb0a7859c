"""The intraday alerts of a period as stored: each episode's rows, who was told when, and who
acknowledged it; read by the daily report's "Intraday alerts" part and the daily breach email.

An *episode* (:mod:`audit_store.tables_intraday`) is one limit and scope from its first crossing
(``new``) through an ``escalated`` row and ``repeat`` rows to its ``resolved`` row. An episode
belongs to the period when one of its rows does (:func:`.intraday_acks.row_day`: the day of the
last minute its window sums); it is read with its rows from its start up to the end of the period,
so its first crossing may lie on the day before, and a resolution after the period is not seen.

"Who was told" is the outbox: every message of kind ``intraday`` that carries outbox items naming
the episode's rows (``outbox_item.intraday_result_id``, migration 0014), or, for a message without
such items, whose idempotency key names the episode (``intraday:<episode>:<kind>``), each with
its delivery state as its attempt rows give it at ``as_of``.

:class:`AlertBounds` bounds every read by id (and ``tree_size`` the rows by their batch's leaf),
so a report re-rendered later reads what it read (``liqrisk reproduce``); ``None`` reads all.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.models import Snapshot
from audit_store.tables_intraday import IntradayAcknowledgement, IntradayResult
from audit_store.tables_outbox import OutboxAttempt, OutboxItem, OutboxMessage, message_state
from reporting.checks.intraday_acks import alert_acknowledgements, row_day

KIND = "intraday"  # the outbox kind of intraday alerts (reporting.notify.intraday.KIND)


@dataclass(frozen=True)
class AlertBounds:
    """The newest rows a read takes (0: none): intraday acknowledgements, outbox messages and
    outbox attempts."""

    ack_id: int = 0
    message_id: int = 0
    attempt_id: int = 0

    def to_json(self) -> dict[str, int]:
        return {"ack_id": self.ack_id, "message_id": self.message_id, "attempt_id": self.attempt_id}


EVENTS = {  # what an intraday row announces, in words
    "new": "crossed",
    "escalated": "escalated",
    "repeat": "still over",
    "resolved": "resolved",
}


@dataclass(frozen=True)
class AlertRow:
    """One stored row of an episode, with its evidence."""

    result_id: int
    kind: str  # new | escalated | repeat | resolved
    status: str  # warn | breach | ok
    observed: float
    at: datetime  # when the batch that decided it was evaluated (UTC)
    window_start: datetime  # exchange time, inclusive
    window_end: datetime  # exchange time, exclusive
    batch_leaf: int  # the leaf of the batch evaluated
    window_leaves: tuple[int, ...]  # the leaves whose minute sums make the window
    limit_set_sha256: str

    @property
    def event(self) -> str:
        return EVENTS.get(self.kind, self.kind)

    @property
    def leaves_text(self) -> str:
        """The window's leaves: ``0\u20138 (9)`` when they run on without a gap, else listed (the
        first six, then how many more)."""
        leaves = self.window_leaves
        if not leaves:
            return "none"
        if len(leaves) > 2 and leaves[-1] - leaves[0] == len(leaves) - 1:
            return f"{leaves[0]}\u2013{leaves[-1]} ({len(leaves)})"
        shown = ", ".join(str(n) for n in leaves[:6])
        return shown + (f" and {len(leaves) - 6} more" if len(leaves) > 6 else "")


@dataclass(frozen=True)
class Notice:
    """One message that announced an episode: on which channel, to whom, and its delivery."""

    message_id: int
    events: tuple[str, ...]  # what it announced: "crossed", "escalated", ...
    channel: str  # "email" | "webhook"
    to: tuple[str, ...]  # the addresses; a webhook's configured name
    state: str  # delivered | failed | pending | retry | sending
    at: datetime | None  # delivered or failed at; None while it waits
    attempts: int


@dataclass(frozen=True)
class AlertAck:
    ack_id: int
    by: str
    at: datetime
    comment: str
    result_id: int  # the row it was given through


@dataclass(frozen=True)
class IntradayAlert:
    """One episode as stored: its rows up to the end of the period read, its messages and its
    acknowledgements."""

    number: int  # 1, 2, ... in the order the episodes began: how a report refers to it (A1)
    episode: str
    limit_name: str
    measure: str  # "usd" | "count"
    window_minutes: int
    scope: str  # "BTC/binc" or "BTC"
    feed: str  # what it measured: "streams", or an hourly source's name ("kaiko")
    source: str  # where its levels came from: "asset_exchange BTC/binc", "global", ...
    warn_at: float
    limit: float
    status: str  # the episode's highest level: breach or warn
    rows: tuple[AlertRow, ...]
    notices: tuple[Notice, ...]
    acks: tuple[AlertAck, ...]

    @property
    def first(self) -> AlertRow:
        return self.rows[0]

    @property
    def peak(self) -> AlertRow:
        """The row with the highest value (the first of equals)."""
        over = [r for r in self.rows if r.kind != "resolved"] or list(self.rows)
        return max(over, key=lambda r: (r.observed, -r.result_id))

    @property
    def escalated(self) -> AlertRow | None:
        return next((r for r in self.rows if r.kind == "escalated"), None)

    @property
    def resolved(self) -> AlertRow | None:
        return next((r for r in self.rows if r.kind == "resolved"), None)

    @property
    def ackable_id(self) -> int:
        """A row to acknowledge the alert through (``liqrisk ack --alert``): its first."""
        return self.rows[0].result_id

    @property
    def unit(self) -> str:
        return "usd" if self.measure == "usd" else "count"

    @property
    def limit_sets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.limit_set_sha256 for r in self.rows))


@dataclass(frozen=True)
class FailedEvaluation:
    at: datetime
    batch_leaf: int
    detail: str


def read_alerts(
    session: Session,
    days: Sequence[date],
    *,
    as_of: datetime,
    tree_size: int | None = None,
    bounds: AlertBounds | None = None,
) -> tuple[tuple[IntradayAlert, ...], tuple[FailedEvaluation, ...]]:
    """The episodes with a row in ``days`` (in the order they began) and the evaluations that
    failed in ``days``; rows of batches among the first ``tree_size`` leaves, messages, attempts
    and acknowledgements within ``bounds`` (None: all), delivery states as at ``as_of``."""
    rows = _rows(session, days, tree_size)
    by_episode: dict[str, list[tuple[IntradayResult, int]]] = defaultdict(list)
    failures: list[FailedEvaluation] = []
    for result, leaf in rows:
        if result.kind != "error":
            by_episode[result.episode].append((result, leaf))
        elif row_day(result) in days:
            failures.append(FailedEvaluation(as_utc(result.created_at), leaf, result.detail))
    shown = {
        episode: found
        for episode, found in by_episode.items()
        if any(row_day(r) in days for r, _ in found)
    }
    notices = _notices(session, shown, bounds, as_of)
    max_ack = None if bounds is None else bounds.ack_id
    acks = alert_acknowledgements(session, list(shown), max_ack_id=max_ack)
    ordered = sorted(shown.items(), key=lambda kv: kv[1][0][0].id or 0)
    alerts = tuple(
        _alert(n, episode, found, notices.get(episode, ()), acks.get(episode, ()))
        for n, (episode, found) in enumerate(ordered, start=1)
    )
    return alerts, tuple(failures)


def _rows(
    session: Session, days: Sequence[date], tree_size: int | None
) -> list[tuple[IntradayResult, int]]:
    """Every row of an episode with a row in ``days`` up to their end, each with its batch's
    leaf; failed evaluations near ``days`` too. Only batches among the first ``tree_size``
    leaves, when given."""
    first, last = min(days), max(days)
    r = IntradayResult
    stored = select(r, col(Snapshot.leaf_index)).join(
        Snapshot, col(Snapshot.id) == col(r.snapshot_id)
    )
    if tree_size is not None:
        stored = stored.where(col(Snapshot.leaf_index) < tree_size)
    # A row's day is that of the last minute its window sums (window_end is exclusive); an error
    # row's window ends when it was evaluated. One day either side, then exactly by row_day.
    near = stored.where(
        col(r.window_end) >= _midnight(first, -1), col(r.window_end) < _midnight(last, 2)
    )
    found = [(res, int(leaf)) for res, leaf in session.execute(near.order_by(col(r.id))).all()]
    episodes = {
        res.episode for res, _ in found if res.kind != "error" and first <= row_day(res) <= last
    }
    if not episodes:
        return [(res, leaf) for res, leaf in found if res.kind == "error"]
    whole = stored.where(col(r.episode).in_(sorted(episodes))).order_by(col(r.id))
    out = [(res, int(leaf)) for res, leaf in session.execute(whole).all()]
    out = [(res, leaf) for res, leaf in out if row_day(res) <= last]  # nothing after the period
    errors = [(res, leaf) for res, leaf in found if res.kind == "error"]
    return sorted(out + errors, key=lambda pair: pair[0].id or 0)


def _midnight(day: date, offset: int) -> datetime:
    return datetime.combine(day + timedelta(days=offset), time(0), tzinfo=UTC)


def _key_event(key: str, episode: str) -> str | None:
    """The kind a key ``intraday:<episode>:<kind>[:<window end>]`` announces, if it is one."""
    prefix = f"{KIND}:{episode}:"
    if not key.startswith(prefix):
        return None
    return key[len(prefix) :].split(":", 1)[0]


def _notices(
    session: Session,
    shown: Mapping[str, Sequence[tuple[IntradayResult, int]]],
    bounds: AlertBounds | None,
    as_of: datetime,
) -> dict[str, tuple[Notice, ...]]:
    """Each episode's messages within the bounds, oldest first."""
    if not shown:
        return {}
    kinds = {r.id: r.kind for found in shown.values() for r, _ in found if r.id is not None}
    episode_of = {r.id: r.episode for found in shown.values() for r, _ in found}
    ids = sorted(kinds)
    m = OutboxMessage
    query = select(m).where(col(m.kind) == KIND)
    if bounds is not None:
        query = query.where(col(m.id) <= bounds.message_id)
    messages = {msg.id: msg for msg in session.execute(query).scalars() if msg.id is not None}
    announced: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    if ids:
        items = session.execute(
            select(col(OutboxItem.outbox_message_id), col(OutboxItem.intraday_result_id)).where(
                col(OutboxItem.intraday_result_id).in_(ids)
            )
        ).all()
        for message_id, result_id in items:
            if message_id in messages and result_id in kinds:
                announced[message_id][episode_of[result_id]].append(kinds[result_id])
    episode_kinds = {e: {r.kind for r, _ in found} for e, found in shown.items()}
    for message_id, msg in messages.items():
        if message_id in announced:
            continue
        for episode in shown:
            kind = _key_event(msg.idempotency_key, episode)
            if kind is not None and kind in episode_kinds[episode]:
                announced[message_id][episode].append(kind)
    attempts: dict[int, list[OutboxAttempt]] = defaultdict(list)
    if announced:
        tried = select(OutboxAttempt).where(
            col(OutboxAttempt.outbox_message_id).in_(sorted(announced))
        )
        if bounds is not None:
            tried = tried.where(col(OutboxAttempt.id) <= bounds.attempt_id)
        for attempt in session.execute(tried).scalars():
            attempts[attempt.outbox_message_id].append(attempt)
    out: dict[str, list[Notice]] = defaultdict(list)
    for message_id in sorted(announced):
        msg = messages[message_id]
        state = message_state(attempts[message_id], as_of)
        done = state.state in ("delivered", "failed") and state.last is not None
        to = (msg.target,) if msg.channel == "webhook" else tuple(json.loads(msg.recipients_json))
        for episode, found_kinds in sorted(announced[message_id].items()):
            events = tuple(EVENTS.get(k, k) for k in dict.fromkeys(found_kinds))
            out[episode].append(
                Notice(
                    message_id=message_id,
                    events=events,
                    channel=msg.channel,
                    to=to,
                    state=state.state,
                    at=as_utc(state.last.at) if done and state.last is not None else None,
                    attempts=state.attempts,
                )
            )
    return {e: tuple(n) for e, n in out.items()}


def _alert(
    number: int,
    episode: str,
    found: Sequence[tuple[IntradayResult, int]],
    notices: Iterable[Notice],
    acks: Iterable[IntradayAcknowledgement],
) -> IntradayAlert:
    first = found[0][0]
    rows = tuple(
        AlertRow(
            result_id=r.id or 0,
            kind=r.kind,
            status=r.status,
            observed=r.observed,
            at=as_utc(r.created_at),
            window_start=as_utc(r.window_start),
            window_end=as_utc(r.window_end),
            batch_leaf=leaf,
            window_leaves=tuple(json.loads(r.leaves_json)),
            limit_set_sha256=r.limit_set_sha256,
        )
        for r, leaf in found
    )
    status = "breach" if any(r.status == "breach" for r in rows) else "warn"
    return IntradayAlert(
        number=number,
        episode=episode,
        limit_name=first.limit_name,
        measure=first.measure,
        window_minutes=first.window_minutes,
        scope=first.scope,
        feed=first.feed,
        source=first.source,
        warn_at=first.warn_at,
        limit=first.limit,
        status=status,
        rows=rows,
        notices=tuple(notices),
        acks=tuple(
            AlertAck(a.id or 0, a.acked_by, as_utc(a.acked_at), a.comment, a.result_id)
            for a in acks
        ),
    )
