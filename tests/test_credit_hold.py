"""The credit hold nothing slips past: every way a finance user posts an invoice (the form's
and the list's Confirm, the Confirm entries wizard, Odoo's auto-post cron, RPC with any context
key, a platform's invoice.create) leaves a held customer's invoice draft unless a person gave a
reason in the override wizard, which the invoice's chatter records with their name. Context keys
sent over RPC grant nothing: neither the credit override, nor turning capture off, nor a quiet
mapping, nor a default for a field that grants a right."""

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import JsonRpcException
from odoo.tools.safe_eval import safe_eval

from ..utils import credit_override, without_capture
from .test_inbound import event, iso_now
from .test_inbound_documents import DocumentCase

AMOUNT = 1234.57  # no binary float holds it exactly
PASSWORD = "Credit-hold-2026!"  # a test user's password


class CreditHoldCase(DocumentCase):
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
        cls.billing = cls.make_user("fs_billing_hold", "account.group_account_invoice")
        cls.billing.password = PASSWORD
        cls.accounting_admin = cls.make_user("fs_accounting_admin", "account.group_account_manager")
        cls.Override = cls.env["finance.sync.credit.hold.override"]

    def held_invoice(self, amount=AMOUNT, **vals):
        invoice = self.init_invoice("out_invoice", partner=self.customer, amounts=[amount], taxes=[])
        if vals:
            invoice.write(vals)
        return invoice

    def receivable(self, invoice):
        """The invoice's receivable balance as its journal items hold it (Odoo's own figures)."""
        [(balance,)] = self.env["account.move.line"]._read_group(
            [("move_id", "=", invoice.id), ("account_id.account_type", "=", "asset_receivable")],
            aggregates=["balance:sum"],
        )
        return invoice.currency_id.round(balance)

    def override_notes(self, invoice):
        return invoice.message_ids.filtered(lambda m: "although Held Customer is on credit hold" in str(m.body))

    def assertOverrideRecorded(self, invoice, user, reason):
        self.assertEqual(invoice.state, "posted")
        notes = self.override_notes(invoice)
        self.assertEqual(len(notes), 1, "one note per override")
        self.assertIn(user.name, str(notes.body))
        self.assertIn(reason, str(notes.body))
        self.assertIn("Collections in progress", str(notes.body), "the platform's reason too")
        self.assertEqual(notes.author_id, user.partner_id)
        self.assertEqual(invoice.amount_residual, AMOUNT)
        self.assertEqual(self.receivable(invoice), AMOUNT)

    def confirm_override(self, action, user, reason):
        self.assertEqual(action["res_model"], "finance.sync.credit.hold.override", action)
        wizard = self.Override.with_user(user).with_context(action["context"]).create({"reason": reason})
        return wizard.action_confirm()

    def rpc(self, method, ids, context=None, route="call_kw"):
        """Call ``account.move.<method>`` over JSON-RPC as the billing user, like the web client."""
        self.authenticate(self.billing.login, PASSWORD)
        return self.make_jsonrpc_request(
            f"/web/dataset/{route}/account.move/{method}",
            {"model": "account.move", "method": method, "args": [ids], "kwargs": {"context": context or {}}},
        )


