"""Documents platforms create in Odoo (invoice.create, bill.create, approval.status), posted
signed through Odoo's real HTTP server: documents, lines, taxes, totals, attachments, approvals,
posting policies, repeats (also 20 parallel deliveries of one new document), reverse-mapping
failures with their exceptions and reprocess, and the created documents' own outbound events."""
# The parallel test needs rows other connections see: it commits, and cleans up after.
# pylint: disable=invalid-commit

import base64
import json
import uuid
from contextlib import closing
from datetime import date, timedelta

import odoo
from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError
from odoo.fields import Command
from odoo.tests import HOST, BaseCase, get_db_name, tagged

from .. import const
from ..engine import inbound, signing
from ..engine import inbound_documents as documents_lib
from .test_inbound import InboundCase, deliver_in_parallel, event

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


class DocumentCase(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write(
            {"document_source_invoices": True, "document_source_bills": True, "document_posting_policy": "draft"}
        )
        cls.mapping_set = cls.env["finance.sync.mapping.set"].create({"name": "Billing codes"})
        cls.backend.mapping_set_id = cls.mapping_set
        cls.revenue = cls.company_data["default_account_revenue"]
        cls.expense = cls.company_data["default_account_expense"]
        Tax = cls.env["account.tax"]
        cls.vat15 = Tax.create({"name": "Sales VAT 15 (platform)", "amount": 15, "type_tax_use": "sale"})
        cls.vat10 = Tax.create({"name": "Sales VAT 10 (platform)", "amount": 10, "type_tax_use": "sale"})
        cls.input_vat = Tax.create({"name": "Input VAT 20 (platform)", "amount": 20, "type_tax_use": "purchase"})
        cls.analytic_plan = cls.env["account.analytic.plan"].create({"name": "Departments"})
        cls.analytic = cls.env["account.analytic.account"].create(
            {"name": "Sales department", "code": "DEP-SALES", "plan_id": cls.analytic_plan.id}
        )
        cls.product_a.default_code = "SUB-GOLD"
        cls.add_mapping("partner", cls.partner_a, "cus_100")
        cls.add_mapping("partner", cls.partner_b, "sup_200")
        cls.add_mapping("account", cls.revenue, "4000")
        cls.add_mapping("account", cls.expense, "6000")
        cls.add_mapping("tax", cls.vat15, "VAT15")
        cls.add_mapping("tax", cls.input_vat, "IN20")
        cls.today = date.today().isoformat()

    @classmethod
    def add_mapping(cls, kind, record, code):
        field = {"partner": "partner_id", "account": "account_id", "tax": "tax_id", "analytic": "analytic_account_id"}
        return cls.env["finance.sync.mapping"].create(
            {"set_id": cls.mapping_set.id, "kind": kind, field[kind]: record.id, "external_code": code}
        )

    def invoice_data(self, external_id=None, **overrides):
        data = {
            "external_id": external_id or f"in_{uuid.uuid4().hex[:12]}",
            "kind": "invoice",
            "number": "BP-2026-0042",
            "invoice_date": self.today,
            "currency": self.company.currency_id.name,
            "partner": {"code": "cus_100"},
            "lines": [
                {
                    "description": "Gold plan, March",
                    "quantity": "2",
                    "price_unit": "50.00",
                    "account": "4000",
                    "taxes": ["VAT15"],
                },
                {
                    "description": "Onboarding",
                    "quantity": "1",
                    "price_unit": "100",
                    "discount": "10",
                    "product": "SUB-GOLD",
                    "account": "4000",
                    "taxes": [],
                    "analytic": [{"code": "DEP-SALES", "percentage": "100"}],
                },
            ],
            "totals": {"untaxed": "190.00", "tax": "15.00", "total": "205.00"},
        }
        data.update(overrides)
        return data

    def bill_data(self, external_id=None, **overrides):
        data = {
            "external_id": external_id or f"bill_{uuid.uuid4().hex[:12]}",
            "kind": "bill",
            "number": "PO-77",
            "invoice_date": self.today,
            "currency": self.company.currency_id.name,
            "partner": {"code": "sup_200"},
            "lines": [
                {"description": "Laptops", "quantity": "2", "price_unit": "500", "account": "6000", "taxes": ["IN20"]}
            ],
            "totals": {"untaxed": "1000.00", "tax": "200.00", "total": "1200.00"},
        }
        data.update(overrides)
        return data

    def create_document(self, event_type, data, msg_id=None):
        response = self.post(event(event_type, data), msg_id=msg_id)
        self.assertEqual(response.status_code, 202, response.text)
        return self.Event.sudo().browse(response.json()["id"])

    def created(self, external_id):
        return self.env["account.move"].search([("finance_sync_origin_external_id", "=", external_id)])

    def set_policy(self, policy):
        self.backend.document_posting_policy = policy


@tagged("post_install", "-at_install")
class TestInboundDocumentCreation(DocumentCase):
    def test_invoice_is_created_once_with_lines_taxes_totals_and_pdf(self):
        data = self.invoice_data(
            attachment={
                "filename": "BP-2026-0042.pdf",
                "mimetype": "application/pdf",
                "content_base64": base64.b64encode(PDF).decode(),
            },
            due_date=(date.today() + timedelta(days=30)).isoformat(),
        )
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        move = self.created(data["external_id"])
        self.assertEqual(len(move), 1)
        self.assertEqual(stored.move_id, move)
        self.assertEqual(move.move_type, "out_invoice")
        self.assertEqual(move.state, "draft", "the backend keeps created documents as drafts")
        self.assertEqual(move.partner_id, self.partner_a)
        self.assertEqual(move.ref, "BP-2026-0042")
        self.assertEqual(move.journal_id.type, "sale")
        self.assertEqual(move.invoice_date_due.isoformat(), data["due_date"])
        lines = move.invoice_line_ids.sorted("sequence")
        self.assertEqual(lines.mapped("name"), ["Gold plan, March", "Onboarding"])
        self.assertEqual(lines.mapped("account_id"), self.revenue)
        self.assertEqual(lines[0].tax_ids, self.vat15)
        self.assertFalse(lines[1].tax_ids, "an empty list of taxes means no tax, not the product's")
        self.assertEqual(lines[1].product_id, self.product_a)
        self.assertEqual(lines[1].discount, 10)
        self.assertEqual(lines[1].analytic_distribution, {str(self.analytic.id): 100.0})
        self.assertEqual((move.amount_untaxed, move.amount_tax, move.amount_total), (190.0, 15.0, 205.0))
        attachment = self.env["ir.attachment"].search([("res_model", "=", "account.move"), ("res_id", "=", move.id)])
        self.assertEqual(attachment.name, "BP-2026-0042.pdf")
        self.assertEqual(attachment.raw, PDF)
        binding = move.finance_sync_binding_ids
        self.assertEqual((binding.backend_id, binding.external_id), (self.backend, data["external_id"]))
        self.assertEqual(move.finance_sync_origin_backend_id, self.backend)
        self.assertIn(
            data["external_id"], move.message_ids.mapped("body")[-1] + "".join(move.message_ids.mapped("body"))
        )
        self.assertEqual(move.create_uid, self.inbound_user, "created by the technical user, not the superuser")
        self.backend.invalidate_recordset(["created_document_count"])
        self.assertEqual(self.backend.created_document_count, 1)
        action = self.backend.action_view_created_documents()
        self.assertEqual(self.env["account.move"].search(action["domain"]), move)

    def test_a_repeat_with_another_webhook_id_answers_the_existing_document(self):
        data = self.invoice_data()
        first = self.create_document("invoice.create", data)
        self.assertEqual(first.state, "processed", first.result_message)
        again = self.create_document("invoice.create", data)
        self.assertNotEqual(first, again, "another webhook-id is another event")
        move = self.created(data["external_id"])
        self.assertEqual(len(move), 1)
        self.assertEqual(again.state, "processed")
        self.assertEqual(again.move_id, move)
        self.assertIn("nothing was created again", again.result_message)
        response = self.post(event("invoice.create", data))
        self.assertEqual(response.status_code, 202)
        expected = {"model": "account.move", "id": move.id, "number": None, "state": "draft"}
        self.assertEqual(response.json()["document"], expected, "a repeat answers the existing document")
        # The same webhook-id is only counted.
        response = self.post(event("invoice.create", data), msg_id=first.webhook_id)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(len(self.created(data["external_id"])), 1)

    def test_post_at_once_and_its_outbound_events_carry_the_external_id_to_their_creator_only(self):
        self.set_policy("immediate")
        other = self.create_backend("Treasury", path="/treasury")
        self.respond(200)
        self.respond(200, path="/treasury")
        data = self.invoice_data()
        stored = self.create_document("invoice.create", data)
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "posted", stored.result_message)
        self.assertIn("posted", stored.result_message)
        self.dispatch()
        self.dispatch(other)
        bodies = [body for _h, body, _raw in self.received() if body["document"]["id"] == move.id]
        self.assertEqual(len(bodies), 2, "both platforms hear of the posted invoice")
        origins = sorted(str(body.get("origin")) for body in bodies)
        self.assertEqual(origins, sorted(["None", str({"external_id": data["external_id"]})]))
        creator = [req for req, _resp in self.receiver.log if req.path == "/hook"]
        self.assertEqual(json.loads(creator[-1].get_data())["origin"], {"external_id": data["external_id"]})

    def test_bill_with_approval_facts_is_posted_under_post_when_approved(self):
        self.set_policy("approved")
        approval = {
            "approved_by": "Dana Approver",
            "approved_at": "2026-03-01T09:30:00Z",
            "reference": "APR-9",
            "cost_center": "CC-42",
        }
        data = self.bill_data(approval=approval)
        stored = self.create_document("bill.create", data)
        move = self.created(data["external_id"])
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(move.move_type, "in_invoice")
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.invoice_line_ids.tax_ids, self.input_vat)
        self.assertEqual(move.amount_total, 1200.0)
        self.assertEqual(move.finance_sync_approval_state, "approved")
        self.assertEqual(move.finance_sync_approved_by, "Dana Approver")
        self.assertEqual(move.finance_sync_approval_ref, "APR-9")
        self.assertEqual(move.finance_sync_cost_center, "CC-42")

    def test_credit_notes_refunds_and_expenses_get_their_move_types(self):
        for event_type, kind, move_type in (
            ("invoice.create", "credit_note", "out_refund"),
            ("bill.create", "refund", "in_refund"),
            ("bill.create", "expense", "in_invoice"),
        ):
            with self.subTest(kind=kind):
                build = self.invoice_data if event_type == "invoice.create" else self.bill_data
                data = build(kind=kind)
                stored = self.create_document(event_type, data)
                self.assertEqual(stored.state, "processed", stored.result_message)
                self.assertEqual(self.created(data["external_id"]).move_type, move_type)

    def test_unmapped_codes_of_pass_through_kinds_are_odoo_codes(self):
        data = self.invoice_data()
        data["lines"] = [
            {
                "description": "Usage",
                "quantity": "4",
                "price_unit": "25",
                "account": self.revenue.code,
                "taxes": [self.vat10.name],
                "analytic": [{"code": "DEP-SALES", "percentage": "50"}],
            }
        ]
        data["totals"] = {"untaxed": "100.00", "tax": "10.00", "total": "110.00"}
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        line = self.created(data["external_id"]).invoice_line_ids
        self.assertEqual((line.account_id, line.tax_ids), (self.revenue, self.vat10))
        self.assertEqual(line.analytic_distribution, {str(self.analytic.id): 50.0})

    def test_partner_by_vat_when_the_platform_has_no_code(self):
        self.partner_b.vat = "BE0477472701"
        data = self.bill_data(partner={"vat": "BE0477472701", "name": "Supplier B"})
        self.create_document("bill.create", data)
        self.assertEqual(self.created(data["external_id"]).partner_id, self.partner_b)


