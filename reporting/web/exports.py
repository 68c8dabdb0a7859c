"""Making an audit package, at the command line (``liqrisk export``) or in the console, and
finding the packages the console may hand out.

Either way the package's checkpoint is signed first and, where a Time-Stamping Authority is
configured, stamped before it goes in; the export is recorded (``export_record``) together with an
activity leaf naming who made it.

The console writes its packages to ``[web] exports_dir`` (default ``<reports_dir>/exports``) under
a name taken from the export's record, :func:`package_name`, and serves one only while the file
there still hashes to the SHA-256 recorded when it was made. A package written elsewhere with
``liqrisk export --out`` is listed but not served.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import BinaryIO

from audit_store.db import Store
from audit_store.export import ExportResult, export_package
from audit_store.tables_export import ExportRecord
from reporting.config import Settings
from reporting.evidence import key_path, sign_latest
from reporting.notify.anchor import AnchorOutcome, stamp_latest
from reporting.web.verified_files import open_verified


@dataclass(frozen=True)
class MadeExport:
    result: ExportResult
    anchor: AnchorOutcome | None  # the package checkpoint's time stamp, when a TSA is configured


def make_export(
    store: Store,
    settings: Settings,
    *,
    start: date,
    end: date,
    out: Path,
    by: str,
    via: str,
    address: str | None = None,
) -> MadeExport:
    """Write the audit package of UTC days ``[start, end)`` to ``out``, recorded as made ``by``."""
    anchor = None
    if settings.anchor.tsa_url is not None:  # the package's checkpoint, stamped before it goes in
        sign_latest(store, settings)
        anchor = stamp_latest(store, settings)
    result = export_package(
        store,
        start=start,
        end=end,
        out=out,
        origin=settings.audit.origin,
        key_path=key_path(settings),
        reports_dir=settings.reports_dir,
        tsa_ca_file=settings.anchor.tsa_ca_file,
        max_skew_seconds=settings.anchor.max_skew_seconds,
        by=by,
        via=via,
        address=address,
    )
    return MadeExport(result, anchor)


def exports_dir(settings: Settings) -> Path:
    chosen = settings.web.exports_dir
    return (chosen if chosen is not None else settings.reports_dir / "exports").expanduser()


def package_name(range_start: date, range_end: date, export_id: int) -> str:
    """The console's file name of an export: its range (end excluded) and its record's id."""
    return f"liqrisk-audit-{range_start}_{range_end}-{export_id}.zip"


def make_console_export(
    store: Store, settings: Settings, *, start: date, end: date, by: str, address: str
) -> MadeExport:
    """An admin's export from the console, kept in :func:`exports_dir` under its record's name."""
    folder = exports_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    making = folder / f".making-{secrets.token_hex(8)}.zip"
    try:
        made = make_export(
            store, settings, start=start, end=end, out=making, by=by, via="console",
            address=address,
        )  # fmt: skip
        final = folder / package_name(start, end, made.result.export_id)
        os.replace(making, final)
    finally:
        making.unlink(missing_ok=True)
    return MadeExport(replace(made.result, path=final), made.anchor)


def package_path(settings: Settings, record: ExportRecord) -> Path:
    """Where the console keeps (or would keep) ``record``'s package."""
    assert record.id is not None
    return exports_dir(settings) / package_name(record.range_start, record.range_end, record.id)


def kept_package(settings: Settings, record: ExportRecord) -> Path | None:
    """The console's copy of ``record``'s package when it is there at its recorded size (cheap:
    no hashing; :func:`served_package` hashes before it sends)."""
    path = package_path(settings, record)
    return path if path.is_file() and path.stat().st_size == record.package_size else None


def served_package(settings: Settings, record: ExportRecord) -> BinaryIO | None:
    """The console's copy of ``record``'s package opened for sending, if it is there and
    unaltered (see :mod:`reporting.web.verified_files`); else None."""
    path = kept_package(settings, record)
    return None if path is None else open_verified(path, record.package_sha256)
