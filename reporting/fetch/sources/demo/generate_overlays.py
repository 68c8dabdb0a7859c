"""Deterministic funding rates and open interest for the demo set, so the report can show them.

Same range, assets and story as the liquidation demo (:mod:`reporting.fetch.sources.demo.generate`):
2025-10-20T00:00Z to 2025-11-10T00:00Z, btc, eth, sol, xrp, doge, on Binance (``binc``) and OKX
(``okex``). Computed on demand from one fixed seed (``random.Random`` streams are stable across
Python versions), every figure rounded, so the values are the same on every run.

The story, from the article seed: on Monday 2025-11-03 a liquidation spike at 14:32 UTC came with a
5.2% drawdown and funding swinging from -0.04% to -0.12% per eight hours. So:

* **Funding** settles every 8 hours (00:00, 08:00, 16:00 UTC). Calm days pay a small positive rate
  (longs pay shorts: +0.005% to +0.015%). From 2025-10-30 the rate drifts down as the market turns;
  on the stress day BTC's 08:00 settlement is -0.04% and its 16:00 settlement, the first after the
  cascade, -0.12% (other assets by their own factors: ETH 1.1x, SOL 1.3x, XRP and DOGE 1.2x); it
  recovers over the next days. Binance's and OKX's rates differ by a little noise.
* **Open interest** is hourly, in base units and in USD at an hourly price path: a slow random walk
  from each asset's starting price, -5.2% between 14:00 and 16:00 of the stress day (recovering a
  third over the following hours), and open interest falling 9% across the cascade as leveraged
  longs are closed, rebuilding slowly. OKX's open interest is about 0.45x Binance's.

Only the overlay figures are made here; :mod:`reporting.fetch.sources.demo.overlay_client` serves
them over emulations of the exchanges' endpoints, and the ordinary clients fetch and keep them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

SEED = 20251103
START = datetime(2025, 10, 20, tzinfo=UTC)
END = datetime(2025, 11, 10, tzinfo=UTC)
STRESS_DAY = datetime(2025, 11, 3, tzinfo=UTC)
STRESS_HOUR = STRESS_DAY + timedelta(hours=14)
EXCHANGES = ("binc", "okex")

# asset: (start price USD, Binance OI in base units, funding factor, contract value on OKX)
ASSETS: dict[str, tuple[float, float, float, float]] = {
    "btc": (110_000.0, 82_000.0, 1.0, 0.01),
    "eth": (3_900.0, 2_100_000.0, 1.1, 0.1),
    "sol": (190.0, 9_500_000.0, 1.3, 1.0),
    "xrp": (2.5, 420_000_000.0, 1.2, 100.0),
    "doge": (0.19, 5_200_000_000.0, 1.2, 1000.0),
}
OKX_OI_SHARE = 0.45
DRAWDOWN = 0.052
OI_DROP = 0.09
# Funding per 8h (fraction) of BTC around the stress, by settlement time; others scale.
STRESS_FUNDING = {
    STRESS_DAY + timedelta(hours=0): -0.00018,
    STRESS_DAY + timedelta(hours=8): -0.0004,  # -0.04%: the swing starts here
    STRESS_DAY + timedelta(hours=16): -0.0012,  # -0.12%: the first settlement after the spike
    STRESS_DAY + timedelta(hours=24): -0.0007,
    STRESS_DAY + timedelta(hours=32): -0.00035,
    STRESS_DAY + timedelta(hours=40): -0.00012,
}


@dataclass(frozen=True)
class FundingSettlement:
    exchange: str
    asset: str
    time: datetime
    rate: float  # per 8h, as a fraction
    mark_price: float


@dataclass(frozen=True)
class OpenInterestHour:
    exchange: str
    asset: str
    time: datetime
    oi_base: float  # in the asset
    oi_usd: float
    oi_contracts: float  # OKX contracts (ctVal of the asset); Binance has none


def _hours() -> list[datetime]:
    count = int((END - START).total_seconds() // 3600)
    return [START + timedelta(hours=h) for h in range(count)]


def _price_path(asset: str, rng: random.Random) -> dict[datetime, float]:
    """Hourly prices: a small random walk, the stress drawdown and a partial recovery."""
    price = ASSETS[asset][0]
    path: dict[datetime, float] = {}
    for moment in _hours():
        price *= 1 + (rng.random() - 0.5) * 0.006
        since = (moment - STRESS_HOUR).total_seconds() / 3600
        if 0 <= since < 2:
            shock = 1 - DRAWDOWN * (since + 1) / 2  # -2.6% in the 14:00 hour, -5.2% by 16:00
        elif 2 <= since < 48:
            shock = 1 - DRAWDOWN * (1 - (1 / 3) * min(1.0, (since - 2) / 12))
        elif since >= 48:
            shock = 1 - DRAWDOWN * 2 / 3
        else:
            shock = 1.0
        path[moment] = round(price * shock, 6)
    return path


def _oi_factor(moment: datetime) -> float:
    """Open interest relative to calm: builds up before the stress, drops through it."""
    since = (moment - STRESS_HOUR).total_seconds() / 3600
    if since < -96:
        return 1.0
    if since < 0:
        return 1.0 + 0.06 * (since + 96) / 96  # leverage builds up over four days
    if since < 3:
        return 1.06 * (1 - OI_DROP * (since + 1) / 3)
    return 1.06 * (1 - OI_DROP) * (1 + 0.03 * min(1.0, (since - 3) / 72))


def _calm_rate(moment: datetime, rng: random.Random) -> float:
    turn = (STRESS_DAY - moment).total_seconds() / 86400
    base = 0.0001 if turn > 4 else 0.0001 * max(0.0, turn) / 4 - 0.00006 * (1 - turn / 4)
    return base + (rng.random() - 0.5) * 0.0001


@lru_cache(maxsize=1)
def funding() -> tuple[FundingSettlement, ...]:
    """Every settlement of every asset on both exchanges, by time, asset, exchange."""
    rng = random.Random(SEED)  # noqa: S311  (demo figures, not cryptography)
    prices = {a: _price_path(a, random.Random(f"{SEED}:{a}")) for a in ASSETS}  # noqa: S311
    out: list[FundingSettlement] = []
    moment = START
    while moment < END:
        for asset, (_price, _oi, factor, _ct) in ASSETS.items():
            base = STRESS_FUNDING.get(moment)
            for exchange in EXCHANGES:
                noise = (rng.random() - 0.5) * 0.00002
                if base is not None:
                    rate = base * factor + noise
                else:
                    rate = _calm_rate(moment, rng) * (0.8 + 0.4 * factor / 1.3) + noise
                out.append(
                    FundingSettlement(
                        exchange,
                        asset,
                        moment,
                        round(rate, 8),
                        round(prices[asset][moment], 6),
                    )
                )
        moment += timedelta(hours=8)
    return tuple(out)


@lru_cache(maxsize=1)
def open_interest() -> tuple[OpenInterestHour, ...]:
    """Hourly open interest of every asset on both exchanges, by time, asset, exchange."""
    out: list[OpenInterestHour] = []
    for asset, (_price, oi_base, _factor, ct_val) in ASSETS.items():
        rng = random.Random(f"{SEED}:oi:{asset}")  # noqa: S311
        prices = _price_path(asset, random.Random(f"{SEED}:{asset}"))  # noqa: S311
        wander = 1.0
        for moment in _hours():
            wander *= 1 + (rng.random() - 0.5) * 0.004
            wander = min(1.08, max(0.92, wander))
            level = oi_base * wander * _oi_factor(moment)
            for exchange in EXCHANGES:
                base = level * (OKX_OI_SHARE if exchange == "okex" else 1.0)
                base = round(base, 3)
                contracts = math.floor(base / ct_val) if exchange == "okex" else 0.0
                out.append(
                    OpenInterestHour(
                        exchange,
                        asset,
                        moment,
                        base,
                        round(base * prices[moment], 2),
                        float(contracts),
                    )
                )
    out.sort(key=lambda p: (p.time, p.asset, p.exchange))
    return tuple(out)
