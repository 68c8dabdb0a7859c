"""Deterministic generator of the bundled demo dataset,
``reporting/fetch/sources/demo/kaiko_demo.json.gz``.

Run ``python -m reporting.fetch.sources.demo.generate [PATH]`` from the repository root. The output
is byte for byte the same on every run: one fixed seed drives :class:`random.Random` (whose streams
are stable across Python versions), every event size is rounded to cents (so a last-ulp difference
in a libm's ``exp`` cannot reach the file), JSON is written with sorted keys and fixed separators,
and gzip with ``mtime=0`` and no file name. ``tests/test_demo_dataset.py`` rebuilds it and compares.

What is in the file
-------------------
``{"meta": {...}, "assets": {"btc": [datum, ...], ...}}``. Each datum is exactly one element of
the ``data`` list of Kaiko's "Token-level liquidation volumes" endpoint
(``/v2/data/liquidation.v1/token/{asset}``, see the seed page in the design notes): hourly,
ascending, ``interval_time`` like ``2025-11-03T14:00:00Z``, ``interval_timestamp`` in
*nanoseconds* (the documented example is in ns although the field's description says ms), the six
count/amount fields, and ``exchanges``: one object per exchange that had at least one liquidation
in the hour, sorted by code. Amounts are USD floats; an amount is the integer ``0`` (as in Kaiko's
example) exactly when its count is 0. Totals are float sums of their parts: a datum's long/short
amounts sum its exchanges' (in listed order), and every ``total_amount`` is ``long + short``.

Range 2025-10-20T00:00Z to 2025-11-10T00:00Z (21 days, 504 hours), assets btc, eth, sol, xrp,
doge, exchanges binc (Binance), bbit (Bybit), okex (OKX), hbdm (Huobi), drbt (Deribit: btc, eth,
sol), bmex (BitMEX: btc, eth), and ``bgfx``, a code deliberately missing from the product's
exchange table, present only in the three hours 14:00-17:00 of the stress day so that the
"unknown exchange code is kept and flagged" path shows in the demo.

The model
---------
Every liquidation is simulated as an event (side, size, exchange), hour by hour; the hour's datum
is their exact aggregate. The number of events of asset *a* in hour *t* is the sum of three Poisson
draws:

* **base** with mean ``rate_a * (1 - ETA) * intraday(hour) * weekday(day) * mood(day) *
  noise(a, day) * regime(t) * buildup(t) * noise(a, t)``. The intraday profile peaks around the
  US equity open (13:30-16:00 UTC) and dips in the European early morning; Saturday and Sunday run
  at ~0.5-0.6 of a weekday (the weekend lull). ``mood`` (one log-normal draw per day) and
  ``regime`` (a two-state Markov chain, calm/volatile, hourly) are shared by all assets, since
  crypto volatility is market-wide; the noises are per asset.
* **self-excitation**, a discrete-time Hawkes process: ``ETA * (1 - KAPPA) * E_t`` with
  ``E_t = KAPPA * E_{t-1} + N_{t-1}``. Each liquidation begets ``ETA`` more in expectation, spread
  geometrically over the next hours: forced selling moves the price, which liquidates more. This
  is what makes bursts cluster and what turns the stress spike into a decaying cascade. The side of
  excited events follows the side of the events that excited them (``EL_t / E_t``).
* **stress**: the cascade of Monday 2025-11-03, modelled on the article seed (a spike at 14:32 UTC,
  a 5.2% drawdown, funding swinging from -0.04% to -0.12% per 8h). Starting in the 14:00 hour,
  ``rate_a * stress_peak_a * STRESS_PROFILE[k]`` extra events for k = 0..6 hours, 85-90% of them
  LONG liquidations, with sizes scaled by ``1 + STRESS_PROFILE[k]`` (the price walks further into
  the leverage book, reaching larger positions). The four days before it build up a little
  (``BUILDUP``: intensity x1.15-1.6, long share +5 to +15 points); the day after stays elevated.

The long share of base events is ``0.5 + buildup bias + 0.22 * tanh(d_t)`` (clipped), with ``d_t``
an hourly AR(1) "market direction" shared by all assets: about 0.5 on calm days, drifting with the
market, as in the real sample's calm tail (0.47) versus its selloff head (0.81).

Sizes are log-normal (``SIZE_LOG_MEAN``, ``SIZE_LOG_SD``) up to the 99.5th percentile and a Pareto
tail above it (``PARETO_ALPHA``), times the asset's ``size_multiplier``, capped at its
``max_event_usd``, rounded to cents. The log-normal's own local tail index at the splice point is
``z / sd = 2.576 / 2.0 ~ 1.29``, so ``PARETO_ALPHA = 1.3`` continues the density smoothly but keeps
a power law out to the cap. Each event goes to an exchange drawn from the asset's shares, jittered
per day (log-normal, sd 0.1) so the shares wander a little.

Calibration
-----------
Sizes: the real Binance USD-M forceOrder sample (``binance_usdm_liquidations_chiefJurist``,
``head_sample.csv``: 234 events in 5 minutes of 2025-10-22, mostly altcoins) has
log(usd) mean 5.547 and sd 2.006, median $282, 80.8% long liquidations (SELL orders) during that
selloff; its top 1% of events (2) hold 32% of the USD, its top 3 hold 41%; a log-normal with sd 2.0
puts 37% of its mass above its 99th percentile, so the body fits. The tail sample (19 events,
2025-10-26, calm) has mean 4.97, sd 2.13 and 47% longs. Per asset, the sample's ETH events
(9, median $1,659) have log-mean 7.52, i.e. exp(7.52 - 5.55) ~ 7x the pooled sample; XRP's (10)
6.04, ~1.6x; SOL's (2) 4.64 and DOGE's (1) 7.31 are too few to use. ``size_multiplier`` is
therefore ETH 7, XRP 1.6, BTC 12 (no BTC event in the sample; BTC positions are the largest),
SOL 3 and DOGE 1.3 (between), which with the sample's body gives mean event sizes of roughly
$30k (BTC), $17k (ETH), $7k (SOL), $4k (XRP) and $3k (DOGE).

Rates: ``rate_a`` is set so that a normal day (all exchanges) lands in the bands the product's
default limits are written for: BTC $30-120M, ETH $25-90M, SOL $8-30M, XRP $4-15M, DOGE $2-8M,
with tens to a few hundred events an hour. The stress peaks are set so the stress day is ~8-15x
the median normal day for every asset and its 14:00 hour the largest hour of the set.
:func:`build_dataset` checks these claims and the format invariants and refuses to return a dataset
that breaks them; the realised figures are written to ``meta.summary``.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import random
import statistics
import sys
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

from reporting.resources import DEMO_DATA_FILE

GENERATOR_VERSION = "1.0"
SEED = 20251103

START = datetime(2025, 10, 20, tzinfo=UTC)
END = datetime(2025, 11, 10, tzinfo=UTC)
HOURS = int((END - START).total_seconds()) // 3600

STRESS_DAY = date(2025, 11, 3)
STRESS_START_HOUR = 14
# Extra-event intensity of the cascade by hour from 14:00 (relative to its peak), and the long
# share of those events: a long squeeze that fades into a two-sided market by the evening.
STRESS_PROFILE = (1.0, 0.55, 0.3, 0.17, 0.1, 0.06, 0.035)
STRESS_LONG_SHARE = (0.9, 0.89, 0.87, 0.84, 0.8, 0.75, 0.7)

UNLISTED_EXCHANGE = "bgfx"
UNLISTED_HOURS = (14, 15, 16)  # of the stress day
UNLISTED_WEIGHT = 0.03

EXCHANGE_NAMES = {
    "binc": "Binance",
    "bbit": "Bybit",
    "okex": "OKX",
    "hbdm": "Huobi",
    "drbt": "Deribit",
    "bmex": "BitMEX",
}

# Event size model (log of USD, before the asset's multiplier): the real sample's body.
SIZE_LOG_MEAN = 5.55
SIZE_LOG_SD = 2.0
TAIL_Z = 2.576  # the 99.5th percentile of the standard normal: the Pareto tail starts here
PARETO_ALPHA = 1.3

# Self-excitation: branching ratio and hourly decay of the excitation.
ETA = 0.35
KAPPA = 0.55

# Market regime: calm (x1) or volatile (x REGIME_VOLATILE), switching hourly.
REGIME_VOLATILE = 1.8
P_CALM_TO_VOLATILE = 0.03
P_VOLATILE_TO_CALM = 0.2
MOOD_LOG_SD = 0.15  # day-to-day market mood, shared
ASSET_DAY_LOG_SD = 0.1
ASSET_HOUR_LOG_SD = 0.15
DIRECTION_AR = 0.92
DIRECTION_SD = 0.3

# Relative activity by UTC hour (normalised to mean 1 below): the US open 13:30-16:00 UTC is the
# busiest, the European early morning the quietest.
_INTRADAY_RAW = (
    1.05, 1.0, 0.95, 0.85, 0.75, 0.7, 0.72, 0.8, 0.9, 0.95, 0.95, 0.95,
    1.0, 1.25, 1.7, 1.6, 1.3, 1.1, 1.0, 0.95, 1.0, 0.95, 0.85, 0.9,
)  # fmt: skip
INTRADAY = tuple(x * 24 / sum(_INTRADAY_RAW) for x in _INTRADAY_RAW)
WEEKDAY = (1.0, 1.05, 1.05, 1.05, 1.0, 0.5, 0.6)  # Monday .. Sunday

# Days around the stress: (intensity multiplier, long-share bias).
BUILDUP: Mapping[date, tuple[float, float]] = {
    date(2025, 10, 30): (1.15, 0.05),
    date(2025, 10, 31): (1.25, 0.07),
    date(2025, 11, 1): (1.3, 0.1),
    date(2025, 11, 2): (1.4, 0.12),
    date(2025, 11, 3): (1.6, 0.15),
    date(2025, 11, 4): (1.35, -0.05),
    date(2025, 11, 5): (1.1, 0.0),
}

# The bands a normal day's total must fall in (USD, all exchanges), per asset.
NORMAL_DAY_BANDS: Mapping[str, tuple[float, float]] = {
    "btc": (30e6, 120e6),
    "eth": (25e6, 90e6),
    "sol": (8e6, 30e6),
    "xrp": (4e6, 15e6),
    "doge": (2e6, 8e6),
}
STRESS_RATIO_BAND = (8.0, 15.0)


@dataclass(frozen=True)
class AssetModel:
    """The per-asset parameters of the simulation."""

    code: str
    rate: float  # mean events per hour of an average calm weekday hour, self-excitation included
    size_multiplier: float  # on the sample's log-normal body
    max_event_usd: float  # cap on one liquidation
    stress_peak: float  # extra events in the 14:00 hour of the stress day, in units of ``rate``
    exchange_weights: tuple[tuple[str, float], ...]  # share of events; sums to 1


ASSETS: tuple[AssetModel, ...] = (
    AssetModel(
        "btc", 95.0, 12.0, 30e6, 50.0,
        (("binc", 0.39), ("bbit", 0.27), ("okex", 0.16), ("hbdm", 0.06), ("drbt", 0.07),
         ("bmex", 0.05)),
    ),
    AssetModel(
        "eth", 130.0, 7.0, 20e6, 38.0,
        (("binc", 0.37), ("bbit", 0.28), ("okex", 0.19), ("hbdm", 0.06), ("drbt", 0.06),
         ("bmex", 0.04)),
    ),
    AssetModel(
        "sol", 105.0, 3.0, 8e6, 45.0,
        (("binc", 0.39), ("bbit", 0.3), ("okex", 0.19), ("hbdm", 0.07), ("drbt", 0.05)),
    ),
    AssetModel(
        "xrp", 85.0, 1.6, 5e6, 45.0,
        (("binc", 0.4), ("bbit", 0.31), ("okex", 0.22), ("hbdm", 0.07)),
    ),
    AssetModel(
        "doge", 70.0, 1.3, 3e6, 44.0,
        (("binc", 0.4), ("bbit", 0.31), ("okex", 0.22), ("hbdm", 0.07)),
    ),
)  # fmt: skip

COUNT_FIELDS = ("total_trades", "long_trades", "short_trades")
AMOUNT_FIELDS = ("total_amount", "long_amount", "short_amount")


def iso_hour(moment: datetime) -> str:
    """``2025-11-03T14:00:00Z``, the form of Kaiko's ``interval_time``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _poisson(rng: random.Random, lam: float) -> int:
    """One Poisson draw: Knuth's product method below 10, Hörmann's PTRS (as numpy) above."""
    if lam <= 0.0:
        return 0
    if lam < 10.0:
        limit = math.exp(-lam)
        k, prod = 0, rng.random()
        while prod > limit:
            k += 1
            prod *= rng.random()
        return k
    slam, loglam = math.sqrt(lam), math.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2.0)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + lam + 0.43)
        if us >= 0.07 and v <= vr:
            return k
        if k < 0 or (us < 0.013 and v > us):
            continue
        if math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b) <= (
            -lam + k * loglam - math.lgamma(k + 1)
        ):
            return k


