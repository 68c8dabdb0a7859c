"""The application's side of the evidence log: its signing key and its signed checkpoints.

A thin layer over :mod:`audit_store.checkpoint` that reads where the key lives and what the log is
called from the settings, so the CLI and the daily job say it once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from audit_store.checkpoint import (
    SIGNING_KEY_ENV,
    ensure_signing_key,
    init_signing_key,
    latest_checkpoint,
    load_signer,
    sign_checkpoint,
)
from audit_store.db import Store
from audit_store.errors import SigningKeyError
from audit_store.models import Checkpoint
from audit_store.note import NoteSigner
from audit_store.verify import VerifyReport
from reporting.config import Settings


def key_path(settings: Settings) -> Path:
    return settings.audit.signing_key_file.expanduser()


def ensure_key(settings: Settings) -> tuple[str, bool]:
    """``(verifier key, created)``: the configured signing key, made on first use."""
    return ensure_signing_key(key_path(settings), settings.audit.origin)


def require_signing_key(store: Store, settings: Settings) -> None:
    """Before any work: the configured key must be the key of the log's latest checkpoint.

    With checkpoints in the log, a missing key file is refused rather than replaced by a new key
    (the run would fetch, then fail to sign, and leave a stray key behind), and so is a key that
    is not the one the log was signed with. Rotation is deliberate: ``liqrisk keys rotate``.
    A log without checkpoints takes whatever key there is, or a new one.
    """
    with store.read_session() as session:
        previous = latest_checkpoint(session)
        signed_by = None if previous is None else (previous.key_id, previous.verifier_key)
    if signed_by is None:
        return
    key_id, verifier_key = signed_by
    path = key_path(settings)
    if not os.environ.get(SIGNING_KEY_ENV) and not path.exists():
        raise SigningKeyError(
            f"the signing key file {path} is missing, and the log's checkpoints are signed by key "
            f"{key_id}; restore the file (or set ${SIGNING_KEY_ENV}), or start a new key "
            "deliberately with `liqrisk keys rotate`"
        )
    current = load_signer(settings.audit.origin, path).verifier.vkey
    if current != verifier_key:
        raise SigningKeyError(
            f"the signing key {current.split('+')[1]} is not the key of the log's latest "
            f"checkpoint ({key_id}); restore that key, or rotate deliberately with "
            "`liqrisk keys rotate`"
        )


def prepare_key(store: Store, settings: Settings) -> tuple[str, bool]:
    """``(verifier key, created)``: :func:`require_signing_key`, then the key, made only for a log
    that no key has signed yet."""
    require_signing_key(store, settings)
    return ensure_key(settings)


@dataclass(frozen=True)
class Rotation:
    """A key rotation: the retired key (``None`` when its file was lost), the new key, where the
    retired file was kept, and the checkpoint that the new key signed first."""

    old_verifier_key: str | None
    new_verifier_key: str
    retired_file: Path | None
    checkpoint: Checkpoint

    @property
    def vouched(self) -> bool:
        """Whether the retiring key signed a statement for the new one."""
        return self.checkpoint.rotation_note is not None


def rotate_key(store: Store, settings: Settings, *, now: datetime | None = None) -> Rotation:
    """Retire the signing key and sign the log with a new one.

    The old key file is kept beside the new one as ``<name>.retired-<key id>`` (mode 0600, never
    deleted: its checkpoints stay verifiable with its public key), the new key goes to the
    configured path, and a checkpoint signed by the new key records the change in the log (the
    previous checkpoint names the old key), with a statement signed by the old key naming both
    (:mod:`audit_store.rotation`): verification follows the change without the new key pinned.
    Without the old key (its file lost) nothing can vouch for the new one: verification then
    needs both keys pinned (``Rotation.vouched`` is false). A key given in
    ``$LIQRISK_SIGNING_KEY`` cannot be rotated here: change the variable's secret where it is kept.
    """
    if os.environ.get(SIGNING_KEY_ENV):
        raise SigningKeyError(
            f"the signing key comes from ${SIGNING_KEY_ENV}: rotate it where that secret is kept"
        )
    path = key_path(settings)
    with store.read_session() as session:
        previous = latest_checkpoint(session)
        in_force = previous.verifier_key if previous is not None else None  # the latest's key
    old = in_force
    retired: Path | None = None
    retiring: NoteSigner | None = None  # the key in force, when at hand: it vouches for the new
    if path.exists():
        signer = load_signer(settings.audit.origin, path)
        old = signer.verifier.vkey
        retiring = signer if old == in_force else None
        retired = path.with_name(f"{path.name}.retired-{signer.key_id.hex()}")
        if retired.exists():
            raise SigningKeyError(f"{retired} exists; not overwriting a retired key")
        os.replace(path, retired)
    created = False
    try:
        new = init_signing_key(path, settings.audit.origin)
        created = True
        checkpoint = sign_checkpoint(
            store,
            load_signer(settings.audit.origin, path),
            settings.audit.origin,
            rotate_key=True,
            retiring=retiring,
            now=now or datetime.now(UTC),
        )
    except Exception:  # nothing was signed with the new key: the old one stays in force
        if created:
            path.unlink()
        if retired is not None:
            os.replace(retired, path)
        raise
    return Rotation(old, new, retired, checkpoint)


def sign_latest(store: Store, settings: Settings) -> Checkpoint:
    """Sign a checkpoint of the whole log as it is now (or return the last one if unchanged)."""
    signer = load_signer(settings.audit.origin, key_path(settings))
    return sign_checkpoint(store, signer, settings.audit.origin)


def trusted_keys(settings: Settings, extra: list[str] | None = None) -> list[str] | None:
    """Pinned verifier keys from config and the command line; ``None`` when none are pinned."""
    keys = [*settings.audit.trusted_keys, *(extra or [])]
    return keys or None


def verify_everything(
    store: Store, settings: Settings, pinned: list[str] | None = None
) -> VerifyReport:
    """``liqrisk verify``'s checks (the console's verify button runs the same): every stored hash,
    leaf, root and signature, every derived row re-derived, the stream tables, the kept RFC 3161
    tokens, the intraday acknowledgement chain. ``pinned``: verifier keys given on top of
    ``audit.trusted_keys``."""
    from audit_store.verify import verify_store
    from reporting.checks.intraday_acks import intraday_ack_findings
    from reporting.fetch.derivers import derived_rows, verify_derived_tables
    from reporting.fetch.streams.verify import verify_stream_tables
    from reporting.notify.anchor import kept_token_problems

    result = verify_store(store, derived_rows, trusted_keys=trusted_keys(settings, pinned))
    for found in verify_derived_tables(store):  # funding, open interest, OKX orders, instruments
        result.add(found.table, found.record_id, found.message)
    for found in verify_stream_tables(store):  # duplicates counted once, minute sums
        result.add(found.table, found.record_id, found.message)
    for problem in kept_token_problems(store, settings):  # RFC 3161 tokens, checked again
        result.add("timestamp_request", problem.record_id, problem.message)
    for finding in intraday_ack_findings(store):  # each intraday ack, its chain and its row
        result.add("intraday_acknowledgement", finding.ack_id, finding.message)
    return result
