"""The audit package is a BagIt bag (RFC 8493): the Library of Congress' ``bagit`` validates it,
and a tampered payload file fails both ``bagit`` and the package's own ``verify.py``."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import bagit
import pytest

from audit_store import standalone_verify as sv
from tests.export_helpers import Built, build_store, export_range, run_verify, unpack


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Built, Path]]:
    root = tmp_path_factory.mktemp("bag")
    built = build_store(root)
    yield built, unpack(export_range(built, root / "package.zip"), root / "unpacked")
    built.store.dispose()


@pytest.fixture
def copy(package: tuple[Built, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(package[1], tmp_path / "bag"))


def test_bagit_validates_the_package(package: tuple[Built, Path]) -> None:
    folder = package[1]
    bag = bagit.Bag(str(folder))
    bag.validate()  # raises BagValidationError on any problem
    assert bag.version_info == (1, 0)
    assert set(bag.algorithms) == {"sha256"}
    payload = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").rglob("*"))
    files = [p for p in payload if (folder / p).is_file()]
    assert sorted(bag.payload_entries()) == files
    assert any(p.startswith(sv.SNAPSHOT_DIR) for p in files)
    assert sv.CHECKPOINT_FILE in files and sv.KEY_FILE in files
    tags = {p for p, _ in bag.tagfile_entries().items()}
    assert {sv.MANIFEST, sv.MANIFEST_SIGNATURE, sv.VERIFIER, sv.README, sv.BAG_MANIFEST} <= tags
    size = sum((folder / p).stat().st_size for p in files)
    assert bag.info["Payload-Oxum"] == f"{size}.{len(files)}"
    assert bag.info["Bag-Software-Agent"].startswith("liqrisk ")


def test_verify_py_checks_the_bag_and_passes(package: tuple[Built, Path]) -> None:
    done = run_verify(package[1])
    assert done.returncode == 0, done.stdout
    assert "BagIt bag (RFC 8493)" in done.stdout


def test_a_tampered_payload_file_fails_bagit_and_verify_py(copy: Path) -> None:
    body = sorted((copy / "data" / "snapshots").iterdir())[0]
    body.write_bytes(body.read_bytes() + b" ")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(copy)).validate()
    done = run_verify(copy)
    assert done.returncode == 1
    rel = body.relative_to(copy).as_posix()
    digest = hashlib.sha256(body.read_bytes()).hexdigest()
    assert f"FAIL: {rel}: SHA-256 is {digest}, {sv.BAG_MANIFEST} says" in done.stdout


def test_a_file_added_to_the_payload_fails_both(copy: Path) -> None:
    (copy / "data" / "extra.csv").write_text("not from the firm\n", encoding="utf-8")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(copy)).validate()
    done = run_verify(copy)
    assert "FAIL: data/extra.csv: is not listed in manifest-sha256.txt" in done.stdout
    assert "Payload-Oxum" in done.stdout


def test_a_rewritten_tag_file_fails_the_tag_manifest(copy: Path) -> None:
    readme = copy / sv.README
    readme.write_text(readme.read_text(encoding="utf-8") + "trust us\n", encoding="utf-8")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(copy)).validate()
    done = run_verify(copy)
    assert f"FAIL: {sv.README}: SHA-256 is" in done.stdout
    assert f"{sv.BAG_TAG_MANIFEST} says" in done.stdout


def test_bag_paths_round_trip_the_percent_encoding() -> None:
    for path in ("data/a%b.txt", "data/line\nbreak", "data/cr\rx", "data/%0A literal"):
        line = sv.bag_line("0" * 64, path)
        assert line.count("\n") == 1
        assert sv.bag_path(line[66:-1]) == path


def test_a_package_of_the_earlier_format_is_sent_to_its_own_verify_py(copy: Path) -> None:
    manifest = copy / sv.MANIFEST
    text = manifest.read_text(encoding="utf-8").replace(sv.FORMAT, "liqrisk-audit-export/1")
    manifest.write_text(text, encoding="utf-8")
    report = sv.verify_package(copy)
    assert any("liqrisk-audit-export/1" in f and "verify.py inside" in f for f in report.failures)
