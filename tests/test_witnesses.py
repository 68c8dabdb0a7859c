"""Witness cosignatures (c2sp.org/tlog-cosignature): accepted only from configured witness keys and
only on checkpoints this log signed, counted by `liqrisk verify --witness-threshold`, carried by
exports and counted by `verify.py --witness KEY --witness-threshold N`."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit_store import standalone_verify as sv
from audit_store.checkpoint import load_signer, sign_checkpoint
from audit_store.cosigning import accept_cosigned, parse_witness_keys, witnessed
from audit_store.errors import IntegrityError, ProofError
from audit_store.models import Checkpoint
from reporting.cli import main
from tests.export_helpers import Built, build_store, export_range, run_verify, unpack


class Witness:
    """An outside witness: its own Ed25519 key, cosigning checkpoints as tlog-cosignature says."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
        encoded = base64.b64encode(bytes([4]) + public).decode()
        self.vkey = f"{name}+{self.key_id.hex()}+{encoded}"

    def cosign(self, note: str, timestamp: int = 1_765_000_000) -> str:
        body = note[: note.rfind("\n\n") + 1]
        signature = self.key.sign(sv.cosigned_message(body, timestamp))
        blob = self.key_id + timestamp.to_bytes(8, "big") + signature
        return note + f"\u2014 {self.name} {base64.b64encode(blob).decode()}\n"


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    (tmp_path / "firm").mkdir()
    built = build_store(tmp_path / "firm")
    yield built
    built.store.dispose()


def _sign(built: Built) -> Checkpoint:
    origin = built.settings.audit.origin
    return sign_checkpoint(built.store, load_signer(origin, built.key_file, environ={}), origin)


def test_a_witness_cosignature_is_accepted_once(built: Built) -> None:
    w1, w2 = Witness("witness.example/w1"), Witness("witness.example/w2")
    keys = parse_witness_keys([w1.vkey, w2.vkey])
    checkpoint = _sign(built)
    cosigned = w1.cosign(checkpoint.note)
    with built.store.session() as session:
        done = accept_cosigned(session, cosigned, keys, datetime.now(UTC))
    assert (done.tree_size, done.new, done.ignored) == (checkpoint.tree_size, (w1.name,), 1)
    with built.store.session() as session:
        again = accept_cosigned(session, w2.cosign(cosigned), keys, datetime.now(UTC))
    assert again.new == (w2.name,) and again.known == (w1.name,)
    with built.store.read_session() as session:
        assert witnessed(session, keys, 2).tree_size == checkpoint.tree_size
        assert witnessed(session, keys, 1).witnesses == (w1.name, w2.name)


def test_lines_by_other_keys_count_for_nothing(built: Built) -> None:
    trusted, stranger = Witness("witness.example/w1"), Witness("stranger.example/w")
    checkpoint = _sign(built)
    with built.store.session() as session, pytest.raises(ProofError, match="no cosignature"):
        accept_cosigned(
            session,
            stranger.cosign(checkpoint.note),
            parse_witness_keys([trusted.vkey]),
            datetime.now(UTC),
        )


def test_a_cosignature_that_does_not_verify_is_refused(built: Built) -> None:
    w1 = Witness("witness.example/w1")
    checkpoint = _sign(built)
    cosigned = w1.cosign(checkpoint.note)
    line = cosigned.rstrip("\n").rsplit("\n", 1)[1]
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[-1] ^= 1
    forged = cosigned.replace(line.split(" ")[2], base64.b64encode(bytes(blob)).decode())
    with built.store.session() as session, pytest.raises(ProofError, match="does not verify"):
        accept_cosigned(session, forged, parse_witness_keys([w1.vkey]), datetime.now(UTC))


def test_a_cosigned_fork_is_refused(built: Built) -> None:
    w1 = Witness("witness.example/w1")
    checkpoint = _sign(built)
    lines = checkpoint.note.split("\n")
    lines[2] = base64.b64encode(b"\x07" * 32).decode()  # another root, as a rebuilt log has
    with built.store.session() as session, pytest.raises(IntegrityError, match="a fork"):
        accept_cosigned(
            session, w1.cosign("\n".join(lines)), parse_witness_keys([w1.vkey]), datetime.now(UTC)
        )


def test_verify_and_verify_py_count_the_witnesses(
    built: Built,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    w1, w2 = Witness("witness.example/w1"), Witness("witness.example/w2")
    checkpoint = _sign(built)
    cosigned = tmp_path / "cosigned.txt"
    cosigned.write_text(w1.cosign(checkpoint.note), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "liqrisk.toml").write_text(
        f'[anchor]\nwitnesses = ["{w1.vkey}", "{w2.vkey}"]\nwitness_threshold = 1\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("LIQRISK_DATABASE_URL", built.settings.database_url)
    monkeypatch.setenv("LIQRISK_SIGNING_KEY_FILE", str(built.key_file))
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)

    def run(*argv: str) -> tuple[int, str]:
        with pytest.raises(SystemExit) as exc:
            main(list(argv))
        code = exc.value.code
        captured = capsys.readouterr()
        return (code if isinstance(code, int) else 0), captured.out + captured.err

    code, out = run("witness", str(cosigned), "--json")
    assert code == 0 and json.loads(out)["new"] == [w1.name]
    code, out = run("verify")
    assert code == 0, out
    assert (
        f"witnesses: the checkpoint of {checkpoint.tree_size} leaves is cosigned by {w1.name}"
        in out
    )
    code, out = run("verify", "--witness-threshold", "2", "--json")
    assert code == 1 and json.loads(out)["witnesses"]["tree_size"] is None

    package = export_range(built, tmp_path / "package.zip", reports=False)
    folder = unpack(package, tmp_path / "package")
    assert (folder / sv.COSIGNED_DIR / f"checkpoint-{checkpoint.id}.txt").is_file()
    done = run_verify(folder, "--witness", w1.vkey, "--witness-threshold", "1")
    assert done.returncode == 0, done.stdout
    assert "witnesses: the checkpoint of" in done.stdout
    done = run_verify(
        folder, "--witness", w1.vkey, "--witness", w2.vkey, "--witness-threshold", "2"
    )
    assert done.returncode == 1 and "no checkpoint of the package's log carries" in done.stdout
    done = run_verify(folder, "--witness", w2.vkey, "--witness-threshold", "1")
    assert done.returncode == 1
    done = run_verify(folder, "--witness", "not-a-key", "--witness-threshold", "1")
    assert done.returncode == 2 and "--witness" in done.stderr
