"""Message broker benchmark: run inside `odoo-bin shell` on a database with finance_sync installed
(`make bench` does it). Prints its figure beside its reference, with its goal and a PASS or MISS
verdict, both measured in one run.

A RabbitMQ node of the benchmark's own (``tests/rabbit.py``: Debian's ``rabbitmq-server`` on
127.0.0.1, a temporary data directory) stands in for the broker, with one consumer queue (quorum,
bound to every event) declared by the module's *Initialize broker*. Each event is a ``ping`` of
its own document, signed, inserted as a pending job with SQL and committed before the run.

1. Events/s into the broker: the dispatcher (one worker, max_concurrent 8, as the worker cron runs
   it on its own cursor; publisher confirms, mandatory, persistent) vs a bare ``pika`` publisher
   on one connection publishing the same bodies with the same properties, each confirmed before
   the next, run before and after the dispatcher (the faster run counts), for information; and a
   bare publisher that publishes the same batches as the transport and awaits each batch's
   confirms together (the stronger honest reference, doing the same work: the goal is against it,
   the better of two runs). The dispatcher's rate counts the jobs over the whole run, body
   freezing and outcome recording included; it also checks that every event reached the queue. Goal: at least 0.7 x.

Size (environment variable): BENCH_BROKER_EVENTS (1000). Skipped, saying so, when
``rabbitmq-server`` is not installed.
"""
# ruff: noqa: F821  (env is provided by odoo-bin shell)

import importlib.util
import json
import os
import secrets
import sys
import time
import traceback
import uuid
from contextlib import closing
from datetime import timedelta
from pathlib import Path

from psycopg2.extras import execute_values

from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.addons.finance_sync.bench.benchlib import note, report, section, verdicts
from odoo.addons.finance_sync.engine import broker as broker_lib
from odoo.addons.finance_sync.engine import payload as payload_lib
from odoo.addons.finance_sync.engine import signing
from odoo.addons.finance_sync.engine.scheduler import own_transactions

EVENTS = int(os.environ.get("BENCH_BROKER_EVENTS", "1000"))
CONCURRENCY = 8
RUN_SECONDS = 300
CONSUMER = "bench"


