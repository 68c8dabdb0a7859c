"""The batch writer in a process of its own: reading each frame, the duplicate check, the events,
minute sums and the snapshot's Merkle leaf (:func:`.writer.store_batch`) take several times what
receiving a frame takes, and in the collector's process they would hold its interpreter lock while
frames wait. In a worker process they run beside the receiving loop, on another core.

One worker, so batches are committed one at a time in the order they were sealed (the collector
awaits each before the next). It opens its own handle on the store; a batch travels to it as the
frames' bytes and receive times, and comes back as the :class:`.writer.StoredBatch` summary. The
worker is forked from a server process that has imported this module, so a new pool is ready in a
fraction of a second; if the worker dies (or cannot start: a script calling the collectors
must guard its main code with ``if __name__ == "__main__":``, as multiprocessing requires), the
batch is retried in a writer thread (:mod:`.collector`). Killing the collector ends the worker
(its pipe closes): what was committed stays, as with a thread.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from audit_store.db import Store
from reporting.fetch.streams.writer import PendingBatch, SessionEvent, StoredBatch, store_batch

_store: Store | None = None


def _open(url: str) -> None:
    global _store
    _store = Store(url)


def write_batch_in(
    store: Store | None,
    batch: PendingBatch,
    config_hash: str,
    sessions: Sequence[SessionEvent],
) -> StoredBatch:
    """Store ``batch`` in ``store`` (a writer thread's), or in the worker's own store when
    ``store`` is ``None`` (run in the writer process)."""
    target = store if store is not None else _store
    if target is None:
        raise RuntimeError("the writer process has no store")  # pragma: no cover - initializer
    return store_batch(target, batch, config_hash=config_hash, sessions=sessions)


def ready() -> bool:
    """A no-op task: submitted first, so the worker is started while the streams connect."""
    return _store is not None


def writer_pool(url: str) -> ProcessPoolExecutor:
    """A one-worker pool writing into the store at ``url``."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_open, initargs=(url,)
    )
