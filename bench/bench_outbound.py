"""Outbound benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints ratios measured side by side in one run; all data is rolled back.

(a) posting overhead: time to post N invoices with the capture hooks active (1 and 3 active
    backends) vs disabled (context finance_sync_no_capture);
(b) dispatch efficiency: events/s through the dispatcher vs raw `requests` POSTs of the same
    bodies to the same local receiver;
(c) SQL queries per dispatched event for several batch sizes (should stay flat).
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import os
import statistics
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import requests

N = int(os.environ.get("BENCH_INVOICES", "100"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def start_receiver():
    def app(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        environ["wsgi.input"].read(length)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]

    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/hook"


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


def timed_post(env, context, backends_active):
    """Seconds to post N fresh invoices, rolled back afterwards."""
    cr = env.cr
    env.flush_all()  # what is pending in the ORM belongs before the savepoint
    cr.execute("SAVEPOINT bench_post")
    try:
        env["finance.sync.backend"].search([]).write({"state": "paused"})
        backends_active.write({"state": "active"})
        moves = make_drafts(env, N)
        env.flush_all()
        start = time.perf_counter()
        moves.with_context(**context).action_post()
        env.flush_all()
        return time.perf_counter() - start
    finally:
        cr.execute("ROLLBACK TO SAVEPOINT bench_post")
        env.invalidate_all()


def bench_posting(env, url):
    Backend = env["finance.sync.backend"]
    backends = Backend.create(
        [
            {"name": f"Bench {i}", "endpoint_url": url, "state": "paused", "company_ids": [(6, 0, env.company.ids)]}
            for i in range(3)
        ]
    )
    results = {"disabled": [], "1 backend": [], "3 backends": []}
    for _round in range(ROUNDS):  # interleaved, so drift hits every variant alike
        results["disabled"].append(timed_post(env, {"finance_sync_no_capture": True}, backends[:1]))
        results["1 backend"].append(timed_post(env, {}, backends[:1]))
        results["3 backends"].append(timed_post(env, {}, backends))
    base = statistics.median(results["disabled"])
    print(f"\n(a) posting {N} invoices (3 lines each), median of {ROUNDS} rounds")
    for name, values in results.items():
        med = statistics.median(values)
        print(f"    {name:<12} {med:7.3f} s   {N / med:8.1f} invoices/s   overhead x{med / base:5.2f}")
    return backends


def bench_dispatch(env, backend, batch_sizes=(10, 50, 200)):
    """Post N invoices once, then for each batch size dispatch every job and roll back to the
    savepoint, so each batch size sends the same N events."""
    Job = env["finance.sync.job"]
    cr = env.cr
    backend.write({"state": "active", "max_attempts": 3})
    make_drafts(env, N).action_post()
    jobs = Job.search([("backend_id", "=", backend.id), ("state", "=", "pending")])
    print(f"\n(b)+(c) dispatch of {len(jobs)} invoice.posted events to a local receiver")
    raw_rate = None
    for batch in batch_sizes:
        backend.batch_size = batch
        env.flush_all()
        cr.execute("SAVEPOINT bench_dispatch")
        try:
            queries_before = cr.sql_log_count
            start = time.perf_counter()
            sent = 0
            while True:
                processed, _more = Job._dispatch_backend(backend)
                if not processed:
                    break
                sent += processed
            env.flush_all()
            elapsed = time.perf_counter() - start
            queries = cr.sql_log_count - queries_before
            assert sent == len(jobs) and set(jobs.mapped("state")) == {"done"}, (sent, len(jobs))
            if raw_rate is None:
                bodies = [job.body.encode() for job in jobs]
                with requests.Session() as session:
                    start = time.perf_counter()
                    for body in bodies:
                        session.post(
                            backend.endpoint_url, data=body, timeout=10, headers={"Content-Type": "application/json"}
                        ).raise_for_status()
                    raw_rate = len(bodies) / (time.perf_counter() - start)
            rate = sent / elapsed
            print(
                f"    batch {batch:>4}: {rate:8.1f} events/s vs raw requests {raw_rate:8.1f}/s "
                f"-> efficiency {rate / raw_rate:5.2f}; {queries / sent:5.2f} SQL queries per event"
            )
        finally:
            cr.execute("ROLLBACK TO SAVEPOINT bench_dispatch")
            env.invalidate_all()


def main(env):
    server, url = start_receiver()
    try:
        backends = bench_posting(env, url)
        bench_dispatch(env, backends[0])
    finally:
        server.shutdown()
        env.cr.rollback()


main(env)
