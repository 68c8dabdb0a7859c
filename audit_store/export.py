"""``liqrisk export``: an audit package a regulator verifies with nothing but ``python3``.

Why a package: a regulator should not have to trust liqrisk, its database or its operator. The
package holds the raw responses, the signed checkpoint they are committed to, a proof for each,
and ``verify.py`` (:mod:`audit_store.standalone_verify`, copied verbatim), which checks all of it
with the standard library alone.

**The range** is UTC days ``[start, end)``: ``start=2025-11-03, end=2025-11-04`` is one day. A
snapshot (one raw response, one leaf of the log) is *in the range* when any of these holds:

* it was fetched in the range (``snapshot.fetched_at``), quarantined responses included;
* a row derived from it falls in the range (``interval_volume.interval_start``,
  ``funding_rate.funding_time``, ``open_interest.ts``, ``liquidation_order.ts``);
* a check result of a day in the range cites its body as evidence.

Every row derived from an included snapshot is exported, also rows outside the range, so each raw
response comes with its whole derivation. Check runs, results, limit sets and the email delivery
log are those of the days in the range; reports are the ``artifact`` rows whose period ends on a
day in the range, with their files from the reports directory when the caller gives it (a file
that is missing or no longer matches its recorded SHA-256 is listed in the manifest's ``notes``,
never silently dropped).

**The checkpoint**: exporting signs a checkpoint of the whole log (or reuses the latest, when
nothing was appended since: :func:`audit_store.checkpoint.sign_checkpoint`), and the package
proves each included leaf is in it. It also carries the RFC 9162 consistency proof from the
checkpoint of the *previous export*: the latest one recorded in ``export_record`` that was made
against a smaller tree. So two packages a regulator holds are linked, and exporting the same range
of an unchanged store again yields the same previous export, hence the same bytes.

**Determinism**: members sorted by path, no directory entries, every timestamp 1980-01-01 00:00,
mode 0644, deflate at zlib's default level, CSV rows ordered by id with fixed number and date
forms, JSON with sorted keys, Ed25519 signatures (deterministic by design). The same store, range,
key and reports directory give the same bytes, with the same Python and zlib.

The signing key signs the checkpoint and the manifest; it is loaded through
:func:`audit_store.checkpoint.load_signer` and never written anywhere.

The package's layout is named in :mod:`audit_store.standalone_verify` (which checks it) and
described for the reviewer in :mod:`audit_store.export_readme`; the zip and the proofs are made by
:mod:`audit_store.export_parts`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from importlib.resources import files
from pathlib import Path
from typing import Any, cast

from sqlalchemy import and_, select
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, SQLModel, col

from audit_store import SOFTWARE_VERSION
from audit_store import standalone_verify as sv
from audit_store.activity import Activity, record_activity
from audit_store.canonical import canonical_json, utc_iso
from audit_store.checkpoint import load_signer, open_checkpoint, sign_checkpoint
from audit_store.db import Store
from audit_store.errors import ExportError, IntegrityError, ProofError
from audit_store.export_bag import add_bag_declarations, add_tag_manifest
from audit_store.export_parts import ProofTree, Staging, file_digest
from audit_store.export_readme import README_TEMPLATE
from audit_store.export_timestamps import stage_cosigned, stage_timestamps
from audit_store.files import FILE_MODE
from audit_store.merkle import consistency_proof, verify_consistency
from audit_store.models import Artifact, Checkpoint, CheckResult, CheckRun, IntervalVolume, Snapshot
from audit_store.note import NoteSigner, sign_note
from audit_store.snapshots import provenance
from audit_store.tables_export import ExportRecord
from audit_store.tables_ingest import (
    DERIVED_TABLES,
    FundingRate,
    LiquidationOrder,
    OpenInterest,
)
from audit_store.tables_limits import Acknowledgement, CheckResultDetail, LimitSetVersion
from audit_store.tables_outbox import OutboxAttempt, OutboxItem, OutboxMessage

_BATCH = 500


# Each derived table's snapshot column and the time its rows fall at; instrument_spec has no time
# (its snapshots are included by fetched_at alone).
_ROW_TIME: tuple[tuple[Any, Any], ...] = (
    (IntervalVolume.snapshot_id, IntervalVolume.interval_start),
    (FundingRate.snapshot_id, FundingRate.funding_time),
    (OpenInterest.snapshot_id, OpenInterest.ts),
    (LiquidationOrder.snapshot_id, LiquidationOrder.ts),
)
_DERIVED: Mapping[str, type[SQLModel]] = {"interval_volume": IntervalVolume, **DERIVED_TABLES}

RANGE_DEFINITION = (
    "UTC days [start, end). A raw snapshot is included when it was fetched in the range, when a "
    "row derived from it falls in the range, or when a check result of a day in the range cites "
    "it; every row derived from an included snapshot is included. Check runs, limit sets, "
    "reports and the email log are those of the days in the range."
)


@dataclass(frozen=True)
class ExportResult:
    """What was written, for the CLI to print."""

    path: Path
    sha256: str
    size: int
    files: int
    leaves: int
    tree_size: int
    root_hash: str
    verifier_key: str
    fingerprint: str
    previous_tree_size: int | None
    notes: tuple[str, ...]
    export_id: int


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


# -- the export


def export_package(
    store: Store,
    *,
    start: date,
    end: date,
    out: Path | str,
    origin: str,
    key_path: Path | str | None,
    reports_dir: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    now: datetime | None = None,
    tsa_ca_file: Path | None = None,
    max_skew_seconds: int = 120,
    by: str | None = None,
    via: str = "cli",
    address: str | None = None,
) -> ExportResult:
    """Write the audit package of UTC days ``[start, end)`` to ``out`` and record the export.

    The key is ``$LIQRISK_SIGNING_KEY`` or the file at ``key_path`` (see ``load_signer``), named
    ``origin``. ``reports_dir`` is where the report files named by ``artifact`` rows live.
    ``tsa_ca_file``: the CA certificate of the Time-Stamping Authority, copied beside the tokens
    for ``openssl ts -verify``; ``max_skew_seconds``: the clock difference a token's time may show.
    ``by``: who made it (``via`` the console or the CLI, from ``address``), recorded with the export
    as an activity leaf, so a later package shows who handed out this one.
    """
    if start >= end:
        raise ExportError(f"the range is empty: the end {end} must come after the start {start}")
    signer = load_signer(origin, key_path, environ=environ)
    store.require_schema()
    checkpoint = sign_checkpoint(store, signer, origin)
    assert checkpoint.id is not None
    target = Path(out).expanduser()
    reports = None if reports_dir is None else Path(reports_dir).expanduser()
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="liqrisk-export-") as tmp:
            staging = Staging(Path(tmp) / "package")
            with store.read_session() as session:
                builder = _Builder(session, staging, start, end, checkpoint, signer, reports)
                builder.timestamps = (tsa_ca_file, max_skew_seconds)
                built = builder.build()
            os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))
            os.chmod(partial, FILE_MODE)  # 0600 before the first byte, whatever the umask
            staging.write_zip(partial)
            os.replace(partial, target)  # a reader never sees half a package
    except OSError as exc:
        raise ExportError(f"cannot write the audit package {target}: {exc.strerror}") from exc
    finally:
        partial.unlink(missing_ok=True)
    size, sha = file_digest(target)
    with store.session() as session:
        record = ExportRecord(
            range_start=start,
            range_end=end,
            checkpoint_id=checkpoint.id,
            tree_size=checkpoint.tree_size,
            root_hash=checkpoint.root_hash,
            previous_export_id=built.previous_export_id,
            previous_tree_size=built.previous_tree_size,
            leaves=built.leaves,
            manifest_sha256=built.manifest_sha256,
            package_sha256=sha,
            package_size=size,
            software_version=SOFTWARE_VERSION,
            created_at=now or datetime.now(UTC),
        )
        session.add(record)
        session.flush()
        assert record.id is not None
        export_id = record.id
        if by is not None:
            details = {
                "range_start": start.isoformat(),
                "range_end": end.isoformat(),
                "tree_size": checkpoint.tree_size,
                "leaves": built.leaves,
                "package_sha256": sha,
                "package_size": size,
            }
            made = Activity(
                "export", by, via, record.created_at, address, f"export {export_id}", details
            )
            record_activity(session, made)
    return ExportResult(
        path=target,
        sha256=sha,
        size=size,
        files=len(staging.files),
        leaves=built.leaves,
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        verifier_key=signer.verifier.vkey,
        fingerprint=sv.key_fingerprint(signer.verifier.public_key),
        previous_tree_size=built.previous_tree_size,
        notes=tuple(built.notes),
        export_id=export_id,
    )


@dataclass(frozen=True)
class _Built:
    leaves: int
    manifest_sha256: str
    previous_export_id: int | None
    previous_tree_size: int | None
    notes: list[str]


class _Builder:
    """Reads one consistent view of the store and stages every file of the package."""

    def __init__(
        self,
        session: Session,
        staging: Staging,
        start: date,
        end: date,
        checkpoint: Checkpoint,
        signer: NoteSigner,
        reports: Path | None,
    ) -> None:
        self.session, self.staging = session, staging
        self.start, self.end = start, end
        self.begin, self.finish = day_start(start), day_start(end)
        self.checkpoint, self.signer, self.reports = checkpoint, signer, reports
        self.notes: list[str] = []
        self.counts: dict[str, int] = {}
        self.snapshot_leaf: dict[int, int] = {}  # snapshot id -> leaf index, set by _snapshots
        self.timestamps: tuple[Path | None, int] = (None, 120)  # the TSA's CA file, the skew

    def build(self) -> _Built:
        cp = self.checkpoint
        hashes = self._stored_leaf_hashes()
        if len(hashes) < cp.tree_size:
            raise IntegrityError(
                f"refusing to export: checkpoint {cp.id} covers {cp.tree_size} leaves but the log "
                f"has {len(hashes)}; run `liqrisk verify`"
            )
        tree = ProofTree(hashes[: cp.tree_size])
        if tree.root().hex() != cp.root_hash:
            raise IntegrityError(
                f"refusing to export: the log no longer hashes to checkpoint {cp.id}'s root; "
                "run `liqrisk verify`"
            )
        previous = self._previous(hashes)
        self._earlier_checkpoints(tree)
        self._snapshots(tree)
        self._derived_rows()
        self._limit_sets(self._checks())
        self._reports()
        self._outbox()
        ca_file, skew = self.timestamps
        self.counts["timestamp_tokens"] = stage_timestamps(
            self.session, self.staging, cp, tsa_ca_file=ca_file, max_skew_seconds=skew
        )
        self.counts["cosignatures"] = stage_cosigned(self.session, self.staging, cp)
        self.staging.add(sv.CHECKPOINT_FILE, cp.note.encode("utf-8"))
        self.staging.add(sv.KEY_FILE, (self.signer.verifier.vkey + "\n").encode("ascii"))
        verifier = files("audit_store").joinpath("standalone_verify.py").read_bytes()
        self.staging.add(sv.VERIFIER, verifier)
        self.staging.add(sv.README, self._readme(previous).encode("utf-8"))
        add_bag_declarations(
            self.staging,
            origin=cp.origin,
            software_version=SOFTWARE_VERSION,
            signed_at=cp.created_at,
            description=f"liqrisk audit package, UTC days {self.start} up to {self.end} "
            f"(end excluded), checkpoint of {cp.tree_size} leaves",
        )
        manifest = self._manifest(previous)
        manifest_sha256 = hashlib.sha256(manifest).hexdigest()
        text = sv.manifest_note_text(cp.origin, manifest_sha256)
        self.staging.add(sv.MANIFEST, manifest)
        self.staging.add(sv.MANIFEST_SIGNATURE, sign_note(text, self.signer).encode("utf-8"))
        add_tag_manifest(self.staging)
        return _Built(
            leaves=self.counts["leaves"],
            manifest_sha256=manifest_sha256,
            previous_export_id=None if previous is None else previous[0].id,
            previous_tree_size=None if previous is None else previous[0].tree_size,
            notes=self.notes,
        )

    def _stored_leaf_hashes(self) -> list[bytes]:
        """The recorded leaf hashes of the checkpoint's tree, in index order.

        Not recomputed from the provenance: ``sign_checkpoint`` has just done that for the whole
        log, :meth:`build` checks these hashes against the checkpoint's root, and
        :meth:`_snapshots` recomputes the hash of every leaf that goes into the package.
        """
        query = (
            select(col(Snapshot.leaf_index), col(Snapshot.leaf_hash))
            .where(col(Snapshot.leaf_index) < self.checkpoint.tree_size)
            .order_by(col(Snapshot.leaf_index))
        )
        hashes: list[bytes] = []
        for index, leaf in self.session.execute(query):
            if index != len(hashes):
                raise IntegrityError(
                    f"refusing to export: leaf index {len(hashes)} is missing or duplicated "
                    f"(next is {index}); run `liqrisk verify`"
                )
            hashes.append(bytes.fromhex(leaf))
        return hashes

    # -- the checkpoint of the previous export, and the proof that this log extends it

    def _previous(self, hashes: list[bytes]) -> tuple[ExportRecord, Checkpoint] | None:
        cp = self.checkpoint
        query = (
            select(ExportRecord)
            .where(col(ExportRecord.tree_size) < cp.tree_size)
            .order_by(col(ExportRecord.id).desc())
            .limit(1)
        )
        record = self.session.scalars(query).first()
        if record is None:
            return None
        old = self.session.get(Checkpoint, record.checkpoint_id)
        if old is None:
            raise IntegrityError(
                f"export {record.id} names checkpoint {record.checkpoint_id}, which does not exist"
            )
        try:
            head = open_checkpoint(old.note, [old.verifier_key])
            proof = consistency_proof(hashes[: cp.tree_size], head.tree_size)
            verify_consistency(
                head.tree_size, cp.tree_size, proof, head.root_hash, bytes.fromhex(cp.root_hash)
            )
        except ProofError as exc:
            raise IntegrityError(
                f"refusing to export: the log is not consistent with the checkpoint of export "
                f"{record.id} ({exc}); run `liqrisk verify`"
            ) from exc
        if head.tree_size != record.tree_size:
            raise IntegrityError(f"export {record.id}'s tree size differs from its checkpoint's")
        self.staging.add(sv.PREVIOUS_CHECKPOINT_FILE, old.note.encode("utf-8"))
        document = {
            "old_size": head.tree_size,
            "new_size": cp.tree_size,
            "proof": [base64.b64encode(h).decode() for h in proof],
        }
        self.staging.add(sv.CONSISTENCY_FILE, _json(document))
        return record, old

    def _earlier_checkpoints(self, tree: ProofTree) -> None:
        """A consistency proof from every earlier checkpoint of the log to this one: whoever kept
        any of them (a report email's, an export's) checks it with ``verify.py --since``."""
        cp = self.checkpoint
        query = (
            select(col(Checkpoint.tree_size), col(Checkpoint.root_hash))
            .where(col(Checkpoint.tree_size) < cp.tree_size, col(Checkpoint.tree_size) > 0)
            .distinct()
            .order_by(col(Checkpoint.tree_size))
        )
        proofs = []
        for size, root in self.session.execute(query):
            if tree.root(0, size).hex() != root:
                raise IntegrityError(
                    f"refusing to export: the log's first {size} leaves no longer hash to the root "
                    f"of the checkpoint signed for them; run `liqrisk verify`"
                )
            proof = tree.consistency_proof(size)
            proofs.append(
                {
                    "old_size": size,
                    "old_root_hash": root,
                    "proof": [base64.b64encode(h).decode() for h in proof],
                }
            )
        document = {"new_size": cp.tree_size, "new_root_hash": cp.root_hash, "proofs": proofs}
        self.staging.add(sv.EARLIER_PROOFS_FILE, _json(document))

    # -- snapshots: raw bodies, leaves, inclusion proofs

    def _snapshot_ids(self) -> set[int]:
        session, begin, finish = self.session, self.begin, self.finish
        fetched = col(Snapshot.fetched_at)
        query = select(col(Snapshot.id)).where(fetched >= begin, fetched < finish)
        ids: set[int] = {i for i in session.scalars(query) if i is not None}
        for snapshot_id, moment in _ROW_TIME:
            rows = select(col(snapshot_id)).where(col(moment) >= begin, col(moment) < finish)
            ids.update(session.scalars(rows.distinct()))
        cited = self._cited_bodies()
        for chunk in _chunks(sorted(cited)):
            found = session.execute(
                select(col(Snapshot.id), col(Snapshot.body_sha256)).where(
                    col(Snapshot.body_sha256).in_(chunk)
                )
            ).all()
            ids.update(row[0] for row in found)
            missing = set(chunk) - {row[1] for row in found}
            if missing:
                raise IntegrityError(
                    f"refusing to export: a check result cites snapshot body {min(missing)}, which "
                    "is not in the store; run `liqrisk verify`"
                )
        return ids

    def _cited_bodies(self) -> set[str]:
        cited: set[str] = set()
        query = select(col(CheckResult.id), col(CheckResult.evidence_json)).where(
            self._in_days(CheckResult)
        )
        for result_id, evidence_json in self.session.execute(query):
            try:
                evidence = json.loads(evidence_json)
                if not isinstance(evidence, list):
                    raise ValueError("not a list")
            except ValueError as exc:
                raise IntegrityError(
                    f"refusing to export: check_result {result_id}'s evidence is not a list of "
                    "hashes; run `liqrisk verify`"
                ) from exc
            cited.update(str(e) for e in evidence)
        return cited

    def _snapshots(self, tree: ProofTree) -> None:
        ids = sorted(self._snapshot_ids())
        size = self.checkpoint.tree_size
        leaves, proofs, rows = io.BytesIO(), io.BytesIO(), []
        bodies: set[str] = set()
        loaded: list[Snapshot] = []
        body = cast("QueryableAttribute[bytes]", Snapshot.body)
        for chunk in _chunks(ids):
            query = select(Snapshot).options(defer(body)).where(col(Snapshot.id).in_(chunk))
            loaded.extend(self.session.scalars(query))
        loaded.sort(key=lambda s: s.leaf_index)
        for snapshot in loaded:
            assert snapshot.id is not None
            name = f"snapshot {snapshot.id} (leaf {snapshot.leaf_index})"
            if snapshot.leaf_index >= size:
                raise ExportError(
                    f"{name} was appended while exporting, after checkpoint {self.checkpoint.id}; "
                    "run the export again"
                )
            line = canonical_json(provenance(snapshot))
            if sv.leaf_hash(line) != tree.hashes[snapshot.leaf_index]:
                raise IntegrityError(
                    f"refusing to export: {name} no longer matches its leaf hash; "
                    "run `liqrisk verify`"
                )
            leaves.write(line + b"\n")
            entry = {
                "leaf_index": snapshot.leaf_index,
                "proof": [
                    base64.b64encode(h).decode() for h in tree.inclusion_proof(snapshot.leaf_index)
                ],
            }
            proofs.write(canonical_json(entry) + b"\n")
            path = f"{sv.SNAPSHOT_DIR}{snapshot.body_sha256}{sv.SNAPSHOT_SUFFIX}"
            if snapshot.body_sha256 not in bodies:
                self._body(snapshot, name, path)
                bodies.add(snapshot.body_sha256)
            self.snapshot_leaf[snapshot.id] = snapshot.leaf_index
            rows.append(
                (
                    snapshot.id,
                    snapshot.leaf_index,
                    snapshot.leaf_hash,
                    snapshot.source,
                    snapshot.kind,
                    snapshot.fetched_at,
                    snapshot.http_status,
                    snapshot.body_sha256,
                    snapshot.body_size,
                    snapshot.quarantined,
                    snapshot.quarantine_reason,
                    snapshot.corrects_leaf_index,
                    path,
                )
            )
        self.staging.add(sv.LEAVES_FILE, leaves.getvalue())
        self.staging.add(sv.INCLUSION_FILE, proofs.getvalue())
        header = (
            "snapshot_id",
            "leaf_index",
            "leaf_hash",
            "source",
            "kind",
            "fetched_at",
            "http_status",
            "body_sha256",
            "body_size",
            "quarantined",
            "quarantine_reason",
            "corrects_leaf_index",
            "body_file",
        )
        self.staging.add_csv(sv.SNAPSHOTS_CSV, header, rows)
        self.counts["leaves"] = len(loaded)
        self.counts["snapshot_files"] = len(bodies)
        if not loaded:
            self.notes.append("no raw snapshot falls in the range")

    def _body(self, snapshot: Snapshot, name: str, path: str) -> None:
        data = self.session.scalars(
            select(col(Snapshot.body)).where(col(Snapshot.id) == snapshot.id)
        ).one()
        if hashlib.sha256(data).hexdigest() != snapshot.body_sha256 or len(data) != (
            snapshot.body_size
        ):
            raise IntegrityError(
                f"refusing to export: {name}'s raw body does not match its recorded SHA-256 and "
                "size; run `liqrisk verify`"
            )
        self.staging.add(path, data)

    # -- rows derived from the included snapshots

    def _derived_rows(self) -> None:
        ids = sorted(self.snapshot_leaf)
        for name, model in _DERIVED.items():
            fields = [f for f in model.model_fields if f not in ("id", "snapshot_id")]
            header = ("id", "snapshot_id", "leaf_index", *fields)

            found: list[Any] = self._by(model, cast(Any, model).snapshot_id, ids)
            ordered = [
                (
                    row.id,
                    row.snapshot_id,
                    self.snapshot_leaf[row.snapshot_id],
                    *(getattr(row, f) for f in fields),
                )
                for row in found
            ]
            self.counts[name] = self.staging.add_csv(f"{sv.DATA_DIR}{name}.csv", header, ordered)

    # -- check runs and results of the days in the range

    def _checks(self) -> list[CheckRun]:
        """Stage the check runs of the days in the range with their results; return the runs."""
        runs: list[CheckRun] = self._of_days(CheckRun)
        run_ids = [r.id for r in runs if r.id is not None]
        self.counts["check_runs"] = self._table(sv.CHECK_RUNS_CSV, CheckRun, runs)
        results = self._by(CheckResult, CheckResult.run_id, run_ids)
        header = [f for f in CheckResult.model_fields if f != "evidence_json"]
        self.counts["check_results"] = self.staging.add_csv(
            sv.CHECK_RESULTS_CSV,
            (*header, "evidence"),
            ((*(getattr(r, f) for f in header), r.evidence_json) for r in results),
        )
        result_ids = [r.id for r in results if r.id is not None]
        details = self._by(CheckResultDetail, CheckResultDetail.result_id, result_ids)
        self._table(f"{sv.CHECKS_DIR}check_result_details.csv", CheckResultDetail, details)
        acks = self._by(Acknowledgement, Acknowledgement.result_id, result_ids)
        self.counts["acknowledgements"] = self._table(
            f"{sv.CHECKS_DIR}acknowledgements.csv", Acknowledgement, acks
        )
        return runs

    def _limit_sets(self, runs: Sequence[CheckRun]) -> None:
        """Stage the limit sets ``runs`` used; a set the store never recorded becomes a note."""
        named = sorted({r.limit_set_sha256 for r in runs})
        versions = self._by(LimitSetVersion, LimitSetVersion.sha256, named)
        rows = []
        for version in versions:
            data = version.canonical_json.encode("utf-8")
            if hashlib.sha256(data).hexdigest() != version.sha256:
                raise IntegrityError(
                    f"refusing to export: limit_set {version.id}'s JSON does not hash to its "
                    "recorded SHA-256; run `liqrisk verify`"
                )
            path = f"{sv.LIMITS_DIR}{version.sha256}{sv.LIMIT_SUFFIX}"
            self.staging.add(path, data)
            rows.append(
                (version.id, version.sha256, version.loaded_from, version.recorded_at, path)
            )
        header = ("id", "sha256", "loaded_from", "recorded_at", "file")
        self.counts["limit_sets"] = self.staging.add_csv(
            f"{sv.LIMITS_DIR}limit_sets.csv", header, rows
        )
        for sha in sorted(set(named) - {v.sha256 for v in versions}):
            run_list = ", ".join(str(r.id) for r in runs if r.limit_set_sha256 == sha)
            self.notes.append(
                f"the limit set {sha} used by check run(s) {run_list} was not recorded in the "
                "store, so it is not in the package"
            )

    # -- reports

    def _reports(self) -> None:
        artifacts = [
            a
            for a in self.session.scalars(select(Artifact).order_by(col(Artifact.id)))
            if (day := _period_day(a.period)) is not None and self.start <= day < self.end
        ]
        latest_by_name = {a.name: a.id for a in artifacts}
        rows, included = [], 0
        for artifact in artifacts:
            status, path = self._report_file(artifact, latest_by_name)
            included += status == "included"
            rows.append(
                (
                    *(getattr(artifact, f) for f in Artifact.model_fields),
                    status,
                    path,
                )
            )
        header = (*Artifact.model_fields, "status", "package_file")
        self.counts["artifacts"] = self.staging.add_csv(sv.ARTIFACTS_CSV, header, rows)
        self.counts["report_files"] = included

    def _report_file(self, artifact: Artifact, latest: Mapping[str, int | None]) -> tuple[str, str]:
        label = f"report {artifact.name} (artifact {artifact.id}, {artifact.kind})"
        if self.reports is None:
            self.notes.append(f"{label}: not included, no reports directory was given")
            return "not_given", ""
        if not sv._safe_member(artifact.name):
            self.notes.append(f"{label}: not included, its name is not a relative path")
            return "unsafe_name", ""
        path = f"{sv.REPORTS_DIR}files/{artifact.name}"
        source = self.reports.joinpath(*artifact.name.split("/"))
        if not source.is_file():
            self.notes.append(f"{label}: missing from the reports directory")
            return "missing", ""
        size, sha = file_digest(source)
        if (sha, size) == (artifact.sha256, artifact.size):
            if path not in self.staging.files:
                self.staging.add_copy(path, source)
            return "included", path
        if latest.get(artifact.name) != artifact.id:
            self.notes.append(
                f"{label}: not included, the file was rendered again later (artifact "
                f"{latest.get(artifact.name)}) and now holds that version"
            )
            return "superseded", ""
        self.notes.append(
            f"{label}: not included, the file in the reports directory hashes to {sha}, not to "
            f"the recorded {artifact.sha256}"
        )
        return "altered", ""

    # -- the email delivery log

    def _outbox(self) -> None:
        messages: list[OutboxMessage] = self._of_days(OutboxMessage)
        fields = [f for f in OutboxMessage.model_fields if f != "body"]
        rows = []
        for message in messages:
            if hashlib.sha256(message.body).hexdigest() != message.body_sha256:
                raise IntegrityError(
                    f"refusing to export: outbox_message {message.id}'s body does not match its "
                    "recorded SHA-256"
                )
            suffix = ".eml" if message.content_type == "message/rfc822" else ".json"
            path = f"{sv.OUTBOX_DIR}bodies/{message.body_sha256}{suffix}"
            if path not in self.staging.files:
                self.staging.add(path, message.body)
            rows.append((*(getattr(message, f) for f in fields), path))
        self.counts["outbox_messages"] = self.staging.add_csv(
            sv.OUTBOX_MESSAGES_CSV, (*fields, "body_file"), rows
        )
        ids = [m.id for m in messages if m.id is not None]
        self._table(
            f"{sv.OUTBOX_DIR}items.csv",
            OutboxItem,
            self._by(OutboxItem, OutboxItem.outbox_message_id, ids),
        )
        attempts = self._by(OutboxAttempt, OutboxAttempt.outbox_message_id, ids)
        self.counts["outbox_attempts"] = self._table(
            f"{sv.OUTBOX_DIR}attempts.csv", OutboxAttempt, attempts
        )

    # -- helpers

    def _in_days(self, model: type[Any]) -> Any:
        """The condition "``model.day`` is a day of the range ``[start, end)``"."""
        day = col(model.day)
        return and_(day >= self.start, day < self.end)

    def _of_days(self, model: type[Any]) -> list[Any]:
        """Rows of ``model`` whose ``day`` is in the range, ordered by id."""
        query = select(model).where(self._in_days(model)).order_by(col(model.id))
        return list(self.session.scalars(query))

    def _by(self, model: type[Any], column: Any, values: Sequence[Any]) -> list[Any]:
        """Rows of ``model`` whose ``column`` is in ``values``, ordered by id."""
        found: list[Any] = []
        for chunk in _chunks(sorted(values)):
            found.extend(self.session.scalars(select(model).where(col(column).in_(chunk))))
        return sorted(found, key=lambda r: r.id)

    def _table(self, path: str, model: type[SQLModel], rows: Sequence[Any]) -> int:
        header = list(model.model_fields)
        return self.staging.add_csv(path, header, ([getattr(r, f) for f in header] for r in rows))

    # -- manifest and README

    def _manifest(self, previous: tuple[ExportRecord, Checkpoint] | None) -> bytes:
        cp = self.checkpoint
        document: dict[str, Any] = {
            "format": sv.FORMAT,
            "origin": cp.origin,
            "software_version": SOFTWARE_VERSION,
            "range": {
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "start_utc": utc_iso(self.begin),
                "end_utc": utc_iso(self.finish),
                "end_excluded": True,
                "definition": RANGE_DEFINITION,
            },
            "key": {
                "path": sv.KEY_FILE,
                "verifier_key": self.signer.verifier.vkey,
                "fingerprint_sha256": sv.key_fingerprint(self.signer.verifier.public_key),
            },
            "checkpoint": {
                "path": sv.CHECKPOINT_FILE,
                "tree_size": cp.tree_size,
                "root_hash": cp.root_hash,
                "signed_at": utc_iso(cp.created_at),
            },
            "previous_export": None,
            "counts": dict(sorted(self.counts.items())),
            "notes": self.notes,
            "files": [
                {"path": path, "size": size, "sha256": sha}
                for path, (size, sha) in sorted(self.staging.files.items())
            ],
        }
        if previous is not None:
            record, old = previous
            document["previous_export"] = {
                "export_id": record.id,
                "range": {
                    "start": record.range_start.isoformat(),
                    "end": record.range_end.isoformat(),
                },
                "checkpoint_path": sv.PREVIOUS_CHECKPOINT_FILE,
                "consistency_proof_path": sv.CONSISTENCY_FILE,
                "tree_size": record.tree_size,
                "root_hash": old.root_hash,
                "verifier_key": old.verifier_key,
            }
        return _json(document)

    def _readme(self, previous: tuple[ExportRecord, Checkpoint] | None) -> str:
        cp = self.checkpoint
        fingerprint = sv.key_fingerprint(self.signer.verifier.public_key)
        link = (
            "This package is the first export, so there is no earlier checkpoint to link to."
            if previous is None
            else f"It also proves that this log extends the one of the previous export (export "
            f"{previous[0].id}, {previous[0].tree_size} leaves): nothing was rewritten between."
        )
        return README_TEMPLATE.format(
            start=self.start.isoformat(),
            end=self.end.isoformat(),
            origin=cp.origin,
            fingerprint=fingerprint,
            tree_size=cp.tree_size,
            leaves=self.counts["leaves"],
            link=link,
            definition=RANGE_DEFINITION,
            notes=len(self.notes),
        )


def _period_day(period: str) -> date | None:
    """The last day of a report period: ``2025-11-03`` or ``week:2025-11-03`` (the week's end)."""
    try:
        return date.fromisoformat(period.rsplit(":", 1)[-1])
    except ValueError:
        return None


def _chunks(values: Sequence[Any], size: int = _BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
