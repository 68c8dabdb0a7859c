"""The application's side of the evidence log: its signing key and its signed checkpoints.

A thin layer over :mod:`audit_store.checkpoint` that reads where the key lives and what the log is
called from the settings, so the CLI and the daily job say it once.
"""

from __future__ import annotations

from pathlib import Path

from audit_store.checkpoint import ensure_signing_key, load_signer, sign_checkpoint
from audit_store.db import Store
from audit_store.models import Checkpoint
from reporting.config import Settings


def key_path(settings: Settings) -> Path:
    return settings.audit.signing_key_file.expanduser()


def ensure_key(settings: Settings) -> tuple[str, bool]:
    """``(verifier key, created)``: the configured signing key, made on first use."""
    return ensure_signing_key(key_path(settings), settings.audit.origin)


def sign_latest(store: Store, settings: Settings) -> Checkpoint:
    """Sign a checkpoint of the whole log as it is now (or return the last one if unchanged)."""
    signer = load_signer(settings.audit.origin, key_path(settings))
    return sign_checkpoint(store, signer, settings.audit.origin)


def trusted_keys(settings: Settings, extra: list[str] | None = None) -> list[str] | None:
    """Pinned verifier keys from config and the command line; ``None`` when none are pinned."""
    keys = [*settings.audit.trusted_keys, *(extra or [])]
    return keys or None
