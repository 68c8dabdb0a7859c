"""Web stage: the officer console (``liqrisk serve``), over what the other stages stored.

stored reports, results, acknowledgements, outbox and evidence -> server-rendered pages (and the
same as JSON under ``/api/``) for authenticated accounts; an officer's acknowledgement -> the same
acknowledgement chain ``liqrisk ack`` writes, under the account's name.

* :mod:`~reporting.web.accounts`  accounts and roles: argon2id password hashes, the password
                                  policy, constant-time checks, every change recorded
* :mod:`~reporting.web.sessions`  signed session cookies, idle and absolute expiry, CSRF tokens
* :mod:`~reporting.web.throttle`  failed logins slow the next attempt, per name and address
* :mod:`~reporting.web.views`     what each page shows, as plain data (HTML and JSON alike)
* :mod:`~reporting.web.app`       the Starlette application: routes and roles, headers, handlers
"""

from __future__ import annotations
