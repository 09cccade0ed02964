"""Prometheus exposition (engine/metrics.py) and the document figures read from a captured
payload (engine/payload.py): pure, no database."""

import re
from datetime import datetime

from odoo.addons.finance_sync.engine import metrics
from odoo.addons.finance_sync.engine import payload as payload_lib

LINE = re.compile(r'^[a-z_]+\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)+\} (?:-?[0-9.e+]+|\+Inf)$')


def render(**facts):
    return metrics.render(
        [(7, metrics.BackendFacts(name=facts.pop("name", "Warehouse"), state="active", **facts))],
        job_states=("pending", "dead"),
        categories=("transport",),
        reconciliation_states=("none", "matched", "mismatched"),
    )


def test_every_sample_line_is_well_formed_under_one_header():
    text = render(
        jobs={"pending": 3},
        attempts={"done": 10, "retry": 1, "gave_up": 1},
        last_success=datetime(2026, 12, 1, 8, 0, 0),
    )
    names = dict(re.findall(r"^# TYPE (\w+) (gauge|counter|histogram)$", text, re.MULTILINE))
    assert len(re.findall(r"^# TYPE ", text, re.MULTILINE)) == len(names) == 14
    for line in text.splitlines():
        assert line.startswith("# ") or LINE.match(line), line
    assert 'finance_sync_jobs{backend="Warehouse",backend_id="7",state="pending"} 3.0' in text
    assert 'finance_sync_jobs{backend="Warehouse",backend_id="7",state="dead"} 0.0' in text
    assert names["finance_sync_deliveries_total"] == names["finance_sync_attempts_total"] == "counter"
    assert names["finance_sync_attempt_duration_seconds"] == "histogram"
    assert 'finance_sync_deliveries_total{backend="Warehouse",backend_id="7"} 10.0' in text
    assert 'finance_sync_failures_total{backend="Warehouse",backend_id="7"} 2.0' in text
    assert 'finance_sync_retries_total{backend="Warehouse",backend_id="7"} 1.0' in text
    assert 'finance_sync_dead_jobs_total{backend="Warehouse",backend_id="7"} 1.0' in text
    assert 'finance_sync_attempts_total{backend="Warehouse",backend_id="7",outcome="pause"} 0.0' in text
    assert 'finance_sync_last_success_timestamp_seconds{backend="Warehouse",backend_id="7"} 1.796112e+09' in text


def test_the_duration_histogram_is_cumulative_with_its_sum_and_count():
    buckets = [0] * (len(metrics.DURATION_BOUNDS_MS) + 1)
    for duration in (0, 25, 26, 1000, 1001, 30000, 30001, 90000):
        buckets[metrics.bucket_of(duration)] += 1
    text = render(duration_buckets=buckets, duration_sum_ms=152053)
    series = dict(re.findall(r'finance_sync_attempt_duration_seconds_bucket\{.*le="([^"]+)"\} (\S+)', text))
    assert series["0.025"] == "2.0", "0 and 25 ms: a bound is inclusive"
    assert series["0.05"] == "3.0"
    assert series["1"] == "4.0"
    assert series["2.5"] == "5.0"
    assert series["30"] == "6.0"
    assert series["+Inf"] == "8.0"
    assert list(series) == [*(f"{bound / 1000:g}" for bound in metrics.DURATION_BOUNDS_MS), "+Inf"]
    assert 'finance_sync_attempt_duration_seconds_count{backend="Warehouse",backend_id="7"} 8.0' in text
    assert 'finance_sync_attempt_duration_seconds_sum{backend="Warehouse",backend_id="7"} 152.053' in text


def test_circuit_and_late_deliveries_are_gauges():
    text = render(circuit_open=True, late_deliveries=4)
    assert 'finance_sync_circuit_open{backend="Warehouse",backend_id="7"} 1.0' in text
    assert 'finance_sync_late_deliveries{backend="Warehouse",backend_id="7"} 4.0' in text


def test_label_values_are_escaped():
    text = render(name='A "quoted"\\ name\nwith a line feed')
    assert 'backend="A \\"quoted\\"\\\\ name\\nwith a line feed"' in text
    assert all(line.startswith("# ") or LINE.match(line) for line in text.splitlines())


def test_reconciliation_status_is_one_hot():
    text = render(reconciliation="mismatched")
    values = dict(re.findall(r'finance_sync_reconciliation_status\{.*status="(\w+)"\} (\S+)', text))
    assert values == {"none": "0.0", "matched": "0.0", "mismatched": "1.0"}


def test_document_figures_of_invoices_payments_and_pings():
    invoice = {"document": {"amounts": {"total": "121.00", "untaxed": "100.00"}, "amount": None, "date": "2026-11-05"}}
    assert payload_lib.document_figures(invoice) == ("121.00", "2026-11-05")
    payment = {"document": {"amount": "50.00", "date": "2026-11-06"}}
    assert payload_lib.document_figures(payment) == ("50.00", "2026-11-06")
    assert payload_lib.document_figures({"type": "ping"}) == (None, None)
