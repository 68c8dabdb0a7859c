"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, compatible with Go's sumdb/note.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(key ID || signature)``; the key ID is the first four bytes of
``SHA-256(name || 0x0A || 0x01 || public key)``. Keys travel in the note package's text forms:

* verifier key (public, safe to publish): ``<name>+<key ID hex>+base64(0x01 || public key)``
* signer key (secret): ``PRIVATE+KEY+<name>+<key ID hex>+base64(0x01 || 32-byte seed)``

Written here rather than imported so the whole checkpoint format is auditable in this package.
No message ever contains a signer key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from audit_store.errors import ProofError, SigningKeyError

ALG_ED25519 = 0x01
SIGNATURE_PREFIX = "— "  # em dash U+2014, space
MAX_SIGNATURES = 100


def is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode white space, no ``+`` (the note package's rule)."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


@dataclass(frozen=True)
class NoteVerifier:
    """A public key with its name: checks signatures on notes."""

    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key string to publish: ``name+hash+base64(0x01||pubkey)``."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not is_valid_key_name(parts[0]) or len(parts[1]) != 8:
            raise ProofError("malformed verifier key (expected name+hash+keydata)")
        name, hash_hex, data = parts
        try:
            raw = _b64decode(data)
            wanted = bytes.fromhex(hash_hex)
        except (ValueError, binascii.Error) as exc:
            raise ProofError(f"malformed verifier key for {name}") from exc
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise ProofError(f"verifier key for {name} is not an Ed25519 key")
        verifier = cls(name, raw[1:])
        if verifier.key_id != wanted:
            raise ProofError(f"verifier key for {name} has the wrong key hash")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class NoteSigner:
    """An Ed25519 private key with its name. ``repr`` and ``str`` never show the key."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not is_valid_key_name(name):
            raise SigningKeyError(
                f"key name {name!r} is not valid: it must be non-empty, without spaces or '+'"
            )
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.verifier = NoteVerifier(name, public)

    def __repr__(self) -> str:
        return f"NoteSigner({self.verifier.vkey!r})"

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str, *, where: str) -> NoteSigner:
        """Parse ``PRIVATE+KEY+name+hash+base64(0x01||seed)``; ``where`` names its source."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or len(parts[3]) != 8:
            raise SigningKeyError(
                f"the signing key in {where} is malformed "
                "(expected PRIVATE+KEY+<name>+<hash>+<base64 key>)"
            )
        name, hash_hex, data = parts[2], parts[3], parts[4]
        try:
            raw = _b64decode(data)
            wanted = bytes.fromhex(hash_hex)
        except (ValueError, binascii.Error) as exc:
            raise SigningKeyError(f"the signing key in {where} is not valid base64/hex") from exc
        if len(raw) != 33 or raw[0] != ALG_ED25519:
            raise SigningKeyError(f"the signing key in {where} is not an Ed25519 key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(raw[1:]))
        if signer.verifier.key_id != wanted:
            raise SigningKeyError(f"the signing key in {where} does not match its key hash")
        return signer

    @property
    def key_id(self) -> bytes:
        return self.verifier.key_id

    def skey(self) -> str:
        """The secret signer key string. Only :func:`init_signing_key` should ever call this."""
        seed = self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{encoded}"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text must end in a newline and contain no blank line")
    if any(ord(ch) < 0x20 and ch != "\n" for ch in text):
        raise ValueError("note text must not contain control characters")


def sign_note(text: str, signer: NoteSigner) -> str:
    """``text``, a blank line and one signature line."""
    _check_text(text)
    signature = signer.key_id + signer.sign(text.encode("utf-8"))
    return f"{text}\n{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(signature).decode()}\n"


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> str:
    """The text of ``note`` once a signature by one of ``verifiers`` checks out.

    As the spec says: signatures by unknown keys are ignored, a failing signature by a known key
    rejects the note, and a note with no signature by a known key is rejected.
    """
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise ProofError("not a signed note: no blank line before the signatures")
    text, sig_block = note[: split + 1], note[split + 2 :]
    if any(ord(ch) < 0x20 and ch != "\n" for ch in note):
        raise ProofError("signed note contains control characters")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ProofError("signed note has too many signatures")
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = False
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise ProofError("malformed signature line in note")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            raw = _b64decode(encoded)
        except (ValueError, binascii.Error) as exc:
            raise ProofError(f"signature by {name} is not valid base64") from exc
        if not is_valid_key_name(name) or len(raw) < 5:
            raise ProofError("malformed signature line in note")
        verifier = known.get((name, raw[:4]))
        if verifier is None:
            continue
        if not verifier.verify(text.encode("utf-8"), raw[4:]):
            raise ProofError(f"invalid signature by key {name}+{raw[:4].hex()}")
        verified = True
    if not verified:
        raise ProofError("note has no valid signature by a trusted key")
    return text
