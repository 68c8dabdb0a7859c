"""What a parser makes of one raw body, and the strict readers of JSON fields the parsers share.

A parser is a pure function of the stored bytes and the request (URL and parameters), so
``liqrisk verify`` can re-derive every stored row and compare. It never raises on bad data: a body
that breaks the documented format comes back quarantined, with the reason and no rows at all.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from audit_store.snapshots import SnapshotRecord
from reporting.records import Derivation, Problem

_DECIMAL = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def snapshot_params(snapshot: SnapshotRecord) -> dict[str, str]:
    """The request parameters a snapshot was stored with (its canonical ``params_json``)."""
    loaded = json.loads(snapshot.params_json)
    return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}


class SchemaViolation(ValueError):
    """The body does not follow the documented format; the message says where."""


@dataclass(frozen=True)
class Derived:
    """One body's yield: ``interval_volume`` records (in ``derivation``, with the quarantine reason
    and problems) and the rows of the ingestion tables (:mod:`audit_store.tables_ingest`)."""

    derivation: Derivation
    tables: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    @property
    def quarantine_reason(self) -> str | None:
        return self.derivation.quarantine_reason

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.derivation.problems

    @classmethod
    def rows(
        cls, table: str, rows: list[dict[str, Any]], problems: list[Problem] | None = None
    ) -> Derived:
        return cls(Derivation((), problems=tuple(problems or ())), {table: tuple(rows)})

    @classmethod
    def quarantined(cls, reason: str, problems: list[Problem] | None = None) -> Derived:
        return cls(Derivation((), quarantine_reason=reason, problems=tuple(problems or ())))


def _reject_constant(name: str) -> Any:
    raise SchemaViolation(f"the JSON holds {name}, which is not a number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
"""One decoder for every body: ``json.loads`` with an argument builds a new one each call."""


def load_json(body: bytes) -> Any:
    """The body as JSON; NaN and infinities (which Python would accept) are a schema break.
    Decoded as ``json.loads`` decodes bytes (UTF-8, or UTF-16/32 by their byte order)."""
    try:
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaViolation(f"body is not valid JSON ({exc})") from None


def require(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise SchemaViolation(f"{where}: field {key} is missing")
    return obj[key]


def text(obj: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False) -> str:
    value = require(obj, key, where)
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a non-empty string")
    return value


def number(
    value: Any,
    where: str,
    key: str,
    *,
    minimum: float | None = None,
    positive: bool = False,
) -> float:
    """A number sent as a JSON number or a decimal string (``"-0.0375"``); finite, and at least
    ``minimum`` (or above zero when ``positive``) when asked."""
    if isinstance(value, bool):
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a number")
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an integer beyond any float
            raise SchemaViolation(f"{where}: {key} is not finite") from None
    elif isinstance(value, str) and _DECIMAL.match(value.strip()):
        result = float(value)
    else:
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a number")
    if not math.isfinite(result):
        raise SchemaViolation(f"{where}: {key} is not finite")
    if minimum is not None and result < minimum:
        raise SchemaViolation(f"{where}: {key} = {value} is negative")
    if positive and result <= 0:
        raise SchemaViolation(f"{where}: {key} = {value} is not above zero")
    return result


def optional_number(
    obj: Mapping[str, Any], key: str, where: str, *, minimum: float | None = None
) -> float | None:
    """Like :func:`number`, but a missing field, ``null`` or ``""`` is ``None``."""
    value = obj.get(key)
    if value is None or value == "":
        return None
    return number(value, where, key, minimum=minimum)


def epoch_ms(value: Any, where: str, key: str) -> int:
    """Epoch milliseconds sent as a JSON integer or a string of digits."""
    if isinstance(value, bool):
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a timestamp")
    if isinstance(value, int):
        stamp = value
    elif isinstance(value, str) and value.strip().isdigit():
        stamp = int(value)
    else:
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a timestamp in milliseconds")
    if not 10**11 <= stamp < 10**14:  # 1973 .. 5138: anything else is not milliseconds
        raise SchemaViolation(f"{where}: {key} = {value!r} is not a timestamp in milliseconds")
    return stamp


def period_seconds(period: str) -> int:
    """``5m`` -> 300, ``1h``/``1H`` -> 3600, ``1d``/``1D`` -> 86400, ``1W`` -> 604800.

    Months (OKX's ``1M``) have no fixed length and are refused; so is anything unreadable.
    """
    match = re.match(r"^([1-9]\d*)([mhHdDwW])$", period.strip())
    if not match:
        raise ValueError(f"period {period!r} is not a number followed by m, h, d or w")
    unit = {"m": 60, "h": 3600, "H": 3600, "d": 86400, "D": 86400, "w": 604800, "W": 604800}
    return int(match.group(1)) * unit[match.group(2)]
