"""Load check of the officer console: 50 logged-in sessions browsing a year of data (issue #18).

Not a test. Run from the repository root: ``python bench/bench_console.py [--seconds 60]
[--think 1.0] [--rebuild] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]``.

The store is a year of ``liqrisk daily`` without the network: each day up to yesterday (UTC), a
Kaiko page per asset (5 assets x 6 exchanges, bench_backtest's hours) stored by the real snapshot
and derive path, the watermark advanced, the log signed, the checks run, breach notices enqueued
and drained (to .eml files), the daemon's job claims recorded; the last ``--report-days`` days run
``run_daily`` (no fetch), which also renders and registers the HTML and PDF. Then the accounts.
Cached in ``--cache-dir`` by software version and parameters; rebuilt by ``--rebuild`` or when the
code no longer accepts its schema. ``--database-url``: in a database ``bench_console`` on that
PostgreSQL server (made, and dropped to rebuild; nothing else there is touched).

The real ``python -m reporting serve`` runs in a subprocess on 127.0.0.1. Each session logs in
(argon2; timed apart, before the window), then loops ``/``, ``/breaches``, a breach or warn of the
year, ``/reports``, an HTML report, every ``--pdf-every``-th loop a PDF read in 64 KiB pieces
(headers and first-byte time kept), thinking ``--think`` s on average between pages (0: a closed
loop, saturation). Sessions come in at random over ``--ramp`` s, not counted, so no window opens
with 50 requests at once. Any status but 200 (a redirect: a lost session) or exception is an error.
Printed: wall ms per page kind (count, p50, p95, p99, max), and the longest stretches in which a
request waited and none was answered (views run on the server's one event loop).

The floor, same run: ``/static/console.css`` (a page's session check, nothing else) with the same
sessions and think time, ``--floor-seconds`` before and after the window; each p99 is shown as a
ratio to the floor's. Server RSS and CPU (``/proc/PID``) are sampled each second: RSS start, max,
end, slope over the window's second half; client CPU too (on a shared 2-core machine a busy client
inflates what it measures). ``--profile FILE``: the server runs under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
from bench_backtest import ASSETS, _datum  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import col  # noqa: E402

from audit_store import SOFTWARE_VERSION  # noqa: E402
from audit_store.db import Store  # noqa: E402
from audit_store.errors import LiqriskError  # noqa: E402
from audit_store.models import Artifact, Checkpoint, CheckResult, IntervalVolume, Snapshot  # noqa: E402
from audit_store.tables_outbox import OutboxMessage  # noqa: E402
from audit_store.tables_schedule import ScheduleClaim  # noqa: E402
from reporting.checks.store import run_checks  # noqa: E402
from reporting.config import Settings, load_settings  # noqa: E402
from reporting.evidence import prepare_key, sign_latest  # noqa: E402
from reporting.fetch import watermarks  # noqa: E402
from reporting.notify import drain, enqueue_breach_notices  # noqa: E402
from reporting.pipeline import run_daily  # noqa: E402
from reporting.resources import default_config_file  # noqa: E402
from reporting.schedule.claims import Policy, acquire, finish, period_of_day, period_of_time  # noqa: E402
from reporting.web.accounts import add_user  # noqa: E402
from tests.test_report_factory import day_start, kaiko_body, store_page  # noqa: E402

BUILD_FORMAT = 2  # bump when the build changes, so an old cached store is not reused
PASSWORD = "bench console password"  # noqa: S105 - the bench accounts' shared password
PG_DATABASE = "bench_console"
TARGET_MS = 300.0
CHUNK = 64 * 1024
PAGES = ("overview", "breaches", "breach", "reports", "report_html")
FLAGGED = ("breach", "warn")
DAILY_JOBS = (("daily", 30), ("checkpoint", 45))  # their minutes past midnight (config/)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(frozen=True)
class Built:
    root: Path  # the reports directory and the signing key live here (and the SQLite file)
    url: str
    meta: dict[str, Any]

    def env(self) -> dict[str, str]:
        return {
            "LIQRISK_CONFIG": str(default_config_file()),
            "LIQRISK_DATABASE_URL": self.url,
            "LIQRISK_REPORTS_DIR": str(self.root / "reports"),
            "LIQRISK_SIGNING_KEY_FILE": str(self.root / "signing.key"),
        }


def pg_database(maintenance: str, *, drop: bool) -> bool:
    """Make sure ``bench_console`` exists (dropped first when ``drop``); whether it existed."""
    admin = create_engine(maintenance, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            if drop:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
            found = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": PG_DATABASE}
            ).first()
            if found is None:
                connection.execute(text(f'CREATE DATABASE "{PG_DATABASE}"'))
            return found is not None
    finally:
        admin.dispose()


def daemon_claims(store: Store, settings: Settings, day: date) -> None:
    """What ``liqrisk run`` records of the day: 24 hourly fetches, the daily job, the checkpoint."""
    end, policy = day_start(day) + timedelta(days=1), Policy.of(settings)
    hours = [(end - timedelta(hours=h), timedelta(minutes=5)) for h in range(24, 0, -1)]
    runs = [("fetch", period_of_time(t), t + late) for t, late in hours]
    runs += [(job, period_of_day(day), end + timedelta(minutes=m)) for job, m in DAILY_JOBS]
    for job, period, at in runs:
        claim = acquire(store, job, period, owner="bench", now=at, policy=policy)
        assert claim is not None, (job, period)
        finish(store, settings, claim, "ok", "bench", at + timedelta(seconds=30))


def check_clock(day: date) -> Callable[[], datetime]:
    """The daily job's time for ``day``: 06:00 UTC the day after."""
    moment = day_start(day) + timedelta(days=1, hours=6)
    return lambda: moment


