"""Acknowledging intraday alerts: who signed off an episode, when and why, on a hash chain.

An intraday alert is an *episode* (:mod:`audit_store.tables_intraday`): the rows of one limit and
scope from its first crossing to its resolution, all naming the same ``episode``. An officer
acknowledges the episode through any of its warn or breach rows (:func:`acknowledge_alert`); the
row is never touched. The acknowledgement is a new ``intraday_acknowledgement`` row that names the
row it was given through and the episode, carries the SHA-256 of that row's fields as the officer
saw them, and is chained by SHA-256 to the intraday acknowledgement before it, exactly as the daily
``acknowledgement`` chain (:func:`reporting.checks.store.acknowledge`) but on a chain of its own,
so neither chain's order depends on the other's. In the same transaction the acknowledgement joins
the log as an activity leaf (action ``acknowledge``, subject ``intraday_result <id>``), so an
audit package shows who signed off what.

:func:`verify_intraday_acknowledgements` recomputes the chain and the acknowledged rows' hashes
(``liqrisk verify``, the console's verify and ``liqrisk limits acks`` report what it finds);
:func:`alert_acknowledgements` reads the acknowledgements of given episodes (the daily report's
"Intraday alerts" section and the console build on it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store.activity import Activity, record_activity
from audit_store.canonical import as_utc, utc_iso
from audit_store.db import Store
from audit_store.snapshots import writer_lock
from audit_store.tables_intraday import (
    IntradayAcknowledgement,
    IntradayResult,
    intraday_ack_entry_sha256,
)
from audit_store.tables_limits import GENESIS_SHA256, ack_result_sha256
from reporting.checks.store import chain_head, sign_off_text
from reporting.errors import CheckError
from reporting.records import Problem

_INTRADAY_ACK_LOCK = 0x6C6971696E61  # PostgreSQL advisory lock: one intraday chain writer at a time
TABLE = "intraday_acknowledgement"
UNACKABLE = ("ok", "error")  # a resolved row, an evaluation that failed: nothing to sign off


def row_day(result: IntradayResult) -> date:
    """The UTC day an intraday row belongs to: that of the last minute its window sums (the
    window's end is exclusive, so a window ending at midnight is the day before's)."""
    return (as_utc(result.window_end) - timedelta(minutes=1)).date()


def result_fields(result: IntradayResult) -> dict[str, Any]:
    """The intraday row's fields whose SHA-256 an acknowledgement keeps (every column)."""
    return {
        "id": result.id,
        "snapshot_id": result.snapshot_id,
        "limit_name": result.limit_name,
        "measure": result.measure,
        "window_minutes": result.window_minutes,
        "scope": result.scope,
        "source": result.source,
        "kind": result.kind,
        "status": result.status,
        "episode": result.episode,
        "observed": result.observed,
        "warn_at": result.warn_at,
        "limit": result.limit,
        "window_start": utc_iso(result.window_start),
        "window_end": utc_iso(result.window_end),
        "limit_set_sha256": result.limit_set_sha256,
        "leaves": json.loads(result.leaves_json),
        "detail": result.detail,
        "created_at": utc_iso(result.created_at),
    }


def intraday_ack_json(ack: IntradayAcknowledgement) -> dict[str, Any]:
    """One acknowledgement for ``--json`` and the console's API."""
    return {
        "id": ack.id,
        "result_id": ack.result_id,
        "episode": ack.episode,
        "by": ack.acked_by,
        "comment": ack.comment,
        "at": as_utc(ack.acked_at).isoformat(),
        "entry_sha256": ack.entry_sha256,
    }


def intraday_result_json(result: IntradayResult) -> dict[str, Any]:
    """One intraday row for ``--json``: its fields, times in ISO 8601 UTC."""
    return {
        **result_fields(result),
        "window_start": as_utc(result.window_start).isoformat(),
        "window_end": as_utc(result.window_end).isoformat(),
        "created_at": as_utc(result.created_at).isoformat(),
    }


def _first_ackable(session: Session, episode: str) -> int | None:
    query = (
        select(col(IntradayResult.id))
        .where(
            col(IntradayResult.episode) == episode,
            col(IntradayResult.status).not_in(UNACKABLE),
        )
        .order_by(col(IntradayResult.id))
        .limit(1)
    )
    return session.execute(query).scalars().first()


def _refusal(session: Session, result: IntradayResult) -> str:
    """The one line that says why ``result`` cannot be acknowledged through."""
    rid = result.id
    if result.status == "error":
        return (
            f"intraday result {rid} records a failed evaluation ({result.detail or 'no detail'}), "
            "not an alert: there is nothing to acknowledge"
        )
    what = f"intraday result {rid} ({result.limit_name} {result.scope}, {result.kind})"
    other = _first_ackable(session, result.episode) if result.episode else None
    hint = f"; acknowledge the alert through result {other}" if other is not None else ""
    return f"{what} is ok: there is nothing to acknowledge{hint}"


