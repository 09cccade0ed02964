"""A platform's document waiting for approval is posted by nobody before the platform approves
it, except an accounting administrator who gives a reason: every posting path (the form, the
list's Confirm, the Confirm entries wizard, the auto-post cron, RPC with any context key, code,
the platform's own events) is refused otherwise. A rejection after posting reaches a person (a
to-do on the document, a banner, a blocking exception), and an approval after an override is
recorded with it."""

import logging
import unittest

from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tests.common import JsonRpcException
from odoo.tools.safe_eval import safe_eval

from ..utils import approval_override
from .test_inbound import iso_now
from .test_inbound_documents import DocumentCase

AMOUNT = 1234.57  # no binary float holds it exactly
PASSWORD = "Approval-override-2026!"  # a test user's password
TODO = "mail.mail_activity_data_todo"
BROWSER_STARTS = 3  # as in test_tours: a cold Chromium on a busy machine may miss Odoo's start window once

_logger = logging.getLogger(__name__)


class ApprovalCase(DocumentCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.document_posting_policy = "approved"
        cls.billing = cls.make_user("fs_billing_approval", "account.group_account_invoice")
        cls.manager = cls.make_user("fs_accounting_manager_approval", "account.group_account_manager")
        cls.manager.password = PASSWORD
        cls.fs_admin = cls.make_user(
            "fs_admin_approval", "finance_sync.finance_sync_group_admin", "account.group_account_invoice"
        )
        cls.Override = cls.env["finance.sync.approval.override"]

    def bill(self, approval=None, amount="1234.57", partner=None):
        data = self.bill_data(
            partner=partner or {"code": "sup_200"},
            lines=[
                {"description": "Consulting", "quantity": "1", "price_unit": amount, "account": "6000", "taxes": []}
            ],
            totals={"untaxed": amount, "tax": "0.00", "total": amount},
        )
        if approval:
            data["approval"] = approval
        stored = self.create_document("bill.create", data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        return self.created(data["external_id"])

    def approval(self, move, status, by="Dana Approver", at=None):
        data = {"external_id": move.finance_sync_origin_external_id, "status": status, "by": by, "at": at or iso_now()}
        return self.create_document("approval.status", data)

    def payable(self, move):
        """The bill's payable balance as its journal items hold it (Odoo's own figures)."""
        [(balance,)] = self.env["account.move.line"]._read_group(
            [("move_id", "=", move.id), ("account_id.account_type", "=", "liability_payable")],
            aggregates=["balance:sum"],
        )
        return move.currency_id.round(balance)

    def assertOverrideRecorded(self, move, user, reason):
        self.assertEqual(move.state, "posted")
        notes = move.message_ids.filtered(lambda m: "posted this document before" in str(m.body))
        self.assertEqual(len(notes), 1, "one note per override")
        self.assertIn(user.name, str(notes.body))
        self.assertIn(reason, str(notes.body))
        self.assertEqual(notes.author_id, user.partner_id)
        self.assertEqual((move.finance_sync_approval_override_uid, move.finance_sync_approval_state), (user, "pending"))
        self.assertEqual(move.amount_residual, AMOUNT)
        self.assertEqual(self.payable(move), -AMOUNT)

    def confirm_override(self, action, user, reason, **vals):
        self.assertEqual(action["res_model"], "finance.sync.approval.override", action)
        wizard = self.Override.with_user(user).with_context(**action["context"]).create({"reason": reason, **vals})
        return wizard.action_confirm()

    def shown(self, move, user, xpath):
        """Whether the form shows ``user`` the element of ``xpath`` for ``move`` (its groups and
        its invisible condition applied)."""
        record = move.with_user(user)
        arch = etree.fromstring(record.get_views([(False, "form")])["views"]["form"]["arch"])
        nodes = arch.xpath(xpath)
        if not nodes:
            return False
        names = {
            "state",
            "finance_sync_awaiting_approval",
            "finance_sync_rejected_after_posting",
            "finance_sync_approval_state",
            "finance_sync_approval_override_uid",
        }
        values = record.read(sorted(names))[0]
        values = {name: (value[0] if isinstance(value, tuple) else value) for name, value in values.items()}
        return not safe_eval(nodes[0].get("invisible") or "False", values)


@tagged("post_install", "-at_install")
class TestPostingBeforeApproval(ApprovalCase):
    def test_the_state_shows_and_confirm_gives_way_to_override_for_accounting_administrators(self):
        move = self.bill()
        self.assertEqual((move.state, move.finance_sync_approval_state), ("draft", "pending"))
        self.assertTrue(move.finance_sync_awaiting_approval)
        self.assertTrue(move.hide_post_button, "Confirm is hidden while the platform has not approved")
        self.assertEqual(move.finance_sync_approval_platform, self.backend.name)
        self.assertEqual(move.finance_sync_approval_since, move.create_date)
        banner = "//div[@name='finance_sync_approval_waiting']"
        override = "//button[@name='action_finance_sync_override_approval']"
        self.assertTrue(self.shown(move, self.billing, banner), "every invoicing user sees why")
        self.assertFalse(self.shown(move, self.billing, override), "not theirs to override")
        self.assertTrue(self.shown(move, self.manager, override))
        self.assertFalse(self.shown(move, self.fs_admin, override), "a Finance Sync administrator alone may not")
        # Once approved, Confirm is back and the banner gone.
        approved = self.bill(approval={"approved_by": "Dana", "approved_at": "2026-03-01T09:00:00Z"})
        self.assertEqual(approved.state, "posted")
        self.assertFalse(self.shown(approved, self.billing, banner))

    def test_an_invoicing_user_and_a_finance_sync_administrator_cannot_post_it(self):
        move = self.bill()
        for user in (self.billing, self.fs_admin):
            record = move.with_user(user)
            for method in ("action_post", "action_finance_sync_override_approval"):
                with self.subTest(user=user.login, method=method), self.assertRaises(UserError) as caught:
                    getattr(record, method)()
                self.assertIn("Only an accounting administrator", str(caught.exception))
                self.assertIn(move.display_name, str(caught.exception))
            with self.assertRaises(AccessError):  # the wizard itself is the accounting administrators'
                self.Override.with_user(user).with_context(default_move_ids=move.ids).create({"reason": "Urgent"})
        self.assertEqual(move.state, "draft")

    def test_an_accounting_administrator_posts_it_with_a_reason_recorded(self):
        move = self.bill()
        action = move.with_user(self.manager).action_post()
        self.assertEqual(move.state, "draft", "nothing posted before the reason")
        wizard = self.Override.with_user(self.manager).with_context(**action["context"]).create({"reason": "  "})
        self.assertEqual(wizard.waiting_move_ids, move)
        with self.assertRaises(UserError):
            wizard.action_confirm()
        self.assertEqual(move.state, "draft")
        self.confirm_override(action, self.manager, "Supplier paid upfront, CFO agreed")
        self.assertOverrideRecorded(move, self.manager, "Supplier paid upfront, CFO agreed")
        self.assertTrue(self.shown(move, self.billing, "//div[@name='finance_sync_approval_overridden']"))

    def test_the_confirm_entries_wizard_and_the_list_ask_for_the_reason(self):
        move = self.bill()
        other = self.init_invoice("in_invoice", partner=self.partner_a, amounts=[12.10], taxes=[])
        wizard = (
            self.env["validate.account.move"]
            .with_user(self.billing)
            .with_context(active_model="account.move", active_ids=(move | other).ids)
            .create({})
        )
        with self.assertRaises(UserError):
            wizard.validate_move()
        self.assertEqual((move.state, other.state), ("draft", "draft"), "nothing posted")
        wizard = wizard.with_user(self.manager)
        action = wizard.validate_move()
        self.assertEqual(action["context"]["default_validate_wizard_id"], wizard.id)
        self.assertEqual((move.state, other.state), ("draft", "draft"), "nothing posted before the reason")
        self.confirm_override(action, self.manager, "Quarter-end accrual")
        self.assertOverrideRecorded(move, self.manager, "Quarter-end accrual")
        self.assertEqual(other.state, "posted")

        listed = self.bill()
        action = listed.with_user(self.manager).action_validate_moves_with_confirmation()
        self.assertEqual(listed.state, "draft")
        self.confirm_override(action, self.manager, "Listed: urgent")
        self.assertEqual(listed.state, "posted")
        with self.assertRaises(UserError):
            self.bill().with_user(self.billing).action_validate_moves_with_confirmation()

    def test_context_keys_and_rights_grant_nothing_by_rpc_or_code(self):
        move = self.bill()
        context = {"finance_sync_approval_override": True, "finance_sync_approval_override_reason": "x"}
        self.authenticate(self.manager.login, PASSWORD)

        def rpc(method, args, route="call_kw"):
            return self.make_jsonrpc_request(
                f"/web/dataset/{route}/account.move/{method}",
                {"model": "account.move", "method": method, "args": args, "kwargs": {"context": context}},
            )

        self.assertEqual(rpc("action_post", [move.ids], "call_button")["res_model"], "finance.sync.approval.override")
        with self.assertRaises(JsonRpcException) as caught:  # Odoo lets a write post a draft outright
            rpc("write", [move.ids, {"state": "posted"}])
        self.assertEqual(str(caught.exception), "odoo.exceptions.UserError")
        with self.assertRaises(JsonRpcException) as caught:  # the override's facts are not written by hand
            rpc("write", [move.ids, {"finance_sync_approval_override_uid": self.manager.id}])
        self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        for record in (
            move.with_user(self.manager).with_context(finance_sync_approval_override=True),
            move.with_user(self.fs_admin),
            move.sudo(),
        ):
            with self.subTest(user=record.env.user.login, su=record.env.su), self.assertRaises(UserError) as caught:
                record._post(soft=False)
            self.assertIn("not approved", str(caught.exception))
        # The module's override object is not enough without the right either.
        with self.assertRaises(UserError):
            approval_override(move.with_user(self.fs_admin), "I configure the platform")._post(soft=False)
        self.env.invalidate_all()
        self.assertEqual(move.state, "draft")
        self.assertFalse(move.finance_sync_approval_override_uid)
        approval_override(move.with_user(self.manager), "Signed off on paper")._post(soft=False)
        self.assertOverrideRecorded(move, self.manager, "Signed off on paper")

    def test_auto_post_leaves_it_draft_and_says_why(self):
        move = self.bill()
        move.auto_post = "at_date"
        other = self.init_invoice("in_invoice", partner=self.partner_a, amounts=[0.07], taxes=[])
        other.auto_post = "at_date"
        with self.enter_registry_test_mode():
            self.env.ref("account.ir_cron_auto_post_draft_entry").method_direct_trigger()
        self.env.invalidate_all()
        self.assertEqual(move.state, "draft", "never posted silently")
        self.assertEqual(move.auto_post, "no", "out of the cron's queue")
        self.assertEqual(other.state, "posted", "the other entries are posted as usual")
        note = move.message_ids.filtered(lambda m: "Not posted automatically" in str(m.body))
        self.assertEqual(len(note), 1)
        self.assertIn(self.backend.name, str(note.body))

    def test_the_platform_s_own_events_never_post_it_unapproved(self):
        move = self.bill()
        self.set_policy("immediate")
        creation = self.Event.sudo().search([("move_id", "=", move.id), ("event_type", "=", "bill.create")])
        state, note = move.sudo()._finance_sync_settle_created(creation, creation.payload["data"])
        self.assertEqual((state, move.state), ("processed", "draft"), "post at once posts no unapproved document")
        self.assertIn("draft until approved", str(note))
        withdrawn = self.approval(move, "withdrawn")
        self.assertEqual((move.state, move.finance_sync_approval_state), ("draft", "withdrawn"))
        self.assertTrue(move.finance_sync_awaiting_approval, "a withdrawn approval is no approval")
        self.assertEqual(withdrawn.state, "processed")
        with self.assertRaises(UserError):
            move.with_user(self.billing).action_post()


@tagged("post_install", "-at_install")
class TestDecisionsAfterPosting(ApprovalCase):
    def todos(self, move):
        return move.activity_ids.filtered(lambda a: a.activity_type_id == self.env.ref(TODO))

    def test_a_rejection_after_posting_reaches_the_backend_s_responsible(self):
        self.backend.user_id = self.billing
        move = self.bill(approval={"approved_by": "Dana", "approved_at": "2026-03-01T09:00:00Z"})
        self.assertEqual(move.state, "posted")
        stored = self.approval(move, "rejected", by="Sam Controller")
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual((move.state, move.finance_sync_approval_state), ("posted", "rejected"), "never undone")
        exception = stored.exception_ids
        self.assertEqual(
            (exception.category, exception.severity, exception.move_id), ("approval_rejected", "blocking", move)
        )
        self.assertIn("Sam Controller", exception.message)
        self.assertIn("reverse it in Odoo", exception.message)
        self.assertFalse(exception.activity_ids, "one to-do, on the document where it is reversed")
        todo = self.todos(move)
        self.assertEqual(len(todo), 1)
        self.assertEqual(todo.user_id, self.billing)
        self.assertIn("Sam Controller", str(todo.note))
        self.assertTrue(move.with_user(self.billing).finance_sync_rejected_after_posting)
        self.assertTrue(self.shown(move, self.billing, "//div[@name='finance_sync_rejected_after_posting']"))
        # A repeat of the rejection opens no second to-do.
        self.approval(move, "withdrawn", by="Sam Controller")
        self.assertEqual(len(self.todos(move)), 1)

        # The responsible reverses it (Odoo's full reversal): the banner is gone.
        move.with_user(self.billing)._reverse_moves([{"ref": "Rejected by the platform"}], cancel=True)
        self.assertEqual(move.payment_state, "reversed")
        self.assertEqual(move.amount_residual, 0.0)
        self.assertFalse(move.finance_sync_rejected_after_posting)

    def test_without_a_backend_responsible_the_one_who_overrode_gets_the_to_do(self):
        self.backend.user_id = False
        move = self.bill()
        self.confirm_override(move.with_user(self.manager).action_post(), self.manager, "Month-end close")
        self.approval(move, "rejected")
        todo = self.todos(move)
        self.assertEqual(todo.user_id, self.manager)
        inbound_user = self.backend._get_inbound_user()
        self.assertNotEqual(todo.user_id, inbound_user, "never the technical user")

    def test_an_approval_after_an_override_is_recorded_and_consistent(self):
        move = self.bill()
        self.confirm_override(move.with_user(self.manager).action_post(), self.manager, "Before the weekend")
        stored = self.approval(move, "approved", by="Dana Approver")
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertIn("after fs_accounting_manager_approval posted it before approval", stored.result_message)
        self.assertEqual(
            (move.state, move.finance_sync_approval_state, move.finance_sync_approved_by),
            ("posted", "approved", "Dana Approver"),
        )
        self.assertEqual(move.finance_sync_approval_override_uid, self.manager, "the override stays on record")
        self.assertFalse(stored.exception_ids)
        self.assertEqual(self.payable(move), -AMOUNT, "posted once")
        self.assertIn("Dana Approver", " ".join(move.message_ids.mapped("body")))
        self.assertFalse(self.shown(move, self.billing, "//div[@name='finance_sync_approval_overridden']"))

    def test_an_approval_after_a_rejection_settles_it(self):
        self.backend.user_id = self.billing
        move = self.bill(approval={"approved_by": "Dana", "approved_at": "2026-03-01T09:00:00Z"})
        rejected = self.approval(move, "rejected", at=iso_now())
        exception = rejected.exception_ids
        self.assertEqual(len(self.todos(move)), 1)
        self.approval(move, "approved", by="Sam Controller")
        self.assertEqual(exception.state, "resolved")
        self.assertFalse(self.todos(move), "the to-do is done")
        self.assertFalse(move.finance_sync_rejected_after_posting)

    def test_an_invoice_also_on_credit_hold_needs_both_reasons(self):
        customer = self.env["res.partner"].create(
            {"name": "Held Customer", "customer_rank": 1, "finance_sync_credit_hold": True}
        )
        self.add_mapping("partner", customer, "cus_held_approval")
        data = self.invoice_data(
            partner={"code": "cus_held_approval"},
            lines=[{"description": "Gold plan", "quantity": "1", "price_unit": "1234.57", "taxes": []}],
            totals={"untaxed": "1234.57", "tax": "0.00", "total": "1234.57"},
        )
        self.create_document("invoice.create", data)
        move = self.created(data["external_id"])
        action = move.with_user(self.manager).action_post()
        with self.assertRaises(UserError):
            self.confirm_override(action, self.manager, "Approved by phone")
        self.assertEqual(move.state, "draft")
        self.confirm_override(action, self.manager, "Approved by phone", credit_reason="Prepaid")
        self.assertEqual(move.state, "posted")
        bodies = " ".join(move.message_ids.mapped("body"))
        self.assertIn("Approved by phone", bodies)
        self.assertIn("Prepaid", bodies)


@tagged("post_install", "-at_install")
class TestApprovalTours(ApprovalCase):
    """Browser tours, read back from the database afterwards: proof that the browser did it."""

    def browser_js(self, *args, **kwargs):
        """A slow Chromium start is tried again instead of skipping the tour (see test_tours)."""
        for attempt in range(1, BROWSER_STARTS):
            try:
                return super().browser_js(*args, **kwargs)
            except unittest.SkipTest as skip:
                if "devtools port" not in str(skip):
                    raise
                _logger.warning("Chromium did not start (attempt %s of %s): starting it again", attempt, BROWSER_STARTS)
        return super().browser_js(*args, **kwargs)

    def test_a_finance_user_cannot_post_an_unapproved_bill_without_a_reason(self):
        approver = self.make_user("fs_tour_approver", "account.group_account_manager")
        move = self.bill()

        self.start_tour(
            f"/odoo/action-account.action_move_in_invoice_type/{move.id}",
            "finance_sync_approval_override",
            login=approver.login,
        )

        self.env.invalidate_all()
        self.assertOverrideRecorded(move, approver, "Supplier stops deliveries tomorrow, CFO agreed")

    def test_a_rejection_after_posting_reaches_a_to_do(self):
        accountant = self.make_user("fs_tour_accountant", "account.group_account_invoice")
        self.backend.user_id = accountant
        supplier = self.env["res.partner"].create({"name": "Tour Rejected Supplier", "supplier_rank": 1})
        self.add_mapping("partner", supplier, "sup_tour_rejected")
        move = self.bill(
            approval={"approved_by": "Dana", "approved_at": "2026-03-01T09:00:00Z"},
            partner={"code": "sup_tour_rejected"},
        )
        self.approval(move, "rejected", by="Sam Controller")
        (todo,) = move.activity_ids
        self.assertEqual(todo.user_id, accountant)

        self.start_tour(
            "/odoo/action-account.action_move_in_invoice_type", "finance_sync_approval_rejected", login=accountant.login
        )

        self.env.invalidate_all()
        self.assertEqual((move.state, move.payment_state), ("posted", "not_paid"), "the reversal was only opened")
        self.assertEqual(move.activity_ids, todo, "the to-do waits for the person's decision")
