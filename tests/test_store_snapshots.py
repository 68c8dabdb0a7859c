"""Leaves: the provenance record is the leaf, corrections point back, proofs reach checkpoints."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from audit_store.canonical import canonical_json
from audit_store.checkpoint import inclusion_proof_for, open_checkpoint, sign_checkpoint
from audit_store.db import Store
from audit_store.errors import StoreError
from audit_store.merkle import verify_inclusion
from audit_store.note import NoteSigner
from audit_store.snapshots import (
    RawResponse,
    SnapshotView,
    log_size,
    new_snapshot,
    provenance,
    provenance_leaf_hash,
    stored_leaf_matches,
)
from audit_store.verify import verify_store
from tests.store_helpers import (
    _drop_append_only_triggers,
    add_snapshot,
    fill,
    raw_response,
    tamper,
    tiny_derive,
)

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


def test_the_log_size_is_the_number_of_leaves(any_store: Store) -> None:
    with any_store.read_session() as session:
        assert log_size(session) == 0
    snapshots = fill(any_store, 3)
    with any_store.read_session() as session:
        assert log_size(session) == 3 == snapshots[-1].leaf_index + 1
    appended = add_snapshot(any_store, raw_response(seed=9))
    assert appended.leaf_index == 3  # the next leaf's index is the size it found
    with any_store.read_session() as session:
        assert log_size(session) == 4


def test_a_reader_does_not_block_writers(any_store: Store) -> None:
    """verify reads in one long transaction; ingest must still append meanwhile."""
    fill(any_store, 1)
    with any_store.read_session() as session:
        assert session.execute(text("SELECT count(*) FROM snapshot")).scalar_one() == 1
        appended = add_snapshot(any_store, raw_response(seed=3))  # would wait for the lock
        assert appended.leaf_index == 1
        # The reader keeps its consistent view.
        assert session.execute(text("SELECT count(*) FROM snapshot")).scalar_one() == 1


# -- verify's fast leaf check agrees with the definition


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {
            "source": _text,
            "kind": _text,
            "method": _text,
            "url": _text,
        }
    ),
    version=_text,
    params=st.dictionaries(_text, _text, max_size=4),
    status=st.integers(100, 599),
    corrects=st.none() | st.integers(0, 10**6),
    fetched_at=st.datetimes(timezones=st.just(UTC)),
    body=st.binary(max_size=64),
)
def test_the_fast_leaf_check_agrees_with_the_definition(
    fields: dict[str, str],
    version: str,
    params: dict[str, str],
    status: int,
    corrects: int | None,
    fetched_at: datetime,
    body: bytes,
) -> None:
    raw = RawResponse(
        source=fields["source"],
        kind=fields["kind"],
        method=fields["method"],
        url=fields["url"],
        params=params,
        fetched_at=fetched_at,
        http_status=status,
        body=body,
    )
    snapshot = new_snapshot(raw, software_version=version, config_hash="c")
    snapshot.corrects_leaf_index = corrects
    snapshot.leaf_hash = provenance_leaf_hash(snapshot)
    assert stored_leaf_matches(snapshot)
    for column, other in (
        ("http_status", status + 1),
        ("params_json", "{}" if params else '{"a":"b"}'),
    ):
        changed = new_snapshot(raw, software_version=version, config_hash="c")
        changed.corrects_leaf_index = corrects
        changed.leaf_hash = snapshot.leaf_hash
        setattr(changed, column, other)
        assert not stored_leaf_matches(changed)


def test_parameters_stored_in_another_equal_form_still_verify(any_store: Store) -> None:
    """The fast check needs the canonical text; an equal but differently spaced ``params_json``
    falls back to the definition (parse, re-serialise), which finds nothing wrong."""
    first = fill(any_store, 3)[1]
    spaced = json.dumps(json.loads(first.params_json), indent=1)
    _drop_append_only_triggers(any_store)
    tamper(any_store, "UPDATE snapshot SET params_json = :p WHERE id = :i", p=spaced, i=first.id)
    assert not stored_leaf_matches(next(s for s in _views(any_store) if s.id == first.id)), (
        "the fast check must not accept a text it did not build"
    )
    assert verify_store(any_store, tiny_derive).ok
    # A changed value still fails, named by the definition.
    tamper(
        any_store,
        "UPDATE snapshot SET params_json = :p WHERE id = :i",
        p=spaced.replace("REDACTED", "leaked"),
        i=first.id,
    )
    report = verify_store(any_store, tiny_derive)
    assert [d.record_id for d in report.discrepancies] == [first.id]
    assert "provenance hashes to leaf" in report.discrepancies[0].message


def _views(store: Store) -> list[SnapshotView]:
    with store.read_session() as session:
        rows = session.connection().execute(select(*SnapshotView.columns())).all()
    return [SnapshotView._make(row) for row in rows]
