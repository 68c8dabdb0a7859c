"""Two processes appending at once get distinct, consecutive leaf indexes, and the log verifies."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from audit_store.checkpoint import sign_checkpoint
from audit_store.db import Store
from audit_store.note import NoteSigner
from audit_store.verify import verify_store
from tests.store_helpers import append_worker, tiny_derive

pytest_plugins = ["tests.pg"]

PER_WORKER = 40


def _run_two_writers(url: str) -> list[int]:
    store = Store(url)
    store.create_schema()
    store.dispose()
    context = multiprocessing.get_context("spawn")  # no engine or connection crosses a fork
    with context.Manager() as manager, context.Pool(2) as pool:
        start = manager.Barrier(2)
        jobs = [(url, 0, PER_WORKER, start), (url, 1, PER_WORKER, start)]
        results = pool.starmap(append_worker, jobs)
    return sorted(results[0] + results[1])


def _assert_log_is_whole(url: str) -> None:
    store = Store(url)
    try:
        signer = NoteSigner.generate("liqrisk.example/audit-log")
        checkpoint = sign_checkpoint(store, signer, "liqrisk.example/audit-log")
        assert checkpoint.tree_size == 2 * PER_WORKER
        report = verify_store(store, tiny_derive)
        assert report.ok, report.summary_lines()
        assert report.leaves == 2 * PER_WORKER
    finally:
        store.dispose()


def test_concurrent_writers_on_postgresql(pg_url: str) -> None:
    assert _run_two_writers(pg_url) == list(range(2 * PER_WORKER))
    _assert_log_is_whole(pg_url)


def test_concurrent_writers_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    assert _run_two_writers(url) == list(range(2 * PER_WORKER))
    _assert_log_is_whole(url)