def store_day(store: Store, settings: Settings, day: date, rng: random.Random) -> None:
    """The day's page per asset, stored as a daily fetch stores it; the watermark advanced."""
    start = day_start(day)
    end, fetched = start + timedelta(days=1), start + timedelta(days=1, minutes=30)
    for asset, mean in ASSETS.items():
        data = [_datum(start + timedelta(hours=h), mean, rng) for h in range(24)]
        body = kaiko_body(asset, data, start, end)
        _, reason = store_page(
            store, source="demo", asset=asset, start=start, end=end, body=body,
            fetched_at=fetched, config_hash=settings.config_hash(),
        )  # fmt: skip
        assert reason is None, reason
        watermarks.advance(
            store, source="demo", dataset="liquidations", asset=asset, start=start, end=end,
            recorded_at=fetched, config_hash=settings.config_hash(),
        )  # fmt: skip


def build(built: Built, days: int, report_days: int, users: int) -> None:
    """A year of the daily job, then the accounts (see the module docstring)."""
    settings = load_settings(env=built.env())
    store = Store(built.url)
    store.create_schema()
    prepare_key(store, settings)
    rng = random.Random(20240101)
    last = datetime.now(UTC).date() - timedelta(days=1)
    first = last - timedelta(days=days - 1)
    started = mark = time.perf_counter()
    spent: defaultdict[str, float] = defaultdict(float)

    def lap(step: str) -> None:
        nonlocal mark
        mark, spent[step] = time.perf_counter(), spent[step] + time.perf_counter() - mark

    for n in range(days):
        day = first + timedelta(days=n)
        store_day(store, settings, day, rng)
        lap("pages")
        if n >= days - report_days:  # the real daily job, report and all
            run_daily(store, settings, day, fetch=False, clock=check_clock(day))
            daemon_claims(store, settings, day)
            lap("run_daily with report")
            continue
        sign_latest(store, settings)
        run_checks(store, settings, day, clock=check_clock(day))
        lap("sign + checks")
        with store.session() as session:
            enqueue_breach_notices(session, settings, day, clock=check_clock(day))
        drain(store, settings, clock=check_clock(day), wait_seconds=0)
        lap("notices + drain")
        daemon_claims(store, settings, day)
        lap("job claims")
        if n % 30 == 29:
            print(f"  {n + 1}/{days} days, {time.perf_counter() - started:.0f} s", flush=True)
    for n in range(users):
        add_user(store, f"bench{n:02d}", "viewer" if n % 2 else "officer", PASSWORD, by="bench")
    lap("accounts (argon2)")
    if (
        store.dialect == "postgresql"
    ):  # the statistics autovacuum would gather (off on test servers)
        with store.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")
    built.meta.update(
        first=first.isoformat(), last=last.isoformat(), users=users,
        build_seconds=time.perf_counter() - started, spent=dict(spent),
    )  # fmt: skip
    store.dispose()


