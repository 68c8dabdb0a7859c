"""Signed notes, signing keys, and checkpoints: known answers, round trips, tampering."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from audit_store.checkpoint import (
    SIGNING_KEY_ENV,
    TreeHead,
    consistency_proof_of,
    ensure_signing_key,
    init_signing_key,
    load_signer,
    open_checkpoint,
    publish_checkpoint,
    sign_checkpoint,
)
from audit_store.db import Store
from audit_store.errors import IntegrityError, ProofError, SigningKeyError, StoreError
from audit_store.merkle import verify_consistency
from audit_store.note import NoteSigner, NoteVerifier, open_note, sign_note
from tests.store_helpers import _drop_append_only_triggers, fill, tamper

pytest_plugins = ["tests.pg"]

ORIGIN = "liqrisk.example/audit-log"

# Go's golang.org/x/mod/sumdb/note package documentation: a key pair and a note it signed.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
GO_SECOND_SIGNATURE = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)
SECRET_PART = GO_SKEY.rsplit("+", 1)[1]
BAD_SIGNATURE = base64.b64encode(bytes.fromhex("c74f20a3") + bytes(64)).decode()


# -- signed notes


def test_signer_key_matches_go_known_answer() -> None:
    signer = NoteSigner.from_skey(GO_SKEY, where="test")
    assert signer.verifier.vkey == GO_VKEY
    assert signer.key_id.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, signer) == GO_NOTE  # Ed25519 is deterministic
    assert signer.skey() == GO_SKEY
    assert SECRET_PART not in repr(signer) and SECRET_PART not in str(signer)


def test_open_note_accepts_the_go_note_and_ignores_unknown_signers() -> None:
    verifier = NoteVerifier.from_vkey(GO_VKEY)
    assert open_note(GO_NOTE, [verifier]) == GO_TEXT
    assert open_note(GO_NOTE + GO_SECOND_SIGNATURE, [verifier]) == GO_TEXT


@pytest.mark.parametrize(
    "note",
    [
        GO_NOTE.replace("cryptography", "Cryptography"),  # text changed
        GO_NOTE.replace("x08go", "x08gp"),  # signature changed
        GO_NOTE.replace("\n\n", "\n"),  # no blank line
        GO_NOTE.replace("— ", "-- "),  # not an em dash
        GO_NOTE + f"— PeterNeumann {BAD_SIGNATURE}\n",  # a second, bad one by the known key
        GO_NOTE.rstrip("\n"),
    ],
)
def test_open_note_rejects_tampering(note: str) -> None:
    with pytest.raises(ProofError):
        open_note(note, [NoteVerifier.from_vkey(GO_VKEY)])


def test_open_note_needs_a_trusted_key() -> None:
    other = NoteSigner.generate("PeterNeumann")  # same name, different key (and key ID)
    with pytest.raises(ProofError, match="no valid signature"):
        open_note(GO_NOTE, [other.verifier])


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong hash
        "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ],
)
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(ProofError):
        NoteVerifier.from_vkey(vkey)


@pytest.mark.parametrize(
    "skey",
    [
        GO_SKEY.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        GO_SKEY.replace("c74f20a3", "c74f20a4"),
        GO_SKEY[:-4],
        "nonsense",
    ],
)
def test_malformed_signer_keys_are_refused_without_echoing_them(skey: str) -> None:
    with pytest.raises(SigningKeyError) as info:
        NoteSigner.from_skey(skey, where="$LIQRISK_SIGNING_KEY")
    assert "LIQRISK_SIGNING_KEY" in str(info.value)
    assert SECRET_PART[:12] not in str(info.value)


def test_c2sp_example_checkpoint_text_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    head = TreeHead.parse(text)
    assert (head.origin, head.tree_size) == ("example.com/behind-the-sofa", 20852163)
    assert head.text() == text


@pytest.mark.parametrize(
    "text",
    [
        "origin\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # leading zero
        "origin\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n",  # 31 bytes
        "origin\n12\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",  # no final newline
    ],
)
def test_malformed_checkpoint_text_is_refused(text: str) -> None:
    with pytest.raises(ProofError):
        TreeHead.parse(text)


# -- signing keys


def test_init_signing_key_writes_a_private_file_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "checkpoint.key"
    vkey = init_signing_key(path, ORIGIN)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert content.startswith(f"PRIVATE+KEY+{ORIGIN}+")
    assert vkey.startswith(f"{ORIGIN}+") and "PRIVATE" not in vkey
    signer = load_signer(ORIGIN, path, environ={})
    assert signer.verifier.vkey == vkey
    with pytest.raises(SigningKeyError, match="not overwriting"):
        init_signing_key(path, ORIGIN)
    assert path.read_text() == content


def test_load_signer_prefers_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    init_signing_key(path, ORIGIN)
    env_signer = NoteSigner.generate(ORIGIN)
    signer = load_signer(ORIGIN, path, environ={SIGNING_KEY_ENV: env_signer.skey()})
    assert signer.verifier == env_signer.verifier


def test_load_signer_refusals(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    with pytest.raises(SigningKeyError, match="no signing key"):
        load_signer(ORIGIN, None, environ={})
    with pytest.raises(SigningKeyError, match="does not exist"):
        load_signer(ORIGIN, path, environ={})
    init_signing_key(path, ORIGIN)
    with pytest.raises(SigningKeyError, match="origin"):
        load_signer("other.example/log", path, environ={})
    os.chmod(path, 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600") as info:
        load_signer(ORIGIN, path, environ={})
    # PRIVATE+KEY+<origin>+<key id>+<base64 key>: the key itself may hold "+" too.
    secret = path.read_text().strip().split("+", 4)[4]
    assert len(secret) > 40 and secret not in str(info.value)
    with pytest.raises(SigningKeyError):
        init_signing_key(tmp_path / "bad.key", "has space")


# -- checkpoints in the store


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner.generate(ORIGIN)


def test_checkpoints_round_trip_and_chain(any_store: Store, signer: NoteSigner) -> None:
    empty = sign_checkpoint(any_store, signer, ORIGIN)
    assert empty.tree_size == 0 and empty.previous_tree_size is None
    fill(any_store, 5)
    first = sign_checkpoint(any_store, signer, ORIGIN)
    fill(any_store, 6, first_seed=5)
    second = sign_checkpoint(any_store, signer, ORIGIN)
    assert (first.tree_size, second.tree_size, second.previous_tree_size) == (5, 11, 5)

    head1 = open_checkpoint(first.note, [signer.verifier.vkey])
    head2 = open_checkpoint(second.note, [second.verifier_key])
    assert head2 == TreeHead(ORIGIN, 11, bytes.fromhex(second.root_hash))
    assert second.note.startswith(f"{ORIGIN}\n11\n{base64.b64encode(head2.root_hash).decode()}\n\n")
    assert f"\n— {ORIGIN} " in second.note
    verify_consistency(5, 11, consistency_proof_of(second), head1.root_hash, head2.root_hash)

    # Nothing appended: the latest checkpoint comes back, no duplicate is stored.
    again = sign_checkpoint(any_store, signer, ORIGIN)
    assert again.id == second.id


def test_publish_writes_note_keys_and_chain(
    any_store: Store, signer: NoteSigner, tmp_path: Path
) -> None:
    with pytest.raises(StoreError, match="liqrisk checkpoint"):
        publish_checkpoint(any_store, tmp_path / "pub")
    fill(any_store, 3)
    sign_checkpoint(any_store, signer, ORIGIN)
    fill(any_store, 2, first_seed=3)
    latest = sign_checkpoint(any_store, signer, ORIGIN)
    path = publish_checkpoint(any_store, tmp_path / "pub")
    assert path.read_text() == latest.note
    keys = (tmp_path / "pub" / "verifier_keys").read_text().split()
    assert keys == [signer.verifier.vkey]
    chain = json.loads((tmp_path / "pub" / "checkpoints.json").read_text())
    assert [c["tree_size"] for c in chain] == [3, 5]
    # An outsider checks the chain with nothing but the published files.
    heads = [open_checkpoint(c["note"], keys) for c in chain]
    proof = [base64.b64decode(h) for h in chain[1]["consistency_proof"]]
    verify_consistency(3, 5, proof, heads[0].root_hash, heads[1].root_hash)


def test_key_rotation_must_be_explicit(any_store: Store, signer: NoteSigner) -> None:
    fill(any_store, 2)
    sign_checkpoint(any_store, signer, ORIGIN)
    other = NoteSigner.generate(ORIGIN)
    with pytest.raises(SigningKeyError, match="rotate_key"):
        sign_checkpoint(any_store, other, ORIGIN)
    rotated = sign_checkpoint(any_store, other, ORIGIN, rotate_key=True)
    assert rotated.verifier_key == other.verifier.vkey and rotated.tree_size == 2
    with pytest.raises(SigningKeyError):
        sign_checkpoint(any_store, NoteSigner.generate("else.example/log"), ORIGIN)


def test_refuses_to_sign_a_log_inconsistent_with_the_last_checkpoint(
    any_store: Store, signer: NoteSigner
) -> None:
    snapshots = fill(any_store, 4)
    sign_checkpoint(any_store, signer, ORIGIN)
    _drop_append_only_triggers(any_store)
    # Rewrite a leaf consistently (provenance and its leaf hash), as a forger would.
    from audit_store.snapshots import provenance_leaf_hash

    forged = snapshots[1]
    forged.config_hash = "forged"
    tamper(
        any_store,
        "UPDATE snapshot SET config_hash = 'forged', leaf_hash = :h WHERE id = :id",
        h=provenance_leaf_hash(forged),
        id=forged.id,
    )
    with pytest.raises(IntegrityError, match="not consistent with checkpoint"):
        sign_checkpoint(any_store, signer, ORIGIN)


def test_refuses_to_sign_over_a_broken_leaf_or_a_gap(any_store: Store, signer: NoteSigner) -> None:
    snapshots = fill(any_store, 3)
    _drop_append_only_triggers(any_store)
    tamper(any_store, "UPDATE snapshot SET config_hash = 'x' WHERE id = :id", id=snapshots[0].id)
    with pytest.raises(IntegrityError, match=f"snapshot {snapshots[0].id} "):
        sign_checkpoint(any_store, signer, ORIGIN)
    tamper(
        any_store,
        "UPDATE snapshot SET config_hash = 'cfg' WHERE id = :id",
        "DELETE FROM interval_volume WHERE snapshot_id = :gone",
        "DELETE FROM snapshot WHERE id = :gone",
        id=snapshots[0].id,
        gone=snapshots[1].id,
    )
    with pytest.raises(IntegrityError, match="leaf index 1 is missing"):
        sign_checkpoint(any_store, signer, ORIGIN)


def test_ensure_signing_key_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    vkey, created = ensure_signing_key(path, ORIGIN, environ={})
    assert created and path.exists()
    assert ensure_signing_key(path, ORIGIN, environ={}) == (vkey, False)
    env_signer = NoteSigner.generate(ORIGIN)
    other = tmp_path / "unused.key"
    env = {SIGNING_KEY_ENV: env_signer.skey()}
    assert ensure_signing_key(other, ORIGIN, environ=env) == (env_signer.verifier.vkey, False)
    assert not other.exists()