_TAIL_START = math.exp(SIZE_LOG_MEAN + SIZE_LOG_SD * TAIL_Z)


def _event_usd(rng: random.Random, multiplier: float, cap: float) -> float:
    """One liquidation's USD size: log-normal body, Pareto tail, capped, in whole cents > 0."""
    z = rng.gauss(0.0, 1.0)
    if z <= TAIL_Z:
        base = math.exp(SIZE_LOG_MEAN + SIZE_LOG_SD * z)
    else:
        base = _TAIL_START * (1.0 - rng.random()) ** (-1.0 / PARETO_ALPHA)
    return max(0.01, round(min(base * multiplier, cap), 2))


@dataclass(frozen=True)
class _Market:
    """The market-wide paths every asset shares."""

    mood: tuple[float, ...]  # per day
    regime: tuple[float, ...]  # per hour: intensity multiplier
    direction: tuple[float, ...]  # per hour, in (-1, 1): > 0 pushes towards long liquidations


def _market(rng: random.Random) -> _Market:
    days = HOURS // 24
    mood = tuple(math.exp(rng.gauss(0.0, MOOD_LOG_SD)) for _ in range(days))
    regime: list[float] = []
    direction: list[float] = []
    volatile, d = False, 0.0
    for _ in range(HOURS):
        switch = P_VOLATILE_TO_CALM if volatile else P_CALM_TO_VOLATILE
        if rng.random() < switch:
            volatile = not volatile
        regime.append(REGIME_VOLATILE if volatile else 1.0)
        d = DIRECTION_AR * d + rng.gauss(0.0, DIRECTION_SD)
        direction.append(math.tanh(d))
    return _Market(mood, tuple(regime), tuple(direction))


