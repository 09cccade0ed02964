"""Period feeds: periods, content hashes and parts, in plain Python.

The Odoo side computes a feed's figures with SQL aggregates; this module decides which periods a
schedule covers, fingerprints what a run says (so an unchanged feed is not sent again) and cuts
its rows into numbered parts the platform reassembles.
"""

import calendar
import hashlib
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from . import payload as payload_lib

KIND_TRIAL_BALANCE = "trial_balance"
KIND_AR_AGING = "ar_aging"
KIND_AP_AGING = "ap_aging"
KIND_GL_SUMMARY = "gl_summary"
KINDS = (KIND_TRIAL_BALANCE, KIND_AR_AGING, KIND_AP_AGING, KIND_GL_SUMMARY)
AGING_KINDS = (KIND_AR_AGING, KIND_AP_AGING)

# Aging buckets: (name, first day overdue, last day overdue or None), on the due date
# (the line's maturity date, else its accounting date).
AGING_BUCKETS = (
    ("not_due", None, 0),
    ("days_1_30", 1, 30),
    ("days_31_60", 31, 60),
    ("days_61_90", 61, 90),
    ("over_90", 91, None),
)

DEFAULT_PART_SIZE = 5000
MAX_CLOSE_PERIODS = 24  # months a period-close feed catches up on at once


def event_type(kind):
    """The outbound event type of a feed kind (``feed.trial_balance`` ...)."""
    if kind not in KINDS:
        raise ValueError(f"unknown feed kind {kind!r}")
    return f"feed.{kind}"


def month_bounds(day):
    """(first day, last day) of the calendar month of ``day``."""
    last = calendar.monthrange(day.year, day.month)[1]
    return date(day.year, day.month, 1), date(day.year, day.month, last)


def previous_month(day):
    """(first day, last day) of the month before the month of ``day``."""
    return month_bounds(date(day.year, day.month, 1) - timedelta(days=1))


def next_month(first_day):
    """(first day, last day) of the month after the month starting ``first_day``."""
    return month_bounds(month_bounds(first_day)[1] + timedelta(days=1))


def scheduled_periods(schedule, today):
    """The periods a daily, weekly or monthly feed sends on ``today``: the month just closed and,
    except for monthly feeds, the month in progress (an unchanged one is not sent again)."""
    if schedule == "monthly":
        return [previous_month(today)]
    if schedule in ("daily", "weekly"):
        return [previous_month(today), month_bounds(today)]
    return []


def next_run_date(schedule, today):
    """When a daily, weekly or monthly feed runs next after running on ``today``."""
    if schedule == "daily":
        return today + timedelta(days=1)
    if schedule == "weekly":
        return today + timedelta(days=7)
    if schedule == "monthly":
        return next_month(today)[0]
    return None


def closed_periods(lock_date, after, limit=MAX_CLOSE_PERIODS):
    """The months that ``lock_date`` covers entirely and that end after ``after`` (the end of the
    last period sent as final, or the day before the feed's first period), oldest first, at most
    ``limit`` of the most recent ones."""
    if not lock_date or not after or lock_date <= after:
        return []
    periods = []
    first, last = next_month(after)
    if after != month_bounds(after)[1]:  # ``after`` is not a month end: its own month is next
        first, last = month_bounds(after + timedelta(days=1))
    while last <= lock_date:
        periods.append((first, last))
        first, last = next_month(first)
    return periods[-limit:]


def is_final(lock_date, date_to):
    """A period is final once the chosen lock date covers its last day."""
    return bool(lock_date) and lock_date >= date_to


def content_hash(kind, company_id, date_from, date_to, rows, totals):
    """SHA-256 of what a run says (not of who sent it, when, or in which version): two runs with
    the same hash carry the same figures."""
    body = {
        "kind": kind,
        "company": company_id,
        "date_from": payload_lib.iso_date(date_from),
        "date_to": payload_lib.iso_date(date_to),
        "rows": rows,
        "totals": totals,
    }
    return hashlib.sha256(payload_lib.canonical_json(body)).hexdigest()


def allocate(exact, shares, decimal_places):
    """Round ``shares`` (Decimals adding up to ``exact``) to ``decimal_places`` so that they still
    add up to ``exact`` rounded: the rounding difference goes to the largest share. This is how an
    account's figures split by analytic account keep the account's own total to the cent."""
    quantum = Decimal(1).scaleb(-decimal_places)
    rounded = [share.quantize(quantum, rounding=ROUND_HALF_UP) for share in shares]
    difference = Decimal(exact).quantize(quantum, rounding=ROUND_HALF_UP) - sum(rounded, Decimal(0))
    if difference and rounded:
        largest = max(range(len(shares)), key=lambda index: abs(shares[index]))
        rounded[largest] += difference
    return rounded


def split_parts(rows, size=DEFAULT_PART_SIZE):
    """``rows`` cut into consecutive parts of at most ``size`` rows; one empty part when there is
    no row (the platform still learns the period's figures are empty)."""
    if size < 1:
        raise ValueError("a part holds at least one row")
    if not rows:
        return [[]]
    return [rows[start : start + size] for start in range(0, len(rows), size)]
