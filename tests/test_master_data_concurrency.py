"""Two dispatchers on two database connections: every document is sent after its partner's event
was delivered, whichever worker sent either.

This needs rows that both connections see, so it commits real data (and removes it after),
instead of running inside the usual rolled-back test transaction."""
# These tests need rows other connections see: they commit, and clean up after.
# pylint: disable=invalid-commit

import json
import threading
import time
import uuid
from contextlib import closing

from pytest_httpserver import HTTPServer
from werkzeug import Response

from odoo import SUPERUSER_ID, api, sql_db
from odoo.tests import BaseCase, get_db_name, tagged

from ..engine import signing
from ..utils import without_capture
from .common import registry_shared_with_threads, run_dispatchers

PARTNERS = 8
DOCUMENTS_PER_PARTNER = 3
FAKE_DOCUMENT_IDS = 2_000_000_000  # documents of this test exist only as outbox rows


@tagged("post_install", "-at_install")
class TestPartnerFirstUnderTwoWorkers(BaseCase):
    def setUp(self):
        super().setUp()
        self.receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.receiver.start()
        self.addCleanup(self.receiver.stop)
        self.log = []  # ("start" | "end", event id), in the order the platform saw them
        lock = threading.Lock()

        def handler(request):
            event_id = request.headers["webhook-id"]
            with lock:
                self.log.append(("start", event_id))
            # Partner events are slow: a worker that ignored the dependency would send the
            # documents meanwhile.
            time.sleep(0.15 if json.loads(request.get_data())["type"] == "partner.upserted" else 0.01)
            with lock:
                self.log.append(("end", event_id))
            return Response("{}", status=200, content_type="application/json")

        self.receiver.expect_request("/hook", method="POST").respond_with_handler(handler)
        self.db = get_db_name()

    def _cursor(self):
        return closing(sql_db.db_connect(self.db).cursor())

    def test_documents_follow_their_partner_across_two_workers(self):
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Partner first",
                    "endpoint_url": self.receiver.url_for("/hook"),
                    "signing_secret": signing.generate_secret(),
                    "state": "active",
                    "max_concurrent": 4,
                    "send_master_data": True,
                    "company_ids": [(6, 0, company.ids)],
                }
            )
            partners = without_capture(env["res.partner"]).create(
                [{"name": f"Partner first {i}", "customer_rank": 1} for i in range(PARTNERS)]
            )
            partner_jobs = partners._finance_sync_capture_master(
                {p.id: backend for p in partners}, company=company, only_changed=False
            )
            # The documents: events captured after their partner's, each depending on it.
            vals, depends = [], {}
            for index, partner in enumerate(partners):
                for n in range(DOCUMENTS_PER_PARTNER):
                    event_id = str(uuid.uuid4())
                    depends[event_id] = partner.id
                    vals.append(
                        {
                            "backend_id": backend.id,
                            "company_id": company.id,
                            "event_uuid": event_id,
                            "event_type": "ping",
                            "res_model": "account.move",
                            "res_id": FAKE_DOCUMENT_IDS + index * DOCUMENTS_PER_PARTNER + n,
                            "sequence": 1,
                            "depends_on_partner_id": partner.id,
                            "payload": backend._prepare_ping_payload(event_id),
                        }
                    )
            env["finance.sync.job"].create(vals)
            partner_events = {job.event_uuid: job.res_id for job in partner_jobs}
            backend_id, partner_ids = backend.id, tuple(partners.ids)
            cr.commit()
        try:
            errors = run_dispatchers(self.db, backend_id, budget=90, wait=180)
            self.assertEqual(errors, [])
            with self._cursor() as cr:
                cr.execute(
                    "SELECT state, count(*) FROM finance_sync_job WHERE backend_id = %s GROUP BY state", (backend_id,)
                )
                self.assertEqual(dict(cr.fetchall()), {"done": PARTNERS * (DOCUMENTS_PER_PARTNER + 1)})
            position = {entry: i for i, entry in enumerate(self.log)}
            self.assertEqual(len(position), len(self.log), "every event sent exactly once")
            ended = {partner_events[e]: position[("end", e)] for kind, e in self.log if e in partner_events}
            for event_id, partner_id in depends.items():
                self.assertGreater(
                    position[("start", event_id)],
                    ended[partner_id],
                    "a document is sent only after its partner's event was answered",
                )
            # Both workers had work: the partners' events went out concurrently.
            starts = [position[("start", e)] for e in partner_events]
            ends = [position[("end", e)] for e in partner_events]
            self.assertLess(min(ends), max(starts), "partner events were in flight together")
        finally:
            with self._cursor() as cr:
                cr.execute(
                    "DELETE FROM finance_sync_attempt WHERE job_id IN "
                    "(SELECT id FROM finance_sync_job WHERE backend_id = %s)",
                    (backend_id,),
                )
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend_id,))
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (backend_id,))
                cr.execute("DELETE FROM res_partner WHERE id IN %s", (partner_ids,))
                cr.commit()


@tagged("post_install", "-at_install")
class TestPartnerCapturedTwiceAtOnce(BaseCase):
    """Two transactions posting a new customer's first invoices at once both find the platform
    never had the customer: the second one's partner event collides with the first's and its
    transaction is retried (ConcurrencyError), where it sees the partner as sent."""

    def _cursor(self):
        return closing(sql_db.db_connect(get_db_name()).cursor())

    def test_the_second_capture_is_retried_not_an_error(self):
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Twice at once",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "signing_secret": signing.generate_secret(),
                    "state": "paused",
                    "send_master_data": True,
                    "company_ids": [(6, 0, company.ids)],
                }
            )
            partner = without_capture(env["res.partner"]).create({"name": "Twice"})
            backend_id, partner_id, company_id = backend.id, partner.id, company.id
            cr.commit()
        outcome = []
        try:
            with self._cursor() as first_cr, self._cursor() as second_cr:
                first = api.Environment(first_cr, SUPERUSER_ID, {})
                second = api.Environment(second_cr, SUPERUSER_ID, {})

                def capture(env):
                    pair = {(env["finance.sync.backend"].browse(backend_id), env["res.partner"].browse(partner_id))}
                    env["res.partner"]._finance_sync_partners_first(pair, env["res.company"].browse(company_id))

                # Both transactions look before either commits.
                first_cr.execute("SELECT 1")
                second_cr.execute("SELECT 1")
                capture(first)

                def run_second():
                    try:
                        capture(second)
                        second_cr.commit()
                        outcome.append("committed")
                    except Exception as exc:  # the assertion below says what it was
                        second_cr.rollback()
                        outcome.append(type(exc).__name__)

                thread = threading.Thread(target=run_second)
                with registry_shared_with_threads():
                    thread.start()
                    time.sleep(0.5)  # the second insert waits for the first transaction
                    first_cr.commit()
                    thread.join(30)
            self.assertEqual(outcome, ["ConcurrencyError"])
            with self._cursor() as cr:
                cr.execute(
                    "SELECT count(*) FROM finance_sync_job WHERE backend_id = %s AND res_model = 'res.partner'",
                    (backend_id,),
                )
                self.assertEqual(cr.fetchone()[0], 1, "one partner event, not two")
        finally:
            with self._cursor() as cr:
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend_id,))
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (backend_id,))
                cr.execute("DELETE FROM res_partner WHERE id = %s", (partner_id,))
                cr.commit()