class _Exchanges:
    """Per-exchange accumulators of one hour."""

    def __init__(self, codes: Sequence[str]) -> None:
        self.long_trades = dict.fromkeys(codes, 0)
        self.short_trades = dict.fromkeys(codes, 0)
        self.long_amount: dict[str, float] = dict.fromkeys(codes, 0.0)
        self.short_amount: dict[str, float] = dict.fromkeys(codes, 0.0)

    def add(self, code: str, is_long: bool, usd: float) -> None:
        if is_long:
            self.long_trades[code] += 1
            self.long_amount[code] += usd
        else:
            self.short_trades[code] += 1
            self.short_amount[code] += usd

    def datum(self, start: datetime) -> dict[str, Any]:
        entries = []
        for code in sorted(self.long_trades):
            lt, st = self.long_trades[code], self.short_trades[code]
            if lt + st == 0:
                continue
            entries.append(_volumes(code, lt, st, self.long_amount[code], self.short_amount[code]))
        long_amount: float = 0
        short_amount: float = 0
        for entry in entries:  # float sums of the parts, in the listed order
            long_amount += entry["long_amount"]
            short_amount += entry["short_amount"]
        lt = sum(e["long_trades"] for e in entries)
        st = sum(e["short_trades"] for e in entries)
        return {
            "interval_time": iso_hour(start),
            "interval_timestamp": int(start.timestamp()) * 1_000_000_000,
            "total_trades": lt + st,
            "total_amount": long_amount + short_amount,
            "long_trades": lt,
            "long_amount": long_amount,
            "short_trades": st,
            "short_amount": short_amount,
            "exchanges": entries,
        }


