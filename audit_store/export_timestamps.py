"""What anchors the package's log outside the firm: RFC 3161 tokens and witness cosignatures.

**Witnesses**: each checkpoint of the log up to the package's that witnesses cosigned goes in as
``data/checkpoint/cosigned/checkpoint-<id>.txt``, its note followed by the kept cosignature
lines; ``verify.py --witness KEY --witness-threshold N`` counts them.

**Time stamps** (``data/timestamps/``):

Every token kept for a checkpoint of the package's log (:mod:`audit_store.tables_timestamps`) goes
in as the TSA's whole response (``token-<id>.tsr``, DER, what ``openssl ts -verify -in`` reads),
beside the checkpoint note it stamps (``checkpoint-<id>.txt``, the exact bytes hashed).
``timestamps.json`` lists them with the request's nonce, the TSA's time and the times the
checkpoint and the next one were signed, which ``verify.py`` checks the token's time against.
When the firm configured its TSA's CA certificate, a copy goes in as ``tsa_ca.pem`` for
``openssl``; a regulator who wants to rule out the firm uses the TSA's own published one.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from audit_store import standalone_verify as sv
from audit_store.canonical import utc_iso
from audit_store.cosigning import cosigned_note
from audit_store.errors import ExportError
from audit_store.export_parts import Staging
from audit_store.models import Checkpoint
from audit_store.tables_timestamps import STAMPED, CheckpointCosignature, TimestampRequest


def stage_timestamps(
    session: Session,
    staging: Staging,
    checkpoint: Checkpoint,
    *,
    tsa_ca_file: Path | None,
    max_skew_seconds: int,
) -> int:
    """Stage the tokens of every checkpoint up to ``checkpoint``, and ``timestamps.json`` listing
    them; return how many."""
    checkpoints = list(
        session.scalars(
            select(Checkpoint)
            .where(col(Checkpoint.id) <= checkpoint.id)
            .order_by(col(Checkpoint.id))
        )
    )
    following = {a.id: b.created_at for a, b in pairwise(checkpoints)}
    by_id = {c.id: c for c in checkpoints}
    rows = session.scalars(
        select(TimestampRequest)
        .where(
            col(TimestampRequest.outcome) == STAMPED,
            col(TimestampRequest.checkpoint_id) <= checkpoint.id,
        )
        .order_by(col(TimestampRequest.id))
    )
    tokens = []
    for row in rows:
        stamped = by_id.get(row.checkpoint_id)
        if stamped is None or row.response is None or row.gen_time is None:
            continue
        note_path = f"{sv.TIMESTAMPS_DIR}checkpoint-{stamped.id}.txt"
        if note_path not in staging.files:
            staging.add(note_path, stamped.note.encode("utf-8"))
        token_path = f"{sv.TIMESTAMPS_DIR}token-{row.id}.tsr"
        staging.add(token_path, row.response)
        next_at = following.get(stamped.id)
        tokens.append(
            {
                "token": token_path,
                "checkpoint": note_path,
                "checkpoint_id": stamped.id,
                "tree_size": stamped.tree_size,
                "root_hash": stamped.root_hash,
                "signed_at": utc_iso(stamped.created_at),
                "next_signed_at": None if next_at is None else utc_iso(next_at),
                "tsa_url": row.tsa_url,
                "requested_at": utc_iso(row.requested_at),
                "nonce": row.nonce,
                "gen_time": utc_iso(row.gen_time),
            }
        )
    ca_path = None
    if tsa_ca_file is not None and tokens:
        ca_path = f"{sv.TIMESTAMPS_DIR}tsa_ca.pem"
        try:
            staging.add(ca_path, tsa_ca_file.expanduser().read_bytes())
        except OSError as exc:
            raise ExportError(f"[anchor] tsa_ca_file {tsa_ca_file}: {exc.strerror}") from exc
    document = {"max_skew_seconds": max_skew_seconds, "tsa_ca_file": ca_path, "tokens": tokens}
    staging.add(
        sv.TIMESTAMPS_FILE, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
    )
    return len(tokens)


def stage_cosigned(session: Session, staging: Staging, checkpoint: Checkpoint) -> int:
    """Stage every cosigned checkpoint up to ``checkpoint``; return how many cosignatures."""
    rows = list(
        session.scalars(
            select(CheckpointCosignature)
            .where(col(CheckpointCosignature.checkpoint_id) <= checkpoint.id)
            .order_by(col(CheckpointCosignature.id))
        )
    )
    lines: dict[int, list[str]] = {}
    for row in rows:
        lines.setdefault(row.checkpoint_id, []).append(row.line)
    for checkpoint_id, kept in sorted(lines.items()):
        cosigned = session.get(Checkpoint, checkpoint_id)
        if cosigned is None:
            raise ExportError(f"cosignatures name checkpoint {checkpoint_id}, which does not exist")
        path = f"{sv.COSIGNED_DIR}checkpoint-{checkpoint_id}.txt"
        staging.add(path, cosigned_note(cosigned, kept).encode("utf-8"))
    return len(rows)
