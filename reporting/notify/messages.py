"""Building the emails: the daily report, a run's breach group, and the undeliverable notice.

A breach group's email also lists the day's intraday alerts (:func:`already_alerted`) under
"Already alerted intraday": they were announced as they happened, so the daily email names them,
when they first crossed and who was told, rather than announcing them again as new.

Bodies come from the Jinja2 templates in ``templates/email/`` (``*.html.j2`` autoescaped, so a
scope or exchange code can never add markup). Header values are built by liqrisk and passed through
:func:`header_text`, which drops every control character, so no external string (asset, exchange
code, firm name) can add a header line; the email library refuses CR/LF in headers besides.
Recipients come from validated configuration only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

import jinja2
from sqlmodel import Session

from audit_store import SOFTWARE_VERSION
from reporting.checks.catalogue import CHECK_TITLES, RESULT_UNITS, format_value
from reporting.checks.intraday_alerts import IntradayAlert, read_alerts
from reporting.config import Settings
from reporting.errors import NotifyError
from reporting.notify.lifecycle import BreachEvent
from reporting.notify.records import one_line
from reporting.resources import templates_dir

MAX_HEADER = 200
STATE_ORDER = ("new", "ongoing", "resolved")


@dataclass(frozen=True)
class SignedCheckpoint:
    """The log's signed checkpoint an email carries (``checkpoint.txt``), and what its body says of
    it: whoever keeps the email can later prove nothing before it was changed."""

    checkpoint_id: int
    note: str
    tree_size: int
    root_hash: str  # hex

    def attachment(self) -> Attachment:
        return Attachment("checkpoint.txt", "text/plain", self.note.encode("utf-8"))

    def context(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "root_hash": self.root_hash}


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "application/pdf"
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def record(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": self.sha256,
        }


def header_text(value: str, limit: int = MAX_HEADER) -> str:
    """``value`` made safe for a header: control and separator characters (CR, LF, U+2028, ...)
    become spaces, runs of spaces one, and it is cut at ``limit`` characters."""
    return one_line(value, limit)


def message_id(idempotency_key: str, sender: str) -> str:
    """A Message-ID fixed by the idempotency key: a re-sent message keeps its id."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}.liqrisk@{sender.rsplit('@', 1)[-1]}>"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.0f}"


def _in_unit(value: float | None, check: str) -> str:
    """A result's figure in its check's unit (USD, count, %, bps, hours, intervals)."""
    return "n/a" if value is None else format_value(value, RESULT_UNITS.get(check, "count"))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir() / "email"),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["usd"] = _usd
    env.filters["pct"] = _pct
    return env


def render(template: str, **context: Any) -> str:
    try:
        return _environment().get_template(template).render(**context)
    except jinja2.TemplateError as exc:
        raise NotifyError(f"email template {template}: {exc}") from exc


