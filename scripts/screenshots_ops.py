"""Take the operations pack's pictures (docs/screens/ops_*.png, make screens).

Prometheus (Debian's ``prometheus``) scrapes ``/finance_sync/metrics`` of the scratch database
that scripts/screenshots.py left behind (demo data and its story), with the alert rules of
docs/ops, for about a minute; a headless Chromium then takes its alerts page and a graph of the
outbox. The Grafana dashboard of docs/ops reads the same series (Grafana itself is not packaged
in Debian, so it is not started here). Without ``prometheus`` the pictures are skipped, saying so.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import requests
import screenshots as shots

from odoo.tools import config

RULES = shots.ROOT / "docs" / "ops" / "finance_sync_alerts.yml"
SCRAPE_SECONDS = 5
COLLECT_SECONDS = 60


def start_prometheus(binary, workdir, odoo_port, token):
    """A Prometheus on 127.0.0.1 scraping the Odoo server every few seconds; return (process, url)."""
    from odoo.addons.finance_sync.tests.servers import free_port

    # The rules are read from a copy beside the configuration, so that the pictures show their
    # file name and not where the repository happens to be.
    shutil.copy(RULES, workdir / RULES.name)
    token_file = workdir / "token"
    token_file.write_text(token)
    config_file = workdir / "prometheus.yml"
    # JSON is YAML: no YAML writer needed.
    config_file.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": f"{SCRAPE_SECONDS}s", "evaluation_interval": f"{SCRAPE_SECONDS}s"},
                "rule_files": [RULES.name],
                "scrape_configs": [
                    {
                        "job_name": "finance_sync",
                        "metrics_path": "/finance_sync/metrics",
                        "authorization": {"type": "Bearer", "credentials_file": str(token_file)},
                        "static_configs": [{"targets": [f"127.0.0.1:{odoo_port}"]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/-/ready", timeout=2).ok:
                return process, url
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("Prometheus did not start")
        time.sleep(0.5)


def scraped(url):
    """Whether Prometheus reads the metrics (the scrape is up)."""
    up = requests.get(f"{url}/api/v1/query", params={"query": 'up{job="finance_sync"}'}, timeout=10).json()
    return any(result["value"][1] == "1" for result in up["data"]["result"])


def graph(expression, minutes=2):
    query = urllib.parse.urlencode({"g0.expr": expression, "g0.tab": "0", "g0.range_input": f"{minutes}m"})
    return f"/classic/graph?{query}"


def main():
    binary = shutil.which("prometheus")
    if not binary:
        shots.say("prometheus is not installed (Debian: prometheus): the operations pictures are skipped")
        return
    if not shots.CONF.exists():
        raise SystemExit("Run make setup first (it writes .build/odoo.conf).")
    config.parse_config(["-c", str(shots.CONF), "-d", shots.DB, "--db-filter", f"^{shots.DB}$", "--log-level=warn"])
    threading.current_thread().dbname = shots.DB
    databases = subprocess.run(["psql", "-lqtA"], capture_output=True, text=True, check=True).stdout
    if shots.DB not in {line.split("|", 1)[0] for line in databases.splitlines()}:
        raise SystemExit(f"No database {shots.DB}: run scripts/screenshots.py first (make screens runs both).")
    from odoo.addons.finance_sync.engine import metrics
    from odoo.addons.finance_sync.tests.servers import OdooServer

    token = metrics.generate_token()
    with shots.environment() as env:
        env["res.config.settings"].create({"finance_sync_metrics_token": token}).execute()
    server = OdooServer(shots.DB, "--max-cron-threads=0")
    workdir = Path(tempfile.mkdtemp(prefix="prometheus_"))
    server.start()
    prometheus = browser = None
    try:
        prometheus, url = start_prometheus(binary, workdir, server.port, token)
        shots.say(f"Prometheus scrapes the demo for {COLLECT_SECONDS} s")
        time.sleep(COLLECT_SECONDS)
        if not scraped(url):
            targets = requests.get(f"{url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            errors = "; ".join(target.get("lastError") or target["health"] for target in targets)
            raise SystemExit(f"Prometheus could not read /finance_sync/metrics: {errors}")
        browser = shots.Browser(url)
        browser.open("/classic/alerts", ".container-fluid", "FinanceSyncCircuitOpen")
        browser.shot("ops_prometheus_alerts")
        browser.open(graph("sum by (backend, state) (finance_sync_jobs)"), ".graph_area svg")
        browser.shot("ops_prometheus_outbox")
    finally:
        if browser:
            browser.close()
        if prometheus:
            prometheus.terminate()
            prometheus.wait(10)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
