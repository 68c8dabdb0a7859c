"""Appending raw responses to the store: provenance, hashing, leaf sequencing, derived rows.

A snapshot's Merkle leaf is the canonical JSON of its provenance record (:func:`provenance`), which
carries the SHA-256 of the raw body; the body itself is kept byte for byte beside it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from json.encoder import encode_basestring as _json_string  # the encoder's own (C) string form
from operator import itemgetter
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import func, select, text
from sqlmodel import Session

from audit_store.canonical import canonical_json, utc_iso
from audit_store.merkle import leaf_hash
from audit_store.models import IntervalVolume, Snapshot

REDACTED = "REDACTED"
SECRET_PARAM_NAMES = frozenset(
    {"api_key", "apikey", "key", "x-api-key", "secret", "signature", "passphrase", "password"}
)
# One constant for PostgreSQL's advisory lock: the single sequencer of leaf indexes.
_LEAF_SEQUENCER_LOCK = 0x6C69717269736B  # "liqrisk"


def redact_params(params: Mapping[str, str]) -> dict[str, str]:
    """Query parameters with every secret-looking value replaced by ``REDACTED``."""
    return {k: (REDACTED if k.lower() in SECRET_PARAM_NAMES else str(v)) for k, v in params.items()}


def redact_url(url: str) -> str:
    """The URL with secret-looking query parameters redacted (and any userinfo dropped)."""
    parts = urlsplit(url)
    query = urlencode(
        [(k, REDACTED if k.lower() in SECRET_PARAM_NAMES else v) for k, v in parse_qsl(parts.query)]
    )
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


@dataclass(frozen=True)
class RawResponse:
    """One HTTP response as a source received it, ready to be kept. URL and params are redacted."""

    source: str
    kind: str
    url: str
    params: Mapping[str, str]
    fetched_at: datetime
    http_status: int
    body: bytes
    method: str = "GET"
    extra: Mapping[str, Any] = field(default_factory=dict)


class SnapshotRecord(Protocol):
    """A snapshot's columns, read-only: what both :class:`Snapshot` and :class:`SnapshotView` are.

    Derivers and :func:`provenance` take this, so ``verify`` can stream the log as plain rows.
    """

    @property
    def id(self) -> int | None: ...
    @property
    def leaf_index(self) -> int: ...
    @property
    def source(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def params_json(self) -> str: ...
    @property
    def fetched_at(self) -> datetime: ...
    @property
    def http_status(self) -> int: ...
    @property
    def software_version(self) -> str: ...
    @property
    def config_hash(self) -> str: ...
    @property
    def body(self) -> bytes: ...
    @property
    def body_sha256(self) -> str: ...
    @property
    def body_size(self) -> int: ...
    @property
    def leaf_hash(self) -> str: ...
    @property
    def quarantined(self) -> bool: ...
    @property
    def quarantine_reason(self) -> str | None: ...
    @property
    def corrects_leaf_index(self) -> int | None: ...


class SnapshotView(NamedTuple):
    """A stored snapshot as a plain read-only row (every column of :class:`Snapshot`, in order).

    ``verify`` streams the log as these rather than as ORM objects: far cheaper per leaf, and a
    deriver cannot change what it is handed. Build one from ``select(*SnapshotView.columns())``.
    """

    id: int
    leaf_index: int
    source: str
    kind: str
    method: str
    url: str
    params_json: str
    fetched_at: datetime
    http_status: int
    software_version: str
    config_hash: str
    body: bytes
    body_sha256: str
    body_size: int
    leaf_hash: str
    quarantined: bool
    quarantine_reason: str | None
    corrects_leaf_index: int | None

    @classmethod
    def columns(cls) -> tuple[Any, ...]:
        """The ``snapshot`` columns in field order, for a Core ``select``."""
        table = Snapshot.__table__  # type: ignore[attr-defined]
        return tuple(table.c[name] for name in cls._fields)

    @classmethod
    def of(cls, snapshot: SnapshotRecord) -> SnapshotView:
        """The view of any snapshot record (an ORM :class:`Snapshot` must have been stored)."""
        assert snapshot.id is not None
        return cls._make(getattr(snapshot, name) for name in cls._fields)


def provenance(snapshot: SnapshotRecord) -> dict[str, Any]:
    """The provenance record of a snapshot: exactly what its Merkle leaf commits to.

    This is the one definition of a leaf; ``verify`` recomputes every leaf hash through it.
    """
    record: dict[str, Any] = {
        "source": snapshot.source,
        "kind": snapshot.kind,
        "method": snapshot.method,
        "url": snapshot.url,
        "params": _loads_params(snapshot.params_json),
        "fetched_at": utc_iso(snapshot.fetched_at),
        "http_status": snapshot.http_status,
        "software_version": snapshot.software_version,
        "config_hash": snapshot.config_hash,
        "body_sha256": snapshot.body_sha256,
        "body_size": snapshot.body_size,
    }
    # Only when set, so ordinary leaves do not carry a null field.
    if snapshot.corrects_leaf_index is not None:
        record["corrects_leaf_index"] = snapshot.corrects_leaf_index
    return record


def provenance_leaf_hash(snapshot: SnapshotRecord) -> str:
    return leaf_hash(canonical_json(provenance(snapshot))).hex()


def stored_leaf_matches(snapshot: SnapshotRecord) -> bool:
    """Whether the snapshot's columns still hash to its recorded leaf: ``verify``'s fast path.

    The canonical JSON of :func:`provenance` is assembled directly from the columns, with the
    stored ``params_json`` spliced in as it is (the writer stores it in canonical form), instead
    of parsing the parameters back and serialising the whole record: a third of the cost per leaf.
    A match is conclusive: equal SHA-256 means these are the very bytes the leaf committed to, and
    every field is rendered exactly as the canonical encoder renders it (a column of an unexpected
    type is not rendered at all). No match decides nothing: the caller recomputes the leaf through
    :func:`provenance_leaf_hash`, the one definition, and reports what differs.
    """
    try:
        parts = [
            '{"body_sha256":',
            _json_string(snapshot.body_sha256),
            ',"body_size":',
            _json_int(snapshot.body_size),
            ',"config_hash":',
            _json_string(snapshot.config_hash),
        ]
        if snapshot.corrects_leaf_index is not None:
            parts += (',"corrects_leaf_index":', _json_int(snapshot.corrects_leaf_index))
        params = snapshot.params_json
        if type(params) is not str:
            return False
        parts += (
            ',"fetched_at":',
            _json_string(utc_iso(snapshot.fetched_at)),
            ',"http_status":',
            _json_int(snapshot.http_status),
            ',"kind":',
            _json_string(snapshot.kind),
            ',"method":',
            _json_string(snapshot.method),
            ',"params":',
            params,
            ',"software_version":',
            _json_string(snapshot.software_version),
            ',"source":',
            _json_string(snapshot.source),
            ',"url":',
            _json_string(snapshot.url),
            "}",
        )
        data = "".join(parts).encode("utf-8")
    except (TypeError, ValueError, AttributeError):
        return False
    return leaf_hash(data).hex() == snapshot.leaf_hash


def _json_int(value: Any) -> str:
    if type(value) is not int:  # not a bool, not a float: exactly what the encoder writes as int
        raise TypeError("not an int")
    return int.__repr__(value)


def _loads_params(params_json: str) -> Any:
    return json.loads(params_json)


def lock_sequencer(session: Session) -> None:
    """Serialise log writers for the rest of the transaction.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: the store begins every transaction
    with ``BEGIN IMMEDIATE`` (see :mod:`audit_store.db`), which already holds the write lock.
    """
    writer_lock(session, _LEAF_SEQUENCER_LOCK)


def writer_lock(session: Session, key: int) -> None:
    """Serialise one kind of writer (``key``) for the rest of the transaction: a PostgreSQL
    transaction-scoped advisory lock; on SQLite nothing, ``BEGIN IMMEDIATE`` holds the write lock
    already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


