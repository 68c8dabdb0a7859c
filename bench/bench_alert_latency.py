"""Benchmark intraday alert latency: from the frame that crosses a limit leaving a loopback
exchange to the SMTP server accepting the alert's DATA, and to a webhook receiving its POST.

Not a test. Run ``python bench/bench_alert_latency.py [--crossings 60] [--spacing 2] [--rate 200]``
(about ``warmup + crossings x spacing`` seconds, plus the collector's start and stop).

What runs, all on 127.0.0.1:

* a websocket server (:class:`tests.ws_venues.VenueServer`, Binance's raw ``!forceOrder@arr``
  stream) sending ``--rate`` frames a second, paced by the clock from the collector's connection:
  small liquidations (10 to 200 USD) of ``--crossings`` synthetic assets (``ZAAUSDT``,
  ``ZABUSDT``, ...; each asset its own scope), and, ``--warmup`` seconds in and then every
  ``--spacing`` seconds, one asset's crossing frame: a 2M USD liquidation, over the breach level of
  a ``[velocity_usd_1m]`` limit (warn 500k, breach 1M USD, every asset on every exchange). The
  server notes the time it sends each crossing frame;
* ``aiosmtpd`` (:class:`tests.notify_helpers.SmtpServer`), noting when it accepts each message's
  DATA; an HTTP receiver (:class:`tests.notify_helpers.HookServer`) noting when each webhook POST
  arrives, and checking its HMAC signature;
* ``liqrisk collect --source binance``, the real command as a child process (with its writer
  process), configured in a temporary directory: the streams at their defaults (batches every
  0.5 s or 500 frames) but for a 1 s lease; breaches routed to one address and one webhook;
  ``[notify] intraday_group_seconds = 0`` (each alert alone: the group window, 30 s by default,
  would otherwise hold every crossing after the first on the route and send them together, which
  is what it is for, but not what this measures; the crossings are also spaced wider than a batch,
  so no two share one); ``repeat_minutes = 0`` and resolution after 60 quiet minutes, so no
  repeat or resolved message joins the run.

Printed: latency per crossing, email and webhook, p50 / p99 / max (nearest rank; target p99 < 5 s,
hard ceiling 60 s), and the p50 of the first and last third of the crossings (the later ones
have more open episodes and stored results before them); where the time goes, read from the
store afterwards (the collector's receive time of the crossing event, the evaluation in its
batch's transaction, the drain's claim of the message); and the floors measured in the same
run: the frame committed (send to the evaluation in its batch's transaction, which includes
waiting for the batch to be sealed), a bare SMTP send (``smtplib`` to the same server: connect,
MAIL, RCPT, DATA) and a bare webhook POST (``httpx``), with the ratio of each latency to the sum
of its floors.

The servers run in threads of the benchmark's process; the collector and its writer are processes
of their own. Wall-clock times (``time.time()``, and the store's UTC timestamps) compare across
them: one machine, one clock.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import smtplib
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from sqlalchemy import text
from websockets.asyncio.server import ServerConnection

from audit_store.canonical import as_utc
from reporting.notify.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify_signature,
)
from tests.collect_rig import RISK, Collect, CollectConfig, liqrisk
from tests.notify_helpers import HookServer, Received, SmtpServer
from tests.ws_venues import Action, VenueServer, binance_frame, venue_server

T = TypeVar("T")
CROSSING_USD = 2_000_000
LIMITS = """
[velocity_usd_1m]
warn = 500_000
breach = 1_000_000
repeat_minutes = 0
hysteresis = { resolve_below_pct = 90, resolve_after_minutes = 60 }
"""
HOOK_KEY = "bench-webhook-key-not-a-secret"
HOOK_ENV = "LIQRISK_BENCH_WEBHOOK_KEY"
SCOPE = re.compile(r"\b(Z[A-Z]{2})/binc\b")


class Stamped(list[T]):
    """A list that notes when each item is appended (``time.time()``): the servers' records."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, item: T) -> None:
        self.times.append(time.time())
        super().append(item)


def asset_names(n: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"Z{letters[i // 26]}{letters[i % 26]}" for i in range(n)]


