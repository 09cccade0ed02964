"""Master data under real concurrency, on several database connections that commit: every document
is sent after its partner's event was delivered, whichever worker sent either; a partner captured
by two transactions at once is captured once; and the last credit exposure a platform receives
carries Odoo's final figures, however a payment's commit and the dispatcher's cycle interleave.

This needs rows that several connections see, so it commits real data (and removes it after),
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

from odoo import SUPERUSER_ID, Command, api, fields, sql_db
from odoo.tests import BaseCase, get_db_name, tagged

from ..engine import signing
from ..engine.scheduler import own_transactions
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
                            "depends_on_partner": partner.id,
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


@tagged("post_install", "-at_install")
class TestExposureWhilePaymentsCommit(BaseCase):
    """An invoice posted and paid right after: the exposure event captured by the posting may be
    rendered by the dispatcher while the payment's transaction runs. Whatever the order of the two
    commits, the last exposure event the platform receives carries Odoo's figures after the
    payment (115.07 invoiced, 49.93 paid: 65.14 owed), and Odoo's own counters (ranks increased
    after each commit) send no partner event."""

    INVOICED, PAID, OWED = 115.07, 49.93, "65.14"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = get_db_name()
        cls.receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        cls.receiver.start()
        cls.addClassCleanup(cls.receiver.stop)
        cls.receiver.expect_request("/hook", method="POST").respond_with_response(
            Response("{}", status=200, content_type="application/json")
        )
        with cls._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Exposure race",
                    "endpoint_url": cls.receiver.url_for("/hook"),
                    "signing_secret": signing.generate_secret(),
                    "state": "active",
                    "send_master_data": True,
                    "exposure_interval": 0,
                    "company_ids": [(6, 0, company.ids)],
                }
            )
            bank = env["account.journal"].search([("type", "=", "bank"), ("company_id", "=", company.id)], limit=1)
            cls.backend_id, cls.company_id, cls.bank_id = backend.id, company.id, bank.id
            cr.commit()
        cls.addClassCleanup(cls._remove_data)
        cls.partner_ids = []

    @classmethod
    def _cursor(cls):
        return closing(sql_db.db_connect(get_db_name()).cursor())

    @classmethod
    def _remove_data(cls):
        with cls._cursor() as cr:
            partners = tuple(cls.partner_ids) or (0,)
            cr.execute(
                """SELECT array_agg(DISTINCT move.id) FROM account_move move
                     LEFT JOIN account_move_line line ON line.move_id = move.id
                    WHERE move.partner_id IN %s OR line.partner_id IN %s""",
                (partners, partners),
            )
            moves = cr.fetchone()[0] or [0]
            cr.execute("SELECT array_agg(id) FROM account_move_line WHERE move_id = ANY(%s)", (moves,))
            lines = cr.fetchone()[0] or [0]
            cr.execute(
                "SELECT array_agg(DISTINCT full_reconcile_id) FROM account_move_line WHERE id = ANY(%s)", (lines,)
            )
            fulls = [full for full in cr.fetchone()[0] or [] if full] or [0]
            cr.execute(
                "DELETE FROM finance_sync_attempt WHERE job_id IN "
                "(SELECT id FROM finance_sync_job WHERE backend_id = %s)",
                (cls.backend_id,),
            )
            cr.execute("DELETE FROM finance_sync_exception WHERE backend_id = %s", (cls.backend_id,))
            cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (cls.backend_id,))
            cr.execute(
                "DELETE FROM account_partial_reconcile WHERE debit_move_id = ANY(%s) OR credit_move_id = ANY(%s)",
                (lines, lines),
            )
            cr.execute("DELETE FROM account_payment WHERE move_id = ANY(%s)", (moves,))
            cr.execute("DELETE FROM account_payment_register WHERE partner_id IN %s", (partners,))
            cr.execute(
                "DELETE FROM mail_message WHERE model IN ('account.move', 'account.payment') AND res_id = ANY(%s)",
                (moves,),
            )
            cr.execute("DELETE FROM account_move WHERE id = ANY(%s)", (moves,))
            cr.execute("DELETE FROM account_full_reconcile WHERE id = ANY(%s)", (fulls,))
            cr.execute(
                "DELETE FROM mail_message WHERE model = 'finance.sync.backend' AND res_id = %s", (cls.backend_id,)
            )
            cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (cls.backend_id,))
            cr.execute("DELETE FROM res_partner WHERE id IN %s", (partners,))
            cr.commit()

    def setUp(self):
        super().setUp()
        self.receiver.clear_log()
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partner = env["res.partner"].create({"name": f"Race customer {uuid.uuid4().hex[:8]}", "customer_rank": 1})
            self.partner_ids.append(partner.id)
            self.partner_id = partner.id
            cr.commit()
        self.dispatch()  # the platform knows the customer: its exposure events wait for nothing
        self.assertEqual(len(self.sent("partner.upserted")), 1)

    # --- the business side: each call is its own transaction, as a user's click is -------------

    def env_of(self, cr):
        return api.Environment(cr, SUPERUSER_ID, {"allowed_company_ids": [self.company_id]})

    def post_invoice(self, cr):
        invoice = self.env_of(cr)["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": self.partner_id,
                "invoice_date": fields.Date.today(),
                "invoice_line_ids": [
                    Command.create({"name": "Goods", "quantity": 1, "price_unit": self.INVOICED, "tax_ids": []})
                ],
            }
        )
        invoice.action_post()
        return invoice.id

    def register_payment(self, cr, invoice_id):
        env = self.env_of(cr)
        env["account.payment.register"].with_context(active_model="account.move", active_ids=[invoice_id]).create(
            {"amount": self.PAID, "journal_id": self.bank_id, "payment_date": fields.Date.today()}
        )._create_payments()

    def commit(self, work, *args):
        with self._cursor() as cr:
            result = work(cr, *args)
            cr.commit()
        return result

    # --- the dispatcher side -------------------------------------------------------------------

    def dispatch(self, cr=None):
        """One dispatcher run on ``cr`` (its own connection by default), committing as the cron does."""
        if cr is None:
            with self._cursor() as own:
                return self.dispatch(own)
        commit, rollback = own_transactions(cr)
        api.Environment(cr, SUPERUSER_ID, {})["finance.sync.dispatcher"]._run(
            time.monotonic() + 60, commit, rollback, backend_ids=[self.backend_id]
        )
        commit.reset()
        cr.commit()
        return None

    # --- what the platform got and what Odoo says ------------------------------------------------

    def sent(self, event_type):
        bodies = [json.loads(request.get_data()) for request, _response in self.receiver.log]
        return [body for body in bodies if body["type"] == event_type and body["partner"]["id"] == self.partner_id]

    def odoo_figures(self):
        """Oracle: the customer's receivable balance, by a grouped query over the ledger, and
        Odoo's own Total Receivable (``credit``)."""
        with self._cursor() as cr:
            cr.execute(
                """SELECT round(COALESCE(sum(line.amount_residual), 0), 2)::text
                     FROM account_move_line line
                     JOIN account_account account ON account.id = line.account_id
                     JOIN res_partner partner ON partner.id = line.partner_id
                    WHERE line.parent_state = 'posted' AND account.account_type = 'asset_receivable'
                      AND line.company_id = %s AND partner.commercial_partner_id = %s""",
                (self.company_id, self.partner_id),
            )
            ledger = cr.fetchone()[0]
            credit = self.env_of(cr)["res.partner"].browse(self.partner_id).with_company(self.company_id).credit
        return ledger, f"{credit:.2f}"

    def assert_platform_has_odoo_s_figures(self, owed):
        self.dispatch()  # whatever is left
        ledger, credit = self.odoo_figures()
        self.assertEqual((ledger, credit), (owed, owed), "Odoo's ledger and its Total Receivable agree")
        exposures = self.sent("partner.exposure")
        self.assertTrue(exposures)
        self.assertEqual(
            exposures[-1]["exposure"]["open_balance"], ledger, "the last exposure received carries Odoo's figures"
        )
        self.assertEqual(len(self.sent("partner.upserted")), 1, "Odoo's rank counters send no partner event")
        with self._cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM finance_sync_job WHERE backend_id = %s AND state != 'done'", (self.backend_id,)
            )
            self.assertEqual(cr.fetchone()[0], 0, "everything delivered")

    # --- the interleavings ---------------------------------------------------------------------

    def test_the_payment_commits_after_the_dispatcher_rendered_the_exposure(self):
        invoice_id = self.commit(self.post_invoice)
        with self._cursor() as payment_cr:
            # The payment's transaction began (it sees the exposure event waiting, not rendered)...
            payment_cr.execute("SELECT count(*) FROM finance_sync_job")
            self.dispatch()  # ... then the dispatcher rendered it (115.07 owed), committed and sent it
            self.assertEqual(self.sent("partner.exposure")[-1]["exposure"]["open_balance"], f"{self.INVOICED:.2f}")
            self.register_payment(payment_cr, invoice_id)
            payment_cr.commit()
        self.assert_platform_has_odoo_s_figures(self.OWED)

    def test_the_payment_commits_while_the_dispatcher_s_snapshot_is_older(self):
        invoice_id = self.commit(self.post_invoice)
        with self._cursor() as dispatcher_cr:
            # The dispatcher's transaction began (its snapshot is taken) before the payment committed,
            # and renders the exposure after.
            dispatcher_cr.execute("SELECT count(*) FROM finance_sync_job")
            self.commit(self.register_payment, invoice_id)
            self.dispatch(dispatcher_cr)
        self.assert_platform_has_odoo_s_figures(self.OWED)

    def test_invoices_paid_at_once_while_a_dispatcher_runs(self):
        """The reported use: each invoice paid right after it is posted (under a second), a
        dispatcher worker sending all along."""
        stop, errors = threading.Event(), []

        def worker():
            try:
                with self._cursor() as cr:
                    while not stop.is_set():
                        self.dispatch(cr)
                        time.sleep(0.05)
            except Exception as exc:  # returned to the test, which asserts there is none
                errors.append(exc)

        thread = threading.Thread(target=worker)
        with registry_shared_with_threads():
            thread.start()
            try:
                for _round in range(3):
                    invoice_id = self.commit(self.post_invoice)
                    self.commit(self.register_payment, invoice_id)
            finally:
                stop.set()
                thread.join(60)
        self.assertEqual(errors, [])
        self.assert_platform_has_odoo_s_figures(f"{3 * (self.INVOICED - self.PAID):.2f}")
