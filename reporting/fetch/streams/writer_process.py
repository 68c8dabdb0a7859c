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
batch is retried in a writer thread (:mod:`.collector`). A worker does not notice on its own
that the collector died (it holds its own queue's pipes open): it watches the collector's process
and, once that is gone (killed with SIGKILL, say), finishes the batch it is writing and exits, so
no orphan keeps the store open. What was committed stays, as with a thread.

A batch hook (:data:`.writer.BatchHook`, the intraday limits) travels to the worker once, when the
pool starts, so it must pickle; a writer thread is handed it with each batch.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from audit_store.db import Store
from reporting.fetch.streams.writer import (
    BatchHook,
    PendingBatch,
    SessionEvent,
    StoredBatch,
    store_batch,
)

_store: Store | None = None
_hook: BatchHook | None = None
_writing = threading.Lock()  # held while a batch is written: the watcher exits between batches
WATCH_SECONDS = 1.0


def _open(url: str, collector_pid: int, hook: BatchHook | None = None) -> None:
    global _store, _hook
    _store = Store(url)
    _hook = hook
    watcher = threading.Thread(
        target=_watch_collector, args=(collector_pid,), name="liqrisk-writer-watch", daemon=True
    )
    watcher.start()


def _watch_collector(pid: int) -> None:
    while process_alive(pid):
        time.sleep(WATCH_SECONDS)
    with _writing:  # the batch being written, if any, is committed first
        os._exit(0)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc: kill(pid, 0) said it exists


def write_batch_in(
    store: Store | None,
    batch: PendingBatch,
    config_hash: str,
    sessions: Sequence[SessionEvent],
    hook: BatchHook | None = None,
) -> StoredBatch:
    """Store ``batch`` in ``store`` (a writer thread's, running ``hook``), or in the worker's own
    store when ``store`` is ``None`` (run in the writer process, with the pool's hook)."""
    if store is not None:
        return store_batch(store, batch, config_hash=config_hash, sessions=sessions, after=hook)
    if _store is None:
        raise RuntimeError("the writer process has no store")  # pragma: no cover - initializer
    with _writing:
        return store_batch(_store, batch, config_hash=config_hash, sessions=sessions, after=_hook)


def ready() -> bool:
    """A no-op task: submitted first, so the worker is started while the streams connect."""
    return _store is not None


def writer_pool(url: str, hook: BatchHook | None = None) -> ProcessPoolExecutor:
    """A one-worker pool writing into the store at ``url``, running ``hook`` on each batch."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return ProcessPoolExecutor(
        max_workers=1, mp_context=context, initializer=_open, initargs=(url, os.getpid(), hook)
    )
