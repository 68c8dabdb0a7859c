"""Every table of the store: importing this module registers them all on ``SQLModel.metadata``.

The first tables (snapshots, interval volumes, check runs and results, artifacts, checkpoints) are
in :mod:`audit_store.models`; the later stages' in ``tables_*`` modules of their own. The store
(:mod:`audit_store.db`) and the migrations import this module, so every migration and schema check
compares against the whole set, and no table module needs to import another to be registered.
"""

from __future__ import annotations

from audit_store import (  # noqa: F401 (imported for the tables they declare)
    models,
    tables_export,
    tables_ingest,
    tables_intraday,
    tables_limits,
    tables_outbox,
    tables_publication,
    tables_schedule,
    tables_timestamps,
    tables_users,
)
