"""What ``liqrisk limits backtest`` and ``liqrisk limits history`` print of intraday limits and of
the changes between limit-set versions; the commands are :mod:`reporting.cli.limits`'.

Nothing here is printed for a limit set without intraday tables, so the commands' output for one
is what it always was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reporting.checks.intraday_history import Episode, IntradayLimitVersion, IntradayTally


def _at(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def episode_json(e: Episode) -> dict[str, Any]:
    return {
        "opened": e.opened.isoformat(),
        "opened_status": e.opened_status,
        "status": e.status,
        "escalated": e.escalated.isoformat() if e.escalated else None,
        "peak": e.peak,
        "peak_at": e.peak_at.isoformat(),
        "resolved": e.resolved.isoformat() if e.resolved else None,
        "repeats": e.repeats,
    }


def tallies_json(tallies: Sequence[IntradayTally]) -> list[dict[str, Any]]:
    """The intraday limits of a backtest, as ``--json`` gives them."""
    return [
        {
            "limit": t.limit,
            "measure": t.measure,
            "scope": t.scope,
            "threshold_scope": t.threshold_scope,
            "warn_at": t.warn_at,
            "limit_value": t.limit_value,
            "minutes": t.minutes,
            "episodes": len(t.episodes),
            "breach_episodes": t.breach_episodes,
            "warn_episodes": t.warn_episodes,
            "peak": max((e.peak for e in t.episodes), default=None),
            "episode_list": [episode_json(e) for e in t.episodes],
        }
        for t in tallies
    ]


def tally_lines(tallies: Sequence[IntradayTally]) -> list[str]:
    """The intraday limits of a backtest in words: per limit and scope with episodes, each
    episode (opened, escalated, peak, resolved), then a total line."""
    if not tallies:
        return []
    lines = ["intraday limits, replayed on the stream minutes (each minute's end evaluated):"]
    quiet = 0
    for t in tallies:
        if not t.episodes:
            quiet += 1
            continue
        lines.append(
            f"{t.limit} {t.scope} (warn {t.figure(t.warn_at)}, breach {t.figure(t.limit_value)}; "
            f"{t.threshold_scope}): {len(t.episodes)} episode(s), {t.breach_episodes} at breach"
        )
        for e in t.episodes:
            text = f"  {_at(e.opened)} {e.opened_status}"
            if e.escalated is not None:
                text += f", breach at {_at(e.escalated)}"
            text += f"; peak {t.figure(e.peak)} at {_at(e.peak_at)}; "
            text += f"resolved {_at(e.resolved)}" if e.resolved else "still open at the end"
            if e.repeats:
                text += f" ({e.repeats} repeat(s))"
            lines.append(text)
    episodes = sum(len(t.episodes) for t in tallies)
    breaches = sum(t.breach_episodes for t in tallies)
    lines.append(
        f"{len(tallies)} intraday limit(s) by scope with stream minutes: {episodes} episode(s), "
        f"{breaches} at breach; {quiet} never crossed"
    )
    return lines


def changes(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each setting added, removed or changed from ``old`` to ``new`` by its dotted path
    (``imbalance_60m.min_usd``), as the console's limit history shows them."""
    from reporting.web.history_views import diff

    return diff(old, new)


def change_lines(found: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"  changed {c['path']}: {_shown(c['old'])} -> {_shown(c['new'])}" for c in found]


def _shown(value: Any) -> str:
    return "(unset)" if value is None else repr(value)


def intraday_version_lines(versions: Sequence[IntradayLimitVersion]) -> list[str]:
    """The limit sets the intraday results were stored under, each with its changes from the one
    before (the collector evaluates the limit set it was started with, check run or not)."""
    if not versions:
        return []
    lines = ["intraday results (live stream evaluation), by limit set:"]
    previous: Mapping[str, Any] | None = None
    for n, v in enumerate(versions):
        lines.append(
            f"{v.sha256[:16]}  {v.results} result(s) from {v.first_at:%Y-%m-%d %H:%M:%S} to "
            f"{v.last_at:%Y-%m-%d %H:%M:%S} UTC; from {v.loaded_from or 'unknown file'}"
        )
        if n and previous is not None and v.content is not None:
            lines += change_lines(changes(previous, v.content))
        previous = v.content
    return lines