def build_email(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    msg_id: str,
    when: datetime,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """One RFC 5322 message: text (and HTML) alternatives, then the attachments."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = header_text(subject)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = msg_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    msg["X-Liqrisk-Version"] = header_text(SOFTWARE_VERSION)
    msg.set_content(text, cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
    for item in attachments:
        maintype, _, subtype = item.content_type.partition("/")
        # Bytes go base64, exactly as given (a signed note must verify byte for byte); a text
        # part says its charset, so a mail client shows it right.
        params = {"charset": "utf-8"} if maintype == "text" else None
        msg.add_attachment(
            item.data,
            maintype=maintype,
            subtype=subtype,
            filename=header_text(item.filename),
            params=params,
        )
    return msg


@dataclass(frozen=True)
class EventView:
    """A breach event as the templates show it; every string here is plain text."""

    state: str
    severity: str  # the level whose episode this is
    status: str  # the result's status on the day: breach | warn | ok
    title: str
    asset: str
    exchange: str | None  # "Binance (binc)"
    scope: str
    observed: str
    limit: str
    pct: str
    message: str
    previous_status: str | None


def _event_view(settings: Settings, event: BreachEvent) -> EventView:
    exchange = None
    if event.exchange is not None:
        code = one_line(event.exchange, 60)
        name = one_line(settings.exchange_name(event.exchange), 60)
        exchange = code if name == code else f"{name} ({code})"
    return EventView(
        state=event.state,
        severity=event.severity,
        status=event.status,
        title=CHECK_TITLES.get(event.check, event.check),
        asset=one_line(event.asset, 60),
        exchange=exchange,
        scope=one_line(event.scope, 120),
        observed=_in_unit(event.observed, event.check),
        limit=_in_unit(event.limit, event.check),
        pct=_pct(event.pct_of_limit),
        message=one_line(event.message),
        previous_status=event.previous_status,
    )


@dataclass(frozen=True)
class AlertedView:
    """An intraday alert of the day as the breach email lists it; plain text."""

    status: str  # the episode's level: breach | warn
    limit: str  # "velocity_usd_15m (15-min window)"
    scope: str  # "BTC on Binance (binc)"
    first: str  # "09:08:31 UTC, 900,000 USD"
    state: str  # "resolved 09:36:31 UTC" | "still open at the end of the day"
    told: str  # "risk-desk@example.com (sent 09:09:33 UTC)" | "no one: no route takes it"


def _alert_figure(value: float, measure: str) -> str:
    return f"{value:,.0f} USD" if measure == "usd" else f"{value:,.0f} liquidations"


def _told(alert: IntradayAlert) -> str:
    parts = []
    for n in alert.notices:
        who = ", ".join(one_line(t, 120) for t in n.to)
        who = f"webhook {who}" if n.channel == "webhook" else who
        if n.state == "delivered" and n.at is not None:
            when = f"sent {n.at:%H:%M:%S} UTC"
        elif n.state == "failed":
            when = "failed"
        else:
            when = "not yet sent"
        parts.append(f"{who} ({', '.join(n.events)}: {when})")
    return "; ".join(parts) if parts else "no one: no route or webhook takes its level and asset"


def _alerted_view(settings: Settings, alert: IntradayAlert, day: date) -> AlertedView:
    asset, sep, code = alert.scope.partition("/")
    scope = one_line(asset, 60)
    if sep:
        name = one_line(settings.exchange_name(code), 60)
        scope += f" on {code if name == code else f'{name} ({code})'}"
    first, resolved = alert.first, alert.resolved
    return AlertedView(
        status=alert.status,
        limit=f"{one_line(alert.limit_name, 60)} ({alert.window_minutes}-min window)",
        scope=scope,
        first=f"{first.at:{'%H:%M:%S' if first.at.date() == day else '%Y-%m-%d %H:%M:%S'}} UTC, "
        f"{_alert_figure(first.observed, alert.measure)}",
        state=(
            f"resolved {resolved.at:%H:%M:%S} UTC"
            if resolved is not None
            else "still open at the end of the day"
        ),
        told=_told(alert),
    )


def already_alerted(
    session: Session, settings: Settings, day: date, now: datetime
) -> tuple[AlertedView, ...]:
    """The intraday alerts of ``day`` as stored (:mod:`reporting.checks.intraday_alerts`), for a
    breach email of ``day``: each with its first crossing and who was told, as of ``now``."""
    alerts, _failures = read_alerts(session, [day], as_of=now)
    return tuple(_alerted_view(settings, a, day) for a in alerts)


def _plural(n: int, word: str, plural: str) -> str:
    return f"{n} {word if n == 1 else plural}"


def breach_subject(settings: Settings, day: date, events: Sequence[BreachEvent]) -> str:
    counts = {s: sum(1 for e in events if e.state == s) for s in STATE_ORDER}
    new_assets = sorted({e.asset for e in events if e.state == "new"})
    parts = []
    if counts["new"]:
        shown = ", ".join(new_assets[:5]) + (", ..." if len(new_assets) > 5 else "")
        parts.append(f"{counts['new']} new ({shown})")
    if counts["ongoing"]:
        parts.append(f"{counts['ongoing']} ongoing")
    if counts["resolved"]:
        parts.append(f"{counts['resolved']} resolved")
    worst = "breach" if any(e.severity == "breach" for e in events) else "warning"
    return f"[liqrisk] {settings.firm_name}: {worst} notice {day}: {', '.join(parts)}"


def breach_email(
    settings: Settings,
    day: date,
    events: Sequence[BreachEvent],
    to: Sequence[str],
    *,
    msg_id: str,
    when: datetime,
    checkpoint: SignedCheckpoint | None = None,
    intraday: Sequence[AlertedView] = (),
) -> EmailMessage:
    """One email for a run's breach group: every new, repeated and resolved breach it carries,
    with the log's signed checkpoint attached when there is one. ``intraday``: the day's intraday
    alerts (:func:`already_alerted`), listed as already alerted."""
    views = [_event_view(settings, e) for e in events]
    sections = [(s, [v for v in views if v.state == s]) for s in STATE_ORDER]
    context = {
        "firm": one_line(settings.firm_name),
        "day": day.isoformat(),
        "sections": [(s, vs) for s, vs in sections if vs],
        "repeat_days": settings.notify.repeat_interval.days,
        "version": SOFTWARE_VERSION,
        "checkpoint": checkpoint.context() if checkpoint else None,
        "alerted": list(intraday),
    }
    return build_email(
        sender=settings.email.sender,
        to=to,
        subject=breach_subject(settings, day, events),
        text=render("breaches.txt.j2", **context),
        html=render("breaches.html.j2", **context),
        msg_id=msg_id,
        when=when,
        attachments=(checkpoint.attachment(),) if checkpoint else (),
    )


@dataclass(frozen=True)
class ResultLine:
    status: str
    title: str
    scope: str
    message: str


def report_email(
    settings: Settings,
    day: date,
    results: Iterable[ResultLine],
    pdf: Attachment,
    to: Sequence[str],
    *,
    run_id: int | None,
    msg_id: str,
    when: datetime,
    checkpoint: SignedCheckpoint | None = None,
) -> EmailMessage:
    """The daily report email: counts in the subject, findings in the body, the PDF attached
    (and the log's signed checkpoint, when there is one)."""
    lines = list(results)
    breaches = [r for r in lines if r.status == "breach"]
    warnings = [r for r in lines if r.status == "warn"]
    errors = [r for r in lines if r.status == "error"]
    subject = (
        f"[liqrisk] {settings.firm_name}: risk report {day}: "
        f"{_plural(len(breaches), 'breach', 'breaches')}, "
        f"{_plural(len(warnings), 'warning', 'warnings')}"
    )
    context = {
        "firm": one_line(settings.firm_name),
        "day": day.isoformat(),
        "breaches": breaches,
        "warnings": warnings,
        "errors": errors,
        "pdf": pdf.record(),
        "run_id": run_id,
        "version": SOFTWARE_VERSION,
        "checkpoint": checkpoint.context() if checkpoint else None,
    }
    return build_email(
        sender=settings.email.sender,
        to=to,
        subject=subject,
        text=render("report.txt.j2", **context),
        html=render("report.html.j2", **context),
        msg_id=msg_id,
        when=when,
        attachments=(pdf, checkpoint.attachment()) if checkpoint else (pdf,),
    )


def undeliverable_email(
    settings: Settings,
    *,
    failed_key: str,
    failed_subject: str,
    failed_recipients: Sequence[str],
    target: str,
    attempts: int,
    code: int | None,
    detail: str,
    to: Sequence[str],
    msg_id: str,
    when: datetime,
) -> EmailMessage:
    """The notice to operations that a message was given up."""
    context = {
        "firm": one_line(settings.firm_name),
        "key": failed_key,
        "subject": failed_subject,
        "recipients": list(failed_recipients),
        "target": target,
        "attempts": attempts,
        "code": code,
        "detail": detail,
        "version": SOFTWARE_VERSION,
    }
    return build_email(
        sender=settings.email.sender,
        to=to,
        subject=f"[liqrisk] {settings.firm_name}: undeliverable: {failed_key}",
        text=render("undeliverable.txt.j2", **context),
        html=None,
        msg_id=msg_id,
        when=when,
    )
