"""The console's intraday alerts as plain data: the latest rows for the Live page, every episode
for ``/alerts``, and one episode with its evidence, its messages and its acknowledgements for
``/alerts/{result_id}``. HTML and ``/api/`` JSON alike (:mod:`reporting.web.alert_pages`).

Read from ``intraday_result`` (:mod:`audit_store.tables_intraday`): append-only rows, one per event
of an *episode* (``new``, ``escalated``, ``repeat``, ``resolved``), each naming its episode;
``error`` rows (a failed evaluation) belong to none and are never shown as alerts. An episode is
open while its latest row is ``new``, ``escalated`` or ``repeat``. Its *peak* is the largest value
among its rows: a window staying over between two rows is not recorded, so it is a lower bound.

The messages of an episode are found two ways, both kept: the outbox items that name one of its
rows (``outbox_item.intraday_result_id``, migration 0014), and, for messages enqueued before items
were written, the idempotency key, which starts with ``intraday:<episode>:``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_intraday import IntradayResult
from audit_store.tables_outbox import OutboxItem, OutboxMessage
from reporting.checks.intraday import OPEN_KINDS, scope_label
from reporting.checks.intraday_acks import UNACKABLE, alert_acknowledgements, intraday_ack_json
from reporting.checks.intraday_measures import MEASURES, measure_title
from reporting.errors import NotFound
from reporting.notify.history import find_message
from reporting.notify.intraday_groups import KIND
from reporting.render.formatting import in_unit, pct
from reporting.web.links import alert_path

LIVE_ROWS = 20
"""How many of the latest alert rows the Live page shows."""

LIST_LIMIT = 500
"""How many episodes ``/alerts`` lists at most (newest first); a date narrows it."""

STATES = ("open", "resolved")


def figure(value: float, measure: str) -> str:
    """A value of a limit in its measure's unit (:data:`.intraday_measures.MEASURES`), as the
    console writes figures: ``$1,000,000``, ``1,421 liquidations``, ``81.2%``."""
    spec = MEASURES.get(measure)
    unit = spec.unit if spec is not None else "count"
    return in_unit(value, unit) + (" liquidations" if unit == "count" else "")


def limit_title(r: IntradayResult) -> str:
    """``velocity_usd_15m (15 min)``; a window from midnight (whose length grows through the
    day) by its name alone, ``exposure_usd_day``."""
    spec = MEASURES.get(r.measure)
    if spec is not None and spec.since_midnight:
        return r.limit_name
    return f"{r.limit_name} ({r.window_minutes} min)"


def leaf_ranges(leaves: Sequence[int]) -> str:
    """Leaf indices as runs: ``[0, 1, 2, 7, 9, 10]`` -> ``0–2, 7, 9–10``."""
    runs: list[list[int]] = []
    for leaf in sorted(set(leaves)):
        if runs and leaf == runs[-1][1] + 1:
            runs[-1][1] = leaf
        else:
            runs.append([leaf, leaf])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs) or "none"


def row_json(r: IntradayResult, *, evidence: bool = False) -> dict[str, Any]:
    """One alert row; with its evidence (window, limit set, batch leaves) when asked."""
    share = 100 * r.observed / r.limit if r.limit else None
    out: dict[str, Any] = {
        "id": r.id,
        "url": alert_path(r.id or 0),
        "episode": r.episode,
        "at": as_utc(r.created_at).isoformat(),
        "limit_name": r.limit_name,
        "window_minutes": r.window_minutes,
        "limit_title": limit_title(r),
        "measure_title": measure_title(r.measure),
        "measure": r.measure,
        "scope": scope_label(r),
        "feed": r.feed,
        "kind": r.kind,
        "status": r.status,
        "observed": r.observed,
        "warn_at": r.warn_at,
        "limit": r.limit,
        "pct_of_limit": share,
        "observed_text": figure(r.observed, r.measure),
        "warn_text": figure(r.warn_at, r.measure),
        "limit_text": figure(r.limit, r.measure),
        "versus_text": f"{figure(r.observed, r.measure)} of {figure(r.limit, r.measure)} "
        f"({pct(share)})",
    }
    if evidence:
        leaves = [int(n) for n in json.loads(r.leaves_json)]
        out |= {
            "source": r.source,
            "window_start": as_utc(r.window_start).isoformat(),
            "window_end": as_utc(r.window_end).isoformat(),
            "limit_set_sha256": r.limit_set_sha256,
            "snapshot_id": r.snapshot_id,
            "leaves": leaves,
            "leaves_text": leaf_ranges(leaves),
            "detail": r.detail,
        }
    return out


# -- the Live page


def live_alerts(session: Session, limit: int = LIVE_ROWS) -> dict[str, Any]:
    """The Live page's alerts: the latest ``limit`` alert rows (no ``error`` rows), newest
    first, each saying whether its episode is still open; and every episode still open."""
    r = IntradayResult
    rows = list(
        session.execute(
            select(r).where(col(r.kind) != "error").order_by(col(r.id).desc()).limit(limit)
        ).scalars()
    )
    still_open = open_episodes(session)
    names = {e["episode"] for e in still_open}
    return {
        "intraday_alerts": [
            {**row_json(row), "episode_open": row.episode in names} for row in rows
        ],
        "intraday_alerts_limit": limit,
        "open_episodes": still_open,
    }


def open_episodes(session: Session) -> list[dict[str, Any]]:
    """Every episode still open: the latest row of each limit and scope, where it is ``new``,
    ``escalated`` or ``repeat`` (through the (limit, scope, id) index; a limit and scope has one
    episode at a time). Oldest first, with when it first crossed."""
    r = IntradayResult
    latest = (
        select(func.max(col(r.id)))
        .where(col(r.kind) != "error")
        .group_by(col(r.limit_name), col(r.scope), col(r.feed))
    )
    rows = list(
        session.execute(
            select(r).where(col(r.id).in_(latest), col(r.kind).in_(OPEN_KINDS))
        ).scalars()
    )
    out = []
    for row in rows:
        first = _first_row(session, row)
        out.append(
            {
                "episode": row.episode,
                "limit_title": limit_title(row),
                "scope": scope_label(row),
                "status": row.status,
                "since": as_utc(first.created_at).isoformat(),
                "first_id": first.id,
                "latest_id": row.id,
                "url": alert_path(first.id or 0),
            }
        )
    return sorted(out, key=lambda e: (e["since"], e["scope"]))


def _episode_filter(row: IntradayResult) -> tuple[ColumnElement[bool], ...]:
    """The rows of ``row``'s episode, found through the (limit, scope, id) index."""
    r = IntradayResult
    return (
        col(r.limit_name) == row.limit_name,
        col(r.scope) == row.scope,
        col(r.episode) == row.episode,
    )


