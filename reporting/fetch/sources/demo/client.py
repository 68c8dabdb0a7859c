"""An emulator of Kaiko's token-level liquidation endpoint, serving the bundled demo dataset.

``demo_transport()`` plugs it into httpx (``httpx.Client(transport=demo_transport())``), so the
demo runs through the real Kaiko client, the real deriver and the real store, byte for byte as it
would against ``https://<eu|us>.market-api.kaiko.io``. It follows the endpoint's documentation
(see the seed page in the design notes):

* ``GET /v2/data/liquidation.v1/token/{asset}`` with ``interval`` (default ``1h``; ``Nh`` for N in
  1..24, or ``1d``), ``start_time`` (ISO 8601, inclusive), ``end_time`` (exclusive), ``sort``
  (``asc`` | ``desc``, default ``desc``), ``page_size`` (default 100, at most 1000) and
  ``continuation_token``.
* Intervals longer than an hour are sums of the hourly data, aligned to UTC midnight (for an N that
  does not divide 24, the last interval of each day is cut short at midnight).
* As in the documented example, ``data_start_time``/``data_end_time`` are the query's bounds
  widened to whole intervals (an interval that overlaps the query is returned whole), and the
  ``query`` block's ``start_time``/``end_time`` are the span of the page.
* A follow-up call sends only ``continuation_token`` (the ``next_url`` carries nothing else); the
  token is opaque to clients but carries the whole original query and the page cursor (URL-safe
  base64 of compact JSON, padding stripped). Parameters sent beside a token are ignored.
* Errors are ``{"result": "error", "message": ...}``: 400 for a bad parameter or token, 404 for an
  unknown asset or path, 405 for a method other than GET.

Where the documentation is silent, the choices are: a missing ``start_time`` means the start of the
data and a missing ``end_time`` the emulator's "now" (the end of the dataset); ``start_time`` after
``end_time`` is a 400 and an empty range a 200 with ``"data": []``; a ``page_size`` outside 1..1000
is a 400 rather than silently clamped; the asset code is case-insensitive and echoed lower-case.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import os
import re
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx

from reporting.errors import SourceError
from reporting.resources import DEMO_DATA_FILE

DEMO_BASE_URL = "https://demo.invalid"
ENDPOINT_PATH = "/v2/data/liquidation.v1/token/"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
# The subscription window of the documented example (2023-07-04 .. 2038-12-31), verbatim.
ACCESS_RANGE = {"start_timestamp": 1688428800000, "end_timestamp": 2177539199000}
# The documented example answers 28 ms after the request.
ANSWER_DELAY = timedelta(milliseconds=28)

_PATH = re.compile(r"^/v2/data/liquidation\.v1/token/([^/]+)$")
_INTERVAL = re.compile(r"^([1-9][0-9]?)h$")
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_VOLUME_FIELDS = (
    "total_trades",
    "total_amount",
    "long_trades",
    "long_amount",
    "short_trades",
    "short_amount",
)


class _BadRequest(ValueError):
    """A query parameter or token the endpoint would refuse with HTTP 400."""


def interval_hours(interval: str) -> int:
    """``"1h"`` .. ``"24h"`` -> 1 .. 24, ``"1d"`` -> 24; anything else raises ``ValueError``."""
    if interval == "1d":
        return 24
    match = _INTERVAL.match(interval)
    if match and 1 <= int(match.group(1)) <= 24:
        return int(match.group(1))
    raise ValueError(f"invalid interval {interval!r}: use a number of hours from 1h to 24h, or 1d")


def _parse_time(name: str, text: str) -> datetime:
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _BadRequest(f"invalid {name} {text!r}: expected ISO 8601") from None
    if parsed.tzinfo is None:  # Kaiko's times are UTC; a bare time is read as UTC
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _iso(moment: datetime) -> str:
    """``2025-11-03T14:00:00Z``; sub-second digits only when there are any."""
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_ms(moment: datetime) -> str:
    """``2025-04-04T12:09:55.546Z``, the form of ``request_time``/``answer_time``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class _Query:
    """Everything a page depends on; what a continuation token carries."""

    asset: str
    interval: str
    query_start: datetime
    query_end: datetime
    sort: str
    page_size: int
    cursor: datetime | None = None  # asc: first interval of the page; desc: end bound, exclusive

    def token(self) -> str:
        state = {
            "a": self.asset,
            "i": self.interval,
            "s": self.query_start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "e": self.query_end.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "o": self.sort,
            "p": self.page_size,
            "c": None if self.cursor is None else self.cursor.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode("ascii")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    @classmethod
    def from_token(cls, token: str) -> _Query:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            state = json.loads(raw)
            query = cls(
                asset=str(state["a"]),
                interval=str(state["i"]),
                query_start=_parse_time("start_time", state["s"]),
                query_end=_parse_time("end_time", state["e"]),
                sort=str(state["o"]),
                page_size=int(state["p"]),
                cursor=None if state["c"] is None else _parse_time("cursor", state["c"]),
            )
            interval_hours(query.interval)
        except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise _BadRequest("invalid continuation_token") from None
        if query.sort not in ("asc", "desc") or not 1 <= query.page_size <= MAX_PAGE_SIZE:
            raise _BadRequest("invalid continuation_token")
        return query


@dataclass(frozen=True)
class _Bucket:
    start: datetime
    end: datetime
    datum: dict[str, Any]


def _floor(moment: datetime, hours: int) -> datetime:
    """Start of the interval holding ``moment`` (intervals restart at every UTC midnight)."""
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + timedelta(hours=(moment.hour // hours) * hours)


def _bucket_end(start: datetime, hours: int) -> datetime:
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return min(start + timedelta(hours=hours), midnight + _DAY)


def _ceil(moment: datetime, hours: int) -> datetime:
    start = _floor(moment, hours)
    return start if start == moment else _bucket_end(start, hours)


def _volumes(values: Mapping[str, Any]) -> dict[str, Any]:
    """The six volume fields in Kaiko's order, the total amount recomputed as long + short."""
    return {
        "total_trades": values["long_trades"] + values["short_trades"],
        "total_amount": values["long_amount"] + values["short_amount"],
        "long_trades": values["long_trades"],
        "long_amount": values["long_amount"],
        "short_trades": values["short_trades"],
        "short_amount": values["short_amount"],
    }


def _kaiko_order(datum: Mapping[str, Any]) -> dict[str, Any]:
    """One stored datum with its keys in the order of Kaiko's documented example."""
    return {
        "interval_time": datum["interval_time"],
        "interval_timestamp": datum["interval_timestamp"],
        **{key: datum[key] for key in _VOLUME_FIELDS},
        "exchanges": [
            {"exchange": e["exchange"], **{key: e[key] for key in _VOLUME_FIELDS}}
            for e in datum["exchanges"]
        ],
    }


def _aggregate(start: datetime, hourly: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Sum hourly data into one interval; the totals are float sums of the exchanges' parts."""
    per_exchange: dict[str, dict[str, Any]] = {}
    for datum in hourly:
        for entry in datum["exchanges"]:
            acc = per_exchange.setdefault(
                entry["exchange"],
                {"long_trades": 0, "short_trades": 0, "long_amount": 0, "short_amount": 0},
            )
            for key in acc:
                acc[key] += entry[key]
    entries = [{"exchange": code, **_volumes(per_exchange[code])} for code in sorted(per_exchange)]
    sums: dict[str, Any] = {
        "long_trades": 0,
        "short_trades": 0,
        "long_amount": 0,
        "short_amount": 0,
    }
    for entry in entries:
        for key in sums:
            sums[key] += entry[key]
    return {
        "interval_time": _iso(start),
        "interval_timestamp": int(start.timestamp()) * 1_000_000_000,
        **_volumes(sums),
        "exchanges": entries,
    }


def _error(status: int, message: str) -> httpx.Response:
    body = json.dumps({"result": "error", "message": message}, separators=(",", ":"))
    return httpx.Response(
        status, content=body.encode("utf-8"), headers={"Content-Type": "application/json"}
    )


class KaikoEmulator:
    """Kaiko's ``liquidation.v1`` token endpoint over an in-memory dataset (see the module doc).

    ``dataset`` is ``{"meta": {...}, "assets": {"btc": [hourly datum, ...], ...}}`` as written by
    :mod:`reporting.fetch.sources.demo.generate`; ``base_url`` is what ``next_url`` is built on, and
    must be the base URL the client is configured with (the Kaiko client refuses a ``next_url`` on
    another host). Answers are a pure function of the request: the same request always gets the same
    bytes.
    """

    def __init__(self, dataset: Mapping[str, Any], base_url: str = DEMO_BASE_URL) -> None:
        self.base_url = base_url.rstrip("/")
        assets = dataset.get("assets")
        if not isinstance(assets, Mapping):
            raise ValueError("dataset has no 'assets' mapping")
        self._hourly: dict[str, list[Mapping[str, Any]]] = {
            str(code).lower(): sorted(data, key=lambda d: int(d["interval_timestamp"]))
            for code, data in assets.items()
        }
        self._buckets: dict[tuple[str, int], list[_Bucket]] = {}
        starts = [_hour_of(data[0]) for data in self._hourly.values() if data]
        ends = [_hour_of(data[-1]) + _HOUR for data in self._hourly.values() if data]
        meta = dataset.get("meta") if isinstance(dataset.get("meta"), Mapping) else {}
        assert isinstance(meta, Mapping)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        self.data_start = (
            _parse_time("start_time", meta["start_time"])
            if "start_time" in meta
            else min(starts, default=epoch)
        )
        # The emulator's "now": the end of the data. request_time and answer_time are derived from
        # it, never from the wall clock, so that the same request always yields identical bytes
        # (the demo's stored snapshots, hashes and reports are then reproducible run after run).
        self.now = (
            _parse_time("end_time", meta["end_time"])
            if "end_time" in meta
            else max(ends, default=epoch)
        )

    # --- HTTP -------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request, as ``httpx.MockTransport`` calls it."""
        match = _PATH.match(request.url.path)
        if match is None:
            return _error(404, f"Not found: {request.url.path}")
        if request.method != "GET":
            return _error(405, f"Method {request.method} not allowed")
        asset = match.group(1).lower()
        if asset not in self._hourly:
            return _error(404, f"Token {match.group(1)!r} not found")
        try:
            query = self._query(asset, request.url.params)
        except _BadRequest as exc:
            return _error(400, str(exc))
        body = self._page(query)
        content = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return httpx.Response(
            200, content=content.encode("utf-8"), headers={"Content-Type": "application/json"}
        )

    def _query(self, asset: str, params: httpx.QueryParams) -> _Query:
        token = params.get("continuation_token")
        if token:
            query = _Query.from_token(token)
            if query.asset != asset:
                raise _BadRequest("continuation_token does not belong to this token's query")
            return query
        interval = params.get("interval", "1h")
        try:
            interval_hours(interval)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        sort = params.get("sort", "desc")
        if sort not in ("asc", "desc"):
            raise _BadRequest(f"invalid sort {sort!r}: use asc or desc")
        raw_size = params.get("page_size", str(DEFAULT_PAGE_SIZE))
        try:
            page_size = int(raw_size)
        except ValueError:
            raise _BadRequest(f"invalid page_size {raw_size!r}: not an integer") from None
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _BadRequest(f"invalid page_size {page_size}: must be 1 to {MAX_PAGE_SIZE}")
        start = (
            _parse_time("start_time", params["start_time"])
            if params.get("start_time")
            else self.data_start
        )
        end = _parse_time("end_time", params["end_time"]) if params.get("end_time") else self.now
        if start > end:
            raise _BadRequest(f"start_time {_iso(start)} is after end_time {_iso(end)}")
        return _Query(asset, interval, start, end, sort, page_size)

    # --- data -------------------------------------------------------------------------------

    def _intervals(self, asset: str, hours: int) -> list[_Bucket]:
        key = (asset, hours)
        if key not in self._buckets:
            groups: dict[datetime, list[Mapping[str, Any]]] = {}
            for datum in self._hourly[asset]:
                groups.setdefault(_floor(_hour_of(datum), hours), []).append(datum)
            make: Callable[[datetime, list[Mapping[str, Any]]], dict[str, Any]] = (
                (lambda _start, group: _kaiko_order(group[0])) if hours == 1 else _aggregate
            )
            self._buckets[key] = [
                _Bucket(start, _bucket_end(start, hours), make(start, group))
                for start, group in sorted(groups.items())
            ]
        return self._buckets[key]

    def _page(self, query: _Query) -> dict[str, Any]:
        hours = interval_hours(query.interval)
        data_start = _floor(query.query_start, hours)
        data_end = _ceil(query.query_end, hours)
        buckets = self._intervals(query.asset, hours)
        starts = [b.start for b in buckets]
        lo, hi = bisect_left(starts, data_start), bisect_left(starts, data_end)
        if query.sort == "asc":
            if query.cursor is not None:
                lo = max(lo, bisect_left(starts, query.cursor))
            page = buckets[lo : min(hi, lo + query.page_size)]
            more = lo + query.page_size < hi
            next_cursor = buckets[lo + query.page_size].start if more else None
        else:
            if query.cursor is not None:
                hi = min(hi, bisect_left(starts, query.cursor))
            page = buckets[max(lo, hi - query.page_size) : hi][::-1]
            more = hi - query.page_size > lo
            next_cursor = page[-1].start if more else None
        span_start = min((b.start for b in page), default=data_start)
        span_end = max((b.end for b in page), default=data_end)
        answer = self.now + ANSWER_DELAY
        body: dict[str, Any] = {
            "query": {
                "request_time": _iso_ms(self.now),
                "query_start_time": _iso(query.query_start),
                "query_end_time": _iso(query.query_end),
                "data_start_time": _iso(data_start),
                "data_end_time": _iso(data_end),
                "start_time": _iso(span_start),
                "start_timestamp": _ms(span_start),
                "end_time": _iso(span_end),
                "end_timestamp": _ms(span_end),
                "page_size": query.page_size,
                "sort": query.sort,
                "token": query.asset,
                "interval": query.interval,
                "commodity": "liquidationEvents",
                "data_version": "v1",
            },
            "answer_time": _iso_ms(answer),
            "answer_timestamp": _ms(answer),
            "access": {
                "access_range": dict(ACCESS_RANGE),
                "data_range": {"start_timestamp": None, "end_timestamp": None},
            },
            "data": [b.datum for b in page],
        }
        if more:
            token = replace(query, cursor=next_cursor).token()
            body["continuation_token"] = token
            body["next_url"] = (
                f"{self.base_url}{ENDPOINT_PATH}{query.asset}?continuation_token={token}"
            )
        return body


def _hour_of(datum: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(datum["interval_timestamp"]) // 1_000_000_000, tz=UTC)


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    try:
        with gzip.open(path, "rb") as fh:
            dataset = json.load(fh)
    except FileNotFoundError:
        raise SourceError(
            f"{path}: the demo dataset is missing; "
            "run `python -m reporting.fetch.sources.demo.generate`"
        ) from None
    except (OSError, EOFError, ValueError) as exc:
        raise SourceError(f"{path}: the demo dataset cannot be read ({exc})") from None
    if not isinstance(dataset, dict) or not isinstance(dataset.get("assets"), dict):
        raise SourceError(f"{path}: not a demo dataset (no 'assets' object)")
    return dataset


def load_demo_dataset(path: str | os.PathLike[str] = DEMO_DATA_FILE) -> dict[str, Any]:
    """The demo dataset, read once per path and cached: treat the result as read-only."""
    return _load(str(Path(path).resolve()))


def demo_transport(
    dataset: Mapping[str, Any] | None = None, base_url: str = DEMO_BASE_URL
) -> httpx.MockTransport:
    """An httpx transport answering like Kaiko from ``dataset`` (default: the bundled demo)."""
    emulator = KaikoEmulator(load_demo_dataset() if dataset is None else dataset, base_url)
    return httpx.MockTransport(emulator.handle)
