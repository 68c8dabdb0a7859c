"""What one batch of frames yields: a pure function of the snapshot, which ``verify`` re-runs.

Each frame is read by its venue's reader; a frame that breaks the venue's format (or is larger
than :data:`MAX_FRAME_BYTES`) becomes a ``stream_rejected_frame`` row with the reason, the frame
itself staying in the batch. A body that is not a batch at all quarantines the snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from audit_store.snapshots import SnapshotRecord
from reporting.fetch.sources.binance import stream as binance
from reporting.fetch.sources.bybit import stream as bybit
from reporting.fetch.sources.derived import Derived, SchemaViolation, snapshot_params
from reporting.fetch.sources.okx import stream as okx
from reporting.fetch.streams.frames import Frame, FrameReading, decode_batch
from reporting.records import Derivation

MAX_FRAME_BYTES = 64 * 1024  # no documented liquidation frame comes near; larger ones are refused

Reader = Callable[[bytes, Mapping[str, str]], FrameReading]
READERS: Mapping[str, tuple[str, Reader]] = {
    binance.KIND: (binance.VENUE, binance.read_frame),
    binance.COINM_KIND: (binance.VENUE, binance.read_coinm_frame),
    bybit.KIND: (bybit.VENUE, bybit.read_frame),
    okx.KIND: (okx.VENUE, okx.read_frame),
}
"""Snapshot kind -> (venue, frame reader)."""
STREAM_KINDS = frozenset(READERS)


class FrameResult(NamedTuple):  # one per frame: a tuple is made fastest
    frame: Frame
    reading: FrameReading | None
    rejected: str | None


def read_batch(kind: str, body: bytes, params: Mapping[str, str]) -> list[FrameResult]:
    """Every frame of the batch with its reading or the reason it was rejected."""
    return read_frames(kind, decode_batch(body), params)


def read_frames(kind: str, frames: Iterable[Frame], params: Mapping[str, str]) -> list[FrameResult]:
    """:func:`read_batch` of frames already in hand (the writer's, which it has just encoded
    into the body: what verify decodes from that body is the same frames)."""
    _venue, reader = READERS[kind]
    results = []
    for frame in frames:
        if len(frame.data) > MAX_FRAME_BYTES:
            reason = f"frame of {len(frame.data)} bytes is over the {MAX_FRAME_BYTES}-byte limit"
            results.append(FrameResult(frame, None, reason))
            continue
        try:
            results.append(FrameResult(frame, reader(frame.data, params), None))
        except SchemaViolation as exc:
            results.append(FrameResult(frame, None, str(exc)[:500]))
    return results


def rows_of(venue: str, results: list[FrameResult]) -> dict[str, tuple[dict[str, Any], ...]]:
    events: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for result in results:
        frame = result.frame
        if result.rejected is not None:
            rejected.append(
                {
                    "venue": venue,
                    "frame_index": frame.position,
                    "receive_time": frame.received_at,
                    "reason": result.rejected,
                }
            )
            continue
        assert result.reading is not None
        for event in result.reading.events:
            events.append(
                {
                    "venue": venue,
                    "frame_index": frame.position,
                    "instrument": event.instrument,
                    "asset": event.asset,
                    "quote": event.quote,
                    "side": event.side,
                    "price": event.price,
                    "quantity": event.quantity,
                    "usd": event.usd,
                    "exchange_time": event.exchange_time,
                    "receive_time": frame.received_at,
                    "dedup_key": event.dedup_key,
                }
            )
    return {"stream_event": tuple(events), "stream_rejected_frame": tuple(rejected)}


def derive_batch(snapshot: SnapshotRecord) -> Derived:
    """The rows of one batch snapshot (quarantined when the body is not a batch)."""
    venue, _reader = READERS[snapshot.kind]
    try:
        results = read_batch(snapshot.kind, snapshot.body, snapshot_params(snapshot))
    except SchemaViolation as exc:
        return Derived.quarantined(f"not a frame batch: {exc}")
    return Derived(Derivation(()), rows_of(venue, results))
