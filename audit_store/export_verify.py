"""``liqrisk verify-export``: check an audit package's zip the way ``verify.py`` checks its folder.

A package may come back from anywhere, so its zip is treated as hostile: before a single byte is
written, every member is inspected and the archive is refused (:class:`UnsafeArchiveError`) when a
member's name is absolute, climbs out with ``..``, uses backslashes or a drive letter, when it is a
link or any other non-regular file, encrypted, compressed with an unexpected method, a duplicate
(also case-insensitively, which would overwrite on macOS and Windows), bigger than the limits, or
compressed at a ratio only a zip bomb reaches. Then the members are extracted into a fresh temporary
folder (files created exclusively, never following a link, and never more bytes than declared)
and checked by :func:`audit_store.standalone_verify.verify_package`, the very code ``verify.py``
runs, so the CLI and a regulator's ``python3 -I verify.py`` cannot disagree.
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from audit_store import standalone_verify as sv
from audit_store.errors import ExportError, IntegrityError, UnsafeArchiveError
from audit_store.export_parts import file_digest


@dataclass(frozen=True)
class ArchiveLimits:
    """What a package may hold; a real one is far below each (hundreds of files, megabytes)."""

    max_members: int = 100_000
    max_member_bytes: int = 2 << 30  # 2 GiB, one raw response or report
    max_total_bytes: int = 8 << 30  # 8 GiB unpacked
    max_ratio: int = 200  # uncompressed / compressed; deflate of real data stays far below
    ratio_floor_bytes: int = 1 << 20  # the ratio is only judged on members of at least 1 MiB


_ALLOWED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_FILE_TYPES = (0, stat.S_IFREG, stat.S_IFDIR)  # 0: the archiver recorded no Unix type


def check_members(archive: zipfile.ZipFile, limits: ArchiveLimits) -> list[zipfile.ZipInfo]:
    """The archive's file members, once each is found safe; :class:`UnsafeArchiveError` if not."""
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise UnsafeArchiveError(
            f"the archive has {len(members)} members, more than the {limits.max_members} allowed"
        )
    seen: set[str] = set()
    total = 0
    files: list[zipfile.ZipInfo] = []
    for info in members:
        name = info.filename
        shown = name.encode("unicode_escape").decode("ascii")[:200]
        if any(ord(ch) < 0x20 for ch in name):
            raise UnsafeArchiveError(f"member {shown!r} has control characters in its name")
        is_dir = name.endswith("/")
        if not sv._safe_member(name.rstrip("/") if is_dir else name):
            raise UnsafeArchiveError(
                f"member {shown!r} is an absolute path, climbs out with '..', or is not a plain "
                "relative path"
            )
        kind = stat.S_IFMT(info.external_attr >> 16)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchiveError(f"member {shown!r} is a symbolic link")
        if kind not in _FILE_TYPES:
            raise UnsafeArchiveError(f"member {shown!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError(f"member {shown!r} is encrypted")
        folded = name.casefold()
        if folded in seen:
            raise UnsafeArchiveError(f"member {shown!r} appears twice in the archive")
        seen.add(folded)
        if is_dir or kind == stat.S_IFDIR:
            continue
        if info.compress_type not in _ALLOWED_METHODS:
            raise UnsafeArchiveError(
                f"member {shown!r} uses compression method {info.compress_type}"
            )
        if info.file_size > limits.max_member_bytes:
            raise UnsafeArchiveError(
                f"member {shown!r} is {info.file_size} bytes, more than the "
                f"{limits.max_member_bytes} allowed"
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise UnsafeArchiveError(
                f"the archive unpacks to more than the {limits.max_total_bytes} bytes allowed"
            )
        if info.file_size >= limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise UnsafeArchiveError(
                f"member {shown!r} expands {info.file_size // max(info.compress_size, 1)} times "
                f"(more than {limits.max_ratio}): a zip bomb"
            )
        files.append(info)
    return files


def unpack(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], folder: Path) -> None:
    """Write ``members`` (already checked) under the empty ``folder``."""
    root = folder.resolve()
    for info in members:
        target = root.joinpath(*info.filename.split("/"))
        if root not in target.parents:  # _safe_member already made sure; belt and braces
            raise UnsafeArchiveError(f"member {info.filename!r} would land outside the folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        written = 0
        with archive.open(info) as reader, os.fdopen(os.open(target, flags, 0o600), "wb") as out:
            for chunk in iter(lambda: reader.read(1 << 20), b""):
                written += len(chunk)
                if written > info.file_size:
                    raise UnsafeArchiveError(
                        f"member {info.filename!r} holds more than the {info.file_size} bytes it "
                        "declares"
                    )
                out.write(chunk)


def verify_export(
    path: Path | str, *, expect_key: str | None = None, limits: ArchiveLimits | None = None
) -> sv.Report:
    """Refuse an unsafe zip, else unpack it into a temporary folder and check it like verify.py."""
    source = Path(path).expanduser()
    try:
        _, package_sha256 = file_digest(source)
        with (
            zipfile.ZipFile(source) as archive,
            tempfile.TemporaryDirectory(prefix="liqrisk-verify-") as tmp,
        ):
            members = check_members(archive, limits or ArchiveLimits())
            folder = Path(tmp) / "package"
            folder.mkdir()
            unpack(archive, members, folder)
            report = sv.verify_package(folder, expect_key=expect_key)
    except FileNotFoundError as exc:
        raise ExportError(f"{source}: no such file") from exc
    except zipfile.BadZipFile as exc:
        raise IntegrityError(f"{source}: not a zip archive, or a damaged one ({exc})") from exc
    except OSError as exc:
        raise ExportError(f"{source}: cannot be read or unpacked ({exc.strerror})") from exc
    report.folder = str(source)
    report.facts["package_sha256"] = package_sha256
    return report
