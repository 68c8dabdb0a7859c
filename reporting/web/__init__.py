"""Web stage: the officer console (``liqrisk serve``), over what the other stages stored.

stored reports, results, intraday alerts, acknowledgements, outbox and evidence ->
server-rendered pages (and the same as JSON under ``/api/``) for authenticated accounts; an
officer's acknowledgement -> the same acknowledgement chain ``liqrisk ack`` writes (for an intraday
alert, the intraday chain), under the account's name, and an activity leaf of the log; an admin's
export -> an audit package kept for download.

* :mod:`~reporting.web.accounts`  accounts and roles: argon2id password hashes, the password
                                  policy, constant-time checks, every change recorded
* :mod:`~reporting.web.sessions`  signed session cookies, idle and absolute expiry, CSRF tokens
* :mod:`~reporting.web.throttle`  failed logins slow the next attempt, per name and address
* :mod:`~reporting.web.views`     what each page shows, as plain data (HTML and JSON alike);
                                  beside it ``history_views`` (limits, deliveries),
                                  ``evidence_views`` (checkpoints, exports, activity),
                                  ``live_views`` (the last hour of the streams) and
                                  ``alert_views`` (intraday alert episodes, their messages)
* :mod:`~reporting.web.exports`   making audit packages (CLI and console), finding the kept ones
* :mod:`~reporting.web.verified_files`  files sent only while they hash to their record, streamed
* :mod:`~reporting.web.common`    what handlers share: the console, pages, errors, activity leaves
* :mod:`~reporting.web.evidence_pages`  the evidence, export, activity and account handlers
* :mod:`~reporting.web.alert_pages`  the intraday alert handlers, an officer's acknowledgement
* :mod:`~reporting.web.links`     console addresses for links from elsewhere (alert emails)
* :mod:`~reporting.web.app`       the Starlette application: routes and roles, headers, the
                                  login and page handlers
"""

from __future__ import annotations
