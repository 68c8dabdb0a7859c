"""Consistency from a checkpoint someone kept (``liqrisk verify --since FILE``).

A party outside the firm (an auditor who kept a report email's checkpoint, a regulator who kept an
export's) holds a signed note: a tree size ``m`` and the root of the log's first ``m`` leaves. The
store proves its log is an append-only extension of it: the note's signature verifies with a
trusted verifier key; every leaf hash is recomputed from its snapshot; the RFC 6962 consistency
proof from ``m`` to the current size is made and verified against the note's root and the current
root. Otherwise it is named:

* **truncated**: the log holds fewer leaves than the checkpoint covered;
* **fork**: the log's first ``m`` leaves no longer hash to the checkpoint's root (at the same size:
  another root), so something before the checkpoint was changed or the log was rebuilt, even if
  re-signed with the firm's own key.

The firm's key cannot hide a rewrite from anyone who kept an earlier checkpoint: that is the point.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from audit_store import standalone_verify as sv
from audit_store.checkpoint import log_leaf_hashes, open_checkpoint
from audit_store.db import Store
from audit_store.errors import IntegrityError, ProofError
from audit_store.merkle import consistency_proof, root_from_leaf_hashes, verify_consistency
from audit_store.models import Checkpoint


@dataclass(frozen=True)
class SinceResult:
    ok: bool
    verdict: str  # "extends", "same", "fork", "truncated", "unverified"
    message: str
    kept_size: int | None = None
    log_size: int | None = None
    proof: tuple[bytes, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "verdict": self.verdict,
            "message": self.message,
            "kept_size": self.kept_size,
            "log_size": self.log_size,
            "proof_hashes": len(self.proof),
        }


def stored_verifier_keys(store: Store) -> list[str]:
    """Every verifier key that signed a checkpoint of this store."""
    with store.read_session() as session:
        query = select(col(Checkpoint.verifier_key)).distinct()
        return sorted(str(k) for (k,) in session.execute(query))


def check_since(
    store: Store, note: str, verifier_keys: Iterable[str], *, origin: str | None = None
) -> SinceResult:
    """Whether the store's log extends the checkpoint ``note`` (see the module's docstring), as
    kept: copied out of a PDF or an email, its layout is restored first (``kept_note``)."""
    keys = list(verifier_keys)
    try:
        head = open_checkpoint(sv.kept_note(note), keys)
    except ProofError as exc:
        return SinceResult(
            False,
            "unverified",
            f"the kept checkpoint is not signed by a trusted key ({len(keys)} tried): {exc}",
        )
    if origin is not None and head.origin != origin:
        return SinceResult(
            False,
            "unverified",
            f"the kept checkpoint is of log {head.origin!r}, not of this log ({origin!r})",
            head.tree_size,
        )
    kept = head.tree_size
    try:
        with store.read_session() as session:
            hashes = log_leaf_hashes(session, "check the kept checkpoint")
    except IntegrityError as exc:
        return SinceResult(False, "unverified", str(exc), kept)
    size = len(hashes)
    if kept > size:
        return SinceResult(
            False,
            "truncated",
            f"truncated: the kept checkpoint covers {kept} leaves, the log now holds {size}",
            kept,
            size,
        )
    if root_from_leaf_hashes(hashes[:kept]) != head.root_hash:
        where = "at the same size, another root" if kept == size else f"its first {kept} leaves"
        return SinceResult(
            False,
            "fork",
            f"fork: the log does not extend the kept checkpoint ({where} hash to a root other "
            f"than the one signed for {kept} leaves): something before it was changed, or the "
            "log was rebuilt",
            kept,
            size,
        )
    if kept == size:
        return SinceResult(
            True, "same", f"the log is the kept checkpoint's ({size} leaves)", kept, size
        )
    proof = consistency_proof(hashes, kept)
    try:
        verify_consistency(kept, size, proof, head.root_hash, root_from_leaf_hashes(hashes))
    except ProofError as exc:  # cannot happen once the roots agree; kept as the RFC's own check
        return SinceResult(False, "fork", f"fork: the consistency proof fails: {exc}", kept, size)
    return SinceResult(
        True,
        "extends",
        f"the log ({size} leaves) is an append-only extension of the kept checkpoint ({kept} "
        f"leaves): RFC 6962 consistency proof of {len(proof)} hashes verified",
        kept,
        size,
        tuple(proof),
    )
