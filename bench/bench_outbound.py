"""Outbound benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints each figure beside its reference, with its goal and a PASS or
MISS verdict, all measured in one run.

The dispatcher is measured as the worker cron runs it: `_run` on its own database cursor,
committing as the cron does (bodies frozen synchronously before sending, claims and outcomes
asynchronously). Its events are ping jobs, one document each (per-document ordering never holds
one back), created with SQL and committed before the run; every scenario deletes its backend,
jobs and attempts afterwards. The receiver is bench/receiver.py in a process of its own,
threaded, HTTP/1.1 keep-alive, answering 200 `{}`. A dispatcher rate counts the jobs over the
time from the start of the run until every job has been attempted once, body freezing included.

1. Dispatch, receiver answering at once: the dispatcher (one worker, max_concurrent 8) vs
   (a) one `requests.Session` POSTing the same frozen bodies one after the other and (b) 8
   threads with a session each, in interleaved rounds (fresh jobs each round); the figure is the
   median of the per-round ratios. Goal: at least 0.6 x (a); (b) is shown for information.
2. Dispatch, receiver answering after 50 ms: the dispatcher vs 8 concurrent sessions, the same
   concurrency as the backend's max_concurrent. Goal: at least 0.8 x.
3. Stalled requests: at 50 ms, every 50th request (2 %) is held longer than the backend's 2 s
   timeout. The stalled jobs are rescheduled (30 s backoff); the rate counts first attempts,
   until every job has been attempted once, vs the fault-free rate of figure 2. Goal: at least
   0.5 x.
4. Two workers vs one at 50 ms: two threads, each with its own cursor running `_run`, vs one
   (each bounded by max_concurrent 8; the receiver serves any number of requests at once).
   Goal: at least 1.7 x.
5. Posting overhead: time to post invoices with the capture hooks active (1 and 3 active
   backends) vs disabled (utils.without_capture). Every posting posts the same
   committed drafts, from a cold cache as a request would, and is rolled back, the database
   vacuumed after it; each round posts every variant (in a rotating order) and the figure is
   the median of the per-round ratios.
   Goals: at most 1.10 x with one backend, 1.15 x with three.
6. Memory: peak resident memory of a dispatcher process during a run sending for a fixed time
   (receiver at 0 ms) with 100,000 vs 10,000 pending jobs, each measured in fresh processes
   (bench/memory_probe.py), median of rounds. Goal: flat, at most 1.1 x. The growth during the
   run (peak less the memory before it) is shown beside it: it stays well under a MiB in both,
   so its own ratio is the noise of the allocator rather than a trend. The attempt rates of
   those runs are shown for information: a dispatcher should not slow down as its backlog grows.

Sizes (environment variables): BENCH_EVENTS and BENCH_DISPATCH_ROUNDS (figure 1, default 1000
and 5), BENCH_SLOW_EVENTS
(figures 2 and 3, 600), BENCH_WORKER_EVENTS (figure 4, 1200), BENCH_INVOICES and BENCH_ROUNDS
(figure 5, 100 and 40), BENCH_MEMORY_JOBS, BENCH_MEMORY_SECONDS and BENCH_MEMORY_ROUNDS (figure 6,
"10000,100000", 5 and 3). BENCH_ONLY runs only the named sections (comma-separated: no_latency,
latency_and_stalls, workers, posting, memory).
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import gc
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import traceback
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import psutil
import psycopg2
import requests

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.addons.finance_sync.bench.benchlib import note, report, section, verdicts
from odoo.addons.finance_sync.engine.scheduler import own_transactions
from odoo.addons.finance_sync.utils import without_capture
from odoo.modules.module import get_module_path
from odoo.tools import config

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000"))
DISPATCH_ROUNDS = int(os.environ.get("BENCH_DISPATCH_ROUNDS", "5"))
SLOW_EVENTS = int(os.environ.get("BENCH_SLOW_EVENTS", "600"))
WORKER_EVENTS = int(os.environ.get("BENCH_WORKER_EVENTS", "1200"))
INVOICES = int(os.environ.get("BENCH_INVOICES", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))
MEMORY_JOBS = [int(n) for n in os.environ.get("BENCH_MEMORY_JOBS", "10000,100000").split(",")]
MEMORY_SECONDS = float(os.environ.get("BENCH_MEMORY_SECONDS", "5"))
MEMORY_ROUNDS = int(os.environ.get("BENCH_MEMORY_ROUNDS", "3"))

LATENCY_MS = 50
STALL_EVERY = 50  # 2 % of the requests
CONCURRENCY = 8
BACKEND_SETTINGS = {
    "max_concurrent": CONCURRENCY,
    "timeout": 2,  # seconds: a stalled request holds its slot this long
    "max_attempts": 8,
    "circuit_threshold": 1000,  # stalls must not open the circuit
}
RUN_SECONDS = 300  # deadline of a measured dispatcher run: far beyond what any scenario needs
BENCH_DIR = Path(get_module_path("finance_sync")) / "bench"
JSON_HEADERS = {"Content-Type": "application/json"}
MIB = 1024 * 1024


# === RECEIVER === #


class Receiver:
    """bench/receiver.py in its own process, for the duration of a ``with`` block."""

    def __init__(self, latency_ms=0, stall_every=0, stall_seconds=0.0):
        self.args = [
            f"--latency-ms={latency_ms}",
            f"--stall-every={stall_every}",
            f"--stall-seconds={stall_seconds}",
        ]
        self.process = None
        self.url = None

    def __enter__(self):
        command = [sys.executable, str(BENCH_DIR / "receiver.py"), *self.args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        port = self.process.stdout.readline().strip()
        if not port.isdigit():
            self.process.kill()
            raise RuntimeError(f"receiver did not start: {port!r}")
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    def __exit__(self, *exc_info):
        self.process.terminate()
        self.process.wait(10)
        self.process.stdout.close()


# === DATA === #


def create_backend(env, url, name):
    """A committed active backend with the benchmark's settings."""
    backend = env["finance.sync.backend"].create(
        {
            "name": name,
            "endpoint_url": url,
            "state": "active",
            "company_ids": [(6, 0, env.company.ids)],
            **BACKEND_SETTINGS,
        }
    )
    env.cr.commit()
    return backend


