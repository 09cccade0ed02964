"""Backfill benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints the backfill of BENCH_BACKFILL_INVOICES historical invoices
(100,000) into an empty warehouse beside a bare batched loader doing the same work.

The invoices: three customer invoices of three taxed lines with cents are created and posted
through the ORM (capture off), then cloned with SQL (``INSERT … SELECT … generate_series``) into
``account_move``, ``account_move_line`` and the lines' tax and tag relations: new ids from the
sequences, unique numbers, dates spread over three years (2023-2025), the same customer. They are
committed before the clock starts, checked through the ORM (a clone reads as a posted invoice
whose lines, taxes and totals are its template's, and renders the template's payload figures),
and deleted at the end with every job, run and backend the benchmark made: the bench database is
reused from one run to the next.

1. The module, end to end: a warehouse backend (a throw-away database on the same server, as in
   bench_warehouse.py) is sent the invoices' history the way a person does it, the backfill
   wizard (its first chunk at once) then the backfill cron (``method_direct_trigger``, Odoo's cron
   runner: a chunk of 1,000 per committed transaction) until the run is done; then the dispatcher,
   on its own cursor as the worker cron runs it (one worker, max_concurrent 8, batches of
   BATCH_SIZE events per warehouse transaction), drains the outbox until every invoice is in the
   warehouse once (a count of the warehouse's invoices and events, by the benchmark).
2. The reference: the same events (the bodies the dispatcher froze, parsed before the clock
   starts) applied by the loader alone, ``loader.apply_batch`` in batches of BATCH_SIZE on as
   many connections as the dispatcher's (8), no outbox, into an empty schema of the same
   warehouse database.

Goal: the module's rate at least 0.5 x the bare batched loader's. The capture's and the drain's
times are printed apart, with the capture's cost per invoice.

Size (environment variable): BENCH_BACKFILL_INVOICES (100000); a few thousand while developing.
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import json
import os
import sys
import time
import traceback
from contextlib import closing
from datetime import date

from psycopg2 import sql

from odoo import SUPERUSER_ID, api, sql_db
from odoo.addons.finance_sync.bench import clones
from odoo.addons.finance_sync.bench.benchlib import note, report, section, verdicts
from odoo.addons.finance_sync.bench.warehouses import Warehouse, bare_batches, warehouse_backend
from odoo.addons.finance_sync.engine.scheduler import own_transactions
from odoo.addons.finance_sync.engine.warehouse.transport import BATCH_SIZE

INVOICES = int(os.environ.get("BENCH_BACKFILL_INVOICES", "100000"))
CONCURRENCY = 8
TEMPLATES = 3  # invoices created through the ORM, cloned to INVOICES
FIRST_DAY, LAST_DAY = date(2023, 1, 1), date(2025, 12, 31)
TEMPLATE_DAY = date(2022, 6, 15)  # the templates themselves are not in the backfilled period
PREFIX = "BFB/"  # the clones' numbers: BFB/000001 ...
RUN_SECONDS = 3600


# === THE MODULE === #


def backfill(env, backend):
    """The backfill, as a person starts it and the cron carries it on: (seconds, run)."""
    start = time.perf_counter()
    wizard = env["finance.sync.backfill"].create(
        {"backend_id": backend.id, "date_from": FIRST_DAY, "date_to": LAST_DAY}
    )
    run = env["finance.sync.backfill.run"].browse(wizard.action_confirm()["res_id"])
    env.cr.commit()  # the request's transaction: its first chunk and the run
    cron = env.ref("finance_sync.ir_cron_backfill")
    while True:
        run.invalidate_recordset()
        if run.state != "running":
            break
        cron.method_direct_trigger()  # Odoo's cron runner, a chunk per committed transaction
        env.cr.commit()
    return time.perf_counter() - start, run


def drain(env, backend):
    """The dispatcher on its own cursor, as the worker cron runs it, until nothing of
    ``backend`` is pending: (seconds, attempts)."""
    start = time.perf_counter()
    attempts = 0
    with closing(sql_db.db_connect(env.cr.dbname).cursor()) as cr:
        dispatcher = api.Environment(cr, SUPERUSER_ID, {})["finance.sync.dispatcher"]
        while True:
            sent, _more = dispatcher._run(
                time.monotonic() + RUN_SECONDS, *own_transactions(cr), backend_ids=[backend.id]
            )
            attempts += sent
            cr.execute(
                "SELECT count(*) FROM finance_sync_job WHERE backend_id = %s AND state = 'pending'", (backend.id,)
            )
            if not cr.fetchone()[0] or not sent:
                break
    return time.perf_counter() - start, attempts


def landed(target):
    """(invoices, distinct invoices, events) in the warehouse schema of ``target`` (one source)."""
    with closing(target.connect()) as conn, conn.cursor() as cr:
        cr.execute(
            sql.SQL("SELECT count(*), count(DISTINCT (source, odoo_id)) FROM {}.fact_invoice").format(
                sql.Identifier(target.schema)
            )
        )
        invoices, distinct = cr.fetchone()
        cr.execute(sql.SQL("SELECT count(*) FROM {}.sync_event").format(sql.Identifier(target.schema)))
        return invoices, distinct, cr.fetchone()[0]


# === THE REFERENCE === #


def frozen_events(env, backend):
    """The events the dispatcher sent, parsed: what the bare loader applies."""
    env.cr.execute(
        "SELECT body FROM finance_sync_job WHERE backend_id = %s AND state = 'done' ORDER BY id", (backend.id,)
    )
    return [json.loads(body) for (body,) in env.cr.fetchall()]


# === THE BENCHMARK === #


def bench_backfill(env):
    section(f"Backfill of {INVOICES} historical invoices into an empty warehouse")
    partner, templates = clones.make_templates(env, TEMPLATES, TEMPLATE_DAY, "Backfill bench customer")
    env.cr.commit()
    backend = None
    try:
        cloned_in = clones.clone_invoices(env, templates, INVOICES, FIRST_DAY, LAST_DAY, PREFIX)
        env.cr.commit()
        note(f"{INVOICES} invoices of 3 taxed lines cloned with SQL in {cloned_in:.1f} s (committed, not timed)")
        clone = clones.check_clone(env, templates, PREFIX)
        note(
            f"checked: {clone.name} reads as a posted invoice of {len(clone.invoice_line_ids)} taxed lines, "
            f"total {clone.amount_total} (its template's)"
        )
        env.cr.rollback()
        with Warehouse("fs_bench_bf_") as warehouse:
            target = warehouse.target()
            backend = warehouse_backend(env, target, "Bench backfill warehouse", CONCURRENCY, initialize=True)
            captured_in, run = backfill(env, backend)
            note(
                f"capture: backfill run {run.state}, {run.done_count} of {run.total_count} in {captured_in:.1f} s "
                f"({1000 * captured_in / max(run.done_count, 1):.2f} ms an invoice, "
                f"{run.done_count / captured_in:.0f}/s)"
            )
            drained_in, attempts = drain(env, backend)
            invoices, distinct, events = landed(target)
            env.cr.rollback()  # a snapshot taken after the drain
            env.cr.execute(
                "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", (backend.id,)
            )
            states = dict(env.cr.fetchall())
            env.cr.rollback()
            note(
                f"drain: {attempts} attempts in {drained_in:.1f} s ({states.get('done', 0) / drained_in:.0f} ev/s); "
                f"jobs by state {states}; the warehouse holds {invoices} invoices ({distinct} distinct), "
                f"{events} events"
            )
            if (run.state, run.done_count, run.total_count) != ("done", INVOICES, INVOICES) or (
                invoices,
                distinct,
                events,
            ) != (INVOICES, INVOICES, INVOICES):
                raise RuntimeError(f"not every invoice is in the warehouse once: {INVOICES} backfilled, {invoices}")
            module_seconds = captured_in + drained_in
            sent = frozen_events(env, backend)
            env.cr.rollback()
            bare_seconds = bare_batches(warehouse.target("bench_bare_batches"), sent, CONCURRENCY, timeout=600)
            bare = landed(warehouse.target("bench_bare_batches"))
            if bare != (INVOICES, INVOICES, INVOICES):
                raise RuntimeError(f"the bare loader did not land every invoice once: {bare}")
            report(
                "backfill, end to end",
                INVOICES / module_seconds,
                f"bare batches of {BATCH_SIZE}, {CONCURRENCY} c",
                INVOICES / bare_seconds,
                "ev/s",
                goal=0.5,
            )
            note(
                f"total time: module {module_seconds:.1f} s (capture {captured_in:.1f} s + drain {drained_in:.1f} s), "
                f"bare batched loader {bare_seconds:.1f} s"
            )
    finally:
        env.cr.rollback()
        env.invalidate_all()
        if backend is not None:
            env.cr.execute("DELETE FROM finance_sync_backfill_run WHERE backend_id = %s", (backend.id,))
            env["finance.sync.exception"].search([("backend_id", "=", backend.id)]).unlink()
            env.cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend.id,))
            backend.unlink()
            env.cr.commit()
        deleted = clones.delete_invoices(env, PREFIX, templates, partner)
        env.cr.commit()
        note(f"cleaned up: {deleted} invoices deleted, with the backend, its jobs and its run")


def main(env):
    start = time.perf_counter()
    failed = False
    env.cr.rollback()
    try:
        bench_backfill(env)
    except Exception:
        failed = True
        verdicts.append(False)
        print(f"ERROR in bench_backfill:\n{traceback.format_exc()}", flush=True)
        env.cr.rollback()
    print(f"\n{sum(verdicts)} of {len(verdicts)} goals met ({time.perf_counter() - start:.0f} s)", flush=True)
    if failed:
        sys.exit("benchmark sections failed")


main(env)
