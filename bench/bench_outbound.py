"""Outbound benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints each figure beside its reference, with its goal and a PASS or
MISS verdict, all measured in one run.

The dispatcher is measured as the worker cron runs it: `_run` on its own database cursor,
committing as the cron does (bodies frozen synchronously before sending, claims and outcomes
asynchronously). Its events are realistic documents: the ``invoice.posted`` payload of a real
invoice of 10 lines, each with the company's sales tax, captured once, then inserted with SQL
for as many new synthetic documents as needed (one event each, so per-document ordering never
holds one back) and committed before the run; every scenario deletes its backend, jobs and
attempts afterwards. The receiver is bench/receiver.py in a process of its own, threaded,
HTTP/1.1 keep-alive, answering 200 `{}`. A dispatcher rate counts the jobs over the time from
the start of the run until every job has been attempted once, body freezing included. The
references are bare `requests` loops sending the very bodies the dispatcher froze.

1. Dispatch, receiver answering at once: the dispatcher (one worker, max_concurrent 8) vs
   (a) one `requests.Session` POSTing the same frozen bodies one after the other and (b) 8
   threads with a session each (the same concurrency), in interleaved rounds (fresh jobs each
   round); the figure is the median of the per-round ratios. Goals: at least 0.8 x (a) and
   0.7 x (b). Beside it, where the time goes: the CPU a delivered event costs the dispatcher
   (Odoo's process and its PostgreSQL backend) vs the CPU a request costs the bare sequential
   loop, and the dispatcher's SQL round trips per event (Odoo's count of executed queries).
2. Dispatch, receiver answering after 50 ms: the dispatcher vs 8 concurrent sessions, the same
   concurrency as the backend's max_concurrent. Goal: at least 0.9 x.
3. Stalled requests: at 50 ms, every 50th request (2 %) is held longer than the backend's 2 s
   timeout. The stalled jobs are rescheduled (30 s backoff); the rate counts first attempts,
   until every job has been attempted once, vs the fault-free rate of figure 2. Goal: at least
   0.5 x.
4. Two workers vs one at 50 ms: two threads, each with its own cursor running `_run`, vs one
   (each bounded by max_concurrent 8; the receiver serves any number of requests at once).
   Goal: at least 1.7 x.
5. Posting overhead: time to post 100 invoices of 10 taxed lines with the capture hooks active
   (1 and 3 active backends; and capture switched off, for information) vs the same posting
   in a second database with Odoo's accounting and not this module (BENCH_BARE_DB, created by
   `make bench`). Every posting posts the same committed drafts, from a cold cache as a request
   would, and is rolled back, the database vacuumed after it; each round posts every variant
   (in a rotating order) and the figure is the median of the per-round ratios.
   Goals: at most 1.08 x with one backend, 1.12 x with three.
6. Backlog: a dispatcher process sending for a fixed time (receiver at 0 ms) with 10^6 vs 10^4
   pending jobs of a realistic mix (per customer: its partner.upserted, two invoices of three
   events each waiting for it, three payments), each measured in fresh processes
   (bench/memory_probe.py), median of rounds. The outbox is filled with one
   `INSERT ... SELECT generate_series` (minutes for 10^6). Goals: attempts/s at least 0.9 x,
   peak resident memory at most 1.1 x, and the time of the dispatcher's choice of due jobs (the
   claim's query, timed by `EXPLAIN (ANALYZE, BUFFERS)`, whose plans are printed) at most 1.5 x.
   The growth of memory during the run is shown for information.

Sizes (environment variables): BENCH_EVENTS and BENCH_DISPATCH_ROUNDS (figure 1, default 1000
and 5), BENCH_SLOW_EVENTS
(figures 2 and 3, 600), BENCH_WORKER_EVENTS (figure 4, 1200), BENCH_INVOICES and BENCH_ROUNDS
(figure 5, 100 and 40), BENCH_MEMORY_JOBS, BENCH_MEMORY_SECONDS and BENCH_MEMORY_ROUNDS (figure 6,
"10000,1000000", 5 and 3). BENCH_ONLY runs only the named sections (comma-separated: no_latency,
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
import time
import traceback
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import psutil
import psycopg2
import requests

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.addons.finance_sync import const
from odoo.addons.finance_sync.bench.benchlib import note, report, section, timed_threads, verdicts
from odoo.addons.finance_sync.engine.scheduler import own_transactions
from odoo.addons.finance_sync.models import finance_sync_outbox as outbox
from odoo.addons.finance_sync.utils import without_capture
from odoo.modules.module import get_module_path
from odoo.modules.registry import Registry
from odoo.tools import SQL, config

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000"))
DISPATCH_ROUNDS = int(os.environ.get("BENCH_DISPATCH_ROUNDS", "5"))
SLOW_EVENTS = int(os.environ.get("BENCH_SLOW_EVENTS", "600"))
WORKER_EVENTS = int(os.environ.get("BENCH_WORKER_EVENTS", "1200"))
INVOICES = int(os.environ.get("BENCH_INVOICES", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "40"))
MEMORY_JOBS = [int(n) for n in os.environ.get("BENCH_MEMORY_JOBS", "10000,1000000").split(",")]
MEMORY_SECONDS = float(os.environ.get("BENCH_MEMORY_SECONDS", "5"))
MEMORY_ROUNDS = int(os.environ.get("BENCH_MEMORY_ROUNDS", "3"))
BARE_DB = os.environ.get("BENCH_BARE_DB", "finance_sync_bench_bare")

BACKLOG_LINES = 3  # lines of the backlog's invoices: 10^6 events of 10 lines would be gigabytes of payloads
CLAIM_LIMIT = const.DISPATCH_FREEZE_BATCH  # due jobs chosen at once, as a freeze does
CLAIM_GOAL = 1.5  # "flat": choosing due jobs among 100 x more pending takes at most this much longer
DOCUMENT_LINES = 10  # lines of each document event and of each posted invoice, each with a tax
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


_TEMPLATE = {}


def document_template(env):
    """(event type, payload) of a realistic document event, rendered once: an invoice of
    DOCUMENT_LINES lines with a sales tax, posted with a backend active in a transaction rolled
    back afterwards (the payload is what the capture stores)."""
    if not _TEMPLATE:
        try:
            company = env.company
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Bench template",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "state": "active",
                    "company_ids": [(6, 0, company.ids)],
                }
            )
            moves = make_drafts(env, 1, lines=DOCUMENT_LINES)
            moves.action_post()
            env.flush_all()
            job = env["finance.sync.job"].search([("backend_id", "=", backend.id), ("res_model", "=", "account.move")])
            job.ensure_one()
            _TEMPLATE.update(event_type=job.event_type, payload=json.dumps(job.payload))
        finally:
            env.cr.rollback()
            env.invalidate_all()
    return _TEMPLATE["event_type"], _TEMPLATE["payload"]


def add_document_jobs(env, backend, count):
    """``count`` more pending jobs of ``backend``, each a realistic document event (see
    ``document_template``) of a new synthetic document, committed. The dispatcher renders a
    job from its payload alone: the documents need not exist."""
    event_type, template = document_template(env)
    due = fields.Datetime.now() - timedelta(seconds=1)
    env.cr.execute("SELECT COALESCE(max(res_id), 0) FROM finance_sync_job WHERE backend_id = %s", (backend.id,))
    last_document = env.cr.fetchone()[0]
    env.cr.execute(
        """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id,
                                         sequence, state, attempt_count, next_attempt_at, payload,
                                         create_uid, write_uid, create_date, write_date)
           SELECT %(backend)s, %(company)s, uuid, %(event_type)s, 'account.move', %(last)s + n, 1, 'pending', 0,
                  %(due)s, jsonb_set(jsonb_set(%(payload)s::jsonb, '{event_id}', to_jsonb(uuid)),
                                     '{document,id}', to_jsonb(%(last)s + n)),
                  %(uid)s, %(uid)s, %(due)s, %(due)s
             FROM (SELECT n, gen_random_uuid()::text AS uuid FROM generate_series(1, %(count)s) n) AS new""",
        {
            "backend": backend.id,
            "company": env.company.id,
            "event_type": event_type,
            "last": last_document,
            "due": due,
            "payload": template,
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

    def work(ready):
        with closing(sql_db.db_connect(dbname).cursor()) as cr:
            dispatcher = api.Environment(cr, SUPERUSER_ID, {})["finance.sync.dispatcher"]
            cr.execute("SELECT pg_backend_pid()")
            database = psutil.Process(cr.fetchone()[0])  # the worker's PostgreSQL backend
            queries = cr.sql_log_count
            ready()
            cpu_before = sum(database.cpu_times()[:2])
            deadline = time.monotonic() + RUN_SECONDS
            sent, _more = dispatcher._run(deadline, *own_transactions(cr), backend_ids=[backend.id])
            return sent, cr.sql_log_count - queries, sum(database.cpu_times()[:2]) - cpu_before

    elapsed, results = timed_threads([work] * workers, name="bench_worker")
    return elapsed, *(sum(values) for values in zip(*results, strict=True))


def dispatch(env, url, events, workers=1, name="Bench", costs=None):
    """Dispatch ``events`` fresh document jobs to ``url`` with ``workers`` workers.

    :param costs: a list the run's costs per attempt are appended to, as a dict: ``cpu_ms``
        (this process: the dispatcher, its sending threads), ``db_cpu_ms`` (the workers'
        PostgreSQL backends), ``queries`` (SQL statements, each one round trip)
    :return: (events attempted per second, frozen bodies)
    """
    backend = create_backend(env, url, name)
    try:
        add_document_jobs(env, backend, events)
        process = psutil.Process()
        cpu_before = sum(process.cpu_times()[:2])
        psutil.cpu_percent()  # starts the interval the next call measures
        elapsed, sent, queries, db_cpu = run_workers(env.cr.dbname, backend, workers)
        machine = psutil.cpu_percent()
        cpu_ms = (sum(process.cpu_times()[:2]) - cpu_before) * 1000 / max(sent, 1)
        db_cpu_ms = db_cpu * 1000 / max(sent, 1)
        states, never_attempted = attempted_jobs(env, backend)
        note(
            f"{name}: {sent} attempts in {elapsed:.2f} s, each {queries / max(sent, 1):.1f} SQL queries, "
            f"{cpu_ms:.2f} ms of this process's CPU and {db_cpu_ms:.2f} ms of its database's "
            f"(all CPUs {machine:.0f}% busy); jobs attempted by state {states}"
        )
        if costs is not None:
            costs.append({"cpu_ms": cpu_ms, "db_cpu_ms": db_cpu_ms, "queries": queries / max(sent, 1)})
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


def sequential_rate(url, bodies, cpu=None):
    """Requests/s of one session POSTing ``bodies`` one after the other; the CPU milliseconds
    this process spent per request are appended to ``cpu``."""
    cpu_start, start = time.process_time(), time.perf_counter()
    post_all(url, bodies)
    rate = len(bodies) / (time.perf_counter() - start)
    if cpu is not None:
        cpu.append((time.process_time() - cpu_start) * 1000 / len(bodies))
    return rate


def concurrent_rate(url, bodies, threads=CONCURRENCY, cpu=None):
    """Requests/s of ``threads`` sessions POSTing their shares of ``bodies`` at once; the CPU
    milliseconds this process spent per request are appended to ``cpu``."""
    cpu_start = time.process_time()

    def task(share):
        def post_share(ready):
            with requests.Session() as session:
                ready()
                for body in share:
                    session.post(url, data=body, headers=JSON_HEADERS, timeout=30).raise_for_status()

        return post_share

    elapsed, _results = timed_threads([task(bodies[i::threads]) for i in range(threads)], name="bench_requests")
    if cpu is not None:
        cpu.append((time.process_time() - cpu_start) * 1000 / len(bodies))
    return len(bodies) / elapsed


# === FIGURES 1-4 === #


def bench_no_latency(env):
    section(
        f"1. Dispatch, receiver at 0 ms: {EVENTS} document events ({DOCUMENT_LINES} lines, taxed), one worker, "
        f"max_concurrent {CONCURRENCY}, median of {DISPATCH_ROUNDS} rounds"
    )
    rates, sequentials, concurrents, costs, bare_cpu = [], [], [], [], []
    with Receiver() as receiver:
        for round_ in range(DISPATCH_ROUNDS):  # interleaved: drift and noise hit the three alike
            rate, bodies = dispatch(env, receiver.url, EVENTS, name=f"Bench 0 ms, round {round_ + 1}", costs=costs)
            rates.append(rate)
            sequentials.append(sequential_rate(receiver.url, bodies, cpu=bare_cpu))
            concurrents.append(concurrent_rate(receiver.url, bodies))
    note(f"bodies: {statistics.mean(map(len, bodies)):.0f} bytes on average")
    runs = (("dispatcher", rates), ("sequential", sequentials), (f"{CONCURRENCY} concurrent", concurrents))
    for label, values in runs:
        note(f"{label:<13} " + "  ".join(f"{value:6.1f} ev/s" for value in values))
    for ref_label, refs, goal in (
        ("bare sequential requests", sequentials, 0.8),
        (f"bare {CONCURRENCY} concurrent requests", concurrents, 0.7),
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
    # Where the time goes: the CPU a delivered event costs the dispatcher (Odoo's process and
    # its PostgreSQL backend) beside what a request costs the bare loop (its process; it has no
    # database), and the dispatcher's SQL statements per event (each one round trip).
    cpu = statistics.median(c["cpu_ms"] for c in costs)
    db_cpu = statistics.median(c["db_cpu_ms"] for c in costs)
    bare = statistics.median(bare_cpu)
    report("CPU per event, dispatcher", cpu + db_cpu, "CPU per request, bare loop", bare, "ms", fmt="8.2f")
    note(f"of which Odoo's process {cpu:.2f} ms, its PostgreSQL backend {db_cpu:.2f} ms")
    queries = statistics.median(c["queries"] for c in costs)
    note(f"SQL round trips per delivered event (the cursor's executes, a statement each or more): {queries:.2f}")


def bench_latency_and_stalls(env):
    section(f"2. Dispatch, receiver at {LATENCY_MS} ms: {SLOW_EVENTS} events, max_concurrent {CONCURRENCY}")
    with Receiver(latency_ms=LATENCY_MS) as receiver:
        fault_free, bodies = dispatch(env, receiver.url, SLOW_EVENTS, name=f"Bench {LATENCY_MS} ms")
        concurrent = concurrent_rate(receiver.url, bodies)
    report(
        f"dispatch @{LATENCY_MS}ms", fault_free, f"bare {CONCURRENCY} concurrent requests", concurrent, "ev/s", goal=0.9
    )

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


def make_drafts(env, n, lines=None, taxes=True):
    """``n`` draft customer invoices of ``lines`` lines (DOCUMENT_LINES), each line with the
    company's default sales tax (when ``taxes``), amounts with cents."""
    company = env.company
    partner = env["res.partner"].create({"name": "Bench customer"})
    income = env["account.account"].search(
        [("account_type", "=", "income"), ("company_ids", "in", company.ids)], limit=1
    )
    tax = company.account_sale_tax_id if taxes else env["account.tax"]
    vals = [
        {
            "move_type": "out_invoice",
            "partner_id": partner.id,
            "invoice_date": "2026-01-15",
            "invoice_line_ids": [
                (
                    0,
                    0,
                    {
                        "name": f"Line {i}-{j}",
                        "quantity": 1 + j,
                        "price_unit": 10.07 + i + j * 1.13,
                        "account_id": income.id,
                        "tax_ids": [(6, 0, tax.ids)],
                    },
                )
                for j in range(lines or DOCUMENT_LINES)
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
        if backends_active is not None:  # None: a database without the module
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


def bare_env():
    """An environment on BENCH_BARE_DB, a database with Odoo's accounting and not this module
    (``make bench`` creates it), or None when it does not exist."""
    with closing(server_connection()) as conn, conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BARE_DB])
        if not cr.fetchone():
            return None
    registry = Registry(BARE_DB)
    return api.Environment(registry.cursor(), SUPERUSER_ID, {})


def server_connection():
    _db, info = sql_db.connection_info_for("postgres")
    connection = psycopg2.connect(**info)
    connection.autocommit = True
    return connection


def bench_posting(env):
    section(
        f"5. Posting overhead: {INVOICES} invoices ({DOCUMENT_LINES} lines each, taxed), median of {ROUNDS} rounds, "
        f"vs the same posting in {BARE_DB} (Odoo without the module)"
    )
    moves = env["account.move"]
    bare = bare_env()
    if bare is None:
        raise RuntimeError(f"database {BARE_DB} (Odoo without the module) is missing: run `make bench`")
    bare_moves = bare["account.move"]
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
        bare_moves = make_drafts(bare, INVOICES)
        bare.cr.commit()
        variants = [
            ("without module", bare, bare_moves, _as_is, None),
            ("capture off", env, moves, without_capture, backends[:1]),
            ("1 backend", env, moves, _as_is, backends[:1]),
            ("3 backends", env, moves, _as_is, backends),
        ]
        for _name, venv, vmoves, prepare, active in variants:  # warm-up: caches, statement plans, allocator
            timed_post(venv, vmoves, prepare, active)
        results = {name: [] for name, *_rest in variants}
        count = len(variants)
        for round_ in range(ROUNDS):  # interleaved, each variant in every position, so drift hits all alike
            for name, venv, vmoves, prepare, active in variants[round_ % count :] + variants[: round_ % count]:
                results[name].append(timed_post(venv, vmoves, prepare, active))
    finally:
        for venv, created, drop_backends in ((env, moves, True), (bare, bare_moves, False)):
            venv.cr.rollback()
            vmoves = created.exists()
            customers = vmoves.partner_id
            vmoves.unlink()
            customers.unlink()
            if drop_backends:
                venv["finance.sync.backend"].search([("name", "=like", "Bench posting %")]).unlink()
            venv.cr.commit()
        bare.cr.close()
    for variant, times in results.items():
        note(f"{variant:<14} " + "  ".join(f"{wall:.3f} s" for wall, _cpu in times))
    # Each variant is compared with the posting without the module of its own round (each
    # database is vacuumed after each posting, so no round pays for the dead rows of the ones
    # before), and the median of those ratios is the figure (the medians of the times are shown
    # beside it). The CPU time of Odoo and its database backend together is shown for
    # information: posting is CPU-bound, so on an idle machine it tracks the wall clock, and it
    # stays meaningful when the machine is busy with something else, which the wall clock does not.
    base_label = "Odoo without the module"
    base = statistics.median(wall for wall, _cpu in results["without module"])
    base_cpu = statistics.median(cpu for _wall, cpu in results["without module"])
    for variant, goal in (("capture off", None), ("1 backend", 1.08), ("3 backends", 1.12)):
        pairs = list(zip(results[variant], results["without module"], strict=True))
        ratios = [value[0] / ref[0] for value, ref in pairs]
        cpu_ratios = [value[1] / ref[1] for value, ref in pairs]
        note(f"{variant}: ratio per round " + "  ".join(f"{r:.2f}" for r in ratios))
        note(f"{variant}: CPU ratio per round " + "  ".join(f"{r:.2f}" for r in cpu_ratios))
        report(
            f"posting, {variant}",
            statistics.median(wall for wall, _cpu in results[variant]),
            base_label,
            base,
            "s",
            goal=goal,
            at_most=True,
            fmt="8.3f",
            ratio=statistics.median(ratios),
        )
        report(
            f"posting CPU, {variant}",
            statistics.median(cpu for _wall, cpu in results[variant]),
            base_label,
            base_cpu,
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


def mix_templates(env):
    """{event type: payload} of the backlog's mix, captured as the module captures them: a
    customer's ``partner.upserted`` (a backend sending master data), its invoice's
    ``invoice.posted`` (BACKLOG_LINES lines, taxed) and a ``payment.posted``; in a transaction
    rolled back afterwards."""
    try:
        backend = env["finance.sync.backend"].create(
            {
                "name": "Bench mix template",
                "endpoint_url": "http://127.0.0.1:9/hook",
                "state": "active",
                "send_master_data": True,
                "company_ids": [(6, 0, env.company.ids)],
            }
        )
        moves = make_drafts(env, 1, lines=BACKLOG_LINES)
        moves.action_post()
        payment = env["account.payment"].create(
            {
                "amount": 12.10,
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": moves.partner_id.id,
                "date": "2026-01-20",
            }
        )
        payment.action_post()
        env.flush_all()
        templates = {}
        for job in env["finance.sync.job"].search([("backend_id", "=", backend.id)], order="id"):
            templates.setdefault(job.event_type, json.dumps(job.payload))
        missing = {"partner.upserted", "invoice.posted", "payment.posted"} - templates.keys()
        if missing:
            raise RuntimeError(f"the backlog's mix lacks {sorted(missing)}")
        return templates
    finally:
        env.cr.rollback()
        env.invalidate_all()


def add_backlog(env, backend, count, templates):
    """Top the pending jobs of ``backend`` up to ``count`` with the backlog's mix, committed:
    every unit of 10 jobs is a new customer's ``partner.upserted``, two of its invoices with
    three events each (sequences 1-3, each waiting for the partner's event) and three payments
    (which wait for it too). The per-document order and the partner-first condition both run."""
    env.cr.execute(
        "SELECT count(*), COALESCE(max(res_id), 0) FROM finance_sync_job WHERE backend_id = %s", (backend.id,)
    )
    present, last = env.cr.fetchone()
    units = max(count - present, 0) // 10
    if not units:
        return
    due = fields.Datetime.now() - timedelta(seconds=1)
    # In unit order, each unit's jobs in capture order: the partner first, then its documents.
    env.cr.execute(
        """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id,
                                         sequence, state, attempt_count, next_attempt_at, payload, depends_on_partner,
                                         create_uid, write_uid, create_date, write_date)
           SELECT %(backend)s, %(company)s, uuid, event_type, res_model, res_id, sequence, 'pending', 0, %(due)s,
                  jsonb_set(jsonb_set(payload, '{event_id}', to_jsonb(uuid)), '{sequence}', to_jsonb(sequence)),
                  partner, %(uid)s, %(uid)s, %(due)s, %(due)s
             FROM (SELECT unit, kind.*, gen_random_uuid()::text AS uuid
                     FROM generate_series(1, %(units)s) unit
                    CROSS JOIN LATERAL (
                          SELECT 'partner.upserted' AS event_type, 'res.partner' AS res_model,
                                 %(last)s + unit * 10 AS res_id, 1 AS sequence, %(partner)s::jsonb AS payload,
                                 NULL::integer AS partner, 0 AS position
                          UNION ALL
                          SELECT 'invoice.posted', 'account.move', %(last)s + unit * 10 + document, event,
                                 %(invoice)s::jsonb, %(last)s + unit * 10, document * 3 + event
                            FROM generate_series(1, 2) document, generate_series(1, 3) event
                          UNION ALL
                          SELECT 'payment.posted', 'account.payment', %(last)s + unit * 10 + 2 + payment, 1,
                                 %(payment)s::jsonb, %(last)s + unit * 10, 10 + payment
                            FROM generate_series(1, 3) payment
                          ) kind
                  ) new
            ORDER BY unit, position""",
        {
            "backend": backend.id,
            "company": env.company.id,
            "due": due,
            "uid": SUPERUSER_ID,
            "units": units,
            "last": last,
            "partner": templates["partner.upserted"],
            "invoice": templates["invoice.posted"],
            "payment": templates["payment.posted"],
        },
    )
    env.cr.execute("ANALYZE finance_sync_job")
    env.cr.commit()


def claim_plan(env, backend):
    """(execution time in ms, EXPLAIN (ANALYZE, BUFFERS) text) of the dispatcher's choice of
    due jobs on ``backend``'s backlog: the freeze's (jobs without a body yet, as a fresh backlog
    has them), the same query as the claim's but for the body; rolled back (it locks rows).
    A second run of the query: see below."""
    query = outbox._due_ids(backend.id, fields.Datetime.now(), CLAIM_LIMIT, None, frozen=False)
    try:
        # Once before timing it: the first read of freshly inserted rows writes their hint bits
        # (a one-off cost of the bulk INSERT, not of the claim), as the dispatcher's first freeze
        # would.
        env.cr.execute(query)
        env.cr.rollback()
        env.cr.execute(SQL("EXPLAIN (ANALYZE, BUFFERS) %s", query))
        lines = [row[0] for row in env.cr.fetchall()]
    finally:
        env.cr.rollback()
    found = [float(m.group(1)) for line in lines if (m := re.match(r"Execution Time: ([0-9.]+) ms", line.strip()))]
    return (found[0] if found else float("nan")), "\n".join(lines)


def memory_use(env, url, jobs, templates):
    """Medians over MEMORY_ROUNDS fresh processes of a dispatcher run with ``jobs`` pending (the
    backlog's mix): the peak resident memory (bytes), its growth during the run, the attempts
    per second, and the claim query's time (ms) with its plan."""
    backend = create_backend(env, url, f"Bench backlog {jobs}")
    peaks, growths, rates, claims, plan = [], [], [], [], ""
    try:
        for _round in range(MEMORY_ROUNDS):
            # Every probe starts from the same backlog: what the last one froze or sent is replaced.
            env.cr.execute(
                "DELETE FROM finance_sync_job WHERE backend_id = %s AND (state != 'pending' OR body IS NOT NULL)",
                (backend.id,),
            )
            env.cr.commit()
            started = time.perf_counter()
            add_backlog(env, backend, jobs, templates)
            note(f"{jobs:>7} pending: backlog filled in {time.perf_counter() - started:.1f} s")
            claim_ms, plan = claim_plan(env, backend)
            claims.append(claim_ms)
            result = run_probe(env, backend)
            peaks.append(result["rss_peak"])
            growths.append(result["rss_peak"] - result["rss_before"])
            rates.append(result["sent"] / result["seconds"])
            note(
                f"{jobs:>7} pending: RSS {result['rss_before'] / MIB:6.1f} MiB before the run, peak "
                f"{result['rss_peak'] / MIB:6.1f} MiB (+{growths[-1] / MIB:.2f}); "
                f"{result['sent']} attempts in {result['seconds']:.1f} s; choosing due jobs {claim_ms:.2f} ms"
            )
    finally:
        drop_backend(env, backend)
    medians = (statistics.median(values) for values in (peaks, growths, rates, claims))
    return (*medians, plan)


def bench_memory(env):
    small, large = MEMORY_JOBS
    section(
        f"6. Backlog: dispatcher sending for {MEMORY_SECONDS:g} s at 0 ms with {small} vs {large} pending jobs "
        f"(partners, documents of 3 events, payments), median of {MEMORY_ROUNDS} fresh processes each"
    )
    templates = mix_templates(env)
    with Receiver() as receiver:
        small_peak, small_growth, small_rate, small_claim, small_plan = memory_use(env, receiver.url, small, templates)
        large_peak, large_growth, large_rate, large_claim, large_plan = memory_use(env, receiver.url, large, templates)
    report(f"dispatch, {large} pending", large_rate, f"dispatch, {small} pending", small_rate, "ev/s", goal=0.9)
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
    report(
        f"choosing due jobs, {large}",
        large_claim,
        f"choosing due jobs, {small}",
        small_claim,
        "ms",
        goal=CLAIM_GOAL,
        at_most=True,
        fmt="8.2f",
    )
    for jobs, plan in ((small, small_plan), (large, large_plan)):
        note(f"EXPLAIN (ANALYZE, BUFFERS) of the choice of due jobs, {jobs} pending:")
        for line in plan.splitlines():
            note(f"    {line}")


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
