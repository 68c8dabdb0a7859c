"""What an intraday alert says: the email's subject and text, and the webhook's JSON body.

One message may carry several alerts (a group, :mod:`.intraday_groups`): each alert is a block
saying what crossed, by how much, over which window, since when, the venues and instruments
behind it and its evidence (the intraday result, the batch leaf indices, the limit set's SHA-256);
the latest signed checkpoint closes the message once, attached to the email as ``checkpoint.txt``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from audit_store.canonical import canonical_json, utc_iso
from audit_store.tables_intraday import STREAMS_FEED
from reporting.checks.intraday import Decision, scope_label
from reporting.checks.intraday_measures import format_measure, measure_title
from reporting.config import Settings
from reporting.notify.messages import SignedCheckpoint
from reporting.notify.records import one_line

PAYLOAD_TYPE = "liqrisk.intraday_alerts.v1"
SHOWN_LEAVES = 20
_TITLES = {
    "new": "crossed",
    "escalated": "escalated to breach",
    "repeat": "still over",
    "resolved": "resolved",
}


def title(kind: str) -> str:
    return _TITLES.get(kind, kind)


def figure(value: float, measure: str) -> str:
    """A window's value in words (:func:`.checks.intraday_measures.format_measure`)."""
    return format_measure(value, measure)


def _count(n: int) -> str:
    return "1 liquidation" if n == 1 else f"{n:,} liquidations"


def one_subject(settings: Settings, decision: Decision) -> str:
    r = decision.result
    shown = "RESOLVED" if r.kind == "resolved" else r.status.upper()
    return (
        f"[{one_line(settings.firm_name)}] intraday {shown}: {scope_label(r)} {r.limit_name} "
        f"{title(r.kind)}, {figure(r.observed, r.measure)} in {r.window_minutes} min"
    )


def group_subject(settings: Settings, decisions: Sequence[Decision]) -> str:
    """The subject: one alert's own, or how many and of what for a group."""
    if len(decisions) == 1:
        return one_subject(settings, decisions[0])
    counts: dict[str, int] = {}
    for d in decisions:
        shown = "resolved" if d.result.kind == "resolved" else d.result.status.upper()
        counts[shown] = counts.get(shown, 0) + 1
    order = ("BREACH", "WARN", "resolved")
    tally = ", ".join(f"{counts[k]} {k}" for k in order if k in counts)
    names = ", ".join(
        dict.fromkeys(f"{scope_label(d.result)} {d.result.limit_name}" for d in decisions)
    )
    return (
        f"[{one_line(settings.firm_name)}] intraday: {len(decisions)} alerts ({tally}): "
        f"{one_line(names)}"
    )[:300]


def alert_block(decision: Decision, link: str | None = None) -> list[str]:
    """The lines of one alert."""
    r = decision.result
    start = r.window_start.strftime("%Y-%m-%d %H:%M")
    end = r.window_end.strftime("%H:%M")
    lines = [
        f"Intraday limit {r.limit_name} ({measure_title(r.measure)} over "
        f"{r.window_minutes} minutes), scope {scope_label(r)}: {title(r.kind)}.",
        "",
        f"Observed:  {figure(r.observed, r.measure)} in the window from {start} to {end} UTC "
        "(exchange time, the end exclusive)",
        f"Started:   {start} UTC; found {r.created_at.strftime('%H:%M:%S')} UTC",
        f"Levels:    warn {figure(r.warn_at, r.measure)}, breach {figure(r.limit, r.measure)} "
        f"(from {r.source})",
    ]
    if r.kind == "resolved":
        lines.append(f"Resolved:  {r.detail}")
    else:
        level = r.limit if r.status == "breach" else r.warn_at
        pct = 100 * r.observed / level if level else 0.0
        lines.append(
            f"Over by:   {figure(r.observed - level, r.measure)} ({pct:.0f}% of the {r.status} "
            "level)"
        )
    if decision.top:
        lines.append("Behind it: " + "; ".join(
            f"{' '.join(filter(None, (v, i)))} {u:,.0f} USD ({_count(n)})"
            for v, i, u, n in decision.top
        ))  # fmt: skip
    leaves: list[int] = json.loads(r.leaves_json)
    shown = ", ".join(str(n) for n in leaves[:SHOWN_LEAVES])
    more = " ..." if len(leaves) > SHOWN_LEAVES else ""
    lines += [
        "Evidence:",
        f"  intraday result {r.id} of episode {r.episode}",
        f"  {'batch' if r.feed == STREAMS_FEED else 'page'} leaf indices ({len(leaves)}): "
        f"{shown}{more}",
        f"  limit set SHA-256 {r.limit_set_sha256}",
    ]
    if link:
        lines.append(f"  in the console: {link}")
    return lines


def _checkpoint_line(signed: SignedCheckpoint | None) -> str:
    if signed is None:
        return "No signed checkpoint of the log yet."
    return (
        f"Latest signed checkpoint: tree size {signed.tree_size}, root {signed.root_hash} "
        "(attached as checkpoint.txt)."
    )


def group_text(
    settings: Settings,
    decisions: Sequence[Decision],
    signed: SignedCheckpoint | None,
    *,
    group_seconds: float,
    links: Sequence[str | None] = (),
) -> tuple[str, str]:
    """The subject and text body of a message carrying ``decisions`` (oldest first)."""
    subject = group_subject(settings, decisions)
    lines: list[str] = []
    if len(decisions) > 1:
        first = decisions[0].result.created_at.strftime("%H:%M:%S")
        lines += [
            f"{len(decisions)} intraday alerts, the first found at {first} UTC (alerts within "
            f"{group_seconds:g} s of the message before go together).",
            "",
        ]
    for n, decision in enumerate(decisions):
        if n:
            lines += ["", "-" * 72, ""]
        lines += alert_block(decision, links[n] if n < len(links) else None)
    lines += ["", _checkpoint_line(signed)]
    return subject, "\n".join(lines) + "\n"


def _alert_json(decision: Decision, link: str | None) -> dict[str, Any]:
    r = decision.result
    return {
        "result_id": r.id,
        "episode": r.episode,
        "kind": r.kind,
        "status": r.status,
        "episode_status": decision.episode_status,
        "limit": r.limit_name,
        "measure": r.measure,
        "window_minutes": r.window_minutes,
        "scope": r.scope,
        "feed": r.feed,
        "source": r.source,
        "observed": r.observed,
        "warn": r.warn_at,
        "breach": r.limit,
        "window_start": utc_iso(r.window_start),
        "window_end": utc_iso(r.window_end),
        "found_at": utc_iso(r.created_at),
        "detail": r.detail,
        "top": [{"venue": v, "instrument": i, "usd": u, "count": n} for v, i, u, n in decision.top],
        "leaves": json.loads(r.leaves_json),
        "limit_set_sha256": r.limit_set_sha256,
        "url": link,
    }


def webhook_body(
    settings: Settings,
    decisions: Sequence[Decision],
    signed: SignedCheckpoint | None,
    *,
    delivery_id: str,
    links: Sequence[str | None] = (),
) -> bytes:
    """The webhook's JSON body (canonical: sorted keys, UTF-8), signed when sent."""
    return canonical_json(
        {
            "type": PAYLOAD_TYPE,
            "firm": settings.firm_name,
            "delivery_id": delivery_id,
            "alerts": [
                _alert_json(d, links[n] if n < len(links) else None)
                for n, d in enumerate(decisions)
            ],
            "checkpoint": (
                {"tree_size": signed.tree_size, "root_hash": signed.root_hash} if signed else None
            ),
        }
    )
