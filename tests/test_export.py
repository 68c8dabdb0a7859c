"""Audit packages: what goes in, byte-identical re-exports, and verify.py catching each alteration.

Every tamper test changes one thing in a copy of a real package and runs the package's own
``verify.py`` with ``python3 -I`` in the unpacked folder, as a regulator would.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from audit_store import export as export_module
from audit_store import standalone_verify as sv
from audit_store.checkpoint import TreeHead, load_signer, sign_checkpoint
from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation, ExportError, IntegrityError
from audit_store.export import ExportResult, export_package
from audit_store.export_parts import ZIP_TIMESTAMP
from audit_store.models import Checkpoint
from audit_store.note import NoteSigner, sign_note
from audit_store.tables_export import ExportRecord
from tests.export_helpers import (
    DAY,
    NEXT_DAY,
    REPORT_BYTES,
    REPORT_NAME,
    Built,
    add_later_snapshot,
    build_store,
    hours,
    run_verify,
    unpack,
)
from tests.factories import store_hours
from tests.store_helpers import _drop_append_only_triggers, tamper

pytest_plugins = ["tests.pg"]


@dataclass
class Exported:
    built: Built
    first: Path  # the first export of the range
    second: Path  # the same range after the log grew: carries a consistency proof
    again: Path  # the same range, store unchanged since `second`
    folder: Path  # `second`, unpacked; tests copy it before altering anything


def _export(
    built: Built, out: Path, *, start: date = DAY, end: date = NEXT_DAY, reports: bool = True
) -> ExportResult:
    return export_package(
        built.store,
        start=start,
        end=end,
        out=out,
        origin=built.settings.audit.origin,
        key_path=built.key_file,
        reports_dir=built.reports if reports else None,
        environ={},
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    root = tmp_path_factory.mktemp("export")
    built = build_store(root)
    first = _export(built, root / "first.zip").path
    add_later_snapshot(built.store, date(2025, 11, 20), 42.0)
    second = _export(built, root / "second.zip").path
    again = _export(built, root / "again.zip").path
    folder = unpack(second, root / "unpacked")
    yield Exported(built, first, second, again, folder)
    built.store.dispose()


@pytest.fixture
def copy(exported: Exported, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exported.folder, tmp_path / "package"))


def _manifest(folder: Path) -> Any:
    return json.loads((folder / sv.MANIFEST).read_text(encoding="utf-8"))


def _rows(folder: Path, path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((folder / path).read_text(encoding="utf-8"))))


def _snapshot_file(folder: Path) -> Path:
    return sorted((folder / "data" / "snapshots").iterdir())[0]


# -- the untouched package


def test_untouched_package_passes_verify_py(exported: Exported) -> None:
    for package in (exported.first, exported.second):
        folder = unpack(package, package.with_suffix(".check"))
        done = run_verify(folder)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "RESULT: OK" in done.stdout
    secret = exported.built.key_file.read_text().strip().split("+", 4)[4]  # base64 of the seed
    fingerprint = _manifest(exported.folder)["key"]["fingerprint_sha256"]
    assert "signing key fingerprint (SHA-256): " + str(fingerprint) in done.stdout
    assert "PRIVATE" not in done.stdout and secret not in done.stdout
    for path in exported.folder.rglob("*"):  # the signing key is in no file of the package
        assert not path.is_file() or secret.encode() not in path.read_bytes(), path
    assert "consistency with the previous export's checkpoint (5 leaves): checked" in done.stdout


def test_verify_py_needs_no_site_packages(exported: Exported) -> None:
    """-S: not even the venv's site-packages are importable, only the standard library."""
    done = run_verify(exported.folder, flags=("-I", "-S"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_expect_key_compares_the_fingerprint(exported: Exported) -> None:
    fingerprint = str(_manifest(exported.folder)["key"]["fingerprint_sha256"])
    typed = "SHA256:" + fingerprint.replace(" ", "").upper()
    assert run_verify(exported.folder, "--expect-key", typed).returncode == 0
    done = run_verify(exported.folder, "--expect-key", "00" * 32)
    assert done.returncode == 1
    assert f"the signing key's fingerprint is {fingerprint}, not the expected" in done.stdout


def test_two_exports_of_the_same_range_are_byte_identical(exported: Exported) -> None:
    assert exported.second.read_bytes() == exported.again.read_bytes()
    assert exported.first.read_bytes() != exported.second.read_bytes()  # the log grew


def test_zip_is_deterministic_in_form(exported: Exported) -> None:
    with zipfile.ZipFile(exported.second) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names) and sv.MANIFEST in names and sv.VERIFIER in names
    assert all(not n.endswith("/") for n in names)  # no directory entries
    assert {i.date_time for i in infos} == {ZIP_TIMESTAMP}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}


