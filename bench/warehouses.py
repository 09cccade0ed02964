"""What the warehouse benchmarks share (bench/bench_warehouse.py, bench/bench_backfill.py): a
throw-away warehouse database on the same PostgreSQL server, a warehouse backend writing into it,
and the bare batched loader (the loader alone, no outbox) they are measured against."""

import secrets
import uuid
from contextlib import closing

import psycopg2
from psycopg2 import sql

from odoo import sql_db
from odoo.addons.finance_sync.bench.benchlib import timed_threads
from odoo.addons.finance_sync.engine.warehouse import loader
from odoo.addons.finance_sync.engine.warehouse import schema as warehouse_schema
from odoo.addons.finance_sync.engine.warehouse.transport import BATCH_SIZE
from odoo.tools import config

SOURCE = "bench"


def server(dbname="postgres"):
    _name, info = sql_db.connection_info_for(dbname)
    conn = psycopg2.connect(**info)
    conn.autocommit = True
    return conn


class Warehouse:
    """A throw-away database and login for the warehouse, for the duration of a ``with`` block."""

    def __init__(self, prefix="fs_bench_wh_"):
        self.prefix = prefix

    def __enter__(self):
        self.name = self.role = f"{self.prefix}{uuid.uuid4().hex[:10]}"
        self.password = secrets.token_hex(16)
        with closing(server()) as conn, conn.cursor() as cr:
            cr.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(self.role)), [self.password])
            cr.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(self.name), sql.Identifier(self.role))
            )
        return self

    def __exit__(self, *exc_info):
        with closing(server()) as conn, conn.cursor() as cr:
            cr.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            cr.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.role)))

    def target(self, schema="finance_sync"):
        return warehouse_schema.Target(
            host="127.0.0.1",
            port=int(config["db_port"] or 5432),
            database=self.name,
            user=self.role,
            password=self.password,
            sslmode="disable",
            require_tls=False,  # a local server without TLS
            schema=schema,
        )


def warehouse_backend(env, target, name, concurrency, initialize=False):
    """A committed active warehouse backend writing into ``target`` (its schema created when
    ``initialize``, as *Initialize* does)."""
    backend = env["finance.sync.backend"].create(
        {
            "name": name,
            "transport": "warehouse",
            "warehouse_host": target.host,
            "warehouse_port": target.port,
            "warehouse_database": target.database,
            "warehouse_user": target.user,
            "warehouse_password": target.password,
            "warehouse_sslmode": "disable",
            "warehouse_schema": target.schema,
            "signing_enabled": False,
            "state": "active",
            "company_ids": [(6, 0, env.company.ids)],
            "max_concurrent": concurrency,
            "circuit_threshold": 1000,
        }
    )
    if initialize:
        backend.action_initialize_warehouse()
    env.cr.commit()
    return backend


def in_threads(target, events, threads, work, timeout=60):
    """``work(conn, statements, events)`` on ``threads`` connections of their own, each with its
    share of ``events`` (in their order), once every connection is open: seconds."""
    with closing(target.connect()) as conn:
        warehouse_schema.migrate(conn, target.schema)
    shares = [events[n::threads] for n in range(threads)]

    def task(share):
        def run(ready):
            with closing(target.connect()) as conn:
                statements = loader.Statements(conn, target.schema)
                ready()
                work(conn, statements, share)

        return run

    elapsed, _results = timed_threads([task(share) for share in shares], name="bench_warehouse", timeout=timeout)
    return elapsed


def bare_batches(target, events, threads, timeout=60):
    """``events`` applied by the loader alone, BATCH_SIZE in a transaction, on ``threads``
    connections, no outbox: seconds."""
    known = {}

    def work(conn, statements, share):
        for first in range(0, len(share), BATCH_SIZE):
            answers = loader.apply_batch(conn, statements, SOURCE, share[first : first + BATCH_SIZE], known=known)
            if any(answer != loader.APPLIED for answer in answers):
                raise RuntimeError(f"the batched loader did not apply every event: {set(map(str, answers))}")

    return in_threads(target, events, threads, work, timeout)