def _volumes(
    code: str, long_trades: int, short_trades: int, long_amount: float, short_amount: float
) -> dict[str, Any]:
    # Kaiko writes a zero amount as the integer 0; an amount is zero exactly when its count is.
    long_a: float = long_amount if long_trades else 0
    short_a: float = short_amount if short_trades else 0
    return {
        "exchange": code,
        "total_trades": long_trades + short_trades,
        "total_amount": long_a + short_a,
        "long_trades": long_trades,
        "long_amount": long_a,
        "short_trades": short_trades,
        "short_amount": short_a,
    }


@dataclass
class _Tally:
    """Figures kept while simulating one asset, for ``meta.calibration``."""

    events: int = 0
    base_log_sum: float = 0.0
    base_log_sq: float = 0.0
    base_events: int = 0


def _exchange_cum_weights(
    model: AssetModel, rng: random.Random, days: int
) -> list[tuple[list[str], list[float]]]:
    """Per day, the asset's exchange codes and cumulative weights, jittered."""
    out = []
    for _ in range(days):
        codes = [code for code, _ in model.exchange_weights]
        weights = [w * math.exp(rng.gauss(0.0, 0.1)) for _, w in model.exchange_weights]
        out.append((codes, list(accumulate(weights))))
    return out


def _simulate_asset(model: AssetModel, market: _Market, tally: _Tally) -> list[dict[str, Any]]:
    # One stream per asset, seeded from a string (hashed with SHA-512 by ``random``, stable).
    rng = random.Random(f"liqrisk-demo:{SEED}:{model.code}")
    days = HOURS // 24
    day_noise = [math.exp(rng.gauss(0.0, ASSET_DAY_LOG_SD)) for _ in range(days)]
    day_exchanges = _exchange_cum_weights(model, rng, days)
    stress_offset = (STRESS_DAY - START.date()).days * 24 + STRESS_START_HOUR

    data: list[dict[str, Any]] = []
    excitation = excitation_long = 0.0
    for t in range(HOURS):
        start = START + timedelta(hours=t)
        day, hour = t // 24, start.hour
        buildup, bias = BUILDUP.get(start.date(), (1.0, 0.0))
        mu = (
            model.rate * (1.0 - ETA) * INTRADAY[hour] * WEEKDAY[start.weekday()]
            * market.mood[day] * day_noise[day] * market.regime[t] * buildup
            * math.exp(rng.gauss(0.0, ASSET_HOUR_LOG_SD))
        )  # fmt: skip
        p_base = min(0.92, max(0.08, 0.5 + bias + 0.22 * market.direction[t]))
        p_excited = excitation_long / excitation if excitation > 0 else p_base
        k = t - stress_offset
        in_stress = 0 <= k < len(STRESS_PROFILE)
        stress_rate = model.rate * model.stress_peak * STRESS_PROFILE[k] if in_stress else 0.0

        codes, cum = day_exchanges[day]
        if start.date() == STRESS_DAY and hour in UNLISTED_HOURS:
            codes = [*codes, UNLISTED_EXCHANGE]
            cum = [*cum, cum[-1] * (1.0 + UNLISTED_WEIGHT)]
        book = _Exchanges(codes)
        n_long = n_all = 0
        parts = (
            (_poisson(rng, mu), p_base, 1.0, True),
            (_poisson(rng, ETA * (1.0 - KAPPA) * excitation), p_excited, 1.0, False),
            (
                _poisson(rng, stress_rate),
                STRESS_LONG_SHARE[k] if in_stress else 0.0,
                1.0 + (STRESS_PROFILE[k] if in_stress else 0.0),
                False,
            ),
        )
        for count, p_long, size_scale, is_base in parts:
            for _ in range(count):
                is_long = rng.random() < p_long
                usd = _event_usd(rng, model.size_multiplier * size_scale, model.max_event_usd)
                code = codes[bisect_right(cum, rng.random() * cum[-1])]
                book.add(code, is_long, usd)
                n_long += is_long
                if is_base:
                    log_base = math.log(usd / model.size_multiplier)
                    tally.base_log_sum += log_base
                    tally.base_log_sq += log_base * log_base
                    tally.base_events += 1
            n_all += count
        tally.events += n_all
        excitation = KAPPA * excitation + n_all
        excitation_long = KAPPA * excitation_long + n_long
        data.append(book.datum(start))
    return data