@tagged("post_install", "-at_install")
class TestInboundDocumentFailures(DocumentCase):
    def test_unmapped_codes_name_line_and_code_nothing_is_created_and_reprocess_goes_through(self):
        self.mapping_set.policy_ids.filtered(lambda p: p.kind == "account").policy = "required"
        data = self.invoice_data()
        data["lines"][1]["account"] = "4100"
        data["lines"][0]["taxes"] = ["VAT15", "VAT-X"]
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "failed")
        self.assertFalse(self.created(data["external_id"]), "nothing is created with a code it cannot resolve")
        self.assertFalse(self.env["finance.sync.binding"].search([("external_id", "=", data["external_id"])]))
        exception = stored.exception_ids
        self.assertEqual(exception.category, "inbound_invalid")
        details = exception.message
        self.assertIn("line 2: account code 4100 has no mapping in Billing codes", details)
        self.assertIn("line 1: no tax has the code VAT-X", details)
        # Fixing the mappings (a new account code; the platform's exempt tax) lets it through.
        self.add_mapping("account", self.revenue.copy({"code": "400100"}), "4100")
        self.add_mapping("tax", self.env["account.tax"].create({"name": "Exempt (platform)", "amount": 0}), "VAT-X")
        stored.action_reprocess()
        self.assertEqual(stored.state, "processed", stored.result_message)
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "draft")
        self.assertEqual(move.invoice_line_ids.sorted("sequence")[1].account_id.code, "400100")
        self.assertEqual(len(move.invoice_line_ids.sorted("sequence")[0].tax_ids), 2)
        self.assertEqual(move.amount_total, 205.0)
        self.assertEqual(exception.state, "resolved")

    def test_reprocess_after_adding_the_mapping_creates_the_document_and_resolves_the_exception(self):
        data = self.invoice_data(partner={"code": "cus_new"})
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "failed")
        self.assertIn("no partner has the code, VAT number or company registry cus_new", stored.exception_ids.message)
        newcomer = self.env["res.partner"].create({"name": "New subscriber"})
        self.add_mapping("partner", newcomer, "cus_new")
        stored.action_reprocess()
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.created(data["external_id"]).partner_id, newcomer)
        self.assertEqual(stored.exception_ids.state, "resolved")

    def test_totals_that_differ_keep_the_draft_with_a_conflict_and_reprocess_posts_once_fixed(self):
        self.set_policy("immediate")
        mapping = self.env["finance.sync.mapping"].search(
            [("external_code", "=", "VAT15"), ("set_id", "=", self.mapping_set.id)]
        )
        mapping.tax_id = self.vat10  # a wrong mapping: Odoo computes 10 % where the platform charged 15 %
        data = self.invoice_data()
        stored = self.create_document("invoice.create", data)
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "draft", "never posted with totals the platform does not have")
        self.assertEqual(stored.state, "failed")
        self.assertEqual(stored.exception_ids.category, "conflict")
        self.assertIn("tax 10.0", stored.exception_ids.message)
        self.assertIn("tax 15.00", stored.exception_ids.message)
        mapping.tax_id = self.vat15
        stored.action_reprocess()
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.created(data["external_id"]), move, "the same document, rebuilt")
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.amount_total, 205.0)
        self.assertEqual(stored.exception_ids.state, "resolved")

    def test_a_date_in_a_locked_period_stays_draft_until_unlocked(self):
        self.set_policy("immediate")
        self.company.fiscalyear_lock_date = date.today()
        data = self.invoice_data(invoice_date=(date.today() - timedelta(days=3)).isoformat())
        stored = self.create_document("invoice.create", data)
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "draft")
        self.assertEqual(stored.state, "failed")
        self.assertIn("locked period", stored.exception_ids.message)
        self.company.fiscalyear_lock_date = False
        stored.action_reprocess()
        self.assertEqual(move.state, "posted", stored.result_message)

    def test_a_backend_that_is_no_document_source_creates_nothing(self):
        self.backend.document_source_bills = False
        data = self.bill_data()
        before = self.snapshot()
        moves = self.env["account.move"].search_count([])
        body = self.assertRefused(self.post(event("bill.create", data)), 422, "not_document_source", before)
        self.assertIn("may not create vendor bills", body["message"])
        self.assertEqual(self.env["account.move"].search_count([]), moves)

    def test_an_event_reprocessed_after_the_authority_was_withdrawn_creates_nothing(self):
        data = self.bill_data(partner={"code": "sup_unknown"})
        stored = self.create_document("bill.create", data)
        self.assertEqual(stored.state, "failed", "an unknown partner: reprocessed once it is mapped")
        self.add_mapping("partner", self.env["res.partner"].create({"name": "Later supplier"}), "sup_unknown")
        self.backend.document_source_bills = False
        stored.action_reprocess()
        self.assertEqual(stored.state, "failed")
        self.assertIn("may not create vendor bills", stored.result_message)
        self.assertFalse(self.created(data["external_id"]))

    def test_refusals_write_nothing(self):
        before = self.snapshot()
        moves = self.env["account.move"].search_count([])
        not_pdf = self.invoice_data(
            attachment={"filename": "x.pdf", "content_base64": base64.b64encode(b"hello").decode()}
        )
        body = self.assertRefused(self.post(event("invoice.create", not_pdf)), 422, "invalid_attachment", before)
        self.assertEqual(body["errors"][0]["path"], "/data/attachment/content_base64")
        broken = self.invoice_data(attachment={"filename": "x.pdf", "content_base64": "JVBER"})
        self.assertRefused(self.post(event("invoice.create", broken)), 422, "invalid_attachment", before)
        fine = self.invoice_data(totals={"untaxed": "190.001", "tax": "15", "total": "205"})
        self.assertRefused(self.post(event("invoice.create", fine)), 422, "amount_precision", before)
        no_lines = self.invoice_data(lines=[])
        self.assertRefused(self.post(event("invoice.create", no_lines)), 422, "schema_violation", before)
        wrong_kind = self.bill_data(kind="invoice")
        self.assertRefused(self.post(event("bill.create", wrong_kind)), 422, "schema_violation", before)
        no_status = {"external_id": "x", "status": "maybe", "by": "a", "at": "2026-01-01T00:00:00Z"}
        self.assertRefused(self.post(event("approval.status", no_status)), 422, "schema_violation", before)
        unsigned = self.post(event("invoice.create", self.invoice_data()), secret=signing.generate_secret())
        self.assertRefused(unsigned, 401, unsigned.json()["error"], before)
        self.assertEqual(self.env["account.move"].search_count([]), moves)


