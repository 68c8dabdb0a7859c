"""``verify_store`` passes a genuine store and names the record of every kind of tampering.

Each tamper case first drops the append-only triggers, as an attacker with database access would,
then edits the database directly; every case runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from audit_store.checkpoint import TreeHead, sign_checkpoint
from audit_store.db import Store
from audit_store.merkle import EMPTY_ROOT
from audit_store.models import Checkpoint, Snapshot
from audit_store.note import NoteSigner, sign_note
from audit_store.snapshots import SnapshotRecord, new_snapshot, provenance_leaf_hash
from audit_store.verify import VerifyReport, verify_store
from tests.store_helpers import (
    _drop_append_only_triggers,
    add_check_result,
    add_snapshot,
    fill,
    raw_response,
    tamper,
    tiny_derive,
)

pytest_plugins = ["tests.pg"]

ORIGIN = "liqrisk.example/audit-log"


@dataclass
class Populated:
    store: Store
    snapshots: list[Snapshot]
    signer: NoteSigner
    checkpoints: list[Checkpoint]
    check_result_id: int

    def verify(self, **kwargs: Any) -> VerifyReport:
        return verify_store(self.store, tiny_derive, **kwargs)

    def leaf(self, index: int) -> Snapshot:
        return next(s for s in self.snapshots if s.leaf_index == index)

    def row_ids(self, snapshot: Snapshot) -> list[int]:
        with self.store.engine.connect() as connection:
            return list(
                connection.execute(
                    text(
                        "SELECT id FROM interval_volume WHERE snapshot_id = :s ORDER BY row_index"
                    ),
                    {"s": snapshot.id},
                ).scalars()
            )


@pytest.fixture
def populated(any_store: Store) -> Populated:
    """12 leaves (two quarantined, one a correction), checkpoints at 6 and 12, a check result."""
    signer = NoteSigner.generate(ORIGIN)
    snapshots = fill(any_store, 6)
    first = sign_checkpoint(any_store, signer, ORIGIN)
    snapshots += fill(any_store, 5, first_seed=6)
    snapshots.append(add_snapshot(any_store, raw_response("BTC", seed=99), corrects=0))
    second = sign_checkpoint(any_store, signer, ORIGIN)
    result_id = add_check_result(any_store, [snapshots[0].body_sha256, snapshots[7].body_sha256])
    return Populated(any_store, snapshots, signer, [first, second], result_id)


def _messages(report: VerifyReport) -> str:
    return "\n".join(d.message for d in report.discrepancies)


def _assert_names(report: VerifyReport, table: str, record: str) -> None:
    assert not report.ok
    matching = [d for d in report.discrepancies if d.table == table and record in d.message]
    assert matching, f"nothing names {table} {record!r}:\n{_messages(report)}"


# -- a genuine store


def test_a_genuine_store_verifies(populated: Populated) -> None:
    report = populated.verify()
    assert report.ok, _messages(report)
    assert (report.leaves, report.checkpoints, report.check_results) == (12, 2, 1)
    assert report.checkpointed_leaves == 12 and report.unsigned_leaves == 0
    assert report.root_hash == populated.checkpoints[1].root_hash
    assert report.rows == 10 * 2 * 3  # ten good pages of two hours of three exchanges
    document = report.to_json()
    assert document["ok"] is True and document["discrepancies"] == []
    assert report.summary_lines()[0] == "verify: OK"
    trusted = populated.verify(trusted_keys=[populated.signer.verifier.vkey])
    assert trusted.ok and trusted.trusted_keys == "given"


def test_an_empty_store_verifies(any_store: Store) -> None:
    report = verify_store(any_store, tiny_derive)
    assert report.ok and report.leaves == 0 and report.root_hash == EMPTY_ROOT.hex()


def test_leaves_after_the_last_checkpoint_are_reported_not_failed(populated: Populated) -> None:
    fill(populated.store, 2, first_seed=50)
    report = populated.verify()
    assert report.ok and report.unsigned_leaves == 2


# -- tampering with the log


def test_a_changed_byte_in_a_raw_body(populated: Populated) -> None:
    victim = populated.leaf(1)
    body = victim.body.replace(b'"binc"', b'"binC"', 1)
    assert len(body) == len(victim.body) and body != victim.body
    _drop_append_only_triggers(populated.store)
    tamper(populated.store, "UPDATE snapshot SET body = :b WHERE id = :id", b=body, id=victim.id)
    report = populated.verify()
    _assert_names(report, "snapshot", f"snapshot {victim.id} (leaf 1): raw body hashes to")


def test_a_body_rewritten_with_all_its_hashes(populated: Populated) -> None:
    """The forger also fixes body_sha256 and leaf_hash: the signed roots still catch it."""
    victim = populated.leaf(2)
    forged = new_snapshot(raw_response("SOL", seed=555), software_version="test", config_hash="cfg")
    victim.body, victim.body_sha256 = forged.body, forged.body_sha256
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE snapshot SET body = :b, body_sha256 = :h, leaf_hash = :l WHERE id = :id",
        b=forged.body,
        h=forged.body_sha256,
        l=provenance_leaf_hash(victim),
        id=victim.id,
    )
    report = populated.verify()
    _assert_names(report, "checkpoint", f"checkpoint {populated.checkpoints[0].id} ")
    _assert_names(report, "checkpoint", "leaf at index 0 or later")


def test_a_deleted_snapshot(populated: Populated) -> None:
    victim = populated.leaf(3)
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "DELETE FROM interval_volume WHERE snapshot_id = :id",
        "DELETE FROM snapshot WHERE id = :id",
        id=victim.id,
    )
    report = populated.verify()
    _assert_names(report, "snapshot", "leaf index 3 is missing")
    _assert_names(report, "checkpoint", f"checkpoint {populated.checkpoints[0].id} ")


def test_the_last_snapshot_deleted(populated: Populated) -> None:
    victim = populated.leaf(11)
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "DELETE FROM interval_volume WHERE snapshot_id = :id",
        "DELETE FROM snapshot WHERE id = :id",
        id=victim.id,
    )
    report = populated.verify()
    _assert_names(report, "checkpoint", "signed for 12 leaves but the log has 11")


def test_reordered_leaves(populated: Populated) -> None:
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE snapshot SET leaf_index = -1 WHERE leaf_index = 2",
        "UPDATE snapshot SET leaf_index = 2 WHERE leaf_index = 5",
        "UPDATE snapshot SET leaf_index = 5 WHERE leaf_index = -1",
    )
    report = populated.verify()
    _assert_names(report, "checkpoint", f"checkpoint {populated.checkpoints[0].id} (tree size 6)")
    _assert_names(report, "checkpoint", f"checkpoint {populated.checkpoints[1].id} (tree size 12)")


def test_an_inserted_leaf(populated: Populated) -> None:
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE snapshot SET leaf_index = leaf_index + 1000 WHERE leaf_index >= 8",
        "UPDATE snapshot SET leaf_index = leaf_index - 999 WHERE leaf_index >= 1000",
    )
    intruder = new_snapshot(
        raw_response("ETH", seed=777), software_version="test", config_hash="cfg"
    )
    intruder.leaf_index = 8
    intruder.leaf_hash = provenance_leaf_hash(intruder)
    with populated.store.session() as session:
        session.add(intruder)
    report = populated.verify()
    first, second = populated.checkpoints
    assert not any(f"checkpoint {first.id} " in m for m in _messages(report).splitlines())
    _assert_names(report, "checkpoint", f"checkpoint {second.id} (tree size 12)")
    _assert_names(report, "checkpoint", "leaf at index 6 or later")


def test_a_duplicated_leaf_index(populated: Populated) -> None:
    if populated.store.dialect == "sqlite":
        pytest.skip("SQLite cannot drop the UNIQUE constraint on leaf_index in place")
    _drop_append_only_triggers(populated.store)
    victim = populated.leaf(11)
    tamper(populated.store, "ALTER TABLE snapshot DROP CONSTRAINT uq_snapshot_leaf_index")
    tamper(populated.store, "UPDATE snapshot SET leaf_index = 10 WHERE id = :id", id=victim.id)
    report = populated.verify()
    _assert_names(report, "snapshot", f"snapshot {victim.id} (leaf 10): leaf index is duplicated")


# -- tampering with checkpoints


def test_a_replaced_checkpoint(populated: Populated) -> None:
    """Re-signed by another key with a forged root: caught by key change, pinned keys, roots."""
    latest = populated.checkpoints[1]
    forger = NoteSigner.generate(ORIGIN)
    forged_root = bytes(32)
    note = sign_note(TreeHead(ORIGIN, 12, forged_root).text(), forger)
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE checkpoint SET note = :n, verifier_key = :v, key_id = :k, root_hash = :r "
        "WHERE id = :id",
        n=note,
        v=forger.verifier.vkey,
        k=forger.key_id.hex(),
        r=forged_root.hex(),
        id=latest.id,
    )
    report = populated.verify()
    _assert_names(report, "checkpoint", f"checkpoint {latest.id} (tree size 12): signed by key")
    _assert_names(report, "checkpoint", f"checkpoint {latest.id} (tree size 12): leaves 0..11")
    pinned = populated.verify(trusted_keys=[populated.signer.verifier.vkey])
    _assert_names(pinned, "checkpoint", f"checkpoint {latest.id} (tree size 12): signature")


def test_a_checkpoint_edited_without_its_key(populated: Populated) -> None:
    first = populated.checkpoints[0]
    edited = first.note.replace("\n6\n", "\n5\n", 1)
    _drop_append_only_triggers(populated.store)
    tamper(populated.store, "UPDATE checkpoint SET note = :n WHERE id = :id", n=edited, id=first.id)
    report = populated.verify()
    _assert_names(report, "checkpoint", f"checkpoint {first.id} (tree size 6): signature does not")


def test_a_whole_rewrite_is_caught_by_pinned_keys(populated: Populated) -> None:
    """Everything re-signed by a forger's key: only the regulator's copy of the key catches it."""
    forger = NoteSigner.generate(ORIGIN)
    _drop_append_only_triggers(populated.store)
    tamper(populated.store, "DELETE FROM checkpoint")
    sign_checkpoint(populated.store, forger, ORIGIN)
    report = populated.verify(trusted_keys=[populated.signer.verifier.vkey])
    _assert_names(report, "checkpoint", "signature does not verify")


def test_a_broken_consistency_link(populated: Populated) -> None:
    second = populated.checkpoints[1]
    proof = json.loads(second.consistency_proof_json)
    proof[0] = "A" + proof[0][1:]
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE checkpoint SET consistency_proof_json = :p WHERE id = :id",
        p=json.dumps(proof),
        id=second.id,
    )
    report = populated.verify()
    _assert_names(report, "checkpoint", f"checkpoint {second.id} (tree size 12): not consistent")


# -- tampering with derived rows and check results


def test_a_changed_stored_amount(populated: Populated) -> None:
    victim = populated.leaf(0)
    row_id = populated.row_ids(victim)[4]
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE interval_volume SET long_usd = long_usd + 0.01 WHERE id = :id",
        id=row_id,
    )
    report = populated.verify()
    _assert_names(report, "interval_volume", f"interval_volume {row_id} (snapshot {victim.id}")
    assert "long_usd is" in _messages(report)


def test_a_shifted_interval_start(populated: Populated) -> None:
    victim = populated.leaf(1)
    row_id = populated.row_ids(victim)[0]
    row_start = victim.fetched_at - timedelta(hours=2, minutes=5)
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE interval_volume SET interval_start = :t WHERE id = :id",
        t=row_start + timedelta(hours=1),
        id=row_id,
    )
    report = populated.verify()
    _assert_names(report, "interval_volume", f"interval_volume {row_id} ")
    assert "interval_start is" in _messages(report)


def test_a_missing_and_an_extra_row(populated: Populated) -> None:
    victim = populated.leaf(5)
    ids = populated.row_ids(victim)
    _drop_append_only_triggers(populated.store)
    tamper(populated.store, "DELETE FROM interval_volume WHERE id = :id", id=ids[2])
    columns = (
        "snapshot_id, row_index, source, asset, exchange, interval_start, interval_seconds, "
        "long_count, short_count, total_count, long_usd, short_usd, total_usd"
    )
    tamper(
        populated.store,
        f"INSERT INTO interval_volume ({columns}) SELECT snapshot_id, 99, source, asset, "
        "exchange, interval_start, interval_seconds, long_count, short_count, total_count, "
        f"long_usd, short_usd, total_usd FROM interval_volume WHERE id = :id",
        id=ids[0],
    )
    report = populated.verify()
    _assert_names(report, "interval_volume", f"snapshot {victim.id} (leaf 5): derived row 2 is")
    _assert_names(report, "interval_volume", "row 99): extra row")


def test_a_cleared_quarantine(populated: Populated) -> None:
    victim = populated.leaf(4)
    assert victim.quarantined
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        "UPDATE snapshot SET quarantined = :f, quarantine_reason = NULL WHERE id = :id",
        f=False,
        id=victim.id,
    )
    report = populated.verify()
    _assert_names(report, "snapshot", f"snapshot {victim.id} (leaf 4): stored quarantine None")


def test_evidence_that_is_not_in_the_store(populated: Populated) -> None:
    bogus = add_check_result(populated.store, ["ab" * 32])
    report = populated.verify()
    _assert_names(report, "check_result", f"check_result {bogus}: cites snapshot body abab")
    assert len(report.discrepancies) == 1


def test_a_deriver_that_raises_is_reported(populated: Populated) -> None:
    def broken(snapshot: SnapshotRecord) -> tuple[list[dict[str, Any]], str | None]:
        if snapshot.leaf_index == 7:
            raise RuntimeError("bug")
        return tiny_derive(snapshot)

    report = verify_store(populated.store, broken)
    _assert_names(report, "snapshot", "(leaf 7): re-derivation failed: RuntimeError")
    assert len(report.discrepancies) == 1


# -- the fast paths decide nothing on their own


_VALUE_COLUMNS = (
    "snapshot_id, row_index, source, asset, exchange, interval_start, interval_seconds, "
    "long_count, short_count, total_count, long_usd, short_usd, total_usd"
)


def test_rows_stored_out_of_id_order_still_verify(populated: Populated) -> None:
    """verify reads rows in (snapshot, id) order and compares them as they come; rows written in
    another order (ids against row_index) take the row-by-row comparison, which finds them right."""
    victim = populated.leaf(3)
    _drop_append_only_triggers(populated.store)
    tamper(
        populated.store,
        f"CREATE TEMPORARY TABLE kept AS SELECT {_VALUE_COLUMNS} FROM interval_volume "
        "WHERE snapshot_id = :s",
        "DELETE FROM interval_volume WHERE snapshot_id = :s",
        f"INSERT INTO interval_volume ({_VALUE_COLUMNS}) "
        f"SELECT {_VALUE_COLUMNS} FROM kept ORDER BY row_index DESC",
        "DROP TABLE kept",
        s=victim.id,
    )
    ids = populated.row_ids(victim)
    assert ids == sorted(ids, reverse=True)  # row 0 now has the largest id
    report = populated.verify()
    assert report.ok, _messages(report)
    assert report.rows == 10 * 2 * 3


def test_large_pages_are_compared_in_parts(
    populated: Populated, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a part of one snapshot at a time, verify reaches the same verdicts."""
    monkeypatch.setattr("audit_store.verify._PART_BYTES", 1)
    assert populated.verify().ok
    victim = populated.leaf(0)
    row_id = populated.row_ids(victim)[2]
    _drop_append_only_triggers(populated.store)
    tamper(populated.store, "UPDATE interval_volume SET total_count = 7 WHERE id = :i", i=row_id)
    report = populated.verify()
    assert [d.record_id for d in report.discrepancies] == [row_id]
