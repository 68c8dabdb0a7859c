"""Addresses of console pages, for what links to them from elsewhere (an alert email, a webhook).

Importable without starting the application: it needs the settings only. A link is only made
where ``[web] base_url`` says how officers reach the console (behind its TLS proxy); without it
there is no address to give, and :func:`alert_url` returns None.
"""

from __future__ import annotations

from reporting.config import Settings


def alert_path(result_id: int) -> str:
    """The console's page of the intraday alert (episode) that result ``result_id`` belongs to."""
    return f"/alerts/{result_id}"


def alert_url(settings: Settings, result_id: int) -> str | None:
    """The full address of :func:`alert_path`, or None when ``[web] base_url`` is not set."""
    base = settings.web.base_url
    return f"{base.rstrip('/')}{alert_path(result_id)}" if base else None