@dataclass(frozen=True)
class Plan:
    """Which frame of the paced stream is whose: background, or an asset's crossing."""

    assets: list[str]
    rate: float
    frames: int
    crossings: dict[int, str]  # frame index -> the asset it takes over the limit

    @staticmethod
    def make(assets: list[str], rate: float, warmup: float, spacing: float, tail: float) -> Plan:
        crossings = {int((warmup + k * spacing) * rate): a for k, a in enumerate(assets)}
        frames = int((warmup + len(assets) * spacing + tail) * rate)
        return Plan(assets, rate, frames, crossings)


@dataclass
class PacedBinance(VenueServer):
    """The Binance server of :mod:`tests.ws_venues` with one more action, ``("paced", plan)``:
    the plan's frames at its rate, timed from the connection (late frames are sent at once, none
    skipped), each rendered with its scheduled exchange time; the send time of every crossing
    frame is noted in :attr:`sent`."""

    sent: dict[str, float] = field(default_factory=dict)  # asset -> time.time() at its send
    seed: int = 17

    async def _play(self, ws: ServerConnection, script: Sequence[Action]) -> None:
        if not script or script[0][0] != "paced":
            await super()._play(ws, script)
            return
        plan: Plan = script[0][1]
        pick = random.Random(self.seed)
        started, base_ms = time.monotonic(), int(time.time() * 1000)
        for i in range(plan.frames):
            delay = started + i / plan.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ms = base_ms + int(i * 1000 / plan.rate)
            crossing = plan.crossings.get(i)
            if crossing is not None:
                frame = binance_frame(f"{crossing}USDT", "SELL", "1", f"{CROSSING_USD}", ms)
                self.sent[crossing] = time.time()
            else:
                asset = plan.assets[i % len(plan.assets)]
                usd = f"{pick.uniform(10, 200):.2f}"
                frame = binance_frame(f"{asset}USDT", pick.choice(("SELL", "BUY")), "1", usd, ms)
            await ws.send(frame)
        await super()._play(ws, script[1:])


