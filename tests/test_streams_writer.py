"""Where batches are written: the writer process by default, a thread where asked (or where a
process cannot reach the store), and a thread after the writer process dies, with nothing lost."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from audit_store.db import Store
from reporting.fetch.streams.runner import run_streams
from reporting.fetch.streams.writer import StoredBatch
from tests.stream_helpers import frames_at_least, new_store, rows, specs_for, stream_settings
from tests.test_streams_collect import _verified
from tests.ws_venues import VenueServer, binance_frame, venue_server

MS = 1_761_125_802_306


def _frames(n: int, offset: int = 0) -> list[str]:
    return [binance_frame("BTCUSDT", "SELL", "0.1", "100000", MS + offset + i) for i in range(n)]


def _collect(
    tmp_path: Path,
    script: Sequence[tuple[object, ...]],
    n: int,
    *,
    kill_first: bool = False,
    **streams: object,
) -> tuple[list[StoredBatch], Store]:
    written: list[StoredBatch] = []

    def on_batch(_spec: object, stored: StoredBatch, _seconds: float) -> None:
        written.append(stored)
        if kill_first and len(written) == 1 and stored.written_by != os.getpid():
            os.kill(stored.written_by, signal.SIGKILL)  # the writer process dies, idle

    store = new_store(tmp_path)
    with venue_server(VenueServer("binance", [script])) as url:
        settings = stream_settings(binance_url=url, **streams)
        specs = specs_for(settings, "binance")
        asyncio.run(
            run_streams(
                store, settings, specs, seconds=20, until=frames_at_least(n), on_batch=on_batch
            )
        )
    return written, store


def test_batches_are_written_by_the_writer_process(tmp_path: Path) -> None:
    script = [("send", f) for f in _frames(5)]
    written, store = _collect(tmp_path, script, 5)
    assert written and all(b.written_by not in (0, os.getpid()) for b in written)
    assert rows(store, "SELECT count(*) FROM stream_event")[0][0] == 5
    _verified(store)


def test_the_thread_writer_writes_the_same(tmp_path: Path) -> None:
    script = [("send", f) for f in _frames(5)]
    written, store = _collect(tmp_path, script, 5, writer="thread")
    assert written and all(b.written_by == os.getpid() for b in written)
    assert rows(store, "SELECT count(*) FROM stream_event")[0][0] == 5
    _verified(store)


def test_a_killed_writer_process_is_replaced_by_a_thread_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    first, second = _frames(3), _frames(4, offset=100)
    script = [*(("send", f) for f in first), ("sleep", 1.2), *(("send", f) for f in second)]
    written, store = _collect(tmp_path, script, 7, kill_first=True)
    writers = [b.written_by for b in written]
    assert writers[0] != os.getpid() and writers[-1] == os.getpid()  # then the thread
    counted = rows(store, "SELECT sum(counted), count(*) FROM stream_event")[0]
    assert tuple(counted) == (7, 7)
    _verified(store)
