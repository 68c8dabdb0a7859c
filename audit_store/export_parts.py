"""The building blocks of an audit package: staged files, the deterministic zip, many proofs.

Kept apart from :mod:`audit_store.export` (which decides *what* goes in) because these decide
*how*, and each is tested on its own: a file is written once to a staging folder and hashed as it
is written; the zip is made from the staged files in path order with every varying field fixed;
CSV cells have one text form per value; inclusion proofs for hundreds of leaves share their work.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from audit_store import standalone_verify as sv
from audit_store.canonical import utc_iso
from audit_store.errors import ExportError
from audit_store.merkle import node_hash, root_from_leaf_hashes, split_point

ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
ZIP_FILE_MODE = 0o100644  # a regular file, rw-r--r--
_SMALL_SUBTREE = 32  # subtrees smaller than this are rehashed rather than remembered


class Staging:
    """The package's files in a temporary folder, each hashed once; then zipped in path order."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, tuple[int, str]] = {}  # package path -> (size, sha256 hex)

    def _target(self, path: str) -> Path:
        if path in self.files or not sv._safe_member(path):
            raise ExportError(f"internal error: package path {path!r} is unsafe or used twice")
        target = self.root.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add(self, path: str, data: bytes) -> None:
        self._target(path).write_bytes(data)
        self.files[path] = (len(data), hashlib.sha256(data).hexdigest())

    def add_copy(self, path: str, source: Path) -> None:
        target = self._target(path)
        sha, size = hashlib.sha256(), 0
        with source.open("rb") as reader, target.open("wb") as writer:
            for chunk in iter(lambda: reader.read(1 << 20), b""):
                sha.update(chunk)
                size += len(chunk)
                writer.write(chunk)
        self.files[path] = (size, sha.hexdigest())

    def add_csv(self, path: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """A CSV file (``\\n`` line ends, minimal quoting); returns the number of rows."""
        target = self._target(path)
        count = 0
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow([csv_cell(v) for v in row])
                count += 1
        self.files[path] = file_digest(target)
        return count

    def write_zip(self, out: Path) -> None:
        with zipfile.ZipFile(out, "w") as archive:
            for path in sorted(self.files):
                info = zipfile.ZipInfo(path, date_time=ZIP_TIMESTAMP)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, so the mode below means what it says
                info.external_attr = ZIP_FILE_MODE << 16
                info.file_size = self.files[path][0]
                source = self.root.joinpath(*path.split("/"))
                with source.open("rb") as reader, archive.open(info, "w") as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)


def file_digest(path: Path) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def csv_cell(value: Any) -> str:
    """One CSV cell in a fixed form: the same value always gives the same text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same double
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# -- inclusion proofs for many leaves at once


class ProofTree:
    """An RFC 6962 tree over a list of leaf hashes that remembers each subtree root it computes.

    :func:`audit_store.merkle.inclusion_proof` recomputes subtree roots for every proof (O(n) each);
    a package proves hundreds of leaves, so here every subtree is hashed once (O(n) in all).
    """

    def __init__(self, hashes: Sequence[bytes]) -> None:
        self.hashes = hashes
        self._roots: dict[tuple[int, int], bytes] = {}

    def root(self, lo: int = 0, hi: int | None = None) -> bytes:
        hi = len(self.hashes) if hi is None else hi
        if hi - lo < _SMALL_SUBTREE:  # cheap to rehash; remembering them would cost O(n) memory
            return root_from_leaf_hashes(self.hashes[lo:hi])
        key = (lo, hi)
        cached = self._roots.get(key)
        if cached is None:
            k = split_point(hi - lo)
            cached = self._roots[key] = node_hash(self.root(lo, lo + k), self.root(lo + k, hi))
        return cached

    def inclusion_proof(self, index: int) -> list[bytes]:
        """RFC 9162 PATH(index, D[n]), nearest the leaf first (as ``merkle.inclusion_proof``)."""
        lo, hi = 0, len(self.hashes)
        if not lo <= index < hi:
            raise ValueError(f"leaf index {index} is outside a tree of size {hi}")
        path: list[bytes] = []
        while hi - lo > 1:
            k = split_point(hi - lo)
            if index < lo + k:
                path.append(self.root(lo + k, hi))
                hi = lo + k
            else:
                path.append(self.root(lo, lo + k))
                lo += k
        return path[::-1]

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """RFC 9162 PROOF(old_size, D[n]) (as ``merkle.consistency_proof``), from the remembered
        subtree roots: proofs from every earlier checkpoint cost little more than one."""
        n = len(self.hashes)
        if not 0 <= old_size <= n:
            raise ValueError(f"old size {old_size} is outside 0..{n}")
        if old_size in (0, n):
            return []
        return self._subproof(0, n, old_size, True)

    def _subproof(self, lo: int, hi: int, m: int, complete: bool) -> list[bytes]:
        if m == hi - lo:
            return [] if complete else [self.root(lo, hi)]
        k = split_point(hi - lo)
        if m <= k:
            return [*self._subproof(lo, lo + k, m, complete), self.root(lo + k, hi)]
        return [*self._subproof(lo + k, hi, m - k, False), self.root(lo, lo + k)]
