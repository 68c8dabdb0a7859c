"""Each metric pinned on hand-computed fixtures (figures worked out in the comments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reporting.checks.measures import (
    compact_hours,
    funding_swing,
    imbalance,
    largest_window,
    missing_intervals,
    open_interest_change,
    reconciliation_pct,
    share_pct,
    staleness_hours,
)
from reporting.checks.overlays import FundingPoint, OpenInterestPoint, funding_interval_hours
from tests.limit_factories import H0, hour

END = H0 + timedelta(days=1)


def test_largest_hour_and_two_hour_run() -> None:
    # 13:00 $5 (1), 14:00 $9 (2), 15:00 $8 (9), 20:00 $10 (1): the largest hour is 20:00 ($10),
    # the largest two hours 14:00-15:00 ($17, 11 liquidations), not 20:00-21:00 ($10).
    hourly = {hour(13): (5.0, 1), hour(14): (9.0, 2), hour(15): (8.0, 9), hour(20): (10.0, 1)}
    one = largest_window(hourly, H0, END, 1)
    two = largest_window(hourly, H0, END, 2)
    assert one is not None and (one.start, one.usd, one.count) == (hour(20), 10.0, 1)
    assert two is not None and (two.start, two.usd, two.count) == (hour(14), 17.0, 11)
    by_count = largest_window(hourly, H0, END, 1, by="count")
    assert by_count is not None and (by_count.start, by_count.count) == (hour(15), 9)
    by_count_2h = largest_window(hourly, H0, END, 2, by="count")
    # 14-15: 11; 15-16: 9; 13-14: 3 -> 14:00
    assert by_count_2h is not None and (by_count_2h.start, by_count_2h.count) == (hour(14), 11)


def test_windows_stay_inside_the_day_and_ties_go_to_the_earliest() -> None:
    # 23:00 alone: a two-hour window 23:00-01:00 would leave the day, so 22:00-23:00 holds it.
    last = largest_window({hour(23): (4.0, 1)}, H0, END, 2)
    assert last is not None and (last.start, last.usd) == (hour(22), 4.0)
    tie = largest_window({hour(3): (2.0, 1), hour(9): (2.0, 1)}, H0, END, 1)
    assert tie is not None and tie.start == hour(3)
    assert largest_window({}, H0, END, 1) is None


def test_rolling_hour_is_bounded_by_the_largest_hour_and_two_hour_run() -> None:
    # The methodology's claim: any 60-minute window meets at most two hourly intervals, so the
    # true rolling maximum lies between the largest hour and the largest two-hour run.
    hourly = {hour(h): (float((h * 7) % 11), 1) for h in range(24)}
    one = largest_window(hourly, H0, END, 1)
    two = largest_window(hourly, H0, END, 2)
    assert one is not None and two is not None
    for h in range(23):
        for minutes in range(0, 60, 15):  # a window starting inside hour h
            share = (60 - minutes) / 60
            window = share * hourly[hour(h)][0] + (1 - share) * hourly[hour(h + 1)][0]
            assert window <= two.usd
    assert one.usd <= two.usd


def test_imbalance_is_the_dominant_side() -> None:
    # long 80, short 20 -> long 80%; long 30, short 70 -> short 70% (long share 30%)
    longs = imbalance(80.0, 20.0)
    shorts = imbalance(30.0, 70.0)
    assert longs is not None and (longs.side, longs.dominant_pct, longs.long_pct) == (
        "long",
        80,
        80,
    )
    assert shorts is not None and shorts.side == "short"
    assert shorts.dominant_pct == pytest.approx(70) and shorts.long_pct == pytest.approx(30)
    assert imbalance(0.0, 0.0) is None


def test_share() -> None:
    assert share_pct(25.0, 200.0) == pytest.approx(12.5)
    assert share_pct(1.0, 0.0) is None


def test_funding_swing_of_the_article() -> None:
    # The seed: funding swung from -0.04% to -0.12% per eight hours: 8 bps.
    day = [
        FundingPoint(hour(0), -0.0004),
        FundingPoint(hour(8), -0.0007),
        FundingPoint(hour(16), -0.0012),
    ]
    swing = funding_swing(day)
    assert swing is not None
    assert swing.swing_bps == pytest.approx(8.0)
    assert (swing.first_bps, swing.last_bps) == pytest.approx((-4.0, -12.0))
    assert funding_swing(day[:1]) is None and funding_swing([]) is None


def test_funding_is_put_per_eight_hours() -> None:
    # An hourly venue at 0.005% per hour is 0.04% per 8h (4 bps); against 1 bp per 8h: 3 bps.
    swing = funding_swing(
        [FundingPoint(hour(1), 0.00005, interval_hours=1), FundingPoint(hour(8), 0.0001)]
    )
    assert swing is not None and swing.swing_bps == pytest.approx(3.0)
    assert (swing.low_bps, swing.high_bps) == pytest.approx((1.0, 4.0))


def test_funding_swing_is_measured_along_one_venue() -> None:
    # binc -4 -> -12 bps (8); okex +5 -> +2 (3). Across venues the spread is 17 bps, which is
    # not a swing: the figure is binc's 8.
    points = [
        FundingPoint(hour(0), -0.0004, venue="binc BTCUSDT"),
        FundingPoint(hour(0), 0.0005, venue="okex BTC-USDT-SWAP"),
        FundingPoint(hour(16), -0.0012, venue="binc BTCUSDT"),
        FundingPoint(hour(16), 0.0002, venue="okex BTC-USDT-SWAP"),
        FundingPoint(hour(8), 0.0009, venue="bbit BTCUSDT"),  # one settlement: no swing
    ]
    swing = funding_swing(points)
    assert swing is not None and swing.venue == "binc BTCUSDT" and swing.venues == 2
    assert swing.swing_bps == pytest.approx(8.0)


def test_funding_interval_is_read_from_the_settlement_spacing() -> None:
    assert funding_interval_hours([hour(0), hour(8), hour(16)]) == 8.0
    assert funding_interval_hours([hour(0), hour(4), hour(16)]) == 4.0
    assert funding_interval_hours([hour(3)]) == 8.0


def test_open_interest_is_summed_over_venues_seen_on_both_days() -> None:
    y = timedelta(days=1)
    before = [
        OpenInterestPoint(hour(23) - y, 100.0, "binc"),
        OpenInterestPoint(hour(23) - y, 50.0, "okex"),
    ]
    today = [OpenInterestPoint(hour(22), 90.0, "binc"), OpenInterestPoint(hour(23), 45.0, "okex"),
             OpenInterestPoint(hour(23), 999.0, "bbit")]  # fmt: skip
    change = open_interest_change(before, today)  # (90 + 45) / (100 + 50) - 1 = -10%
    assert not isinstance(change, str)
    assert change.change_pct == pytest.approx(-10.0) and change.venues == ("binc", "okex")
    assert "both days" in str(open_interest_change(before, [OpenInterestPoint(hour(1), 1.0, "x")]))


def test_open_interest_change_day_over_day() -> None:
    before = [
        OpenInterestPoint(hour(12) - timedelta(days=1), 90.0),
        OpenInterestPoint(hour(23) - timedelta(days=1), 200.0),
    ]
    today = [OpenInterestPoint(hour(10), 210.0), OpenInterestPoint(hour(23), 150.0)]
    change = open_interest_change(before, today)  # last of each day: 200 -> 150 = -25%
    assert not isinstance(change, str)
    assert change.change_pct == pytest.approx(-25.0)
    assert "day before" in str(open_interest_change([], today))
    assert "for the day" in str(open_interest_change(before, []))


def test_gaps_and_staleness() -> None:
    received = [hour(h) for h in range(24) if h not in (3, 7, 8, 22, 23)]
    assert missing_intervals(received, H0, END) == [hour(3), hour(7), hour(8), hour(22), hour(23)]
    # checked at 09:30: only intervals ended by then count (00..08): 3, 7, 8 missing
    assert missing_intervals(received, H0, hour(9) + timedelta(minutes=30)) == [
        hour(3),
        hour(7),
        hour(8),
    ]
    assert compact_hours([hour(3), hour(7), hour(8), hour(22), hour(23)]) == (
        "03:00, 07:00-08:00, 22:00-23:00"
    )
    # newest interval 21:00-22:00, day ends 24:00: 2 hours behind
    assert staleness_hours(hour(21), END) == pytest.approx(2.0)
    assert staleness_hours(hour(23), END) == 0.0
    with pytest.raises(ValueError, match="no interval"):
        staleness_hours(None, END)


def test_reconciliation() -> None:
    assert reconciliation_pct(100.0, 96.0) == pytest.approx(4.0)  # 4 of the larger 100
    assert reconciliation_pct(96.0, 100.0) == pytest.approx(4.0)
    assert reconciliation_pct(0.0, 0.0) == 0.0


def test_point_times_are_utc_aware() -> None:
    assert FundingPoint(datetime(2025, 1, 1, tzinfo=UTC), 0.0001).bps_per_8h == pytest.approx(1.0)