def schema_current(url: str) -> bool:
    """Whether the code in the tree still accepts the cached store's schema."""
    store = Store(url)
    try:
        store.require_schema()
        return True
    except LiqriskError as exc:
        print(f"the cached store is rebuilt: {exc}")
        return False
    finally:
        store.dispose()


def open_built(args: argparse.Namespace) -> Built:
    """The cached store for these parameters, built first when missing or ``--rebuild``."""
    kind = "pg" if args.database_url else "sqlite"
    key = f"v{SOFTWARE_VERSION}-f{BUILD_FORMAT}-{args.days}d-{args.report_days}r-{args.sessions}u"
    root = Path(args.cache_dir) / f"store-{kind}-{key}"
    meta_file = root / "meta.json"
    reuse = meta_file.is_file() and not args.rebuild
    if args.database_url:
        maintenance = args.database_url  # the database given: only to make ours
        url = make_url(maintenance).set(database=PG_DATABASE).render_as_string(hide_password=False)
        reuse = pg_database(maintenance, drop=False) and reuse
    else:
        url = f"sqlite:///{root / 'store.db'}"
    if reuse and schema_current(url):
        return Built(root, url, json.loads(meta_file.read_text(encoding="utf-8")))
    if args.database_url:
        pg_database(maintenance, drop=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    built = Built(root, url, {"software_version": SOFTWARE_VERSION})
    print(f"building the store in {root} ({url}) ...", flush=True)
    build(built, args.days, args.report_days, args.sessions)
    meta_file.write_text(json.dumps(built.meta, indent=1), encoding="utf-8")  # written last
    return built


def inventory(built: Built) -> tuple[dict[str, int], list[int], list[int], list[int]]:
    """Row counts, and the ids the sessions pick from: flagged results, HTML and PDF reports."""
    store = Store(built.url)
    try:
        with store.read_session() as session:

            def count(model: Any) -> int:
                return int(session.execute(select(func.count()).select_from(model)).scalar_one())

            tables = {
                "leaves (snapshots)": Snapshot, "interval rows": IntervalVolume,
                "checkpoints": Checkpoint, "check results": CheckResult, "artifacts": Artifact,
                "outbox messages": OutboxMessage, "job claims": ScheduleClaim,
            }  # fmt: skip
            counts = {k: count(m) for k, m in tables.items()}

            def ids(query: Any) -> list[int]:
                return list(session.execute(query).scalars())

            flagged = ids(select(col(CheckResult.id)).where(col(CheckResult.status).in_(FLAGGED)))
            counts["breach/warn results"] = len(flagged)
            html, pdf = (
                ids(select(col(Artifact.id)).where(col(Artifact.kind) == k))
                for k in ("report.html", "report.pdf")
            )
            return counts, flagged, html, pdf
    finally:
        store.dispose()


def start_server(built: Built, profile: str | None) -> tuple[subprocess.Popen[bytes], str]:
    """``liqrisk serve`` on a free port of 127.0.0.1, and its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, **built.env(), "LIQRISK_SESSION_KEY": secrets.token_urlsafe(48)}
    runner = ["-m", "cProfile", "-o", profile] if profile else []
    command = [sys.executable, *runner, "-m", "reporting", "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen([*command, "--port", str(port)], cwd=ROOT, env=env)
    return server, f"http://127.0.0.1:{port}"


def wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the console exited with {server.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/login", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit("the console did not answer within a minute")


@dataclass
class Probe:
    """The server's RSS (MB) and CPU seconds, sampled once a second."""

    pid: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, MB, CPU s)

    def sample(self) -> None:
        status = Path(f"/proc/{self.pid}/status").read_text(encoding="ascii")
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        stat = Path(f"/proc/{self.pid}/stat").read_text(encoding="ascii")
        fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, from field 3
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        self.samples.append((time.perf_counter(), kb / 1024, cpu))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.sample()
            await asyncio.sleep(1.0)


