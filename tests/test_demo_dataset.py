"""The bundled demo dataset: reproducible, in Kaiko's format, and shaped as its docstring claims.

The invariant checks here are written independently of the generator's own
(:func:`reporting.fetch.sources.demo.generate.check_datum`), so a bug there cannot hide a bug in the
data.
"""

from __future__ import annotations

import gzip
import itertools
import json
import math
import statistics
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reporting.fetch.sources.demo import generate
from reporting.resources import DEMO_DATA_FILE

ASSETS = ("btc", "eth", "sol", "xrp", "doge")
STRESS = "2025-11-03"
VOLUME_KEYS = {
    "total_trades",
    "total_amount",
    "long_trades",
    "long_amount",
    "short_trades",
    "short_amount",
}
DATUM_KEYS = {"interval_time", "interval_timestamp", "exchanges", *VOLUME_KEYS}
ENTRY_KEYS = {"exchange", *VOLUME_KEYS}
ALLOWED_EXCHANGES = {
    "btc": {"binc", "bbit", "okex", "hbdm", "drbt", "bmex"},
    "eth": {"binc", "bbit", "okex", "hbdm", "drbt", "bmex"},
    "sol": {"binc", "bbit", "okex", "hbdm", "drbt"},
    "xrp": {"binc", "bbit", "okex", "hbdm"},
    "doge": {"binc", "bbit", "okex", "hbdm"},
}
NORMAL_DAY_BANDS = {
    "btc": (30e6, 120e6),
    "eth": (25e6, 90e6),
    "sol": (8e6, 30e6),
    "xrp": (4e6, 15e6),
    "doge": (2e6, 8e6),
}


@pytest.fixture(scope="module")
def fresh() -> dict[str, Any]:
    return generate.build_dataset()


