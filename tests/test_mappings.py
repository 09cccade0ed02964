"""Mappings: codes applied per kind, policies, blocking on a missing required mapping and
automatic release when it is added, uniqueness, CSV import, access."""

from psycopg2.errors import UniqueViolation

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import FinanceSyncCase


@tagged("post_install", "-at_install")
class TestMappings(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mapping_set = cls.env["finance.sync.mapping.set"].create({"name": "Warehouse codes"})
        cls.backend.mapping_set_id = cls.mapping_set
        cls.Mapping = cls.env["finance.sync.mapping"]

    def set_policy(self, kind, policy, default=None):
        self.mapping_set.policy_ids.filtered(lambda p: p.kind == kind).write(
            {"policy": policy, "default_code": default}
        )

    def sent_payload(self):
        self.respond(200)
        self.dispatch()
        ((_headers, body, _raw),) = self.received()
        return body

    def test_mappings_applied_per_kind(self):
        invoice = self._create_invoice(post=True)
        line = invoice.invoice_line_ids[0]
        self.Mapping.create(
            [
                {
                    "set_id": self.mapping_set.id,
                    "kind": "account",
                    "account_id": line.account_id.id,
                    "external_code": "GL-4000",
                },
                {
                    "set_id": self.mapping_set.id,
                    "kind": "tax",
                    "tax_id": line.tax_ids[0].id,
                    "external_code": "VAT-STD",
                },
                {
                    "set_id": self.mapping_set.id,
                    "kind": "journal",
                    "journal_id": invoice.journal_id.id,
                    "external_code": "SALES",
                },
                {
                    "set_id": self.mapping_set.id,
                    "kind": "partner",
                    "partner_id": invoice.partner_id.id,
                    "external_code": "CUST-9",
                },
                {
                    "set_id": self.mapping_set.id,
                    "kind": "currency",
                    "currency_id": invoice.currency_id.id,
                    "external_code": "DOLLAR",
                },
                {
                    "set_id": self.mapping_set.id,
                    "kind": "company",
                    "mapped_company_id": self.company.id,
                    "external_code": "LE-01",
                },
            ]
        )
        body = self.sent_payload()
        self.assertEqual(body["lines"][0]["account"]["code"], "GL-4000")
        self.assertEqual(body["lines"][0]["taxes"][0]["code"], "VAT-STD")
        self.assertEqual(body["document"]["journal"]["code"], "SALES")
        self.assertEqual(body["partner"]["code"], "CUST-9")
        self.assertEqual(body["document"]["currency"], "DOLLAR")
        self.assertEqual(body["company"]["code"], "LE-01")
        self.assertEqual(body["lines"][0]["account"]["id"], line.account_id.id, "Odoo's id stays for reference")

    def test_pass_through_and_default_policies(self):
        self.set_policy("journal", "default", "GENERAL")
        invoice = self._create_invoice(post=True)
        body = self.sent_payload()
        self.assertEqual(body["document"]["journal"]["code"], "GENERAL")
        self.assertEqual(body["lines"][0]["account"]["code"], invoice.invoice_line_ids[0].account_id.code)

    def test_missing_required_mapping_blocks_names_the_record_and_adding_it_releases(self):
        self.set_policy("partner", "required")
        first = self._create_invoice(post=True)
        second = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        jobs = self.jobs_of(first) | self.jobs_of(second)
        self.assertEqual(set(jobs.mapped("state")), {"blocked"})
        self.assertFalse(self.receiver.log, "nothing left Odoo")
        exc = jobs.exception_ids
        self.assertEqual(len(exc), 1, "one exception per missing (kind, record), for every job held by it")
        self.assertEqual(exc.category, "missing_mapping")
        self.assertIn(first.partner_id.commercial_partner_id.name, exc.name)
        self.assertEqual(exc.job_ids, jobs)
        self.Mapping.create(
            {
                "set_id": self.mapping_set.id,
                "kind": "partner",
                "partner_id": first.partner_id.commercial_partner_id.id,
                "external_code": "CUST-1",
            }
        )
        self.assertEqual(set(jobs.mapped("state")), {"done"}, "released and sent without anyone pressing retry")
        self.assertEqual(exc.state, "resolved")
        self.assertEqual({body["partner"]["code"] for _h, body, _r in self.received()}, {"CUST-1"})

    def test_draft_line_without_code_does_not_release(self):
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        mapping = self.Mapping.create(
            {
                "set_id": self.mapping_set.id,
                "kind": "partner",
                "partner_id": invoice.partner_id.commercial_partner_id.id,
            }
        )
        self.assertTrue(mapping.is_missing)
        self.assertEqual(self.jobs_of(invoice).state, "blocked")
        self.respond(200)
        mapping.external_code = "CUST-2"
        self.assertEqual(self.jobs_of(invoice).state, "done")
        self.assertIn("CUST-2", "".join(self.mapping_set.message_ids.mapped("body")), "changes are in the chatter")

    def test_uniqueness(self):
        vals = {"set_id": self.mapping_set.id, "kind": "partner", "partner_id": self.partner_a.id, "external_code": "A"}
        self.Mapping.create(vals)
        with self.assertRaises(UniqueViolation), mute_logger("odoo.sql_db"):
            self.Mapping.create(dict(vals, external_code="B"))
            self.env.flush_all()

    def test_csv_import(self):
        account = self.company_data["default_account_revenue"]
        result = self.Mapping.load(
            ["set_id", "kind", "account_id/id", "external_code", "label"],
            [
                [self.mapping_set.name, "account", account.get_external_id()[account.id] or "", "GL-1", "Revenue"],
                [self.mapping_set.name, "partner", "", "CUST-X", "bad: no partner"],
            ],
        )
        errors = [m for m in result["messages"] if m["type"] == "error"]
        if not account.get_external_id()[account.id]:
            self.skipTest("the test chart's revenue account has no external id")
        self.assertTrue(errors, "a line without its Odoo record is refused with a message")
        result = self.Mapping.load(
            ["set_id", "kind", "account_id/id", "external_code", "label"],
            [[self.mapping_set.name, "account", account.get_external_id()[account.id], "GL-1", "Revenue"]],
        )
        self.assertFalse([m for m in result["messages"] if m["type"] == "error"], result["messages"])
        self.assertEqual(self.Mapping.browse(result["ids"]).external_code, "GL-1")

    def test_access_per_group(self):
        user = self.env["res.users"].create(
            {
                "name": "U",
                "login": "fs_map_user",
                "group_ids": [(6, 0, [self.env.ref("finance_sync.finance_sync_group_user").id])],
            }
        )
        mapping = self.Mapping.create(
            {"set_id": self.mapping_set.id, "kind": "partner", "partner_id": self.partner_a.id, "external_code": "A"}
        )
        self.assertEqual(mapping.with_user(user).external_code, "A")
        with self.assertRaises(AccessError):
            mapping.with_user(user).write({"external_code": "B"})
        with self.assertRaises(AccessError):
            self.Mapping.with_user(user).create(
                {
                    "set_id": self.mapping_set.id,
                    "kind": "partner",
                    "partner_id": self.partner_b.id,
                    "external_code": "C",
                }
            )


@tagged("post_install", "-at_install")
class TestProfileAndPreview(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mapping_set = cls.env["finance.sync.mapping.set"].create({"name": "Codes"})
        cls.backend.mapping_set_id = cls.mapping_set

    def test_profile_masks_and_leaves_out(self):
        self.partner_a.write({"vat": "BE0477472701", "email": "jane@example.com"})
        self.backend.write(
            {
                "profile_lines": False,
                "profile_partner_vat": "mask",
                "profile_partner_email": "omit",
                "profile_reconciliation": False,
            }
        )
        self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        ((_h, body, _r),) = self.received()
        self.assertNotIn("lines", body)
        self.assertNotIn("reconciliation", body)
        self.assertEqual(body["partner"]["vat"], "********2701")
        self.assertIsNone(body["partner"]["email"])
        self.backend.profile_partner_vat = "omit"
        self._create_invoice(post=True)
        self.receiver.clear()
        self.respond(200)
        self.dispatch()
        ((_h, body, _r),) = self.received()
        self.assertIsNone(body["partner"]["vat"])

    def test_preview_equals_what_is_then_sent(self):
        invoice = self._create_invoice(post=True)
        self.env["finance.sync.mapping"].create(
            {
                "set_id": self.mapping_set.id,
                "kind": "journal",
                "journal_id": invoice.journal_id.id,
                "external_code": "SALES",
            }
        )
        action = invoice.action_finance_sync_preview()
        wizard = self.env[action["res_model"]].with_context(action["context"]).create({})
        self.assertEqual(wizard.backend_id, self.backend)
        self.assertFalse(wizard.missing)
        self.assertFalse(self.receiver.log, "a preview sends nothing")
        self.respond(200)
        self.dispatch()
        ((_h, _body, raw),) = self.received()
        self.assertEqual(wizard.body.encode(), raw, "byte for byte")

    def test_preview_flags_missing_mappings(self):
        self.mapping_set.policy_ids.filtered(lambda p: p.kind == "account").policy = "required"
        invoice = self._create_invoice(post=True)
        wizard = self.env["finance.sync.preview"].create(
            {"backend_id": self.backend.id, "document_ref": f"account.move,{invoice.id}"}
        )
        self.assertIn(invoice.invoice_line_ids[0].account_id.display_name.split(" ")[0], wizard.missing)
        self.assertEqual(self.jobs_of(invoice).state, "pending", "previewing does not block anything")

    def test_find_unmapped_creates_draft_lines(self):
        invoice = self._create_invoice(post=True)
        self.mapping_set.action_find_unmapped()
        lines = self.mapping_set.mapping_ids
        kinds = {(m.kind, m.res_id) for m in lines}
        self.assertIn(("account", invoice.invoice_line_ids[0].account_id.id), kinds)
        self.assertIn(("journal", invoice.journal_id.id), kinds)
        self.assertIn(("partner", invoice.partner_id.commercial_partner_id.id), kinds)
        self.assertIn(("tax", invoice.invoice_line_ids[0].tax_ids[0].id), kinds)
        self.assertTrue(all(lines.mapped("is_missing")), "draft lines wait for their codes")
        count = len(lines)
        self.mapping_set.action_find_unmapped()
        self.assertEqual(len(self.mapping_set.mapping_ids), count, "running it again adds nothing")


@tagged("post_install", "-at_install")
class TestMoreKinds(FinanceSyncCase):
    def test_analytic_and_payment_method_mappings(self):
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Codes"})
        self.backend.mapping_set_id = mapping_set
        plan = self.env["account.analytic.plan"].create({"name": "Departments"})
        analytic = self.env["account.analytic.account"].create({"name": "Sales dept", "plan_id": plan.id})
        invoice = self._create_invoice(
            post=True,
            invoice_line_ids=[
                self._prepare_invoice_line(price_unit=100.0, analytic_distribution={str(analytic.id): 100})
            ],
        )
        payment = self._register_payment(invoice)
        Mapping = self.env["finance.sync.mapping"]
        Mapping.create(
            [
                {
                    "set_id": mapping_set.id,
                    "kind": "analytic",
                    "analytic_account_id": analytic.id,
                    "external_code": "CC-7",
                },
                {
                    "set_id": mapping_set.id,
                    "kind": "payment_method",
                    "payment_method_line_id": payment.payment_method_line_id.id,
                    "external_code": "SEPA",
                },
            ]
        )
        self.respond(200)
        self.dispatch()
        bodies = {body["type"]: body for _h, body, _r in self.received()}
        line = bodies["invoice.posted"]["lines"][0]
        self.assertEqual(line["analytic_distribution"][0]["accounts"][0]["code"], "CC-7")
        self.assertEqual(bodies["payment.posted"]["document"]["payment_method"]["code"], "SEPA")