def rabbit_node_class():
    """tests/rabbit.py's RabbitNode, loaded from its file (the tests package imports every test)."""
    path = Path(broker_lib.__file__).resolve().parent.parent / "tests" / "rabbit.py"
    spec = importlib.util.spec_from_file_location("finance_sync_bench_rabbit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RabbitNode


def add_jobs(env, backend, count):
    """``count`` pending ping jobs of ``backend``, one document each, committed: their bodies."""
    due = fields.Datetime.now() - timedelta(seconds=1)
    rows, payloads = [], []
    for n in range(1, count + 1):
        event_id = str(uuid.uuid4())
        payload = backend._prepare_ping_payload(event_id)
        payloads.append(payload)
        rows.append((backend.id, env.company.id, event_id, n, due, json.dumps(payload), SUPERUSER_ID))
    execute_values(
        env.cr._obj,
        """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id, sequence,
                                         state, attempt_count, next_attempt_at, payload, create_uid, write_uid,
                                         create_date, write_date)
           SELECT backend, company, uuid, 'ping', 'res.partner', res_id, 1, 'pending', 0, due,
                  payload::jsonb, uid, uid, due, due
             FROM (VALUES %s) AS new (backend, company, uuid, res_id, due, payload, uid)""",
        rows,
        page_size=500,
    )
    env.cr.execute("ANALYZE finance_sync_job")
    env.cr.commit()
    return payloads


def dispatch(env, backend):
    """The dispatcher's run on its own cursor, as the worker cron runs it: (seconds, attempts)."""
    with closing(sql_db.db_connect(env.cr.dbname).cursor()) as cr:
        dispatcher = api.Environment(cr, SUPERUSER_ID, {})["finance.sync.dispatcher"]
        start = time.perf_counter()
        sent, _more = dispatcher._run(time.monotonic() + RUN_SECONDS, *own_transactions(cr), backend_ids=[backend.id])
        return time.perf_counter() - start, sent


def bare_publisher(target, secret, payloads):
    """The same bodies and properties published on one connection, each confirmed: events/s."""
    bodies = [(p["event_id"], p, payload_lib.canonical_json(p)) for p in payloads]
    conn = target.connect()
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        start = time.perf_counter()
        for event_id, event, body in bodies:
            headers = signing.build_headers(secret, event_id, body)
            props = broker_lib.properties(event_id, event, headers)
            channel.basic_publish(target.exchange, broker_lib.routing_key(event), body, props, mandatory=True)
        return len(bodies) / (time.perf_counter() - start)
    finally:
        conn.close()


def bare_batch_publisher(target, secret, payloads, batch=broker_lib.BATCH_SIZE):
    """The same bodies and properties published on one connection ``batch`` at a time, each
    batch's confirms awaited together (``basic.ack`` with ``multiple``), as the transport does:
    events/s. pika's blocking channel awaits a confirm per publish, so its underlying channel
    publishes and takes the confirms."""
    bodies = [(p["event_id"], p, payload_lib.canonical_json(p)) for p in payloads]
    conn = target.connect()
    try:
        channel = conn.channel()
        state = {"selected": False, "confirmed": 0, "nacked": 0}

        def on_confirm(frame):
            state["confirmed"] = frame.method.delivery_tag  # in order: ``multiple`` settles up to it
            if frame.method.NAME == "Basic.Nack":
                state["nacked"] += 1

        channel._impl.confirm_delivery(ack_nack_callback=on_confirm, callback=lambda _f: state.update(selected=True))
        channel._flush_output(lambda: state["selected"])
        start, published = time.perf_counter(), 0
        for first in range(0, len(bodies), batch):
            for event_id, event, body in bodies[first : first + batch]:
                headers = signing.build_headers(secret, event_id, body)
                props = broker_lib.properties(event_id, event, headers)
                channel._impl.basic_publish(target.exchange, broker_lib.routing_key(event), body, props, mandatory=True)
                published += 1
            channel._flush_output(lambda count=published: state["confirmed"] >= count)
        rate = len(bodies) / (time.perf_counter() - start)
        if state["nacked"]:
            note(f"WARNING: the bare batch publisher had {state['nacked']} nacks")
        return rate
    finally:
        conn.close()


def queue_depth(target, queue):
    conn = target.connect()
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


def purge(target, queue):
    conn = target.connect()
    try:
        conn.channel().queue_purge(queue)
    finally:
        conn.close()


def bench_broker(env):
    section("Message broker (RabbitMQ)")
    RabbitNode = rabbit_node_class()
    if not RabbitNode.available():
        note("skipped: rabbitmq-server is not installed (scripts/setup.sh installs it)")
        return
    node = RabbitNode()
    backend = None
    try:
        node.start()
        password = secrets.token_hex(12)
        node.add_user("bench", password, vhost="bench")
        secret = signing.generate_secret()
        backend = env["finance.sync.backend"].create(
            {
                "name": "Bench broker",
                "transport": "broker",
                "broker_url": f"amqp://127.0.0.1:{node.port}/bench",
                "broker_user": "bench",
                "broker_password": password,
                "broker_consumers": CONSUMER,
                "signing_secret": secret,
                "state": "active",
                "company_ids": [(6, 0, env.company.ids)],
                "max_concurrent": CONCURRENCY,
                "circuit_threshold": 1000,
            }
        )
        env.cr.commit()
        backend.action_initialize_broker()
        env.cr.commit()
        target, _refusal = backend._broker_target()
        queue, _dead = broker_lib.queue_names(target, CONSUMER)
        payloads = add_jobs(env, backend, EVENTS)
        bare_before = bare_publisher(target, secret, payloads)
        purge(target, queue)
        elapsed, sent = dispatch(env, backend)
        env.invalidate_all()
        env.cr.execute(
            "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", (backend.id,)
        )
        states = dict(env.cr.fetchall())
        queued = queue_depth(target, queue)
        dispatcher_rate = states.get("done", 0) / elapsed
        note(f"dispatcher: {sent} attempts in {elapsed:.2f} s; jobs by state {states}; {queued} messages in {queue}")
        if queued != EVENTS:
            note(f"WARNING: {EVENTS} events sent, {queued} in the queue")
        purge(target, queue)
        bare_one = max(bare_before, bare_publisher(target, secret, payloads))
        purge(target, queue)
        bare_batches = bare_batch_publisher(target, secret, payloads)
        purge(target, queue)
        bare_batches = max(bare_batches, bare_batch_publisher(target, secret, payloads))
        purge(target, queue)
        report("broker, dispatcher", dispatcher_rate, "bare pika, confirm each", bare_one, "ev/s")
        report("broker, dispatcher", dispatcher_rate, "bare pika, batched confirms", bare_batches, "ev/s", goal=0.7)
        note(
            f"the dispatcher publishes on up to {CONCURRENCY} connections, up to {broker_lib.BATCH_SIZE} messages a "
            "batch, each batch's confirms awaited together; the bare publishers on 1 connection, the batched one "
            "with the same batch size (the goal is against the stronger)"
        )
    finally:
        if backend is not None:
            env.invalidate_all()
            env["finance.sync.exception"].search([("backend_id", "=", backend.id)]).unlink()
            env.cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend.id,))
            backend.unlink()
            env.cr.commit()
        node.destroy()


def main(env):
    start = time.perf_counter()
    failed = False
    env.cr.rollback()
    try:
        bench_broker(env)
    except Exception:
        failed = True
        verdicts.append(False)
        print(f"ERROR in bench_broker:\n{traceback.format_exc()}", flush=True)
        env.cr.rollback()
    print(f"\n{sum(verdicts)} of {len(verdicts)} goals met ({time.perf_counter() - start:.0f} s)", flush=True)
    if failed:
        sys.exit("benchmark sections failed: bench_broker")


main(env)