@tagged("post_install", "-at_install")
class TestCreditHoldOnEveryPostingPath(CreditHoldCase):
    def test_the_banner_reads_as_separate_sentences(self):
        """The form's credit-hold banner, rendered as a browser lays it out (block elements on
        their own lines, the reason's field replaced by its value, hidden parts left out): the
        platform's reason, which has no full stop of its own, never runs into the next sentence."""
        invoice = self.held_invoice()
        arch = etree.fromstring(invoice.get_views([(False, "form")])["views"]["form"]["arch"])
        (banner,) = arch.xpath("//div[hasclass('alert')][.//field[@name='finance_sync_credit_hold_reason']]")
        values = invoice.read(["finance_sync_credit_hold", "finance_sync_credit_hold_reason", "state", "move_type"])[0]
        self.assertFalse(safe_eval(banner.get("invisible"), values), "shown on a held customer's draft invoice")

        def lines(node):
            if safe_eval(node.get("invisible") or "False", values):
                return [""]
            parts = [node.text or ""]
            for child in node:
                if child.tag == "field":
                    parts[-1] += values[child.get("name")] or ""
                elif child.tag in ("p", "div"):
                    parts += [*lines(child), ""]
                else:
                    parts[-1] += " ".join(lines(child))
                parts[-1] += child.tail or ""
            return parts

        shown = [" ".join(line.split()) for line in lines(banner) if line.strip()]
        self.assertEqual(
            shown,
            [
                "Customer on credit hold. The credit platform stopped this customer's credit.",
                "Reason given by the platform: Collections in progress",
                "Posting asks for a reason, recorded on the invoice; auto-post skips it.",
            ],
        )

    # --- the form's Confirm -------------------------------------------------------------------

    def test_an_accounting_administrator_is_asked_for_a_reason_too(self):
        invoice = self.held_invoice()
        action = invoice.with_user(self.accounting_admin).action_post()
        self.assertEqual(invoice.state, "draft", "nothing posted before the reason")
        self.confirm_override(action, self.accounting_admin, "Paid in advance, checked with the bank")
        self.assertOverrideRecorded(invoice, self.accounting_admin, "Paid in advance, checked with the bank")

    def test_the_override_needs_a_reason(self):
        invoice = self.held_invoice()
        action = invoice.with_user(self.billing).action_post()
        wizard = self.Override.with_user(self.billing).with_context(action["context"]).create({"reason": "   "})
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertEqual(invoice.state, "draft")

    # --- the list: Confirm entries ------------------------------------------------------------

    def test_the_confirm_entries_wizard_asks_for_the_reason_then_posts(self):
        invoice = self.held_invoice()
        wizard = (
            self.env["validate.account.move"]
            .with_user(self.billing)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({})
        )
        action = wizard.validate_move()
        self.assertEqual(invoice.state, "draft", "the list's wizard posts nothing without a reason")
        self.assertEqual(action["context"]["default_validate_wizard_id"], wizard.id)
        self.confirm_override(action, self.billing, "Prepaid by bank transfer")
        self.assertOverrideRecorded(invoice, self.billing, "Prepaid by bank transfer")

    def test_the_list_s_confirm_asks_for_a_reason_for_the_whole_selection(self):
        held = self.held_invoice()
        other = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[12.10], taxes=[])
        action = (held | other).with_user(self.billing).action_validate_moves_with_confirmation()
        self.assertEqual((held.state, other.state), ("draft", "draft"), "nothing posted before the reason")
        self.confirm_override(action, self.billing, "Director's approval of 3 May")
        self.assertOverrideRecorded(held, self.billing, "Director's approval of 3 May")
        self.assertEqual(other.state, "posted")
        self.assertFalse(other.message_ids.filtered(lambda m: "credit hold" in str(m.body)))

    # --- RPC and code ---------------------------------------------------------------------------

    def test_the_override_key_over_rpc_posts_nothing(self):
        invoice = self.held_invoice()
        context = {"finance_sync_credit_override": True}
        action = self.rpc("action_post", invoice.ids, context, route="call_button")
        self.assertEqual(action["res_model"], "finance.sync.credit.hold.override", "the reason wizard, not a post")
        action = self.rpc("action_validate_moves_with_confirmation", invoice.ids, context)
        self.assertEqual(action["res_model"], "finance.sync.credit.hold.override")
        with self.assertRaises(JsonRpcException):
            self.rpc("_post", invoice.ids, context)  # private: Odoo refuses it over RPC
        with self.assertRaises(JsonRpcException) as caught:  # Odoo lets a write post a draft outright
            self.make_jsonrpc_request(
                "/web/dataset/call_kw/account.move/write",
                {
                    "model": "account.move",
                    "method": "write",
                    "args": [invoice.ids, {"state": "posted"}],
                    "kwargs": {"context": context},
                },
            )
        self.assertEqual(str(caught.exception), "odoo.exceptions.UserError", "the hold's error, not access")
        self.env.invalidate_all()
        self.assertEqual(invoice.state, "draft")
        self.assertFalse(self.override_notes(invoice))

    def test_posting_by_code_is_refused_whatever_the_context_or_the_rights(self):
        invoice = self.held_invoice()
        for record in (
            invoice.with_user(self.billing).with_context(finance_sync_credit_override=True),
            invoice.with_user(self.accounting_admin),
            invoice.sudo(),
        ):
            with self.subTest(user=record.env.user.login, su=record.env.su), self.assertRaises(UserError) as caught:
                record._post(soft=False)
            self.assertIn("credit hold", str(caught.exception))
            self.assertIn("Confirm", str(caught.exception), "says how to override")
        self.assertEqual(invoice.state, "draft")
        # The module's own decision object does let it through, and it is recorded.
        credit_override(invoice.with_user(self.billing), "Cleared by the credit manager")._post(soft=False)
        self.assertOverrideRecorded(invoice, self.billing, "Cleared by the credit manager")

    # --- Odoo's auto-post cron --------------------------------------------------------------------

    def test_auto_post_leaves_a_held_invoice_draft_and_gives_a_person_a_to_do(self):
        held = self.held_invoice(auto_post="at_date", invoice_user_id=self.billing.id)
        other = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[12.10], taxes=[])
        other.auto_post = "at_date"
        with self.enter_registry_test_mode():
            self.env.ref("account.ir_cron_auto_post_draft_entry").method_direct_trigger()
        self.env.invalidate_all()
        self.assertEqual(held.state, "draft", "never posted silently")
        self.assertEqual(held.auto_post, "no", "out of the cron's queue, not picked again on every run")
        self.assertEqual(other.state, "posted", "the other entries are posted as usual")
        note = held.message_ids.filtered(lambda m: "Not posted automatically" in str(m.body))
        self.assertEqual(len(note), 1)
        self.assertIn("Collections in progress", str(note.body))
        activity = held.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.billing, "the invoice's salesperson")
        # Whoever has the to-do posts it with a reason.
        self.confirm_override(held.with_user(self.billing).action_post(), self.billing, "Customer paid upfront")
        self.assertOverrideRecorded(held, self.billing, "Customer paid upfront")

    # --- what else a context key could have granted ------------------------------------------------

    def test_capture_cannot_be_turned_off_over_rpc(self):
        invoice = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[12.10], taxes=[])
        self.rpc("action_post", invoice.ids, {"finance_sync_no_capture": True}, route="call_button")
        self.env.invalidate_all()
        self.assertEqual(invoice.state, "posted")
        job = self.jobs_of(invoice)
        self.assertEqual((job.event_type, job.payload["document"]["amounts"]["total"]), ("invoice.posted", "12.10"))
        # By code, the module's switch still imports history quietly.
        quiet = self.init_invoice("out_invoice", partner=self.partner_a, amounts=[0.07], taxes=[])
        without_capture(quiet).action_post()
        self.assertEqual(quiet.state, "posted")
        self.assertFalse(self.jobs_of(quiet))

    def test_a_partner_s_capture_cannot_be_turned_off_by_a_context_key(self):
        self.backend.send_master_data = True
        contacts = self.make_user("fs_contacts_hold", "account.group_account_invoice", "base.group_partner_manager")
        partner = (
            self.env["res.partner"]
            .with_user(contacts)
            .with_context(finance_sync_no_capture=True)
            .create({"name": "Loud Customer", "customer_rank": 1})
        )
        self.commit_hooks()
        self.assertEqual(self.jobs_of_partner(partner).event_type, "partner.upserted")

    def jobs_of_partner(self, partner):
        return self.Job.search([("res_model", "=", "res.partner"), ("res_id", "=", partner.id)])

    def test_a_mapping_added_with_the_quiet_key_is_still_in_the_set_s_chatter(self):
        editor = self.make_user("fs_map_editor_hold", "finance_sync.finance_sync_group_mapping_editor")
        # A set no authority uses: mapping editors keep its codes.
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Reporting codes"})
        self.env["finance.sync.mapping"].with_user(editor).with_context(finance_sync_mapping_summary=True).create(
            {"set_id": mapping_set.id, "kind": "tax", "tax_id": self.vat10.id, "external_code": "VAT10"}
        )
        added = mapping_set.message_ids.filtered(lambda m: "VAT10" in str(m.body))
        self.assertEqual(len(added), 1, "every mapping added by a person is in the chatter")

    def test_a_context_default_makes_no_platform_an_authority(self):
        fs_admin = self.make_user("fs_admin_defaults", "finance_sync.finance_sync_group_admin")
        Backend = self.env["finance.sync.backend"].with_user(fs_admin)
        backend = Backend.with_context(default_webhook_token="x" * 40).create(
            {"name": "Risk engine", "endpoint_url": self.receiver.url_for("/risk")}
        )
        self.assertNotEqual(backend.sudo().webhook_token, "x" * 40, "tokens are generated, never chosen")
        # What an authority depends on, given as a context default, counts as given: refused.
        before = Backend.sudo().with_context(active_test=False).search_count([])
        for defaults in (
            {"default_credit_authority": True},
            {"default_payment_authority": True, "default_payment_journal_id": self.bank_journal.id},
            {"default_document_source_invoices": True},
        ):
            with self.subTest(defaults=defaults), self.assertRaises(AccessError):
                Backend.with_context(**defaults).create(
                    {"name": "Platform", "endpoint_url": self.receiver.url_for("/p")}
                )
        self.assertEqual(Backend.sudo().with_context(active_test=False).search_count([]), before, "none was created")

    def test_a_context_default_puts_no_customer_on_hold(self):
        contacts = self.make_user("fs_contacts_defaults", "account.group_account_invoice", "base.group_partner_manager")
        partner = (
            self.env["res.partner"]
            .with_user(contacts)
            .with_context(default_finance_sync_credit_hold=True, default_finance_sync_credit_hold_reason="Spite")
            .create({"name": "Rival's Customer"})
        )
        self.assertFalse(partner.finance_sync_credit_hold, "only accounting administrators put a customer on hold")
        self.assertFalse(partner.finance_sync_credit_hold_reason)

    def test_a_context_default_gives_no_document_a_platform_origin(self):
        invoice = (
            self.env["account.move"]
            .with_user(self.billing)
            .with_context(default_move_type="out_invoice", default_finance_sync_origin_backend_id=self.backend.id)
            .create({"partner_id": self.partner_a.id})
        )
        self.assertFalse(invoice.finance_sync_origin_backend_id, "only the inbound processing records an origin")

    def test_a_context_default_records_no_reconciliation_outcome(self):
        fs_admin = self.make_user("fs_admin_reconcile", "finance_sync.finance_sync_group_admin")
        Reconciliation = self.env["finance.sync.reconciliation"]
        before = Reconciliation.search_count([])
        with self.assertRaises(AccessError):
            Reconciliation.with_user(fs_admin).with_context(
                default_state="matched", default_platform_event_count=7
            ).create(
                {
                    "backend_id": self.backend.id,
                    "company_id": self.company.id,
                    "date_from": "2026-03-01",
                    "date_to": "2026-03-31",
                }
            )
        self.assertEqual(Reconciliation.search_count([]), before, "only a report decides the outcome")


