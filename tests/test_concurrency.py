"""Two dispatchers on two database connections never send the same job twice.

This needs rows that both connections see, so it commits real data (and removes it after),
instead of running inside the usual rolled-back test transaction."""
# These tests need rows other connections see: they commit, and clean up after.
# pylint: disable=invalid-commit

import threading
import time
from contextlib import closing

from pytest_httpserver import HTTPServer
from werkzeug import Response

from odoo import SUPERUSER_ID, api, sql_db
from odoo.tests import BaseCase, get_db_name, tagged

from ..engine import signing
from .common import create_ping_jobs, run_dispatchers

JOBS = 24


@tagged("post_install", "-at_install")
class TestConcurrentDispatch(BaseCase):
    def setUp(self):
        super().setUp()
        self.receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.receiver.start()
        self.addCleanup(self.receiver.stop)
        self.seen = []
        lock = threading.Lock()

        def handler(request):
            time.sleep(0.02)  # keep both workers busy at the same time
            with lock:
                self.seen.append(request.headers["webhook-id"])
            return Response("{}", status=200, content_type="application/json")

        self.receiver.expect_request("/hook", method="POST").respond_with_handler(handler)
        self.db = get_db_name()

    def _cursor(self):
        return closing(sql_db.db_connect(self.db).cursor())

    def test_two_workers_send_each_job_once(self):
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Concurrency",
                    "endpoint_url": self.receiver.url_for("/hook"),
                    "signing_secret": signing.generate_secret(),
                    "state": "active",
                    "max_concurrent": 4,
                    "company_ids": [(6, 0, env.ref("base.main_company").ids)],
                }
            )
            partners = env["res.partner"].create([{"name": f"Concurrency {i}"} for i in range(JOBS)])
            # one document per job: ordering never holds a job back
            expected = sorted(create_ping_jobs(env, backend, partners))
            backend_id, partner_ids = backend.id, tuple(partners.ids)
            cr.commit()
        try:
            errors = run_dispatchers(self.db, backend_id, budget=60, wait=120)
            self.assertEqual(errors, [])
            self.assertEqual(sorted(self.seen), expected, "every job sent exactly once")
            with self._cursor() as cr:
                cr.execute(
                    "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", (backend_id,)
                )
                self.assertEqual(dict(cr.fetchall()), {"done": JOBS})
        finally:
            with self._cursor() as cr:
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend_id,))
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (backend_id,))
                cr.execute("DELETE FROM res_partner WHERE id IN %s", (partner_ids,))
                cr.commit()
