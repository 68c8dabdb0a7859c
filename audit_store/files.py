"""How liqrisk writes files: atomically, with one documented mode.

Everything written for the firm (reports and their inputs, ``.eml`` files of the outbox, audit
packages, retired keys) is :data:`FILE_MODE`, ``0600``: read and written by the account that
runs liqrisk only, whatever the umask; share them by copying, not by loosening the mode. The one
exception is what is written to be published: a published checkpoint directory's files are
:data:`PUBLIC_MODE`, ``0644``. Signing keys are ``0600`` as well (:mod:`audit_store.checkpoint`).
A file appears whole or not at all: it is written beside its target, flushed and renamed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

FILE_MODE = 0o600
PUBLIC_MODE = 0o644


def write_atomic(path: Path, data: bytes, *, mode: int = FILE_MODE) -> None:
    """Write ``data`` to ``path`` whole (a temporary file beside it, fsync, rename) with ``mode``.

    Creates the parent directory if missing; raises :class:`OSError` for the caller to translate.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