def _first_row(session: Session, row: IntradayResult) -> IntradayResult:
    r = IntradayResult
    query = select(r).where(*_episode_filter(row)).order_by(col(r.id)).limit(1)
    first: IntradayResult = session.execute(query).scalars().one()
    return first


# -- /alerts: every episode


def episodes(
    store: Store,
    *,
    day: date | None = None,
    state: str | None = None,
    limit: int = LIST_LIMIT,
) -> dict[str, Any]:
    """Every episode, newest first (by its first row): those over at some time of ``day`` (UTC)
    when given, those open or resolved when ``state`` says so; at most ``limit``."""
    r = IntradayResult
    grouped = (
        select(
            col(r.episode).label("episode"),
            func.min(col(r.id)).label("first_id"),
            func.max(col(r.id)).label("last_id"),
            func.count().label("rows"),
            func.max(col(r.observed)).label("peak"),
            func.max(case((col(r.status) == "breach", 1), else_=0)).label("breached"),
        )
        .where(col(r.kind) != "error")
        .group_by(col(r.episode))
        .subquery()
    )
    first, last = aliased(IntradayResult), aliased(IntradayResult)
    query = (
        select(grouped.c.rows, grouped.c.peak, grouped.c.breached, first, last)
        .join(first, col(first.id) == grouped.c.first_id)
        .join(last, col(last.id) == grouped.c.last_id)
    )
    if day is not None:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        end = start + timedelta(days=1)
        query = query.where(
            col(first.created_at) < end,
            or_(col(last.created_at) >= start, col(last.kind).in_(OPEN_KINDS)),
        )
    if state == "open":
        query = query.where(col(last.kind).in_(OPEN_KINDS))
    elif state == "resolved":
        query = query.where(col(last.kind) == "resolved")
    with store.read_session() as session:
        found = session.execute(query.order_by(grouped.c.first_id.desc()).limit(limit + 1)).all()
        shown = found[:limit]
        acks = alert_acknowledgements(session, [f.episode for _n, _p, _b, f, _l in shown])
        listed = [
            _summary(f, latest, int(n), float(peak), bool(breached), len(acks.get(f.episode, [])))
            for n, peak, breached, f, latest in shown
        ]
    return {"episodes": listed, "truncated": len(found) > limit, "limit": limit}


def _summary(
    first: IntradayResult,
    latest: IntradayResult,
    rows: int,
    peak: float,
    breached: bool,
    acks: int,
) -> dict[str, Any]:
    return {
        "episode": first.episode,
        "url": alert_path(first.id or 0),
        "limit_name": first.limit_name,
        "window_minutes": first.window_minutes,
        "limit_title": limit_title(first),
        "measure_title": measure_title(first.measure),
        "measure": first.measure,
        "scope": scope_label(first),
        "feed": first.feed,
        "first_id": first.id,
        "first_crossed": as_utc(first.created_at).isoformat(),
        "first_status": first.status,
        "state": "open" if latest.kind in OPEN_KINDS else "resolved",
        "peak": {
            "observed": peak,
            "text": figure(peak, first.measure),
            "status": "breach" if breached else "warn",
        },
        "latest": row_json(latest),
        "rows": rows,
        "acknowledgements": acks,
        "acknowledged": acks > 0,
    }


# -- /alerts/{result_id}: one episode


