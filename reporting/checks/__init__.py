"""Check stage: day metrics against the limit set, stored as results with their evidence.

Takes the stored rows of a day (liquidation volumes, overlays, the second source) and the limit
set; gives :class:`reporting.checks.store.StoredRun` records. Every configured check on every scope
yields exactly one result: ``ok``, ``warn``, ``breach``, or ``error`` when it could not be computed
(no data, no second source, no overlay data, or the check itself failed: a crashing check becomes an
``error`` result, never a dead run). Results are stored with the SHA-256 of the limit set in force,
a detail row (unit, the scope the threshold came from, the figures behind the value, the breach
lifecycle) and, later, acknowledgements.

* :mod:`.metrics`       the current value of every interval, summed per asset and exchange;
* :mod:`.overlay_store` funding, open interest and OKX orders read back from the store;
* :mod:`.limits`        the limit set file: thresholds, scopes, validation;
* :mod:`.catalogue`     the checks, their titles and units;
* :mod:`.measures`      the metrics as pure functions, and the methodology;
* :mod:`.overlays`      the funding-rate and open-interest interface;
* :mod:`.quality`       data-quality checks: gaps, staleness, sums, the OKX cross-check;
* :mod:`.engine`        measuring a day and grading it against the limits;
* :mod:`.store`         runs, lifecycle, acknowledgements and limit-set history in the audit store;
* :mod:`.backtest`      replaying stored history against a candidate limit set;
* :mod:`.calibrate`     proposing thresholds from history.

This ``__init__`` imports nothing: import from the module that defines a name, so that the config
(which reads :mod:`.limits`) never pulls the engine in with it.
"""
