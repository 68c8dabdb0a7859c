"""Retention: reported, bounded, and never a deletion."""

from __future__ import annotations

from datetime import timedelta

import pytest

from audit_store.db import Store
from audit_store.retention import (
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
    retention_report,
    validate_retention_days,
)
from audit_store.verify import verify_store
from tests.store_helpers import EPOCH, fill, tiny_derive

pytest_plugins = ["tests.pg"]


def test_bounds() -> None:
    assert validate_retention_days(DEFAULT_RETENTION_DAYS) == DEFAULT_RETENTION_DAYS
    assert DEFAULT_RETENTION_DAYS >= 5 * 365 and MAX_RETENTION_DAYS <= 7 * 366
    for bad in (0, -1, MAX_RETENTION_DAYS + 1):
        with pytest.raises(ValueError, match="retention_days"):
            validate_retention_days(bad)


def test_report_counts_what_passed_retention_and_deletes_nothing(any_store: Store) -> None:
    fill(any_store, 10)  # fetched over the first 20 hours after EPOCH, 5 minutes past each page
    now = EPOCH + timedelta(days=30, hours=10)
    report = retention_report(any_store, 30, now=now)
    assert report.cutoff == EPOCH + timedelta(hours=10)
    assert (report.snapshots, report.pruned) == (4, 0)
    assert report.rows == 4 * 2 * 3  # leaves 0..3: none quarantined
    assert "nothing pruned" in "\n".join(report.summary_lines())
    assert verify_store(any_store, tiny_derive).leaves == 10
