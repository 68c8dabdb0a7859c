"""Helpers for the scheduler tests: a config file, Kaiko data around now, daemons as processes,
and what the store says about claims and runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from audit_store.canonical import as_utc
from audit_store.db import Store
from audit_store.tables_schedule import ScheduleClaim, ScheduleRun
from tests.kaiko_server import datum


def schedule_toml(
    *,
    database_url: str,
    reports_dir: Path,
    signing_key: Path,
    source: str = "kaiko",
    kaiko_url: str = "",
    assets: tuple[str, ...] = ("btc", "eth"),
    every: dict[str, int] | None = None,
    timeout: float = 2.0,
    catchup_days: int = 1,
    page_size: int = 100,
) -> str:
    """A complete config: second-level triggers, a working timeout of ``timeout`` seconds."""
    triggers = {"fetch": 2, "daily": 2, "drain": 1, "checkpoint": 3, **(every or {})}
    kaiko = f'base_url = "{kaiko_url}"\n' if kaiko_url else ""
    jobs = "".join(
        f"[schedule.{job}]\n" + (f"every_seconds = {n}\n" if n > 0 else "enabled = false\n")
        for job, n in triggers.items()
    )
    return f"""
firm_name = "Scheduler Test Ltd"
database_url = "{database_url}"
reports_dir = "{reports_dir}"

[audit]
signing_key_file = "{signing_key}"

[fetch]
default_source = "{source}"
assets = {list(assets)!r}
interval = "1h"
settle_seconds = 0

[kaiko]
{kaiko}page_size = {page_size}
max_attempts = 2
backoff_seconds = 0.05
timeout_seconds = 10

[limits.daily_usd]
warn = 1_000_000
breach = 2_000_000

[limits.daily_usd_exchange]
warn = 1_000_000_000_000
breach = 1_000_000_000_000

[limits.velocity_usd]
warn = 1_000_000_000_000
breach = 1_000_000_000_000

[email]
sender = "liqrisk@example.com"
allowed_domains = ["example.com"]
compliance = ["compliance@example.com"]
risk = ["risk@example.com"]
operations = ["ops@example.com"]

[notify]
retry_base_seconds = 1
retry_max_seconds = 2
lease_seconds = 3  # a send cut off by a SIGKILL is due again after this

[schedule]
sources = ["{source}"]  # not the overlays: no network
timezone = "UTC"
catchup_days = {catchup_days}
working_timeout_seconds = {timeout}
misfire_grace_seconds = 30
max_attempts = 3

{jobs}"""


def kaiko_data(now: datetime, days: int = 12) -> dict[str, list[dict[str, Any]]]:
    """Hourly data for BTC (about $2.4M a day: a breach of the test limit) and ETH (small), from
    ``days`` days before ``now`` to a day after it."""
    start = now.replace(minute=0, second=0, microsecond=0, tzinfo=UTC) - timedelta(days=days)
    hours = (days + 1) * 24
    data: dict[str, list[dict[str, Any]]] = {"btc": [], "eth": []}
    for n in range(hours):
        moment = start + timedelta(hours=n)
        data["btc"].append(
            datum(moment, {"binc": (3, 60_000.0, 2, 40_000.0), "okex": (1, 1_000.0, 1, 500.0)})
        )
        data["eth"].append(datum(moment, {"binc": (1, 2_000.0, 1, 1_000.0)}))
    return data


def liqrisk_command() -> list[str]:
    """The ``liqrisk`` entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("liqrisk")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from reporting.cli import main; main()"]


class Daemon:
    """``liqrisk run`` as a child process, its output in a file."""

    def __init__(self, config: Path, env: dict[str, str], instance: str, log: Path) -> None:
        self.config, self.env, self.instance, self.log = config, env, instance, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*liqrisk_command(), "--config", str(self.config), "run", "--instance",
                 self.instance],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then the exit status (SIGKILL if it does not exit in ``timeout``)."""
        if not self.alive():
            assert self.process is not None
            return self.process.returncode
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.wait(5)
            raise

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    daemons: tuple[Daemon, ...] = (),
    interval: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for d in daemons:
            if not d.alive():
                raise AssertionError(f"daemon {d.instance} exited while waiting for {what}:\n"
                                     + d.output()[-4000:])  # fmt: skip
        time.sleep(interval)
    tails = "\n".join(f"--- {d.instance}\n{d.output()[-4000:]}" for d in daemons)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tails}")


@dataclass(frozen=True)
class Row:
    """One claim and how it ended (``status`` None: no end row)."""

    claim_id: int
    job: str
    period: str
    generation: int
    reason: str
    takes_over: int | None
    owner: str
    claimed_at: datetime
    status: str | None
    detail: str


def claims(store: Store, job: str | None = None) -> list[Row]:
    with store.read_session() as session:
        query = select(ScheduleClaim).order_by(col(ScheduleClaim.id))
        if job is not None:
            query = query.where(col(ScheduleClaim.job) == job)
        found = list(session.scalars(query))
        ends = {
            r.claim_id: r
            for r in session.scalars(select(ScheduleRun).where(col(ScheduleRun.event) == "end"))
        }
        return [
            Row(
                c.id or 0, c.job, c.period, c.generation, c.reason, c.takes_over, c.owner,
                as_utc(c.claimed_at),
                ends[c.id].status if c.id in ends else None,
                ends[c.id].detail if c.id in ends else "",
            )
            for c in found
        ]  # fmt: skip


def done(store: Store, job: str, period: str) -> bool:
    return any(r.period == period and r.status == "ok" for r in claims(store, job))


def started_not_ended(store: Store, job: str) -> list[Row]:
    return [r for r in claims(store, job) if r.status is None]


def assert_each_period_once(rows: list[Row]) -> None:
    """Every (job, period) ended ``ok`` exactly once, and every claim that did not end ``ok`` was
    taken over by the next generation."""
    by_period: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        by_period.setdefault((r.job, r.period), []).append(r)
    for key, group in by_period.items():
        oks = [r for r in group if r.status == "ok"]
        assert len(oks) <= 1, f"{key} was done {len(oks)} times: {group}"
        generations = sorted(r.generation for r in group)
        assert generations == list(range(1, len(group) + 1)), f"{key}: {group}"
        for r in group:
            if r.generation > 1:
                previous = next(p for p in group if p.generation == r.generation - 1)
                assert r.takes_over == previous.claim_id, f"{key}: {group}"
