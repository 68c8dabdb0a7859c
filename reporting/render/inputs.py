"""``ReportInputs``: the fixed point in the store's history a report is read at.

The store only grows (new snapshots, new check runs, new acknowledgements), so "the same store" a
report was rendered from is named by a few numbers taken at the start of every render: the number
of leaves in the log, the check run shown for each covered day, the newest acknowledgement, and the
generation time. :func:`~reporting.render.context.build_report` reads nothing beyond them, so
rendering again from the same inputs later gives the same bytes (``liqrisk reproduce``).

The configuration's hash and the limit set's, as they were at render time, are recorded too: the
report compares the runs' hashes with them ("differs from the configuration now"), and
``liqrisk reproduce`` says when the configuration has changed since, which alone can change the
bytes (firm name, exchange names, limits shown). Inputs written before these were recorded
(format ``v1``) are still read; their reports compare with the configuration at reproduction.

Format ``v3`` adds the bounds of the "Intraday alerts" section (:mod:`.intraday`): the newest
intraday acknowledgement, outbox message and outbox attempt, so the section shows who was told
and who acknowledged as the render saw it. Inputs of the formats before it were taken by a
renderer without the section, and are reproduced without it.

The inputs are written beside the report as canonical JSON (``<stem>.inputs.json``) and their
SHA-256 is registered with the HTML's and the PDF's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, select
from sqlmodel import col

from audit_store import SOFTWARE_VERSION
from audit_store.canonical import canonical_json, utc_iso
from audit_store.db import Store
from audit_store.models import CheckRun
from audit_store.snapshots import log_size
from audit_store.tables_intraday import IntradayAcknowledgement
from audit_store.tables_limits import Acknowledgement
from audit_store.tables_outbox import OutboxAttempt, OutboxMessage
from reporting.checks.intraday_alerts import AlertBounds
from reporting.checks.store import limit_set_hash, of_source
from reporting.config import Settings
from reporting.errors import RenderError
from reporting.render.model import Period

INPUTS_FORMAT = "liqrisk.report-inputs.v3"
_READABLE_FORMATS = ("liqrisk.report-inputs.v1", "liqrisk.report-inputs.v2", INPUTS_FORMAT)


def period_days(day: date, period: Period) -> tuple[date, ...]:
    """The UTC days a report covers: the day, or the seven days ending on it."""
    if period == "day":
        return (day,)
    if period == "week":
        return tuple(day - timedelta(days=n) for n in range(6, -1, -1))
    raise RenderError(f"unknown report period {period!r}; choose day or week")


@dataclass(frozen=True)
class ReportInputs:
    """What a render reads the store as of; see the module docstring."""

    generated_at: datetime  # UTC; also the PDF's creation date
    period: Period
    day: date
    tree_size: int  # leaves in the log at render time: snapshots with leaf_index < tree_size
    runs: tuple[tuple[date, int | None], ...]  # the check run shown per covered day (None: none)
    max_ack_id: int  # acknowledgements with id <= this (0: none)
    software_version: str
    config_hash: str | None = None  # Settings.config_hash() at render time (None: format v1)
    limit_set_sha256: str | None = None  # the limit set in force at render time (None: v1)
    intraday: AlertBounds | None = None  # None: format v1 or v2, rendered without the section

    def run_id(self, day: date) -> int | None:
        return dict(self.runs).get(day)

    def to_json(self) -> bytes:
        return canonical_json(
            {
                "format": INPUTS_FORMAT,
                "generated_at": utc_iso(self.generated_at),
                "period": self.period,
                "day": self.day.isoformat(),
                "tree_size": self.tree_size,
                "runs": [{"day": d.isoformat(), "run_id": r} for d, r in self.runs],
                "max_ack_id": self.max_ack_id,
                "software_version": self.software_version,
                "config_hash": self.config_hash,
                "limit_set_sha256": self.limit_set_sha256,
                **({} if self.intraday is None else {"intraday": self.intraday.to_json()}),
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> ReportInputs:
        try:
            doc = json.loads(data)
            if doc.get("format") not in _READABLE_FORMATS:
                raise ValueError(f"format is {doc.get('format')!r}, not {INPUTS_FORMAT!r}")
            config_hash, limit_set = doc.get("config_hash"), doc.get("limit_set_sha256")
            period = doc["period"]
            if period not in ("day", "week"):
                raise ValueError(f"period {period!r}")
            runs = tuple(
                (date.fromisoformat(r["day"]), None if r["run_id"] is None else int(r["run_id"]))
                for r in doc["runs"]
            )
            generated = datetime.fromisoformat(str(doc["generated_at"]).replace("Z", "+00:00"))
            bounds = doc.get("intraday") if doc["format"] == INPUTS_FORMAT else None
            if doc["format"] == INPUTS_FORMAT and not isinstance(bounds, dict):
                raise ValueError("format v3 names the intraday section's bounds")
            intraday = (
                None
                if bounds is None
                else AlertBounds(
                    int(bounds["ack_id"]), int(bounds["message_id"]), int(bounds["attempt_id"])
                )
            )
            return cls(
                generated_at=generated.astimezone(UTC),
                period=cast(Period, period),
                day=date.fromisoformat(doc["day"]),
                tree_size=int(doc["tree_size"]),
                runs=runs,
                max_ack_id=int(doc["max_ack_id"]),
                software_version=str(doc["software_version"]),
                config_hash=None if config_hash is None else str(config_hash),
                limit_set_sha256=None if limit_set is None else str(limit_set),
                intraday=intraday,
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RenderError(f"unreadable report inputs: {exc}") from exc


def capture_inputs(
    store: Store,
    settings: Settings,
    day: date,
    *,
    period: Period = "day",
    now: datetime | None = None,
) -> ReportInputs:
    """The inputs of a render starting now: the store's current extent and the configuration's
    hashes, fixed."""
    generated_at = (now or datetime.now(UTC)).astimezone(UTC)
    days = period_days(day, period)
    with store.session() as session:
        tree_size = log_size(session)
        acks: Any = session.execute(select(func.max(col(Acknowledgement.id)))).scalar()
        intraday = AlertBounds(
            *(
                int(session.execute(select(func.max(col(c)))).scalar() or 0)
                for c in (IntradayAcknowledgement.id, OutboxMessage.id, OutboxAttempt.id)
            )
        )
        run_rows = session.execute(
            select(col(CheckRun.day), func.max(col(CheckRun.id)))
            .where(col(CheckRun.day).in_(days), of_source(settings.fetch.default_source))
            .group_by(col(CheckRun.day))
        ).all()
    latest = {d: int(r) for d, r in run_rows}
    return ReportInputs(
        generated_at=generated_at,
        period=period,
        day=day,
        tree_size=tree_size,
        runs=tuple((d, latest.get(d)) for d in days),
        max_ack_id=0 if acks is None else int(acks),
        software_version=SOFTWARE_VERSION,
        config_hash=settings.config_hash(),
        limit_set_sha256=limit_set_hash(settings),
        intraday=intraday,
    )
