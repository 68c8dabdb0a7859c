"""Key rotation statements: the retiring signing key vouches for its successor.

When the firm changes its signing key (``liqrisk keys rotate``), the old key signs a statement
naming itself, the new key and the tree head the new key signs first; the statement is kept with
that checkpoint (``checkpoint.rotation_note``). Verification can then follow the keys from the
first checkpoint's onward without anyone pinning the new key: each change of key is signed by the
key it replaces. A key lost before its rotation can vouch for nothing: such a change is accepted
only between keys the verifier pins.

The statement is a signed note (the checkpoints' format), its text::

    liqrisk key rotation
    <origin>
    old <verifier key>
    new <verifier key>
    <tree size>
    <root hash, base64>
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from audit_store.errors import ProofError, SigningKeyError
from audit_store.note import NoteSigner, NoteVerifier, open_note, sign_note

HEADER = "liqrisk key rotation"


@dataclass(frozen=True)
class Rotation:
    """What a rotation statement says."""

    origin: str
    old_key: str
    new_key: str
    tree_size: int
    root_hash: bytes

    def text(self) -> str:
        root = base64.b64encode(self.root_hash).decode()
        return (
            f"{HEADER}\n{self.origin}\nold {self.old_key}\nnew {self.new_key}\n"
            f"{self.tree_size}\n{root}\n"
        )


def sign_rotation(rotation: Rotation, old_signer: NoteSigner) -> str:
    """The statement signed by the retiring key; :class:`SigningKeyError` when ``old_signer`` is
    not the key the statement retires (it cannot vouch for a successor)."""
    if old_signer.verifier.vkey != rotation.old_key:
        raise SigningKeyError(
            f"the retiring key {old_signer.verifier.vkey.split('+')[1]} is not the key in force "
            f"({rotation.old_key.split('+')[1]}): it cannot vouch for the new one"
        )
    return sign_note(rotation.text(), old_signer)


def open_rotation(note: str, old_key: str) -> Rotation:
    """The statement in ``note`` once its signature by ``old_key`` verifies and it names
    ``old_key`` as the key retired; :class:`ProofError` otherwise."""
    text = open_note(note, [NoteVerifier.from_vkey(old_key)])
    lines = text.split("\n")
    if len(lines) != 7 or lines[0] != HEADER or lines[6] != "":
        raise ProofError("not a key rotation statement")
    origin, old, new, size, root = lines[1:6]
    if not (old.startswith("old ") and new.startswith("new ") and size.isdigit()):
        raise ProofError("malformed key rotation statement")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ProofError("malformed root hash in key rotation statement") from exc
    rotation = Rotation(origin, old[4:], new[4:], int(size), root_hash)
    if rotation.old_key != old_key:
        raise ProofError("the statement retires another key than the one that signed it")
    return rotation
