"""Circuit breaker verdict (engine/circuit.py): pure, no database."""

from datetime import datetime, timedelta

from odoo.addons.finance_sync.engine import circuit as circuit_lib
from odoo.addons.finance_sync.engine.circuit import Circuit

NOW = datetime(2026, 3, 1, 10, 0, 0)


def test_consecutive_failures_count_retries_until_another_outcome():
    assert circuit_lib.consecutive_failures(["retry", "retry", "done", "retry"]) == 2
    assert circuit_lib.consecutive_failures(["failed", "retry"]) == 0
    assert circuit_lib.consecutive_failures(None) == 0
    assert circuit_lib.consecutive_failures(["gave_up", "retry", "done"]) == 2, "a job that gave up failed too"


def test_closed_below_threshold_open_during_cooldown_then_half_open():
    circuit = Circuit(threshold=3, cooldown=60, failures=2, latest_failure=NOW)
    assert circuit.state(NOW) == "closed"
    assert circuit.open_until() is None
    circuit.record("retry", NOW)
    assert circuit.state(NOW + timedelta(seconds=59)) == "open"
    assert circuit.open_until() == NOW + timedelta(seconds=60)
    assert circuit.state(NOW + timedelta(seconds=60)) == "half_open"


def test_in_flight_allowance_shrinks_with_failures_and_is_one_probe_when_half_open():
    circuit = Circuit(threshold=3, cooldown=60)
    assert circuit.allowed_in_flight(NOW, 8) == 8, "healthy: the backend's concurrency"
    circuit.record("retry", NOW)
    assert circuit.allowed_in_flight(NOW, 8) == 2, "never more than the failures still tolerated"
    circuit.record("retry", NOW)
    circuit.record("retry", NOW)
    assert circuit.allowed_in_flight(NOW, 8) == 0, "open"
    assert circuit.allowed_in_flight(NOW + timedelta(seconds=61), 8) == 1, "one probe"


def test_a_failed_probe_reopens_at_once_and_a_success_closes():
    circuit = Circuit(threshold=2, cooldown=10, failures=2, latest_failure=NOW)
    later = NOW + timedelta(seconds=11)
    assert circuit.state(later) == "half_open"
    circuit.record("retry", later)
    assert circuit.state(later) == "open"
    assert circuit.open_until() == later + timedelta(seconds=10)
    circuit.record("done", later + timedelta(seconds=30))
    assert (circuit.state(later), circuit.failures) == ("closed", 0)


def test_refusals_do_not_count_as_transport_failures():
    circuit = Circuit(threshold=1, cooldown=10)
    circuit.record("failed", NOW)
    circuit.record("pause", NOW)
    assert circuit.state(NOW) == "closed"
