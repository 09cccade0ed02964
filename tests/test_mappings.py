"""Mappings: codes applied per kind, policies, blocking on a missing required mapping and
automatic release when it is added, uniqueness, CSV import, access, payload profiles, preview
and Find unmapped. Every payload is asserted on what the local HTTP receiver got."""

import json

from lxml import etree
from psycopg2.errors import UniqueViolation

from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import file_open, mute_logger

from .. import const
from .common import FinanceSyncCase


class MappingCase(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mapping_set = cls.env["finance.sync.mapping.set"].create({"name": "Warehouse codes"})
        cls.backend.mapping_set_id = cls.mapping_set
        cls.Mapping = cls.env["finance.sync.mapping"]

    def set_policy(self, kind, policy, default=None, mapping_set=None):
        (mapping_set or self.mapping_set).policy_ids.filtered(lambda p: p.kind == kind).write(
            {"policy": policy, "default_code": default}
        )

    def add_mapping(self, kind, record, code, mapping_set=None, **vals):
        column = {  # one Many2one column per kind
            "account": "account_id",
            "tax": "tax_id",
            "journal": "journal_id",
            "partner": "partner_id",
            "currency": "currency_id",
            "analytic": "analytic_account_id",
            "company": "mapped_company_id",
            "payment_method": "payment_method_line_id",
        }[kind]
        return self.Mapping.create(
            {
                "set_id": (mapping_set or self.mapping_set).id,
                "kind": kind,
                column: record.id,
                "external_code": code,
                **vals,
            }
        )

    def sent_payload(self):
        self.respond(200)
        self.dispatch()
        ((_headers, body, _raw),) = self.received()
        return body


@tagged("post_install", "-at_install")
class TestMappings(MappingCase):
    def test_mappings_applied_per_kind(self):
        invoice = self._create_invoice(post=True)
        line = invoice.invoice_line_ids[0]
        self.add_mapping("account", line.account_id, "GL-4000")
        self.add_mapping("tax", line.tax_ids[0], "VAT-STD")
        self.add_mapping("journal", invoice.journal_id, "SALES")
        self.add_mapping("partner", invoice.partner_id, "CUST-9")
        self.add_mapping("currency", invoice.currency_id, "DOLLAR")
        self.add_mapping("company", self.company, "LE-01")
        body = self.sent_payload()
        self.assertEqual(body["lines"][0]["account"]["code"], "GL-4000")
        self.assertEqual(body["lines"][0]["taxes"][0]["code"], "VAT-STD")
        self.assertEqual(body["document"]["journal"]["code"], "SALES")
        self.assertEqual(body["partner"]["code"], "CUST-9")
        self.assertEqual(body["document"]["currency"], "DOLLAR")
        self.assertEqual(body["company"]["code"], "LE-01")
        self.assertEqual(body["lines"][0]["account"]["id"], line.account_id.id, "Odoo's id stays for reference")

    def test_analytic_and_payment_method_mappings(self):
        plan = self.env["account.analytic.plan"].create({"name": "Departments"})
        analytic = self.env["account.analytic.account"].create({"name": "Sales dept", "plan_id": plan.id})
        invoice = self._create_invoice(
            post=True,
            invoice_line_ids=[
                self._prepare_invoice_line(price_unit=100.0, analytic_distribution={str(analytic.id): 100})
            ],
        )
        payment = self._register_payment(invoice)
        self.add_mapping("analytic", analytic, "CC-7")
        self.add_mapping("payment_method", payment.payment_method_line_id, "SEPA")
        self.respond(200)
        self.dispatch()
        bodies = {body["type"]: body for _h, body, _r in self.received()}
        line = bodies["invoice.posted"]["lines"][0]
        self.assertEqual(line["analytic_distribution"][0]["accounts"][0]["code"], "CC-7")
        self.assertEqual(bodies["payment.posted"]["document"]["payment_method"]["code"], "SEPA")

    def test_pass_through_and_default_policies(self):
        self.set_policy("journal", "default", "GENERAL")
        invoice = self._create_invoice(post=True)
        body = self.sent_payload()
        self.assertEqual(body["document"]["journal"]["code"], "GENERAL")
        self.assertEqual(body["lines"][0]["account"]["code"], invoice.invoice_line_ids[0].account_id.code)
        self.assertEqual(body["document"]["currency"], invoice.currency_id.name, "currencies pass through as ISO")

    def test_new_set_starts_with_a_pass_through_policy_per_kind(self):
        kinds = dict(self.Mapping._fields["kind"].selection)
        self.assertEqual({p.kind: p.policy for p in self.mapping_set.policy_ids}, dict.fromkeys(kinds, "pass_through"))

    def test_default_policy_needs_a_default_code(self):
        with self.assertRaises(ValidationError):
            self.set_policy("tax", "default", "")

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
        partner = first.partner_id.commercial_partner_id
        self.assertEqual(exc.category, "missing_mapping")
        self.assertEqual(exc.fingerprint, f"{self.backend.id}|missing_mapping|mapping:partner:{partner.id}")
        self.assertIn(partner.name, exc.name)
        self.assertIn(f"id {partner.id}", exc.message)
        self.assertEqual(exc.job_ids, jobs)
        self.assertIn(partner.name, jobs[0].last_error)

        cron = self.env.ref("finance_sync.ir_cron_dispatch")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.add_mapping("partner", partner, "CUST-1")
        self.assertEqual(set(jobs.mapped("state")), {"pending"}, "released without anyone pressing retry")
        self.assertEqual(exc.state, "resolved", "the exception closes as soon as its mapping exists")
        self.assertGreater(
            self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers, "dispatcher woken"
        )
        self.assertFalse(self.receiver.log, "nothing is sent from the transaction that saves the mapping")
        self.dispatch()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual({body["partner"]["code"] for _h, body, _r in self.received()}, {"CUST-1"})

    def test_two_backends_sharing_a_set_are_both_released(self):
        other = self.create_backend("Treasury", path="/treasury", mapping_set_id=self.mapping_set.id)
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        self.dispatch(other)
        jobs = self.jobs_of(invoice) | self.jobs_of(invoice, other)
        self.assertEqual(set(jobs.mapped("state")), {"blocked"})
        self.assertEqual(len(jobs.exception_ids), 2, "one exception per backend")
        self.add_mapping("partner", invoice.partner_id, "CUST-7")
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(set(jobs.exception_ids.mapped("state")), {"resolved"})

    def test_a_held_document_says_so_apart_from_failures_and_can_be_retried_from_it(self):
        """A document waiting for a missing code reads Held, not Failed; its banner names the
        problem and its buttons open the exception and retry (the document then goes)."""
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        self.assertEqual(invoice.finance_sync_status, "held")
        Move = self.env["account.move"]
        self.assertEqual(Move.search([("id", "=", invoice.id), ("finance_sync_status", "in", ["held"])]), invoice)
        self.assertFalse(Move.search([("id", "=", invoice.id), ("finance_sync_status", "in", ["failed"])]))
        exc = self.jobs_of(invoice).exception_ids
        self.assertEqual(invoice.finance_sync_problem_ids, exc)
        self.assertIn(self.backend.name, invoice.finance_sync_problem)
        action = invoice.action_finance_sync_open_problems()
        self.assertEqual((action["res_model"], action["res_id"]), ("finance.sync.exception", exc.id))
        jobs_action = invoice.action_finance_sync_jobs()
        self.assertFalse(jobs_action["context"], "a document's few jobs are listed flat, not in folded groups")
        self.add_mapping("partner", invoice.partner_id.commercial_partner_id, "CUST-1")
        self.dispatch()
        invoice.invalidate_recordset()
        self.assertEqual((invoice.finance_sync_status, invoice.finance_sync_problem), ("synced", False))
        with self.assertRaises(UserError):
            invoice.action_finance_sync_retry()
        # A failure is retried from the document itself.
        failed = self._create_invoice(post=True)
        self.respond(400, once=True)
        self.dispatch()
        self.assertEqual(failed.finance_sync_status, "failed")
        failed.action_finance_sync_retry()  # sends at once
        failed.invalidate_recordset()
        self.assertEqual(failed.finance_sync_status, "synced")

    def test_without_an_active_backend_documents_show_no_sync_tab_nor_preview(self):
        invoice = self._create_invoice(post=True)
        self.assertTrue(invoice.finance_sync_enabled)
        self.env["finance.sync.backend"].search([]).write({"state": "draft"})
        invoice.invalidate_recordset()
        self.assertFalse(invoice.finance_sync_enabled)
        arch = self.env["account.move"].get_view(self.env.ref("account.view_move_form").id)["arch"]
        self.assertIn("not finance_sync_enabled", arch)

    def test_a_mapping_editor_adds_the_missing_code_from_the_exception(self):
        """The finance user who gets the to-do is not stuck: with the Mapping editor right they
        add the code from the exception itself; a retry before that says what is still missing."""
        editor = self.make_user("fs_map_editor", "finance_sync.finance_sync_group_mapping_editor")
        user = self.make_user("fs_map_user", "finance_sync.finance_sync_group_user")
        self.assertFalse(editor.has_group("finance_sync.finance_sync_group_admin"))
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        exc = self.jobs_of(invoice).exception_ids.with_user(editor)
        notice = exc.action_retry()
        self.assertEqual(notice["params"]["type"], "warning")
        self.assertIn(f"Still missing: {exc.name}", notice["params"]["message"])
        action = exc.action_add_mapping()
        Mapping = self.env["finance.sync.mapping"]
        with self.assertRaises(AccessError):
            Mapping.with_user(user).with_context(**action["context"]).create({"external_code": "CUST-9"})
        Mapping.with_user(editor).with_context(**action["context"]).create({"external_code": "CUST-9"})
        self.dispatch()
        self.assertEqual(self.jobs_of(invoice).state, "done")
        with self.assertRaises(AccessError):
            self.mapping_set.with_user(editor).write({"name": "Renamed"})  # configures nothing else

    def test_job_waits_for_every_missing_mapping(self):
        self.set_policy("partner", "required")
        self.set_policy("journal", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        self.assertEqual(job.state, "blocked")
        self.assertEqual(
            sorted(job.exception_ids.mapped("fingerprint")),
            sorted(
                [
                    f"{self.backend.id}|missing_mapping|mapping:journal:{invoice.journal_id.id}",
                    f"{self.backend.id}|missing_mapping|mapping:partner:{invoice.partner_id.id}",
                ]
            ),
        )
        self.add_mapping("partner", invoice.partner_id, "CUST-3")
        self.assertEqual(job.state, "blocked", "still held by the journal")
        self.add_mapping("journal", invoice.journal_id, "SALES")
        self.assertEqual(job.state, "pending")
        body = self.sent_payload()
        self.assertEqual((body["partner"]["code"], body["document"]["journal"]["code"]), ("CUST-3", "SALES"))
        self.assertEqual(set(job.exception_ids.mapped("state")), {"resolved"})

    def test_draft_line_without_code_does_not_release(self):
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        mapping = self.Mapping.create(
            {"set_id": self.mapping_set.id, "kind": "partner", "partner_id": invoice.partner_id.id}
        )
        self.assertTrue(mapping.is_missing)
        self.assertEqual(self.jobs_of(invoice).state, "blocked")
        mapping.external_code = "CUST-2"
        self.assertEqual(self.jobs_of(invoice).state, "pending")
        self.assertEqual(self.sent_payload()["partner"]["code"], "CUST-2")
        self.assertEqual(self.jobs_of(invoice).state, "done")

    def test_kind_no_longer_required_releases(self):
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        self.assertEqual(job.state, "blocked")
        self.set_policy("partner", "default", "UNKNOWN")
        self.assertEqual((job.state, job.exception_ids.state), ("pending", "resolved"))
        self.assertEqual(self.sent_payload()["partner"]["code"], "UNKNOWN")
        self.assertIn("UNKNOWN", self.mapping_set.message_ids[0].body, "policy changes are in the chatter")

    def test_kind_no_longer_required_releases_only_the_exceptions_of_that_kind(self):
        for kind in ("partner", "journal"):
            self.set_policy(kind, "required")
        job = self.jobs_of(self._create_invoice(post=True))
        self.dispatch()
        by_kind = {exc.mapping_kind: exc for exc in job.exception_ids}
        self.assertEqual(set(by_kind), {"partner", "journal"})
        self.set_policy("partner", "pass_through")
        self.assertEqual((by_kind["partner"].state, by_kind["journal"].state), ("resolved", "new"))
        self.assertEqual(job.state, "blocked", "still held by the journal")
        self.set_policy("journal", "pass_through")
        self.assertEqual((job.state, by_kind["journal"].state), ("pending", "resolved"))

    def test_missing_mapping_exception_names_its_record_in_fields_and_prefills_the_mapping(self):
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        exc = self.jobs_of(invoice).exception_ids
        partner = invoice.partner_id.commercial_partner_id
        self.assertEqual((exc.mapping_kind, exc.mapping_res_id), ("partner", partner.id))
        action = exc.action_add_mapping()
        self.assertEqual(action["res_model"], "finance.sync.mapping")
        context = action["context"]
        self.assertEqual(
            (context["default_set_id"], context["default_kind"], context["default_partner_id"]),
            (self.mapping_set.id, "partner", partner.id),
        )
        mapping = self.Mapping.with_context(context).create({"external_code": "CUST-9"})
        self.assertEqual((mapping.kind, mapping.partner_id), ("partner", partner))
        self.assertEqual(exc.state, "resolved", "the mapping the action prefilled answers the exception")

    def test_only_missing_mapping_exceptions_offer_to_add_a_mapping(self):
        invoice = self._create_invoice(post=True)
        exc = self.env["finance.sync.exception"]._open_or_bump(
            self.backend, "transport", "down", document=invoice, fingerprint_key="k"
        )
        self.assertFalse(exc.mapping_kind)
        with self.assertRaises(UserError):
            exc.action_add_mapping()

    def test_changes_are_tracked_with_old_and_new_code(self):
        mapping = self.add_mapping("partner", self.partner_a, "OLD-1")
        mapping.external_code = "NEW-1"
        message = self.mapping_set.message_ids[0]
        self.assertIn("OLD-1", message.body)
        self.assertIn("NEW-1", message.body)
        self.assertEqual(message.author_id, self.env.user.partner_id, "who")
        self.assertTrue(message.date, "when")

    def test_uniqueness(self):
        self.add_mapping("partner", self.partner_a, "A")
        with self.assertRaises(UniqueViolation), mute_logger("odoo.sql_db"):
            self.add_mapping("partner", self.partner_a, "B")
            self.env.flush_all()

    def test_same_record_in_two_sets(self):
        other_set = self.env["finance.sync.mapping.set"].create({"name": "Other"})
        self.add_mapping("partner", self.partner_a, "A")
        self.add_mapping("partner", self.partner_a, "B", mapping_set=other_set)
        self.env.flush_all()

    def test_mapping_needs_its_record(self):
        with self.assertRaises(ValidationError):
            self.Mapping.create({"set_id": self.mapping_set.id, "kind": "tax", "external_code": "X"})

    # --- one Record column ---------------------------------------------------------------

    def test_the_list_shows_one_record_column_and_the_code(self):
        view = self.env.ref("finance_sync.finance_sync_mapping_view_list")
        arch = etree.fromstring(self.Mapping.get_view(view.id)["arch"])
        columns = [node.get("name") for node in arch.xpath("/list/field[not(@column_invisible)]")]
        self.assertEqual(columns, ["record_ref", "external_code", "label", "set_id", "kind"])
        self.assertTrue(arch.xpath("/list/field[@name='external_code'][@width]"), "wide even while empty")
        self.assertEqual(arch.xpath("/list/field[@name='kind']")[0].get("optional"), "hide", "groups say the kind")

    def test_record_shows_the_record_of_the_lines_kind(self):
        tax = self.company_data["default_tax_sale"]
        journal = self.company_data["default_journal_sale"]
        lines = self.add_mapping("tax", tax, "VAT-S") | self.add_mapping("journal", journal, "SJ")
        self.assertEqual(lines.mapped("record_ref"), [tax, journal])
        draft = self.Mapping.new({"set_id": self.mapping_set.id, "kind": "partner"})
        self.assertFalse(draft.record_ref, "a kind without its record yet")

    def test_a_new_line_has_a_name_and_takes_the_kind_of_its_group(self):
        """A new line (form or list) is named by its kind and code, never "model,NewId"; a line
        added in a group of the list grouped by kind gets that kind (the web client adds
        ``default_kind`` to the group's context and asks onchange for the new line's values)."""
        self.assertEqual(self.Mapping.new({}).display_name, "New mapping")
        draft = self.Mapping.new({"set_id": self.mapping_set.id, "kind": "account", "external_code": "4000"})
        self.assertNotIn("NewId", draft.display_name)
        self.assertEqual(draft.display_name, "Account · 4000")
        in_group = self.Mapping.with_context(default_kind="account", default_set_id=self.mapping_set.id)
        self.assertEqual(in_group.default_get(["kind"]), {"kind": "account"})
        values = in_group.onchange({}, [], {"kind": {}, "record_ref": {}, "display_name": {}})["value"]
        self.assertEqual(values["kind"], "account")
        self.assertNotIn("NewId", values["display_name"])
        account = self.company_data["default_account_revenue"]
        result = in_group.web_save(
            {"record_ref": f"account.account,{account.id}", "external_code": "4000"}, {"display_name": {}}
        )
        line = self.Mapping.browse(result[0]["id"])
        self.assertEqual((line.kind, line.account_id), ("account", account))
        self.assertEqual(result[0]["display_name"], f"Account · {account.display_name} · 4000")

    def test_saving_a_record_stores_its_kind_and_releases_what_it_held(self):
        """The browser saves the Record column as "model,id": the line gets the kind of that model
        and its field, and a document held for that code goes."""
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        self.assertEqual(job.state, "blocked")
        partner = invoice.partner_id.commercial_partner_id
        result = self.Mapping.web_save(
            {"set_id": self.mapping_set.id, "record_ref": f"res.partner,{partner.id}", "external_code": " C-9 "},
            {"kind": {}, "partner_id": {}, "record_ref": {}, "external_code": {}},
        )
        line = self.Mapping.browse(result[0]["id"])
        self.assertEqual((line.kind, line.partner_id, line.external_code), ("partner", partner, "C-9"))
        self.assertEqual(result[0]["record_ref"], f"res.partner,{partner.id}")
        self.assertEqual((job.state, job.exception_ids.state), ("pending", "resolved"))

    def test_changing_the_record_changes_the_kind_and_empties_the_other_field(self):
        line = self.add_mapping("partner", self.partner_a, "P-A")
        account = self.company_data["default_account_revenue"]
        history = [("model", "=", self.mapping_set._name), ("res_id", "=", self.mapping_set.id)]
        messages = self.env["mail.message"].search_count(history)
        line.record_ref = account
        self.assertEqual((line.kind, line.account_id, line.partner_id), ("account", account, self.env["res.partner"]))
        self.assertEqual(line.record_name, account.display_name)
        self.assertEqual(self.env["mail.message"].search_count(history), messages + 1, "one change, told once")
        self.assertIn(self.partner_a.name, self.env["mail.message"].search(history, limit=1).body)
        with self.assertRaises(ValidationError):
            line.record_ref = False  # a line needs its record
        with self.assertRaises(ValueError):
            line.write({"record_ref": f"res.users,{self.env.user.id}"})  # users are not mapped

    def test_csv_import(self):
        account = self.company_data["default_account_revenue"]
        xmlid = account.get_external_id()[account.id]
        self.assertTrue(xmlid, "the chart's accounts have external ids")
        fields = ["set_id", "kind", "account_id/id", "partner_id", "currency_id", "external_code", "label"]
        result = self.Mapping.load(
            fields,
            [
                [self.mapping_set.name, "account", xmlid, "", "", "GL-1", "Revenue"],
                [self.mapping_set.name, "partner", "", self.partner_a.name, "", "CUST-A", ""],
                [self.mapping_set.name, "currency", "", "", "USD", "DOLLAR", ""],
            ],
        )
        self.assertFalse([m for m in result["messages"] if m["type"] == "error"], result["messages"])
        imported = self.Mapping.browse(result["ids"])
        self.assertEqual(
            [(m.kind, m.res_id, m.external_code) for m in imported],
            [
                ("account", account.id, "GL-1"),
                ("partner", self.partner_a.id, "CUST-A"),
                ("currency", self.env.ref("base.USD").id, "DOLLAR"),
            ],
        )
        # A line without its Odoo record is refused with a message, and nothing of it is kept.
        result = self.Mapping.load(fields, [[self.mapping_set.name, "tax", "", "", "", "VAT-X", ""]])
        self.assertTrue([m for m in result["messages"] if m["type"] == "error"])
        self.assertFalse(result["ids"])

    def test_import_wizard_with_a_csv_file(self):
        account = self.company_data["default_account_revenue"]
        csv = (
            "Mapping set,Kind,Account/External ID,External Code,Label\n"
            f"{self.mapping_set.name},Account,{account.get_external_id()[account.id]},GL-7000,Revenue\n"
        ).encode()
        wizard = self.env["base_import.import"].create(
            {"res_model": "finance.sync.mapping", "file": csv, "file_type": "text/csv", "file_name": "codes.csv"}
        )
        options = {"has_headers": True, "quoting": '"', "separator": ",", "encoding": "utf-8"}
        preview = wizard.parse_preview(options)
        self.assertFalse(preview.get("error"), preview)
        result = wizard.execute_import(
            ["set_id", "kind", "account_id/id", "external_code", "label"], preview["headers"], options
        )
        self.assertFalse(result["messages"], result["messages"])
        mapping = self.Mapping.browse(result["ids"])
        self.assertEqual((mapping.account_id, mapping.external_code), (account, "GL-7000"))

    def test_access_per_group(self):
        user = self.make_user("fs_map_user", "finance_sync.finance_sync_group_user")
        admin = self.make_user("fs_map_admin", "finance_sync.finance_sync_group_admin")
        plain = self.make_user("fs_map_plain")
        mapping = self.add_mapping("partner", self.partner_a, "A")
        self.assertEqual(mapping.with_user(user).external_code, "A")
        self.assertEqual(self.mapping_set.with_user(user).policy_ids.mapped("policy")[0], "pass_through")
        with self.assertRaises(AccessError):
            mapping.with_user(user).write({"external_code": "B"})
        with self.assertRaises(AccessError):
            self.Mapping.with_user(user).create(
                {"set_id": self.mapping_set.id, "kind": "partner", "partner_id": self.partner_b.id}
            )
        with self.assertRaises(AccessError):
            self.mapping_set.with_user(user).policy_ids.write({"policy": "required"})
        mapping.with_user(admin).write({"external_code": "B"})
        self.add_mapping("partner", self.partner_b, "C").with_user(admin).unlink()
        self.mapping_set.with_user(admin).policy_ids[:1].write({"policy": "required"})
        self.assertEqual(mapping.external_code, "B")
        for model in ("finance.sync.mapping", "finance.sync.mapping.set", "finance.sync.mapping.policy"):
            with self.assertRaises(AccessError):
                self.env[model].with_user(plain).search([])

    def test_mapping_sets_follow_companies(self):
        other_company = self.setup_other_company()["company"]
        foreign = self.env["finance.sync.mapping.set"].create(
            {"name": "Foreign", "company_ids": [(6, 0, other_company.ids)]}
        )
        self.add_mapping("partner", self.partner_a, "F", mapping_set=foreign)
        user = self.make_user("fs_map_mc", "finance_sync.finance_sync_group_user")
        sets = self.env["finance.sync.mapping.set"].with_user(user).search([])
        self.assertIn(self.mapping_set, sets)
        self.assertNotIn(foreign, sets)
        self.assertFalse(self.Mapping.with_user(user).search([("set_id", "=", foreign.id)]))


@tagged("post_install", "-at_install")
class TestProfileAndPreview(MappingCase):
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
        body = self.sent_payload()
        self.assertNotIn("lines", body)
        self.assertNotIn("reconciliation", body)
        self.assertNotIn("payments", body)
        self.assertEqual(body["partner"]["vat"], "********2701")
        self.assertIsNone(body["partner"]["email"])
        captured = self.Job.search([("backend_id", "=", self.backend.id)], order="id desc", limit=1).payload
        # Personal data is captured as the platform receives it (masked); the blocks it does not
        # take are left out when the event is sent, not when it is captured.
        self.assertEqual(captured["partner"]["vat"], "********2701", "stored as sent, never in full")
        self.assertTrue(captured["lines"])
        self.backend.profile_partner_vat = "omit"
        self._create_invoice(post=True)
        self.receiver.clear()
        body = self.sent_payload()
        self.assertIsNone(body["partner"]["vat"])

    def test_profile_sends_details_when_asked(self):
        self.partner_a.write({"vat": "BE0477472701", "email": "jane@example.com"})
        self.backend.write({"profile_partner_email": "send", "profile_analytic": False})
        self._create_invoice(post=True)
        body = self.sent_payload()
        self.assertEqual((body["partner"]["vat"], body["partner"]["email"]), ("BE0477472701", "jane@example.com"))
        self.assertTrue(body["lines"])
        self.assertNotIn("analytic_distribution", body["lines"][0])

    def test_profile_without_partner_details_still_validates(self):
        self.partner_a.write({"vat": "BE0477472701", "email": "jane@example.com", "ref": "P-A"})
        self.backend.profile_partner_details = False
        invoice = self._create_invoice(post=True)
        body = self.sent_payload()
        self.assertEqual(self.jobs_of(invoice).state, "done", "the schema accepted it")
        self.assertEqual(
            {k: body["partner"][k] for k in ("vat", "email", "country", "ref")},
            dict.fromkeys(("vat", "email", "country", "ref")),
        )
        self.assertEqual(body["partner"]["name"], "partner_a")

    def test_bank_account_masked(self):
        bank = self.env["res.partner.bank"].create(
            {"acc_number": "BE71096123456769", "partner_id": self.company.partner_id.id}
        )
        invoice = self._create_invoice(post=True, partner_bank_id=bank)
        self.assertEqual(invoice.partner_bank_id, bank)
        body = self.sent_payload()
        self.assertEqual(body["document"]["bank_account"], "************6769")
        self.backend.profile_bank_account = "omit"
        self._create_invoice(post=True, partner_bank_id=bank)
        self.receiver.clear()
        self.assertIsNone(self.sent_payload()["document"]["bank_account"])

    def test_fewer_blocks_need_fewer_codes(self):
        self.set_policy("account", "required")
        invoice = self._create_invoice(post=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        self.assertEqual(job.state, "blocked")
        self.backend.profile_lines = False
        self.assertEqual(job.state, "pending", "held jobs are rendered again with the new profile")
        self.sent_payload()
        self.assertEqual(job.state, "done")
        self.assertEqual(set(job.exception_ids.mapped("state")), {"resolved"})

    def open_preview(self, record):
        action = record.action_finance_sync_preview()
        return self.env[action["res_model"]].with_context(**action["context"]).create({})

    def test_preview_equals_what_is_then_sent(self):
        invoice = self._create_invoice(post=True)
        self.add_mapping("journal", invoice.journal_id, "SALES")
        jobs_before = self.Job.search_count([])
        wizard = self.open_preview(invoice)
        self.assertEqual(wizard.backend_id, self.backend)
        self.assertFalse(wizard.missing)
        self.assertFalse(wizard.errors)
        self.assertEqual(json.loads(wizard.body_pretty), json.loads(wizard.body))
        self.assertEqual(json.loads(wizard.body)["document"]["journal"]["code"], "SALES")
        self.assertFalse(self.receiver.log, "a preview sends nothing")
        self.assertEqual(self.Job.search_count([]), jobs_before, "and writes no job")
        self.assertFalse(self.jobs_of(invoice).body)
        self.respond(200)
        self.dispatch()
        ((_h, _body, raw),) = self.received()
        self.assertEqual(wizard.body.encode(), raw, "byte for byte")
        self.assertEqual(self.open_preview(invoice).body.encode(), raw, "after sending: the frozen body")

    def test_preview_of_a_payment(self):
        invoice = self._create_invoice(post=True)
        payment = self._register_payment(invoice)
        self.add_mapping("payment_method", payment.payment_method_line_id, "SEPA")
        wizard = self.open_preview(payment)
        self.assertEqual(json.loads(wizard.body)["document"]["payment_method"]["code"], "SEPA")
        self.respond(200)
        self.dispatch()  # the invoice's event
        self.dispatch()  # then the payment's
        raws = {body["type"]: raw for _h, body, raw in self.received()}
        self.assertEqual(wizard.body.encode(), raws["payment.posted"])

    def test_preview_lists_backends_in_scope(self):
        self.add_mapping("journal", self.company_data["default_journal_sale"], "SALES")
        other = self.create_backend("Treasury", path="/treasury", send_vendor_bills=False)
        draft = self.create_backend("Draft one", path="/draft", state="draft")
        invoice = self._create_invoice(post=True)
        wizard = self.open_preview(invoice)
        self.assertEqual(wizard.scope_backend_ids, self.backend | other)
        self.assertNotIn(draft, wizard.scope_backend_ids)
        wizard.backend_id = other
        self.assertFalse(wizard.out_of_scope)
        self.assertEqual(
            json.loads(wizard.body)["document"]["journal"]["code"],
            invoice.journal_id.code,
            "the other backend has no mapping set: Odoo's own codes",
        )
        bill = self._create_invoice(move_type="in_invoice", post=True)
        wizard = self.env["finance.sync.preview"].create(
            {"backend_id": other.id, "document_ref": f"account.move,{bill.id}"}
        )
        self.assertTrue(wizard.out_of_scope)
        self.assertEqual(wizard.scope_backend_ids, self.backend)
        self.backend.send_vendor_bills = False
        with self.assertRaises(UserError):
            bill.action_finance_sync_preview()

    def test_preview_form_does_not_call_a_backend_in_scope_outside_it(self):
        """As the browser opens it (a new wizard, computed by onchange), the preview of a
        delivered invoice for a backend in scope says nothing of being outside the scope."""
        invoice = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        self.assertEqual(self.jobs_of(invoice).state, "done")
        action = invoice.action_finance_sync_preview()
        form = Form(self.env[action["res_model"]].with_context(**action["context"]))
        self.assertEqual(form.backend_id, self.backend)
        self.assertIn(self.backend, form.scope_backend_ids)
        self.assertFalse(form.out_of_scope)
        bill = self._create_invoice(move_type="in_invoice", post=True)
        self.backend.send_vendor_bills = False
        form.document_ref = bill
        self.assertTrue(form.out_of_scope)

    def test_preview_from_the_backend(self):
        invoice = self._create_invoice(post=True)
        action = self.backend.action_preview_payload()
        wizard = self.env[action["res_model"]].with_context(**action["context"]).create({})
        self.assertEqual(wizard.document_ref, invoice, "the latest document in scope, to change at will")
        self.assertTrue(wizard.body)

    def test_preview_flags_missing_mappings(self):
        self.set_policy("account", "required")
        invoice = self._create_invoice(post=True)
        wizard = self.env["finance.sync.preview"].create(
            {"backend_id": self.backend.id, "document_ref": f"account.move,{invoice.id}"}
        )
        account = invoice.invoice_line_ids[0].account_id
        self.assertIn(f"Account: {account.display_name} (id {account.id})", wizard.missing)
        self.assertEqual(self.jobs_of(invoice).state, "pending", "previewing does not block anything")
        self.assertFalse(self.jobs_of(invoice).exception_ids)

    def test_preview_available_to_users(self):
        invoice = self._create_invoice(post=True)
        user = self.make_user("fs_map_preview", "finance_sync.finance_sync_group_user")
        action = invoice.with_user(user).action_finance_sync_preview()
        wizard = self.env[action["res_model"]].with_user(user).with_context(**action["context"]).create({})
        self.assertTrue(wizard.body)

    def test_preview_reveals_nothing_of_another_company(self):
        """A Finance Sync user of another company cannot preview this company's documents nor
        learn of its backends by naming them in a preview."""
        invoice = self._create_invoice(post=True)
        other_company = self.setup_other_company()["company"]
        outsider = self.make_user("fs_map_outsider", "finance_sync.finance_sync_group_user", companies=other_company)
        Preview = self.env["finance.sync.preview"].with_user(outsider)
        self.assertTrue(self.jobs_of(invoice), "a pending job holds the payload the preview would show")
        with self.assertRaises(AccessError):
            Preview.create({"backend_id": self.backend.id, "document_ref": f"account.move,{invoice.id}"}).read(
                ["body", "backend_id"]
            )


@tagged("post_install", "-at_install")
class TestFindUnmapped(MappingCase):
    def test_find_unmapped_creates_draft_lines(self):
        plan = self.env["account.analytic.plan"].create({"name": "Departments"})
        analytic = self.env["account.analytic.account"].create({"name": "Sales dept", "plan_id": plan.id})
        invoice = self._create_invoice(post=True)
        self._create_invoice(
            post=True,
            invoice_line_ids=[
                self._prepare_invoice_line(price_unit=10.0, analytic_distribution={str(analytic.id): 100})
            ],
        )
        payment = self._register_payment(invoice)
        self.add_mapping("partner", invoice.partner_id, "CUST-A")
        notice = self.mapping_set.action_find_unmapped()
        action = notice["params"]["next"]
        self.assertEqual(action["res_model"], "finance.sync.mapping")
        drafts = self.mapping_set.mapping_ids.filtered("is_missing")
        self.assertIn(f"New lines to complete: {len(drafts)}.", notice["params"]["message"], "it says how many")
        kinds = {(m.kind, m.res_id) for m in drafts}
        line = invoice.invoice_line_ids[0]
        expected = {
            ("account", line.account_id.id),
            ("tax", line.tax_ids[0].id),
            ("journal", invoice.journal_id.id),
            ("journal", payment.journal_id.id),
            ("currency", invoice.currency_id.id),
            ("company", self.company.id),
            ("analytic", analytic.id),
            ("payment_method", payment.payment_method_line_id.id),
        }
        self.assertLessEqual(expected, kinds)
        self.assertNotIn(("partner", invoice.partner_id.id), kinds, "mapped already")
        self.assertFalse(any(drafts.mapped("external_code")), "draft lines wait for their codes")
        count = len(self.mapping_set.mapping_ids)
        self.mapping_set.action_find_unmapped()
        self.assertEqual(len(self.mapping_set.mapping_ids), count, "running it again adds nothing")

    def test_find_unmapped_respects_the_backends_scope(self):
        self.backend.send_vendor_bills = False
        bill = self._create_invoice(move_type="in_invoice", post=True, partner_id=self.partner_b.id)
        self.assertFalse(self.jobs_of(bill), "vendor bills are not sent to this backend")
        self.mapping_set.action_find_unmapped()
        self.assertNotIn(("partner", self.partner_b.id), {(m.kind, m.res_id) for m in self.mapping_set.mapping_ids})
        self.backend.send_vendor_bills = True
        self.mapping_set.action_find_unmapped()
        self.assertIn(("partner", self.partner_b.id), {(m.kind, m.res_id) for m in self.mapping_set.mapping_ids})

    def test_find_unmapped_queries_do_not_grow_with_documents(self):
        self._create_invoice(post=True)
        queries = self._count_used_records_queries()
        for _i in range(10):
            self._create_invoice(post=True)
        self.assertEqual(self._count_used_records_queries(), queries)

    def _count_used_records_queries(self):
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        self.mapping_set._get_used_records()
        return self.env.cr.sql_log_count - before

    def test_importing_codes_completes_the_lines_find_unmapped_drafted(self):
        """The usual flow: Find unmapped drafts the lines, the platform's codes come back in a
        spreadsheet; importing them fills the drafts in (it used to fail on 'mapped already')."""
        invoice = self._create_invoice(post=True)
        self.mapping_set.action_find_unmapped()
        partner = invoice.partner_id.commercial_partner_id
        draft = self.mapping_set.mapping_ids.filtered(lambda m: m.kind == "partner" and m.res_id == partner.id)
        self.assertTrue(draft.is_missing)
        before = len(self.mapping_set.mapping_ids)
        result = self.env["finance.sync.mapping"].load(
            ["set_id/.id", "kind", "partner_id/.id", "external_code", "label"],
            [[str(self.mapping_set.id), "partner", str(partner.id), "CUST-77", "From the platform"]],
        )
        self.assertFalse(result["messages"], result["messages"])
        self.assertEqual(result["ids"], draft.ids, "the draft itself was completed")
        self.assertEqual((draft.external_code, draft.label, draft.is_missing), ("CUST-77", "From the platform", False))
        self.assertEqual(len(self.mapping_set.mapping_ids), before)
        # A line that has its code already is not overwritten by a new one.
        with self.assertRaises(UniqueViolation), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            self.env["finance.sync.mapping"].create(
                {"set_id": self.mapping_set.id, "kind": "partner", "partner_id": partner.id, "external_code": "X"}
            )
            self.env.flush_all()

    def test_the_import_template_is_offered_and_shipped(self):
        (template,) = self.env["finance.sync.mapping"].get_import_templates()
        path = template["template"].removeprefix("/finance_sync/")
        with file_open(f"finance_sync/{path}") as handle:
            header = handle.readline()
        self.assertIn("External code", header)
        form = self.env.ref("finance_sync.finance_sync_mapping_view_form")
        arch = self.env["finance.sync.mapping"].get_view(form.id)["arch"]
        self.assertRegex(arch, r'name="external_code"[^>]*default_focus="1"', "Add mapping types the code first")


@tagged("post_install", "-at_install")
class TestMissingMappingReachesSomeoneWhoCanAdd(MappingCase):
    """A plain Finance Sync user may be a backend's responsible, but may not add a mapping: the
    to-do of a missing mapping goes to someone who may, and the plain user is told whom to ask, by
    name."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.plain = cls.make_user("fs_route_plain", "finance_sync.finance_sync_group_user")
        cls.editor = cls.make_user("fs_route_editor", "finance_sync.finance_sync_group_mapping_editor")
        cls.admin = cls.make_user("fs_route_admin", "finance_sync.finance_sync_group_admin")
        cls.backend.user_id = cls.plain

    def held_invoice(self, price_unit):
        self.set_policy("partner", "required")
        invoice = self._create_invoice(post=True, invoice_line_ids=[self._prepare_invoice_line(price_unit=price_unit)])
        self.dispatch()
        exc = self.jobs_of(invoice).exception_ids
        self.assertEqual(exc.category, "missing_mapping")
        return exc

    def test_the_to_do_goes_to_an_administrator_the_plain_responsible_is_told_whom_to_ask(self):
        exc = self.held_invoice(12.10)
        self.assertNotEqual(exc.user_id, self.plain, "the responsible may not add the code")
        self.assertTrue(exc.user_id.has_group("finance_sync.finance_sync_group_admin"), exc.user_id.name)
        self.assertEqual(exc.activity_ids.user_id, exc.user_id, "the to-do is for the one who can act")
        self.assertTrue(exc.with_user(exc.user_id).action_add_mapping(), "and who can act indeed")
        fix = exc.with_user(self.plain).suggested_fix
        self.assertIn(f"Ask {exc.user_id.name} to add the platform's code", fix)
        self.assertNotIn("mapping editor or administrator", fix, "a person is named")

    def test_the_default_responsible_of_settings_gets_it_when_they_may_add_it(self):
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_DEFAULT_USER, str(self.editor.id))
        exc = self.held_invoice(0.07)
        self.assertEqual((exc.user_id, exc.activity_ids.user_id), (self.editor, self.editor))
        self.assertIn(f"Ask {self.editor.name} to add", exc.with_user(self.plain).suggested_fix)

    def test_a_responsible_who_may_add_it_keeps_it(self):
        self.backend.user_id = self.editor
        exc = self.held_invoice(1234.57)
        self.assertEqual((exc.user_id, exc.activity_ids.user_id), (self.editor, self.editor))
