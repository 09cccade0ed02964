"""Dispatcher run budget from the server's limits (engine/budget.py): pure, no database."""

import pytest

from odoo.addons.finance_sync.engine import budget


@pytest.mark.parametrize(
    ("cron", "real", "cpu", "prefork", "expected"),
    [
        (-1, 120, 60, False, 120),  # Odoo's defaults, threaded: limit_time_real applies to crons
        (300, 120, 60, False, 300),  # an explicit cron limit wins
        (0, 120, 60, False, 120),  # 0 is not "no limit" for a threaded server's cron threads
        (-1, 0, 0, False, budget.DEFAULT_LIMIT),  # nothing configured: assume Odoo's default
        (300, 120, 60, True, 60),  # prefork: the CPU limit bounds the run too
        (24, 24, 60, True, 24),
    ],
)
def test_server_limit(cron, real, cpu, prefork, expected):
    assert budget.server_limit(cron, real, cpu, prefork) == expected


def test_run_budget_keeps_a_margin_and_a_ceiling():
    assert budget.run_budget(120) == 90  # 25 %
    assert budget.run_budget(24) == 14  # at least 10 s
    assert budget.run_budget(5) == 0
    assert budget.run_budget(10_000) == budget.MAX_BUDGET


def test_a_timeout_fits_when_two_rounds_fit_the_budget():
    assert budget.fits(45, 120)
    assert not budget.fits(46, 120)
    assert budget.fits(7, 24)
    assert not budget.fits(8, 24)
