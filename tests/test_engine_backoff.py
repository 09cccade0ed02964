"""Retry delays (engine/backoff.py): exponential backoff, jitter, Retry-After. No database."""

import random
from datetime import datetime, timedelta, timezone

import pytest

from odoo.addons.finance_sync.engine import backoff

NOW = datetime(2026, 3, 1, 10, 0, 0)  # naive UTC, as Odoo keeps datetimes


def middle():
    return 0.5


# --- compute_delay -------------------------------------------------------------------------------


def test_delay_doubles_per_attempt_from_30_seconds():
    assert [backoff.compute_delay(n, rng=middle) for n in range(1, 7)] == [30, 60, 120, 240, 480, 960]


def test_delay_follows_base_and_factor():
    assert [backoff.compute_delay(n, base=10, factor=3, rng=middle) for n in (1, 2, 3)] == [10, 30, 90]


def test_delay_is_capped_at_six_hours_by_default():
    assert backoff.compute_delay(11, rng=middle) == 6 * 3600  # 30 * 2**10 = 30720 > 21600
    assert backoff.compute_delay(10, rng=middle) == 15360
    assert backoff.compute_delay(5, cap=100, rng=middle) == 100


def test_huge_attempt_numbers_stay_at_the_cap_without_overflow():
    assert backoff.compute_delay(10**6, rng=middle) == 6 * 3600
    assert backoff.compute_delay(10**9, factor=1e10, rng=middle) == 6 * 3600


@pytest.mark.parametrize("attempt", [0, -1, -100])
def test_attempts_below_one_count_as_the_first(attempt):
    assert backoff.compute_delay(attempt, rng=middle) == 30


def test_jitter_spreads_the_delay_within_twenty_percent():
    assert backoff.compute_delay(1, rng=lambda: 0.0) == pytest.approx(24)
    assert backoff.compute_delay(1, rng=lambda: 1.0) == pytest.approx(36)
    assert backoff.compute_delay(1, rng=lambda: 0.25) == pytest.approx(27)
    assert backoff.compute_delay(1, jitter=0, rng=lambda: 1.0) == 30


def test_jitter_really_varies_with_the_default_random_source():
    delays = {backoff.compute_delay(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(96 <= delay <= 144 for delay in delays)


def test_delay_bounds_hold_for_any_draw():
    draws = random.Random(42)  # noqa: S311 - reproducible draws, not cryptography
    for attempt in range(-2, 40):
        for draw in (0.0, 1.0, draws.random(), draws.random()):
            delay = backoff.compute_delay(attempt, rng=lambda d=draw: d)
            assert 0 <= delay <= 6 * 3600 * 1.2


def test_an_out_of_range_random_source_cannot_break_the_bounds():
    assert backoff.compute_delay(50, rng=lambda: 7.0) == pytest.approx(6 * 3600 * 1.2)
    assert backoff.compute_delay(1, rng=lambda: -3.0) == pytest.approx(24)


def test_delay_never_negative_even_with_odd_settings():
    assert backoff.compute_delay(1, jitter=2.0, rng=lambda: 0.0) == 0
    assert backoff.compute_delay(1, base=-5, rng=middle) == 0


# --- parse_retry_after --------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("120", 120), ("0", 0), (" 7 ", 7), ("86400", 86400)])
def test_retry_after_in_seconds(value, seconds):
    assert backoff.parse_retry_after(value, NOW) == seconds


def test_retry_after_as_an_http_date():
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 10:05:00 GMT", NOW) == 300


def test_retry_after_date_in_another_zone_is_converted():
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 12:05:00 +0200", NOW) == 300


def test_retry_after_date_without_zone_is_taken_as_utc():
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 10:01:00 -0000", NOW) == 60


def test_retry_after_date_in_the_past_means_now():
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 09:00:00 GMT", NOW) == 0


def test_retry_after_accepts_an_aware_now():
    aware = NOW.replace(tzinfo=timezone.utc) + timedelta(minutes=1)
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 10:05:00 GMT", aware) == 240
    other_zone = aware.astimezone(timezone(timedelta(hours=-5)))
    assert backoff.parse_retry_after("Sun, 01 Mar 2026 10:05:00 GMT", other_zone) == 240


@pytest.mark.parametrize(
    "value", [None, "", "   ", "soon", "-5", "1.5", "²", "Sun, 01 Mar 99999 10:05:00 GMT", "Fri, 32 Foo"]
)
def test_unreadable_retry_after_is_none(value):
    assert backoff.parse_retry_after(value, NOW) is None


# --- next_delay ---------------------------------------------------------------------------------


def test_retry_after_is_honoured_exactly():
    assert backoff.next_delay(3, retry_after=7) == 7
    assert backoff.next_delay(1, retry_after=0) == 0
    assert backoff.next_delay(9, retry_after=1234.5) == 1234.5


def test_retry_after_is_clamped():
    assert backoff.next_delay(1, retry_after=10**9) == 86400
    assert backoff.next_delay(1, retry_after=10**9, max_retry_after=600) == 600
    assert backoff.next_delay(1, retry_after=-30) == 0


def test_without_retry_after_the_backoff_applies_with_its_options():
    assert backoff.next_delay(3, rng=middle) == 120
    assert backoff.next_delay(3, base=5, rng=middle) == 20
    assert backoff.next_delay(3, retry_after=None, base=5, jitter=0) == 20


def test_retry_after_header_to_delay_end_to_end():
    seconds = backoff.parse_retry_after("Sun, 01 Mar 2026 10:00:45 GMT", NOW)
    assert backoff.next_delay(4, retry_after=seconds) == 45
