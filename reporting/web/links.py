"""Paths of console pages that are linked from elsewhere.

The full address an alert email or webhook carries is built by
:func:`reporting.notify.intraday_groups.alert_link` from ``[web] base_url`` (the notify stage
comes before this one and cannot import it); a test holds the two to the same path.
"""

from __future__ import annotations


def alert_path(result_id: int) -> str:
    """The console's page of the intraday alert (episode) that result ``result_id`` belongs to."""
    return f"/alerts/{result_id}"
