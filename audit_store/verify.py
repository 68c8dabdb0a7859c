"""``liqrisk verify``: recompute everything the store claims and list every difference.

What is checked, streaming the log in leaf order with flat memory:

* each raw body against its recorded SHA-256 and size, each leaf hash against the provenance
  record (:func:`audit_store.snapshots.provenance`), leaf indexes exactly 0..n-1;
* the tree root at every stored checkpoint's size, each checkpoint's signature (C2SP signed note),
  that its columns match its signed text, and the consistency proof from the checkpoint before;
* every derived row against a re-derivation from its snapshot (missing, extra, changed rows;
  floats compared exactly, datetimes as UTC) and each snapshot's quarantine reason;
* every ``check_result``'s evidence: each snapshot body SHA-256 it cites must be in the store.

Derivation is injected (``derive``), because the formats live in :mod:`reporting` and this package
must not import it. Checkpoint signatures are checked against ``trusted_keys`` when given (the
verifier keys the regulator holds); otherwise against the key stored with each checkpoint, and a
change of key between checkpoints is reported, since a forger could store a key of their own.

A deliberately tampered store is the reason this exists, so nothing here trusts a stored hash
where it can recompute one: roots are built from recomputed leaf hashes, not stored ones.

:func:`record_verify` appends the outcome of a run to ``verify_run``, which ``liqrisk status``
shows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import DateTime, or_, select
from sqlmodel import Session, col

from audit_store import SOFTWARE_VERSION
from audit_store.bulk import gc_paused
from audit_store.canonical import as_utc
from audit_store.checkpoint import TreeHead, consistency_proof_of, open_checkpoint
from audit_store.db import Store
from audit_store.errors import ProofError
from audit_store.merkle import RootAccumulator, verify_consistency
from audit_store.models import Checkpoint, CheckResult, CheckRun, IntervalVolume, Snapshot
from audit_store.rotation import open_rotation
from audit_store.snapshots import (
    INTERVAL_VALUE_FIELDS,
    SnapshotView,
    provenance_leaf_hash,
    stored_leaf_matches,
)
from audit_store.tables_schedule import VerifyRun

Derived = tuple[Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]], str | None]
Deriver = Callable[[SnapshotView], Derived]
"""A snapshot's rows and its quarantine reason. Rows are mappings keyed by
``INTERVAL_VALUE_FIELDS`` or, cheaper, sequences of values in that order.

The deriver is handed a :class:`~audit_store.snapshots.SnapshotView` (a read-only row with every
column of :class:`Snapshot`); a deriver written against
:class:`~audit_store.snapshots.SnapshotRecord` takes both.
"""

_BATCH = 500
_PART_BYTES = 2_000_000  # of raw body: about 10,000 Kaiko rows
_ROW_COLUMNS = (
    col(IntervalVolume.id),
    col(IntervalVolume.snapshot_id),
    col(IntervalVolume.row_index),
    *(col(getattr(IntervalVolume, name)) for name in INTERVAL_VALUE_FIELDS),
)
_START = INTERVAL_VALUE_FIELDS.index("interval_start")
_OTHER_FIELDS = tuple(f for f in INTERVAL_VALUE_FIELDS if f != "interval_start")
_FAST_COLUMNS = (
    col(IntervalVolume.snapshot_id),
    col(IntervalVolume.row_index),
    col(IntervalVolume.interval_start),
    *(col(getattr(IntervalVolume, name)) for name in _OTHER_FIELDS),
)
_OTHER_INDEXES = tuple(i for i, f in enumerate(INTERVAL_VALUE_FIELDS) if f != "interval_start")
_VIEW_COLUMNS = SnapshotView.columns()
_first = operator.itemgetter(0)
_other_values = operator.itemgetter(*_OTHER_INDEXES)
_all_values = operator.itemgetter(*INTERVAL_VALUE_FIELDS)


def _as_values(rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Derived rows as value sequences in ``INTERVAL_VALUE_FIELDS`` order (mappings are read by
    field name; sequences are taken as they are)."""
    if rows and isinstance(rows[0], Mapping):
        return list(map(_all_values, rows))
    return list(cast("Sequence[Sequence[Any]]", rows))


@dataclass(frozen=True)
class Discrepancy:
    """One difference between what the store holds and what it should hold."""

    table: str
    record_id: int | None  # the row's id; None when the record is missing altogether
    message: str  # names the record and says what differs


