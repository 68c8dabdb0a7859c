"""The console's history pages as plain data: limit sets over time with what each changed, and
what was sent to whom (the outbox). HTML and ``/api/`` JSON alike (:mod:`reporting.web.app`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audit_store.db import Store
from reporting.checks.store import limit_history
from reporting.notify.history import list_outbox


def _flat(tree: Mapping[str, Any] | None, prefix: str = "") -> dict[str, Any]:
    """``{"daily_usd": {"warn": 1}}`` -> ``{"daily_usd.warn": 1}``."""
    out: dict[str, Any] = {}
    for key, value in (tree or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{path}."))
        else:
            out[path] = value
    return out


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Each setting added, removed or changed from ``old`` to ``new``, by its dotted path."""
    before, after = _flat(old), _flat(new)
    return [
        {"path": path, "old": before.get(path), "new": after.get(path)}
        for path in sorted(set(before) | set(after))
        if before.get(path) != after.get(path)
    ]


def limit_versions(store: Store) -> list[dict[str, Any]]:
    """Every limit set that came into force, newest first, with its changes from the one before."""
    versions = limit_history(store)
    out = []
    previous: Mapping[str, Any] | None = None
    for v in versions:
        out.append(
            {
                "sha256": v.sha256,
                "in_force_from": v.in_force_from.isoformat(),
                "first_run_id": v.first_run_id,
                "runs": v.runs,
                "first_day": v.first_day.isoformat(),
                "last_day": v.last_day.isoformat(),
                "loaded_from": v.loaded_from,
                "stored": v.content is not None,
                "changes": diff(previous, v.content) if previous is not None else [],
                "first": previous is None,
            }
        )
        previous = v.content
    return out[::-1]


def deliveries(store: Store, limit: int = 200) -> list[dict[str, Any]]:
    """The latest messages, newest first, with their attempts (the delivery history)."""
    entries = list_outbox(store)[-limit:]
    return [
        {**e.to_json(), "addressee": e.addressee, "attempt_count": len(e.attempts)}
        for e in reversed(entries)
    ]
