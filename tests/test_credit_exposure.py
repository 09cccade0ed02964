"""Credit exposure: figures from SQL aggregates that agree with Odoo's own ledger, captured after
postings and payments, coalesced, and read when the event is rendered."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import FinanceSyncCase


@tagged("post_install", "-at_install")
class TestCreditExposure(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write({"send_master_data": True, "exposure_interval": 15})
        cls.customer = cls.env["res.partner"].create({"name": "Exposed Customer", "customer_rank": 1})
        cls.today = fields.Date.context_today(cls.env["res.partner"])

    def setUp(self):
        super().setUp()
        self.commit_hooks()

    def exposure_jobs(self):
        return self.Job.search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", self.customer.id),
                ("event_type", "=", "partner.exposure"),
                ("backend_id", "=", self.backend.id),
            ],
            order="id",
        )

    def invoice(self, amount, invoice_date, due=None, move_type="out_invoice"):
        move = self.init_invoice(
            move_type, partner=self.customer, invoice_date=invoice_date, amounts=[amount], taxes=[]
        )
        if due:
            move.invoice_payment_term_id = False
            move.invoice_date_due = due
        move.action_post()
        return move

    def pay(self, invoice, amount):
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=invoice.ids).create(
            {
                "payment_date": self.today,
                "journal_id": self.company_data["default_journal_bank"].id,
                "amount": amount,
            }
        )._create_payments()

    def sent_exposures(self):
        return [body for _h, body, _raw in self.received() if body["type"] == "partner.exposure"]

    def test_figures_agree_with_the_partner_ledger(self):
        overdue = self.invoice(1000.0, self.today - timedelta(days=60), due=self.today - timedelta(days=60))
        later = self.invoice(500.0, self.today, due=self.today + timedelta(days=30))
        self.pay(overdue, 300.0)
        self.invoice(100.0, self.today, due=self.today, move_type="out_refund")
        self.commit_hooks()

        figures = self.customer._finance_sync_exposure()[self.customer.id]
        self.customer.invalidate_recordset(["credit"])
        self.assertAlmostEqual(figures["open_balance"], self.customer.credit, msg="Odoo's own total receivable")
        self.assertAlmostEqual(figures["open_balance"], 1000 + 500 - 300 - 100)
        self.assertAlmostEqual(figures["overdue"], overdue.amount_residual)
        self.assertAlmostEqual(figures["overdue"], 700.0)
        self.assertEqual(figures["oldest_days"], 60)
        self.assertEqual(figures["unpaid"], 2, "the partly paid and the unpaid invoice; the credit note is none")
        self.assertTrue(later.amount_residual)

        jobs = self.exposure_jobs()
        self.assertEqual(len(jobs), 1, "four changes in one transaction, one exposure event")
        self.assertFalse(jobs.payload.get("exposure"), "figures are not captured: they are read when rendered")
        self.respond(200)
        self.dispatch()
        (sent,) = self.sent_exposures()
        self.assertEqual(
            {key: sent["exposure"][key] for key in ("open_balance", "overdue_amount", "currency")},
            {"open_balance": "1100.00", "overdue_amount": "700.00", "currency": self.company.currency_id.name},
        )
        self.assertEqual(sent["exposure"]["oldest_overdue_days"], 60)
        self.assertEqual(sent["exposure"]["unpaid_invoice_count"], 2)
        self.assertEqual(sent["partner"]["id"], self.customer.id)
        types = [body["type"] for _h, body, _raw in self.received()]
        self.assertLess(types.index("partner.upserted"), types.index("partner.exposure"), "the partner goes first")

    def test_a_waiting_event_carries_the_latest_figures_and_later_ones_keep_the_interval(self):
        self.invoice(100.0, self.today)
        self.commit_hooks()
        first = self.exposure_jobs()
        self.assertEqual(len(first), 1)
        self.invoice(250.0, self.today)
        self.commit_hooks()
        self.assertEqual(self.exposure_jobs(), first, "an event not yet rendered takes the later change")

        self.respond(200)
        self.dispatch()
        (sent,) = self.sent_exposures()
        self.assertEqual(sent["exposure"]["open_balance"], "350.00", "rendered when sent: both invoices")
        self.assertEqual(first.state, "done")

        self.invoice(50.0, self.today)
        self.commit_hooks()
        second = self.exposure_jobs() - first
        self.assertEqual(len(second), 1)
        self.assertGreaterEqual(second.next_attempt_at, first.create_date + timedelta(minutes=15))
        self.receiver.clear()
        self.dispatch()
        self.assertEqual(self.sent_exposures(), [], "not before the backend's interval")
        self.assertEqual(second.state, "pending")

    def test_reversals_and_payments_send_the_new_exposure(self):
        self.backend.exposure_interval = 0
        invoice = self.invoice(400.0, self.today)
        paid = self.invoice(100.0, self.today)
        self.commit_hooks()
        self.respond(200)
        self.dispatch()
        self.assertEqual(self.sent_exposures()[-1]["exposure"]["open_balance"], "500.00")

        invoice._reverse_moves([{"ref": "Returned goods"}], cancel=True)
        self.commit_hooks()
        self.dispatch()
        self.assertEqual(self.sent_exposures()[-1]["exposure"]["open_balance"], "100.00", "after the reversal")

        self.pay(paid, 100.0)
        self.commit_hooks()
        self.dispatch()
        last = self.sent_exposures()[-1]["exposure"]
        self.assertEqual((last["open_balance"], last["unpaid_invoice_count"]), ("0.00", 0), "after the payment")
        self.assertEqual(len(self.sent_exposures()), 3)

    def test_a_new_credit_limit_or_hold_is_news_for_the_exposure(self):
        self.customer.write({"credit_limit": 3000.0, "finance_sync_credit_hold": True})
        self.commit_hooks()
        self.assertEqual(len(self.exposure_jobs()), 1)
        self.respond(200)
        self.dispatch()
        (sent,) = self.sent_exposures()
        self.assertEqual((sent["exposure"]["credit_limit"], sent["exposure"]["on_hold"]), ("3000.00", True))

        self.backend.exposure_interval = 0
        self.customer.write({"finance_sync_credit_hold": False})  # the hold alone
        self.commit_hooks()
        self.dispatch()
        self.assertEqual(len(self.sent_exposures()), 2)
        self.assertIs(self.sent_exposures()[-1]["exposure"]["on_hold"], False)

    def test_an_unrelated_write_or_a_supplier_sends_no_exposure(self):
        # Control: the customer's invoice is news for its exposure, sent at once.
        self.invoice(12.10, self.today)
        self.commit_hooks()
        self.respond(200)
        self.dispatch()
        sent = self.exposure_jobs()
        self.assertEqual((len(sent), sent.state), (1, "done"))
        # Its phone and notes move no receivable, no limit and no hold: no exposure event.
        self.customer.write({"phone": "+32 3 555 01 07", "comment": "Prefers e-mail"})
        self.commit_hooks()
        self.assertEqual(self.exposure_jobs(), sent, "an unrelated write is no news for the exposure")

        supplier = self.env["res.partner"].create({"name": "Only a supplier", "supplier_rank": 1})
        self.init_invoice("in_invoice", partner=supplier, invoice_date=self.today, amounts=[80.0], post=True)
        supplier.write({"credit_limit": 250.07})  # news for a customer's exposure (see above), not a supplier's
        self.commit_hooks()
        self.assertFalse(
            self.Job.search([("res_id", "=", supplier.id), ("event_type", "=", "partner.exposure")]),
            "exposure is about customers' receivables",
        )

    def test_each_stream_of_a_partner_has_its_own_sequence_in_the_order_it_arrives(self):
        """A platform that drops an event older than the last one it applied loses nothing: the
        partner's master data events and its exposure events are two streams, each numbered and
        sent in its own order, whatever the exposure interval delays."""
        self.invoice(115.07, self.today)
        self.commit_hooks()
        self.respond(200)
        self.dispatch()  # the partner, then its first exposure
        self.invoice(0.07, self.today)  # the next exposure waits for the interval
        self.commit_hooks()
        self.customer.write({"name": "Exposed Customer Ltd"})
        self.commit_hooks()
        self.dispatch()  # the renamed partner goes at once
        waiting = self.exposure_jobs().filtered(lambda j: j.state == "pending")
        self.assertEqual(len(waiting), 1)
        waiting._reschedule(fields.Datetime.now())  # the interval is over
        self.dispatch()

        received = [body for _h, body, _raw in self.received() if body["type"].startswith("partner.")]
        self.assertEqual(
            [body["type"] for body in received],
            ["partner.upserted", "partner.exposure", "partner.upserted", "partner.exposure"],
        )
        # Each stream arrives numbered 1, 2, ... in order: a platform that keeps the last sequence
        # it applied per partner and stream drops nothing, and tells an event missing (a gap) from
        # one arriving late (a lower number).
        streams = {}
        for body in received:
            streams.setdefault((body["partner"]["id"], body["type"] == "partner.exposure"), []).append(body["sequence"])
        self.assertEqual(
            streams, {(self.customer.id, False): [1, 2], (self.customer.id, True): [1, 2]}, "per stream, in order"
        )
        self.assertEqual(received[-1]["exposure"]["open_balance"], "115.14")
        self.customer.invalidate_recordset(["credit"])
        self.assertAlmostEqual(self.customer.credit, 115.14, msg="Odoo's own total receivable")