@dataclass
class VerifyReport:
    discrepancies: list[Discrepancy] = field(default_factory=list)
    leaves: int = 0
    rows: int = 0
    checkpoints: int = 0
    check_results: int = 0
    root_hash: str = ""  # recomputed root of all leaves
    checkpointed_leaves: int = 0  # tree size of the latest checkpoint
    trusted_keys: str = "stored"  # "given" when the caller pinned the verifier keys
    rotations: int = 0  # changes of key each vouched for by the key it replaced (unpinned)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    @property
    def unsigned_leaves(self) -> int:
        """Leaves appended after the latest checkpoint: fine, but not yet signed."""
        return max(self.leaves - self.checkpointed_leaves, 0)

    def add(self, table: str, record_id: int | None, message: str) -> None:
        self.discrepancies.append(Discrepancy(table, record_id, message))

    def summary_lines(self) -> list[str]:
        """The report for a terminal: a verdict, the counts, then one line per discrepancy."""
        verdict = "OK" if self.ok else f"FAILED: {len(self.discrepancies)} discrepancies"
        lines = [
            f"verify: {verdict}",
            f"  leaves {self.leaves}, root {self.root_hash or '-'}",
            f"  checkpoints {self.checkpoints} (latest covers {self.checkpointed_leaves} leaves, "
            f"{self.unsigned_leaves} not yet signed; keys: {self.trusted_keys}"
            + (
                f", {self.rotations} rotation(s) each signed by the retiring key"
                if self.rotations
                else ""
            )
            + ")",
            f"  derived rows {self.rows}, check results {self.check_results}",
        ]
        lines.extend(f"  {d.message}" for d in self.discrepancies)  # each names its record
        return lines

    def summary(self) -> dict[str, Any]:
        """The counts, the root and the keys trusted (everything but the discrepancies)."""
        return {
            "leaves": self.leaves,
            "rows": self.rows,
            "checkpoints": self.checkpoints,
            "check_results": self.check_results,
            "root_hash": self.root_hash,
            "checkpointed_leaves": self.checkpointed_leaves,
            "unsigned_leaves": self.unsigned_leaves,
            "trusted_keys": self.trusted_keys,
            "key_rotations": self.rotations,
        }

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object (``ok``, ``summary``, ``discrepancies``)."""
        return {
            "ok": self.ok,
            "summary": self.summary(),
            "discrepancies": [asdict(d) for d in self.discrepancies],
        }


MAX_VERIFY_PROBLEMS = 20
"""Discrepancies kept with a recorded verify outcome (the count is always whole)."""


def record_verify(store: Store, report: VerifyReport, at: datetime) -> None:
    """Append the outcome of one ``liqrisk verify`` to ``verify_run`` (what ``liqrisk status``
    shows): the counts, the verdict and the first discrepancies."""
    detail = {
        "summary": report.summary(),
        "discrepancies": [asdict(d) for d in report.discrepancies[:MAX_VERIFY_PROBLEMS]],
    }
    with store.session() as session:
        session.add(
            VerifyRun(
                at=at,
                ok=report.ok,
                discrepancies=len(report.discrepancies),
                leaves=report.leaves,
                root_hash=report.root_hash,
                checkpointed_leaves=report.checkpointed_leaves,
                trusted_keys=report.trusted_keys,
                software_version=SOFTWARE_VERSION,
                detail_json=json.dumps(detail, sort_keys=True, ensure_ascii=False),
            )
        )


def verify_store(
    store: Store,
    derive: Deriver,
    *,
    trusted_keys: Iterable[str] | None = None,
    batch_size: int = _BATCH,
) -> VerifyReport:
    """Check the whole store; the report lists every discrepancy (``.ok`` when there is none)."""
    store.require_schema()
    report = VerifyReport()
    pinned = list(trusted_keys) if trusted_keys is not None else None
    if pinned is not None:
        report.trusted_keys = "given"
    with store.read_session() as session:
        checkpoints = list(
            session.scalars(
                select(Checkpoint).order_by(col(Checkpoint.tree_size), col(Checkpoint.id))
            )
        )
        session.expunge_all()
        wanted = {c.tree_size for c in checkpoints}
        roots: dict[int, bytes] = {}
        accumulator = RootAccumulator()
        if 0 in wanted:
            roots[0] = accumulator.root()
        bodies: set[str] = set()
        expected = 0
        rows_checker = _RowChecker(session, derive, report)
        for batch in _snapshot_batches(session, batch_size):
            for part in _parts(batch):  # a bounded number of stored rows in memory at a time
                with gc_paused():  # a part's rows and bodies are many objects and no cycle
                    stored = rows_checker.load([s.id for s in part])
                    for snapshot in part:
                        expected = _check_index(snapshot, expected, report)
                        leaf = _check_snapshot(snapshot, report)
                        accumulator.append(leaf)
                        if accumulator.size in wanted:
                            roots[accumulator.size] = accumulator.root()
                        bodies.add(snapshot.body_sha256)
                        rows_checker.check(snapshot, stored.get(snapshot.id, []))
        report.leaves = accumulator.size
        report.root_hash = accumulator.root().hex()
        _check_orphan_rows(session, report)
        _check_checkpoints(checkpoints, roots, report, pinned)
        _check_evidence(session, bodies, report)
    return report


# -- leaves


def _snapshot_batches(session: Session, size: int) -> Iterator[list[SnapshotView]]:
    """Snapshots in (leaf_index, id) order, ``size`` at a time (keyset pagination).

    Read as plain column rows (typed by the columns' own result processors), not ORM objects.
    """
    connection = session.connection()
    make = SnapshotView._make
    leaf_index, ident = col(Snapshot.leaf_index), col(Snapshot.id)
    last: tuple[int, int] | None = None
    while True:
        query = select(*_VIEW_COLUMNS).order_by(leaf_index, ident).limit(size)
        if last is not None:
            # (leaf_index, id) > last, spelled so that the leaf_index index bounds the scan.
            query = query.where(leaf_index >= last[0], or_(leaf_index > last[0], ident > last[1]))
        batch = list(map(make, connection.execute(query).all()))
        if not batch:
            return
        yield batch
        tail = batch[-1]
        last = (tail.leaf_index, tail.id)


def _parts(batch: list[SnapshotView]) -> Iterator[list[SnapshotView]]:
    """The batch in runs of at most ``_PART_BYTES`` of raw body (at least one snapshot each): the
    stored rows of one run are loaded at once, so large pages do not pile up rows in memory."""
    part: list[SnapshotView] = []
    size = 0
    for snapshot in batch:
        if part and size + snapshot.body_size > _PART_BYTES:
            yield part
            part, size = [], 0
        part.append(snapshot)
        size += snapshot.body_size
    if part:
        yield part


def _check_index(snapshot: SnapshotView, expected: int, report: VerifyReport) -> int:
    """Leaf indexes must run 0..n-1 without gap or duplicate; returns the next expected index."""
    if snapshot.leaf_index > expected:
        missing = range(expected, snapshot.leaf_index)
        span = f"{missing[0]}" if len(missing) == 1 else f"{missing[0]}..{missing[-1]}"
        report.add("snapshot", None, f"leaf index {span} is missing (deleted snapshot?)")
    elif snapshot.leaf_index < expected:
        report.add(
            "snapshot",
            snapshot.id,
            f"snapshot {snapshot.id} (leaf {snapshot.leaf_index}): leaf index is duplicated",
        )
    return max(expected, snapshot.leaf_index + 1)


def _check_snapshot(snapshot: SnapshotView, report: VerifyReport) -> bytes:
    """Check one snapshot's body and leaf; return its recomputed leaf hash."""
    name = f"snapshot {snapshot.id} (leaf {snapshot.leaf_index})"
    body = snapshot.body
    digest = hashlib.sha256(body).hexdigest()
    if digest != snapshot.body_sha256:
        report.add(
            "snapshot",
            snapshot.id,
            f"{name}: raw body hashes to {digest}, recorded {snapshot.body_sha256}",
        )
    if len(body) != snapshot.body_size:
        report.add(
            "snapshot",
            snapshot.id,
            f"{name}: raw body is {len(body)} bytes, recorded {snapshot.body_size}",
        )
    if stored_leaf_matches(snapshot):
        leaf = snapshot.leaf_hash
    else:
        leaf = provenance_leaf_hash(snapshot)  # the definition decides, and names the difference
    if leaf != snapshot.leaf_hash:
        report.add(
            "snapshot",
            snapshot.id,
            f"{name}: provenance hashes to leaf {leaf}, recorded {snapshot.leaf_hash}",
        )
    target = snapshot.corrects_leaf_index
    if target is not None and not 0 <= target < snapshot.leaf_index:
        report.add("snapshot", snapshot.id, f"{name}: corrects leaf {target}, not an earlier leaf")
    return bytes.fromhex(leaf)


# -- derived rows


class _RowChecker:
    """Compares each snapshot's stored rows with its re-derived ones.

    A first, exact pass compares the values as the database driver hands them back (no
    per-row conversion on the stored side; the derived side is put in the driver's form through
    SQLAlchemy's own bind processing, e.g. SQLite's datetime text). Only a snapshot that pass finds
    different is fetched again with typed values and diffed field by field, so a value stored in
    an unusual but equal form is never reported, and every real difference is named.
    """

    def __init__(self, session: Session, derive: Deriver, report: VerifyReport) -> None:
        self.session, self.derive, self.report = session, derive, report
        dialect = session.get_bind().dialect
        self._bind = DateTime(timezone=True).dialect_impl(dialect).bind_processor(dialect)
        self._forms: dict[datetime, Any] = {}

    def load(self, snapshot_ids: list[int]) -> dict[int, list[tuple[Any, ...]]]:
        """Driver-level rows ``(snapshot_id, row_index, interval_start, *others)`` by snapshot."""
        if not snapshot_ids:
            return {}
        # Rows in (snapshot, id) order: the order the snapshot_id index already holds them in, so
        # the database does not sort. Stored in row_index order, as every writer stores them, they
        # meet the derived rows as they are; any other order fails the fast comparison and the
        # snapshot is diffed by row_index (``_typed_rows``).
        owner = col(IntervalVolume.snapshot_id)
        low, high = min(snapshot_ids), max(snapshot_ids)
        if high - low + 1 == len(snapshot_ids):  # consecutive ids, the usual batch: a range scan
            where = owner.between(low, high)
        else:
            where = owner.in_(snapshot_ids)
        query = select(*_FAST_COLUMNS).where(where).order_by(owner, col(IntervalVolume.id))
        result = self.session.connection().execute(query)
        try:
            raw = result.cursor.fetchall() if result.cursor is not None else []
        finally:
            result.close()
        self.report.rows += len(raw)
        # Sorted by snapshot id, so grouping is one pass in C.
        return {sid: list(rows) for sid, rows in itertools.groupby(raw, _first)}

    def check(self, snapshot: SnapshotView, stored: list[tuple[Any, ...]]) -> None:
        """Re-derive ``snapshot`` and compare: its quarantine reason, then its rows."""
        name = f"snapshot {snapshot.id} (leaf {snapshot.leaf_index})"
        try:
            rows, reason = self.derive(snapshot)
            derived = [] if reason is not None else _as_values(rows)
        except Exception as exc:  # a deriver bug must not hide the rest of the report
            self.report.add("snapshot", snapshot.id, f"{name}: re-derivation failed: {exc!r}"[:300])
            return
        if reason != snapshot.quarantine_reason or snapshot.quarantined != (reason is not None):
            self.report.add(
                "snapshot",
                snapshot.id,
                f"{name}: stored quarantine {snapshot.quarantine_reason!r}, re-derived {reason!r}",
            )
        # The derived rows in the stored rows' driver-level form, snapshot id first, so the two
        # lists compare as they are: no per-row slicing or conversion of the stored side.
        sid, forms, form = snapshot.id, self._forms, self._form
        try:
            expected = [
                (sid, i, forms.get(row[_START]) or form(row[_START])) + _other_values(row)  # noqa: RUF005 (faster)
                for i, row in enumerate(derived)
            ]
        except Exception:  # an odd derived value: the typed diff below names it
            expected = None
        if stored == expected:
            return  # the common case, decided in one comparison
        self.report.discrepancies.extend(
            diff_rows(
                "interval_volume",
                name,
                INTERVAL_VALUE_FIELDS,
                self._typed_rows(snapshot.id),
                derived,
                _describe_interval,
            )
        )

    def _form(self, value: datetime) -> Any:
        form = self._forms.get(value)
        if form is None:
            if len(self._forms) > 100_000:
                self._forms.clear()
            utc = as_utc(value)
            form = self._forms[value] = self._bind(utc) if self._bind else utc
        return form

    def _typed_rows(self, snapshot_id: int | None) -> list[tuple[Any, ...]]:
        """Stored rows ``(id, snapshot_id, row_index, *values)`` with SQLAlchemy's typing."""
        query = (
            select(*_ROW_COLUMNS)
            .where(col(IntervalVolume.snapshot_id) == snapshot_id)
            .order_by(col(IntervalVolume.row_index), col(IntervalVolume.id))
        )
        return [tuple(row) for row in self.session.execute(query)]


def normalise_values(values: Iterable[Any]) -> tuple[Any, ...]:
    """Values as compared field by field: datetimes as UTC (SQLite hands them back naive)."""
    return tuple(as_utc(v) if isinstance(v, datetime) else v for v in values)


def diff_rows(
    table: str,
    name: str,
    fields: Sequence[str],
    stored: Iterable[Sequence[Any]],
    expected: Sequence[Sequence[Any]],
    describe: Callable[[tuple[Any, ...]], str] | None = None,
) -> list[Discrepancy]:
    """Every difference between one snapshot's stored rows of ``table`` and its derived ones.

    ``stored`` rows are ``(id, snapshot_id, row_index, *values)``; ``expected`` rows are the
    derived values in ``fields`` order, row ``i`` at index ``i``. A stored row is extra when its
    row index is taken or out of range; a derived row is missing when no stored row has its
    index (``describe`` says which one, for the message; the table's name by default); a row found
    is compared field by field.
    ``name`` names the snapshot in every message.
    """
    found: list[Discrepancy] = []
    want = [normalise_values(row) for row in expected]
    by_index: dict[int, Sequence[Any]] = {}
    for row in stored:
        if row[2] in by_index or not 0 <= row[2] < len(want):
            message = f"{table} {row[0]} ({name}, row {row[2]}): extra row, not derived"
            found.append(Discrepancy(table, row[0], message))
        else:
            by_index[row[2]] = row
    for i, values in enumerate(want):
        kept = by_index.get(i)
        if kept is None:
            which = describe(values) if describe is not None else table
            message = f"{name}: derived row {i} is missing ({which})"
            found.append(Discrepancy(table, None, message))
            continue
        changed = [
            f"{field} is {have!r}, derived {value!r}"
            for field, have, value in zip(fields, normalise_values(kept[3:]), values, strict=True)
            if have != value
        ]
        if changed:
            message = f"{table} {kept[0]} ({name}, row {i}): {'; '.join(changed)}"
            found.append(Discrepancy(table, kept[0], message))
    return found


def _describe_interval(values: tuple[Any, ...]) -> str:
    return f"{values[1]} {values[2]} {values[_START].isoformat()}"


def _check_orphan_rows(session: Session, report: VerifyReport) -> None:
    query = (
        select(col(IntervalVolume.id), col(IntervalVolume.snapshot_id))
        .outerjoin(Snapshot, col(Snapshot.id) == col(IntervalVolume.snapshot_id))
        .where(col(Snapshot.id).is_(None))
        .order_by(col(IntervalVolume.id))
    )
    for row_id, snapshot_id in session.execute(query):
        report.rows += 1
        report.add(
            "interval_volume",
            row_id,
            f"interval_volume {row_id} points at snapshot {snapshot_id}, which does not exist",
        )


# -- checkpoints


def _check_checkpoints(
    checkpoints: list[Checkpoint],
    roots: dict[int, bytes],
    report: VerifyReport,
    pinned: list[str] | None,
) -> None:
    report.checkpoints = len(checkpoints)
    previous: tuple[Checkpoint, TreeHead] | None = None
    # Unpinned, the first checkpoint's key is trusted, and each later key once the key it
    # replaces has signed a statement vouching for it (audit_store.rotation).
    trusted_key = checkpoints[0].verifier_key if checkpoints else None
    matched_size = 0  # largest checkpoint size whose root the leaves still reproduce
    latest_id = 0
    for checkpoint in checkpoints:
        name = f"checkpoint {checkpoint.id} (tree size {checkpoint.tree_size})"
        assert checkpoint.id is not None
        if checkpoint.id < latest_id:
            report.add("checkpoint", checkpoint.id, f"{name}: stored after a larger checkpoint")
        latest_id = max(latest_id, checkpoint.id)
        if pinned is None and trusted_key is not None and checkpoint.verifier_key != trusted_key:
            why = _unvouched(checkpoint, trusted_key)
            if why is None:
                report.rotations += 1
                trusted_key = checkpoint.verifier_key
            else:
                report.add(
                    "checkpoint",
                    checkpoint.id,
                    f"{name}: signed by key {checkpoint.key_name}+{checkpoint.key_id}, not the "
                    f"key trusted before it, and {why}; pass the trusted verifier keys to accept "
                    "the change",
                )
        try:
            head = open_checkpoint(checkpoint.note, pinned or [checkpoint.verifier_key])
        except ProofError as exc:
            report.add("checkpoint", checkpoint.id, f"{name}: signature does not verify: {exc}")
            continue
        if (head.origin, head.tree_size, head.root_hash.hex()) != (
            checkpoint.origin,
            checkpoint.tree_size,
            checkpoint.root_hash,
        ):
            report.add("checkpoint", checkpoint.id, f"{name}: columns differ from its signed note")
        root = roots.get(head.tree_size)
        if root is None:
            report.add(
                "checkpoint",
                checkpoint.id,
                f"{name}: signed for {head.tree_size} leaves but the log has {report.leaves}; "
                "leaves were deleted",
            )
        elif root != head.root_hash:
            report.add(
                "checkpoint",
                checkpoint.id,
                f"{name}: leaves 0..{head.tree_size - 1} no longer hash to the signed root; a "
                f"leaf at index {matched_size} or later was altered, re-ordered, inserted or "
                "deleted",
            )
        else:
            matched_size = head.tree_size
        _check_link(checkpoint, head, previous, report)
        previous = (checkpoint, head)
        report.checkpointed_leaves = head.tree_size


def _unvouched(checkpoint: Checkpoint, old_key: str) -> str | None:
    """Why ``checkpoint``'s key is not vouched for by ``old_key``; ``None`` when it is: its
    rotation statement is signed by ``old_key`` and names both keys and this checkpoint."""
    if checkpoint.rotation_note is None:
        return "no statement signed by that key vouches for it"
    try:
        change = open_rotation(checkpoint.rotation_note, old_key)
    except ProofError as exc:
        return f"its rotation statement does not verify under that key ({exc})"
    said = (change.origin, change.new_key, change.tree_size, change.root_hash.hex())
    if said != (
        checkpoint.origin,
        checkpoint.verifier_key,
        checkpoint.tree_size,
        checkpoint.root_hash,
    ):
        return "its rotation statement names another key or tree head"
    return None


def _check_link(
    checkpoint: Checkpoint,
    head: TreeHead,
    previous: tuple[Checkpoint, TreeHead] | None,
    report: VerifyReport,
) -> None:
    """The stored consistency proof from the previous checkpoint must verify."""
    name = f"checkpoint {checkpoint.id} (tree size {checkpoint.tree_size})"
    before = None if previous is None else previous[0].tree_size
    if checkpoint.previous_tree_size != before:
        report.add(
            "checkpoint",
            checkpoint.id,
            f"{name}: records previous tree size {checkpoint.previous_tree_size}, but the "
            f"checkpoint before it has {before}",
        )
        return
    try:
        proof = consistency_proof_of(checkpoint)
        if previous is None:
            if proof:
                raise ProofError("the first checkpoint carries a consistency proof")
            return
        old = previous[1]
        verify_consistency(old.tree_size, head.tree_size, proof, old.root_hash, head.root_hash)
    except ProofError as exc:
        report.add(
            "checkpoint",
            checkpoint.id,
            f"{name}: not consistent with the checkpoint before it: {exc}",
        )


# -- check results


def _check_evidence(session: Session, bodies: set[str], report: VerifyReport) -> None:
    runs = set(session.scalars(select(col(CheckRun.id))))
    query = select(
        col(CheckResult.id), col(CheckResult.run_id), col(CheckResult.evidence_json)
    ).order_by(col(CheckResult.id))
    for result_id, run_id, evidence_json in session.execute(query):
        report.check_results += 1
        name = f"check_result {result_id}"
        if run_id not in runs:
            report.add("check_result", result_id, f"{name}: its check_run {run_id} does not exist")
        try:
            cited = json.loads(evidence_json)
            if not isinstance(cited, list) or not all(isinstance(c, str) for c in cited):
                raise ValueError("not a list of strings")
        except ValueError:
            report.add("check_result", result_id, f"{name}: evidence_json is not a list of hashes")
            continue
        for digest in cited:
            if digest not in bodies:
                report.add(
                    "check_result",
                    result_id,
                    f"{name}: cites snapshot body {digest}, which is not in the store",
                )
