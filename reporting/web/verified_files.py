"""Serving a file only while it is the file that was recorded: a report or an audit package is
hashed before it is sent, and the bytes sent are the bytes hashed.

The file is opened once, hashed through that handle, and streamed from the same handle: a file
replaced on disk after the check (a new inode) cannot slip in between, and a large package is
never held in memory (1 MiB at a time).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from starlette.responses import StreamingResponse

CHUNK = 1 << 20


def open_verified(path: Path, sha256: str) -> BinaryIO | None:
    """``path`` opened and rewound when its bytes hash to ``sha256``; None (closed) otherwise."""
    try:
        handle = path.open("rb")
    except OSError:
        return None
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    if digest.hexdigest() != sha256:
        handle.close()
        return None
    handle.seek(0)
    return handle


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        yield from iter(lambda: handle.read(CHUNK), b"")


def stream(
    handle: BinaryIO, media_type: str, headers: dict[str, str] | None = None
) -> StreamingResponse:
    """A response streaming ``handle`` to its end, with its length; closes it when done."""
    size = handle.seek(0, 2)
    handle.seek(0)
    sent = {"Content-Length": str(size), **(headers or {})}
    return StreamingResponse(_chunks(handle), media_type=media_type, headers=sent)


def attachment(name: str) -> dict[str, str]:
    safe = "".join(c for c in name if c.isalnum() or c in "._-") or "download"
    return {"Content-Disposition": f'attachment; filename="{safe}"'}
