"""Inbound credit decisions through Odoo's real HTTP server: only a credit authority may send
them, they set Odoo's own credit limit and a tracked credit hold, older ones are ignored, another
currency is a conflict; a held customer's invoice needs a recorded override to be posted, whoever
posts it (tests/test_credit_hold.py: every posting path)."""

from datetime import timedelta

from odoo.exceptions import AccessError
from odoo.tests import tagged

from ..engine import signing
from .test_inbound import InboundCase, event, iso_now


@tagged("post_install", "-at_install")
class TestCreditDecisions(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write({"credit_authority": True})
        cls.customer = cls.env["res.partner"].create({"name": "Credit Customer", "ref": "CC-7", "customer_rank": 1})
        cls.currency = cls.company.currency_id.name

    def decision(self, limit="5000.00", hold=True, reason="Two invoices 60 days overdue", decided_at=None, **extra):
        data = {
            "partner": {"id": self.customer.id},
            "credit_limit": limit,
            "currency": self.currency,
            "hold": hold,
            "reason": reason,
            "decided_at": decided_at or iso_now(),
            "reference": "DEC-1",
        }
        data.update(extra)
        return event("partner.credit", data)

    def test_a_decision_sets_the_credit_limit_and_a_tracked_hold(self):
        response = self.post(self.decision())
        self.assertEqual(response.status_code, 202, response.text)
        recorded = self.last_event()
        self.assertEqual(recorded.state, "processed", recorded.result_message)
        customer = self.customer.with_company(self.company)
        self.assertEqual(customer.credit_limit, 5000.0)
        self.assertTrue(customer.use_partner_credit_limit, "Odoo's own credit limit check applies")
        self.assertTrue(customer.finance_sync_credit_hold)
        self.assertEqual(customer.finance_sync_credit_hold_reason, "Two invoices 60 days overdue")
        self.assertEqual(customer.finance_sync_credit_backend_id, self.backend)
        tracked = customer.message_ids.tracking_value_ids.filtered(
            lambda t: t.field_id.name == "finance_sync_credit_hold_reason"
        )
        self.assertEqual(tracked[:1].new_value_char, "Two invoices 60 days overdue")
        self.assertTrue(any("DEC-1" in str(m.body) for m in customer.message_ids))

        # Lifted later: the hold goes, the reason with it.
        self.assertEqual(self.post(self.decision(limit="8000", hold=False, reference="DEC-2")).status_code, 202)
        self.assertFalse(customer.finance_sync_credit_hold)
        self.assertEqual(customer.credit_limit, 8000.0)

    def test_odoo_s_own_credit_warning_follows_the_decided_limit(self):
        self.company.account_use_credit_limit = True
        self.assertEqual(self.post(self.decision(limit="500.00", hold=False)).status_code, 202)
        invoice = self.init_invoice("out_invoice", partner=self.customer, amounts=[800.0], taxes=[])
        self.assertTrue(invoice.partner_credit_warning, "the invoice exceeds the platform's limit")
        self.assertIn("500", invoice.partner_credit_warning)

    def test_the_partner_may_be_named_by_its_code(self):
        payload = self.decision()
        payload["data"]["partner"] = {"code": "CC-7"}
        self.assertEqual(self.post(payload).status_code, 202)
        self.assertTrue(self.customer.finance_sync_credit_hold)

    def test_the_code_may_be_the_platform_s_mapped_code(self):
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Risk engine codes"})
        self.env["finance.sync.mapping"].create(
            {"set_id": mapping_set.id, "kind": "partner", "partner_id": self.customer.id, "external_code": "RISK-9"}
        )
        self.backend.mapping_set_id = mapping_set
        payload = self.decision()
        payload["data"]["partner"] = {"code": "RISK-9"}
        self.assertEqual(self.post(payload).status_code, 202)
        self.assertEqual(self.last_event().state, "processed")
        self.assertTrue(self.customer.finance_sync_credit_hold)

    def test_an_older_decision_than_the_recorded_one_is_ignored(self):
        self.post(self.decision(limit="5000"))
        older = self.decision(limit="100", hold=False, decided_at=iso_now(timedelta(hours=-2)))
        self.assertEqual(self.post(older).status_code, 202)
        self.assertEqual(self.last_event().state, "ignored")
        customer = self.customer.with_company(self.company)
        self.assertEqual(customer.credit_limit, 5000.0)
        self.assertTrue(customer.finance_sync_credit_hold)

    def test_another_currency_than_the_company_s_is_a_conflict(self):
        other = "USD" if self.currency != "USD" else "EUR"
        payload = self.decision()
        payload["data"]["currency"] = other
        self.assertEqual(self.post(payload).status_code, 202)
        recorded = self.last_event()
        self.assertEqual(recorded.state, "failed")
        self.assertEqual(recorded.exception_ids.category, "conflict")
        self.assertIn(other, recorded.exception_ids.message)
        self.assertFalse(self.customer.finance_sync_credit_hold)
        self.assertFalse(self.customer.with_company(self.company).credit_limit)

    def test_an_unknown_partner_is_an_exception_not_an_error(self):
        payload = self.decision()
        payload["data"]["partner"] = {"code": "NOBODY"}
        self.assertEqual(self.post(payload).status_code, 202)
        self.assertEqual(self.last_event().exception_ids.category, "inbound_unknown_reference")

    def test_a_backend_without_credit_authority_gets_422_and_nothing_is_written(self):
        self.backend.write({"credit_authority": False})
        before = self.snapshot()
        body = self.assertRefused(self.post(self.decision()), 422, "not_credit_authority", before)
        self.assertIn("credit authority", body["message"])
        self.assertFalse(self.customer.finance_sync_credit_hold)

    def test_a_credit_limit_finer_than_the_currency_is_refused(self):
        before = self.snapshot()
        self.assertRefused(self.post(self.decision(limit="10.005")), 422, "amount_precision", before)

    def test_only_accounting_administrators_make_a_platform_the_credit_authority(self):
        admin_only = self.make_user("fs_admin_credit", "finance_sync.finance_sync_group_admin")
        backend = self.create_backend("Risk engine", path="/risk")
        with self.assertRaises(Exception) as caught:
            backend.with_user(admin_only).write({"credit_authority": True})
        self.assertEqual(type(caught.exception).__name__, "AccessError")
        self.assertFalse(backend.credit_authority)

    def test_a_credit_authority_s_secrets_change_only_with_accounting_rights(self):
        fs_admin = self.make_user("fs_admin_secrets", "finance_sync.finance_sync_group_admin")
        stored = self.backend.sudo()
        before = stored.read(["signing_secret_encrypted", "webhook_token"])
        known_secret = signing.generate_secret()
        with self.assertRaises(AccessError):
            self.backend.with_user(fs_admin).write({"signing_secret": known_secret})
        with self.assertRaises(AccessError):
            self.backend.with_user(fs_admin).action_regenerate_webhook_token()
        self.backend.invalidate_recordset()
        self.assertEqual(stored.read(["signing_secret_encrypted", "webhook_token"]), before)
        # The attack this closes: a credit decision signed with a secret the administrator chose.
        before_events = self.snapshot()
        self.assertRefused(self.post(self.decision(), secret=known_secret), 401, "bad_signature", before_events)
        self.assertFalse(self.customer.finance_sync_credit_hold)


@tagged("post_install", "-at_install")
class TestCreditHoldOnInvoices(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create(
            {
                "name": "Held Customer",
                "customer_rank": 1,
                "finance_sync_credit_hold": True,
                "finance_sync_credit_hold_reason": "Collections in progress",
            }
        )
        cls.billing = cls.make_user("fs_billing", "account.group_account_invoice")

    def draft_invoice(self):
        return self.init_invoice("out_invoice", partner=self.customer, amounts=[120.0])

    def test_the_banner_shows_on_draft_invoices_of_held_customers(self):
        invoice = self.draft_invoice()
        self.assertTrue(invoice.finance_sync_credit_hold)
        self.assertEqual(invoice.finance_sync_credit_hold_reason, "Collections in progress")
        other = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[10.0])
        self.assertFalse(other.finance_sync_credit_hold)

    def test_posting_asks_users_without_accounting_admin_rights_and_records_the_override(self):
        invoice = self.draft_invoice().with_user(self.billing)
        action = invoice.action_post()
        self.assertEqual(action["res_model"], "finance.sync.credit.hold.override")
        self.assertEqual(invoice.state, "draft", "nothing posted before the confirmation")
        wizard = (
            self.env["finance.sync.credit.hold.override"]
            .with_user(self.billing)
            .with_context(action["context"])
            .create({"reason": "Prepaid by bank transfer"})
        )
        self.assertEqual(wizard.held_move_ids, invoice)
        wizard.action_confirm()
        self.assertEqual(invoice.state, "posted")
        notes = invoice.message_ids.filtered(lambda m: "Prepaid by bank transfer" in str(m.body))
        self.assertEqual(len(notes), 1)
        self.assertIn("fs_billing", str(notes.body))
        self.assertIn("Collections in progress", str(notes.body))
        self.assertEqual(notes.author_id, self.billing.partner_id)

    def test_an_accounting_administrator_is_asked_for_a_reason_too(self):
        invoice = self.draft_invoice()
        self.assertTrue(self.env.user.has_group("account.group_account_manager"))
        action = invoice.action_post()
        self.assertEqual(action["res_model"], "finance.sync.credit.hold.override", "every override is recorded")
        self.assertEqual(invoice.state, "draft")
        self.env["finance.sync.credit.hold.override"].with_context(action["context"]).create(
            {"reason": "Agreed with the customer's CFO"}
        ).action_confirm()
        self.assertEqual(invoice.state, "posted")
        notes = invoice.message_ids.filtered(lambda m: "Agreed with the customer's CFO" in str(m.body))
        self.assertEqual(notes.author_id, self.env.user.partner_id)

    def test_only_accounting_administrators_change_the_hold_by_hand(self):
        contacts = self.make_user("fs_contacts", "account.group_account_invoice", "base.group_partner_manager")
        customer = self.customer.with_user(contacts)
        customer.write({"phone": "+32 3 555 12 12"})  # may edit the customer ...
        with self.assertRaises(AccessError):
            customer.write({"finance_sync_credit_hold": False})  # ... but not its credit hold
        self.assertTrue(self.customer.finance_sync_credit_hold)
        self.customer.write({"finance_sync_credit_hold": False})  # an accounting administrator
        self.assertFalse(self.customer.finance_sync_credit_hold)

    def test_the_screens_open_for_an_invoicing_user(self):
        # What each form shows of the credit hold to a user of invoicing only (Odoo drops from the
        # form what the user may not read): the customer's banner and decisions, the invoice's
        # banner, the override wizard's reason and button.
        shown = {
            "res.partner": ("finance_sync_credit_hold_reason", "finance_sync_credit_decided_at"),
            "account.move": ("Customer on credit hold.", "finance_sync_credit_hold_reason"),
            "finance.sync.credit.hold.override": ('name="reason"', 'name="action_confirm"', "held_move_ids"),
        }
        for model, parts in shown.items():
            with self.subTest(model):
                views = self.env[model].with_user(self.billing).get_views([(False, "form")])
                arch = views["views"]["form"]["arch"]
                for part in parts:
                    self.assertIn(part, arch)
        arch = self.env["res.partner"].with_user(self.billing).get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn("finance_sync_credit_hold_reason", arch)
        self.assertNotIn("finance_sync_credit_backend_id", arch, "who decided shows to sync users only")

    def test_customers_not_on_hold_post_as_usual(self):
        invoice = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[10.0]).with_user(self.billing)
        self.assertIs(invoice.action_post(), True, "posted at once: no confirmation asked")
        self.assertEqual(invoice.state, "posted")