@tagged("post_install", "-at_install")
class TestCreditHoldOnPlatformDocuments(CreditHoldCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.add_mapping("partner", cls.customer, "cus_held")

    def held_invoice_data(self):
        return self.invoice_data(
            partner={"code": "cus_held"},
            lines=[{"description": "Gold plan, year", "quantity": "1", "price_unit": "1234.57", "taxes": []}],
            totals={"untaxed": "1234.57", "tax": "0.00", "total": "1234.57"},
        )

    def test_post_at_once_keeps_a_held_customer_s_invoice_draft_and_says_so(self):
        self.set_policy("immediate")
        data = self.held_invoice_data()
        response = self.post(event("invoice.create", data))
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["document"]["state"], "draft", "the answer tells the platform the truth")
        stored = self.Event.sudo().browse(response.json()["id"])
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "draft")
        self.assertEqual(move.amount_total, AMOUNT)
        self.assertEqual(stored.state, "failed", "not posted as the policy says: the event did not go through")
        self.assertIn("stays draft", stored.result_message)
        self.assertIn("credit hold", stored.result_message)
        self.assertIn("Collections in progress", stored.result_message)
        self.assertNotIn("posted.", stored.result_message)
        exception = stored.exception_ids
        self.assertEqual((exception.category, exception.move_id, exception.state), ("credit_hold", move, "new"))
        self.assertIn("credit hold", exception.explanation)
        self.assertEqual(exception.inbound_event_ids, stored)

        # A person posts it with a reason: recorded, and the exception is settled.
        self.confirm_override(move.with_user(self.billing).action_post(), self.billing, "Signed contract, prepaid")
        self.assertOverrideRecorded(move, self.billing, "Signed contract, prepaid")
        self.assertEqual(exception.state, "resolved")

    def test_reprocessing_posts_it_once_the_hold_is_lifted(self):
        self.set_policy("immediate")
        data = self.held_invoice_data()
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "failed")
        exception = stored.exception_ids
        self.customer.write({"finance_sync_credit_hold": False, "finance_sync_credit_hold_reason": False})
        stored.action_reprocess()
        move = self.created(data["external_id"])
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(move.state, "posted")
        self.assertIn("posted", stored.result_message)
        self.assertEqual(self.receivable(move), AMOUNT)
        self.assertEqual(exception.state, "resolved")
        self.assertFalse(self.override_notes(move), "nothing was overridden")

    def test_an_approval_does_not_post_a_held_customer_s_invoice(self):
        self.set_policy("approved")
        data = self.held_invoice_data()
        created = self.create_document("invoice.create", data)
        self.assertEqual(created.state, "processed", "draft until approved, as the policy says")
        approval = self.create_document(
            "approval.status",
            {"external_id": data["external_id"], "status": "approved", "by": "Dana Approver", "at": iso_now()},
        )
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "draft")
        self.assertEqual(approval.state, "failed")
        self.assertEqual(approval.exception_ids.category, "credit_hold")
