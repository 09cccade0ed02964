"""Backfill runs: the existing documents of a period sent chunk by chunk, each once, and a run
that a killed worker left mid-way going on where it was at the next cron run."""

from datetime import date, timedelta
from unittest.mock import patch

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..models import finance_sync_backfill_run
from ..utils import without_capture
from .common import FinanceSyncCase

CHUNK = 2


class Killed(Exception):
    """What a worker killed mid-chunk leaves: a transaction never committed."""


@tagged("post_install", "-at_install")
class TestBackfillRun(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.first_day = date(2025, 2, 3)
        amounts = (12.10, 0.07, 1234.57, 88.81, 19.99, 7.03, 305.11)
        # Dated out of creation order: a run goes by accounting date, then id.
        cls.invoices = cls.env["account.move"]
        for offset, amount in zip((6, 2, 4, 0, 5, 1, 3), amounts, strict=True):
            day = cls.first_day + timedelta(days=offset)
            invoice = cls._create_invoice_one_line(price_unit=amount, tax_ids=[], invoice_date=day, date=day)
            without_capture(invoice).action_post()
            cls.invoices |= invoice
        cls.payments = cls.env["account.payment"]
        for offset, amount in ((3, 40.01), (1, 250.33), (2, 0.99)):
            payment = cls.init_payment(amount, date=cls.first_day + timedelta(days=offset))
            without_capture(payment).action_post()
            cls.payments |= payment
        cls.cron = cls.env.ref("finance_sync.ir_cron_backfill")

    def setUp(self):
        super().setUp()
        self.startPatcher(patch.object(finance_sync_backfill_run, "BACKFILL_CHUNK", CHUNK))

    def wizard(self):
        return self.env["finance.sync.backfill"].create(
            {"backend_id": self.backend.id, "date_from": self.first_day, "date_to": self.first_day + timedelta(days=30)}
        )

    def events_per_document(self):
        """{(model, id): [event types]} of this backend's events of the test's documents, read
        from the outbox in the order captured."""
        jobs = self.Job.search(
            [
                ("backend_id", "=", self.backend.id),
                "|",
                "&",
                ("res_model", "=", "account.move"),
                ("res_id", "in", self.invoices.ids),
                "&",
                ("res_model", "=", "account.payment"),
                ("res_id", "in", self.payments.ids),
            ],
            order="id",
        )
        events = {}
        for job in jobs:
            events.setdefault((job.res_model, job.res_id), []).append(job.event_type)
        return events, jobs

    def run_cron(self):
        with self.enter_registry_test_mode():  # the cron's own cursor is this test's
            self.cron.method_direct_trigger()

    def test_a_run_killed_mid_chunk_goes_on_and_sends_each_document_once(self):
        wizard = self.wizard()
        self.assertEqual((wizard.invoice_count, wizard.payment_count), (7, 3))
        action = wizard.action_confirm()
        run = self.env["finance.sync.backfill.run"].browse(action["res_id"])
        self.assertEqual(action["res_model"], "finance.sync.backfill.run")
        # The request captured the first chunk only; the cron was woken for the rest.
        self.assertEqual((run.state, run.total_count, run.done_count), ("running", 10, CHUNK))
        self.assertEqual(len(self.events_per_document()[0]), CHUNK)
        self.assertTrue(self.env["ir.cron.trigger"].search_count([("cron_id", "=", self.cron.id)]))
        # The backend's form shows the run's progress.
        self.assertEqual((self.backend.backfill_done, self.backend.backfill_total), (CHUNK, 10))
        self.assertEqual(self.backend.backfill_state, "running")
        self.assertTrue(self.backend.backfill_time_left)

        # A worker commits one more chunk...
        run.sudo()._run_chunks(max_documents=1)
        self.assertEqual(run.done_count, 2 * CHUNK)
        # ... meanwhile an invoice of a later chunk is reset and posted again: captured live.
        live = self.invoices.sorted("date")[-1]
        live.button_draft()
        live.action_post()
        self.assertEqual(self.jobs_of(live).mapped("event_type"), ["invoice.posted"])
        # ... then the worker is killed in the middle of the next chunk: nothing of it is committed.
        before = self.events_per_document()[0]
        with self.assertRaises(Killed), self.env.cr.savepoint():
            run.sudo()._run_chunks(max_documents=1)
            self.assertEqual(run.done_count, 3 * CHUNK)
            raise Killed
        self.env.invalidate_all()
        self.assertEqual(self.events_per_document()[0], before)
        self.assertEqual((run.state, run.done_count), ("running", 2 * CHUNK))

        # The next cron run goes on from the last committed chunk, to the end.
        self.run_cron()
        run.invalidate_recordset()
        self.assertEqual(run.state, "done")
        events, jobs = self.events_per_document()
        expected = {("account.move", i): ["invoice.posted"] for i in self.invoices.ids}
        expected.update({("account.payment", p): ["payment.posted"] for p in self.payments.ids})
        self.assertEqual(events, expected, "every document exactly once")
        # Each kind oldest first, invoices before payments (the live one aside).
        sent = jobs.filtered(lambda j: (j.res_model, j.res_id) != ("account.move", live.id))
        documents = [self.env[j.res_model].browse(j.res_id) for j in sent]
        self.assertEqual([d._name for d in documents], ["account.move"] * 6 + ["account.payment"] * 3)
        self.assertEqual([d.date for d in documents[:6]], sorted(d.date for d in documents[:6]))
        self.assertEqual([d.date for d in documents[6:]], sorted(d.date for d in documents[6:]))
        self.assertEqual((run.invoice_done, run.payment_done, run.done_count), (6, 3, 9))
        self.assertIn("6 invoices or credit notes, 3 payments", self.backend.message_ids[0].body)
        self.assertFalse(run.time_left)
        # A second cron run has nothing left to do, and a new run nothing to send.
        self.run_cron()
        self.assertEqual(self.events_per_document()[0], expected)
        with self.assertRaises(UserError):
            self.wizard().action_confirm()

    def test_one_run_at_a_time_and_only_administrators_stop_it(self):
        run = self.env["finance.sync.backfill.run"].browse(self.wizard().action_confirm()["res_id"])
        with self.assertRaises(UserError):
            self.wizard().action_confirm()
        user = self.make_user("fs_backfill_viewer", "finance_sync.finance_sync_group_user")
        self.assertEqual(run.with_user(user).done_count, CHUNK, "a finance user sees the progress")
        with self.assertRaises(AccessError):
            run.with_user(user).action_cancel()
        with self.assertRaises(AccessError):
            run.with_user(user).write({"state": "done"})
        with self.assertRaises(AccessError):
            run.write({"done_count": 10})  # not even an administrator sets the figures by hand
        self.assertIs(run.action_cancel(), True)
        self.assertEqual(run.state, "cancelled")
        self.run_cron()
        self.assertEqual(len(self.events_per_document()[0]), CHUNK, "a stopped run captures nothing more")
        # A new run sends what the stopped one did not, and only that.
        again = self.wizard()
        self.assertEqual(again.invoice_count + again.payment_count, 10 - CHUNK)

    def test_a_chunk_reads_its_documents_reconciliations_together(self):
        """Capturing a chunk renders its documents' payloads together: their reconciliations
        are read in a few queries, not two per document (a document's lines prefetch only
        among themselves)."""
        paid = self.invoices[-1]
        payment = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=paid.ids)
            .create({"amount": 5.03})
            ._create_payments()
        )
        self.assertEqual(paid.payment_state, "partial")
        execute = type(self.env.cr).execute
        for documents in (self.invoices, self.payments | payment):
            partial_reads = []

            def spy(cr, query, params=None, log_exceptions=True, reads=partial_reads):
                if 'FROM "account_partial_reconcile"' in str(getattr(query, "code", query)):
                    reads.append(query)
                return execute(cr, query, params, log_exceptions)

            self.env.invalidate_all()
            with patch.object(type(self.env.cr), "execute", spy):
                payloads = documents._finance_sync_payloads()
            self.assertLessEqual(len(partial_reads), 3, f"reconciliations of {len(documents)} {documents._name}")
        # ... and still reads them: the partly paid invoice and its payment name each other.
        self.assertEqual(payloads[payment.id]["reconciliation"][0]["counterpart"]["id"], paid.id)
        self.assertEqual(payloads[payment.id]["reconciliation"][0]["amount"], "5.03")
        self.env.invalidate_all()
        invoice_payload = self.invoices._finance_sync_payloads()[paid.id]
        self.assertEqual([p["id"] for p in invoice_payload["payments"]], payment.ids)
        self.assertEqual(invoice_payload["reconciliation"][0]["amount"], "5.03")