# --- checks ----------------------------------------------------------------------------------


def _amount_ok(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _close(part: float, whole: float) -> bool:
    return abs(part - whole) <= 1e-9 * max(abs(whole), 1.0)


def check_volumes(obj: Mapping[str, Any], where: str) -> list[str]:
    """The invariants of one datum or exchange entry (counts, amounts, long + short = total)."""
    problems = []
    for key in COUNT_FIELDS:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            problems.append(f"{where}: {key} = {value!r} is not a count")
    for key in AMOUNT_FIELDS:
        if not _amount_ok(obj.get(key)):
            problems.append(f"{where}: {key} = {obj.get(key)!r} is not a finite amount >= 0")
    if problems:
        return problems
    if obj["long_trades"] + obj["short_trades"] != obj["total_trades"]:
        problems.append(f"{where}: long_trades + short_trades != total_trades")
    if not _close(obj["long_amount"] + obj["short_amount"], obj["total_amount"]):
        problems.append(f"{where}: long_amount + short_amount != total_amount")
    for side in ("total", "long", "short"):
        if (obj[f"{side}_trades"] == 0) != (obj[f"{side}_amount"] == 0):
            problems.append(f"{where}: {side}_amount is zero but {side}_trades is not, or reverse")
    return problems


def check_datum(datum: Mapping[str, Any], where: str) -> list[str]:
    """The format invariants of one hourly datum, its exchange entries included."""
    problems = check_volumes(datum, where)
    moment = datum.get("interval_time")
    stamp = datum.get("interval_timestamp")
    if not isinstance(moment, str) or not isinstance(stamp, int):
        return [*problems, f"{where}: interval_time/interval_timestamp missing"]
    parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if int(parsed.timestamp()) * 1_000_000_000 != stamp:
        problems.append(f"{where}: interval_timestamp {stamp} is not {moment} in ns")
    entries = datum.get("exchanges")
    if not isinstance(entries, list):
        return [*problems, f"{where}: exchanges is not a list"]
    codes = [e.get("exchange") for e in entries]
    if codes != sorted(set(codes)):
        problems.append(f"{where}: exchange codes not unique and sorted: {codes}")
    for entry in entries:
        problems += check_volumes(entry, f"{where}/{entry.get('exchange')}")
        if entry.get("total_trades") == 0:
            problems.append(f"{where}/{entry.get('exchange')}: listed with no liquidation")
    if problems:
        return problems
    for key in COUNT_FIELDS:
        if sum(e[key] for e in entries) != datum[key]:
            problems.append(f"{where}: exchanges' {key} do not sum to the total")
    for key in AMOUNT_FIELDS:
        if not _close(math.fsum(e[key] for e in entries), datum[key]):
            problems.append(f"{where}: exchanges' {key} do not sum to the total")
    return problems


def check_series(data: Sequence[Mapping[str, Any]], asset: str) -> list[str]:
    """Every hour of the range, once, ascending, each datum valid."""
    problems = []
    expected = [iso_hour(START + timedelta(hours=t)) for t in range(HOURS)]
    if [d.get("interval_time") for d in data] != expected:
        problems.append(f"{asset}: the hours are not exactly {expected[0]} .. {expected[-1]}")
    for datum in data:
        problems += check_datum(datum, f"{asset} {datum.get('interval_time')}")
    return problems


def daily_totals(data: Sequence[Mapping[str, Any]]) -> dict[date, float]:
    """USD per UTC day (all exchanges)."""
    out: dict[date, float] = {}
    for datum in data:
        day = date.fromisoformat(datum["interval_time"][:10])
        out[day] = out.get(day, 0.0) + float(datum["total_amount"])
    return out


def _summary(data: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    days = daily_totals(data)
    normal = {d: v for d, v in days.items() if d != STRESS_DAY}
    weekday = [v for d, v in normal.items() if d.weekday() < 5]
    weekend = [v for d, v in normal.items() if d.weekday() >= 5]
    normal_hours = [d for d in data if d["interval_time"][:10] != STRESS_DAY.isoformat()]
    stress_hours = [d for d in data if d["interval_time"][:10] == STRESS_DAY.isoformat()]
    top_normal = max(normal_hours, key=lambda d: d["total_amount"])
    top_stress = max(stress_hours, key=lambda d: d["total_amount"])
    stress_long = sum(d["long_amount"] for d in stress_hours)
    normal_long = sum(d["long_amount"] for d in normal_hours)
    by_exchange: dict[str, float] = {}
    for datum in data:
        for entry in datum["exchanges"]:
            code = entry["exchange"]
            by_exchange[code] = by_exchange.get(code, 0.0) + entry["total_amount"]
    total = sum(by_exchange.values())
    median = statistics.median(normal.values())
    return {
        "normal_day_median_usd": round(median, 2),
        "normal_day_min_usd": round(min(normal.values()), 2),
        "normal_day_max_usd": round(max(normal.values()), 2),
        "weekday_mean_usd": round(statistics.fmean(weekday), 2),
        "weekend_mean_usd": round(statistics.fmean(weekend), 2),
        "stress_day_usd": round(days[STRESS_DAY], 2),
        "stress_day_ratio_to_median": round(days[STRESS_DAY] / median, 3),
        "normal_max_hour_usd": round(top_normal["total_amount"], 2),
        "normal_max_hour": top_normal["interval_time"],
        "stress_max_hour_usd": round(top_stress["total_amount"], 2),
        "stress_max_hour": top_stress["interval_time"],
        "normal_long_share_usd": round(normal_long / (sum(normal.values()) or 1.0), 3),
        "stress_day_long_share_usd": round(stress_long / days[STRESS_DAY], 3),
        "max_hour_trades": max(d["total_trades"] for d in data),
        "normal_median_hour_trades": statistics.median(d["total_trades"] for d in normal_hours),
        "exchange_usd_share": {c: round(v / total, 4) for c, v in sorted(by_exchange.items())},
    }


def check_claims(asset: str, summary: Mapping[str, Any]) -> list[str]:
    """The shape the demo promises (see the module docstring), for one asset's summary."""
    problems = []
    low, high = NORMAL_DAY_BANDS[asset]
    if not low <= summary["normal_day_median_usd"] <= high:
        problems.append(
            f"{asset}: normal-day median {summary['normal_day_median_usd']:.0f} "
            f"is outside {low:.0f}..{high:.0f}"
        )
    ratio = summary["stress_day_ratio_to_median"]
    if not STRESS_RATIO_BAND[0] <= ratio <= STRESS_RATIO_BAND[1]:
        problems.append(f"{asset}: stress day is {ratio}x the median day")
    if summary["stress_day_usd"] <= summary["normal_day_max_usd"]:
        problems.append(f"{asset}: the stress day is not the largest day")
    if summary["stress_max_hour_usd"] <= summary["normal_max_hour_usd"]:
        problems.append(f"{asset}: the largest hour is not on the stress day")
    stress_peak = f"{STRESS_DAY.isoformat()}T{STRESS_START_HOUR:02d}:00:00Z"
    if summary["stress_max_hour"] != stress_peak:
        problems.append(f"{asset}: the stress day's largest hour is {summary['stress_max_hour']}")
    if summary["weekend_mean_usd"] >= summary["weekday_mean_usd"]:
        problems.append(f"{asset}: weekends are not quieter than weekdays")
    if summary["stress_day_long_share_usd"] <= 0.7:
        problems.append(f"{asset}: stress-day long share {summary['stress_day_long_share_usd']}")
    return problems


# --- the dataset -----------------------------------------------------------------------------


def build_dataset() -> dict[str, Any]:
    """Simulate the demo dataset; raises ``ValueError`` if it breaks an invariant or a claim."""
    market = _market(random.Random(f"liqrisk-demo:{SEED}:market"))
    assets: dict[str, list[dict[str, Any]]] = {}
    summaries: dict[str, Any] = {}
    realised: dict[str, Any] = {}
    problems: list[str] = []
    for model in ASSETS:
        tally = _Tally()
        data = _simulate_asset(model, market, tally)
        assets[model.code] = data
        problems += check_series(data, model.code)
        summaries[model.code] = _summary(data)
        problems += check_claims(model.code, summaries[model.code])
        mean = tally.base_log_sum / tally.base_events
        var = tally.base_log_sq / tally.base_events - mean * mean
        realised[model.code] = {
            "events": tally.events,
            "base_events": tally.base_events,
            "base_log_mean_over_multiplier": round(mean, 3),
            "base_log_sd": round(math.sqrt(var), 3),
        }
    if problems:
        raise ValueError("the demo dataset breaks its own claims:\n  " + "\n  ".join(problems))
    meta = {
        # The name it had when the bundled file was made (the file, its hash and every golden
        # report rest on these bytes); the module now lives in reporting.fetch.sources.demo.
        "generator": "reporting.demo.generate",
        "generator_version": GENERATOR_VERSION,
        "seed": SEED,
        "format": "Kaiko liquidation.v1 token endpoint, data elements "
        "(interval_timestamp in nanoseconds)",
        "interval": "1h",
        "start_time": iso_hour(START),
        "end_time": iso_hour(END),
        "assets": [m.code for m in ASSETS],
        "exchanges": {m.code: [c for c, _ in m.exchange_weights] for m in ASSETS},
        "exchange_names": dict(EXCHANGE_NAMES),
        "unlisted_exchange": {
            "code": UNLISTED_EXCHANGE,
            "hours": [f"{STRESS_DAY.isoformat()}T{h:02d}:00:00Z" for h in UNLISTED_HOURS],
            "note": "deliberately absent from the exchange table",
        },
        "stress_day": STRESS_DAY.isoformat(),
        "stress": {
            "start_time": f"{STRESS_DAY.isoformat()}T{STRESS_START_HOUR:02d}:00:00Z",
            "narrative": "BTC perpetual liquidation spike at 14:32 UTC, 5.2% temporary drawdown, "
            "funding from -0.04% to -0.12% per 8h; mostly long liquidations, decaying over ~6h",
            "profile": list(STRESS_PROFILE),
            "long_share": list(STRESS_LONG_SHARE),
            "buildup": {d.isoformat(): list(v) for d, v in sorted(BUILDUP.items())},
        },
        "calibration": {
            "sample": "binance_usdm_liquidations_chiefJurist/head_sample.csv (234 events, "
            "2025-10-22 09:36-09:41 UTC)",
            "sample_log_mean": 5.547,
            "sample_log_sd": 2.006,
            "sample_long_share_selloff": 0.808,
            "sample_long_share_calm": 0.474,
            "size_log_mean": SIZE_LOG_MEAN,
            "size_log_sd": SIZE_LOG_SD,
            "pareto_tail_from_z": TAIL_Z,
            "pareto_alpha": PARETO_ALPHA,
            "hawkes_branching_ratio": ETA,
            "hawkes_hourly_decay": KAPPA,
            "weekday_factors": list(WEEKDAY),
            "assets": {
                m.code: {
                    "events_per_hour": m.rate,
                    "size_multiplier": m.size_multiplier,
                    "max_event_usd": m.max_event_usd,
                    "stress_peak": m.stress_peak,
                    "exchange_weights": dict(m.exchange_weights),
                }
                for m in ASSETS
            },
            "realised": realised,
        },
        "summary": summaries,
    }
    return {"meta": meta, "assets": assets}


def encode_dataset(dataset: Mapping[str, Any]) -> bytes:
    """The dataset as the bytes of the ``.json.gz`` file: canonical JSON, reproducible gzip."""
    payload = json.dumps(
        dataset, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    return buffer.getvalue()


def write_dataset(path: str | os.PathLike[str] = DEMO_DATA_FILE) -> None:
    """Build the dataset and write it to ``path`` (atomically: a temporary file, then rename)."""
    target = Path(path)
    data = encode_dataset(build_dataset())
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: python -m reporting.fetch.sources.demo.generate [PATH]", file=sys.stderr)
        return 2
    target = Path(args[0]) if args else DEMO_DATA_FILE
    write_dataset(target)
    print(f"wrote {target} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