def add_ping_jobs(env, backend, count):
    """``count`` more pending ping jobs of ``backend``, one new synthetic document each, committed."""
    template = backend._prepare_ping_payload("")
    due = fields.Datetime.now() - timedelta(seconds=1)
    env.cr.execute("SELECT COALESCE(max(res_id), 0) FROM finance_sync_job WHERE backend_id = %s", (backend.id,))
    last_document = env.cr.fetchone()[0]
    env.cr.execute(
        """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id,
                                         sequence, state, attempt_count, next_attempt_at, payload,
                                         create_uid, write_uid, create_date, write_date)
           SELECT %(backend)s, %(company)s, uuid, 'ping', 'res.partner', %(last)s + n, 1, 'pending', 0, %(due)s,
                  jsonb_set(%(payload)s::jsonb, '{event_id}', to_jsonb(uuid)), %(uid)s, %(uid)s, %(due)s, %(due)s
             FROM (SELECT n, gen_random_uuid()::text AS uuid FROM generate_series(1, %(count)s) n) AS new""",
        {
            "backend": backend.id,
            "company": env.company.id,
            "last": last_document,
            "due": due,
            "payload": json.dumps(template),
            "uid": SUPERUSER_ID,
            "count": count,
        },
    )
    # Statistics as autovacuum takes them soon after such a burst: every run plans its queries
    # on the same picture of the table, whatever autovacuum did meanwhile.
    env.cr.execute("ANALYZE finance_sync_job")
    env.cr.commit()


def drop_backend(env, backend):
    """Delete ``backend`` with its jobs, attempts and exceptions, committed."""
    env.invalidate_all()
    env["finance.sync.exception"].search([("backend_id", "=", backend.id)]).unlink()
    env.cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend.id,))  # attempts cascade
    backend.unlink()
    env.cr.commit()


def attempted_jobs(env, backend):
    """{job state: count} of the jobs attempted at least once, and how many were not."""
    env.cr.execute(
        """SELECT state, count(*) FILTER (WHERE attempt_count > 0), count(*) FILTER (WHERE attempt_count = 0)
             FROM finance_sync_job WHERE backend_id = %s GROUP BY state""",
        (backend.id,),
    )
    rows = env.cr.fetchall()
    return {state: done for state, done, _left in rows if done}, sum(left for _state, _done, left in rows)