_SNAPSHOT_TABLE = Snapshot.__table__  # type: ignore[attr-defined]
_SNAPSHOT_COLUMNS = tuple(c.name for c in _SNAPSHOT_TABLE.columns if c.name != "id")
_LAST_LEAF = select(func.max(_SNAPSHOT_TABLE.c.leaf_index))


def log_size(session: Session) -> int:
    """The number of leaves in the log (the last leaf index + 1), 0 when it is empty.

    Without the sequencer lock this is the size as of the session's view; a writer holds the lock
    first (:func:`_next_leaf_index`), so that it is also the next leaf's index.
    """
    current = session.connection().execute(_LAST_LEAF).scalar_one()
    return 0 if current is None else int(current) + 1


def _next_leaf_index(session: Session) -> int:
    lock_sequencer(session)
    return log_size(session)


def new_snapshot(
    raw: RawResponse,
    *,
    software_version: str,
    config_hash: str,
    corrects_leaf_index: int | None = None,
) -> Snapshot:
    """A snapshot of ``raw`` that is not in the log yet (no leaf index, not stored).

    A correction of an earlier snapshot passes that snapshot's ``corrects_leaf_index``: the log is
    never edited, the correction is a new leaf that points back.
    """
    return Snapshot(
        leaf_index=-1,
        source=raw.source,
        kind=raw.kind,
        method=raw.method,
        url=raw.url,
        params_json=canonical_json(dict(raw.params)).decode("utf-8"),
        fetched_at=raw.fetched_at,
        http_status=raw.http_status,
        software_version=software_version,
        config_hash=config_hash,
        body=raw.body,
        body_sha256=hashlib.sha256(raw.body).hexdigest(),
        body_size=len(raw.body),
        leaf_hash="",
        corrects_leaf_index=corrects_leaf_index,
    )