def nearest_rank(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def summary(values: Sequence[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"p50 {nearest_rank(values, 50) * 1000:7.0f} ms  p99 {nearest_rank(values, 99) * 1000:7.0f}"
        f" ms  max {max(values) * 1000:7.0f} ms  (n={len(values)})"
    )


def by_asset(subjects: Sequence[str], times: Sequence[float]) -> tuple[dict[str, float], int]:
    """The first arrival naming each asset, and how many arrivals named more than one."""
    first: dict[str, float] = {}
    grouped = 0
    for subject, at in zip(subjects, times, strict=True):
        named = set(SCOPE.findall(subject))
        grouped += len(named) > 1
        for asset in named:
            first.setdefault(asset, at)
    return first, grouped


@dataclass(frozen=True)
class Stages:
    """What the store says of one crossing (``time.time()`` seconds)."""

    received: float  # the collector's receive time of the crossing event
    evaluated: float  # the intraday result's creation, in the batch's transaction
    email_claimed: float | None  # the drain's claim of the email (its first attempt)
    hook_claimed: float | None


def _seconds(value: object) -> float:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return as_utc(moment).timestamp()


def stages(config: CollectConfig) -> dict[str, Stages]:
    store = config.store()
    found: dict[str, Stages] = {}
    with store.read_session() as session:
        crossing_events = text(
            "SELECT instrument, min(receive_time) FROM stream_event WHERE usd >= :u "
            "GROUP BY instrument"
        )
        received = {
            str(symbol).removesuffix("USDT"): _seconds(at)
            for symbol, at in session.execute(crossing_events, {"u": CROSSING_USD})
        }
        results = session.execute(
            text("SELECT id, scope, created_at FROM intraday_result WHERE kind = 'new'")
        ).all()
        claims = {
            (int(rid), str(channel).split(":")[0]): _seconds(at)
            for rid, channel, at in session.execute(
                text(
                    "SELECT i.intraday_result_id, i.channel, min(a.at) FROM outbox_item i "
                    "JOIN outbox_attempt a ON a.outbox_message_id = i.outbox_message_id "
                    "WHERE a.result = 'sending' AND i.intraday_result_id IS NOT NULL "
                    "GROUP BY i.intraday_result_id, i.channel"
                )
            )
        }
    store.dispose()
    for rid, scope, created in results:
        asset = str(scope).split("/")[0]
        if asset in received:
            found[asset] = Stages(
                received[asset],
                _seconds(created),
                claims.get((int(rid), "email")),
                claims.get((int(rid), "webhook")),
            )
    return found


def bare_smtp(server: SmtpServer, received: Stamped[Received], n: int) -> list[float]:
    """Connect, MAIL, RCPT, DATA of one small message, ``n`` times: start to DATA accepted."""
    out = []
    for k in range(n):
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "bench@example.com", RISK, f"floor {k}"
        message.set_content("the bare SMTP floor\n")
        started = time.time()
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as smtp:
            smtp.send_message(message)
        out.append(received.times[-1] - started)
    return out


def bare_post(
    hook: HookServer, requests: Stamped[tuple[dict[str, str], bytes]], n: int
) -> list[float]:
    """One small POST to the same receiver, ``n`` times: start to the request received."""
    out = []
    with httpx.Client() as client:
        for k in range(n):
            started = time.time()
            client.post(hook.url, content=b'{"floor": %d}' % k).raise_for_status()
            out.append(requests.times[-1] - started)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crossings", type=int, default=60, help="assets, one crossing each")
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between crossings")
    parser.add_argument("--rate", type=float, default=200.0, help="frames (events) per second")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds before the first")
    parser.add_argument("--floor-sends", type=int, default=30, help="bare SMTP sends and POSTs")
    parser.add_argument(
        "--keep", type=Path, help="a new directory for the config, store and collector log, kept"
    )
    args = parser.parse_args()
    if not 1 <= args.crossings <= 26 * 26 or args.spacing <= 0 or args.rate <= 0:
        parser.error("--crossings 1..676, --spacing and --rate above zero")
    plan = Plan.make(asset_names(args.crossings), args.rate, args.warmup, args.spacing, 10.0)

    smtp, mails = SmtpServer(), Stamped[Received]()
    smtp.handler.received = mails
    smtp.start()
    hook, posts = HookServer(), Stamped[tuple[dict[str, str], bytes]]()
    hook.requests = posts
    server = PacedBinance("binance", [[("paced", plan), ("silent",)], [("silent",)]])
    try:
        with (
            tempfile.TemporaryDirectory() as scratch,
            venue_server(server) as url,
        ):
            tmp = args.keep or Path(scratch)
            webhook = (
                f'[notify.webhooks.bench]\nurl = "{hook.url}"\nsecret_env = "{HOOK_ENV}"\n'
                'severity = ["breach"]\n'
            )
            config = CollectConfig(
                Path(tmp),
                smtp.port,
                LIMITS,
                notify={"intraday_group_seconds": "0"},
                streams={"flush_seconds": "0.5"},
                extra_toml=webhook,
                extra_env={HOOK_ENV: HOOK_KEY},
            ).write()
            liqrisk(config, url, "init")
            collect = Collect(config, url, Path(tmp) / "collect.log").start()
            print(
                f"{args.crossings} crossings, one every {args.spacing:g} s after {args.warmup:g} s,"
                f" in {plan.frames} frames at {args.rate:g}/s; liqrisk collect pid {collect.pid}",
                flush=True,
            )
            try:
                run = plan.frames / args.rate + 60.0  # the stream, the start, a minute of slack
                deadline = time.monotonic() + run
                while time.monotonic() < deadline and collect.alive():
                    emails = by_asset([str(r.message["Subject"]) for r in mails], mails.times)[0]
                    hooks = by_asset([b.decode() for _h, b in posts], posts.times)[0]
                    if min(len(server.sent), len(emails), len(hooks)) >= args.crossings:
                        break
                    time.sleep(0.5)
            finally:
                collect.stop()
            if not server.sent:
                print(collect.output()[-4000:])
                raise SystemExit("no crossing frame was sent: the collector never connected")
            found = stages(config)
        report(args, server.sent, (smtp, mails), (hook, posts), found)
    finally:
        smtp.stop()
        hook.close()


def report(
    args: argparse.Namespace,
    sent: dict[str, float],
    mail: tuple[SmtpServer, Stamped[Received]],
    webhook: tuple[HookServer, Stamped[tuple[dict[str, str], bytes]]],
    found: dict[str, Stages],
) -> None:
    """Print the figures (the bare sends go to the same servers, after the run)."""
    smtp, mails = mail
    hook, requests = webhook
    emails, grouped = by_asset([str(r.message["Subject"]) for r in mails], mails.times)
    bad = 0
    hook_subjects = []
    for (headers, body), arrived in zip(requests, requests.times, strict=False):
        ok = verify_signature(
            HOOK_KEY.encode(), headers.get(TIMESTAMP_HEADER.lower(), ""), body,
            headers.get(SIGNATURE_HEADER.lower(), ""),
            now=datetime.fromtimestamp(arrived, UTC),  # as the receiver did, on arrival
        )  # fmt: skip
        bad += not ok
        hook_subjects.append(body.decode("utf-8", "replace"))
    posts, hook_grouped = by_asset(hook_subjects, requests.times)
    email_lat = [emails[a] - t for a, t in sent.items() if a in emails]
    hook_lat = [posts[a] - t for a, t in sent.items() if a in posts]
    commit = [s.evaluated - sent[a] for a, s in found.items() if a in sent]
    receive = [s.received - sent[a] for a, s in found.items() if a in sent]
    to_claim = [s.email_claimed - s.evaluated for s in found.values() if s.email_claimed]
    claim_to_data = [
        emails[a] - s.email_claimed for a, s in found.items() if s.email_claimed and a in emails
    ]
    hook_claim_to_post = [
        posts[a] - s.hook_claimed for a, s in found.items() if s.hook_claimed and a in posts
    ]
    smtp_floor = bare_smtp(smtp, mails, args.floor_sends)
    post_floor = bare_post(hook, requests, args.floor_sends)

    print(
        f"crossings sent {len(sent)}; emails for {len(emails)} (grouped messages: {grouped}); "
        f"webhook POSTs for {len(posts)} (grouped: {hook_grouped}, bad signatures: {bad})"
    )
    print(f"email    send -> SMTP DATA accepted   {summary(email_lat)}")
    print(f"webhook  send -> POST received        {summary(hook_lat)}")
    print("where the time goes (from the store):")
    print(f"  send -> collector received           {summary(receive)}")
    print(f"  send -> evaluated in its batch       {summary(commit)}")
    print(f"  evaluated -> email claimed by drain  {summary(to_claim)}")
    print(f"  email claimed -> DATA accepted       {summary(claim_to_data)}")
    print(f"  webhook claimed -> POST received     {summary(hook_claim_to_post)}")
    print("floors, measured in this run:")
    print(f"  frame committed (send -> evaluated)  {summary(commit)}")
    print(f"  bare SMTP send                       {summary(smtp_floor)}")
    print(f"  bare webhook POST                    {summary(post_floor)}")
    for name, lat, floor in (("email", email_lat, smtp_floor), ("webhook", hook_lat, post_floor)):
        if not lat or not commit:
            continue
        for pct in (50, 99):
            total = nearest_rank(commit, pct) + nearest_rank(floor, pct)
            print(
                f"  {name} p{pct} / (commit p{pct} + bare send p{pct}): "
                f"{nearest_rank(lat, pct) / total:.2f}x"
            )
    order = sorted(sent, key=sent.__getitem__)
    third = max(1, len(order) // 3)
    for name, arrivals in (("email", emails), ("webhook", posts)):
        early = [arrivals[a] - sent[a] for a in order[:third] if a in arrivals]
        late = [arrivals[a] - sent[a] for a in order[-third:] if a in arrivals]
        if early and late:  # later crossings have more open episodes and results before them
            print(
                f"  {name} p50, first {third} crossings {nearest_rank(early, 50) * 1000:.0f} ms, "
                f"last {third} {nearest_rank(late, 50) * 1000:.0f} ms"
            )
    worst = max([nearest_rank(v, 99) for v in (email_lat, hook_lat) if v], default=math.inf)
    missing = args.crossings - min(len(emails), len(posts))
    for asset in sorted(set(sent) - set(emails) | set(sent) - set(posts)):
        print(f"  not alerted: {asset} (email {asset in emails}, webhook {asset in posts}, "
              f"stored {asset in found})")  # fmt: skip
    verdict = "met" if worst < 5 and missing == 0 else "NOT met"
    print(f"target p99 < 5 s (email and webhook, every crossing alerted): {verdict}")


if __name__ == "__main__":
    main()
