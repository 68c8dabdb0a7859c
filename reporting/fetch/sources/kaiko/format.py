"""Kaiko ``liquidation.v1`` token-level volumes: from a raw response body to interval records.

This is a pure function of the stored bytes and the request URL, so ``liqrisk verify`` can re-derive
every stored row from its snapshot and compare. It never consults config: exchange codes are kept
verbatim here and named (or flagged as unknown) later, in :mod:`reporting.fetch.normalise`.

The documentation's traps, handled deliberately:

* ``interval_timestamp`` is documented as milliseconds, but the documented example is nanoseconds
  (1742169600000000000 for 2025-03-17T00:00:00Z). Seconds, milliseconds, microseconds and
  nanoseconds are told apart by magnitude; ``interval_time`` is the readable form and wins when the
  two disagree (the disagreement is reported as a problem).
* Amounts are JSON numbers, integers (``0``) or floats; counts are integers. Strings, booleans,
  NaN, infinities and negatives break the schema: the page is quarantined and yields no rows.
* Unknown fields are tolerated, at every level.
* ``result: "error"`` or a missing ``data`` list quarantines the page.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from audit_store.models import ALL_EXCHANGES
from reporting.fetch.normalise import NS_FROM, epoch_to_utc, iso_to_utc
from reporting.records import Derivation, IntervalValues, Problem

KIND = "kaiko.liquidation.v1"
_PATH = re.compile(r"/v2/data/liquidation\.v1/token/([^/?#]+)$")
_INTERVAL = re.compile(r"^([1-9][0-9]*)([hd])$")
_FIELDS_COUNT = ("total_trades", "long_trades", "short_trades")
_FIELDS_AMOUNT = ("total_amount", "long_amount", "short_amount")


class SchemaViolation(ValueError):
    """The body does not follow the documented format; the message says where."""


def interval_seconds(interval: str) -> int:
    """``"1h"`` -> 3600 ... ``"1d"`` -> 86400; Kaiko allows one hour up to one day."""
    match = _INTERVAL.match(interval)
    if not match:
        raise ValueError(f"interval {interval!r} is not a number followed by h or d")
    n, unit = int(match.group(1)), match.group(2)
    seconds = n * (3600 if unit == "h" else 86400)
    if not 3600 <= seconds <= 86400:
        raise ValueError(f"interval {interval!r} is outside Kaiko's range of 1h to 1d")
    return seconds


def asset_from_url(url: str) -> str:
    match = _PATH.search(urlsplit(url).path)
    if not match:
        raise SchemaViolation(f"URL path {urlsplit(url).path!r} is not a Kaiko token endpoint")
    return unquote(match.group(1)).upper()


timestamp_to_datetime = epoch_to_utc
"""An epoch timestamp in s, ms, us or ns (told apart by magnitude) as an aware UTC datetime."""
parse_iso = iso_to_utc
"""ISO 8601 with ``Z`` or an offset as an aware UTC datetime; a time without a zone is refused."""


_INF = float("inf")
_LAST: tuple[bytes, Any] | None = None  # the last body parsed, and its document


def load_body(body: bytes) -> Any:
    """The body as JSON, NaN and infinities refused (``SchemaViolation``), bad JSON raising
    ``ValueError``. The last body's document is kept, so the client's look for the next page, the
    deriver and :func:`query_block` parse each page once; the document must not be changed."""
    global _LAST
    last = _LAST
    if last is not None and last[0] is body:
        return last[1]
    text = body.decode(json.detect_encoding(body), "surrogatepass")  # as json.loads does
    doc = _DECODER.decode(text)
    _LAST = (body, doc)
    return doc


def _reject_constant(name: str) -> Any:
    raise SchemaViolation(f"the JSON holds {name}, which is not a number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)  # built once, not once per page


def _count(obj: Mapping[str, Any], key: str, where: str) -> int:
    if key not in obj:
        raise SchemaViolation(f"{where}: field {key} is missing")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise SchemaViolation(f"{where}: {key} = {value!r} is not an integer")
    if value < 0:
        raise SchemaViolation(f"{where}: {key} = {value} is negative")
    return value


def _amount(obj: Mapping[str, Any], key: str, where: str) -> float:
    if key not in obj:
        raise SchemaViolation(f"{where}: field {key} is missing")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise SchemaViolation(f"{where}: {key} is not finite") from None
    if not math.isfinite(number):
        raise SchemaViolation(f"{where}: {key} is not finite")
    if number < 0:
        raise SchemaViolation(f"{where}: {key} = {value} is negative")
    return number


def _interval_start(datum: Mapping[str, Any], where: str, problems: list[Problem]) -> datetime:
    readable = datum.get("interval_time")
    stamp = datum.get("interval_timestamp")
    from_text = from_stamp = None
    if readable is not None:
        if not isinstance(readable, str):
            raise SchemaViolation(f"{where}: interval_time = {readable!r} is not a string")
        try:
            from_text = parse_iso(readable)
        except ValueError as exc:
            raise SchemaViolation(f"{where}: interval_time {readable!r}: {exc}") from None
    if stamp is not None:
        if isinstance(stamp, bool) or not isinstance(stamp, int):
            raise SchemaViolation(f"{where}: interval_timestamp = {stamp!r} is not an integer")
        try:
            from_stamp = timestamp_to_datetime(stamp)
        except (OverflowError, OSError, ValueError) as exc:
            raise SchemaViolation(f"{where}: interval_timestamp {stamp}: {exc}") from None
    if from_text is None and from_stamp is None:
        raise SchemaViolation(f"{where}: neither interval_time nor interval_timestamp is given")
    if from_text is not None and from_stamp is not None and from_text != from_stamp:
        problems.append(
            Problem(
                where,
                f"interval_timestamp {stamp} means {from_stamp.isoformat()} but interval_time is "
                f"{readable}; interval_time is used",
            )
        )
    result = from_text if from_text is not None else from_stamp
    assert result is not None
    return result


def _volumes(obj: Mapping[str, Any], where: str) -> tuple[int, int, int, float, float, float]:
    total_c, long_c, short_c = (_count(obj, k, where) for k in _FIELDS_COUNT)
    total_a, long_a, short_a = (_amount(obj, k, where) for k in _FIELDS_AMOUNT)
    return long_c, short_c, total_c, long_a, short_a, total_a


def _consistency(
    where: str,
    long_c: int,
    short_c: int,
    total_c: int,
    long_a: float,
    short_a: float,
    total_a: float,
    problems: list[Problem],
) -> None:
    if long_c + short_c != total_c:
        problems.append(
            Problem(
                where, f"long_trades {long_c} + short_trades {short_c} != total_trades {total_c}"
            )
        )
    if not math.isclose(long_a + short_a, total_a, rel_tol=1e-9, abs_tol=0.01):
        problems.append(
            Problem(
                where,
                f"long_amount + short_amount = {long_a + short_a:.2f} "
                f"!= total_amount {total_a:.2f}",
            )
        )


EXPECTED_DATA_VERSION = "v1"
"""The ``query.data_version`` this parser was written for; another is reported as a problem."""


def query_block(body: bytes) -> dict[str, Any] | None:
    """The ``query`` block of a response (what Kaiko says it answered: the range, the interval,
    the page size, ``data_version``, ...), or ``None`` when the body has none. Never raises."""
    try:
        doc = load_body(body)
    except (SchemaViolation, UnicodeDecodeError, json.JSONDecodeError):
        return None
    query = doc.get("query") if isinstance(doc, dict) else None
    return query if isinstance(query, dict) else None


def derive(body: bytes, url: str, params: Mapping[str, str], source: str) -> Derivation:
    """Parse one response body of the token endpoint into interval records.

    ``url`` and ``params`` are those of the request (they name the asset, and the interval when the
    response's ``query`` block does not). Never raises on bad data: a body that breaks the format
    comes back with ``quarantine_reason`` set and no records.
    """
    problems: list[Problem] = []
    try:
        doc = load_body(body)
    except SchemaViolation as exc:
        return Derivation((), quarantine_reason=str(exc))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Derivation((), quarantine_reason=f"body is not valid JSON ({exc})")
    try:
        records, next_url, token = _derive_doc(doc, url, params, source, problems)
    except SchemaViolation as exc:
        return Derivation((), quarantine_reason=str(exc), problems=tuple(problems))
    return Derivation(
        tuple(records), problems=tuple(problems), next_url=next_url, continuation_token=token
    )


def _derive_doc(
    doc: Any, url: str, params: Mapping[str, str], source: str, problems: list[Problem]
) -> tuple[list[IntervalValues], str | None, str | None]:
    if not isinstance(doc, dict):
        raise SchemaViolation("body is not a JSON object")
    if doc.get("result") == "error":
        raise SchemaViolation(f"API answered result=error: {str(doc.get('message', ''))[:200]}")
    data = doc.get("data")
    if not isinstance(data, list):
        raise SchemaViolation("field data is missing or not a list")
    query = doc["query"] if isinstance(doc.get("query"), dict) else {}
    asset = asset_from_url(url)
    interval = str(query.get("interval") or params.get("interval") or "1h")
    try:
        seconds = interval_seconds(interval)
    except ValueError as exc:
        raise SchemaViolation(str(exc)) from None
    next_url = doc.get("next_url")
    token = doc.get("continuation_token")
    if next_url is not None and not isinstance(next_url, str):
        raise SchemaViolation(f"next_url = {next_url!r} is not a string")
    if token is not None and not isinstance(token, str):
        raise SchemaViolation(f"continuation_token = {token!r} is not a string")

    try:
        fast = _fast_rows(data, source, asset, seconds)
    except OverflowError:  # an integer amount beyond any float: the detailed path names it
        fast = None
    if fast is not None:
        return fast, next_url, token
    records: list[IntervalValues] = []
    seen: set[datetime] = set()
    for i, datum in enumerate(data):
        where = f"data[{i}]"
        if not isinstance(datum, dict):
            raise SchemaViolation(f"{where} is not an object")
        start = _interval_start(datum, where, problems)
        if start in seen:
            raise SchemaViolation(f"{where}: interval {start.isoformat()} appears twice")
        seen.add(start)
        totals = _volumes(datum, where)
        _consistency(where, *totals, problems)
        records.append((source, asset, ALL_EXCHANGES, start, seconds, *totals))
        exchanges = datum.get("exchanges", [])
        if not isinstance(exchanges, list):
            raise SchemaViolation(f"{where}.exchanges is not a list")
        seen_codes: set[str] = set()
        sums: list[Any] = [0, 0, 0, 0.0, 0.0, 0.0]  # the parts' sums, in the listed order
        for j, entry in enumerate(exchanges):
            if not isinstance(entry, dict):
                raise SchemaViolation(f"{where}.exchanges[{j}] is not an object")
            code = entry.get("exchange")
            if not isinstance(code, str) or not code.strip():
                raise SchemaViolation(f"{where}.exchanges[{j}]: exchange code is missing")
            if code == ALL_EXCHANGES or code in seen_codes:
                raise SchemaViolation(f"{where}.exchanges[{j}]: exchange {code!r} appears twice")
            seen_codes.add(code)
            values = _volumes(entry, f"{where}.exchanges[{j}]")
            _consistency(f"{where}.exchanges[{j}]", *values, problems)
            sums = [a + b for a, b in zip(sums, values, strict=True)]
            records.append((source, asset, code, start, seconds, *values))
        if exchanges:
            _sums_match_total(where, sums, totals, problems)
    return records, next_url, token


def _fast_rows(
    data: list[Any], source: str, asset: str, seconds: int
) -> list[IntervalValues] | None:
    """The records of a page in which nothing is wrong, or ``None`` at the first thing that is.

    The common case in one tight pass: every check of the loop in :func:`_derive_doc` (types,
    signs, finiteness, duplicates, each row's consistency, the exchanges' sums against the
    total), with no message built. Any doubt gives ``None`` and the page takes the detailed path,
    which names the problem or the violation; so a page accepted here yields exactly the records
    (and no problems) that the detailed path would. An integer amount too large for a float raises
    ``OverflowError`` (the caller then takes the detailed path)."""
    records: list[IntervalValues] = []
    append = records.append
    seen: set[datetime] = set()
    add_seen = seen.add
    isclose = math.isclose
    inf = _INF
    total = ALL_EXCHANGES
    for datum in data:
        if type(datum) is not dict:
            return None
        readable = datum.get("interval_time")
        stamp = datum.get("interval_timestamp")
        if type(readable) is not str or type(stamp) is not int:
            return None  # one of them missing, or not what it should be: the detailed path
        try:
            start = parse_iso(readable)
            # Nanoseconds of a whole second (Kaiko's usual stamp) agree with the text without
            # building a datetime; any other stamp is compared the long way.
            second = start.timestamp()
            if (
                not (
                    stamp >= NS_FROM
                    and not start.microsecond
                    and second.is_integer()
                    and stamp == int(second) * 1_000_000_000
                )
                and timestamp_to_datetime(stamp) != start
            ):
                return None
        except (OverflowError, OSError, ValueError):
            return None
        if start in seen:
            return None
        add_seen(start)
        try:
            tc, lc, sc = datum["total_trades"], datum["long_trades"], datum["short_trades"]
            ta, la, sa = datum["total_amount"], datum["long_amount"], datum["short_amount"]
            exchanges = datum.get("exchanges", [])
        except KeyError:
            return None
        # ``type(x) is int`` leaves bools out; ``0 <= x < inf`` leaves NaN and infinities out.
        if not (
            type(tc) is int
            and type(lc) is int
            and type(sc) is int
            and (type(ta) is float or type(ta) is int)
            and (type(la) is float or type(la) is int)
            and (type(sa) is float or type(sa) is int)
            and tc >= 0
            and lc >= 0
            and sc >= 0
            and 0 <= ta < inf
            and 0 <= la < inf
            and 0 <= sa < inf
            and lc + sc == tc
            and type(exchanges) is list
        ):
            return None
        ta, la, sa = float(ta), float(la), float(sa)
        parts = la + sa
        gap = abs(parts - ta)  # math.isclose(parts, ta, rel_tol=1e-9, abs_tol=0.01), as
        # _consistency asks it, the operands being non-negative and ta finite (parts may not be):
        if not (gap <= 0.01 or (gap < inf and gap <= 1e-9 * (parts if parts > ta else ta))):
            return None
        append((source, asset, total, start, seconds, lc, sc, tc, la, sa, ta))
        if not exchanges:
            continue
        codes: set[str] = set()
        s_lc = s_sc = s_tc = 0
        s_la = s_sa = s_ta = 0.0
        for entry in exchanges:
            if type(entry) is not dict:
                return None
            code = entry.get("exchange")
            try:
                etc, elc, esc = entry["total_trades"], entry["long_trades"], entry["short_trades"]
                eta, ela, esa = entry["total_amount"], entry["long_amount"], entry["short_amount"]
            except KeyError:
                return None
            if not (
                type(code) is str
                and code.strip()
                and code != total
                and code not in codes
                and type(etc) is int
                and type(elc) is int
                and type(esc) is int
                and (type(eta) is float or type(eta) is int)
                and (type(ela) is float or type(ela) is int)
                and (type(esa) is float or type(esa) is int)
                and etc >= 0
                and elc >= 0
                and esc >= 0
                and 0 <= eta < inf
                and 0 <= ela < inf
                and 0 <= esa < inf
                and elc + esc == etc
            ):
                return None
            eta, ela, esa = float(eta), float(ela), float(esa)
            parts = ela + esa
            gap = abs(parts - eta)
            if not (gap <= 0.01 or (gap < inf and gap <= 1e-9 * (parts if parts > eta else eta))):
                return None
            codes.add(code)
            s_lc, s_sc, s_tc = s_lc + elc, s_sc + esc, s_tc + etc
            s_la, s_sa, s_ta = s_la + ela, s_sa + esa, s_ta + eta
            append((source, asset, code, start, seconds, elc, esc, etc, ela, esa, eta))
        if not (
            s_lc == lc
            and s_sc == sc
            and s_tc == tc
            and isclose(s_la, la, rel_tol=1e-9, abs_tol=0.01)
            and isclose(s_sa, sa, rel_tol=1e-9, abs_tol=0.01)
            and isclose(s_ta, ta, rel_tol=1e-9, abs_tol=0.01)
        ):
            return None
    return records


def _sums_match_total(
    where: str,
    sums: list[Any],
    totals: tuple[int, int, int, float, float, float],
    problems: list[Problem],
) -> None:
    names = (
        "long_trades",
        "short_trades",
        "total_trades",
        "long_amount",
        "short_amount",
        "total_amount",
    )
    for name, part, whole in zip(names, sums, totals, strict=True):
        if isinstance(whole, int) and part != whole:
            problems.append(Problem(where, f"exchanges' {name} sum to {part}, total says {whole}"))
        elif not math.isclose(part, whole, rel_tol=1e-9, abs_tol=0.01):
            problems.append(
                Problem(where, f"exchanges' {name} sum to {part:.2f}, total says {whole:.2f}")
            )
