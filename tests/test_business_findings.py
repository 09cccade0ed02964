"""Business findings across systems, through Odoo's real HTTP server with the standard signing:
an invoice a platform reported paid that is still unpaid in Odoo past its due date (daily cron),
a payment naming no invoice Odoo knows (on arrival), and won deals without a sales order (a
platform's deals.report). Each is an exception of category business, linked to the Odoo record
when there is one, naming the platform's reference, and resolved once both sides agree."""

from datetime import date, timedelta

from odoo import fields
from odoo.tests import tagged

from .test_inbound import event
from .test_inbound_orders import OrderCase


class FindingCase(OrderCase):
    def findings(self, **domain):
        return self.env["finance.sync.exception"].search(
            [("backend_id", "=", self.backend.id), ("category", "=", "business")]
            + [(key, "=", value) for key, value in domain.items()]
        )

    def payment_status(self, invoice_ref, reference, amount="1234.57", status="succeeded"):
        payload = event(
            "payment.status",
            {
                "invoice": invoice_ref,
                "status": status,
                "amount": amount,
                "currency": self.company.currency_id.name,
                "date": fields.Date.to_string(date.today() - timedelta(days=3)),
                "reference": reference,
            },
        )
        response = self.post(payload)
        self.assertEqual(response.status_code, 202, response.text)
        return self.Event.sudo().browse(response.json()["id"])

    def overdue_invoice(self, amount=1234.57, days=10):
        invoice = self.init_invoice("out_invoice", amounts=[amount], invoice_date=date.today() - timedelta(days=40))
        invoice.write({"invoice_payment_term_id": False, "invoice_date_due": date.today() - timedelta(days=days)})
        invoice.action_post()
        return invoice


@tagged("post_install", "-at_install")
class TestPaidOnPlatformUnpaidInOdoo(FindingCase):
    def test_an_invoice_reported_paid_but_unpaid_past_due_is_a_finding_until_paid(self):
        overdue = self.overdue_invoice()
        not_due = self.overdue_invoice(amount=80.07, days=-5)  # due in five days
        self.assertFalse(self.backend.payment_authority, "the platform's payment is recorded, not registered")
        self.assertEqual(self.payment_status({"number": overdue.name}, "pay_late_1").state, "processed")
        self.payment_status({"number": not_due.name}, "pay_early_1", amount="80.07")
        self.assertEqual(overdue.payment_state, "not_paid")
        Payment = self.env["finance.sync.external.payment"]
        Payment._cron_business_findings()
        finding = self.findings()
        self.assertEqual(len(finding), 1, "the invoice not yet due is no finding")
        self.assertEqual(finding.move_id, overdue)
        self.assertEqual(finding._get_linked_record(), overdue)
        self.assertEqual(finding.state, "new")
        self.assertEqual(finding.severity, "warning")
        for needle in ("pay_late_1", overdue.name, "1234.57", str(overdue.invoice_date_due)):
            self.assertIn(needle, finding.message)
        # The next run finds it again: the same finding, bumped.
        Payment._cron_business_findings()
        self.assertEqual(self.findings(), finding)
        self.assertEqual(finding.occurrence_count, 2)
        # Paid in Odoo: both sides agree, the next run resolves it.
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=overdue.ids).create(
            {"journal_id": self.bank_journal.id}
        )._create_payments()
        self.assertIn(overdue.payment_state, ("paid", "in_payment"))
        Payment._cron_business_findings()
        self.assertEqual(finding.state, "resolved")

    def test_a_failed_payment_is_no_finding(self):
        overdue = self.overdue_invoice(amount=99.99)
        self.payment_status({"number": overdue.name}, "pay_failed_1", amount="99.99", status="failed")
        self.env["finance.sync.external.payment"]._cron_business_findings()
        self.assertFalse(self.findings())