@tagged("post_install", "-at_install")
class TestInboundApprovals(DocumentCase):
    def setUp(self):
        super().setUp()
        self.set_policy("approved")

    def approval(self, external_id, status, by="Dana Approver", at="2026-03-02T10:00:00Z", **extra):
        response = self.post(
            event("approval.status", {"external_id": external_id, "status": status, "by": by, "at": at, **extra})
        )
        self.assertEqual(response.status_code, 202, response.text)
        return self.Event.sudo().browse(response.json()["id"])

    def test_approved_posts_the_draft_and_the_chatter_names_the_approver(self):
        data = self.bill_data()
        created = self.create_document("bill.create", data)
        move = self.created(data["external_id"])
        self.assertEqual((move.state, move.finance_sync_approval_state), ("draft", "pending"))
        self.assertIn("draft until approved", created.result_message)
        stored = self.approval(data["external_id"], "approved", reference="APR-1", note="Within budget")
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(move.state, "posted")
        self.assertEqual(move.finance_sync_approved_by, "Dana Approver")
        self.assertEqual(move.finance_sync_approval_ref, "APR-1")
        self.assertIn("approved by Dana Approver and posted", stored.result_message)
        bodies = " ".join(move.message_ids.mapped("body"))
        self.assertIn("Dana Approver", bodies)
        self.assertIn("Within budget", bodies)

    def test_rejected_cancels_the_draft(self):
        data = self.invoice_data()
        self.create_document("invoice.create", data)
        move = self.created(data["external_id"])
        stored = self.approval(data["external_id"], "rejected", by="Sam Controller")
        self.assertEqual(move.state, "cancel")
        self.assertEqual(move.finance_sync_approval_state, "rejected")
        self.assertIn("rejected by Sam Controller and cancelled", stored.result_message)
        self.assertIn("Sam Controller", " ".join(move.message_ids.mapped("body")))

    def test_withdrawing_a_posted_document_is_a_conflict_never_an_automatic_reversal(self):
        data = self.bill_data(approval={"approved_by": "Dana", "approved_at": "2026-03-01T09:00:00Z"})
        self.create_document("bill.create", data)
        move = self.created(data["external_id"])
        self.assertEqual(move.state, "posted")
        stored = self.approval(data["external_id"], "withdrawn")
        self.assertEqual(move.state, "posted")
        self.assertEqual(stored.exception_ids.category, "approval_rejected")
        self.assertEqual(stored.exception_ids.severity, "blocking")
        self.assertIn("reverse it in Odoo", stored.exception_ids.message)

    def test_an_older_decision_is_ignored_and_an_unknown_document_fails(self):
        data = self.bill_data()
        self.create_document("bill.create", data)
        move = self.created(data["external_id"])
        self.approval(data["external_id"], "withdrawn", at="2026-03-05T10:00:00Z")
        older = self.approval(data["external_id"], "approved", at="2026-03-04T10:00:00Z")
        self.assertEqual(older.state, "ignored")
        self.assertEqual(move.state, "draft")
        unknown = self.approval("never-created", "approved")
        self.assertEqual(unknown.state, "failed")
        self.assertEqual(unknown.exception_ids.category, "inbound_unknown_reference")

    def test_keep_as_draft_records_the_approval_without_posting(self):
        self.set_policy("draft")
        data = self.bill_data()
        self.create_document("bill.create", data)
        move = self.created(data["external_id"])
        self.approval(data["external_id"], "approved")
        self.assertEqual((move.state, move.finance_sync_approval_state), ("draft", "approved"))


