#!/usr/bin/env python3
"""verify.py: check a liqrisk audit package with Python's standard library and nothing else.

Run it inside the unpacked package folder::

    python3 -I verify.py
    python3 -I verify.py --expect-key "1a2b3c4d 5e6f7a8b ..."   # the fingerprint the firm published
    python3 -I verify.py --json                                 # one JSON object, for machines

It exits 0 when every check passes, 1 after naming each failure, 2 when called wrongly.

What it checks, recomputing everything and trusting nothing in the package:

1. ``data/key/verifier_key.txt`` is an Ed25519 verifier key; its fingerprint (SHA-256 of the
   32-byte public key) is printed, to compare with the one the firm published (``--expect-key``
   does it).
2. ``manifest.sig`` is a signed note by that key over the SHA-256 of ``manifest.json``.
3. Every file the manifest lists has its size and SHA-256; no file is missing, none is extra,
   none is a link. The package is a BagIt bag (RFC 8493) too: ``bagit.txt``,
   ``manifest-sha256.txt`` over every file under ``data/``, ``Payload-Oxum`` in ``bag-info.txt``,
   and ``tagmanifest-sha256.txt`` over every file beside ``data/``.
4. ``data/checkpoint/checkpoint.txt`` is a checkpoint (C2SP tlog-checkpoint) signed by the key, for
   the tree size and root hash the manifest states.
5. Every leaf in ``data/leaves/leaves.jsonl`` (the canonical provenance JSON of one raw response,
   the exact bytes that were hashed) is in that tree: its RFC 9162 inclusion proof leads to the
   root.
6. Each leaf's ``body_sha256`` and ``body_size`` match the raw response kept in
   ``data/snapshots/<sha256>.bin``, and every raw response kept belongs to a leaf.
7. When the manifest names a previous export, its checkpoint is signed and the RFC 9162
   consistency proof shows this checkpoint's log extends it (nothing was rewritten in between).
8. Cross-references: the tables under ``data/`` (leaves, rows, checks, limits, reports, outbox)
   point only at leaves and files that are in the package, with matching hashes.

Why it is written out in full: a regulator must be able to check the package without installing
anything and read every line that decides the verdict. Ed25519 verification follows RFC 8032
(section 5.1.7, with the point decoding of 5.1.3); the Merkle proofs follow RFC 9162 (2.1.3.2
and 2.1.4.2); signed notes follow c2sp.org/signed-note. This file is
``audit_store/standalone_verify.py`` in liqrisk, copied verbatim into every package, and
``liqrisk verify-export`` imports it, so both run exactly these checks.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import io
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    _Point = tuple[int, int, int, int]

# -- the package's layout (audit_store.export writes what these name)

FORMAT = "liqrisk-audit-export/2"
"""/2: the package is a BagIt bag (RFC 8493), its evidence under ``data/``; /1 had no bag."""
MANIFEST = "manifest.json"
MANIFEST_SIGNATURE = "manifest.sig"
VERIFIER = "verify.py"
README = "README.txt"
PAYLOAD_DIR = "data/"
"""The bag's payload: every piece of evidence; the tag files beside it describe and check it."""
KEY_FILE = "data/key/verifier_key.txt"
CHECKPOINT_FILE = "data/checkpoint/checkpoint.txt"
PREVIOUS_CHECKPOINT_FILE = "data/checkpoint/previous_checkpoint.txt"
CONSISTENCY_FILE = "data/checkpoint/consistency_proof.json"
EARLIER_PROOFS_FILE = "data/checkpoint/earlier_checkpoints.json"
LEAVES_FILE = "data/leaves/leaves.jsonl"
INCLUSION_FILE = "data/leaves/inclusion_proofs.jsonl"
SNAPSHOTS_CSV = "data/leaves/snapshots.csv"
SNAPSHOT_DIR = "data/snapshots/"
SNAPSHOT_SUFFIX = ".bin"
DATA_DIR = "data/rows/"
CHECKS_DIR = "data/checks/"
CHECK_RUNS_CSV = "data/checks/check_runs.csv"
CHECK_RESULTS_CSV = "data/checks/check_results.csv"
LIMITS_DIR = "data/limits/"
LIMIT_SUFFIX = ".json"
REPORTS_DIR = "data/reports/"
ARTIFACTS_CSV = "data/reports/artifacts.csv"
OUTBOX_DIR = "data/outbox/"
OUTBOX_MESSAGES_CSV = "data/outbox/messages.csv"
COSIGNED_DIR = "data/checkpoint/cosigned/"
TIMESTAMPS_DIR = "data/timestamps/"
TIMESTAMPS_FILE = "data/timestamps/timestamps.json"
BAG_DECLARATION = "bagit.txt"
BAG_INFO = "bag-info.txt"
BAG_MANIFEST = "manifest-sha256.txt"
BAG_TAG_MANIFEST = "tagmanifest-sha256.txt"
BAG_DECLARATION_TEXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
UNLISTED = (MANIFEST, MANIFEST_SIGNATURE, BAG_TAG_MANIFEST)
"""The files the manifest cannot list: itself, the signature over it, and the bag's tag manifest
(which lists those two, and is checked line by line against every tag file instead)."""


def manifest_note_text(origin: str, manifest_sha256: str) -> str:
    """The text ``manifest.sig`` signs; naming the format, it can never pass as a checkpoint."""
    return f"{FORMAT} manifest\n{origin}\nsha256 {manifest_sha256}\n"


class CheckFailed(Exception):
    """One check failed; the message says which and why."""


# -- Ed25519 verification, RFC 8032 section 5.1

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY: _Point = (0, 1, 1, 0)


def _recover_x(y: int, sign: int) -> int | None:
    """The x with x^2 = (y^2 - 1) / (d y^2 + 1) whose low bit is ``sign``; None if there is none."""
    if y >= _P:
        return None  # a non-canonical encoding
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0  # x = 0 has no negative: sign 1 is invalid
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None  # not a square: no such point
    if x & 1 != sign:
        x = _P - x
    return x


def _point_add(p: _Point, q: _Point) -> _Point:
    """Addition in extended homogeneous coordinates (X, Y, Z, T), RFC 8032 section 5.1.4."""
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _point_mul(scalar: int, point: _Point) -> _Point:
    """[scalar]point by double-and-add (verification handles no secret, so no constant time)."""
    result = _IDENTITY
    while scalar > 0:
        if scalar & 1:
            result = _point_add(result, point)
        point = _point_add(point, point)
        scalar >>= 1
    return result