def slope_mb_per_minute(samples: list[tuple[float, float, float]]) -> float:
    if len(samples) < 2:
        return math.nan
    ts, ms = [s[0] / 60 for s in samples], [s[1] for s in samples]
    mt, mm = sum(ts) / len(ts), sum(ms) / len(ms)
    var = sum((t - mt) ** 2 for t in ts)
    return sum((t - mt) * (m - mm) for t, m in zip(ts, ms, strict=True)) / var if var else math.nan


@dataclass
class Tally:
    times: dict[str, list[float]] = field(default_factory=dict)  # kind -> ms
    errors: list[str] = field(default_factory=list)
    pdf: list[dict[str, Any]] = field(default_factory=list)
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, kind)

    def ok(self, kind: str, ms: float) -> None:
        self.times.setdefault(kind, []).append(ms)
        end = time.perf_counter()
        self.spans.append((end - ms / 1000, end, kind))


async def log_in(client: httpx.AsyncClient, name: str) -> float:
    t = time.perf_counter()
    form = await client.get("/login")
    match = CSRF.search(form.text)
    if form.status_code != 200 or match is None:
        raise RuntimeError(f"login form: {form.status_code}")
    data = {"name": name, "password": PASSWORD, "csrf": match.group(1), "next": "/"}
    answer = await client.post("/login", data=data)
    if answer.status_code != 303 or "liqrisk_session" not in client.cookies:
        raise RuntimeError(f"login of {name}: {answer.status_code}")
    return (time.perf_counter() - t) * 1000


async def fetch(client: httpx.AsyncClient, tally: Tally, kind: str, path: str) -> None:
    t = time.perf_counter()
    try:
        if kind == "pdf":
            await fetch_pdf(client, tally, path, t)
            return
        response = await client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}")
        tally.ok(kind, (time.perf_counter() - t) * 1000)
    except Exception as exc:
        tally.errors.append(f"{kind}: GET {path}: {type(exc).__name__}: {exc}")


async def fetch_pdf(client: httpx.AsyncClient, tally: Tally, path: str, t: float) -> None:
    async with client.stream("GET", path) as response:
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}")
        first, size, chunks = math.nan, 0, 0
        async for chunk in response.aiter_raw(CHUNK):
            if chunks == 0 and not chunk.startswith(b"%PDF"):
                raise RuntimeError("not a PDF")
            first = (time.perf_counter() - t) * 1000 if chunks == 0 else first
            size, chunks = size + len(chunk), chunks + 1
        ms = (time.perf_counter() - t) * 1000
        tally.ok("pdf", ms)
        length = response.headers.get("content-length")
        tally.pdf.append({
            "bytes": size, "chunks": chunks, "first_ms": first, "ms": ms,
            "length": length, "chunked": response.headers.get("transfer-encoding") == "chunked",
        })  # fmt: skip


async def browse(
    client: httpx.AsyncClient,
    tallies: tuple[Tally, Tally],
    start: float,
    deadline: float,
    rng: random.Random,
    ids: tuple[list[int], list[int], list[int]],
    args: argparse.Namespace,
    floor: bool,
) -> None:
    """One session: its first page at a random moment of the ramp, then page after page; what
    starts before ``start`` goes to the ramp's tally, what would start after ``deadline`` not."""
    flagged, html, pdf = ids
    await asyncio.sleep(rng.uniform(0, args.ramp))
    loop = 0
    while True:
        plan = [("floor", "/static/console.css")]
        if not floor:
            plan = [
                ("overview", "/"), ("breaches", "/breaches"),
                ("breach", f"/breaches/{rng.choice(flagged)}"), ("reports", "/reports"),
                ("report_html", f"/reports/{rng.choice(html)}"),
            ]  # fmt: skip
            if loop % args.pdf_every == args.pdf_every - 1:
                plan.append(("pdf", f"/reports/{rng.choice(pdf)}"))
        for kind, path in plan:
            now = time.perf_counter()
            if now >= deadline:
                return
            await fetch(client, tallies[now >= start], kind, path)
            if args.think > 0:
                await asyncio.sleep(args.think * rng.uniform(0.5, 1.5))
        loop += 1