def acknowledge_alert(
    store: Store,
    result_id: int,
    *,
    by: str,
    comment: str,
    via: str = "cli",
    address: str | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> tuple[IntradayAcknowledgement, IntradayResult]:
    """Record that ``by`` acknowledged the intraday alert (episode) of row ``result_id``.

    ``result_id`` may be any warn or breach row of the episode (``new``, ``escalated``,
    ``repeat``); an ``ok`` row (``resolved``) or an ``error`` row is refused with a
    :class:`CheckError`, as are an empty ``by`` or ``comment``. The acknowledgement joins the
    intraday chain and, in the same transaction, the log as an activity leaf (``via`` the console
    or the CLI, from ``address``). Returns the acknowledgement and the row it was given through.
    """
    by, comment = sign_off_text(by, comment)
    with store.session() as session:
        writer_lock(session, _INTRADAY_ACK_LOCK)
        result = session.get(IntradayResult, result_id)
        if result is None:
            raise CheckError(f"there is no intraday result {result_id}")
        if result.status in UNACKABLE:
            raise CheckError(_refusal(session, result))
        ack = IntradayAcknowledgement(
            result_id=result_id,
            episode=result.episode,
            acked_by=by,
            comment=comment,
            acked_at=clock(),
            result_sha256=ack_result_sha256(result_fields(result)),
            previous_sha256=chain_head(session, IntradayAcknowledgement),
            entry_sha256="",
        )
        ack.entry_sha256 = intraday_ack_entry_sha256(ack)
        session.add(ack)
        session.flush()
        record_activity(
            session,
            Activity(
                action="acknowledge",
                actor=by,
                via=via,
                at=as_utc(ack.acked_at),
                address=address,
                subject=f"intraday_result {result_id}",
                details={
                    "intraday_acknowledgement_id": ack.id,
                    "entry_sha256": ack.entry_sha256,
                    "result_sha256": ack.result_sha256,
                    "limit": result.limit_name,
                    "scope": result.scope,
                    "episode": result.episode,
                    "kind": result.kind,
                    "status": result.status,
                    "comment": comment,
                },
            ),
        )
    return ack, result


def alert_acknowledgements(
    session: Session, episodes: Collection[str], *, max_ack_id: int | None = None
) -> dict[str, list[IntradayAcknowledgement]]:
    """The acknowledgements of each of ``episodes`` that has any, oldest first.

    ``max_ack_id`` leaves out acknowledgements given after it (a report re-rendered as it was).
    """
    if not episodes:
        return {}
    query = (
        select(IntradayAcknowledgement)
        .where(col(IntradayAcknowledgement.episode).in_(sorted(set(episodes))))
        .order_by(col(IntradayAcknowledgement.id))
    )
    if max_ack_id is not None:
        query = query.where(col(IntradayAcknowledgement.id) <= max_ack_id)
    out: dict[str, list[IntradayAcknowledgement]] = {}
    for ack in session.execute(query).scalars():
        out.setdefault(ack.episode, []).append(ack)
    return out


def latest_ack_id(session: Session) -> int | None:
    """The id of the newest intraday acknowledgement (what a report saw), or None."""
    query = select(col(IntradayAcknowledgement.id)).order_by(col(IntradayAcknowledgement.id).desc())
    return session.execute(query.limit(1)).scalars().first()


def intraday_acknowledgements(
    store: Store,
) -> list[tuple[IntradayAcknowledgement, IntradayResult]]:
    """Every intraday acknowledgement with the row it was given through, oldest first."""
    with store.read_session() as session:
        stmt = (
            select(IntradayAcknowledgement, IntradayResult)
            .join(IntradayResult, col(IntradayResult.id) == col(IntradayAcknowledgement.result_id))
            .order_by(col(IntradayAcknowledgement.id))
        )
        rows = [(a, r) for a, r in session.execute(stmt).all()]
        session.expunge_all()  # the read session ends in a rollback, which would expire them
    return rows


@dataclass(frozen=True)
class Finding:
    """One intraday acknowledgement that does not check out."""

    ack_id: int | None
    message: str


def intraday_ack_findings(store: Store) -> list[Finding]:
    """Recompute the intraday chain: each row must follow the one before, hash to its
    ``entry_sha256``, name the episode of its row, and its row must hash as acknowledged."""
    findings: list[Finding] = []
    previous = GENESIS_SHA256
    for ack, result in intraday_acknowledgements(store):
        if ack.previous_sha256 != previous:
            findings.append(
                Finding(ack.id, "does not follow the intraday acknowledgement before it")
            )
        if intraday_ack_entry_sha256(ack) != ack.entry_sha256:
            findings.append(Finding(ack.id, "its content does not match its hash"))
        if ack.episode != result.episode:
            findings.append(Finding(ack.id, f"names another episode than result {result.id}"))
        if ack_result_sha256(result_fields(result)) != ack.result_sha256:
            findings.append(
                Finding(ack.id, f"intraday result {result.id} differs from what was acknowledged")
            )
        previous = ack.entry_sha256
    return findings


def verify_intraday_acknowledgements(store: Store) -> list[Problem]:
    """The intraday acknowledgement chain recomputed; one problem per finding (severity error)."""
    return [
        Problem(f"{TABLE} {f.ack_id}", f.message, "error") for f in intraday_ack_findings(store)
    ]