@pytest.fixture(scope="module")
def bundled() -> dict[str, Any]:
    with gzip.open(DEMO_DATA_FILE, "rb") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _days(data: list[dict[str, Any]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for datum in data:
        day = datum["interval_time"][:10]
        out[day] = out.get(day, 0.0) + datum["total_amount"]
    return out


def _normal_days(data: list[dict[str, Any]]) -> dict[str, float]:
    return {d: v for d, v in _days(data).items() if d != STRESS}


# --- reproducibility ------------------------------------------------------------------------


def test_two_builds_give_identical_bytes(fresh: dict[str, Any]) -> None:
    assert generate.encode_dataset(generate.build_dataset()) == generate.encode_dataset(fresh)


def test_gzip_header_has_no_time_and_no_name(fresh: dict[str, Any]) -> None:
    blob = generate.encode_dataset(fresh)
    assert blob[:3] == b"\x1f\x8b\x08"
    assert blob[3] == 0  # FLG: no FNAME, no FCOMMENT, no FEXTRA
    assert blob[4:8] == b"\x00\x00\x00\x00"  # MTIME = 0


def test_bundled_file_equals_a_fresh_build(fresh: dict[str, Any]) -> None:
    # Compared decompressed: the JSON is the contract; compressed bytes could differ only if the
    # checkout's zlib were another implementation (zlib-ng), not because of the data.
    expected = generate.encode_dataset(fresh)
    assert gzip.decompress(DEMO_DATA_FILE.read_bytes()) == gzip.decompress(expected)


def test_write_dataset_writes_the_encoded_build(tmp_path: Path, fresh: dict[str, Any]) -> None:
    target = tmp_path / "demo.json.gz"
    generate.write_dataset(target)
    assert target.read_bytes() == generate.encode_dataset(fresh)
    assert [p.name for p in tmp_path.iterdir()] == ["demo.json.gz"]


def test_payload_is_canonical_json(bundled: dict[str, Any]) -> None:
    raw = gzip.decompress(DEMO_DATA_FILE.read_bytes())
    assert raw == json.dumps(bundled, sort_keys=True, separators=(",", ":")).encode("ascii")


def test_file_is_small() -> None:
    assert DEMO_DATA_FILE.stat().st_size < 1_500_000


# --- format ---------------------------------------------------------------------------------


def test_meta(bundled: dict[str, Any]) -> None:
    meta = bundled["meta"]
    assert meta["seed"] == generate.SEED
    assert meta["generator_version"] == generate.GENERATOR_VERSION
    assert meta["start_time"] == "2025-10-20T00:00:00Z"
    assert meta["end_time"] == "2025-11-10T00:00:00Z"
    assert meta["assets"] == list(ASSETS)
    assert meta["stress_day"] == STRESS
    assert meta["unlisted_exchange"]["code"] == "bgfx"
    assert sorted(bundled["assets"]) == sorted(ASSETS)


@pytest.mark.parametrize("asset", ASSETS)
def test_every_hour_once_ascending_in_kaiko_form(bundled: dict[str, Any], asset: str) -> None:
    data = bundled["assets"][asset]
    start = datetime(2025, 10, 20, tzinfo=UTC)
    assert len(data) == 21 * 24
    for i, datum in enumerate(data):
        moment = start + timedelta(hours=i)
        assert set(datum) == DATUM_KEYS
        assert datum["interval_time"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        # Nanoseconds, as the documented example (1742169600000000000) is.
        assert datum["interval_timestamp"] == int(moment.timestamp()) * 1_000_000_000
        codes = [e["exchange"] for e in datum["exchanges"]]
        assert codes == sorted(set(codes))
        for entry in datum["exchanges"]:
            assert set(entry) == ENTRY_KEYS


def _check_volumes(obj: Mapping[str, Any]) -> None:
    for key in ("total_trades", "long_trades", "short_trades"):
        assert type(obj[key]) is int and obj[key] >= 0
    for key in ("total_amount", "long_amount", "short_amount"):
        value = obj[key]
        assert type(value) in (int, float) and math.isfinite(value) and value >= 0
    assert obj["long_trades"] + obj["short_trades"] == obj["total_trades"]
    assert math.isclose(obj["long_amount"] + obj["short_amount"], obj["total_amount"], rel_tol=1e-6)
    for side in ("total", "long", "short"):
        assert (obj[f"{side}_trades"] == 0) == (obj[f"{side}_amount"] == 0)
        if obj[f"{side}_trades"] == 0:
            assert obj[f"{side}_amount"] == 0 and type(obj[f"{side}_amount"]) is int


@pytest.mark.parametrize("asset", ASSETS)
def test_invariants(bundled: dict[str, Any], asset: str) -> None:
    for datum in bundled["assets"][asset]:
        _check_volumes(datum)
        entries = datum["exchanges"]
        for entry in entries:
            _check_volumes(entry)
            assert entry["total_trades"] > 0  # only exchanges with liquidations are listed
        for key in ("total_trades", "long_trades", "short_trades"):
            assert sum(e[key] for e in entries) == datum[key]
        for key in ("total_amount", "long_amount", "short_amount"):
            assert math.isclose(math.fsum(e[key] for e in entries), datum[key], rel_tol=1e-6)


def test_the_generators_own_checks_pass(bundled: dict[str, Any]) -> None:
    for asset in ASSETS:
        assert generate.check_series(bundled["assets"][asset], asset) == []


def test_the_generators_checks_catch_a_broken_datum(bundled: dict[str, Any]) -> None:
    datum = json.loads(json.dumps(bundled["assets"]["btc"][0]))
    datum["exchanges"][0]["long_trades"] += 1
    datum["total_amount"] = float("nan")
    problems = generate.check_datum(datum, "x")
    assert any("long_trades + short_trades" in p for p in problems)
    assert any("total_amount" in p for p in problems)


@pytest.mark.parametrize("asset", ASSETS)
def test_exchange_codes(bundled: dict[str, Any], asset: str) -> None:
    bgfx_hours = set()
    for datum in bundled["assets"][asset]:
        codes = {e["exchange"] for e in datum["exchanges"]}
        assert codes <= ALLOWED_EXCHANGES[asset] | {"bgfx"}
        if "bgfx" in codes:
            bgfx_hours.add(datum["interval_time"])
    assert bgfx_hours == {f"{STRESS}T{h}:00:00Z" for h in (14, 15, 16)}


@pytest.mark.parametrize("asset", ["btc", "eth", "sol"])
def test_exchange_shares(bundled: dict[str, Any], asset: str) -> None:
    usd: dict[str, float] = {}
    for datum in bundled["assets"][asset]:
        for entry in datum["exchanges"]:
            usd[entry["exchange"]] = usd.get(entry["exchange"], 0.0) + entry["total_amount"]
    share = {code: value / sum(usd.values()) for code, value in usd.items()}
    assert 0.32 <= share["binc"] <= 0.45
    assert 0.23 <= share["bbit"] <= 0.33
    assert 0.13 <= share["okex"] <= 0.22
    assert 0.03 <= share["hbdm"] <= 0.1
    assert share["drbt"] < 0.1 and share.get("bmex", 0.0) < 0.1 and share["bgfx"] < 0.02


# --- shape ----------------------------------------------------------------------------------


@pytest.mark.parametrize("asset", ASSETS)
def test_normal_day_magnitudes(bundled: dict[str, Any], asset: str) -> None:
    normal = _normal_days(bundled["assets"][asset])
    low, high = NORMAL_DAY_BANDS[asset]
    assert low <= statistics.median(normal.values()) <= high
    inside = sum(low * 0.7 <= v <= high * 1.3 for v in normal.values())
    assert inside >= 0.9 * len(normal)
    counts = [
        d["total_trades"] for d in bundled["assets"][asset] if d["interval_time"][:10] != STRESS
    ]
    assert 20 <= statistics.median(counts) <= 400
    assert min(counts) >= 1


@pytest.mark.parametrize("asset", ASSETS)
def test_weekend_lull(bundled: dict[str, Any], asset: str) -> None:
    normal = _normal_days(bundled["assets"][asset])
    weekend = [v for d, v in normal.items() if date.fromisoformat(d).weekday() >= 5]
    weekday = [v for d, v in normal.items() if date.fromisoformat(d).weekday() < 5]
    assert len(weekend) == 6 and len(weekday) == 14
    assert statistics.fmean(weekend) < 0.8 * statistics.fmean(weekday)


@pytest.mark.parametrize("asset", ASSETS)
def test_us_open_is_busier_than_the_european_night(bundled: dict[str, Any], asset: str) -> None:
    def median_trades(hours: set[int]) -> float:
        return statistics.median(
            int(d["total_trades"])
            for d in bundled["assets"][asset]
            if int(d["interval_time"][11:13]) in hours and d["interval_time"][:10] != STRESS
        )

    assert median_trades({14, 15}) > 1.5 * median_trades({4, 5, 6})


@pytest.mark.parametrize("asset", ASSETS)
def test_stress_day_is_the_largest_day_and_holds_the_largest_hour(
    bundled: dict[str, Any], asset: str
) -> None:
    data = bundled["assets"][asset]
    days = _days(data)
    assert max(days, key=lambda d: days[d]) == STRESS
    ratio = days[STRESS] / statistics.median(_normal_days(data).values())
    assert 8 <= ratio <= 15
    top = max(data, key=lambda d: d["total_amount"])
    assert top["interval_time"] == f"{STRESS}T14:00:00Z"
    assert top["total_trades"] == max(d["total_trades"] for d in data)
    # Decaying over the next hours: each of 14:00..18:00 larger than the next.
    cascade = [d["total_trades"] for d in data if d["interval_time"][:13] >= f"{STRESS}T14"][:5]
    assert cascade == sorted(cascade, reverse=True)


@pytest.mark.parametrize("asset", ASSETS)
def test_stress_day_is_mostly_long_liquidations(bundled: dict[str, Any], asset: str) -> None:
    data = bundled["assets"][asset]
    stress = [d for d in data if d["interval_time"].startswith(STRESS)]
    long_usd = sum(d["long_amount"] for d in stress) / sum(d["total_amount"] for d in stress)
    long_n = sum(d["long_trades"] for d in stress) / sum(d["total_trades"] for d in stress)
    assert long_usd > 0.7 and long_n > 0.7
    calm = [d for d in data if d["interval_time"][:10] <= "2025-10-28"]
    calm_n = sum(d["long_trades"] for d in calm) / sum(d["total_trades"] for d in calm)
    assert 0.4 <= calm_n <= 0.6


@pytest.mark.parametrize("asset", ASSETS)
def test_heavy_tail_and_clustering(bundled: dict[str, Any], asset: str) -> None:
    data = bundled["assets"][asset]
    hours = sorted((d["total_amount"] for d in data), reverse=True)
    top = len(hours) // 100  # the top 1% of hours
    assert sum(hours[:top]) / sum(hours) > 0.15  # fifteen times their share
    normal = sorted(
        (d["total_amount"] for d in data if d["interval_time"][:10] != STRESS), reverse=True
    )
    assert sum(normal[: len(normal) // 100]) / sum(normal) > 0.04
    # Clustering: busy hours follow busy hours.
    logs = [math.log(d["total_trades"]) for d in data if d["interval_time"][:10] != STRESS]
    mean = statistics.fmean(logs)
    lag1 = sum((a - mean) * (b - mean) for a, b in itertools.pairwise(logs))
    assert lag1 / sum((x - mean) ** 2 for x in logs) > 0.5


def test_meta_summary_matches_the_data(bundled: dict[str, Any]) -> None:
    for asset in ASSETS:
        summary = bundled["meta"]["summary"][asset]
        days = _days(bundled["assets"][asset])
        assert summary["stress_day_usd"] == pytest.approx(days[STRESS], abs=0.01)
        median = statistics.median(_normal_days(bundled["assets"][asset]).values())
        assert summary["normal_day_median_usd"] == pytest.approx(median, abs=0.01)