def _point_encode(point: _Point) -> bytes:
    """RFC 8032 5.1.2: y in little-endian, the low bit of x in the top bit."""
    z_inv = pow(point[2], _P - 2, _P)
    x, y = point[0] * z_inv % _P, point[1] * z_inv % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _point_decode(data: bytes) -> _Point | None:
    """RFC 8032 5.1.3; None when ``data`` encodes no point (or not canonically)."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    if x is None:
        return None
    return (x, y, 1, x * y % _P)


_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_BASE_X = _recover_x(_BASE_Y, 0)
assert _BASE_X is not None
_BASE: _Point = (_BASE_X, _BASE_Y, 1, _BASE_X * _BASE_Y % _P)


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 5.1.7: True when ``signature`` is ``public_key``'s signature of ``message``.

    Checks [S]B = R + [k]A by computing [S]B - [k]A and comparing its encoding with R's bytes,
    the equation RFC 8032 allows in place of the cofactored one, as OpenSSL and libsodium do. A
    non-canonical R or A, and S >= L (a malleated signature), are rejected.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _point_decode(public_key)
    if a is None:
        return False
    r_bytes, s = signature[:32], int.from_bytes(signature[32:], "little")
    if s >= _L:
        return False
    digest = hashlib.sha512(r_bytes + public_key + message).digest()
    k = int.from_bytes(digest, "little") % _L
    minus_a = ((_P - a[0]) % _P, a[1], a[2], (_P - a[3]) % _P)
    return _point_encode(_point_add(_point_mul(s, _BASE), _point_mul(k, minus_a))) == r_bytes


# -- keys and signed notes (c2sp.org/signed-note)

_ALG_ED25519 = 0x01
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
_MAX_SIGNATURES = 100  # as audit_store.note: more lines than this reject a note


def key_fingerprint(public_key: bytes) -> str:
    """SHA-256 of the 32-byte public key, hex, in eight groups of eight: easy to read aloud."""
    digest = hashlib.sha256(public_key).hexdigest()
    return " ".join(digest[i : i + 8] for i in range(0, 64, 8))


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as typed (any case, spaces, colons, a ``SHA256:`` prefix) as 64 hex digits."""
    cleaned = text.strip().lower()
    if cleaned.startswith("sha256:"):
        cleaned = cleaned[len("sha256:") :]
    return "".join(ch for ch in cleaned if ch not in " :-\t")


@dataclass(frozen=True)
class VerifierKey:
    """A named Ed25519 public key in the signed-note form ``name+keyid+base64(0x01 || key)``."""

    name: str
    key_id: bytes
    public_key: bytes

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.public_key)


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def parse_verifier_key(text: str) -> VerifierKey:
    """A signed-note verifier key, ``name+keyid+base64(0x01 || Ed25519 key)``."""
    return _parse_vkey(text, _ALG_ED25519, "verifier key", "an Ed25519 key")


def _parse_vkey(text: str, algorithm: int, what: str, expected: str) -> VerifierKey:
    """``name+keyid+base64(algorithm || 32-byte key)``, its key ID checked (c2sp.org/signed-note);
    ``algorithm`` 0x01 for notes, 0x04 for cosignatures (c2sp.org/tlog-cosignature)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not _valid_key_name(parts[0]) or len(parts[1]) != 8:
        raise CheckFailed(f"not a {what} (expected name+keyid+base64 key)")
    name, key_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
        wanted = bytes.fromhex(key_hex)
    except (ValueError, binascii.Error) as exc:
        raise CheckFailed(f"{what} for {name} is not valid hex/base64") from exc
    if len(raw) != 33 or raw[0] != algorithm:
        raise CheckFailed(f"{what} for {name} is not {expected}")
    key_id = hashlib.sha256(name.encode() + b"\n" + raw[:1] + raw[1:]).digest()[:4]
    if key_id != wanted:
        raise CheckFailed(f"{what} for {name} does not match its key ID {key_hex}")
    return VerifierKey(name, wanted, raw[1:])


def open_note(note: str, key: VerifierKey) -> str:
    """The text of a signed note once ``key``'s signature on it verifies.

    As the spec says: signatures by other keys are ignored, a failing signature by the key rejects
    the note, and a note without a signature by the key is rejected.
    """
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckFailed("not a signed note (no blank line before the signatures)")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise CheckFailed("signed note contains control characters")
    text, block = note[: split + 1], note[split + 2 : -1]
    lines = block.split("\n")
    if len(lines) > _MAX_SIGNATURES:  # a line may cost a pure-Python Ed25519 check
        raise CheckFailed("signed note has too many signatures")
    verified = False
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise CheckFailed("malformed signature line")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (ValueError, binascii.Error) as exc:
            raise CheckFailed(f"signature by {name} is not valid base64") from exc
        if not _valid_key_name(name) or len(raw) < 5:
            raise CheckFailed("malformed signature line")
        if (name, raw[:4]) != (key.name, key.key_id):
            continue
        if not ed25519_verify(key.public_key, text.encode("utf-8"), raw[4:]):
            raise CheckFailed(f"invalid signature by key {name}+{raw[:4].hex()}")
        verified = True
    if not verified:
        raise CheckFailed(f"no signature by key {key.name}+{key.key_id.hex()}")
    return text


@dataclass(frozen=True)
class TreeHead:
    """A checkpoint's text: origin, tree size, base64 root hash (c2sp.org/tlog-checkpoint)."""

    origin: str
    tree_size: int
    root_hash: bytes


