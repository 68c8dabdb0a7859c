"""verify.py's own cryptography: pure-Python Ed25519 and RFC 9162 proofs, against known answers.

The Ed25519 verifier is checked against RFC 8032's test vectors and, with random keys, messages
and bit flips, against ``cryptography`` (OpenSSL): they must agree on every input. Its Merkle
proof checks must accept exactly what :mod:`audit_store.merkle` produces; the export's memoised
proof builder must produce the same proofs as the RFC's recursive definition.
"""

from __future__ import annotations

import ast
import hashlib
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_store import merkle
from audit_store import standalone_verify as sv
from audit_store.errors import ProofError
from audit_store.export_parts import ProofTree
from audit_store.note import MAX_SIGNATURES, NoteSigner, NoteVerifier, open_note, sign_note

# RFC 8032 section 7.1: secret key, public key, message, signature (hex).
RFC8032_VECTORS = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
    (  # TEST SHA(abc): the message is SHA-512("abc")
        "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        hashlib.sha512(b"abc").hexdigest(),
        "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    ),
]
L = 2**252 + 27742317777372353535851937790883648493


def _public(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _openssl_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032_VECTORS)
def test_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    key, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert _public(private) == key and private.sign(msg) == sig  # the vectors are transcribed right
    assert sv.ed25519_verify(key, msg, sig)
    assert not sv.ed25519_verify(key, msg + b"\x00", sig)
    assert not sv.ed25519_verify(key, msg, sig[:-1] + bytes([sig[-1] ^ 0x01]))


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(max_size=300))
def test_agrees_with_cryptography_on_valid_signatures(seed: bytes, message: bytes) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    assert sv.ed25519_verify(_public(private), message, private.sign(message))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.binary(min_size=32, max_size=32),
    message=st.binary(min_size=1, max_size=100),
    target=st.sampled_from(["key", "message", "signature"]),
    position=st.integers(min_value=0, max_value=1000),
    bit=st.integers(min_value=0, max_value=7),
)
def test_agrees_with_cryptography_on_altered_inputs(
    seed: bytes, message: bytes, target: str, position: int, bit: int
) -> None:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    parts = {"key": _public(private), "message": message, "signature": private.sign(message)}
    altered = bytearray(parts[target])
    altered[position % len(altered)] ^= 1 << bit
    parts[target] = bytes(altered)
    ours = sv.ed25519_verify(parts["key"], parts["message"], parts["signature"])
    assert ours == _openssl_verifies(parts["key"], parts["message"], parts["signature"])
    assert not ours


def test_malleated_and_malformed_signatures_are_rejected() -> None:
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    key, message = _public(private), b"liqrisk"
    signature = private.sign(message)
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + L).to_bytes(32, "little")  # same point, S out of range
    assert not sv.ed25519_verify(key, message, malleated)
    assert not _openssl_verifies(key, message, malleated)
    non_canonical_key = (2**255 - 19 + 1).to_bytes(32, "little")  # y >= p
    assert not sv.ed25519_verify(non_canonical_key, message, signature)
    assert not sv.ed25519_verify(key[:31], message, signature)
    assert not sv.ed25519_verify(key, message, signature[:63])


def test_notes_signed_by_liqrisk_open_with_the_standalone_verifier() -> None:
    signer = NoteSigner.generate("liqrisk.example/audit-log")
    text = "liqrisk.example/audit-log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    note = sign_note(text, signer)
    key = sv.parse_verifier_key(signer.verifier.vkey)
    assert sv.open_note(note, key) == text
    assert sv.parse_checkpoint(text).tree_size == 3
    other = sv.parse_verifier_key(NoteSigner.generate("liqrisk.example/audit-log").verifier.vkey)
    with pytest.raises(sv.CheckFailed, match="no signature by key"):
        sv.open_note(note, other)
    with pytest.raises(sv.CheckFailed, match="invalid signature"):
        sv.open_note(note.replace("\n3\n", "\n4\n"), key)
    assert key.fingerprint == sv.key_fingerprint(signer.verifier.public_key)
    assert NoteVerifier.from_vkey(signer.verifier.vkey).key_id == key.key_id


def test_both_note_readers_refuse_more_than_a_hundred_signatures() -> None:
    """A hostile package cannot make verify.py run its slow Ed25519 on any number of lines."""
    signer = NoteSigner.generate("liqrisk.example/audit-log")
    text = "liqrisk.example/audit-log\n3\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    note = sign_note(text, signer)
    other = sign_note(text, NoteSigner.generate("another.example/log"))
    line = other[len(text) + 1 :]  # a signature line by another key (ignored), newline included
    key = sv.parse_verifier_key(signer.verifier.vkey)
    at_limit, over = note + line * (MAX_SIGNATURES - 1), note + line * MAX_SIGNATURES
    assert sv.open_note(at_limit, key) == text
    assert open_note(at_limit, [signer.verifier]) == text
    with pytest.raises(sv.CheckFailed, match="too many signatures"):
        sv.open_note(over, key)
    with pytest.raises(ProofError, match="too many signatures"):
        open_note(over, [signer.verifier])


def test_fingerprint_form_and_normalisation() -> None:
    fingerprint = sv.key_fingerprint(bytes(32))
    assert fingerprint.replace(" ", "") == hashlib.sha256(bytes(32)).hexdigest()
    assert len(fingerprint.split(" ")) == 8
    typed = "SHA256:" + fingerprint.upper().replace(" ", ":")
    assert sv.normalise_fingerprint(typed) == sv.normalise_fingerprint(fingerprint)


# -- Merkle proofs

leaves_strategy = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(data=leaves_strategy, pick=st.integers(min_value=0), old=st.integers(min_value=0))
def test_merkle_proofs_agree_with_audit_store(data: list[bytes], pick: int, old: int) -> None:
    hashes = [merkle.leaf_hash(d) for d in data]
    size = len(hashes)
    root = merkle.root_from_leaf_hashes(hashes)
    index = pick % size
    proof = merkle.inclusion_proof(hashes, index)
    tree = ProofTree(hashes)
    assert tree.root() == root
    assert tree.inclusion_proof(index) == proof
    sv.verify_inclusion(index, size, sv.leaf_hash(data[index]), proof, root)
    if proof:
        bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        with pytest.raises(sv.CheckFailed):
            sv.verify_inclusion(index, size, hashes[index], bad, root)
    m = old % (size + 1)
    old_root = merkle.root_from_leaf_hashes(hashes[:m])
    consistency = merkle.consistency_proof(hashes, m)
    sv.verify_consistency(m, size, consistency, old_root, root)
    if 0 < m < size:
        with pytest.raises(sv.CheckFailed):
            sv.verify_consistency(m, size, consistency, hashlib.sha256(b"x").digest(), root)


def test_every_proof_of_a_larger_tree_matches() -> None:
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(300)]
    tree = ProofTree(hashes)
    root = merkle.root_from_leaf_hashes(hashes)
    for index in (0, 1, 31, 32, 33, 127, 128, 255, 256, 299):
        proof = tree.inclusion_proof(index)
        assert proof == merkle.inclusion_proof(hashes, index)
        sv.verify_inclusion(index, 300, hashes[index], proof, root)


# -- verify.py stands on the standard library alone


def test_verify_py_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(sv.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: verify.py runs on its own"
            imported.add((node.module or "").split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported
