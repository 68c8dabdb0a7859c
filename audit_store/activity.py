"""Who did what: logins, logouts, failed logins, acknowledgements, account changes, exports and
verify runs as leaves of the log, so that an audit package shows who signed off what.

One action is one snapshot of source :data:`SOURCE` and kind :data:`KIND` whose body is the
canonical JSON of an :class:`Activity`: the action, who took it (an account the console
authenticated, or ``cli:<OS user>`` at the command line), through what (``console`` or ``cli``),
when, from which address, what it concerns, and the action's own facts (a comment, a role, a
range). Like every leaf it is covered by the next signed checkpoint and can never be edited.

Nothing secret goes in: never a password, a hash, a session or a key. A failed login names the
account only when one of that name exists (a user who typed a password into the name field does
not leave it in the log).

The body is the record: :func:`read_activity` parses it back, strictly, and ``verify`` re-reads
every activity leaf through it (the deriver in :mod:`reporting.fetch.derivers`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import canonical_json
from audit_store.models import Snapshot
from audit_store.snapshots import RawResponse, append_snapshot, new_snapshot

SOURCE = "activity"
KIND = "liqrisk.activity.v1"

ACTIONS: Mapping[str, str] = {
    "login": "logged in to the console",
    "login_failed": "failed to log in",
    "logout": "logged out",
    "acknowledge": "acknowledged a check result",
    "account_created": "created an account",
    "account_password": "changed an account's password",
    "account_disabled": "disabled an account",
    "account_enabled": "enabled an account",
    "account_rehash": "had a password re-hashed with current parameters at login",
    "export": "made an audit package",
    "verify": "ran verify",
}
"""Every action an activity leaf may record, with how it reads in a sentence."""

VIA = ("console", "cli")
_FIELDS = ("action", "actor", "via", "at", "address", "subject", "details")


@dataclass(frozen=True)
class Activity:
    action: str  # one of ACTIONS
    actor: str  # the authenticated account, "cli:<OS user>", or "" for an unknown name
    via: str  # "console" or "cli"
    at: datetime  # UTC
    address: str | None = None  # the client's address (console)
    subject: str | None = None  # what it is about: "check_result 12", "account bob", "export 3"
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown activity action {self.action!r}")
        if self.via not in VIA:
            raise ValueError(f"activity via must be one of {VIA}, not {self.via!r}")
        if self.at.tzinfo is None:
            raise ValueError("an activity's time must carry its timezone")

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "actor": self.actor,
            "via": self.via,
            "at": self.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "address": self.address,
            "subject": self.subject,
            "details": dict(self.details),
        }

    def sentence(self) -> str:
        who = self.actor or "an unknown name"
        about = f" ({self.subject})" if self.subject else ""
        return f"{who} {ACTIONS[self.action]}{about} via the {self.via}"


def activity_body(activity: Activity) -> bytes:
    return canonical_json(activity.to_json())


def read_activity(body: bytes) -> Activity:
    """The activity a leaf's body records; ValueError when it is not one, exactly."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"an activity body is not JSON: {exc}") from exc
    if not isinstance(data, dict) or sorted(data) != sorted(_FIELDS):
        raise ValueError(f"an activity body has exactly the fields {', '.join(_FIELDS)}")
    if not isinstance(data["details"], dict):
        raise ValueError("an activity's details are an object")
    for name in ("action", "actor", "via", "at"):
        if not isinstance(data[name], str):
            raise ValueError(f"an activity's {name} is a string")
    for name in ("address", "subject"):
        if data[name] is not None and not isinstance(data[name], str):
            raise ValueError(f"an activity's {name} is a string or null")
    activity = Activity(
        action=data["action"],
        actor=data["actor"],
        via=data["via"],
        at=datetime.fromisoformat(data["at"]),
        address=data["address"],
        subject=data["subject"],
        details=data["details"],
    )
    if activity_body(activity) != body:
        raise ValueError("an activity body is not in canonical form")
    return activity


def record_activity(
    session: Session,
    activity: Activity,
    *,
    software_version: str = SOFTWARE_VERSION,
) -> Snapshot:
    """Append ``activity`` as the next leaf, in the caller's transaction: the action and its leaf
    are stored together or not at all. Its ``config_hash`` is empty: an action is taken, not
    computed from the configuration."""
    body = activity_body(activity)
    raw = RawResponse(
        source=SOURCE,
        kind=KIND,
        method="LOG",
        url=f"liqrisk:activity/{activity.action}",
        params={"action": activity.action, "actor": activity.actor, "via": activity.via},
        fetched_at=activity.at,
        http_status=200,
        body=body,
    )
    snapshot = new_snapshot(raw, software_version=software_version, config_hash="")
    return append_snapshot(session, snapshot)
