"""Prometheus exposition (engine/metrics.py) and the document figures read from a captured
payload (engine/payload.py): pure, no database."""

import re
from datetime import datetime

from odoo.addons.finance_sync.engine import metrics
from odoo.addons.finance_sync.engine import payload as payload_lib

LINE = re.compile(r'^[a-z_]+\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)+\} -?[0-9.e+]+$')


def render(**facts):
    return metrics.render(
        [(7, metrics.BackendFacts(name=facts.pop("name", "Warehouse"), state="active", **facts))],
        job_states=("pending", "dead"),
        categories=("transport",),
        reconciliation_states=("none", "matched", "mismatched"),
    )


def test_every_sample_line_is_well_formed_under_one_header():
    text = render(jobs={"pending": 3}, deliveries=10, failures=2, last_success=datetime(2026, 12, 1, 8, 0, 0))
    names = re.findall(r"^# TYPE (\w+) (gauge|counter)$", text, re.MULTILINE)
    assert len(names) == len({name for name, _kind in names}) == 8
    for line in text.splitlines():
        assert line.startswith("# ") or LINE.match(line), line
    assert 'finance_sync_jobs{backend_id="7",backend="Warehouse",state="pending"} 3' in text
    assert 'finance_sync_jobs{backend_id="7",backend="Warehouse",state="dead"} 0' in text
    assert "finance_sync_deliveries_total" in dict(names) and dict(names)["finance_sync_deliveries_total"] == "counter"
    assert 'finance_sync_last_success_timestamp_seconds{backend_id="7",backend="Warehouse"} 1796112000.0' in text


def test_label_values_are_escaped():
    text = render(name='A "quoted"\\ name\nwith a line feed')
    assert 'backend="A \\"quoted\\"\\\\ name\\nwith a line feed"' in text
    assert all(line.startswith("# ") or LINE.match(line) for line in text.splitlines())


def test_reconciliation_status_is_one_hot():
    text = render(reconciliation="mismatched")
    values = dict(re.findall(r'finance_sync_reconciliation_status\{.*status="(\w+)"\} (\d)', text))
    assert values == {"none": "0", "matched": "0", "mismatched": "1"}


def test_document_figures_of_invoices_payments_and_pings():
    invoice = {"document": {"amounts": {"total": "121.00", "untaxed": "100.00"}, "amount": None, "date": "2026-11-05"}}
    assert payload_lib.document_figures(invoice) == ("121.00", "2026-11-05")
    payment = {"document": {"amount": "50.00", "date": "2026-11-06"}}
    assert payload_lib.document_figures(payment) == ("50.00", "2026-11-06")
    assert payload_lib.document_figures({"type": "ping"}) == (None, None)
