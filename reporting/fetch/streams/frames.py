"""A batch of websocket frames as the audit store keeps it, and what one frame yields.

**The batch body** (one snapshot): for every frame, in the order received, a header line of
canonical JSON ``{"connection": ID, "received_at": ISO-8601 UTC, "size": N}``, a newline, the
frame's N bytes exactly as they came off the wire (a text frame's UTF-8, unchanged), and a
newline. Nothing is decoded or re-encoded on the way in, so the SHA-256 of the body commits to
every byte the venue sent; :func:`decode_batch` reads it back, and refuses anything else.

**A frame's reading** (:class:`FrameReading`): the liquidation events it carries, normalised
(:class:`Event`), or a control message (a subscription acknowledged or refused, a pong). A frame
that breaks the venue's documented format raises
:class:`~reporting.fetch.sources.derived.SchemaViolation` in the venue's parser; the batch keeps
it and the event table gets a ``stream_rejected_frame`` row with the reason instead.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import NamedTuple

from reporting.fetch.normalise import parse_symbol
from reporting.fetch.sources.derived import SchemaViolation

MAX_HEADER_BYTES = 512
_HEADER = re.compile(
    rb'^\{"connection":"([0-9A-Za-z_.-]*)","received_at":"([0-9T:.-]+)Z","size":(\d+)\}$'
)


def _stamp(text: str) -> datetime:
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if moment.tzinfo is None:
        raise ValueError("a receive time without its zone")
    return moment.astimezone(UTC)


class Frame(NamedTuple):
    """One frame of a batch: its bytes, when it arrived, on which connection. (Named tuples
    here and below: a busy stream makes tens of thousands a second, and a tuple is made in a
    fraction of a frozen dataclass's time.)"""

    position: int  # in its batch, from 0
    received_at: datetime
    connection: str
    data: bytes


def encode_frame(received_at: datetime, connection: str, data: bytes) -> bytes:
    """One frame's record in a batch body (header line, bytes, newline). The header is the
    canonical JSON of its three keys (sorted, no spaces), written out directly."""
    stamp = received_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = f'{{"connection":{json.dumps(connection)},"received_at":"{stamp}","size":{len(data)}}}'
    return b"".join((header.encode("ascii"), b"\n", data, b"\n"))


def encode_batch(frames: Iterable[tuple[datetime, str, bytes]]) -> bytes:
    return b"".join(encode_frame(at, connection, data) for at, connection, data in frames)


def decode_batch(body: bytes) -> list[Frame]:
    """The frames of a batch body; :class:`SchemaViolation` says where it breaks the format."""
    return list(iter_batch(body))


def iter_batch(body: bytes) -> Iterator[Frame]:
    position = 0
    index = 0
    while position < len(body):
        end = body.find(b"\n", position, position + MAX_HEADER_BYTES)
        if end < 0:
            raise SchemaViolation(f"frame {index}: no header line at byte {position}")
        try:
            line = body[position:end]
            fast = _HEADER.match(line)
            if fast:  # the form encode_frame writes: read without a JSON parse
                connection, stamp, size = fast[1].decode(), fast[2].decode() + "Z", int(fast[3])
            else:
                header = json.loads(line)
                connection, stamp, size = (
                    header["connection"],
                    header["received_at"],
                    header["size"],
                )
            received_at = _stamp(stamp)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise SchemaViolation(
                f"frame {index}: the header at byte {position} is not valid"
            ) from None
        if not isinstance(size, int) or size < 0 or not isinstance(connection, str):
            raise SchemaViolation(f"frame {index}: the header at byte {position} is not valid")
        start = end + 1
        stop = start + size
        if stop >= len(body):
            raise SchemaViolation(f"frame {index}: the body ends inside the frame")
        if body[stop : stop + 1] != b"\n":
            raise SchemaViolation(f"frame {index}: no newline after its {size} bytes")
        yield Frame(index, received_at, connection, body[start:stop])
        position = stop + 1
        index += 1


class Event(NamedTuple):
    """One liquidation, normalised: ``side`` is the position liquidated."""

    instrument: str
    asset: str
    quote: str
    side: str  # "long" or "short"
    price: float
    quantity: float  # base asset
    usd: float
    exchange_time: datetime
    dedup_key: str


class FrameReading(NamedTuple):
    """What one frame says: events, or a control message (``subscribed``, ``refused``,
    ``pong``), with its detail."""

    events: tuple[Event, ...] = ()
    control: str | None = None
    detail: str = ""
    unsubscribed: tuple[str, ...] = ()


MAX_QUANTITY = 1e12
MAX_USD = 1e11  # USD 100 bn in one liquidation: no venue has seen one; a wrong field, not a figure


@lru_cache(maxsize=4096)
def instrument_parts(symbol: str, quotes: tuple[str, ...]) -> tuple[str, str, int]:
    """``(asset, quote, multiplier)`` of a venue symbol: ``1000PEPEUSDT`` -> PEPE, USDT, 1000.

    Symbols liqrisk's reader does not know (a venue lists non-Latin names: ``币安人生USDT``)
    keep their base verbatim when they end in one of ``quotes`` and the rest is letters and digits.
    """
    try:
        parsed = parse_symbol(symbol)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.quote:
        return parsed.base, parsed.quote, parsed.multiplier
    head = symbol.split("_")[0].split("-")[0]
    for quote in sorted(quotes, key=len, reverse=True):
        base = head[: -len(quote)] if head.endswith(quote) else ""
        if base and base.isalnum():
            return base.upper(), quote, 1
    raise SchemaViolation(f"symbol {symbol!r} is not a contract of a known quote")


def checked_amounts(price: float, quantity: float, usd: float, where: str) -> None:
    """Refuse amounts no liquidation has: zero or negative, not finite, or beyond any market."""
    for name, value, ceiling in (
        ("price", price, MAX_USD),
        ("quantity", quantity, MAX_QUANTITY),
        ("usd", usd, MAX_USD),
    ):
        if not math.isfinite(value) or value <= 0:
            raise SchemaViolation(f"{where}: {name} {value} is not above zero")
        if value > ceiling:
            raise SchemaViolation(f"{where}: {name} {value} is beyond any liquidation")