@tagged("post_install", "-at_install")
class TestPaymentWithoutInvoice(FindingCase):
    def test_a_payment_naming_no_known_invoice_is_a_finding_until_applied(self):
        stored = self.payment_status({"external_id": "inv_unknown_7"}, "pay_orphan_7", amount="0.07")
        self.assertEqual(stored.state, "failed")
        finding = stored.exception_ids
        self.assertEqual(finding.category, "business")
        for needle in ("pay_orphan_7", "0.07", "inv_unknown_7"):
            self.assertIn(needle, finding.message)
        self.assertFalse(self.env["finance.sync.external.payment"].search([("reference", "=", "pay_orphan_7")]))
        # The platform acknowledges the invoice under that id; the event then applies and the
        # finding is resolved.
        invoice = self.init_invoice("out_invoice", amounts=[0.07], post=True)
        job = self.jobs_of(invoice)
        ack = {"event_id": job.event_uuid, "external_id": "inv_unknown_7"}
        self.assertEqual(self.post(event("delivery.acknowledged", ack)).status_code, 202)
        stored.with_user(self.env.user).action_reprocess()
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(stored.external_payment_id.move_id, invoice)
        self.assertEqual(finding.state, "resolved")

    def test_an_unknown_invoice_without_money_stays_an_unknown_reference(self):
        stored = self.payment_status({"number": "INV/1999/0001"}, "pay_failed_9", status="failed")
        self.assertEqual(stored.exception_ids.category, "inbound_unknown_reference")


@tagged("post_install", "-at_install")
class TestDealsWithoutOrder(FindingCase):
    def deals_report(self, deals, url=None):
        data = {"period": {"date_from": "2026-03-01", "date_to": "2026-03-31"}, "deals": deals}
        return self.post(event("deals.report", data), url=url)

    def deal(self, external_id, amount="1185.90"):
        return {"external_id": external_id, "name": f"Deal {external_id}", "amount": amount, "currency": "EUR"}

    def test_won_deals_without_an_order_are_findings_until_the_order_exists(self):
        created = self.order_data(external_id="deal_ordered")
        self.assertEqual(self.send_order(created).state, "processed")
        by_hand = (
            self.env["sale.order"].sudo().create({"partner_id": self.partner_a.id, "client_order_ref": "deal_by_hand"})
        )
        response = self.deals_report(
            [self.deal("deal_ordered"), self.deal("deal_by_hand"), self.deal("deal_missing", amount="0.07")]
        )
        self.assertEqual(response.status_code, 202, response.text)
        report = self.Event.sudo().browse(response.json()["id"])
        self.assertEqual(report.state, "processed", report.result_message)
        self.assertIn("3 reported, 1 without a sales order", report.result_message)
        finding = self.findings()
        self.assertEqual(len(finding), 1)
        self.assertEqual(finding, report.exception_ids)
        for needle in ("deal_missing", "0.07", "EUR"):
            self.assertIn(needle, finding.message)
        self.assertTrue(by_hand)
        # The same report again: the same finding. Once the order exists, the next report resolves it.
        self.deals_report([self.deal("deal_missing", amount="0.07")])
        self.assertEqual(self.findings(), finding)
        self.assertEqual(finding.occurrence_count, 2)
        self.send_order(self.order_data(external_id="deal_missing"))
        self.deals_report([self.deal("deal_missing", amount="0.07")])
        self.assertEqual(finding.state, "resolved")

    def test_bad_reports_and_other_backends_are_refused_with_nothing_written(self):
        before = self.snapshot()
        self.assertRefused(self.deals_report([self.deal("d1", amount="1.005")]), 422, "amount_precision", before)
        self.assertRefused(self.deals_report([{"external_id": "d2"}]), 422, "schema_violation", before)
        other = self.create_backend("CRM that is no order source", self.secret)
        url = f"/finance_sync/webhook/{other.sudo().webhook_token}"
        self.assertRefused(self.deals_report([self.deal("d3")], url=url), 422, "not_order_source", before)