def test_package_contents(exported: Exported) -> None:
    folder = exported.folder
    manifest = _manifest(folder)
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert on_disk - listed == set(sv.UNLISTED)
    verifier = Path(sv.__file__).read_bytes()
    assert (folder / sv.VERIFIER).read_bytes() == verifier  # copied verbatim
    assert manifest["range"]["start"] == "2025-11-03"
    assert manifest["checkpoint"]["tree_size"] == 6

    snapshots = _rows(folder, sv.SNAPSHOTS_CSV)
    # BTC and ETH by their rows, SOL and the quarantined page by fetch time; not leaves 3 and 5.
    assert sorted(int(s["leaf_index"]) for s in snapshots) == [0, 1, 2, 4]
    assert [s["quarantine_reason"] for s in snapshots if s["quarantined"] == "true"] == ["HTTP 503"]
    leaves = (folder / sv.LEAVES_FILE).read_bytes().split(b"\n")[:-1]
    assert [hashlib.sha256(b"\x00" + line).hexdigest() for line in leaves] == [
        s["leaf_hash"] for s in snapshots
    ]
    for line in leaves:  # the exact canonical JSON that was hashed
        record = json.loads(line)
        assert line == json.dumps(record, sort_keys=True, separators=(",", ":")).encode()
        body = folder / "data" / "snapshots" / f"{record['body_sha256']}.bin"
        assert hashlib.sha256(body.read_bytes()).hexdigest() == record["body_sha256"]

    volumes = _rows(folder, "data/rows/interval_volume.csv")
    assert {v["asset"] for v in volumes} == {"BTC", "ETH", "SOL"}
    assert len(volumes) == 3 * 24 * 3  # three assets, 24 hours, two exchanges and the total
    results = _rows(folder, sv.CHECK_RESULTS_CSV)
    assert results and all(r["day"] == "2025-11-03" for r in results)
    (limit_set,) = _rows(folder, "data/limits/limit_sets.csv")
    limit_file = folder / limit_set["file"]
    assert hashlib.sha256(limit_file.read_bytes()).hexdigest() == limit_set["sha256"]

    artifacts = {a["kind"]: a for a in _rows(folder, sv.ARTIFACTS_CSV)}
    assert artifacts["report.html"]["status"] == "included"
    assert (folder / "data" / "reports" / "files" / REPORT_NAME).read_bytes() == REPORT_BYTES
    assert artifacts["report.pdf"]["status"] == "missing"
    notes = manifest["notes"]
    assert any("report-2025-11-03.pdf" in n and "missing" in n for n in notes)

    (message,) = _rows(folder, sv.OUTBOX_MESSAGES_CSV)
    assert (folder / message["body_file"]).read_bytes().startswith(b"From: liqrisk@example.com")
    assert [a["result"] for a in _rows(folder, "data/outbox/attempts.csv")] == ["delivered"]
    readme = (folder / sv.README).read_text(encoding="utf-8")
    assert "python3 -I verify.py" in readme and str(manifest["key"]["fingerprint_sha256"]) in readme


