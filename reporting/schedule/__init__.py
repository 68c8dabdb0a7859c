"""The scheduler daemon (``liqrisk run``): every period processed exactly once, even after a crash.

* :mod:`~reporting.schedule.claims`  claim a (job, period) with one atomic INSERT; heartbeats, end
                                     rows, takeover of silent claims, the email to operations
* :mod:`~reporting.schedule.jobs`    the jobs: fetch since the watermarks, the daily report (with
                                     catch-up of missing days), the outbox drain, the checkpoint
* :mod:`~reporting.schedule.daemon`  APScheduler (job store in the same database), signals
* :mod:`~reporting.schedule.status`  what ``liqrisk status`` shows; verify outcomes

Nothing is imported here, so :mod:`reporting.config` and the CLI stay light.
"""