@dataclass(frozen=True)
class Phase:
    tally: Tally  # what started in the window
    ramp: Tally  # what started while the sessions were still coming in
    start: float
    end: float
    client_cpu: float  # cores, over ramp and window


async def window(
    clients: list[httpx.AsyncClient],
    seconds: float,
    ids: tuple[list[int], list[int], list[int]],
    args: argparse.Namespace,
    floor: bool,
) -> Phase:
    """Every session browsing: coming in over ``--ramp`` seconds, then timed for ``seconds``."""
    tallies = (Tally(), Tally())  # the ramp's, the window's
    began, cpu = time.perf_counter(), time.process_time()
    start = began + args.ramp
    await asyncio.gather(
        *(
            browse(c, tallies, start, start + seconds, random.Random(n), ids, args, floor)
            for n, c in enumerate(clients)
        )
    )
    end = time.perf_counter()
    return Phase(tallies[1], tallies[0], start, end, (time.process_time() - cpu) / (end - began))


def stalls(spans: list[tuple[float, float, str]], top: int = 5) -> list[tuple[float, str]]:
    """The longest stretches (ms) in which a request waited and none was answered, each with the
    kind of the request that ended it (most likely what the one event loop was busy with)."""
    ordered = sorted(spans, key=lambda s: s[1])
    gaps = []
    for (_, before, _), (start, end, kind) in pairwise(ordered):
        if start < before:  # it was waiting across the whole stretch
            gaps.append(((end - before) * 1000, kind))
    return sorted(gaps, reverse=True)[:top]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


async def load(built: Built, base: str, probe: Probe, args: argparse.Namespace) -> None:
    counts, flagged, html, pdf = inventory(built)
    print("store: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))
    # keep-alive shorter than uvicorn's 5 s: else a request sent as the server closes an idle
    # connection fails (a client-side race a browser would retry, not a console error)
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=2.0)
    clients = [
        httpx.AsyncClient(base_url=base, limits=limits, timeout=120.0, follow_redirects=False)
        for _ in range(args.sessions)
    ]
    stop = asyncio.Event()
    sampler = asyncio.create_task(probe.run(stop))
    try:
        t = time.perf_counter()
        logins = await asyncio.gather(*(log_in(c, f"bench{n:02d}") for n, c in enumerate(clients)))
        print(
            f"logins: {len(logins)} sessions at once in {time.perf_counter() - t:.1f} s (argon2, "
            f"on the server's event loop): p50 {pct(logins, 50):.0f} ms, max {max(logins):.0f} ms"
        )
        plan = [(args.floor_seconds, True), (args.seconds, False), (args.floor_seconds, True)]
        phases = [await window(clients, t, (flagged, html, pdf), args, f) for t, f in plan]
    finally:
        stop.set()
        await sampler
        await asyncio.gather(*(c.aclose() for c in clients))
    report(phases, probe, args)


