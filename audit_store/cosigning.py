"""Witness cosignatures on checkpoints (c2sp.org/tlog-cosignature): accepted, kept, counted.

A witness is a party outside the firm that keeps the largest checkpoint it has seen of the log and
cosigns a new one only when it extends that one (it checks the consistency proof itself). Once
enough independent witnesses have cosigned a checkpoint, the firm could not show one party a
rewritten log and another the real one without a witness refusing. liqrisk does not run witnesses:
it hands them its checkpoints (``checkpoint --publish``, the emails) and accepts what they return,
a checkpoint note with their cosignature lines added (:func:`accept_cosigned`).

Only lines by the configured witness keys (``[anchor] witnesses``) count; each is verified
(Ed25519 over ``cosignature/v1``, ``time <seconds>``, the checkpoint body) with the very code
``verify.py`` runs, and kept in ``checkpoint_cosignature`` (append-only). The body must be one of
the log's own signed checkpoints: a cosigned body the log never signed is a fork and is refused.
:func:`witnessed` re-checks every kept line and names the largest checkpoint cosigned by at least
``threshold`` witnesses (``liqrisk verify --witness-threshold N``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store import standalone_verify as sv
from audit_store.errors import IntegrityError, ProofError
from audit_store.models import Checkpoint
from audit_store.tables_timestamps import CheckpointCosignature

WitnessKey = sv.VerifierKey


def parse_witness_keys(texts: Sequence[str]) -> list[WitnessKey]:
    """The configured witness keys; :class:`ProofError` names the one that is not a key."""
    keys = []
    for text in texts:
        try:
            keys.append(sv.parse_witness_key(text))
        except sv.CheckFailed as exc:
            raise ProofError(f"witness key {text.split('+', 1)[0]!r}: {exc}") from exc
    return keys


@dataclass(frozen=True)
class Accepted:
    checkpoint_id: int
    tree_size: int
    new: tuple[str, ...]  # witnesses whose cosignature was recorded now
    known: tuple[str, ...]  # witnesses whose cosignature was already kept
    ignored: int  # signature lines by keys that are not configured witnesses (the log's own too)


def accept_cosigned(
    session: Session, note: str, witnesses: Sequence[WitnessKey], now: datetime
) -> Accepted:
    """Record the witnesses' cosignatures on the checkpoint ``note``; the caller commits.

    :class:`ProofError` when a configured witness's line does not verify, or when no line is by
    one; :class:`IntegrityError` when the body is not a checkpoint this log signed (a fork)."""
    try:
        body, valid = sv.cosignatures(note, witnesses)
        head = sv.parse_checkpoint(body)
    except sv.CheckFailed as exc:
        raise ProofError(f"the cosigned checkpoint: {exc}") from exc
    if not valid:
        raise ProofError(
            "the cosigned checkpoint carries no cosignature by a configured witness "
            "([anchor] witnesses)"
        )
    checkpoint = next(
        (
            c
            for c in session.scalars(
                select(Checkpoint).where(col(Checkpoint.tree_size) == head.tree_size)
            )
            if _body(c.note) == body
        ),
        None,
    )
    if checkpoint is None or checkpoint.id is None:
        raise IntegrityError(
            f"the cosigned checkpoint ({head.tree_size} leaves, root {head.root_hash.hex()}) is "
            "not one this log signed: a fork, or another log's"
        )
    kept = {
        row.line
        for row in session.scalars(
            select(CheckpointCosignature).where(
                col(CheckpointCosignature.checkpoint_id) == checkpoint.id
            )
        )
    }
    new, known = [], []
    for cosignature in valid:
        if cosignature.line in kept:
            known.append(cosignature.witness)
            continue
        session.add(
            CheckpointCosignature(
                checkpoint_id=checkpoint.id,
                tree_size=checkpoint.tree_size,
                witness=cosignature.witness,
                key_id=cosignature.key_id.hex(),
                signed_at=datetime.fromtimestamp(cosignature.timestamp, UTC),
                line=cosignature.line,
                recorded_at=now,
            )
        )
        new.append(cosignature.witness)
    lines = note[note.rfind("\n\n") + 2 : -1].split("\n")
    return Accepted(
        checkpoint.id, checkpoint.tree_size, tuple(new), tuple(known), len(lines) - len(valid)
    )


def cosigned_note(checkpoint: Checkpoint, lines: Sequence[str]) -> str:
    """The checkpoint's note with the kept cosignature lines after its own signatures."""
    return checkpoint.note + "".join(f"{line}\n" for line in lines)


@dataclass(frozen=True)
class Witnessed:
    tree_size: int | None  # the largest checkpoint cosigned by ``threshold`` witnesses
    witnesses: tuple[str, ...]  # who cosigned it
    problems: tuple[str, ...]  # kept lines that no longer verify


def witnessed(session: Session, witnesses: Sequence[WitnessKey], threshold: int) -> Witnessed:
    """Every kept cosignature verified again; the largest checkpoint with enough of them."""
    rows = list(
        session.scalars(select(CheckpointCosignature).order_by(col(CheckpointCosignature.id)))
    )
    checkpoints = {
        c.id: c
        for c in session.scalars(
            select(Checkpoint).where(col(Checkpoint.id).in_({r.checkpoint_id for r in rows}))
        )
    }
    by_checkpoint: dict[int, set[str]] = {}
    problems = []
    trusted = {w.name for w in witnesses}
    for row in rows:
        checkpoint = checkpoints.get(row.checkpoint_id)
        if checkpoint is None or row.witness not in trusted:
            continue  # a witness no longer configured counts for nothing
        try:
            _, valid = sv.cosignatures(cosigned_note(checkpoint, [row.line]), witnesses)
        except sv.CheckFailed as exc:
            problems.append(f"cosignature {row.id} of {row.witness}: {exc}")
            continue
        if valid:
            by_checkpoint.setdefault(row.checkpoint_id, set()).add(row.witness)
    enough = [
        (checkpoints[cid].tree_size, sorted(names))
        for cid, names in by_checkpoint.items()
        if threshold and len(names) >= threshold
    ]
    if not enough:
        return Witnessed(None, (), tuple(problems))
    size, names = max(enough)
    return Witnessed(size, tuple(names), tuple(problems))


def _body(note: str) -> str:
    return note[: note.rfind("\n\n") + 1]