def frozen_bodies(env, backend):
    env.cr.execute("SELECT body FROM finance_sync_job WHERE backend_id = %s ORDER BY id", (backend.id,))
    return [body.encode() for (body,) in env.cr.fetchall()]


# === DISPATCHER === #


def run_workers(dbname, backend, workers=1):
    """Run ``workers`` dispatcher workers at once, each in a thread on its own cursor, until
    nothing is due. :return: (seconds, attempts made, SQL queries made)"""
    barrier = threading.Barrier(workers + 1, timeout=60)
    results, errors = [], []

    def work():
        try:
            with closing(sql_db.db_connect(dbname).cursor()) as cr:
                dispatcher = api.Environment(cr, SUPERUSER_ID, {})["finance.sync.dispatcher"]
                barrier.wait()
                sent, _more = dispatcher._run(
                    time.monotonic() + RUN_SECONDS, *own_transactions(cr), backend_ids=[backend.id]
                )
                results.append((sent, cr.sql_log_count))
        except Exception:
            errors.append(traceback.format_exc())
            barrier.abort()

    threads = [threading.Thread(target=work, name=f"bench_worker_{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError("dispatcher worker failed:\n" + "\n".join(errors))
    return elapsed, sum(sent for sent, _q in results), sum(queries for _s, queries in results)


def dispatch(env, url, events, workers=1, name="Bench"):
    """Dispatch ``events`` fresh ping jobs to ``url`` with ``workers`` workers.

    :return: (events attempted per second, frozen bodies)
    """
    backend = create_backend(env, url, name)
    try:
        add_ping_jobs(env, backend, events)
        process = psutil.Process()
        cpu_before = sum(process.cpu_times()[:2])
        psutil.cpu_percent()  # starts the interval the next call measures
        elapsed, sent, queries = run_workers(env.cr.dbname, backend, workers)
        machine = psutil.cpu_percent()
        cpu_ms = (sum(process.cpu_times()[:2]) - cpu_before) * 1000 / max(sent, 1)
        states, never_attempted = attempted_jobs(env, backend)
        note(
            f"{name}: {sent} attempts in {elapsed:.2f} s, each {queries / max(sent, 1):.1f} SQL queries and "
            f"{cpu_ms:.1f} ms of this process's CPU (all CPUs {machine:.0f}% busy); jobs attempted by state {states}"
        )
        if never_attempted:
            note(f"WARNING: {never_attempted} of {events} jobs were never attempted")
        return (events - never_attempted) / elapsed, frozen_bodies(env, backend)
    finally:
        drop_backend(env, backend)


# === REFERENCES: bare requests === #


def post_all(url, bodies):
    with requests.Session() as session:
        for body in bodies:
            session.post(url, data=body, headers=JSON_HEADERS, timeout=30).raise_for_status()


def sequential_rate(url, bodies):
    start = time.perf_counter()
    post_all(url, bodies)
    return len(bodies) / (time.perf_counter() - start)


def concurrent_rate(url, bodies, threads=CONCURRENCY):
    errors = []

    def post_share(share):
        try:
            post_all(url, share)
        except Exception as exc:
            errors.append(exc)

    workers = [threading.Thread(target=post_share, args=(bodies[i::threads],)) for i in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(bodies) / elapsed


# === FIGURES 1-4 === #


def bench_no_latency(env):
    section(
        f"1. Dispatch, receiver at 0 ms: {EVENTS} ping events, one worker, max_concurrent {CONCURRENCY}, "
        f"median of {DISPATCH_ROUNDS} rounds"
    )
    rates, sequentials, concurrents = [], [], []
    with Receiver() as receiver:
        for round_ in range(DISPATCH_ROUNDS):  # interleaved: drift and noise hit the three alike
            rate, bodies = dispatch(env, receiver.url, EVENTS, name=f"Bench 0 ms, round {round_ + 1}")
            rates.append(rate)
            sequentials.append(sequential_rate(receiver.url, bodies))
            concurrents.append(concurrent_rate(receiver.url, bodies))
    note(f"bodies: {statistics.mean(map(len, bodies)):.0f} bytes on average")
    runs = (("dispatcher", rates), ("sequential", sequentials), (f"{CONCURRENCY} concurrent", concurrents))
    for label, values in runs:
        note(f"{label:<13} " + "  ".join(f"{value:6.1f} ev/s" for value in values))
    for ref_label, refs, goal in (
        ("sequential requests", sequentials, 0.6),
        (f"{CONCURRENCY} concurrent requests", concurrents, None),
    ):
        ratios = [rate / ref for rate, ref in zip(rates, refs, strict=True)]
        note(f"vs {ref_label}: ratio per round " + "  ".join(f"{ratio:.2f}" for ratio in ratios))
        report(
            "dispatch @0ms",
            statistics.median(rates),
            ref_label,
            statistics.median(refs),
            "ev/s",
            goal=goal,
            ratio=statistics.median(ratios),
        )


def bench_latency_and_stalls(env):
    section(f"2. Dispatch, receiver at {LATENCY_MS} ms: {SLOW_EVENTS} events, max_concurrent {CONCURRENCY}")
    with Receiver(latency_ms=LATENCY_MS) as receiver:
        fault_free, bodies = dispatch(env, receiver.url, SLOW_EVENTS, name=f"Bench {LATENCY_MS} ms")
        concurrent = concurrent_rate(receiver.url, bodies)
    report(f"dispatch @{LATENCY_MS}ms", fault_free, f"{CONCURRENCY} concurrent requests", concurrent, "ev/s", goal=0.8)

    timeout = BACKEND_SETTINGS["timeout"]
    section(
        f"3. Stalls: at {LATENCY_MS} ms, every {STALL_EVERY}th request held {timeout + 1} s "
        f"(backend timeout {timeout} s); rate of first attempts of {SLOW_EVENTS} events"
    )
    with Receiver(latency_ms=LATENCY_MS, stall_every=STALL_EVERY, stall_seconds=timeout + 1) as receiver:
        stalled, _bodies = dispatch(env, receiver.url, SLOW_EVENTS, name="Bench stalls")
    report("first attempts, 2% stalled", stalled, f"fault-free dispatch @{LATENCY_MS}ms", fault_free, "ev/s", goal=0.5)


def bench_workers(env):
    section(f"4. Workers: at {LATENCY_MS} ms, {WORKER_EVENTS} events, max_concurrent {CONCURRENCY} per worker")
    with Receiver(latency_ms=LATENCY_MS) as receiver:
        one, _bodies = dispatch(env, receiver.url, WORKER_EVENTS, workers=1, name="Bench 1 worker")
        two, _bodies = dispatch(env, receiver.url, WORKER_EVENTS, workers=2, name="Bench 2 workers")
    report(f"2 workers @{LATENCY_MS}ms", two, f"1 worker @{LATENCY_MS}ms", one, "ev/s", goal=1.7)


# === FIGURE 5: posting overhead === #


def make_drafts(env, n):
    company = env.company
    partner = env["res.partner"].create({"name": "Bench customer"})
    income = env["account.account"].search(
        [("account_type", "=", "income"), ("company_ids", "in", company.ids)], limit=1
    )
    vals = [
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": "2026-01-15",
            "invoice_line_ids": [
                (0, 0, {"name": f"Line {i}-{j}", "quantity": 1 + j, "price_unit": 10.0 + i, "account_id": income.id})
                for j in range(3)
            ],
        }
        for i in range(n)
    ]
    return env["account.move"].create(vals)


def vacuum(env):
    """VACUUM the database from a connection of its own (it cannot run in a transaction): the
    dead rows of a rolled-back posting would otherwise slow every later round down."""
    _db, info = sql_db.connection_info_for(env.cr.dbname)
    with closing(psycopg2.connect(**info)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")


def _as_is(moves):
    return moves


def timed_post(env, moves, prepare, backends_active):
    """Seconds to post the draft ``moves``, in a transaction rolled back afterwards (so the same
    drafts serve every posting): (wall clock, CPU of this process and of its PostgreSQL backend
    together)."""
    cr = env.cr
    try:
        # Only the variant's backends capture: paused backends queue events too, so the others
        # go back to draft (which captures nothing).
        env["finance.sync.backend"].search([]).write({"state": "draft"})
        backends_active.write({"state": "active"})
        env.flush_all()
        env.invalidate_all()  # the drafts are read by the posting, as in a request of its own
        cr.execute("SELECT pg_backend_pid()")
        backend = psutil.Process(cr.fetchone()[0])
        gc.collect()  # a collection triggered by the previous variant's garbage would be charged to this one
        cpu_start = time.process_time() + sum(backend.cpu_times()[:2])
        start = time.perf_counter()
        prepare(moves).action_post()
        env.flush_all()
        wall = time.perf_counter() - start
        return wall, time.process_time() + sum(backend.cpu_times()[:2]) - cpu_start
    finally:
        cr.rollback()
        env.invalidate_all()
        vacuum(env)


def bench_posting(env):
    section(f"5. Posting overhead: {INVOICES} invoices (3 lines each), median of {ROUNDS} rounds")
    moves = env["account.move"]
    try:
        backends = env["finance.sync.backend"].create(
            [
                {
                    "name": f"Bench posting {i}",
                    "endpoint_url": "http://127.0.0.1:9/hook",  # never called: posting only captures
                    "state": "draft",
                    "company_ids": [(6, 0, env.company.ids)],
                }
                for i in range(3)
            ]
        )
        moves = make_drafts(env, INVOICES)
        env.cr.commit()  # every timed posting rolls its own transaction back
        variants = [
            ("off", without_capture, backends[:1]),
            ("1 backend", _as_is, backends[:1]),
            ("3 backends", _as_is, backends),
        ]
        for _name, prepare, active in variants:  # warm-up: caches, statement plans, allocator
            timed_post(env, moves, prepare, active)
        results = {name: [] for name, _c, _a in variants}
        for round_ in range(ROUNDS):  # interleaved, each variant in every position, so drift hits all alike
            for name, prepare, active in variants[round_ % 3 :] + variants[: round_ % 3]:
                results[name].append(timed_post(env, moves, prepare, active))
    finally:
        env.cr.rollback()
        moves = moves.exists()
        customers = moves.partner_id
        moves.unlink()
        customers.unlink()
        env["finance.sync.backend"].search([("name", "=like", "Bench posting %")]).unlink()
        env.cr.commit()
    for variant, times in results.items():
        note(f"{variant:<10} " + "  ".join(f"{wall:.3f} s" for wall, _cpu in times))
    # Each variant is compared with the capture-off posting of its own round (the database is
    # vacuumed after each posting, so no round pays for the dead rows of the ones before), and
    # the median of those ratios is the figure (the medians of the times are shown beside it).
    # The CPU time of Odoo and its database backend together is shown for information: posting
    # is CPU-bound, so on an idle machine it tracks the wall clock, and it stays meaningful when
    # the machine is busy with something else, which the wall clock does not.
    off = statistics.median(wall for wall, _cpu in results["off"])
    off_cpu = statistics.median(cpu for _wall, cpu in results["off"])
    for variant, goal in (("1 backend", 1.10), ("3 backends", 1.15)):
        ratios = [value[0] / base[0] for value, base in zip(results[variant], results["off"], strict=True)]
        cpu_ratios = [value[1] / base[1] for value, base in zip(results[variant], results["off"], strict=True)]
        note(f"{variant}: ratio per round " + "  ".join(f"{r:.2f}" for r in ratios))
        note(f"{variant}: CPU ratio per round " + "  ".join(f"{r:.2f}" for r in cpu_ratios))
        report(
            f"posting, {variant}",
            statistics.median(wall for wall, _cpu in results[variant]),
            "capture off",
            off,
            "s",
            goal=goal,
            at_most=True,
            fmt="8.3f",
            ratio=statistics.median(ratios),
        )
        report(
            f"posting CPU, {variant}",
            statistics.median(cpu for _wall, cpu in results[variant]),
            "capture off",
            off_cpu,
            "s",
            fmt="8.3f",
            ratio=statistics.median(cpu_ratios),
        )


# === FIGURE 6: memory === #


def run_probe(env, backend):
    """Run bench/memory_probe.py in a fresh `odoo-bin shell` process on ``backend``'s backlog."""
    command = [
        sys.executable,
        sys.argv[0],  # odoo-bin
        "shell",
        "-c",
        config["config"],
        "-d",
        env.cr.dbname,
        "--no-http",
        "--log-level=warn",
    ]
    probe_env = dict(os.environ, BENCH_PROBE_BACKEND=str(backend.id), BENCH_PROBE_SECONDS=str(MEMORY_SECONDS))
    with open(BENCH_DIR / "memory_probe.py", encoding="utf-8") as script:
        done = subprocess.run(
            command, stdin=script, capture_output=True, text=True, env=probe_env, timeout=300, check=False
        )
    found = re.search(r"^BENCH_PROBE (.*)$", done.stdout, re.MULTILINE)
    if not found:
        raise RuntimeError(f"memory probe failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return json.loads(found.group(1))


def memory_use(env, url, jobs):
    """Medians over MEMORY_ROUNDS fresh processes of a dispatcher run with ``jobs`` pending: the
    peak resident memory (bytes), its growth during the run, and the attempts per second."""
    backend = create_backend(env, url, f"Bench memory {jobs}")
    peaks, growths, rates = [], [], []
    try:
        for _round in range(MEMORY_ROUNDS):
            # Every probe starts from the same backlog: what the last one froze or sent is replaced.
            env.cr.execute(
                "DELETE FROM finance_sync_job WHERE backend_id = %s AND (state != 'pending' OR body IS NOT NULL)",
                (backend.id,),
            )
            env.cr.execute("SELECT count(*) FROM finance_sync_job WHERE backend_id = %s", (backend.id,))
            add_ping_jobs(env, backend, jobs - env.cr.fetchone()[0])
            result = run_probe(env, backend)
            peaks.append(result["rss_peak"])
            growths.append(result["rss_peak"] - result["rss_before"])
            rates.append(result["sent"] / result["seconds"])
            note(
                f"{jobs:>7} pending: RSS {result['rss_before'] / MIB:6.1f} MiB before the run, peak "
                f"{result['rss_peak'] / MIB:6.1f} MiB (+{growths[-1] / MIB:.2f}); "
                f"{result['sent']} attempts in {result['seconds']:.1f} s"
            )
    finally:
        drop_backend(env, backend)
    return statistics.median(peaks), statistics.median(growths), statistics.median(rates)


def bench_memory(env):
    small, large = MEMORY_JOBS
    section(
        f"6. Memory: dispatcher sending for {MEMORY_SECONDS:g} s at 0 ms with {small} vs {large} pending jobs, "
        f"median of {MEMORY_ROUNDS} fresh processes each"
    )
    with Receiver() as receiver:
        small_peak, small_growth, small_rate = memory_use(env, receiver.url, small)
        large_peak, large_growth, large_rate = memory_use(env, receiver.url, large)
    report(
        f"peak RSS, {large} pending",
        large_peak / MIB,
        f"peak RSS, {small} pending",
        small_peak / MIB,
        "MiB",
        goal=1.1,
        at_most=True,
        fmt="8.1f",
    )
    report(
        f"RSS growth, {large} pending",
        large_growth / MIB,
        f"RSS growth, {small} pending",
        small_growth / MIB,
        "MiB",
        fmt="8.2f",
    )
    report(f"dispatch, {large} pending", large_rate, f"dispatch, {small} pending", small_rate, "ev/s")


def main(env):
    """Every section, in order; one that fails is reported and counts as a goal missed."""
    start = time.perf_counter()
    failed = []
    sections = (bench_no_latency, bench_latency_and_stalls, bench_workers, bench_posting, bench_memory)
    only = {name.strip() for name in os.environ.get("BENCH_ONLY", "").split(",") if name.strip()}
    for bench in sections:
        if only and bench.__name__.removeprefix("bench_") not in only:
            continue
        env.cr.rollback()
        try:
            bench(env)
        except Exception:
            failed.append(bench.__name__)
            verdicts.append(False)
            print(f"ERROR in {bench.__name__}:\n{traceback.format_exc()}", flush=True)
    env.cr.rollback()
    print(f"\n{sum(verdicts)} of {len(verdicts)} goals met ({time.perf_counter() - start:.0f} s)", flush=True)
    if failed:
        sys.exit(f"benchmark sections failed: {', '.join(failed)}")


main(env)
