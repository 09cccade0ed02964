"""Memory probe of bench_outbound.py, not a benchmark of its own (scripts/bench.sh skips it).

bench_outbound.py runs it through `odoo-bin shell` in a fresh process, once per backlog size,
so that nothing an earlier measurement allocated hides or inflates this one. It warms the
dispatcher up on a few jobs (schema validators, HTTP session, ORM caches), then samples this
process's resident memory while one time-bounded dispatcher run works on the backlog of backend
BENCH_PROBE_BACKEND (sending for BENCH_PROBE_SECONDS), and prints one line:

    BENCH_PROBE {"rss_before": bytes, "rss_peak": bytes, "sent": attempts, "seconds": run time}
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import gc
import json
import os
import threading
import time

import psutil

from odoo.addons.finance_sync import const
from odoo.addons.finance_sync.engine.scheduler import own_transactions

WARM_UP_JOBS = 50
SAMPLE_SECONDS = 0.01


class PeakRSS:
    """Samples this process's resident set size in a thread and keeps the highest value."""

    def __init__(self):
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def probe(env):
    backend_id = int(os.environ["BENCH_PROBE_BACKEND"])
    seconds = float(os.environ.get("BENCH_PROBE_SECONDS", "5"))
    cr = env.cr
    dispatcher = env["finance.sync.dispatcher"]
    backend = env["finance.sync.backend"].browse(backend_id)

    cr.execute("SELECT id FROM finance_sync_job WHERE backend_id = %s ORDER BY id LIMIT %s", (backend_id, WARM_UP_JOBS))
    warm_up_ids = [row[0] for row in cr.fetchall()]
    dispatcher._run(time.monotonic() + 60, *own_transactions(cr), backend_ids=[backend_id], job_ids=warm_up_ids)
    env.invalidate_all()
    gc.collect()

    # Requests start while a whole timeout and the closing margin still fit before the deadline.
    deadline_after = seconds + backend.timeout + const.DISPATCH_MIN_SLICE_SECONDS
    rss_before = psutil.Process().memory_info().rss
    with PeakRSS() as rss:
        start = time.monotonic()
        sent, _more = dispatcher._run(start + deadline_after, *own_transactions(cr), backend_ids=[backend_id])
        elapsed = time.monotonic() - start
    result = {"rss_before": rss_before, "rss_peak": rss.peak, "sent": sent, "seconds": elapsed}
    print("BENCH_PROBE", json.dumps(result), flush=True)


probe(env)
