"""Leaves: the provenance record is the leaf, corrections point back, proofs reach checkpoints."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from audit_store.canonical import canonical_json
from audit_store.checkpoint import inclusion_proof_for, open_checkpoint, sign_checkpoint
from audit_store.db import Store
from audit_store.errors import StoreError
from audit_store.merkle import verify_inclusion
from audit_store.note import NoteSigner
from audit_store.snapshots import new_snapshot, provenance
from audit_store.verify import verify_store
from tests.store_helpers import add_snapshot, fill, raw_response, tiny_derive

pytest_plugins = ["tests.pg"]

ORIGIN = "liqrisk.example/audit-log"


def test_the_leaf_is_the_canonical_provenance_record(any_store: Store) -> None:
    snapshot = fill(any_store, 1)[0]
    record = provenance(snapshot)
    assert "corrects_leaf_index" not in record
    assert record["body_sha256"] == hashlib.sha256(snapshot.body).hexdigest()
    assert record["params"]["api_key"] == "REDACTED"
    expected = hashlib.sha256(b"\x00" + canonical_json(record)).hexdigest()
    assert snapshot.leaf_hash == expected


def test_a_correction_is_a_new_leaf_pointing_back(any_store: Store) -> None:
    original = fill(any_store, 2)[0]
    correction = add_snapshot(any_store, raw_response(seed=42), corrects=original.leaf_index)
    assert correction.leaf_index == 2
    assert provenance(correction)["corrects_leaf_index"] == original.leaf_index
    plain = new_snapshot(raw_response(seed=42), software_version="test", config_hash="cfg")
    plain.leaf_index = correction.leaf_index
    assert provenance(plain) != provenance(correction)
    assert verify_store(any_store, tiny_derive).ok


@pytest.mark.parametrize("target", [2, 5, -1])
def test_a_correction_must_point_at_an_earlier_leaf(any_store: Store, target: int) -> None:
    fill(any_store, 2)
    with pytest.raises(ValueError, match="earlier leaf"):
        add_snapshot(any_store, raw_response(seed=7), corrects=target)
    assert verify_store(any_store, tiny_derive).leaves == 2


def test_inclusion_proofs_reach_a_signed_checkpoint(any_store: Store) -> None:
    snapshots = fill(any_store, 7)
    signer = NoteSigner.generate(ORIGIN)
    checkpoint = sign_checkpoint(any_store, signer, ORIGIN)
    head = open_checkpoint(checkpoint.note, [signer.verifier.vkey])
    for snapshot in snapshots:
        proof = inclusion_proof_for(any_store, snapshot.leaf_index, head.tree_size)
        leaf = hashlib.sha256(b"\x00" + canonical_json(provenance(snapshot))).digest()
        verify_inclusion(snapshot.leaf_index, head.tree_size, leaf, proof, head.root_hash)
    with pytest.raises(StoreError):
        inclusion_proof_for(any_store, 7, 7)


def test_a_reader_does_not_block_writers(any_store: Store) -> None:
    """verify reads in one long transaction; ingest must still append meanwhile."""
    fill(any_store, 1)
    with any_store.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM snapshot")).scalar_one() == 1
        appended = add_snapshot(any_store, raw_response(seed=3))  # would wait for the lock
        assert appended.leaf_index == 1
        # The reader keeps its consistent view.
        assert session.execute(text("SELECT count(*) FROM snapshot")).scalar_one() == 1
