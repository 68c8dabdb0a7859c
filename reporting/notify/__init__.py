"""Notify stage: the daily report email, breach notices and webhooks, via a transactional outbox.

check results + report -> enqueue (in the caller's transaction) -> ``outbox_*`` rows -> drain ->
SMTP, ``.eml`` files (no SMTP host) or webhook POSTs; every attempt recorded.

* :mod:`~reporting.notify.lifecycle` which breaches are new, ongoing or resolved on a day
* :mod:`~reporting.notify.messages`  the emails (Jinja2 templates in ``templates/email/``)
* :mod:`~reporting.notify.outbox`    enqueue and drain, retries with exponential backoff
* :mod:`~reporting.notify.smtp`      SMTP (STARTTLS, implicit TLS, login) and the ``.eml`` drop
* :mod:`~reporting.notify.webhook`   signed JSON POSTs
* :mod:`~reporting.notify.history`   what was sent to whom, when
"""

from __future__ import annotations

from reporting.notify.history import find_message, list_outbox
from reporting.notify.lifecycle import BreachEvent, breach_events
from reporting.notify.outbox import (
    default_mail_transport,
    drain,
    enqueue_breach_notices,
    enqueue_daily_report,
)
from reporting.notify.records import DrainReport, OutboxEntry
from reporting.notify.smtp import EmlDirectory, SmtpTransport
from reporting.notify.webhook import sign, verify_signature

__all__ = [
    "BreachEvent",
    "DrainReport",
    "EmlDirectory",
    "OutboxEntry",
    "SmtpTransport",
    "breach_events",
    "default_mail_transport",
    "drain",
    "enqueue_breach_notices",
    "enqueue_daily_report",
    "find_message",
    "list_outbox",
    "sign",
    "verify_signature",
]
