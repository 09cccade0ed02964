"""Payment authority through Odoo's real HTTP server: which documents a platform's signed
payment.status events may pay, and in which direction."""

from odoo import fields
from odoo.tests import tagged

from .test_inbound import InboundCase, event


class PaymentAuthorityCase(InboundCase):
    def payment_event(self, document, reference, amount=None, status="succeeded"):
        return event(
            "payment.status",
            {
                "invoice": {"number": document.name},
                "status": status,
                "amount": amount or f"{document.amount_residual:.2f}",
                "currency": document.currency_id.name,
                "date": fields.Date.to_string(document.invoice_date),
                "reference": reference,
            },
        )


@tagged("post_install", "-at_install")
class TestPaymentDirection(PaymentAuthorityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write({"payment_authority": True, "payment_journal_id": cls.bank_journal.id})

    def document(self, move_type, amount=100.0):
        return self.init_invoice(move_type, amounts=[amount], post=True)

    def assertPaid(self, document, reference, payment_type, partner_type):
        response = self.post(self.payment_event(document, reference))
        self.assertEqual(response.status_code, 202, response.text)
        stored = self.Event.sudo().browse(response.json()["id"])
        self.assertEqual(stored.state, "processed", stored.result_message)
        payment = stored.payment_id
        self.assertEqual((payment.payment_type, payment.partner_type), (payment_type, partner_type))
        self.assertEqual(document.matched_payment_ids, payment)
        self.assertIn(document.payment_state, ("paid", "in_payment"))

    def assertConflict(self, document, reference):
        before = self.snapshot()
        response = self.post(self.payment_event(document, reference))
        self.assertEqual(response.status_code, 202, response.text)
        stored = self.Event.sudo().browse(response.json()["id"])
        self.assertEqual(stored.state, "failed")
        self.assertEqual(stored.exception_ids.category, "conflict")
        self.assertFalse(stored.payment_id)
        after = self.snapshot()
        self.assertEqual(after["account.payment"], before["account.payment"], "no payment")
        self.assertEqual(after["finance.sync.external.payment"], before["finance.sync.external.payment"])
        self.assertFalse(document.matched_payment_ids)
        self.assertEqual(document.payment_state, "not_paid")
        return stored

    def test_a_customer_invoice_gets_an_inbound_customer_payment(self):
        self.assertPaid(self.document("out_invoice"), "pay_customer", "inbound", "customer")

    def test_vendor_bills_and_credit_notes_are_refused_by_default(self):
        for move_type in ("in_invoice", "out_refund", "in_refund"):
            with self.subTest(move_type):
                stored = self.assertConflict(self.document(move_type), f"pay_{move_type}")
                self.assertIn("not the payment authority", stored.result_message)

    def test_vendor_bills_when_enabled_get_an_outbound_supplier_payment(self):
        self.backend.payment_authority_bills = True
        self.assertPaid(self.document("in_invoice"), "pay_bill", "outbound", "supplier")
        self.assertConflict(self.document("out_refund"), "pay_refund_still_refused")

    def test_refunds_when_enabled_go_back_the_way_they_came(self):
        self.backend.payment_authority_refunds = True
        self.assertPaid(self.document("out_refund"), "pay_out_refund", "outbound", "customer")
        self.assertPaid(self.document("in_refund"), "pay_in_refund", "inbound", "supplier")
        self.assertConflict(self.document("in_invoice"), "pay_bill_still_refused")

    def test_customer_invoices_can_be_left_out(self):
        self.backend.write({"payment_authority_invoices": False, "payment_authority_bills": True})
        self.assertConflict(self.document("out_invoice"), "pay_customer_refused")
        self.assertPaid(self.document("in_invoice"), "pay_bill_only", "outbound", "supplier")

    def test_other_statuses_are_still_recorded_without_authority_for_the_document(self):
        bill = self.document("in_invoice")
        response = self.post(self.payment_event(bill, "pay_bill_failed", status="failed"))
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(bill.finance_sync_external_payment_ids.status, "failed")
        self.assertFalse(bill.matched_payment_ids)