def append_snapshot(
    session: Session, snapshot: Snapshot, *, quarantine_reason: str | None = None
) -> Snapshot:
    """Store ``snapshot`` as the next leaf of the log; returns it flushed, with its id."""
    if snapshot.id is not None or snapshot.leaf_index != -1:
        raise ValueError("snapshot is already in the log")
    snapshot.quarantined = quarantine_reason is not None
    snapshot.quarantine_reason = quarantine_reason
    snapshot.leaf_index = _next_leaf_index(session)
    target = snapshot.corrects_leaf_index
    if target is not None and not 0 <= target < snapshot.leaf_index:
        snapshot.leaf_index = -1
        raise ValueError(f"a correction must point at an earlier leaf, not at leaf {target}")
    snapshot.leaf_hash = provenance_leaf_hash(snapshot)
    # One Core INSERT of the columns as they are: the same row an ORM flush would write, without
    # the unit of work (the hot path of every fetch). The object stays outside the session.
    values = {name: getattr(snapshot, name) for name in _SNAPSHOT_COLUMNS}
    result = session.connection().execute(_SNAPSHOT_TABLE.insert(), values)
    (snapshot.id,) = result.inserted_primary_key or (None,)
    if snapshot.id is None:
        raise RuntimeError("the database returned no id for the new snapshot")
    return snapshot


INTERVAL_VALUE_FIELDS: Sequence[str] = (
    "source",
    "asset",
    "exchange",
    "interval_start",
    "interval_seconds",
    "long_count",
    "short_count",
    "total_count",
    "long_usd",
    "short_usd",
    "total_usd",
)


def append_interval_rows(
    session: Session, snapshot: Snapshot, rows: Iterable[Mapping[str, Any]]
) -> int:
    """Bulk-insert the rows derived from ``snapshot`` (mappings with the value fields)."""
    return append_interval_values(
        session, snapshot, ([row[k] for k in INTERVAL_VALUE_FIELDS] for row in rows)
    )


def append_interval_values(
    session: Session, snapshot: Snapshot, rows: Iterable[Sequence[Any]]
) -> int:
    """Bulk-insert rows given as values in :data:`INTERVAL_VALUE_FIELDS` order; returns how many.

    The hot path of every fetch: one driver-level ``executemany`` with values already converted by
    the columns' own bind processors, so the rows are stored exactly as an ORM insert would store
    them, without building an object or a parameter dict per row. The values are converted a
    column at a time, and a value that is the very object of the row before (the interval start
    that a total and its exchanges share) is converted once.
    """
    assert snapshot.id is not None
    connection = session.connection()
    dialect = connection.dialect
    table = IntervalVolume.__table__  # type: ignore[attr-defined]
    columns = ("snapshot_id", "row_index", *INTERVAL_VALUE_FIELDS)
    given = rows if isinstance(rows, list | tuple) else list(rows)
    if not given:
        return 0
    count = len(given)
    width = len(INTERVAL_VALUE_FIELDS)
    if set(map(len, given)) != {width}:
        raise ValueError(f"an interval row does not have {width} values")
    # Each column read straight from the rows (``itemgetter``) and converted a column at a time;
    # ``zip`` then builds each row's parameters in one go.
    values: list[Iterable[Any]] = [repeat(snapshot.id, count), range(count)]
    for j, name in enumerate(columns[2:]):
        column = map(itemgetter(j), given)
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        values.append(column if process is None else _converted(process, list(column)))
    payload = list(zip(*values, strict=True))
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))})"
    )
    connection.exec_driver_sql(sql, payload)
    return count


_UNSET = object()


def _converted(process: Callable[[Any], Any], column: Sequence[Any]) -> list[Any]:
    """``process`` applied to every value, once per run of the same object."""
    if len(column) < 2 or column[0] is not column[1]:
        return list(map(process, column))  # no runs to share (amounts): convert each
    out: list[Any] = []
    append = out.append
    last: Any = _UNSET
    done: Any = None
    for value in column:
        if value is not last:
            last, done = value, process(value)
        append(done)
    return out
