"""Console accounts: `liqrisk users add|list|disable|enable|passwd`, argon2id hashes that never
show, the password policy, constant-time checks of names with and without an account, and every
change on record."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation
from audit_store.tables_users import ConsoleUser
from reporting.cli import main
from reporting.config import load_settings
from reporting.web.accounts import authenticate

PASSWORD = "correct horse battery"


def run(
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("LIQRISK_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.delenv("LIQRISK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    store = Store(settings.database_url)
    store.create_schema()
    yield store
    store.dispose()


def test_add_list_disable_enable_passwd(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run(
        ["users", "add", "alice", "--role", "officer", "--password-stdin"],
        capsys,
        monkeypatch,
        PASSWORD + "\n",
    )
    assert code == 0, err
    assert "account alice created, role officer" in out
    assert authenticate(store, "alice", PASSWORD) is not None
    assert authenticate(store, "alice", PASSWORD + "x") is None

    code, out, _ = run(["users", "list", "--json"], capsys, monkeypatch)
    (listed,) = json.loads(out)["users"]
    assert listed["name"] == "alice" and listed["role"] == "officer" and not listed["disabled"]
    assert "argon2" not in out and "hash" not in out  # the hash never shows

    code, out, _ = run(["users", "disable", "alice"], capsys, monkeypatch)
    assert code == 0 and authenticate(store, "alice", PASSWORD) is None
    code, out, _ = run(["users", "enable", "alice"], capsys, monkeypatch)
    assert code == 0 and authenticate(store, "alice", PASSWORD) is not None

    new = "another long passphrase"
    code, _, _ = run(["users", "passwd", "alice", "--password-stdin"], capsys, monkeypatch, new)
    assert code == 0
    assert authenticate(store, "alice", new) is not None
    assert authenticate(store, "alice", PASSWORD) is None

    with store.read_session() as session:
        versions = list(session.scalars(select(ConsoleUser).order_by(col(ConsoleUser.id))))
        session.expunge_all()
    assert all(v.password_hash.startswith("$argon2id$") for v in versions)
    assert [(v.change, v.disabled, v.by.startswith("cli:")) for v in versions] == [
        ("created", False, True),
        ("disabled", True, True),
        ("enabled", False, True),
        ("password", False, True),
    ]


@pytest.mark.parametrize(
    ("argv", "stdin", "expected"),
    [
        (["users", "add", "bob", "--role", "viewer", "--password-stdin"], "short\n", "at least 12"),
        (["users", "add", "bob", "--role", "king", "--password-stdin"], PASSWORD, "choose from"),
        (["users", "add", "bob!", "--role", "viewer", "--password-stdin"], PASSWORD, "letters"),
        (
            ["users", "add", "bobbobbobbob", "--role", "viewer", "--password-stdin"],
            "bobbobbobbob",
            "name",
        ),
        (
            ["users", "add", "bob", "--role", "viewer", "--password-stdin"],
            "",
            "standard input is empty",
        ),
        (["users", "add", "bob", "--role", "viewer"], "", "pass it with --password-stdin"),
        (["users", "disable", "nobody"], "", "no account named 'nobody'"),
    ],
)
def test_bad_input_is_one_clear_line(
    store: Store,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin: str,
    expected: str,
) -> None:
    code, _, err = run(argv, capsys, monkeypatch, stdin)
    assert code != 0 and expected in err and "Traceback" not in err
    assert PASSWORD not in err  # a password is never echoed
    assert len(err.strip().splitlines()) == 1


def test_an_existing_name_is_refused(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["users", "add", "carol", "--role", "admin", "--password-stdin"]
    assert run(argv, capsys, monkeypatch, PASSWORD)[0] == 0
    code, _, err = run(argv, capsys, monkeypatch, PASSWORD)
    assert code == 2 and "account carol exists" in err


def test_a_missing_account_takes_as_long_as_a_wrong_password(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a timing benchmark: both paths run argon2 once; a missing name must not answer at
    once (which would tell an attacker which names exist)."""
    run(
        ["users", "add", "dave", "--role", "viewer", "--password-stdin"],
        capsys,
        monkeypatch,
        PASSWORD,
    )

    def took(name: str) -> float:
        start = time.perf_counter()
        assert authenticate(store, name, "wrong password here") is None
        return time.perf_counter() - start

    wrong = min(took("dave") for _ in range(3))
    missing = min(took("nobody-here") for _ in range(3))
    assert missing > wrong / 5  # a skipped hash would be ~1000x faster


def test_account_events_are_append_only(
    store: Store, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(
        ["users", "add", "erin", "--role", "viewer", "--password-stdin"],
        capsys,
        monkeypatch,
        PASSWORD,
    )
    with pytest.raises(AppendOnlyViolation), store.session() as session:
        session.execute(text("UPDATE console_user SET role = 'admin'"))
