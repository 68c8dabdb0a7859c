"""The collectors: one asyncio task per stream, keeping its connection up and its frames stored.

Per stream (:class:`~.venues.StreamSpec`):

* connect with the ``websockets`` client (protocol pings answered by the library), send the
  subscriptions, send the venue's own keep-alive (Bybit ``{"op":"ping"}``, OKX ``ping``);
* every frame goes, byte for byte with its receive time, into the stream's open batch; a batch is
  sealed and committed every ``flush_seconds`` or at ``batch_frames`` frames, whichever first,
  by the writer process (:mod:`.writer_process`, :func:`.writer.store_batch`), while the loop
  goes on receiving on another core;
* a connection silent for ``idle_seconds`` (not even a pong) is dropped and replaced; a server that
  closes or a network that fails is reconnected at once the first time (a gap is lost data), then
  with a doubling backoff with jitter up to ``max_retry_seconds``;
* before a venue's connection lifetime ends (Binance: 24 h) the next connection is opened, both
  read for ``overlap_seconds``, then the old one is closed: the overlap's events are stored twice
  and counted once (:mod:`.writer`), so the rollover loses nothing;
* every connect, acknowledgement, refusal and disconnect (with its reason) is a ``stream_session``
  row; a collector that died without recording its disconnect (``kill -9``) is found by the next
  one, which records the gap.

Frames that were received but not yet committed when the process is killed are lost; everything
committed stays, and the gap says from when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from audit_store import SOFTWARE_VERSION
from audit_store.db import Store
from audit_store.errors import StoreError
from reporting.fetch.streams.frames import encode_batch
from reporting.fetch.streams.lease import holder_name, release, try_hold
from reporting.fetch.streams.reading import unclosed_sessions
from reporting.fetch.streams.settings import Streams
from reporting.fetch.streams.venues import StreamSpec
from reporting.fetch.streams.writer import (
    BatchHook,
    PendingBatch,
    SessionEvent,
    StoredBatch,
    record_sessions,
)
from reporting.fetch.streams.writer_process import ready, write_batch_in, writer_pool

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def retry_delays(first: float, ceiling: float) -> Iterator[float]:
    """The waits before each reconnect after a failure: the first within ``first`` seconds (a
    gap is lost data), then doubling with jitter up to ``ceiling``."""
    yield random.uniform(0, first)  # noqa: S311 - jitter, not a secret
    delay = max(first, 0.5)
    while True:
        delay = min(delay * 2, ceiling)
        yield random.uniform(delay / 2, delay)  # noqa: S311


@dataclass
class StreamStats:
    """What one stream did in this run."""

    stream: str
    connections: int = 0
    frames: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0
    disconnects: list[str] = field(default_factory=list)
    connect_failures: int = 0
    last_failure: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "connections": self.connections,
            "frames": self.frames,
            "events": self.events,
            "duplicates_dropped": self.duplicates,
            "rejected_frames": self.rejected,
            "batches": self.batches,
            "disconnects": list(self.disconnects),
            "connect_failures": self.connect_failures,
            "last_failure": self.last_failure,
        }


@dataclass
class _Connection:
    spec: StreamSpec
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    opened: float = field(default_factory=time.monotonic)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    retire_reason: str | None = None
    acks: int = 0
    refusals: list[str] = field(default_factory=list)
    connected: bool = False
    received: int = 0  # frames so far: the watchdog's sign of life
    ended_by: str | None = None  # why the watchdog closed the connection


class Collector:
    """Runs the streams of ``specs`` into ``store`` until :meth:`run`'s ``stop`` is set."""

    def __init__(
        self,
        store: Store,
        specs: list[StreamSpec],
        config: Streams,
        *,
        config_hash: str,
        clock: Clock = _utc_now,
        on_batch: Callable[[StreamSpec, StoredBatch, float], None] | None = None,
        after_batch: BatchHook | None = None,
    ) -> None:
        self.store = store
        self.after_batch = after_batch  # run in each batch's transaction (intraday limits)
        self.specs = specs
        self.config = config
        self.config_hash = config_hash
        self.clock = clock
        self.on_batch = on_batch
        self.stats = {s.stream: StreamStats(s.stream) for s in specs}
        self._frames: dict[str, list[tuple[datetime, str, bytes]]] = {s.stream: [] for s in specs}
        self._sessions: list[SessionEvent] = []
        self._connections: dict[str, _Connection] = {}
        self._full = asyncio.Event()
        self.holder = holder_name()
        self._held = {s.stream: False for s in specs}
        # Leases and connection records: small, in a thread. Batches: in the writer process
        # (:mod:`.writer_process`), or in a thread of their own where a process cannot reach the
        # store (an in-memory database) or the configuration asks for it.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqrisk-store")
        self._batches: Executor | None = None  # started by run(), beside the first connects
        self._starting: asyncio.Future[Executor] | None = None

    def _batch_executor(self) -> Executor:
        url = make_url(self.store.url)
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        if self.config.writer == "process" and not in_memory:
            pool = writer_pool(self.store.url, self.after_batch)
            try:
                pool.submit(ready).result(timeout=60)  # the worker up before the first batch
                return pool
            except Exception as exc:  # no process: a thread does the same work
                log.error("the writer process did not start (%s); writing in a thread", exc)
                pool.shutdown(wait=False, cancel_futures=True)
        return _writer_thread()

    async def _executor(self) -> Executor:
        """The batch writer, once started by :meth:`run` (the first call waits for it)."""
        if self._batches is None:
            assert self._starting is not None, "run() starts the writer"
            self._batches = await self._starting
        return self._batches

    # -- the run

    async def run(self, stop: asyncio.Event) -> dict[str, StreamStats]:
        """Collect until ``stop`` is set; then close every connection (recording why), seal and
        commit the open batches."""
        loop = asyncio.get_running_loop()
        self._starting = loop.run_in_executor(None, self._batch_executor)  # while connecting
        streams = [asyncio.create_task(self._stream(spec, stop)) for spec in self.specs]
        flusher = asyncio.create_task(self._flusher(stop))
        renewer = asyncio.create_task(self._renew(stop))
        try:
            await asyncio.gather(*streams)
        finally:
            for task in streams:
                task.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
            stop.set()
            await flusher
            await renewer
            await self._flush()  # what the last connections recorded on the way out
            for spec in self.specs:
                if self._held[spec.stream]:
                    await loop.run_in_executor(
                        self._writer, release, self.store, spec.stream, self.holder
                    )
            self._writer.shutdown(wait=True)
            (await self._executor()).shutdown(wait=True)
        return self.stats

    # -- the lease

    async def _hold(self, spec: StreamSpec, stop: asyncio.Event) -> bool:
        """Wait until this collector holds the stream's lease (False: stopped first)."""
        loop = asyncio.get_running_loop()
        seconds = self.config.lease_seconds
        while not stop.is_set():
            got = await loop.run_in_executor(
                self._writer, try_hold, self.store, spec.stream, self.holder, seconds
            )
            if got is not None:
                self._held[spec.stream] = True
                if got == "acquired":
                    gaps = await loop.run_in_executor(self._writer, self._gaps_left, spec)
                    self._sessions.extend(gaps)
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=seconds / 3)
        return False

    async def _renew(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        seconds = self.config.lease_seconds
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=seconds / 3)
            for spec in self.specs:
                if stop.is_set() or not self._held[spec.stream]:
                    continue
                try:
                    got = await loop.run_in_executor(
                        self._writer, try_hold, self.store, spec.stream, self.holder, seconds
                    )
                except StoreError as exc:
                    log.error("stream %s: lease not renewed: %s", spec.stream, exc)
                    continue
                if got is None:
                    log.error("stream %s: the lease was taken over; dropping it", spec.stream)
                    self._held[spec.stream] = False

    def _gaps_left(self, spec: StreamSpec) -> list[SessionEvent]:
        """The gaps the stream's previous collector left: connections it never closed."""
        return [
            SessionEvent(
                spec.stream,
                spec.venue,
                connection,
                "gap",
                last,
                f"the collector on {host} ended without recording a disconnect "
                f"(killed?); nothing after {last.isoformat()} was stored from it",
            )
            for connection, host, last in unclosed_sessions(self.store, spec)
        ]

    # -- one stream

    async def _stream(self, spec: StreamSpec, stop: asyncio.Event) -> None:
        delays: Iterator[float] | None = None
        while not stop.is_set():
            if not self._held[spec.stream] and not await self._hold(spec, stop):
                break
            current = _Connection(spec)
            task = asyncio.create_task(self._connection(current, stop))
            while True:
                task, current = await self._until_rollover(spec, task, current, stop)
                if task.done():
                    break
            if stop.is_set():
                break
            if current.subscribed.is_set():
                delays = None  # it worked: the next failure starts the backoff again
            if delays is None:
                delays = retry_delays(
                    self.config.first_retry_seconds, self.config.max_retry_seconds
                )
            wait = next(delays)
            if current.refusals and not current.acks:
                wait = self.config.max_retry_seconds  # refused: asking again at once will not help
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def _until_rollover(
        self,
        spec: StreamSpec,
        task: asyncio.Task[None],
        current: _Connection,
        stop: asyncio.Event,
    ) -> tuple[asyncio.Task[None], _Connection]:
        """Wait for the connection to end, or replace it before its lifetime runs out."""
        if spec.rollover_seconds is None:
            await asyncio.wait({task})
            return task, current
        left = spec.rollover_seconds - (time.monotonic() - current.opened)
        done, _ = await asyncio.wait({task}, timeout=max(left, 0.0))
        if done or stop.is_set():
            if not done:
                await asyncio.wait({task})
            return task, current
        successor = _Connection(spec)
        successor_task = asyncio.create_task(self._connection(successor, stop))
        waiting = asyncio.create_task(successor.subscribed.wait())
        await asyncio.wait({waiting, successor_task, task}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if not successor.subscribed.is_set():
            if not successor_task.done():
                successor.retire_reason = "rollover: the old connection ended first"
                await asyncio.wait({successor_task})
            current.opened = time.monotonic() - spec.rollover_seconds + 5.0  # try again soon
            return task, current
        await asyncio.sleep(self.config.overlap_seconds)  # both read: the overlap is de-duplicated
        current.retire_reason = f"rollover: replaced by connection {successor.id}"
        await asyncio.wait({task})
        return successor_task, successor

    async def _connection(self, conn: _Connection, stop: asyncio.Event) -> None:
        spec = conn.spec
        stats = self.stats[spec.stream]
        reason = "ended"
        try:
            async with connect(
                spec.url,
                open_timeout=10,
                close_timeout=2,
                max_size=self.config.max_message_bytes,
                user_agent_header=f"liqrisk/{SOFTWARE_VERSION}",
            ) as ws:
                conn.connected = True
                stats.connections += 1
                self._connections[conn.id] = conn
                self._session(conn, "connect", spec.url)
                for message in spec.subscribe:
                    await ws.send(message)
                if not spec.expects_ack:
                    conn.subscribed.set()
                    self._session(conn, "subscribed", "raw stream: no acknowledgement is sent")
                reason = await self._receive(conn, ws, stop)
                await ws.close()
        except ConnectionClosed as exc:
            reason = _closed_reason(exc)
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            reason = f"cannot connect: {type(exc).__name__}: {exc}"[:300]
        finally:
            if conn.connected:
                self._session(conn, "disconnect", reason)
                stats.disconnects.append(reason)
            else:
                self._session(conn, "connect_failed", reason)
                stats.connect_failures += 1
                stats.last_failure = reason
            self._connections.pop(conn.id, None)

    async def _receive(self, conn: _Connection, ws: ClientConnection, stop: asyncio.Event) -> str:
        """Append every frame to the stream's open batch until the connection ends; the watchdog
        (:meth:`_watch`) closes it when it should end, so a frame costs one ``recv`` and no
        timer."""
        frames = self._frames[conn.spec.stream]
        limit = self.config.batch_frames
        clock, full, ident = self.clock, self._full, conn.id
        watchdog = asyncio.create_task(self._watch(conn, ws, stop))
        try:
            while True:
                try:
                    data = await ws.recv(decode=False)
                except ConnectionClosed:
                    if conn.ended_by is not None:
                        return conn.ended_by
                    raise
                frames.append((clock(), ident, data))
                conn.received += 1
                if len(frames) >= limit:
                    full.set()
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await watchdog

    async def _watch(self, conn: _Connection, ws: ClientConnection, stop: asyncio.Event) -> None:
        """Every quarter second: close the connection when the run stops, the connection is
        retired (rollover), the lease is lost, every subscription was refused or nothing came for
        ``idle_seconds``; send the venue's keep-alive when due."""
        spec = conn.spec
        seen, alive = conn.received, time.monotonic()
        next_ping = alive + spec.ping_seconds if spec.ping_seconds else None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.25)
            now = time.monotonic()
            if conn.received != seen:
                seen, alive = conn.received, now
            reason = self._why_end(conn, stop)
            if reason is None and now - alive > spec.idle_seconds:
                reason = f"idle: no frame for {spec.idle_seconds:g} s"
            if reason is not None:
                conn.ended_by = reason
                await ws.close()
                return
            if next_ping is not None and now >= next_ping and spec.ping_message:
                await ws.send(spec.ping_message)
                next_ping = now + (spec.ping_seconds or 0)

    def _why_end(self, conn: _Connection, stop: asyncio.Event) -> str | None:
        spec = conn.spec
        if stop.is_set():
            return "stopped"
        if conn.retire_reason:
            return conn.retire_reason
        if not self._held[spec.stream]:
            return "lease lost: another collector holds the stream"
        if conn.refusals and not conn.acks and len(conn.refusals) >= len(spec.subscribe):
            return "subscription refused: " + "; ".join(conn.refusals)[:300]
        return None

    def _session(self, conn: _Connection, event: str, detail: str = "") -> None:
        spec = conn.spec
        self._sessions.append(
            SessionEvent(spec.stream, spec.venue, conn.id, event, self.clock(), detail)
        )

    # -- committing

    async def _flusher(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(self._full.wait(), timeout=self.config.flush_seconds)
            except TimeoutError:
                pass
            self._full.clear()
            await self._flush()

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.config.batch_frames
        for spec in self.specs:
            frames = self._frames[spec.stream]
            pending = len(frames)  # what came since the last flush; later frames wait their turn
            while pending > 0:
                size = min(limit, pending)  # a writer that fell behind still seals at ``limit``
                taken = frames[:size]
                del frames[:size]
                pending -= size
                sessions, self._sessions = self._sessions, []
                # Encoded here, beside the receiving loop, so the writer process (the busier
                # side on a busy stream) has a share less to do.
                body = encode_batch(taken)
                params = dict(spec.params)
                batch = PendingBatch(spec.stream, spec.kind, spec.url, params, taken, body)
                writer = await self._executor()
                started = time.monotonic()
                try:
                    stored = await loop.run_in_executor(
                        writer,
                        write_batch_in,
                        self._store_for_thread,
                        batch,
                        self.config_hash,
                        sessions,
                        None if self._store_for_thread is None else self.after_batch,
                    )
                except (StoreError, BrokenExecutor) as exc:  # keep the frames, retry next tick
                    log.error("stream %s: batch not stored, retrying: %s", spec.stream, exc)
                    frames[:0] = taken
                    self._sessions[:0] = sessions
                    if isinstance(exc, BrokenExecutor):  # the writer process died or never
                        # started: go on in a thread, as a process that failed once may again
                        writer.shutdown(wait=False)
                        self._batches = _writer_thread()
                    break
                self._account(spec, stored, time.monotonic() - started)
        if self._sessions:
            sessions, self._sessions = self._sessions, []
            try:
                await loop.run_in_executor(self._writer, record_sessions, self.store, sessions)
            except StoreError as exc:
                log.error("connection records not stored, retrying: %s", exc)
                self._sessions[:0] = sessions

    @property
    def _store_for_thread(self) -> Store | None:
        """The store a thread writes batches with; ``None`` for the writer process (its own)."""
        return None if isinstance(self._batches, ProcessPoolExecutor) else self.store

    def _account(self, spec: StreamSpec, stored: StoredBatch, seconds: float) -> None:
        stats = self.stats[spec.stream]
        stats.batches += 1
        stats.frames += stored.frames
        stats.events += stored.events
        stats.duplicates += stored.duplicates
        stats.rejected += stored.rejected
        for connection, control, detail, at in stored.controls:
            conn = self._connections.get(connection)
            event = SessionEvent(spec.stream, spec.venue, connection, control, at, detail)
            if control == "subscribed":
                if conn is not None:
                    conn.acks += 1
                    if conn.subscribed.is_set():
                        continue
                    conn.subscribed.set()
                self._sessions.append(event)
            else:
                if conn is not None:
                    conn.refusals.append(detail or "refused")
                self._sessions.append(event)
        if self.on_batch is not None:
            self.on_batch(spec, stored, seconds)


def _writer_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="liqrisk-writer")


def _closed_reason(exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost: closed without a close frame"
    who = "the server" if exc.rcvd is not None else "liqrisk"
    text = f": {frame.reason}" if frame.reason else ""
    return f"closed by {who}: code {frame.code}{text}"[:300]