def report(phases: list[Phase], probe: Probe, args: argparse.Namespace) -> None:
    floor_a, main, floor_b = phases
    floor_ms = [m for f in (floor_a, floor_b) for m in f.tally.times.get("floor", [])]
    floor_p99 = pct(floor_ms, 99) if floor_ms else math.nan
    wall = main.end - main.start
    total = sum(len(v) for v in main.tally.times.values())
    errors = [e for p in phases for t in (p.tally, p.ramp) for e in t.errors]
    print(
        f"window: {wall:.1f} s after a {args.ramp:g} s ramp, {args.sessions} sessions, think "
        f"{args.think:g} s: {total:,} requests ({total / wall:.1f}/s); errors "
        f"{len(main.tally.errors)} (in all phases and ramps: {len(errors)})"
    )
    for example in errors[:5]:
        print(f"  error: {example}")
    print("  kind           count       p50      p95      p99      max   p99/floor   (ms)")
    rows = [("floor before", floor_a, "floor"), ("floor after", floor_b, "floor")]
    for name, phase, kind in [*rows, *((k, main, k) for k in (*PAGES, "pdf"))]:
        if ms := phase.tally.times.get(kind, []):
            p99 = pct(ms, 99)
            print(
                f"  {name:12} {len(ms):7}  {pct(ms, 50):8.1f} {pct(ms, 95):8.1f} {p99:8.1f} "
                f"{max(ms):8.1f}   {p99 / floor_p99:7.1f}x"
            )
    pages = [m for k in PAGES for m in main.tally.times.get(k, [])]
    if pages:
        p99 = pct(pages, 99)
        print(
            f"pages p99: {p99:.0f} ms (target < {TARGET_MS:.0f} ms: "
            f"{'OK' if p99 < TARGET_MS else 'over target'}); "
            f"{p99 / floor_p99:.1f}x the floor's p99 ({floor_p99:.1f} ms)"
        )
    if stalls(main.tally.spans):
        longest = ", ".join(f"{ms:.0f} ms ({kind})" for ms, kind in stalls(main.tally.spans))
        print(f"longest stretches with requests waiting and none answered: {longest}")
    if pdfs := main.tally.pdf:
        sizes, firsts = [d["bytes"] for d in pdfs], [d["first_ms"] for d in pdfs]
        lengths = sum(d["length"] is not None for d in pdfs)
        print(
            f"pdf: {len(pdfs)} downloads of {min(sizes):,}-{max(sizes):,} bytes, "
            f"{pct([d['chunks'] for d in pdfs], 50)} reads of {CHUNK // 1024} KiB (p50); "
            f"Content-Length on {lengths}, chunked on {sum(d['chunked'] for d in pdfs)}; "
            f"first byte p50 {pct(firsts, 50):.1f} ms of {pct([d['ms'] for d in pdfs], 50):.1f}"
        )
    if samples := [s for s in probe.samples if main.start <= s[0] <= main.end]:
        rss, half = [s[1] for s in samples], [s for s in samples if s[0] >= main.start + wall / 2]
        cpu = (samples[-1][2] - samples[0][2]) / max(1e-9, samples[-1][0] - samples[0][0])
        before = [s[1] for s in probe.samples if s[0] < main.start][-1:] or [math.nan]
        print(
            f"server RSS: start {rss[0]:.1f} MB, max {max(rss):.1f} MB, end {rss[-1]:.1f} MB; "
            f"slope over the second half {slope_mb_per_minute(half):+.2f} MB/min "
            f"({len(samples)} samples; {before[0]:.1f} MB before the window)\n"
            f"CPU: server {cpu:.2f} cores, client {main.client_cpu:.2f} cores "
            f"(of {os.cpu_count()}; the server runs every view on its one event loop)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="the timed window")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between pages")
    parser.add_argument("--pdf-every", type=int, default=5, help="a PDF every Nth loop")
    parser.add_argument("--floor-seconds", type=float, default=10.0)
    parser.add_argument("--ramp", type=float, default=5.0, help="sessions come in over this")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--report-days", type=int, default=7, help="days with rendered reports")
    parser.add_argument("--database-url", help="a PostgreSQL server (its bench_console database)")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "bench_console"))
    parser.add_argument("--rebuild", action="store_true", help="build the store again")
    parser.add_argument("--profile", help="run the server under cProfile, stats to this file")
    args = parser.parse_args()
    if min(args.report_days, args.sessions, args.pdf_every) < 1 or args.report_days > args.days:
        parser.error("--report-days, --sessions and --pdf-every are at least 1, up to --days")

    t = time.perf_counter()
    meta = (built := open_built(args)).meta
    print(
        f"store: {meta['first']} to {meta['last']}, built in {meta['build_seconds']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in meta["spent"].items())
        + f"); opened in {time.perf_counter() - t:.1f} s this run"
    )
    server, base = start_server(built, args.profile)
    try:
        wait_ready(base, server)
        asyncio.run(load(built, base, Probe(server.pid), args))
    finally:
        server.send_signal(signal.SIGINT)  # uvicorn shuts down; cProfile writes its stats
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
