"""Claims: one INSERT decides who works on a (job, period); silent claims are taken over once."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlmodel import col

from audit_store.db import Store
from audit_store.errors import AppendOnlyViolation, StoreError
from audit_store.tables_outbox import OutboxMessage
from audit_store.tables_schedule import SCHEDULE_TABLES, ScheduleClaim, ScheduleRun, claim_state
from reporting.config import Settings
from reporting.errors import ConfigError
from reporting.schedule.claims import Claim, Policy, acquire, finish, heartbeat, states
from tests.conftest import SettingsFactory

pytest_plugins = ["tests.pg"]

T0 = datetime(2025, 11, 4, 0, 30, tzinfo=UTC)
POLICY = Policy(timeout=timedelta(seconds=60), max_attempts=2)


def _claim(store: Store, owner: str, at: datetime = T0, period: str = "2025-11-03") -> Claim | None:
    return acquire(store, "daily", period, owner=owner, now=at, policy=POLICY)


def test_a_period_is_claimed_once_and_done_is_final(store: Store, settings: Settings) -> None:
    first = _claim(store, "a")
    assert first is not None and first.generation == 1 and first.reason == "new"
    assert _claim(store, "b", T0 + timedelta(seconds=1)) is None  # a holds it, alive
    assert _claim(store, "c", T0, period="2025-11-02") is not None  # other periods are free
    finish(store, settings, first, "ok", "report made", T0 + timedelta(seconds=5))
    assert _claim(store, "b", T0 + timedelta(days=3)) is None  # done, however much later
    state = states(store, "daily", ["2025-11-03"], T0 + timedelta(days=3), POLICY)
    assert state["2025-11-03"].state == "done" and state["2025-11-03"].detail == "report made"


def test_heartbeats_keep_a_claim_alive_and_silence_makes_it_stale(store: Store) -> None:
    claim = _claim(store, "a")
    assert claim is not None
    heartbeat(store, claim, 1, T0 + timedelta(seconds=50))
    heartbeat(store, claim, 2, T0 + timedelta(seconds=100))
    assert _claim(store, "b", T0 + timedelta(seconds=150)) is None  # 50 s after the last beat
    now = T0 + timedelta(seconds=161)
    assert states(store, "daily", ["2025-11-03"], now, POLICY)["2025-11-03"].state == "stale"


def test_a_stale_claim_is_taken_over_once_and_logged(
    store: Store, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    dead = _claim(store, "a")
    assert dead is not None
    later = T0 + timedelta(seconds=61)
    with caplog.at_level(logging.WARNING, logger="liqrisk.schedule"):
        taker = _claim(store, "b", later)
    assert taker is not None
    assert (taker.generation, taker.reason, taker.takes_over) == (2, "stale", dead.id)
    assert f"took over claim {dead.id} of a" in caplog.text
    assert _claim(store, "c", later) is None  # b's claim is fresh
    finish(store, settings, taker, "ok", "", later)
    finish(store, settings, dead, "ok", "", later)  # the dead one was only slow: harmless
    assert states(store, "daily", ["2025-11-03"], later, POLICY)["2025-11-03"].state == "done"


def test_racing_processes_get_one_claim_and_one_takeover(any_store: Store) -> None:
    """Eight threads (eight connections) at once: one new claim; later, one takeover."""

    def race(at: datetime) -> list[Claim]:
        barrier = threading.Barrier(8)
        won: list[Claim] = []

        def contend(n: int) -> None:
            barrier.wait()
            got = _claim(any_store, f"p{n}", at)
            if got is not None:
                won.append(got)

        threads = [threading.Thread(target=contend, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return won

    first = race(T0)
    assert len(first) == 1
    takers = race(T0 + timedelta(seconds=120))
    assert len(takers) == 1 and takers[0].takes_over == first[0].id


def test_the_database_refuses_a_second_claim_of_a_generation_or_a_stale_claim(
    any_store: Store,
) -> None:
    """What decides a race is the unique constraints, not the read before the INSERT."""
    first = _claim(any_store, "a")
    assert first is not None

    def insert(generation: int, takes_over: int | None) -> None:
        with any_store.session() as session:
            session.add(
                ScheduleClaim(
                    job="daily",
                    period="2025-11-03",
                    generation=generation,
                    takes_over=takes_over,
                    reason="stale",
                    owner="x",
                    claimed_at=T0,
                )
            )

    with pytest.raises(StoreError):
        insert(1, None)  # a second first claim
    insert(2, first.id)
    with pytest.raises(StoreError):
        insert(3, first.id)  # a second taker of the same stale claim


def test_a_failure_emails_operations_and_is_retried_until_max_attempts(
    store: Store, settings: Settings
) -> None:
    schedule = settings.schedule.model_copy(update={"max_attempts": POLICY.max_attempts})
    settings = settings.model_copy(update={"schedule": schedule})
    claim = _claim(store, "a")
    assert claim is not None
    finish(store, settings, claim, "failed", "RenderError: no fonts\nsecond line", T0)
    retry = _claim(store, "b", T0 + timedelta(seconds=1))
    assert retry is not None and retry.reason == "retry" and retry.takes_over == claim.id
    finish(store, settings, retry, "failed", "RenderError: still no fonts", T0)
    assert _claim(store, "c", T0 + timedelta(seconds=2)) is None  # max_attempts = 2: given up
    with store.read_session() as session:
        messages = list(
            session.scalars(
                select(OutboxMessage)
                .where(col(OutboxMessage.kind) == "ops")
                .order_by(col(OutboxMessage.id))
            )
        )
        bodies = [m.body for m in messages]
        recipients = [json.loads(m.recipients_json) for m in messages]
    assert len(bodies) == 2 and recipients == [list(settings.email.operations)] * 2
    first = email.message_from_bytes(bodies[0], policy=email.policy.default)
    assert "job daily failed for 2025-11-03" in str(first["Subject"])
    text_part = first.get_body(("plain",))
    assert text_part is not None
    content = text_part.get_content()
    assert "RenderError: no fonts second line" in content and "Attempt:    1 of 2" in content
    last = email.message_from_bytes(bodies[1], policy=email.policy.default).get_body(("plain",))
    assert last is not None and "given up" in last.get_content()


def test_an_interrupted_claim_is_resumed_without_counting_as_a_failure(
    store: Store, settings: Settings
) -> None:
    for n in range(4):  # more than max_attempts interruptions: never given up
        claim = _claim(store, f"p{n}", T0 + timedelta(seconds=n))
        assert claim is not None and claim.reason == ("new" if n == 0 else "resume")
        finish(store, settings, claim, "interrupted", "stopping", T0 + timedelta(seconds=n))
    with store.read_session() as session:
        assert session.scalars(select(OutboxMessage)).first() is None  # nobody emailed


def test_schedule_tables_are_append_only(any_store: Store) -> None:
    claim = _claim(any_store, "a")
    assert claim is not None
    with any_store.session() as session:
        session.execute(
            text(
                "INSERT INTO verify_run (at, ok, discrepancies, leaves, root_hash, "
                "checkpointed_leaves, trusted_keys, software_version, detail_json) "
                "VALUES (:at, true, 0, 0, '', 0, 'stored', 'test', '{}')"
            ),
            {"at": T0},
        )
    for table in SCHEDULE_TABLES:
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(AppendOnlyViolation), any_store.session() as session:
                session.execute(text(statement))


def test_claim_state_needs_no_database() -> None:
    claim = ScheduleClaim(
        id=7, job="fetch", period="p", generation=1, reason="new", owner="a", claimed_at=T0
    )
    beat = ScheduleRun(
        claim_id=7, event="heartbeat", beat=1, at=T0 + timedelta(seconds=30), detail=""
    )
    timeout = timedelta(seconds=60)
    assert claim_state([], [], T0, timeout).state == "free"
    assert claim_state([claim], [beat], T0 + timedelta(seconds=89), timeout).state == "running"
    assert claim_state([claim], [beat], T0 + timedelta(seconds=91), timeout).state == "stale"


# --- config --------------------------------------------------------------------------------------


def _with_schedule(tmp_path: Path, make_settings: SettingsFactory, toml: str) -> Settings:
    from reporting.resources import default_config_file

    path = tmp_path / "liqrisk.toml"
    path.write_text(
        default_config_file().read_text(encoding="utf-8").split("\n[schedule]")[0] + "\n" + toml
    )
    return make_settings(LIQRISK_CONFIG=str(path))


def test_the_packaged_schedule_is_hourly_fetch_and_daily_at_0030_utc(settings: Settings) -> None:
    schedule = settings.schedule
    assert schedule.fetch.cron == "5 * * * *" and schedule.daily.cron == "30 0 * * *"
    assert schedule.timezone == "UTC" and schedule.drain.every_seconds == 60


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[schedule.daily]\ncron = "30 25 * * *"\n', "schedule.daily.cron = '30 25 * * *'"),
        ('[schedule.daily]\ncron = "30 0 * *"\n', "Wrong number of fields"),
        ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone = 'Mars/Olympus'"),
        ('[schedule.fetch]\nevery_seconds = 5\ncron = "5 * * * *"\n', "not both"),
        ('[schedule]\nsources = ["nasdaq"]\n', "unknown source 'nasdaq'"),
        ("[schedule]\nworking_timeout_seconds = 0\n", "schedule.working_timeout_seconds = 0"),
    ],
)
def test_a_bad_schedule_names_the_key_and_the_value(
    tmp_path: Path, make_settings: SettingsFactory, toml: str, message: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        _with_schedule(tmp_path, make_settings, toml)
    assert message in str(exc.value) and "liqrisk.toml" in str(exc.value)


def test_a_disabled_job_needs_no_trigger_and_the_schedule_is_not_in_the_config_hash(
    tmp_path: Path, make_settings: SettingsFactory, settings: Settings
) -> None:
    changed = _with_schedule(
        tmp_path,
        make_settings,
        "[schedule.checkpoint]\nenabled = false\n[schedule]\ncatchup_days = 3\n",
    )
    assert not changed.schedule.checkpoint.enabled and changed.schedule.catchup_days == 3
    assert changed.config_hash() == settings.config_hash()
