"""Period feeds' plain logic (engine/feeds.py): periods, finality, hashes and parts. No database."""

from datetime import date
from decimal import Decimal

import pytest

from odoo.addons.finance_sync.engine import feeds


def test_event_type_per_kind_and_unknown_kind_refused():
    assert [feeds.event_type(kind) for kind in feeds.KINDS] == [
        "feed.trial_balance",
        "feed.ar_aging",
        "feed.ap_aging",
        "feed.gl_summary",
    ]
    with pytest.raises(ValueError):
        feeds.event_type("balance_sheet")


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2025, 2, 14), (date(2025, 2, 1), date(2025, 2, 28))),
        (date(2024, 2, 29), (date(2024, 2, 1), date(2024, 2, 29))),
        (date(2025, 12, 31), (date(2025, 12, 1), date(2025, 12, 31))),
    ],
)
def test_month_bounds(day, expected):
    assert feeds.month_bounds(day) == expected


def test_previous_and_next_month_cross_the_year():
    assert feeds.previous_month(date(2025, 1, 15)) == (date(2024, 12, 1), date(2024, 12, 31))
    assert feeds.next_month(date(2025, 12, 1)) == (date(2026, 1, 1), date(2026, 1, 31))


def test_scheduled_periods_and_next_run():
    today = date(2025, 3, 1)
    assert feeds.scheduled_periods("monthly", today) == [(date(2025, 2, 1), date(2025, 2, 28))]
    assert feeds.scheduled_periods("daily", today) == [
        (date(2025, 2, 1), date(2025, 2, 28)),
        (date(2025, 3, 1), date(2025, 3, 31)),
    ]
    assert feeds.scheduled_periods("manual", today) == []
    assert feeds.next_run_date("daily", today) == date(2025, 3, 2)
    assert feeds.next_run_date("weekly", today) == date(2025, 3, 8)
    assert feeds.next_run_date("monthly", date(2025, 3, 17)) == date(2025, 4, 1)
    assert feeds.next_run_date("period_close", today) is None


def test_closed_periods_are_the_months_the_lock_date_covers_after_the_last_final_one():
    assert feeds.closed_periods(date(2025, 3, 31), date(2024, 12, 31)) == [
        (date(2025, 1, 1), date(2025, 1, 31)),
        (date(2025, 2, 1), date(2025, 2, 28)),
        (date(2025, 3, 1), date(2025, 3, 31)),
    ]
    # a lock date in the middle of a month closes the months before it only
    assert feeds.closed_periods(date(2025, 3, 15), date(2025, 1, 31)) == [(date(2025, 2, 1), date(2025, 2, 28))]
    assert feeds.closed_periods(date(2025, 1, 31), date(2025, 1, 31)) == []
    assert feeds.closed_periods(None, date(2025, 1, 31)) == []
    # a start in the middle of a month: that month is the first one
    assert feeds.closed_periods(date(2025, 2, 28), date(2025, 2, 9)) == [(date(2025, 2, 1), date(2025, 2, 28))]
    assert len(feeds.closed_periods(date(2030, 12, 31), date(2020, 12, 31))) == feeds.MAX_CLOSE_PERIODS


def test_final_once_the_lock_date_covers_the_period_end():
    assert feeds.is_final(date(2025, 2, 28), date(2025, 2, 28))
    assert feeds.is_final(date(2025, 3, 31), date(2025, 2, 28))
    assert not feeds.is_final(date(2025, 2, 27), date(2025, 2, 28))
    assert not feeds.is_final(None, date(2025, 2, 28))


def test_content_hash_follows_the_figures_only():
    rows = [{"account": {"id": 1, "code": "400000", "name": "Sales"}, "debit": "0.00", "credit": "10.00"}]
    totals = {"debit": "0.00", "credit": "10.00"}
    first = feeds.content_hash("trial_balance", 1, date(2025, 2, 1), date(2025, 2, 28), rows, totals)
    assert len(first) == 64
    same = feeds.content_hash("trial_balance", 1, date(2025, 2, 1), date(2025, 2, 28), [dict(rows[0])], dict(totals))
    assert same == first
    changed = [{**rows[0], "credit": "10.01"}]
    assert feeds.content_hash("trial_balance", 1, date(2025, 2, 1), date(2025, 2, 28), changed, totals) != first
    assert feeds.content_hash("trial_balance", 2, date(2025, 2, 1), date(2025, 2, 28), rows, totals) != first
    assert feeds.content_hash("gl_summary", 1, date(2025, 2, 1), date(2025, 2, 28), rows, totals) != first


def test_split_parts_keeps_order_and_every_row():
    rows = list(range(12))
    parts = feeds.split_parts(rows, 5)
    assert parts == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert feeds.split_parts(rows, 12) == [rows]
    assert feeds.split_parts([], 5) == [[]], "an empty period is still one part"
    with pytest.raises(ValueError):
        feeds.split_parts(rows, 0)


def test_allocate_keeps_the_exact_total_to_the_cent():
    shares = [Decimal("60.006"), Decimal("40.004")]
    assert feeds.allocate(Decimal("100.01"), shares, 2) == [Decimal("60.01"), Decimal("40.00")]
    thirds = [Decimal("33.3333333333")] * 3
    rounded = feeds.allocate(Decimal("100.00"), thirds, 2)
    assert sum(rounded) == Decimal("100.00")
    assert sorted(rounded) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    assert feeds.allocate(Decimal("-10.00"), [Decimal("-3.335"), Decimal("-6.665")], 2) == [
        Decimal("-3.34"),
        Decimal("-6.66"),
    ]
    assert feeds.allocate(Decimal("0"), [], 2) == []
