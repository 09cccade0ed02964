"""A backfill run under Odoo's real cron runner, in a separate ``odoo-bin`` server on the test
database, SIGKILLed mid-run: the resume sends every invoice exactly once. Committed data
(historical invoices cloned with SQL, see ``bench/clones.py``), removed afterwards."""
# These tests need rows another process sees: they commit, and clean up after.
# pylint: disable=invalid-commit

import time
from datetime import date

from odoo.exceptions import UserError
from odoo.tests import BaseCase, get_db_name, tagged

from .. import const
from ..bench import clones
from ..models.finance_sync_backfill_run import BACKFILL_CHUNK
from .servers import OdooServer, committed_env

INVOICES = 4 * BACKFILL_CHUNK
FIRST_DAY, LAST_DAY = date(2001, 1, 1), date(2003, 12, 31)  # no other invoice of the database is this old
PREFIX = "BFK/"


@tagged("post_install", "-at_install")
class TestBackfillKilled(BaseCase):
    def setUp(self):
        super().setUp()
        self.db = get_db_name()
        self.server = None
        self.made = {}
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        if self.server:
            self.server.stop()
        with committed_env(self.db) as env:
            cr = env.cr
            backend_id = self.made.get("backend_id")
            if backend_id:
                cr.execute("DELETE FROM finance_sync_backfill_run WHERE backend_id = %s", [backend_id])
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", [backend_id])
                cr.execute(
                    "DELETE FROM mail_message WHERE model = 'finance.sync.backend' AND res_id = %s", [backend_id]
                )
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", [backend_id])
            if "templates" in self.made:
                partner, templates = self.made["templates"]
                cr.execute(
                    "DELETE FROM finance_sync_job WHERE res_model = 'res.partner' AND res_id = %s", [partner]
                )  # none expected: the backend sends no master data
                clones.delete_invoices(
                    env, PREFIX, env["account.move"].browse(templates), env["res.partner"].browse(partner)
                )

    def run_figures(self, run_id):
        """(state, done, total) of the run as committed."""
        with committed_env(self.db) as env:
            env.cr.execute(
                "SELECT state, done_count, total_count FROM finance_sync_backfill_run WHERE id = %s", [run_id]
            )
            return env.cr.fetchone()

    def test_a_server_killed_mid_run_resumes_and_sends_each_invoice_once(self):
        with committed_env(self.db) as env:
            partner, templates = clones.make_templates(env, 2, date(2000, 6, 15), "Backfill kill customer")
            self.made["templates"] = (partner.id, templates.ids)
            env.cr.commit()
            clones.clone_invoices(env, templates, INVOICES, FIRST_DAY, LAST_DAY, PREFIX)
            clones.check_clone(env, templates, PREFIX)
            # Paused: the documents are captured, nothing is sent (no platform in this test).
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Backfill killed",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "company_ids": [(6, 0, env.ref("base.main_company").ids)],
                    "state": "paused",
                }
            )
            self.made["backend_id"] = backend.id
            env.cr.commit()
            # The request starting the run captures its first chunk and wakes the cron.
            run = env["finance.sync.backfill.run"]._start(backend, FIRST_DAY, LAST_DAY)
            run_id = run.id
        self.assertEqual(self.run_figures(run_id), ("running", BACKFILL_CHUNK, INVOICES))

        # Odoo's cron runner carries the run on, a committed chunk at a time; it is killed after
        # its first chunk is committed, before the end.
        self.server = OdooServer(self.db, "--max-cron-threads", "1").start()
        deadline = time.monotonic() + 240
        while self.run_figures(run_id)[1] < 2 * BACKFILL_CHUNK:
            self.assertLess(
                time.monotonic(), deadline, f"the server committed no chunk:\n{self.server.output()[-3000:]}"
            )
            time.sleep(0.1)
        self.server.kill()
        state, done, total = self.run_figures(run_id)
        self.assertEqual(state, "running", "killed before the end")
        self.assertLess(done, total)
        self.assertIn("Job 'Finance Sync: send existing documents'", self.server.output())

        # The resume: the backfill cron, run by Odoo's cron runner here. The killed server's
        # locks go when PostgreSQL sees its connections close.
        deadline = time.monotonic() + 60
        while self.run_figures(run_id)[0] == "running":
            self.assertLess(time.monotonic(), deadline, "the run was not resumed to its end")
            with committed_env(self.db) as env:
                try:
                    env.ref("finance_sync.ir_cron_backfill").method_direct_trigger()
                except UserError:  # still held by the killed server's connection
                    time.sleep(0.5)
        self.assertEqual(self.run_figures(run_id), ("done", INVOICES, INVOICES))

        # An independent count: every clone has exactly one invoice.posted job for the backend.
        with committed_env(self.db) as env:
            env.cr.execute(
                """SELECT count(*) FILTER (WHERE jobs = 1), count(*) FILTER (WHERE jobs <> 1), count(*)
                     FROM (SELECT move.id, count(job.id) AS jobs
                             FROM account_move move
                             LEFT JOIN finance_sync_job job
                                    ON job.res_model = 'account.move' AND job.res_id = move.id
                                   AND job.backend_id = %s AND job.event_type = %s
                            WHERE move.name LIKE %s
                            GROUP BY move.id) per_invoice""",
                [backend.id, const.EVENT_INVOICE_POSTED, PREFIX + "%"],
            )
            once, not_once, invoices = env.cr.fetchone()
            env.cr.execute("SELECT count(*) FROM finance_sync_job WHERE backend_id = %s", [backend.id])
            all_jobs = env.cr.fetchone()[0]
        self.assertEqual((once, not_once, invoices), (INVOICES, 0, INVOICES), "each invoice exactly once")
        self.assertEqual(all_jobs, INVOICES, "nothing else was sent to the backend")
