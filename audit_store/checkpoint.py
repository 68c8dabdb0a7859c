"""Signed checkpoints of the snapshot log (C2SP tlog-checkpoint, signed as a C2SP signed note).

A checkpoint commits to the first ``tree_size`` leaves through their RFC 6962 root::

    liqrisk.example/audit-log
    26280
    CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

    — liqrisk.example/audit-log Az3grlgt...

Every checkpoint is kept, with the verifier key that checks it and the RFC 9162 consistency proof
from the checkpoint before; a new one is signed only once that proof verifies against the earlier
signed root, so the log can never be quietly rewritten and re-signed.

The signing key is an Ed25519 key in the signed-note package's text form
``PRIVATE+KEY+<name>+<hash>+<base64>`` (see :mod:`audit_store.note`; Go's ``note.NewSigner`` reads
it too). It comes from the environment variable ``LIQRISK_SIGNING_KEY`` (the whole string) or from
a file made by :func:`init_signing_key` (mode 0600, never overwritten). It is never written to the
database and never appears in a message. Its name must be the log's origin.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, col

from audit_store import standalone_verify as sv
from audit_store.db import Store
from audit_store.errors import IntegrityError, ProofError, SigningKeyError, StoreError
from audit_store.files import PUBLIC_MODE, write_atomic
from audit_store.merkle import (
    consistency_proof,
    inclusion_proof,
    root_from_leaf_hashes,
    verify_consistency,
)
from audit_store.models import Checkpoint, Snapshot
from audit_store.note import NoteSigner, NoteVerifier, is_valid_key_name, open_note, sign_note
from audit_store.rotation import Rotation, sign_rotation
from audit_store.snapshots import lock_sequencer, provenance_leaf_hash
from audit_store.tables_publication import CheckpointPublication

DEFAULT_ORIGIN = "liqrisk.example/audit-log"
SIGNING_KEY_ENV = "LIQRISK_SIGNING_KEY"


# -- keys


def init_signing_key(path: Path | str, origin: str = DEFAULT_ORIGIN) -> str:
    """Generate a signing key named ``origin`` into ``path`` (mode 0600); return its verifier key.

    Refuses to overwrite an existing file: replacing the key would orphan every checkpoint it
    signed. The returned verifier key is public: print it, publish it, give it to the regulator.
    """
    if not is_valid_key_name(origin):
        raise SigningKeyError(f"origin {origin!r} cannot name a key: no spaces or '+' allowed")
    target = Path(path).expanduser()
    signer = NoteSigner.generate(origin)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise SigningKeyError(f"signing key file {target} exists; not overwriting it") from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot create signing key file {target}: {exc.strerror}") from exc
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (signer.skey() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return signer.verifier.vkey


def ensure_signing_key(
    path: Path | str, origin: str = DEFAULT_ORIGIN, *, environ: Mapping[str, str] | None = None
) -> tuple[str, bool]:
    """For an idempotent ``liqrisk init``: ``(verifier key, created)``.

    The key in ``$LIQRISK_SIGNING_KEY`` or in the file at ``path`` if there is one (checked to be
    a valid key named ``origin``), else a new key file at ``path``.
    """
    env = os.environ if environ is None else environ
    if env.get(SIGNING_KEY_ENV) or Path(path).expanduser().exists():
        return load_signer(origin, path, environ=env).verifier.vkey, False
    return init_signing_key(path, origin), True


def load_signer(
    origin: str, path: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> NoteSigner:
    """The signer from ``$LIQRISK_SIGNING_KEY`` if set, else from the key file at ``path``."""
    env = os.environ if environ is None else environ
    if env.get(SIGNING_KEY_ENV):
        signer = NoteSigner.from_skey(env[SIGNING_KEY_ENV], where=f"${SIGNING_KEY_ENV}")
    elif path is not None:
        signer = NoteSigner.from_skey(_read_key_file(Path(path).expanduser()), where=str(path))
    else:
        raise SigningKeyError(
            f"no signing key: set ${SIGNING_KEY_ENV} or create a key file with `liqrisk init`"
        )
    if signer.name != origin:
        raise SigningKeyError(
            f"the signing key is named {signer.name!r} but the log's origin is {origin!r}"
        )
    return signer


def _read_key_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningKeyError(
                f"signing key file {path} is readable by others; run `chmod 600 {path}`"
            )
        return path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise SigningKeyError(f"signing key file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(f"cannot read signing key file {path}") from exc


# -- the note text


@dataclass(frozen=True)
class TreeHead:
    """The three lines of a checkpoint's text."""

    origin: str
    tree_size: int
    root_hash: bytes

    def text(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"

    @classmethod
    def parse(cls, text: str) -> TreeHead:
        """The tree head in ``text``, read by verify.py's own parser: one copy of the rules."""
        try:
            head = sv.parse_checkpoint(text)
        except sv.CheckFailed as exc:
            raise ProofError(str(exc)) from exc
        return cls(head.origin, head.tree_size, head.root_hash)


def open_checkpoint(note: str, verifier_keys: Iterable[str]) -> TreeHead:
    """The tree head of a signed checkpoint once a signature by one of the keys verifies."""
    verifiers = [NoteVerifier.from_vkey(k) for k in verifier_keys]
    return TreeHead.parse(open_note(note, verifiers))


def consistency_proof_of(checkpoint: Checkpoint) -> list[bytes]:
    try:
        encoded = json.loads(checkpoint.consistency_proof_json)
        return [base64.b64decode(h, validate=True) for h in encoded]
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ProofError(f"checkpoint {checkpoint.id} has a malformed consistency proof") from exc


# -- signing


def log_leaf_hashes(session: Session, purpose: str = "sign") -> list[bytes]:
    """Every leaf hash in index order, each recomputed from its provenance and checked."""
    hashes: list[bytes] = []
    body = cast("QueryableAttribute[bytes]", Snapshot.body)  # SQLModel types it as bytes
    query = select(Snapshot).options(defer(body)).order_by(col(Snapshot.leaf_index))
    for snapshot in session.scalars(query):
        if snapshot.leaf_index != len(hashes):
            raise IntegrityError(
                f"refusing to {purpose}: leaf index {len(hashes)} is missing or duplicated "
                f"(next is {snapshot.leaf_index}); run `liqrisk verify`"
            )
        recomputed = provenance_leaf_hash(snapshot)
        if recomputed != snapshot.leaf_hash:
            raise IntegrityError(
                f"refusing to {purpose}: snapshot {snapshot.id} (leaf {snapshot.leaf_index}) "
                "does not match its leaf hash; run `liqrisk verify`"
            )
        hashes.append(bytes.fromhex(recomputed))
    return hashes


def latest_checkpoint(session: Session) -> Checkpoint | None:
    query = select(Checkpoint).order_by(col(Checkpoint.tree_size).desc(), col(Checkpoint.id).desc())
    return session.scalars(query.limit(1)).first()


def sign_checkpoint(
    store: Store,
    signer: NoteSigner,
    origin: str,
    *,
    rotate_key: bool = False,
    retiring: NoteSigner | None = None,
    now: datetime | None = None,
) -> Checkpoint:
    """Sign and keep a checkpoint of the whole log as it is now; return it.

    Refuses (:class:`IntegrityError`) unless the previous checkpoint's signature verifies and the
    log now extends it (RFC 9162 consistency proof). If nothing was appended since and the key is
    the same, the previous checkpoint is returned instead of a duplicate. A different key than the
    previous checkpoint's is refused unless ``rotate_key``; ``retiring`` (the previous checkpoint's
    key) then signs a statement vouching for the new key (:mod:`audit_store.rotation`), kept with
    the checkpoint, which lets verification follow the change without the new key pinned.
    """
    if signer.name != origin:
        raise SigningKeyError(f"the signing key is named {signer.name!r}, not {origin!r}")
    vkey = signer.verifier.vkey
    with store.session() as session:
        lock_sequencer(session)  # no leaf is appended, no other checkpoint signed, meanwhile
        hashes = log_leaf_hashes(session)
        size, root = len(hashes), root_from_leaf_hashes(hashes)
        previous = latest_checkpoint(session)
        proof: list[bytes] = []
        if previous is not None:
            head = _trusted_head(previous)
            if head.origin != origin:
                raise IntegrityError(
                    f"the log's checkpoints are for origin {head.origin!r}, not {origin!r}"
                )
            if previous.verifier_key != vkey and not rotate_key:
                raise SigningKeyError(
                    f"the signing key {vkey.split('+')[1]} is not the key of the previous "
                    f"checkpoint ({previous.key_id}); pass rotate_key to change keys"
                )
            if size < head.tree_size:
                raise IntegrityError(
                    f"refusing to sign: checkpoint {previous.id} covers {head.tree_size} leaves "
                    f"but the log has {size}; run `liqrisk verify`"
                )
            proof = consistency_proof(hashes, head.tree_size)
            try:
                verify_consistency(head.tree_size, size, proof, head.root_hash, root)
            except ProofError as exc:
                raise IntegrityError(
                    f"refusing to sign: the log is not consistent with checkpoint {previous.id} "
                    f"({exc}); run `liqrisk verify`"
                ) from exc
            if size == head.tree_size and previous.verifier_key == vkey:
                return previous
        tree_head = TreeHead(origin, size, root)
        statement: str | None = None
        if previous is not None and previous.verifier_key != vkey and retiring is not None:
            change = Rotation(origin, previous.verifier_key, vkey, size, root)
            statement = sign_rotation(change, retiring)
        checkpoint = Checkpoint(
            origin=origin,
            tree_size=size,
            root_hash=root.hex(),
            note=sign_note(tree_head.text(), signer),
            key_name=signer.name,
            key_id=signer.key_id.hex(),
            verifier_key=vkey,
            previous_tree_size=None if previous is None else previous.tree_size,
            consistency_proof_json=json.dumps([base64.b64encode(h).decode() for h in proof]),
            created_at=now or datetime.now(UTC),
            rotation_note=statement,
        )
        session.add(checkpoint)
        session.flush()
        return checkpoint


def inclusion_proof_for(store: Store, leaf_index: int, tree_size: int) -> list[bytes]:
    """The RFC 9162 proof that leaf ``leaf_index`` is in the tree of the first ``tree_size`` leaves.

    With the snapshot's provenance record and a checkpoint of that size, anyone can check it with
    :func:`audit_store.merkle.verify_inclusion`, without the rest of the store.
    """
    with store.read_session() as session:
        hashes = log_leaf_hashes(session, "prove inclusion")
    if not 0 <= leaf_index < tree_size <= len(hashes):
        raise StoreError(
            f"leaf {leaf_index} is not in a tree of {tree_size} of {len(hashes)} leaves"
        )
    return inclusion_proof(hashes[:tree_size], leaf_index)


def _trusted_head(checkpoint: Checkpoint) -> TreeHead:
    """The tree head of a stored checkpoint, once its signature and columns check out."""
    try:
        head = open_checkpoint(checkpoint.note, [checkpoint.verifier_key])
    except ProofError as exc:
        raise IntegrityError(f"checkpoint {checkpoint.id} does not verify: {exc}") from exc
    if head.tree_size != checkpoint.tree_size or head.root_hash.hex() != checkpoint.root_hash:
        raise IntegrityError(f"checkpoint {checkpoint.id}'s columns differ from its signed note")
    return head


# -- publishing


def checkpoint_chain(checkpoints: Sequence[Checkpoint]) -> list[dict[str, object]]:
    """The public record of each checkpoint: what an outsider needs to check the chain."""
    return [
        {
            "id": c.id,
            "tree_size": c.tree_size,
            "note": c.note,
            "verifier_key": c.verifier_key,
            "previous_tree_size": c.previous_tree_size,
            "consistency_proof": json.loads(c.consistency_proof_json),
        }
        for c in checkpoints
    ]


def publish_checkpoint(store: Store, directory: Path | str) -> Path:
    """Write the latest checkpoint and its history to ``directory``; return the checkpoint's path.

    ``checkpoint``          the latest signed note, as tlog clients fetch it
    ``verifier_keys``       the public keys that signed checkpoints, one per line
    ``checkpoints.json``    every checkpoint with its consistency proof from the one before
    Files are replaced atomically, so a reader never sees half a checkpoint.
    """
    with store.session() as session:
        query = select(Checkpoint).order_by(col(Checkpoint.tree_size), col(Checkpoint.id))
        checkpoints = list(session.scalars(query))
    if not checkpoints:
        raise StoreError("no checkpoint has been signed yet; run `liqrisk checkpoint`")
    target = Path(directory).expanduser()
    keys = list(dict.fromkeys(c.verifier_key for c in checkpoints))
    chain = json.dumps(checkpoint_chain(checkpoints), indent=1, ensure_ascii=False) + "\n"
    try:
        target.mkdir(parents=True, exist_ok=True)
        _write_atomically(target / "verifier_keys", "".join(k + "\n" for k in keys))
        _write_atomically(target / "checkpoints.json", chain)
        _write_atomically(target / "checkpoint", checkpoints[-1].note)
    except OSError as exc:
        raise StoreError(f"cannot publish the checkpoint to {target}: {exc.strerror}") from exc
    latest = checkpoints[-1]
    assert latest.id is not None
    with store.session() as session:  # who holds which checkpoint: audit_store.tables_publication
        session.add(
            CheckpointPublication(
                checkpoint_id=latest.id,
                tree_size=latest.tree_size,
                channel="directory",
                target=str(target.absolute()),
                reference="checkpoint",
                at=datetime.now(UTC),
            )
        )
    return target / "checkpoint"


def _write_atomically(path: Path, content: str) -> None:
    write_atomic(path, content.encode("utf-8"), mode=PUBLIC_MODE)  # written to be published