@tagged("post_install", "-at_install")
class TestDocumentSourceRights(DocumentCase):
    def test_only_accounting_administrators_make_a_backend_a_document_source(self):
        sync_admin = self.make_user("docsrc_sync_admin", "finance_sync.finance_sync_group_admin")
        backend = self.create_backend("Billing", path="/billing")
        with self.assertRaises(AccessError):
            backend.with_user(sync_admin).document_source_invoices = True
        with self.assertRaises(AccessError):
            self.backend.with_user(sync_admin).document_posting_policy = "immediate"
        with self.assertRaises(AccessError):
            self.backend.with_user(sync_admin).signing_secret = signing.generate_secret()
        with self.assertRaises(AccessError):
            self.backend.with_user(sync_admin).action_regenerate_webhook_token()
        backend.with_user(sync_admin).name = "Billing platform"  # the rest of the connection stays theirs
        both = self.make_user("docsrc_both", "finance_sync.finance_sync_group_admin", "account.group_account_manager")
        backend.with_user(both).document_source_invoices = True
        self.assertTrue(backend.is_document_source)
        self.assertIn("Document source", " ".join(backend.message_ids.mapped("body")))

    def test_the_origin_of_a_created_document_is_never_written_by_hand(self):
        data = self.invoice_data()
        self.create_document("invoice.create", data)
        move = self.created(data["external_id"])
        accountant = self.make_user("docsrc_accountant", "account.group_account_manager")
        for vals in (
            {"finance_sync_origin_external_id": "someone-else"},
            {"finance_sync_approval_state": "approved"},
            {"finance_sync_origin_backend_id": False},
        ):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                move.with_user(accountant).write(vals)
        with self.assertRaises(AccessError):
            self.env["account.move"].create(
                {"move_type": "out_invoice", "partner_id": self.partner_a.id, "finance_sync_origin_external_id": "x"}
            )
        self.assertEqual(move.finance_sync_origin_external_id, data["external_id"])
        move.with_user(accountant).ref = "Corrected reference"  # the rest stays the accountants'

    def test_the_sync_administrator_cannot_create_documents_and_the_technical_user_only_invoices(self):
        sync_admin = self.make_user("docsrc_admin_only", "finance_sync.finance_sync_group_admin")
        self.assertFalse(self.env["account.move"].with_user(sync_admin).has_access("create"))
        inbound = self.inbound_user
        self.assertTrue(self.env["account.move"].with_user(inbound).has_access("create"))
        for model in ("account.journal", "account.account", "account.tax", "res.company", "finance.sync.mapping"):
            self.assertFalse(self.env[model].with_user(inbound).has_access("write"), model)
        groups = self.inbound_user.all_group_ids
        self.assertIn(self.env.ref("account.group_account_invoice"), groups)
        for xmlid in ("account.group_account_manager", "account.group_account_user", "base.group_system"):
            self.assertNotIn(self.env.ref(xmlid), groups, xmlid)


