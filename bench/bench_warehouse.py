"""Warehouse benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints each figure beside its reference, with its goal and a PASS or
MISS verdict, all measured in one run.

A throw-away database on the same PostgreSQL server stands in for the warehouse (a login with a
password over 127.0.0.1, as a BI team's server would be reached), initialized by the module.
Each event is an ``invoice.posted`` of its own document with BENCH_WAREHOUSE_LINES lines (3),
valid against the v1 schema, inserted as pending jobs with SQL and committed before the run.

1. Events/s into the warehouse: the dispatcher (one worker, max_concurrent 8, as the worker cron
   runs it on its own cursor) vs a bare psycopg2 loop on one connection that upserts the same
   rows (the invoice and its lines, ``INSERT … ON CONFLICT``) and commits once per event, in a
   schema of its own, run before and after the dispatcher (the faster run is the reference).
   The dispatcher's rate counts the jobs over the whole run, body freezing and outcome
   recording included; it also checks that every event landed once. Goal: at least 0.5 x.
   The SQL statements the loader sends per event (into the warehouse), and in how many round
   trips, are printed beside it.
2. The same dispatcher run against the same loop on as many connections (threads) as the
   dispatcher's (8), one transaction per event: the dispatcher applies its events in batches
   (one transaction each). Goal: at least 2 x.
3. The same dispatcher run against the batched loader alone (``loader.apply_batch``, the same
   batch size, on 8 connections, no outbox): what the outbox, the freezing and the recording of
   outcomes cost. Goal: at least 0.5 x.
4. Where the time goes (for information): the CPU a delivered event costs the dispatcher (this
   process, its sending threads running the loader included, and its PostgreSQL backend) beside
   the CPU an event costs the batched loader alone (this process; the warehouse's own backends
   are in neither), and the SQL statements per delivered event into Odoo's database.

Sizes (environment variables): BENCH_WAREHOUSE_EVENTS (1000), BENCH_WAREHOUSE_LINES (3).
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import json
import os
import sys
import time
import traceback
import uuid
from contextlib import closing
from datetime import timedelta

import psutil
from psycopg2.extras import execute_values

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.addons.finance_sync.bench import warehouses
from odoo.addons.finance_sync.bench.benchlib import note, report, verdicts
from odoo.addons.finance_sync.bench.warehouses import SOURCE, Warehouse, in_threads, warehouse_backend
from odoo.addons.finance_sync.engine import payload as payload_lib
from odoo.addons.finance_sync.engine.scheduler import own_transactions
from odoo.addons.finance_sync.engine.warehouse import loader
from odoo.addons.finance_sync.engine.warehouse import schema as warehouse_schema
from odoo.addons.finance_sync.engine.warehouse.transport import BATCH_SIZE

EVENTS = int(os.environ.get("BENCH_WAREHOUSE_EVENTS", "1000"))
LINES = int(os.environ.get("BENCH_WAREHOUSE_LINES", "3"))
CONCURRENCY = 8
RUN_SECONDS = 300


def invoice_event(document_id):
    """A valid v1 ``invoice.posted`` of document ``document_id`` with LINES lines."""
    ref = {"id": 1, "code": "700000", "name": "Revenue"}
    return {
        "event_id": str(uuid.uuid4()),
        "type": "invoice.posted",
        "schema_version": 1,
        "occurred_at": "2025-01-31T10:00:00Z",
        "sequence": 1,
        "company": {"id": 1, "code": None, "name": "Bench company", "vat": None, "currency": "EUR"},
        "partner": {"id": 1 + document_id % 50, "code": None, "name": f"Customer {document_id % 50}"},
        "document": {
            "model": "account.move",
            "id": document_id,
            "number": f"INV/2025/{document_id:06d}",
            "kind": "customer_invoice",
            "move_type": "out_invoice",
            "state": "posted",
            "payment_state": "not_paid",
            "date": "2025-01-31",
            "invoice_date": "2025-01-31",
            "due_date": "2025-02-28",
            "currency": "EUR",
            "journal": {"id": 1, "code": "INV", "name": "Customer invoices"},
            "amounts": {
                "untaxed": f"{100 * LINES}.00",
                "tax": f"{21 * LINES}.00",
                "total": f"{121 * LINES}.00",
                "residual": f"{121 * LINES}.00",
            },
            "amounts_company_currency": {
                "untaxed": f"{100 * LINES}.00",
                "tax": f"{21 * LINES}.00",
                "total": f"{121 * LINES}.00",
                "residual": f"{121 * LINES}.00",
            },
            "reversed_entry": None,
        },
        "lines": [
            {
                "id": document_id * 100 + n,
                "name": "Service",
                "account": ref,
                "taxes": [{"id": 1, "code": None, "name": "VAT 21%"}],
                "analytic_distribution": [],
                "quantity": "1",
                "price_unit": "100",
                "discount": "0",
                "subtotal": "100.00",
                "total": "121.00",
            }
            for n in range(LINES)
        ],
        "payments": [],
        "reconciliation": [],
    }


def add_jobs(env, backend, events):
    """Pending invoice jobs of ``backend`` for ``events``, committed."""
    due = fields.Datetime.now() - timedelta(seconds=1)
    rows = [
        (backend.id, env.company.id, event["event_id"], event["document"]["id"], due, json.dumps(event), SUPERUSER_ID)
        for event in events
    ]
    execute_values(
        env.cr._obj,
        """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id, sequence,
                                         state, attempt_count, next_attempt_at, payload, create_uid, write_uid,
                                         create_date, write_date)
           SELECT backend, company, uuid, 'invoice.posted', 'account.move', res_id, 1, 'pending', 0, due,
                  payload::jsonb, uid, uid, due, due
             FROM (VALUES %s) AS new (backend, company, uuid, res_id, due, payload, uid)""",
        rows,
        page_size=500,
    )
    env.cr.execute("ANALYZE finance_sync_job")
    env.cr.commit()


def dispatch(env, backend):
    """The dispatcher's run on its own cursor, as the worker cron runs it: (seconds, attempts,
    costs), the costs being the SQL statements it sent to Odoo's database (``queries``, each one
    round trip), this process's CPU seconds (``cpu``: the dispatcher and its sending threads,
    which run the loader) and those of its PostgreSQL backend (``db_cpu``)."""
    with closing(sql_db.db_connect(env.cr.dbname).cursor()) as cr:
        dispatcher = api.Environment(cr, SUPERUSER_ID, {})["finance.sync.dispatcher"]
        cr.execute("SELECT pg_backend_pid()")
        database = psutil.Process(cr.fetchone()[0])
        queries, cpu, db_cpu = cr.sql_log_count, time.process_time(), sum(database.cpu_times()[:2])
        start = time.perf_counter()
        sent, _more = dispatcher._run(time.monotonic() + RUN_SECONDS, *own_transactions(cr), backend_ids=[backend.id])
        elapsed = time.perf_counter() - start
        costs = {
            "queries": cr.sql_log_count - queries,
            "cpu": time.process_time() - cpu,
            "db_cpu": sum(database.cpu_times()[:2]) - db_cpu,
        }
        return elapsed, sent, costs


def bare_batches(target, events, threads=CONCURRENCY, cpu=None):
    """The events applied by the loader alone, BATCH_SIZE in a transaction, on ``threads``
    connections, no outbox: events/s. The CPU milliseconds this process spent per event are
    appended to ``cpu``."""
    cpu_start = time.process_time()
    rate = len(events) / warehouses.bare_batches(target, events, threads)
    if cpu is not None:
        cpu.append((time.process_time() - cpu_start) * 1000 / len(events))
    return rate


def bare_upserts(target, events, threads=1):
    """The same rows upserted by a bare psycopg2 loop, one transaction per event, on ``threads``
    connections: events/s."""
    return len(events) / in_threads(target, events, threads, _upserts)


def _upserts(conn, statements, events):
    """One transaction per event: the invoice, then its lines."""
    for event in events:
        with conn, conn.cursor() as cr:
            cr.execute(statements["invoice"], loader._invoice_row(SOURCE, event))
            rows = [
                (
                    SOURCE,
                    line["id"],
                    event["document"]["id"],
                    line["name"],
                    line["account"]["id"],
                    line["quantity"],
                    line["price_unit"],
                    line["discount"],
                    line["subtotal"],
                    line["total"],
                    [1],
                    None,
                    True,
                )
                for line in event["lines"]
            ]
            execute_values(
                cr,
                statements["lines"],
                rows,
                template="(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::int[], %s, %s)",
            )


def statements_per_event(target, events):
    """(SQL statements, round trips) the loader sends per event as the transport applies them
    one by one (dimensions already written are not written again), the statements of the first
    event (every dimension new), and (statements, round trips) per event in batches of
    BATCH_SIZE; applied again in a scratch schema."""
    with closing(target.connect()) as conn:
        warehouse_schema.migrate(conn, target.schema)
        statements, first, stats, batched, known = loader.Statements(conn, target.schema), {}, {}, {}, {}
        loader.apply(conn, statements, SOURCE, events[0], first, known)
        half = len(events) - 2 * BATCH_SIZE  # then two batches
        for event in events[1:half]:
            loader.apply(conn, statements, SOURCE, event, stats, known)
        for start in range(half, len(events), BATCH_SIZE):
            loader.apply_batch(conn, statements, SOURCE, events[start : start + BATCH_SIZE], batched, known)
        count, in_batches = half - 1, len(events) - half
        return (
            stats["statements"] / count,
            stats["round_trips"] / count,
            first["statements"],
            (batched["statements"] / in_batches, batched["round_trips"] / in_batches),
        )


def bench_warehouse(env):
    print("\n-- PostgreSQL warehouse", flush=True)
    events = [invoice_event(n) for n in range(1, EVENTS + 1)]
    errors = payload_lib.validate(events[0], "invoice.posted")
    if errors:
        raise RuntimeError(f"the benchmark's event does not match its schema: {errors}")
    with Warehouse() as warehouse:
        target = warehouse.target()
        backend = warehouse_backend(env, target, "Bench warehouse", CONCURRENCY)
        try:
            backend.action_initialize_warehouse()
            env.cr.commit()
            # The reference before and after the dispatcher's run, the faster one counting (the
            # server's state, checkpoints among it, differs from one moment to the next).
            bare_before = bare_upserts(warehouse.target("bench_bare_before"), events)
            add_jobs(env, backend, events)
            elapsed, sent, costs = dispatch(env, backend)
            env.invalidate_all()
            env.cr.execute(
                "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", (backend.id,)
            )
            states = dict(env.cr.fetchall())
            with closing(target.connect()) as conn, conn.cursor() as cr:
                cr.execute("SELECT count(*), count(DISTINCT event_id) FROM finance_sync.sync_event")
                landed, distinct = cr.fetchone()
            dispatcher_rate = states.get("done", 0) / elapsed
            note(
                f"dispatcher: {sent} attempts in {elapsed:.2f} s; jobs by state {states}; "
                f"{landed} events in sync_event ({distinct} distinct)"
            )
            if landed != EVENTS or distinct != EVENTS:
                note(f"WARNING: {EVENTS} events sent, {landed} recorded")
            bare_rate = max(bare_before, bare_upserts(warehouse.target("bench_bare_after"), events))
            threaded_rate = bare_upserts(warehouse.target("bench_bare_threads"), events, threads=CONCURRENCY)
            batched_cpu = []
            batched_rate = bare_batches(warehouse.target("bench_bare_batches"), events, cpu=batched_cpu)
            per_event, round_trips, cold, in_batches = statements_per_event(
                warehouse.target("bench_count"), events[: 101 + 2 * BATCH_SIZE]
            )
            report("warehouse, dispatcher", dispatcher_rate, "bare INSERT ON CONFLICT", bare_rate, "ev/s", goal=0.5)
            report(
                "warehouse, dispatcher",
                dispatcher_rate,
                f"bare per event, {CONCURRENCY} conns",
                threaded_rate,
                "ev/s",
                goal=2.0,
            )
            report(
                "warehouse, dispatcher",
                dispatcher_rate,
                f"bare batches of {BATCH_SIZE}, {CONCURRENCY} c",
                batched_rate,
                "ev/s",
                goal=0.5,
            )
            # Where the time goes: what a delivered event costs the dispatcher beside what the
            # loader alone costs (the same batches: the warehouse's own work is in both).
            delivered = max(states.get("done", 0), 1)
            report(
                "CPU per event, dispatcher",
                costs["cpu"] * 1000 / delivered + costs["db_cpu"] * 1000 / delivered,
                "CPU per event, bare batches",
                batched_cpu[0],
                "ms",
                fmt="8.3f",
            )
            note(
                f"of which Odoo's process {costs['cpu'] * 1000 / delivered:.3f} ms (its sending threads, running the "
                f"loader, included) and its PostgreSQL backend {costs['db_cpu'] * 1000 / delivered:.3f} ms; "
                f"SQL statements per delivered event into Odoo's database (each one round trip): "
                f"{costs['queries'] / delivered:.3f}"
            )
            note(
                f"SQL statements per event into the warehouse: {per_event:.1f} in {round_trips:.1f} round trips "
                f"(commit included; the first event of a run, every dimension new: {cold}); "
                f"the bare loop sends 3 (invoice, lines, commit)"
            )
            note(
                f"in batches of {BATCH_SIZE} (as the dispatcher sends them): {in_batches[0]:.1f} statements "
                f"in {in_batches[1]:.1f} round trips per event (one commit per batch)"
            )
        finally:
            env.invalidate_all()
            env["finance.sync.exception"].search([("backend_id", "=", backend.id)]).unlink()
            env.cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend.id,))
            backend.unlink()
            env.cr.commit()


def main(env):
    start = time.perf_counter()
    failed = False
    env.cr.rollback()
    for bench in (bench_warehouse,):
        try:
            bench(env)
        except Exception:
            failed = True
            verdicts.append(False)
            print(f"ERROR in {bench.__name__}:\n{traceback.format_exc()}", flush=True)
            env.cr.rollback()
    print(f"\n{sum(verdicts)} of {len(verdicts)} goals met ({time.perf_counter() - start:.0f} s)", flush=True)
    if failed:
        sys.exit("benchmark sections failed")


main(env)