def alert_row(store: Store, result_id: int) -> IntradayResult:
    """The alert row ``result_id``, detached; :class:`NotFound` when there is none, or it is a
    failed evaluation (which belongs to no episode)."""
    with store.read_session() as session:
        row = session.get(IntradayResult, result_id)
        if row is None:
            raise NotFound(f"there is no intraday result {result_id}")
        if row.kind == "error":
            raise NotFound(f"intraday result {result_id} records a failed evaluation, not an alert")
        session.expunge(row)
        return row


def episode(store: Store, result_id: int, now: datetime) -> dict[str, Any]:
    """The episode of row ``result_id``: all its rows with their evidence (oldest first), the
    messages sent for it (their state at ``now``), and its acknowledgements (oldest first)."""
    chosen = alert_row(store, result_id)
    r = IntradayResult
    with store.read_session() as session:
        rows = list(
            session.execute(select(r).where(*_episode_filter(chosen)).order_by(col(r.id))).scalars()
        )
        ids = [row.id for row in rows if row.id is not None]
        linked = _linked_messages(session, ids)
        keyed = _keyed_messages(session, chosen.episode)
        acks = alert_acknowledgements(session, [chosen.episode]).get(chosen.episode, [])
        acknowledgements = [intraday_ack_json(a) for a in acks]
        session.expunge_all()  # read below, as loaded (the read session ends in a rollback)
    messages = _messages(store, rows, linked, keyed, now)
    first, latest = rows[0], rows[-1]
    peak = max(rows, key=lambda row: (row.observed, row.id or 0))
    breached = any(row.status == "breach" for row in rows)
    summary = _summary(first, latest, len(rows), peak.observed, breached, len(acknowledgements))
    summary["peak"]["result_id"] = peak.id
    summary["source"] = latest.source
    ackable = [row.id for row in rows if row.status not in UNACKABLE]
    return {
        "result_id": result_id,
        # the row an acknowledgement from this page is given through: this one, or when it is
        # the resolution, the episode's latest warn or breach row
        "ack_through": result_id if result_id in ackable else (ackable[-1] if ackable else None),
        "episode": summary,
        "rows": [row_json(row, evidence=True) for row in rows],
        "limit_sets": sorted({row.limit_set_sha256 for row in rows}),
        "messages": messages,
        "acknowledgements": acknowledgements,
    }


def _linked_messages(session: Session, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Messages whose outbox items name one of ``ids``: which of those rows each announces, and
    how many other intraday results it carries besides (a grouped alert)."""
    if not ids:
        return {}
    i = OutboxItem
    message_ids = (
        select(col(i.outbox_message_id)).where(col(i.intraday_result_id).in_(ids)).distinct()
    )
    out: dict[int, dict[str, Any]] = {}
    items = session.execute(
        select(col(i.outbox_message_id), col(i.intraday_result_id), col(i.channel))
        .where(col(i.outbox_message_id).in_(message_ids))
        .order_by(col(i.id))
    )
    mine = set(ids)
    for message_id, intraday_id, _channel in items:
        seen = out.setdefault(int(message_id), {"announces": [], "others": 0})
        if intraday_id in mine:
            if intraday_id not in seen["announces"]:
                seen["announces"].append(int(intraday_id))
        elif intraday_id is not None:
            seen["others"] += 1
    return out


def _keyed_messages(session: Session, name: str) -> dict[int, str]:
    """Intraday messages whose idempotency key is of the episode ``name``: id -> key."""
    m = OutboxMessage
    prefix = f"{KIND}:{name}:"
    query = select(col(m.id), col(m.idempotency_key)).where(
        col(m.kind) == KIND, col(m.idempotency_key).startswith(prefix, autoescape=True)
    )
    return {int(message_id): str(key) for message_id, key in session.execute(query)}


def _announced_by_key(key: str, name: str, rows: Iterable[IntradayResult]) -> list[int]:
    """The rows an episode's key names: ``intraday:<episode>:<kind>`` (a repeat adds its window
    end)."""
    kind, _, end = key[len(f"{KIND}:{name}:") :].partition(":")
    return [
        row.id
        for row in rows
        if row.id is not None
        and row.kind == kind
        and (not end or as_utc(row.window_end).isoformat() == end)
    ]


def _messages(
    store: Store,
    rows: list[IntradayResult],
    linked: dict[int, dict[str, Any]],
    keyed: dict[int, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """Each message found, in the order enqueued, as the deliveries page shows it (its state
    derived from its attempts at ``now``), with how it was found and what it announces."""
    name = rows[0].episode
    out = []
    for message_id in sorted(set(linked) | set(keyed)):
        entry, _body = find_message(store, str(message_id), clock=lambda: now)
        link = linked.get(message_id, {"announces": [], "others": 0})
        announces = list(link["announces"])
        if message_id in keyed:
            announces += [n for n in _announced_by_key(keyed[message_id], name, rows)
                          if n not in announces]  # fmt: skip
        found_by = [w for w, hit in (("item", message_id in linked), ("key", message_id in keyed))
                    if hit]  # fmt: skip
        out.append(
            {
                **entry.to_json(),
                "addressee": entry.addressee,
                "found_by": found_by,
                "announces": sorted(announces),
                "other_alerts": link["others"],
            }
        )
    return out