@tagged("post_install", "-at_install")
class TestInboundDocumentsEngine(BaseCase):
    """The plain-Python checks: no database."""

    def test_totals_agree_within_the_currency_rounding(self):
        computed = {"untaxed": 100.0, "tax": 21.0, "total": 121.0}
        self.assertEqual(
            documents_lib.totals_differences(computed, {"untaxed": "100.00", "tax": "21.01", "total": "121.01"}, 0.01),
            [],
        )
        differences = documents_lib.totals_differences(
            computed, {"untaxed": "100", "tax": "21.02", "total": "121"}, 0.01
        )
        self.assertEqual([name for name, _have, _want in differences], ["tax"])
        self.assertEqual(
            documents_lib.totals_differences(
                {"untaxed": 5, "tax": 0, "total": 5}, {"untaxed": "7", "tax": "0", "total": "6"}, 1
            )[0][0],
            "untaxed",
        )

    def test_attachments_must_be_strict_base64_pdf(self):
        self.assertEqual(documents_lib.decode_attachment(base64.b64encode(PDF).decode()), PDF)
        for bad in ("JVBER", "!!!!", base64.b64encode(b"GIF89a").decode()):
            with self.assertRaises(documents_lib.InvalidAttachment):
                documents_lib.decode_attachment(bad)

    def test_analytic_shares_add_up_per_account(self):
        self.assertEqual(
            documents_lib.analytic_distribution([(3, "60"), (4, None), (3, "10")]), {"3": 70.0, "4": 100.0}
        )

    def test_every_document_kind_has_a_move_type(self):
        """Every kind a platform may send (the schema's) is created, on the event's side: customer
        documents for invoice.create, vendor documents for bill.create; refunds and credit notes
        as refunds, the others as invoices."""
        sides = {"invoice.create": "out_", "bill.create": "in_"}
        self.assertEqual(set(const.INBOUND_DOCUMENT_MOVE_TYPES), set(sides))
        for event_type, move_types in const.INBOUND_DOCUMENT_MOVE_TYPES.items():
            with self.subTest(event_type):
                schema = json.loads((inbound.SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
                kinds = schema["properties"]["data"]["properties"]["kind"]["enum"]
                self.assertEqual(set(move_types), set(kinds), "a kind the schema accepts and Odoo cannot create")
                for kind, move_type in move_types.items():
                    refund = kind in ("refund", "credit_note")
                    self.assertEqual(move_type, sides[event_type] + ("refund" if refund else "invoice"), kind)


@tagged("post_install", "-at_install")
class TestInboundDocumentRealConcurrency(BaseCase):
    """Twenty deliveries of one new document, each with its own webhook-id, in twenty parallel
    transactions through the HTTP server: one document, one binding, twenty events. Needs
    committed data (the server's transactions must see it), removed at the end."""

    DELIVERIES = 20

    def _cursor(self):
        return closing(sql_db.db_connect(get_db_name()).cursor())

    def test_twenty_parallel_deliveries_create_one_document(self):
        server = odoo.service.server.server
        if server is None:
            self.skipTest("needs Odoo's HTTP server (--odoo-http)")
        secret = signing.generate_secret()
        external_id = f"par_{uuid.uuid4().hex[:10]}"
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            partner = env["res.partner"].create({"name": "Parallel customer", "ref": f"PAR-{external_id}"})
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Inbound documents concurrency",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "signing_secret": secret,
                    "state": "active",
                    "company_ids": [(6, 0, company.ids)],
                    "send_customer_invoices": False,
                    "send_vendor_bills": False,
                    "send_credit_notes": False,
                    "document_source_invoices": True,
                }
            )
            ids = {"backend": backend.id, "partner": partner.id}
            url = f"http://{HOST}:{server.httpd.server_port}/finance_sync/webhook/{backend.webhook_token}"
            currency = company.currency_id.name
            cr.commit()
        try:
            data = {
                "external_id": external_id,
                "kind": "invoice",
                "invoice_date": date.today().isoformat(),
                "currency": currency,
                "partner": {"code": f"PAR-{external_id}"},
                "lines": [{"description": "Seat", "quantity": "3", "price_unit": "10", "taxes": []}],
                "totals": {"untaxed": "30.00", "tax": "0.00", "total": "30.00"},
            }
            body = json.dumps(event("invoice.create", data)).encode()
            results = deliver_in_parallel(url, secret, body, self.DELIVERIES, "msg_doc")
            self.assertEqual(sorted(status for status, _body in results), [202] * self.DELIVERIES, results)
            with self._cursor() as cr:
                cr.execute(
                    "SELECT count(*) FROM account_move WHERE finance_sync_origin_backend_id = %s", (ids["backend"],)
                )
                self.assertEqual(cr.fetchone()[0], 1, "one document, whatever the number of deliveries")
                cr.execute("SELECT count(*) FROM finance_sync_binding WHERE backend_id = %s", (ids["backend"],))
                self.assertEqual(cr.fetchone()[0], 1)
                cr.execute(
                    "SELECT state, count(*), count(DISTINCT move_id) FROM finance_sync_inbound_event "
                    "WHERE backend_id = %s GROUP BY state",
                    (ids["backend"],),
                )
                self.assertEqual(cr.fetchall(), [("processed", self.DELIVERIES, 1)])
                cr.execute(
                    "SELECT count(*) FROM finance_sync_inbound_event WHERE backend_id = %s "
                    "AND result_message_code = 'document_created'",
                    (ids["backend"],),
                )
                self.assertEqual(cr.fetchone()[0], 1, "one delivery created it, the others answered it")
        finally:
            with self._cursor() as cr:
                cr.execute(
                    "SELECT array_agg(id) FROM account_move WHERE finance_sync_origin_backend_id = %s",
                    (ids["backend"],),
                )
                move_ids = cr.fetchone()[0] or [0]
                cr.execute("DELETE FROM finance_sync_binding WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_inbound_event WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_exception WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (ids["backend"],))
                cr.execute(
                    "DELETE FROM mail_message WHERE (model = 'finance.sync.backend' AND res_id = %s) "
                    "OR (model = 'account.move' AND res_id = ANY(%s))",
                    (ids["backend"], move_ids),
                )
                cr.execute("DELETE FROM account_move WHERE id = ANY(%s)", (move_ids,))
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (ids["backend"],))
                cr.execute("DELETE FROM res_partner WHERE id = %s", (ids["partner"],))
                cr.commit()


