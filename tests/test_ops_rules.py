"""The operations pack (docs/ops/): the Prometheus alert rules and the Grafana dashboard read only
series the metrics endpoint really exposes, each rule says what to do, and the rules behave as
their own unit tests say (``promtool test rules``, when Prometheus' promtool is installed)."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from odoo.addons.finance_sync.engine import metrics

OPS = Path(__file__).resolve().parent.parent / "docs" / "ops"
OPERATIONS = OPS.parent / "operations.md"
RULES = OPS / "finance_sync_alerts.yml"
RULE_TESTS = OPS / "finance_sync_alerts_test.yml"
DASHBOARD = OPS / "finance_sync_grafana.json"
METRIC_NAME = re.compile(r"\bfinance_sync_[a-z_]+\b")
# What operations teams are promised an alert for (the list), by rule name.
REQUIRED_ALERTS = {
    "FinanceSyncBacklogOld",  # backlog age
    "FinanceSyncFailureRate",
    "FinanceSyncCircuitOpen",
    "FinanceSyncReconciliationMismatched",
    "FinanceSyncLateDeliveries",
}


def exposed_series():
    """Every series name the endpoint writes (histograms as _bucket, _count and _sum)."""
    text = metrics.render(
        [(1, metrics.BackendFacts(name="Ledger", state="active"))],
        job_states=("pending",),
        categories=("transport",),
        reconciliation_states=("none", "mismatched"),
    )
    return {line.split("{", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def dashboard_queries(backend=".+", rate_interval="1m"):
    """(panel title, expression) for every query of the Grafana dashboard, its variables given
    the values a Prometheus without Grafana can read (every backend, a one-minute rate)."""
    values = {"backend": backend, "__rate_interval": rate_interval}
    return [
        (panel["title"], re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], target["expr"]))
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]


def rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_every_rule_reads_exposed_series_and_says_what_to_do():
    series = exposed_series()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("## ")
    }
    names = set()
    for rule in rules():
        names.add(rule["alert"])
        used = set(METRIC_NAME.findall(rule["expr"]))
        assert used <= series, (rule["alert"], used - series)
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], rule["alert"]
        page, _sep, anchor = annotations["runbook"].partition("#")
        assert (OPS.parent.parent / page).is_file() and anchor in anchors, annotations["runbook"]
    assert names >= REQUIRED_ALERTS, REQUIRED_ALERTS - names


def test_the_rule_tests_cover_every_rule():
    tested = {
        case["alertname"]
        for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in group.get("alert_rule_test", ())
    }
    assert tested == {rule["alert"] for rule in rules()}


def test_the_dashboard_reads_exposed_series():
    series = exposed_series()
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels)
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert {"datasource", "backend"} <= variables
    seen = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            used = set(METRIC_NAME.findall(target["expr"]))
            assert used and used <= series, (panel["title"], used - series)
            seen |= used
    for variable in dashboard["templating"]["list"]:
        used = set(METRIC_NAME.findall(variable.get("definition", "")))
        assert used <= series, (variable["name"], used - series)
        seen |= used
    # Every family the endpoint exposes is on the dashboard, or deliberately left to the alerts.
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in series}
    assert families - {re.sub(r"_(bucket|count|sum)$", "", name) for name in seen} <= {
        "finance_sync_deliveries_total",
        "finance_sync_failures_total",
    }


@pytest.mark.skipif(not shutil.which("promtool"), reason="Prometheus' promtool is not installed (Debian: prometheus)")
def test_promtool_checks_and_tests_the_rules():
    check = subprocess.run(
        ["promtool", "check", "rules", RULES.name], cwd=OPS, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    tested = subprocess.run(
        ["promtool", "test", "rules", RULE_TESTS.name], cwd=OPS, capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.skipif(not shutil.which("promtool"), reason="Prometheus' promtool is not installed (Debian: prometheus)")
def test_promtool_parses_every_dashboard_query(tmp_path):
    """Grafana is not run here: each panel's PromQL goes through Prometheus' own parser instead,
    as a recording rule (a typo in a dashboard query otherwise shows only as an empty panel)."""
    queries = dashboard_queries()
    assert queries and not any("$" in expr for _title, expr in queries)
    records = [{"record": f"dashboard:query_{index}", "expr": expr} for index, (_title, expr) in enumerate(queries)]
    (tmp_path / "dashboard.yml").write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}))
    check = subprocess.run(
        ["promtool", "check", "rules", "dashboard.yml"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{len(records)} rules found" in check.stdout