def kept_note(text: str) -> str:
    """A signed note as someone kept it, put back in the note format: copied from a PDF or an
    email, it may have lost its blank line before the signatures, gained trailing spaces, CRLF
    line ends or blank lines around it. None of that is signed (the signature covers the note's
    text lines), so restoring the layout changes nothing a signature vouches for."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    first_signature = next((i for i, line in enumerate(lines) if line.startswith("\u2014 ")), None)
    if first_signature is not None:
        body = [line for line in lines[:first_signature] if line]
        lines = [*body, "", *lines[first_signature:]]
    return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> TreeHead:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
        raise CheckFailed("checkpoint text is not origin, size and root hash lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not size.isdigit() or not size.isascii() or (size != "0" and size.startswith("0")):
        raise CheckFailed(f"checkpoint tree size {size!r} is not a decimal number")
    try:
        root_hash = base64.b64decode(root.encode("ascii"), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise CheckFailed("checkpoint root hash is not base64") from exc
    if len(root_hash) != 32:
        raise CheckFailed("checkpoint root hash is not 32 bytes")
    return TreeHead(origin, int(size), root_hash)


# -- Merkle proofs, RFC 6962 hashing and RFC 9162 verification


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hash_sizes(*hashes: bytes) -> None:
    if any(len(h) != 32 for h in hashes):
        raise CheckFailed("a hash in the proof is not 32 bytes long")


def verify_inclusion(
    index: int, size: int, hashed_leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 2.1.3.2: raise :class:`CheckFailed` unless ``proof`` puts the leaf at ``root``."""
    if not 0 <= index < size:
        raise CheckFailed(f"leaf index {index} is outside a tree of size {size}")
    _check_hash_sizes(hashed_leaf, root, *proof)
    fn, sn, r = index, size - 1, hashed_leaf
    for p in proof:
        if sn == 0:
            raise CheckFailed("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise CheckFailed("inclusion proof is shorter than the tree is deep")
    if r != root:
        raise CheckFailed("inclusion proof does not lead to the checkpoint's root hash")


def verify_consistency(
    old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 2.1.4.2: raise :class:`CheckFailed` unless the old tree is a prefix of the new."""
    if old_size < 0 or new_size < old_size:
        raise CheckFailed(f"tree size went from {old_size} to {new_size}")
    _check_hash_sizes(old_root, new_root, *proof)
    if old_size == new_size:
        if proof:
            raise CheckFailed("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise CheckFailed(f"two different root hashes for tree size {old_size}")
        return
    if old_size == 0:
        if proof:
            raise CheckFailed("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise CheckFailed("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise CheckFailed("consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise CheckFailed("consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise CheckFailed(f"consistency proof does not reproduce the root of tree size {old_size}")
    if sr != new_root:
        raise CheckFailed(f"consistency proof does not reproduce the root of tree size {new_size}")


# -- the package


@dataclass
class Report:
    """The verdict on one package: every failure, the notes, and what was checked."""

    folder: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def lines(self) -> list[str]:
        """The report for a terminal: what was checked, the notes, the verdict and each failure."""
        f = self.facts
        out = [f"liqrisk audit package: {self.folder}"]
        if "range_start" in f:
            out.append(
                f"  range: {f['range_start']} up to {f['range_end']} (end excluded), "
                f"origin {f.get('origin')}, liqrisk {f.get('software_version')}"
            )
        if "fingerprint" in f:
            out.append(f"  signing key fingerprint (SHA-256): {f['fingerprint']}")
            if f.get("fingerprint_expected"):
                out.append("    the fingerprint you expected (--expect-key) was compared with it")
            else:
                out.append(
                    "    compare it with the fingerprint the firm published (or pass it with "
                    "--expect-key): a package signed by another key also verifies against that key"
                )
        if "tree_size" in f:
            out.append(f"  checkpoint: {f['tree_size']} leaves, root {f['root_hash']}")
        if "files" in f:
            out.append(
                f"  checked: {f['files']} files, {f.get('leaves', 0)} leaves with inclusion "
                f"proofs, {f.get('snapshot_files', 0)} raw snapshots"
            )
        if "bag_payload_files" in f:
            out.append(
                f"  BagIt bag (RFC 8493): {f['bag_payload_files']} payload files, manifest-sha256, "
                "tagmanifest-sha256 and Payload-Oxum: checked"
            )
        if f.get("previous_tree_size") is not None:
            out.append(
                f"  consistency with the previous export's checkpoint "
                f"({f['previous_tree_size']} leaves): checked"
            )
        if f.get("earlier_checkpoints"):
            out.append(
                f"  consistency proofs from {f['earlier_checkpoints']} earlier checkpoint(s) of "
                "the log: checked (pass one you kept with --since FILE)"
            )
        if f.get("timestamps"):
            out.append(
                f"  RFC 3161 time stamps: {f['timestamps']} token(s), imprint, nonce and time "
                "checked; check each TSA signature with:"
            )
            out.extend(f"    {c}" for c in f.get("timestamp_commands", ()))
        if f.get("witnessed_tree_size"):
            out.append(
                f"  witnesses: the checkpoint of {f['witnessed_tree_size']} leaves is cosigned by "
                "enough of the witness keys given"
            )
        if "since_tree_size" in f and self.ok:
            out.append(
                f"  the checkpoint you kept ({f['since_tree_size']} leaves): this package's log "
                "is an append-only extension of it"
            )
        out.extend(f"  note: {n}" for n in self.notes)
        if self.ok:
            out.append("RESULT: OK, every check passed")
        else:
            out.append(f"RESULT: FAILED, {len(self.failures)} problem(s):")
            out.extend(f"  FAIL: {m}" for m in self.failures)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "folder": self.folder,
            "facts": self.facts,
            "notes": self.notes,
            "failures": self.failures,
        }


class _Package:
    """The files of an unpacked package, found by walking it once; links are never followed."""

    def __init__(self, root: str, report: Report) -> None:
        self.root = root
        self.paths: dict[str, str] = {}  # relative POSIX path -> path on disk
        self._digests: dict[str, tuple[int, str]] = {}
        for directory, dirs, names in os.walk(root):
            for name in sorted(dirs + names):
                full = os.path.join(directory, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                mode = os.lstat(full).st_mode
                if stat.S_ISLNK(mode):
                    report.fail(f"{rel}: is a symbolic link; a package holds regular files only")
                elif stat.S_ISREG(mode):
                    self.paths[rel] = full
                elif not stat.S_ISDIR(mode):
                    report.fail(f"{rel}: is not a regular file")
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(directory, d))]

    def read(self, rel: str) -> bytes | None:
        path = self.paths.get(rel)
        if path is None:
            return None
        with open(path, "rb") as handle:
            return handle.read()

    def digest(self, rel: str) -> tuple[int, str] | None:
        """``(size, sha256 hex)`` of a file, hashed once, in chunks."""
        if rel not in self._digests:
            path = self.paths.get(rel)
            if path is None:
                return None
            sha, size = hashlib.sha256(), 0
            with open(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    sha.update(chunk)
                    size += len(chunk)
            self._digests[rel] = (size, sha.hexdigest())
        return self._digests[rel]


def _text(package: _Package, rel: str, report: Report) -> str | None:
    data = package.read(rel)
    if data is None:
        report.fail(f"{rel}: is missing")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.fail(f"{rel}: is not UTF-8 text")
        return None


def _rows(
    package: _Package, rel: str, columns: Iterable[str], report: Report
) -> list[dict[str, str]]:
    """The rows of a CSV file of the package; a failure when it is missing or lacks ``columns``."""
    text = _text(package, rel, report)
    if text is None:
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        report.fail(f"{rel}: lacks the column(s) {', '.join(missing)}")
        return []
    return list(reader)


def _safe_member(path: str) -> bool:
    parts = path.split("/")
    return (
        bool(path)
        and not path.startswith("/")
        and "\\" not in path
        and ":" not in parts[0]
        and all(p not in ("", ".", "..") for p in parts)
    )


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(ch in "0123456789abcdef" for ch in text)


def _b64_hashes(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise CheckFailed(f"{what} is not a list of base64 hashes")
    try:
        return [base64.b64decode(str(v).encode("ascii"), validate=True) for v in values]
    except (ValueError, binascii.Error) as exc:
        raise CheckFailed(f"{what} holds a hash that is not base64") from exc


def _check_key(package: _Package, report: Report, expect_key: str | None) -> VerifierKey | None:
    text = _text(package, KEY_FILE, report)
    if text is None:
        return None
    try:
        key = parse_verifier_key(text)
    except CheckFailed as exc:
        report.fail(f"{KEY_FILE}: {exc}")
        return None
    report.facts["fingerprint"] = key.fingerprint
    report.facts["verifier_key"] = text.strip()
    report.facts["fingerprint_expected"] = expect_key is not None
    if expect_key is not None:
        wanted = normalise_fingerprint(expect_key)
        if wanted != normalise_fingerprint(key.fingerprint):
            report.fail(
                f"{KEY_FILE}: the signing key's fingerprint is {key.fingerprint}, "
                f"not the expected {expect_key.strip()}"
            )
    return key


def _check_manifest_signature(
    package: _Package, manifest: bytes, key: VerifierKey | None, report: Report
) -> None:
    note = _text(package, MANIFEST_SIGNATURE, report)
    if note is None or key is None:
        if key is None:
            report.fail(f"{MANIFEST_SIGNATURE}: not checked, there is no valid verifier key")
        return
    try:
        text = open_note(note, key)
    except CheckFailed as exc:
        report.fail(f"{MANIFEST_SIGNATURE}: {exc}")
        return
    actual = hashlib.sha256(manifest).hexdigest()
    lines = text.split("\n")
    if len(lines) != 4 or lines[0] != f"{FORMAT} manifest" or not lines[2].startswith("sha256 "):
        report.fail(f"{MANIFEST_SIGNATURE}: does not sign a {FORMAT} manifest")
        return
    signed = lines[2][len("sha256 ") :]
    if signed != actual:
        report.fail(
            f"{MANIFEST}: does not match its signature (the file hashes to {actual}; "
            f"{MANIFEST_SIGNATURE} signs {signed}): the manifest was altered"
        )
    report.facts["signed_origin"] = lines[1]


def _parse_manifest(data: bytes, report: Report) -> dict[str, Any] | None:
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        report.fail(f"{MANIFEST}: is not JSON")
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        made = manifest.get("format") if isinstance(manifest, dict) else None
        if isinstance(made, str) and made.startswith("liqrisk-audit-export/"):
            report.fail(
                f"{MANIFEST}: the package is {made}, this checker reads {FORMAT}: run the "
                "verify.py inside that package, which was made for it"
            )
        else:
            report.fail(f"{MANIFEST}: is not a {FORMAT} manifest")
        return None
    for name in ("files", "range", "checkpoint", "key", "origin"):
        if name not in manifest:
            report.fail(f"{MANIFEST}: has no {name!r}")
            return None
    return manifest


def _check_files(package: _Package, manifest: dict[str, Any], report: Report) -> None:
    listed: set[str] = set()
    entries = manifest.get("files")
    if not isinstance(entries, list):
        report.fail(f"{MANIFEST}: 'files' is not a list")
        return
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            report.fail(f"{MANIFEST}: a 'files' entry has no path")
            continue
        path = entry["path"]
        if not _safe_member(path) or path in UNLISTED:
            report.fail(f"{MANIFEST}: lists an unsafe or reserved path {path!r}")
            continue
        if path in listed:
            report.fail(f"{MANIFEST}: lists {path} twice")
            continue
        listed.add(path)
        found = package.digest(path)
        if found is None:
            report.fail(f"{path}: is listed in the manifest but missing")
            continue
        size, sha = found
        if sha != entry.get("sha256"):
            report.fail(f"{path}: SHA-256 is {sha}, the manifest says {entry.get('sha256')}")
        elif size != entry.get("size"):
            report.fail(f"{path}: is {size} bytes, the manifest says {entry.get('size')}")
    for path in sorted(package.paths):
        if path not in listed and path not in UNLISTED:
            report.fail(f"{path}: is not listed in the manifest")
    report.facts["files"] = len(listed)


def bag_path(text: str) -> str:
    """A bag manifest's file path: RFC 8493 percent-encodes only CR, LF and ``%`` itself."""
    return _BAG_ESCAPE.sub(lambda m: _BAG_UNESCAPE[m.group(1).upper()], text)


def bag_line(sha256_hex: str, path: str) -> str:
    """One line of a bag manifest, the path encoded as :func:`bag_path` decodes it."""
    encoded = path.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")
    return f"{sha256_hex}  {encoded}\n"


_BAG_ESCAPE = re.compile(r"%(0[AaDd]|25)")
_BAG_UNESCAPE = {"0A": "\n", "0D": "\r", "25": "%"}


def _bag_manifest(package: _Package, rel: str, report: Report) -> dict[str, str]:
    """``path -> sha256`` of a bag manifest; each malformed or repeated line is a failure."""
    text = _text(package, rel, report)
    entries: dict[str, str] = {}
    if text is None:
        return entries
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        digest, _, rest = line.partition(" ")
        path = bag_path(rest.lstrip(" \t"))
        if not _is_sha256(digest) or not _safe_member(path):
            report.fail(f"{rel}: line {number} is not '<sha256> <relative path>'")
        elif path in entries:
            report.fail(f"{rel}: lists {path} twice")
        else:
            entries[path] = digest
    return entries


def _check_bag(package: _Package, report: Report) -> None:
    """The package is a BagIt bag (RFC 8493): the declaration, the payload manifest over every file
    under ``data/``, ``Payload-Oxum``, and the tag manifest over every file beside ``data/``."""
    declaration = _text(package, BAG_DECLARATION, report)
    if declaration is not None and declaration != BAG_DECLARATION_TEXT:
        report.fail(f"{BAG_DECLARATION}: is not the BagIt 1.0 declaration")
    payload = {p for p in package.paths if p.startswith(PAYLOAD_DIR)}
    tags = {p for p in package.paths if not p.startswith(PAYLOAD_DIR)} - {BAG_TAG_MANIFEST}
    for rel, expected, kind in (
        (BAG_MANIFEST, payload, "payload"),
        (BAG_TAG_MANIFEST, tags, "tag"),
    ):
        listed = _bag_manifest(package, rel, report)
        for path, digest in sorted(listed.items()):
            found = package.digest(path) if path in expected else None
            if found is None:
                report.fail(f"{rel}: lists {path}, which is not a {kind} file of the package")
            elif found[1] != digest:
                report.fail(f"{path}: SHA-256 is {found[1]}, {rel} says {digest}")
        for path in sorted(expected - set(listed)):
            report.fail(f"{path}: is not listed in {rel}")
    info = _text(package, BAG_INFO, report)
    oxum = None
    for line in (info or "").splitlines():
        label, _, value = line.partition(":")
        if label == "Payload-Oxum":
            oxum = value.strip()
    sizes = [found[0] for p in payload if (found := package.digest(p)) is not None]
    if info is not None and oxum != f"{sum(sizes)}.{len(sizes)}":
        report.fail(
            f"{BAG_INFO}: Payload-Oxum is {oxum}, the payload holds {sum(sizes)} bytes in "
            f"{len(sizes)} files"
        )
    report.facts["bag_payload_files"] = len(payload)


def _check_checkpoint(
    package: _Package, manifest: dict[str, Any], key: VerifierKey | None, report: Report
) -> TreeHead | None:
    note = _text(package, CHECKPOINT_FILE, report)
    if note is None:
        return None
    if key is None:
        report.fail(f"{CHECKPOINT_FILE}: not checked, there is no valid verifier key")
        return None
    try:
        head = parse_checkpoint(open_note(note, key))
    except CheckFailed as exc:
        report.fail(f"{CHECKPOINT_FILE}: {exc}")
        return None
    claimed = manifest["checkpoint"]
    report.facts["tree_size"] = head.tree_size
    report.facts["root_hash"] = head.root_hash.hex()
    if not isinstance(claimed, dict) or (claimed.get("tree_size"), claimed.get("root_hash")) != (
        head.tree_size,
        head.root_hash.hex(),
    ):
        report.fail(f"{CHECKPOINT_FILE}: is not the checkpoint the manifest names")
    if head.origin != manifest["origin"] or key.name != head.origin:
        report.fail(
            f"{CHECKPOINT_FILE}: is for origin {head.origin!r}, the manifest is for "
            f"{manifest['origin']!r} and the key is {key.name!r}"
        )
    return head


@dataclass
class _Leaves:
    indexes: set[int] = field(default_factory=set)
    body_by_index: dict[int, str] = field(default_factory=dict)
    hash_by_index: dict[int, str] = field(default_factory=dict)
    bodies: set[str] = field(default_factory=set)


def _check_leaves(package: _Package, head: TreeHead | None, report: Report) -> _Leaves:
    leaves = _Leaves()
    raw = package.read(LEAVES_FILE)
    proofs = _text(package, INCLUSION_FILE, report)
    if raw is None:
        report.fail(f"{LEAVES_FILE}: is missing")
        return leaves
    if proofs is None:
        return leaves
    lines = raw.split(b"\n")  # bytes: a leaf's JSON may hold U+2028, which is no line break here
    if lines[-1] != b"":
        report.fail(f"{LEAVES_FILE}: does not end with a newline")
    lines = lines[:-1]
    proof_lines = proofs.split("\n")[:-1]
    if len(proof_lines) != len(lines):
        report.fail(
            f"{INCLUSION_FILE}: has {len(proof_lines)} proofs for {len(lines)} leaves in "
            f"{LEAVES_FILE}"
        )
    if head is None:
        report.fail(f"{LEAVES_FILE}: inclusion not checked, there is no verified checkpoint")
    for number in range(min(len(lines), len(proof_lines))):
        line, where = lines[number], f"line {number + 1} of {LEAVES_FILE}"
        try:
            entry = json.loads(proof_lines[number])
            index = entry["leaf_index"]
            proof = _b64_hashes(entry["proof"], f"the proof of {where}")
            if not isinstance(index, int):
                raise CheckFailed("leaf_index is not a number")
        except (ValueError, KeyError, TypeError, CheckFailed) as exc:
            report.fail(f"{INCLUSION_FILE}: line {number + 1} is not a proof ({exc})")
            continue
        name = f"leaf {index} ({where})"
        if index in leaves.indexes:
            report.fail(f"{name}: leaf index appears twice")
        leaves.indexes.add(index)
        hashed = leaf_hash(line)
        leaves.hash_by_index[index] = hashed.hex()
        if head is not None:
            try:
                verify_inclusion(index, head.tree_size, hashed, proof, head.root_hash)
            except CheckFailed as exc:
                report.fail(f"{name}: {exc}")
        _check_body(package, name, line, index, leaves, report)
    leaves_count = len(leaves.indexes)
    report.facts["leaves"] = leaves_count
    kept = sorted(
        p for p in package.paths if p.startswith(SNAPSHOT_DIR) and p.endswith(SNAPSHOT_SUFFIX)
    )
    for path in kept:
        body = path[len(SNAPSHOT_DIR) : -len(SNAPSHOT_SUFFIX)]
        if body not in leaves.bodies:
            report.fail(f"{path}: is not the raw response of any leaf in the package")
    report.facts["snapshot_files"] = len(kept)
    return leaves


def _check_body(
    package: _Package, name: str, line: bytes, index: int, leaves: _Leaves, report: Report
) -> None:
    """A leaf's provenance must name a raw response that is in the package, byte for byte."""
    try:
        record = json.loads(line.decode("utf-8"))
        body_sha256, body_size = record["body_sha256"], record["body_size"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        report.fail(f"{name}: is not a provenance record with body_sha256 and body_size")
        return
    if not isinstance(body_sha256, str) or not _is_sha256(body_sha256):
        report.fail(f"{name}: body_sha256 {body_sha256!r} is not a SHA-256 in hex")
        return
    leaves.body_by_index[index] = body_sha256
    leaves.bodies.add(body_sha256)
    path = f"{SNAPSHOT_DIR}{body_sha256}{SNAPSHOT_SUFFIX}"
    found = package.digest(path)
    if found is None:
        report.fail(f"{name}: its raw response {path} is missing")
    elif found[1] != body_sha256:
        report.fail(
            f"{name}: its raw response {path} hashes to {found[1]}, not to the leaf's body_sha256"
        )
    elif found[0] != body_size:
        report.fail(
            f"{name}: its raw response {path} is {found[0]} bytes, the leaf says {body_size}"
        )


def _check_consistency(
    package: _Package,
    manifest: dict[str, Any],
    head: TreeHead | None,
    key: VerifierKey | None,
    report: Report,
) -> None:
    previous = manifest.get("previous_export")
    if previous is None:
        report.facts["previous_tree_size"] = None
        return
    what = "consistency with the previous export's checkpoint"
    try:
        if not isinstance(previous, dict):
            raise CheckFailed(f"{MANIFEST}: 'previous_export' is not an object")
        old_key = parse_verifier_key(str(previous.get("verifier_key", "")))
        note = package.read(PREVIOUS_CHECKPOINT_FILE)
        proof_file = package.read(CONSISTENCY_FILE)
        if note is None or proof_file is None:
            raise CheckFailed(f"{PREVIOUS_CHECKPOINT_FILE} or {CONSISTENCY_FILE} is missing")
        try:
            old = parse_checkpoint(open_note(note.decode("utf-8"), old_key))
        except (CheckFailed, UnicodeDecodeError) as exc:
            raise CheckFailed(f"{PREVIOUS_CHECKPOINT_FILE}: {exc}") from exc
        if (old.tree_size, old.root_hash.hex()) != (
            previous.get("tree_size"),
            previous.get("root_hash"),
        ):
            raise CheckFailed(
                f"{PREVIOUS_CHECKPOINT_FILE}: is not the checkpoint the manifest names"
            )
        if head is None:
            raise CheckFailed("not checked, there is no verified checkpoint")
        try:
            document = json.loads(proof_file.decode("utf-8"))
            proof = _b64_hashes(document["proof"], CONSISTENCY_FILE)
            sizes = (document["old_size"], document["new_size"])
        except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise CheckFailed(f"{CONSISTENCY_FILE}: is not a consistency proof") from exc
        if sizes != (old.tree_size, head.tree_size):
            raise CheckFailed(
                f"{CONSISTENCY_FILE}: is for sizes {sizes[0]} to {sizes[1]}, not "
                f"{old.tree_size} to {head.tree_size}"
            )
        try:
            verify_consistency(old.tree_size, head.tree_size, proof, old.root_hash, head.root_hash)
        except CheckFailed as exc:
            raise CheckFailed(
                f"{CONSISTENCY_FILE}: the log of this checkpoint ({head.tree_size} leaves) does "
                f"not extend the previous export's ({old.tree_size} leaves): {exc}"
            ) from exc
    except CheckFailed as exc:
        report.fail(f"{what}: {exc}")
        return
    report.facts["previous_tree_size"] = old.tree_size
    if key is not None and old_key.public_key != key.public_key:
        report.notes.append(
            f"the previous export's checkpoint is signed by another key (fingerprint "
            f"{old_key.fingerprint}): the firm rotated its key; ask it to confirm that one too"
        )


def _earlier_proofs(
    package: _Package, head: TreeHead | None, report: Report
) -> dict[int, tuple[str, list[bytes]]]:
    """The consistency proofs from every earlier checkpoint of the log to this package's, each
    verified against the root it names: old size -> (old root hex, proof)."""
    data = package.read(EARLIER_PROOFS_FILE)
    if data is None or head is None:
        return {}  # a package made before these proofs were carried, or nothing to prove to
    found: dict[int, tuple[str, list[bytes]]] = {}
    try:
        document = json.loads(data.decode("utf-8"))
        if (document["new_size"], document["new_root_hash"]) != (
            head.tree_size,
            head.root_hash.hex(),
        ):
            raise CheckFailed("is not for this package's checkpoint")
        for entry in document["proofs"]:
            size, root = int(entry["old_size"]), str(entry["old_root_hash"])
            proof = _b64_hashes(entry["proof"], EARLIER_PROOFS_FILE)
            try:
                old_root = bytes.fromhex(root)
            except ValueError:
                raise CheckFailed(f"the root of size {size} is not hexadecimal") from None
            verify_consistency(size, head.tree_size, proof, old_root, head.root_hash)
            found[size] = (root, proof)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        report.fail(f"{EARLIER_PROOFS_FILE}: is not a list of consistency proofs ({exc})")
        return {}
    except CheckFailed as exc:
        report.fail(f"{EARLIER_PROOFS_FILE}: {exc}")
        return {}
    report.facts["earlier_checkpoints"] = len(found)
    return found


def check_since(
    proofs: dict[int, tuple[str, list[bytes]]],
    head: TreeHead | None,
    key: VerifierKey | None,
    note: str,
    report: Report,
) -> None:
    """``--since FILE``: the package's log is an append-only extension of the checkpoint in
    FILE (one the reader kept: a report email's, an earlier export's), or the fork or truncation
    is named."""
    what = "the checkpoint you kept (--since)"
    if head is None or key is None:
        report.fail(f"{what}: not checked, the package's own checkpoint did not verify")
        return
    try:
        kept = parse_checkpoint(open_note(note, key))
    except CheckFailed as exc:
        report.fail(
            f"{what}: {exc} (with the package's key, fingerprint {key.fingerprint}; a checkpoint "
            "signed by an earlier key is checked with that key's package)"
        )
        return
    report.facts["since_tree_size"] = kept.tree_size
    if kept.origin != head.origin:
        report.fail(f"{what}: is of log {kept.origin!r}, the package of {head.origin!r}")
        return
    if kept.tree_size > head.tree_size:
        report.fail(
            f"{what}: truncated: it covers {kept.tree_size} leaves, the package's log "
            f"{head.tree_size}"
        )
        return
    if kept.tree_size == head.tree_size:
        if kept.root_hash != head.root_hash:
            report.fail(f"{what}: fork: same size ({kept.tree_size} leaves), another root")
        return
    if kept.tree_size not in proofs:
        report.fail(
            f"{what}: the package holds no consistency proof from size {kept.tree_size}: it "
            f"cannot show that its log extends the checkpoint you kept"
        )
        return
    try:
        verify_consistency(
            kept.tree_size,
            head.tree_size,
            proofs[kept.tree_size][1],
            kept.root_hash,
            head.root_hash,
        )
    except CheckFailed as exc:
        report.fail(
            f"{what}: fork: the package's log ({head.tree_size} leaves) does not extend it "
            f"({kept.tree_size} leaves): {exc}"
        )
        return
    report.facts["since_extends"] = True


# -- witness cosignatures (c2sp.org/tlog-cosignature, Ed25519 cosignature/v1)

_ALG_COSIGNATURE = 0x04


def parse_witness_key(text: str) -> VerifierKey:
    """A witness's verifier key, ``name+keyid+base64(0x04 || key)`` (tlog-cosignature)."""
    return _parse_vkey(text, _ALG_COSIGNATURE, "witness key", "an Ed25519 cosignature/v1 key")


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a witness signs: ``cosignature/v1``, ``time <seconds>``, then the checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class Cosignature:
    witness: str
    key_id: bytes
    timestamp: int
    line: str


def cosignatures(note: str, witnesses: Sequence[VerifierKey]) -> tuple[str, list[Cosignature]]:
    """The body of ``note`` and its valid cosignatures by ``witnesses``; lines by other keys are
    ignored (as signed notes say), a line by a witness that does not verify fails the note."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise CheckFailed("not a signed note: no blank line before the signatures")
    body, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckFailed("the note has too many signature lines")
    known = {(w.name, w.key_id): w for w in witnesses}
    found: dict[str, Cosignature] = {}
    for line in lines:
        if not line.startswith(_SIGNATURE_PREFIX):
            raise CheckFailed("a signature line does not start with an em dash")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (ValueError, binascii.Error):
            raise CheckFailed(f"the signature line of {name} is not base64") from None
        witness = known.get((name, raw[:4]))
        if witness is None:
            continue  # the log's own signature, or a witness not trusted here
        if len(raw) != 4 + 8 + 64:
            raise CheckFailed(f"the cosignature of {name} is not a timestamped Ed25519 signature")
        timestamp = int.from_bytes(raw[4:12], "big")
        if timestamp >= 2**63 or not ed25519_verify(
            witness.public_key, cosigned_message(body, timestamp), raw[12:]
        ):
            raise CheckFailed(f"the cosignature of {name} does not verify")
        found[name] = Cosignature(name, raw[:4], timestamp, line)
    return body, list(found.values())


def _check_cosignatures(
    package: _Package,
    head: TreeHead | None,
    proofs: dict[int, tuple[str, list[bytes]]],
    witnesses: Sequence[VerifierKey],
    threshold: int,
    report: Report,
) -> None:
    """``--witness-threshold N``: some checkpoint of this package's log carries cosignatures of at
    least N of the ``--witness`` keys (the notes in ``data/checkpoint/cosigned/``)."""
    best = 0
    for path in sorted(p for p in package.paths if p.startswith(COSIGNED_DIR)):
        text = _text(package, path, report)
        if text is None:
            continue
        try:
            body, valid = cosignatures(text, witnesses)
            stamped = parse_checkpoint(body)
        except CheckFailed as exc:
            report.fail(f"{path}: {exc}")
            continue
        size, root = stamped.tree_size, stamped.root_hash.hex()
        same = head is not None and size == head.tree_size and root == head.root_hash.hex()
        if not same and not (size in proofs and proofs[size][0] == root):
            report.fail(f"{path}: is not a checkpoint of this package's log ({size} leaves)")
            continue
        if len(valid) >= threshold:
            best = max(best, size)
    report.facts["witnessed_tree_size"] = best or None
    if threshold and not best:
        report.fail(
            f"witnesses: no checkpoint of the package's log carries cosignatures of {threshold} "
            f"of the {len(witnesses)} witness key(s) given"
        )


# -- RFC 3161 time-stamp tokens: imprint, nonce and time, read from the DER with no library

_OID_SHA256 = bytes.fromhex("608648016503040201")  # 2.16.840.1.101.3.4.2.1
_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")  # 1.2.840.113549.1.7.2
_OID_TST_INFO = bytes.fromhex("2a864886f70d0109100104")  # 1.2.840.113549.1.9.16.1.4


def _der(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[int, bytes]]:
    """The DER elements laid one after the other in ``data[start:end]``: ``(tag, content)``."""
    end = len(data) if end is None else end
    out: list[tuple[int, bytes]] = []
    at = start
    while at < end:
        if at + 2 > end:
            raise CheckFailed("DER ends inside an element's header")
        tag, length = data[at], data[at + 1]
        at += 2
        if tag & 0x1F == 0x1F:
            raise CheckFailed("DER uses a multi-byte tag, which no RFC 3161 field needs")
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or at + count > end:
                raise CheckFailed("DER has an invalid length")
            length = int.from_bytes(data[at : at + count], "big")
            at += count
        if at + length > end:
            raise CheckFailed("DER element runs past its container")
        out.append((tag, data[at : at + length]))
        at += length
    return out


def _expect(elements: list[tuple[int, bytes]], index: int, tag: int, what: str) -> bytes:
    if index >= len(elements) or elements[index][0] != tag:
        raise CheckFailed(f"the token has no {what} where RFC 3161 puts it")
    return elements[index][1]


@dataclass(frozen=True)
class TstInfo:
    """The fields of a token's TSTInfo that verify.py checks (RFC 3161 section 2.4.2)."""

    hash_oid: bytes
    hashed_message: bytes
    serial_number: int
    gen_time: str  # GeneralizedTime as written, e.g. 20261207115804Z
    nonce: int | None


def parse_timestamp_reply(data: bytes) -> TstInfo:
    """TimeStampResp -> granted status -> ContentInfo(SignedData) -> eContent TSTInfo."""
    parts = _der(_expect(_der(data), 0, 0x30, "TimeStampResp"))
    status = _der(_expect(parts, 0, 0x30, "PKIStatusInfo"))
    code = int.from_bytes(_expect(status, 0, 0x02, "status"), "big", signed=True)
    if code != 0:
        raise CheckFailed(f"the TSA did not grant it (status {code})")
    content_info = _der(_expect(parts, 1, 0x30, "time-stamp token"))
    if _expect(content_info, 0, 0x06, "content type") != _OID_SIGNED_DATA:
        raise CheckFailed("the token is not CMS SignedData")
    signed = _der(_der(_expect(content_info, 1, 0xA0, "signed data"))[0][1])
    encap = _der(_expect(signed, 2, 0x30, "encapsulated content"))
    if _expect(encap, 0, 0x06, "content type") != _OID_TST_INFO:
        raise CheckFailed("the token's content is not a TSTInfo")
    tst_der = _expect(_der(_expect(encap, 1, 0xA0, "TSTInfo")), 0, 0x04, "TSTInfo octets")
    fields = _der(_expect(_der(tst_der), 0, 0x30, "TSTInfo"))
    imprint = _der(_expect(fields, 2, 0x30, "message imprint"))
    algorithm = _der(_expect(imprint, 0, 0x30, "hash algorithm"))
    serial = int.from_bytes(_expect(fields, 3, 0x02, "serial number"), "big", signed=True)
    gen_time = _expect(fields, 4, 0x18, "genTime").decode("ascii")
    nonce = next((int.from_bytes(c, "big", signed=True) for t, c in fields[5:] if t == 0x02), None)
    return TstInfo(
        _expect(algorithm, 0, 0x06, "hash algorithm"),
        _expect(imprint, 1, 0x04, "hashed message"),
        serial,
        gen_time,
        nonce,
    )


def _generalized_time(text: str) -> str:
    """``20261207115804Z`` (or with fractions) as ISO 8601 UTC, ``2026-12-07T11:58:04Z``."""
    digits = text[:14]
    if len(text) < 15 or not digits.isdigit() or not text.endswith("Z"):
        raise CheckFailed(f"genTime {text!r} is not a UTC GeneralizedTime")
    return (
        f"{digits[0:4]}-{digits[4:6]}-{digits[6:8]}T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}Z"
    )


def _utc_seconds(iso: str) -> int:
    """Seconds since 1970 of an ISO 8601 UTC time (``...Z`` or ``+00:00``), to the second."""
    text = iso.replace("Z", "+00:00")
    date_part, _, time_part = text.partition("T")
    year, month, day = (int(x) for x in date_part.split("-"))
    clock = time_part[:8].split(":")
    days = _days_from_civil(year, month, day)
    if not time_part.endswith("+00:00"):
        raise CheckFailed(f"{iso!r} is not a UTC time")
    return days * 86400 + int(clock[0]) * 3600 + int(clock[1]) * 60 + int(clock[2])


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _check_timestamps(
    package: _Package,
    head: TreeHead | None,
    proofs: dict[int, tuple[str, list[bytes]]],
    report: Report,
) -> None:
    """Each token in ``data/timestamps/``: it stamps SHA-256 of the checkpoint note beside it, with
    the request's nonce, at a time after that checkpoint was signed and before the next one was;
    the note is a checkpoint of this package's log. The TSA's signature needs X.509 and CMS, which
    the standard library lacks: the ``openssl ts -verify`` command that checks it is printed."""
    data = package.read(TIMESTAMPS_FILE)
    if data is None:
        report.fail(f"{TIMESTAMPS_FILE}: is missing")
        return
    try:
        document = json.loads(data.decode("utf-8"))
        tokens = list(document["tokens"])
        skew = int(document["max_skew_seconds"])
        ca = document.get("tsa_ca_file")
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        report.fail(f"{TIMESTAMPS_FILE}: is not a list of time-stamp tokens ({exc})")
        return
    commands: list[str] = []
    for entry in tokens:
        label = f"time-stamp token {entry.get('token') if isinstance(entry, dict) else entry}"
        try:
            commands.append(_check_token(package, head, proofs, entry, skew, ca))
        except (KeyError, TypeError, ValueError) as exc:
            report.fail(f"{TIMESTAMPS_FILE}: an entry lacks a field or has a bad value ({exc})")
        except CheckFailed as exc:
            report.fail(f"{label}: {exc}")
    report.facts["timestamps"] = len(tokens)
    report.facts["timestamp_commands"] = commands


def _check_token(
    package: _Package,
    head: TreeHead | None,
    proofs: dict[int, tuple[str, list[bytes]]],
    entry: dict[str, Any],
    skew: int,
    ca: str | None,
) -> str:
    token_path, note_path = str(entry["token"]), str(entry["checkpoint"])
    token, note = package.read(token_path), package.read(note_path)
    if token is None or note is None:
        raise CheckFailed(f"{token_path if token is None else note_path} is missing")
    body = note.decode("utf-8")
    cut = body.find("\n\n")
    stamped_head = parse_checkpoint(body[: cut + 1] if cut >= 0 else body)
    size, root = stamped_head.tree_size, stamped_head.root_hash.hex()
    if head is not None and size == head.tree_size:
        if root != head.root_hash.hex():
            raise CheckFailed(f"{note_path} is a fork of the package's checkpoint (same size)")
    elif size not in proofs or proofs[size][0] != root:
        raise CheckFailed(f"{note_path} ({size} leaves) is not a checkpoint of the package's log")
    info = parse_timestamp_reply(token)
    digest = hashlib.sha256(note).digest()
    if info.hash_oid != _OID_SHA256 or info.hashed_message != digest:
        raise CheckFailed(
            f"it stamps {info.hashed_message.hex()}, not SHA-256 of {note_path} ({digest.hex()})"
        )
    if info.nonce is None or str(info.nonce) != str(entry["nonce"]):
        raise CheckFailed(f"its nonce is {info.nonce}, the request's was {entry['nonce']}")
    when = _generalized_time(info.gen_time)
    moment = _utc_seconds(when)
    if moment < _utc_seconds(str(entry["signed_at"])) - skew:
        raise CheckFailed(
            f"its time {when} is before the checkpoint was signed ({entry['signed_at']})"
        )
    following = entry.get("next_signed_at")
    if following is not None and moment > _utc_seconds(str(following)) + skew:
        raise CheckFailed(f"its time {when} is after the next checkpoint was signed ({following})")
    command = f"openssl ts -verify -in {token_path} -data {note_path} -CAfile "
    return command + (str(ca) if ca else "<the TSA's CA certificate>")


def _check_references(package: _Package, leaves: _Leaves, report: Report) -> None:
    """The tables point only at leaves and files of the package, with matching hashes."""
    for row in _rows(package, SNAPSHOTS_CSV, ("leaf_index", "body_sha256", "leaf_hash"), report):
        index = int(row["leaf_index"]) if row["leaf_index"].isdigit() else -1
        if index not in leaves.indexes:
            report.fail(f"{SNAPSHOTS_CSV}: leaf {row['leaf_index']} is not in {LEAVES_FILE}")
        elif (leaves.body_by_index.get(index), leaves.hash_by_index.get(index)) != (
            row["body_sha256"],
            row["leaf_hash"],
        ):
            report.fail(f"{SNAPSHOTS_CSV}: leaf {index} differs from its provenance record")
    for path in sorted(p for p in package.paths if p.startswith(DATA_DIR) and p.endswith(".csv")):
        for number, row in enumerate(_rows(package, path, ("leaf_index",), report), start=2):
            if not row["leaf_index"].isdigit() or int(row["leaf_index"]) not in leaves.indexes:
                report.fail(
                    f"{path}: line {number} comes from leaf {row['leaf_index']}, which is not in "
                    "the package"
                )
    for row in _rows(package, CHECK_RESULTS_CSV, ("id", "evidence"), report):
        try:
            cited = json.loads(row["evidence"])
        except ValueError:
            cited = None
        if not isinstance(cited, list):
            report.fail(f"{CHECK_RESULTS_CSV}: check result {row['id']}: evidence is not a list")
            continue
        for digest in cited:
            if digest not in leaves.bodies:
                report.fail(
                    f"{CHECK_RESULTS_CSV}: check result {row['id']} cites raw response {digest}, "
                    "which is not in the package"
                )
    _check_rows_files(package, ARTIFACTS_CSV, "package_file", "sha256", report, size="size")
    _check_rows_files(package, OUTBOX_MESSAGES_CSV, "body_file", "body_sha256", report)
    for path in sorted(p for p in package.paths if p.startswith(LIMITS_DIR)):
        if path.endswith(LIMIT_SUFFIX):
            named = path[len(LIMITS_DIR) : -len(LIMIT_SUFFIX)]
            found = package.digest(path)
            if found is not None and found[1] != named:
                report.fail(f"{path}: hashes to {found[1]}, not to the limit set it names")


def _check_rows_files(
    package: _Package,
    table: str,
    file_column: str,
    sha_column: str,
    report: Report,
    size: str | None = None,
) -> None:
    columns = (file_column, sha_column) if size is None else (file_column, sha_column, size)
    for number, row in enumerate(_rows(package, table, columns, report), start=2):
        path = row[file_column]
        if not path:
            continue
        found = package.digest(path) if _safe_member(path) else None
        if found is None:
            report.fail(f"{table}: line {number} names {path}, which is not in the package")
        elif found[1] != row[sha_column] or (size is not None and str(found[0]) != row[size]):
            report.fail(
                f"{path}: hashes to {found[1]} ({found[0]} bytes), but {table} line {number} "
                f"records {row[sha_column]}"
            )


def verify_package(
    folder: str | os.PathLike[str],
    expect_key: str | None = None,
    since: str | None = None,
    witnesses: Sequence[VerifierKey] = (),
    witness_threshold: int = 0,
) -> Report:
    """Check the unpacked package in ``folder``; the report lists every failure. ``since``: the
    text of a checkpoint the reader kept, which the package's log must extend; ``witnesses``
    and ``witness_threshold``: how many of those keys must have cosigned a checkpoint of it."""
    root = os.path.abspath(os.fspath(folder))
    report = Report(folder=root)
    if not os.path.isdir(root):
        report.fail(f"{root}: is not a folder")
        return report
    package = _Package(root, report)
    key = _check_key(package, report, expect_key)
    manifest_bytes = package.read(MANIFEST)
    if manifest_bytes is None:
        report.fail(f"{MANIFEST}: is missing; this is not an unpacked liqrisk audit package")
        return report
    _check_manifest_signature(package, manifest_bytes, key, report)
    manifest = _parse_manifest(manifest_bytes, report)
    if manifest is None:
        return report
    span = manifest["range"] if isinstance(manifest["range"], dict) else {}
    report.facts.update(
        range_start=span.get("start"),
        range_end=span.get("end"),
        origin=manifest.get("origin"),
        software_version=manifest.get("software_version"),
    )
    listed_key = manifest["key"].get("verifier_key") if isinstance(manifest["key"], dict) else None
    if key is not None and listed_key != report.facts.get("verifier_key"):
        report.fail(f"{KEY_FILE}: is not the verifier key the manifest names")
    signed_origin = report.facts.pop("signed_origin", None)
    if signed_origin is not None and signed_origin != manifest["origin"]:
        report.fail(f"{MANIFEST_SIGNATURE}: signs a manifest of origin {signed_origin!r}")
    _check_files(package, manifest, report)
    _check_bag(package, report)
    head = _check_checkpoint(package, manifest, key, report)
    leaves = _check_leaves(package, head, report)
    _check_consistency(package, manifest, head, key, report)
    proofs = _earlier_proofs(package, head, report)
    if since is not None:
        check_since(proofs, head, key, since, report)
    _check_timestamps(package, head, proofs, report)
    if witnesses or witness_threshold:
        _check_cosignatures(package, head, proofs, witnesses, witness_threshold, report)
    _check_references(package, leaves, report)
    notes = manifest.get("notes")
    if isinstance(notes, list):
        report.notes[:0] = [str(n) for n in notes]
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify.py",
        description="Check a liqrisk audit package with the Python standard library alone.",
    )
    parser.add_argument(
        "folder", nargs="?", help="the unpacked package (default: the folder of this script)"
    )
    parser.add_argument(
        "--expect-key",
        metavar="FINGERPRINT",
        help="fail unless the signing key has this fingerprint (as the firm published it)",
    )
    parser.add_argument(
        "--since",
        metavar="FILE",
        help="a checkpoint you kept (a report email's checkpoint.txt, an earlier export's): fail "
        "unless this package's log is an append-only extension of it",
    )
    parser.add_argument(
        "--witness",
        metavar="KEY",
        action="append",
        default=[],
        help="a witness's key (name+keyid+base64, tlog-cosignature) you trust; repeatable",
    )
    parser.add_argument(
        "--witness-threshold",
        metavar="N",
        type=int,
        default=0,
        help="fail unless N of the --witness keys cosigned a checkpoint of the package's log",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        witnesses = [parse_witness_key(k) for k in args.witness]
    except CheckFailed as exc:
        print(f"verify.py: --witness: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.witness_threshold <= len(witnesses):
        print(
            "verify.py: --witness-threshold must be 0..the number of --witness keys",
            file=sys.stderr,
        )
        return 2
    folder = args.folder or os.path.dirname(os.path.abspath(__file__))
    kept = None
    if args.since:
        try:
            with open(args.since, encoding="utf-8") as handle:
                kept = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            print(f"verify.py: --since {args.since}: cannot read it: {exc}", file=sys.stderr)
            return 2
    report = verify_package(
        folder,
        expect_key=args.expect_key,
        since=None if kept is None else kept_note(kept),
        witnesses=witnesses,
        witness_threshold=args.witness_threshold,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
    else:
        for line in report.lines():
            print(line)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