@tagged("post_install", "-at_install")
class TestInboundDocumentCompanies(DocumentCase):
    """A document source serving two companies, each with its own chart: each document is
    created in the company the platform names, its journal, accounts and taxes that company's;
    a code that names no company, or a company the backend does not serve, creates nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_data = cls.setup_other_company(name="Branch Co")
        cls.other = cls.other_data["company"]
        cls.backend.write({"company_ids": [Command.link(cls.other.id)], "document_posting_policy": "immediate"})
        Tax = cls.env["account.tax"]
        cls.tax_a = Tax.create({"name": "Sales VAT 10 (A)", "amount": 10, "type_tax_use": "sale"})
        cls.tax_b = Tax.create(
            {"name": "Sales VAT 10 (B)", "amount": 10, "type_tax_use": "sale", "company_id": cls.other.id}
        )
        cls.add_mapping("tax", cls.tax_a, "VAT10")
        cls.add_mapping("tax", cls.tax_b, "VAT10")
        cls.add_mapping("account", cls.other_data["default_account_revenue"], "4000")
        Mapping = cls.env["finance.sync.mapping"]
        for company, code in ((cls.company, "LE-A"), (cls.other, "LE-B")):
            Mapping.create(
                {
                    "set_id": cls.mapping_set.id,
                    "kind": "company",
                    "mapped_company_id": company.id,
                    "external_code": code,
                }
            )
        # Not served by the backend; its company registry is its code (the company kind passes through).
        cls.outside = cls.env["res.company"].create({"name": "Outside Co", "company_registry": "LE-C"})

    def seat_invoice(self, **overrides):
        return self.invoice_data(
            lines=[
                {"description": "Seats", "quantity": "3", "price_unit": "12.10", "account": "4000", "taxes": ["VAT10"]}
            ],
            totals={"untaxed": "36.30", "tax": "3.63", "total": "39.93"},
            **overrides,
        )

    def test_each_document_is_created_in_the_company_the_platform_names(self):
        cases = (
            (self.other, "LE-B", self.tax_b, self.other_data["default_account_revenue"]),
            (self.company, "LE-A", self.tax_a, self.revenue),
        )
        for company, code, tax, account in cases:
            data = self.seat_invoice(company=code)
            stored = self.create_document("invoice.create", data)
            self.assertEqual(stored.state, "processed", stored.result_message)
            move = self.created(data["external_id"])
            self.assertEqual((move.company_id, move.state), (company, "posted"), code)
            self.assertEqual(move.journal_id.company_id, company)
            self.assertEqual(move.journal_id.type, "sale")
            for line in move.line_ids:
                self.assertIn(company, line.account_id.company_ids, f"{code}: {line.account_id.display_name}")
            self.assertEqual(move.invoice_line_ids.tax_ids, tax)
            self.assertEqual(move.invoice_line_ids.account_id, account, "the platform's 4000 in that company")
            self.assertEqual((move.amount_untaxed, move.amount_tax, move.amount_total), (36.30, 3.63, 39.93))
            move._check_company()  # every relation is of the document's company

    def test_a_company_code_by_its_registry_when_the_kind_passes_through(self):
        self.other.company_registry = "BR-0042"
        self.company.company_registry = "HQ-0001"
        for company, code in ((self.company, "HQ-0001"), (self.other, "BR-0042")):
            data = self.seat_invoice(company=code)
            stored = self.create_document("invoice.create", data)
            self.assertEqual(stored.state, "processed", stored.result_message)
            self.assertEqual(self.created(data["external_id"]).company_id, company, code)

    def test_an_unknown_or_unserved_company_or_none_named_creates_nothing(self):
        cases = (
            ("LE-X", "no company has the code LE-X"),
            ("LE-C", f"{self.backend.name} does not serve the company of code LE-C"),
            (None, f"{self.backend.name} serves several companies, and the event names none"),
        )
        for code, said in cases:
            data = self.seat_invoice(**({"company": code} if code else {}))
            stored = self.create_document("invoice.create", data)
            self.assertEqual(stored.state, "failed", code)
            self.assertIn(said, stored.exception_ids.message)
            self.assertEqual(stored.exception_ids.category, "inbound_invalid")
            self.assertFalse(self.created(data["external_id"]), "nothing is created")
            self.assertFalse(self.env["finance.sync.binding"].search([("external_id", "=", data["external_id"])]))

    def test_a_backend_serving_one_company_refuses_a_code_of_another(self):
        self.backend.company_ids = [Command.unlink(self.other.id)]
        data = self.seat_invoice(company="LE-B")
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "failed")
        self.assertIn("does not serve the company of code LE-B", stored.exception_ids.message)
        self.assertFalse(self.created(data["external_id"]))
        data = self.seat_invoice()  # no code: its only company
        stored = self.create_document("invoice.create", data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.created(data["external_id"]).company_id, self.company)