def test_exports_are_recorded_append_only(exported: Exported) -> None:
    store = exported.built.store
    with store.session() as session:
        records = list(session.scalars(select(ExportRecord).order_by(col(ExportRecord.id))))
    assert [(r.tree_size, r.previous_tree_size, r.leaves) for r in records[:3]] == [
        (5, None, 4),
        (6, 5, 4),
        (6, 5, 4),
    ]
    assert records[1].package_sha256 == hashlib.sha256(exported.second.read_bytes()).hexdigest()
    for statement in ("UPDATE export_record SET leaves = 0", "DELETE FROM export_record"):
        with pytest.raises(AppendOnlyViolation, match="export_record"):
            with store.session() as session:
                session.execute(text(statement))


# -- one alteration at a time: each fails verify.py with a message that names it


def _rewrite_manifest(folder: Path, changed: str) -> None:
    """What a forger does after changing a file: update its entry so the hashes match again."""
    manifest = _manifest(folder)
    data = (folder / changed).read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == changed:
            entry.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    bag = folder / sv.BAG_MANIFEST
    bag.write_text(_bag_lines(bag, changed, data), encoding="utf-8")
    bagged = bag.read_bytes()
    for entry in manifest["files"]:
        if entry["path"] == sv.BAG_MANIFEST:
            entry.update(size=len(bagged), sha256=hashlib.sha256(bagged).hexdigest())
    (folder / sv.MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    tags = folder / sv.BAG_TAG_MANIFEST
    for path in (sv.BAG_MANIFEST, sv.MANIFEST):
        tags.write_text(_bag_lines(tags, path, (folder / path).read_bytes()), encoding="utf-8")


def _bag_lines(manifest: Path, changed: str, data: bytes) -> str:
    """A bag manifest with the line of ``changed`` given the SHA-256 of ``data``."""
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    digest = hashlib.sha256(data).hexdigest()
    return "".join(
        sv.bag_line(digest, changed) if line.endswith(f" {changed}\n") else line for line in lines
    )


def _flip_line(folder: Path, path: str, old: str, new: str) -> None:
    content = (folder / path).read_text(encoding="utf-8")
    assert old in content
    (folder / path).write_text(content.replace(old, new, 1), encoding="utf-8")


def _alter_payload(folder: Path) -> str:
    body = _snapshot_file(folder)
    data = bytearray(body.read_bytes())
    data[-1] ^= 0x01
    body.write_bytes(bytes(data))
    return f"data/snapshots/{body.name}: SHA-256 is"


def _alter_manifest(folder: Path) -> str:
    _flip_line(folder, sv.MANIFEST, '"end": "2025-11-04"', '"end": "2025-11-05"')
    return "manifest.json: does not match its signature"


def _rewrite_manifest_after_payload(folder: Path) -> str:
    _flip_line(folder, "data/rows/interval_volume.csv", ",binc,", ",okex,")
    _rewrite_manifest(folder, "data/rows/interval_volume.csv")
    return "manifest.json: does not match its signature"


def _alter_checkpoint(folder: Path) -> str:
    lines = (folder / sv.CHECKPOINT_FILE).read_text(encoding="utf-8").split("\n")
    lines[1] = str(int(lines[1]) + 1)
    (folder / sv.CHECKPOINT_FILE).write_text("\n".join(lines), encoding="utf-8")
    return "data/checkpoint/checkpoint.txt: invalid signature by key"


def _alter_signature(folder: Path) -> str:
    note = (folder / sv.MANIFEST_SIGNATURE).read_text(encoding="utf-8")
    head, _, encoded = note.rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[20] ^= 0x01
    (folder / sv.MANIFEST_SIGNATURE).write_text(
        f"{head} {base64.b64encode(bytes(raw)).decode()}\n", encoding="utf-8"
    )
    return "manifest.sig: invalid signature by key"


def _alter_inclusion_proof(folder: Path) -> str:
    lines = (folder / sv.INCLUSION_FILE).read_text(encoding="utf-8").split("\n")
    entry = json.loads(lines[1])
    node = bytearray(base64.b64decode(entry["proof"][0]))
    node[0] ^= 0x80
    entry["proof"][0] = base64.b64encode(bytes(node)).decode()
    lines[1] = json.dumps(entry)
    (folder / sv.INCLUSION_FILE).write_text("\n".join(lines), encoding="utf-8")
    return (
        f"leaf {entry['leaf_index']} (line 2 of data/leaves/leaves.jsonl): inclusion proof does "
        "not lead to the checkpoint's root hash"
    )


def _alter_consistency_proof(folder: Path) -> str:
    document = json.loads((folder / sv.CONSISTENCY_FILE).read_text(encoding="utf-8"))
    document["proof"][-1] = base64.b64encode(bytes(32)).decode()
    (folder / sv.CONSISTENCY_FILE).write_text(json.dumps(document), encoding="utf-8")
    return (
        "consistency with the previous export's checkpoint: data/checkpoint/consistency_proof.json"
    )


def _alter_leaf(folder: Path) -> str:
    _flip_line(folder, sv.LEAVES_FILE, '"http_status":503', '"http_status":200')
    return "inclusion proof does not lead to the checkpoint's root hash"


def _remove_file(folder: Path) -> str:
    (folder / sv.ARTIFACTS_CSV).unlink()
    return "data/reports/artifacts.csv: is listed in the manifest but missing"


def _add_file(folder: Path) -> str:
    (folder / "data" / "reports" / "files" / "extra.html").write_text("<p>not from the firm</p>")
    return "data/reports/files/extra.html: is not listed in the manifest"


def _swap_key(folder: Path) -> str:
    """A forger re-signs a rewritten manifest with a key of their own and ships that key."""
    _rewrite_manifest_after_payload(folder)
    forger = NoteSigner.generate("liqrisk.example/audit-log")
    manifest = _manifest(folder)
    manifest["key"]["verifier_key"] = forger.verifier.vkey
    data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    (folder / sv.MANIFEST).write_bytes(data)
    (folder / sv.KEY_FILE).write_text(forger.verifier.vkey + "\n")
    _rewrite_manifest(folder, sv.KEY_FILE)
    data = (folder / sv.MANIFEST).read_bytes()
    text_ = sv.manifest_note_text("liqrisk.example/audit-log", hashlib.sha256(data).hexdigest())
    (folder / sv.MANIFEST_SIGNATURE).write_text(sign_note(text_, forger))
    return "data/checkpoint/checkpoint.txt: no signature by key"


ALTERATIONS: dict[str, Callable[[Path], str]] = {
    "payload file": _alter_payload,
    "manifest": _alter_manifest,
    "manifest rewritten to match an altered payload": _rewrite_manifest_after_payload,
    "checkpoint": _alter_checkpoint,
    "manifest signature": _alter_signature,
    "inclusion proof": _alter_inclusion_proof,
    "consistency proof": _alter_consistency_proof,
    "leaf": _alter_leaf,
    "removed file": _remove_file,
    "added file": _add_file,
    "forger's key": _swap_key,
}


@pytest.mark.parametrize("alteration", list(ALTERATIONS))
def test_each_alteration_fails_verify_py_with_a_specific_message(
    copy: Path, alteration: str
) -> None:
    expected = ALTERATIONS[alteration](copy)
    done = run_verify(copy)
    assert done.returncode == 1, done.stdout
    assert "RESULT: FAILED" in done.stdout
    failures = [line for line in done.stdout.splitlines() if line.startswith("  FAIL: ")]
    assert any(expected in line for line in failures), (expected, done.stdout)


def test_rewritten_manifest_fails_only_on_its_signature(copy: Path) -> None:
    """Every hash matches again after the rewrite: the signature alone catches it."""
    _rewrite_manifest_after_payload(copy)
    report = sv.verify_package(copy)
    assert len(report.failures) == 1 and report.failures[0].startswith(
        "manifest.json: does not match its signature"
    )


def test_forged_key_shows_a_different_fingerprint(exported: Exported, copy: Path) -> None:
    published = str(_manifest(exported.folder)["key"]["fingerprint_sha256"])
    _swap_key(copy)
    report = sv.verify_package(copy, expect_key=published)
    assert report.facts["fingerprint"] != published
    assert any("not the expected" in f for f in report.failures)


def test_payload_alteration_names_the_leaf_too(copy: Path) -> None:
    body = _snapshot_file(copy)
    _alter_payload(copy)
    report = sv.verify_package(copy)
    assert any(
        f"its raw response data/snapshots/{body.name} hashes to" in f for f in report.failures
    )


# -- ranges and refusals


def test_empty_range_is_refused(exported: Exported, tmp_path: Path) -> None:
    built = exported.built
    with pytest.raises(ExportError, match="range is empty"):
        _export(built, tmp_path / "x.zip", start=NEXT_DAY, end=DAY, reports=False)


def test_export_refuses_a_tampered_store(tmp_path: Path) -> None:
    built = build_store(tmp_path)
    _drop_append_only_triggers(built.store)
    tamper(built.store, "UPDATE snapshot SET body = :b WHERE leaf_index = 0", b=b"{}")
    with pytest.raises(IntegrityError, match="raw body does not match"):
        _export(built, tmp_path / "x.zip", reports=False)
    assert not (tmp_path / "x.zip").exists()
    built.store.dispose()


# One change to the store per case, each caught by a different refusal of the export and expected
# with that refusal's own message, so a case fails if its refusal is removed. Where a later check
# would catch the change too, it touches leaf 3, which the package does not hold. A change "after
# signing" is made between the export's signing of its checkpoint and its reading of the store, as
# a concurrent writer (or an attacker) could.


def _after_signing(monkeypatch: pytest.MonkeyPatch, change: Callable[[], object]) -> None:
    """Make ``change`` once the export has its checkpoint, before it reads the store."""

    def sign_then_change(*args: Any, **kwargs: Any) -> Checkpoint:
        checkpoint = sign_checkpoint(*args, **kwargs)
        change()
        return checkpoint

    monkeypatch.setattr(export_module, "sign_checkpoint", sign_then_change)


def _export_and_grow(built: Built, tmp_path: Path) -> None:
    """A first export (checkpoint of 5 leaves), then a sixth leaf: the next export links to it."""
    _export(built, tmp_path / "first.zip")
    add_later_snapshot(built.store, date(2025, 11, 20), 42.0)


def _rewrite_stored_leaf_hash(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    change = "UPDATE snapshot SET leaf_hash = :h WHERE leaf_index = 3"
    _after_signing(mp, lambda: tamper(built.store, change, h="00" * 32))


def _change_an_included_leaf(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    change = "UPDATE snapshot SET http_status = 200 WHERE http_status = 503"
    _after_signing(mp, lambda: tamper(built.store, change))


def _append_a_leaf_in_range(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    fetched = datetime(2025, 11, 3, 15, tzinfo=UTC)
    _after_signing(
        mp,
        lambda: store_hours(built.store, "SOL", hours(date(2025, 11, 21), 1.0), fetched_at=fetched),
    )


def _leave_a_gap(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    change = "UPDATE snapshot SET leaf_index = 100 WHERE leaf_index = 3"
    _after_signing(mp, lambda: tamper(built.store, change))


def _remove_the_last_leaf(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    change = "UPDATE snapshot SET leaf_index = 100 WHERE leaf_index = 4"
    _after_signing(mp, lambda: tamper(built.store, change))


def _forge_the_previous_checkpoint(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    """The previous export's checkpoint re-signed (with the real key) over another root."""
    _export_and_grow(built, tmp_path)
    signer = load_signer(built.settings.audit.origin, built.key_file, environ={})
    sign_checkpoint(built.store, signer, built.settings.audit.origin)  # the log of 6 leaves
    root = bytes(range(32))
    note = sign_note(TreeHead(built.settings.audit.origin, 5, root).text(), signer)
    change = "UPDATE checkpoint SET note = :n, root_hash = :r WHERE tree_size = 5"
    tamper(built.store, change, n=note, r=root.hex())


def _shrink_the_previous_export(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    _export_and_grow(built, tmp_path)
    tamper(built.store, "UPDATE export_record SET tree_size = 4")


def _alter_a_limit_set(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    tamper(built.store, "UPDATE limit_set SET canonical_json = canonical_json || ' '")


def _alter_an_email(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    tamper(built.store, "UPDATE outbox_message SET body = :b", b=b"\x00")


def _cite_a_missing_body(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    tamper(built.store, "UPDATE check_result SET evidence_json = :e", e=json.dumps(["ab" * 32]))


def _garble_the_evidence(built: Built, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    tamper(built.store, "UPDATE check_result SET evidence_json = '{}'")


STORE_TAMPERING: dict[
    str, tuple[Callable[[Built, Path, pytest.MonkeyPatch], None], type[Exception], str]
] = {
    "a stored leaf hash, after signing": (
        _rewrite_stored_leaf_hash,
        IntegrityError,
        r"the log no longer hashes to checkpoint \d+'s root",
    ),
    "an included leaf, after signing": (
        _change_an_included_leaf,
        IntegrityError,
        r"snapshot \d+ \(leaf 4\) no longer matches its leaf hash",
    ),
    "a leaf appended in the range, after signing": (
        _append_a_leaf_in_range,
        ExportError,
        r"snapshot \d+ \(leaf 5\) was appended while exporting",
    ),
    "a gap in the leaf indexes, after signing": (
        _leave_a_gap,
        IntegrityError,
        "leaf index 3 is missing or duplicated",
    ),
    "the last leaf gone, after signing": (
        _remove_the_last_leaf,
        IntegrityError,
        r"checkpoint \d+ covers 5 leaves but the log has 4",
    ),
    "the previous export's checkpoint": (
        _forge_the_previous_checkpoint,
        IntegrityError,
        r"the log is not consistent with the checkpoint of export \d+",
    ),
    "the previous export's tree size": (
        _shrink_the_previous_export,
        IntegrityError,
        r"export \d+'s tree size differs from its checkpoint's",
    ),
    "a limit set": (_alter_a_limit_set, IntegrityError, r"limit_set \d+'s JSON does not hash"),
    "an email body": (_alter_an_email, IntegrityError, r"outbox_message \d+'s body does not match"),
    "evidence citing a missing body": (
        _cite_a_missing_body,
        IntegrityError,
        "cites snapshot body " + "ab" * 32 + ", which is not in the store",
    ),
    "evidence that is not a list": (
        _garble_the_evidence,
        IntegrityError,
        r"check_result \d+'s evidence is not a list of hashes",
    ),
}


@pytest.mark.parametrize("change", list(STORE_TAMPERING))
def test_export_refuses_each_change_to_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    built = build_store(tmp_path)
    _drop_append_only_triggers(built.store)
    make_change, error, message = STORE_TAMPERING[change]
    make_change(built, tmp_path, monkeypatch)
    with pytest.raises(error, match=message):
        _export(built, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()
    built.store.dispose()


def test_export_without_reports_dir_lists_the_reports_as_not_given(
    exported: Exported, tmp_path: Path
) -> None:
    built = exported.built
    result = _export(built, tmp_path / "noreports.zip", reports=False)
    assert sum("no reports directory was given" in n for n in result.notes) == 2
    folder = unpack(result.path, tmp_path / "u")
    assert run_verify(folder).returncode == 0


def test_export_and_verify_on_each_engine(any_store: Store, tmp_path: Path) -> None:
    built = build_store(tmp_path, any_store)
    out = _export(built, tmp_path / "p.zip").path
    assert sv.verify_package(unpack(out, tmp_path / "u")).ok
