"""Payment authority through Odoo's real HTTP server: who may make a platform the payment
authority or change its secrets (accounting administrators, told in the chatter), and which
documents its signed payment.status events may pay, in which direction."""

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..engine import signing
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
class TestPaymentAuthorityRights(PaymentAuthorityCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fs_admin = cls.make_user("fs_pa_admin", "finance_sync.finance_sync_group_admin")
        cls.accounting_admin = cls.make_user(
            "fs_pa_accounting_admin", "finance_sync.finance_sync_group_admin", "account.group_account_manager"
        )
        cls.other_accounting_admin = cls.make_user("fs_pa_other_accountant", "account.group_account_manager")

    def enable_payment_authority(self, **vals):
        self.backend.write({"payment_authority": True, "payment_journal_id": self.bank_journal.id, **vals})

    def test_only_accounting_administrators_make_a_platform_the_payment_authority(self):
        attempts = {
            "enable": {"payment_authority": True, "payment_journal_id": self.bank_journal.id},
            "journal": {"payment_journal_id": self.bank_journal.id},
            "vendor bills": {"payment_authority_bills": True},
            "refunds": {"payment_authority_refunds": True},
        }
        for label, vals in attempts.items():
            with self.subTest(label), self.assertRaises(AccessError):
                self.backend.with_user(self.fs_admin).write(vals)
            self.backend.invalidate_recordset()
        self.assertFalse(self.backend.payment_authority)
        self.assertFalse(self.backend.payment_journal_id)
        with self.assertRaises(AccessError):
            self.env["finance.sync.backend"].with_user(self.fs_admin).create(
                {
                    "name": "Collector",
                    "company_ids": [(6, 0, self.company.ids)],
                    "payment_authority": True,
                    "payment_journal_id": self.bank_journal.id,
                }
            )

        messages_before = self.backend.message_ids
        self.backend.with_user(self.accounting_admin).write(
            {"payment_authority": True, "payment_journal_id": self.bank_journal.id}
        )
        self.assertTrue(self.backend.payment_authority)
        notice = (self.backend.message_ids - messages_before).filtered(lambda m: m.partner_ids)
        self.assertEqual(len(notice), 1, "one message notifies the accounting administrators")
        self.assertIn("Payment authority", notice.body)
        self.assertIn(self.accounting_admin.name, notice.body)
        self.assertIn(self.other_accounting_admin.partner_id, notice.partner_ids)
        self.assertNotIn(self.fs_admin.partner_id, notice.partner_ids)
        notified = notice.notification_ids.res_partner_id
        self.assertIn(self.other_accounting_admin.partner_id, notified)

    def test_secrets_of_a_payment_authority_change_only_with_accounting_rights(self):
        self.enable_payment_authority()
        stored = self.backend.sudo()
        before = stored.read(["signing_secret_encrypted", "auth_secret_encrypted", "webhook_token"])
        known_secret = signing.generate_secret()
        attempts = {
            "signing secret": {"signing_secret": known_secret},
            "credentials": {"auth_mode": "bearer", "auth_secret": "tok-known"},
            "rotation overlap": {"signing_overlap_hours": 100000},
        }
        for label, vals in attempts.items():
            with self.subTest(label), self.assertRaises(AccessError):
                self.backend.with_user(self.fs_admin).write(vals)
            self.backend.invalidate_recordset()
        with self.assertRaises(AccessError):
            self.backend.with_user(self.fs_admin).action_regenerate_webhook_token()
        self.backend.invalidate_recordset()
        self.assertEqual(stored.read(["signing_secret_encrypted", "auth_secret_encrypted", "webhook_token"]), before)

        # The attack this closes: a payment signed with a secret the administrator chose.
        invoice = self.posted_invoice(100.0)
        snapshot = self.snapshot()
        response = self.post(self.payment_event(invoice, "pay_forged"), secret=known_secret)
        self.assertRefused(response, 401, "bad_signature", snapshot)
        self.assertFalse(invoice.matched_payment_ids)

        # Accounting administrators may rotate it; the accounting administrators hear of it.
        messages_before = self.backend.message_ids
        self.backend.with_user(self.accounting_admin).write({"signing_secret": known_secret})
        self.assertEqual(self.backend._get_secret("signing"), known_secret)
        notice = (self.backend.message_ids - messages_before).filtered(lambda m: m.partner_ids)
        self.assertIn(self.other_accounting_admin.partner_id, notice.partner_ids)
        self.assertIn("Signing secret", notice.body)
        self.assertNotIn(known_secret, "".join(self.backend.message_ids.mapped("body")))
        self.backend.with_user(self.accounting_admin).action_regenerate_webhook_token()
        self.assertNotEqual(stored.webhook_token, before[0]["webhook_token"])

    def test_a_backend_without_payment_authority_keeps_its_usual_administration(self):
        secret = signing.generate_secret()
        self.backend.with_user(self.fs_admin).write({"signing_secret": secret, "signing_overlap_hours": 2})
        self.assertEqual(self.backend._get_secret("signing"), secret)
        self.backend.with_user(self.fs_admin).action_regenerate_webhook_token()


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
