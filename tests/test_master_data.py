"""Master data: partners travel before their documents, only real changes are sent, merges and
archives are told, and a held partner event holds its documents visibly."""

import json

from werkzeug import Response

from odoo import fields
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import FinanceSyncCase
from .test_install import load_migration


@tagged("post_install", "-at_install")
class TestMasterData(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write({"send_master_data": True, "profile_partner_email": "send"})
        cls.customer = cls.env["res.partner"].create(
            {"name": "Master Customer", "email": "ap@master.example", "ref": "MC-1", "customer_rank": 1}
        )

    def setUp(self):
        super().setUp()
        self.commit_hooks()  # nothing of the class setup is left for this test's "commit"

    # --- helpers ---------------------------------------------------------------------------

    def partner_jobs(self, partner, event_type="partner.upserted"):
        return self.Job.search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("backend_id", "=", self.backend.id),
                ("event_type", "=", event_type),
            ],
            order="sequence",
        )

    def post_invoice(self, partner=None, amount=100.0):
        return self.init_invoice("out_invoice", partner=partner or self.customer, amounts=[amount], post=True)

    def answer_by_type(self, statuses):
        """Answer each event with the status given for its type (200 otherwise)."""

        def handler(request):
            kind = json.loads(request.get_data())["type"]
            status = statuses.get(kind, 200)
            return Response(json.dumps({"ok": status < 300}), status=status, content_type="application/json")

        self.receiver.expect_request("/hook", method="POST").respond_with_handler(handler)

    # --- dependencies ------------------------------------------------------------------------

    def test_the_partner_travels_before_its_first_document(self):
        invoice = self.post_invoice()
        partner_job = self.partner_jobs(self.customer)
        self.assertEqual(len(partner_job), 1, "the backend never had the partner: it is captured with the invoice")
        doc_job = self.jobs_of(invoice)
        self.assertEqual(doc_job.depends_on_partner_id, self.customer)
        self.assertEqual(doc_job.depends_on_partner, self.customer.id)
        self.assertEqual(self.Job.search([("depends_on_partner_id", "ilike", "Master Cust")]), doc_job)
        self.assertEqual(self.Job.search([("depends_on_partner_id", "in", self.customer.ids)]), doc_job)
        self.assertLess(partner_job.id, doc_job.id)
        self.assertEqual(partner_job.payload["partner"]["name"], "Master Customer")
        self.assertEqual(partner_job.payload["partner"]["customer_rank"], self.customer.customer_rank)

        self.respond(200)
        self.dispatch()
        types = [body["type"] for _h, body, _raw in self.received()]
        self.assertEqual(types, ["partner.upserted", "invoice.posted"])
        self.assertEqual((partner_job | doc_job).mapped("state"), ["done", "done"])

        # The second invoice of a partner the platform knows needs no new partner event.
        self.post_invoice()
        self.commit_hooks()
        self.assertEqual(len(self.partner_jobs(self.customer)), 1)

    def test_a_payment_s_partner_travels_first_too(self):
        supplier = self.env["res.partner"].create({"name": "Master Supplier", "supplier_rank": 1})
        payment = self.env["account.payment"].create(
            {
                "payment_type": "outbound",
                "partner_type": "supplier",
                "partner_id": supplier.id,
                "amount": 75.0,
                "journal_id": self.company_data["default_journal_bank"].id,
            }
        )
        payment.action_post()
        self.assertEqual(self.jobs_of(payment).depends_on_partner_id, supplier)
        self.respond(200)
        self.dispatch()
        types = [
            body["type"] for _h, body, _raw in self.received() if (body.get("partner") or {}).get("id") == supplier.id
        ]
        self.assertEqual(types, ["partner.upserted", "payment.posted"])

    def test_a_backend_without_master_data_gets_no_partner_and_no_dependency(self):
        other = self.create_backend("Documents only", path="/docs")
        invoice = self.post_invoice()
        self.assertFalse(self.jobs_of(invoice, other).depends_on_partner_id)
        self.assertFalse(
            self.Job.search([("backend_id", "=", other.id), ("res_model", "=", "res.partner")]),
            "no partner event for a backend without the master data scope",
        )

    def test_the_warehouse_takes_no_master_data(self):
        Backend = self.env["finance.sync.backend"]
        vals = {
            "name": "Warehouse for master data",
            "transport": "warehouse",
            "warehouse_host": "127.0.0.1",
            "warehouse_database": "fs_wh_master_data",
            "warehouse_user": "fs_wh_master_data",
            "warehouse_schema": "finance",
            "company_ids": [(6, 0, self.company.ids)],
        }
        refusal = "master data goes to webhook platforms"
        with self.assertRaises(ValidationError) as caught:
            Backend.create({**vals, "send_master_data": True})
        self.assertIn(refusal, str(caught.exception))
        self.assertFalse(Backend.search([("name", "=", vals["name"])]), "nothing was created")
        warehouse = Backend.create(vals)
        with self.assertRaises(ValidationError) as caught:
            warehouse.write({"send_master_data": True})
        self.assertIn(refusal, str(caught.exception))
        self.assertFalse(warehouse.send_master_data)
        with self.assertRaises(ValidationError) as caught:
            self.backend.write({"send_master_data": True, **vals})
        self.assertIn(refusal, str(caught.exception))
        self.assertEqual(self.backend.transport, "webhook")

    def test_the_document_waits_while_its_partner_event_is_open(self):
        invoice = self.post_invoice()
        partner_job, doc_job = self.partner_jobs(self.customer), self.jobs_of(invoice)
        self.respond(503)
        self.dispatch()
        self.assertEqual(partner_job.state, "pending")
        self.assertEqual(partner_job.attempt_count, 1)
        self.assertEqual(doc_job.attempt_count, 0, "the document is not sent while its partner is not delivered")
        self.assertEqual([body["type"] for _h, body, _raw in self.received()], ["partner.upserted"])

    def test_a_failed_partner_event_holds_the_document_with_the_reason(self):
        invoice = self.post_invoice()
        partner_job, doc_job = self.partner_jobs(self.customer), self.jobs_of(invoice)
        self.answer_by_type({"partner.upserted": 422})
        self.dispatch()
        self.assertEqual(partner_job.state, "failed")
        self.assertEqual(doc_job.state, "blocked")
        self.assertEqual(doc_job.last_error_code, "waiting_for_partner")
        self.assertIn("Master Customer", doc_job.last_error)
        problem = doc_job.exception_ids.filtered(lambda e: e.category == "dependency")
        self.assertEqual(problem.move_id, invoice)
        self.assertEqual(problem.job_ids, partner_job | doc_job, "retrying the problem retries the chain")
        self.assertEqual(invoice.finance_sync_status, "held")
        self.assertIn("Master Customer", invoice.finance_sync_problem)

        # A document posted while the partner's event is failed is held at once.
        later = self.post_invoice()
        self.assertEqual(self.jobs_of(later).state, "blocked")

        self.receiver.clear()
        self.respond(200)
        problem.action_retry()
        self.dispatch()
        self.assertEqual(partner_job.state, "done")
        self.assertEqual(doc_job.state, "done")
        self.assertEqual(self.jobs_of(later).state, "done", "delivering the partner releases the held documents")
        types = [body["type"] for _h, body, _raw in self.received() if body["type"] != "partner.exposure"]
        self.assertEqual(types[0], "partner.upserted")
        self.assertEqual(sorted(types[1:]), ["invoice.posted", "invoice.posted"])
        self.assertEqual(problem.state, "resolved")

    def test_a_partner_event_leased_by_a_dead_worker_holds_the_document(self):
        invoice = self.post_invoice()
        partner_job, doc_job = self.partner_jobs(self.customer), self.jobs_of(invoice)
        # A worker claimed the partner's event, then died: its lease runs for a while yet.
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET lease_until = now() AT TIME ZONE 'UTC' + interval '1 hour' WHERE id = %s",
            [partner_job.id],
        )
        self.Job.invalidate_model()
        self.respond(200)
        self.dispatch()
        self.assertEqual(self.received(), [], "neither the leased partner event nor the document behind it")
        self.assertEqual((partner_job | doc_job).mapped("state"), ["pending", "pending"])
        # The lease expires: the partner's event is sent again, then the document.
        self.env.cr.execute(
            "UPDATE finance_sync_job SET lease_until = now() AT TIME ZONE 'UTC' - interval '1 minute' WHERE id = %s",
            [partner_job.id],
        )
        self.Job.invalidate_model()
        self.dispatch()
        types = [body["type"] for _h, body, _raw in self.received() if body["type"] != "partner.exposure"]
        self.assertEqual(types, ["partner.upserted", "invoice.posted"])

    def test_a_document_held_while_its_partner_was_being_delivered_is_released(self):
        invoice = self.post_invoice()
        partner_job, doc_job = self.partner_jobs(self.customer), self.jobs_of(invoice)
        self.answer_by_type({"partner.upserted": 422})
        self.dispatch()
        self.assertEqual(doc_job.state, "blocked")
        # Another transaction delivered the partner meanwhile, without seeing this document's job
        # (captured concurrently): the job is still held although nothing holds it any more.
        partner_job._mark_done(200, 2)
        self.env.cr.execute(
            "UPDATE finance_sync_job SET state = 'blocked', last_error_code = 'waiting_for_partner' WHERE id = %s",
            [doc_job.id],
        )
        self.Job.invalidate_model()
        self.receiver.clear()
        self.respond(200)
        self.dispatch()
        self.assertEqual(doc_job.state, "done", "the dispatcher releases holds nothing justifies any more")
        sent = [body["type"] for _h, body, _raw in self.received() if body["type"] != "partner.exposure"]
        self.assertEqual(sent, ["invoice.posted"])

    def test_cancelling_the_partner_event_releases_its_documents(self):
        invoice = self.post_invoice()
        partner_job, doc_job = self.partner_jobs(self.customer), self.jobs_of(invoice)
        self.answer_by_type({"partner.upserted": 422})
        self.dispatch()
        self.assertEqual(doc_job.state, "blocked")
        partner_job._cancel("The platform has this customer under another name")
        self.assertEqual(doc_job.state, "pending")
        self.receiver.clear()
        self.respond(200)
        self.dispatch()
        self.assertEqual(doc_job.state, "done")

    def test_upgrade_keeps_what_captured_events_wait_for_without_the_link(self):
        """Before 19.0.1.3.0 the partner an event waits for was a link (a foreign key, which Odoo's
        merge re-points): the upgrade keeps the values as plain ids and drops the link."""
        invoice = self.post_invoice()
        doc_job = self.jobs_of(invoice)
        self.env.flush_all()
        cr = self.env.cr
        # The table as an earlier version left it (undone with the test's transaction).
        cr.execute("ALTER TABLE finance_sync_job RENAME COLUMN depends_on_partner TO depends_on_partner_id")
        cr.execute(
            "ALTER TABLE finance_sync_job ADD CONSTRAINT finance_sync_job_depends_on_partner_id_fkey "
            "FOREIGN KEY (depends_on_partner_id) REFERENCES res_partner(id) ON DELETE SET NULL"
        )
        cr.execute("DROP INDEX finance_sync_job__depends_on_partner_index")
        cr.execute(
            "CREATE INDEX finance_sync_job__depends_on_partner_id_index ON finance_sync_job (depends_on_partner_id) "
            "WHERE depends_on_partner_id IS NOT NULL"
        )
        load_migration("19.0.1.3.0", "pre").migrate(cr, "19.0.1.2.0")
        cr.execute("SELECT depends_on_partner FROM finance_sync_job WHERE id = %s", [doc_job.id])
        self.assertEqual(cr.fetchone()[0], self.customer.id)
        cr.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'finance_sync_job'::regclass AND contype = 'f' "
            "AND conname LIKE %s",
            ["%depends_on%"],
        )
        self.assertEqual(cr.fetchall(), [], "no link a merge would re-point")
        cr.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE %s", ["%depends_on_partner_id%"])
        self.assertEqual(cr.fetchall(), [])

    # --- change detection ---------------------------------------------------------------------

    def _known_customer(self):
        """The customer, after the backend received it with a first invoice."""
        self.post_invoice()
        self.commit_hooks()
        self.assertEqual(len(self.partner_jobs(self.customer)), 1)
        return self.partner_jobs(self.customer)

    def test_writes_that_change_nothing_send_nothing(self):
        first = self._known_customer()
        self.customer.write({"name": "Master Customer", "email": "ap@master.example"})
        self.customer.write({"comment": "<p>Prefers e-mail</p>"})  # not master data
        self.commit_hooks()
        self.assertEqual(self.partner_jobs(self.customer), first)

    def test_several_writes_in_one_transaction_make_one_event(self):
        first = self._known_customer()
        self.customer.write({"name": "Master Customer Ltd"})
        self.customer.write({"phone": "+32 2 555 01 01"})
        self.customer.write({"city": "Brussels"})
        self.commit_hooks()
        jobs = self.partner_jobs(self.customer)
        self.assertEqual(len(jobs), 2)
        last = jobs - first
        self.assertGreater(last.sequence, first.sequence, "per-partner sequence, like documents")
        block = last.payload["partner"]
        self.assertEqual(
            (block["name"], block["phone"], block["addresses"][0]["city"]),
            ("Master Customer Ltd", "+32 2 555 01 01", "Brussels"),
        )

    def test_writes_on_both_sides_of_a_savepoint_make_one_event(self):
        """Odoo runs the pre-commit hooks at every flushing savepoint: the event captured at the
        first one is not committed yet, so the second comparison gives it the latest values
        instead of capturing another event."""
        first = self._known_customer()
        self.customer.write({"name": "Before the savepoint"})
        with self.env.cr.savepoint():
            self.customer.write({"city": "Ghent"})
        self.customer.write({"phone": "+32 9 555 02 02"})
        self.commit_hooks()
        jobs = self.partner_jobs(self.customer)
        self.assertEqual(len(jobs), 2, "one event for the transaction, beside the one sent before")
        block = (jobs - first).payload["partner"]
        self.assertEqual(
            (block["name"], block["phone"], block["addresses"][0]["city"]),
            ("Before the savepoint", "+32 9 555 02 02", "Ghent"),
        )

    def test_a_change_undone_in_the_same_transaction_sends_nothing(self):
        first = self._known_customer()
        self.customer.write({"name": "Renamed"})
        self.customer.write({"name": "Master Customer"})
        self.commit_hooks()
        self.assertEqual(self.partner_jobs(self.customer), first)

    def test_bank_accounts_are_master_data_and_masked_per_profile(self):
        first = self._known_customer()
        self.env["res.partner.bank"].create({"partner_id": self.customer.id, "acc_number": "BE71096123456769"})
        self.commit_hooks()
        last = self.partner_jobs(self.customer) - first
        self.assertEqual(len(last), 1)
        # The outbox row keeps what the platform receives: the number masked by the default profile.
        self.assertEqual(last.payload["partner"]["bank_accounts"][0]["number"], "************6769")
        body, _missing, errors = last._preview(self.backend)
        self.assertEqual(errors, [])
        sent = json.loads(body)["partner"]
        self.assertEqual(sent["bank_accounts"][0]["number"], "************6769", "masked by the default profile")
        self.assertEqual(sent["email"], "ap@master.example")

    def test_a_partner_outside_customers_and_suppliers_is_not_sent(self):
        contact = self.env["res.partner"].create({"name": "Just a contact"})
        self.commit_hooks()
        contact.write({"name": "Still just a contact"})
        self.commit_hooks()
        self.assertFalse(self.partner_jobs(contact))

    # --- archive and merge ---------------------------------------------------------------------

    def test_archiving_sends_the_partner_inactive(self):
        first = self._known_customer()
        self.customer.action_archive()
        self.commit_hooks()
        last = self.partner_jobs(self.customer) - first
        self.assertEqual(len(last), 1)
        self.assertIs(last.payload["partner"]["active"], False)
        self.respond(200)
        self.dispatch()
        bodies = [body for _h, body, _raw in self.received() if body["type"] == "partner.upserted"]
        self.assertIs(bodies[-1]["partner"]["active"], False)

    def test_merging_tells_the_platform_which_partner_survives(self):
        self._known_customer()
        duplicate = self.customer
        survivor = self.env["res.partner"].create({"name": "Master Customer (main)", "customer_rank": 1})
        self.commit_hooks()
        self.env["base.partner.merge.automatic.wizard"]._merge(
            (duplicate | survivor).ids, dst_partner=survivor, extra_checks=False
        )
        self.commit_hooks()
        self.assertFalse(duplicate.exists())
        merged = self.partner_jobs(duplicate, "partner.merged")
        self.assertEqual(len(merged), 1)
        self.assertEqual(merged.payload["partner"]["id"], duplicate.id)
        self.assertEqual(merged.payload["merged_into"]["id"], survivor.id)
        self.assertEqual(merged.depends_on_partner_id, survivor)
        survivor_job = self.partner_jobs(survivor)
        self.assertTrue(survivor_job, "the surviving partner is sent before the merge")
        self.assertLess(survivor_job[0].id, merged.id)

        self.respond(200)
        self.dispatch()
        types = [body["type"] for _h, body, _raw in self.received()]
        self.assertLess(types.index("partner.upserted", 1), types.index("partner.merged"))
        self.assertEqual(merged.state, "done")

    # --- invoice and delivery addresses ---------------------------------------------------------

    def addresses_sent(self):
        """The addresses of the last partner.upserted captured for the customer."""
        addresses = self.partner_jobs(self.customer)[-1:].payload["partner"]["addresses"]
        return [(a["type"], a["name"], a["street"]) for a in addresses]

    def addresses_in_odoo(self):
        """Oracle: the customer's active invoice and delivery contacts, read from Odoo."""
        children = self.env["res.partner"].search(
            [("parent_id", "=", self.customer.id), ("type", "in", ("invoice", "delivery"))], order="id"
        )
        return [("main", self.customer.name, self.customer.street or None)] + [
            (c.type, c.name, c.street or None) for c in children
        ]

    def assert_one_more_event(self, count, why):
        self.commit_hooks()
        self.assertEqual(len(self.partner_jobs(self.customer)), count, why)
        self.assertEqual(self.addresses_sent(), self.addresses_in_odoo(), why)

    def test_every_change_of_an_invoice_or_delivery_address_is_sent_with_its_company(self):
        self._known_customer()
        Partner = self.env["res.partner"]
        billing = Partner.create(
            {"name": "Billing dept", "type": "invoice", "parent_id": self.customer.id, "street": "Rue 1"}
        )
        self.assert_one_more_event(2, "a new invoice address")
        self.customer.write({"child_ids": [(0, 0, {"name": "Dock 4", "type": "delivery", "street": "Quai 4"})]})
        self.assert_one_more_event(3, "a delivery address added on the company's form")
        Partner.with_context(default_parent_id=self.customer.id, default_type="delivery").name_create("Depot")
        self.assert_one_more_event(4, "a delivery address created from a document's address field")
        moved = Partner.create({"name": "Warehouse West", "street": "Westlaan 9"})
        self.commit_hooks()
        moved.write({"parent_id": self.customer.id, "type": "delivery"})
        self.assert_one_more_event(5, "an existing contact becoming one of its delivery addresses")
        billing.write({"street": "Rue 2"})
        self.assert_one_more_event(6, "an address changed")
        billing.action_archive()
        self.assert_one_more_event(7, "an address archived")
        moved.unlink()
        self.assert_one_more_event(8, "an address deleted")
        Partner.create({"name": "Jane Buyer", "type": "contact", "parent_id": self.customer.id})
        self.commit_hooks()
        self.assertEqual(len(self.partner_jobs(self.customer)), 8, "a person is not an address")

        self.respond(200)
        self.dispatch()
        sent = [body for _h, body, _raw in self.received() if body["type"] == "partner.upserted"]
        self.assertEqual([body["sequence"] for body in sent], list(range(1, 9)))
        self.assertEqual(
            [(a["type"], a["name"], a["street"]) for a in sent[-1]["partner"]["addresses"]], self.addresses_in_odoo()
        )

    def test_an_address_of_a_partner_the_platform_knows_is_sent_whatever_its_ranks(self):
        contact = self.env["res.partner"].create({"name": "Known without ranks"})
        contact._finance_sync_capture_master({contact.id: self.backend}, only_changed=False)
        self.commit_hooks()
        self.assertFalse(contact.customer_rank or contact.supplier_rank)
        self.env["res.partner"].create({"name": "Its depot", "type": "delivery", "parent_id": contact.id})
        self.commit_hooks()
        jobs = self.partner_jobs(contact)
        self.assertEqual(len(jobs), 2, "the platform knows this partner: it hears of its new address")
        self.assertEqual(jobs[-1].payload["partner"]["addresses"][1]["name"], "Its depot")

    # --- what is not master data --------------------------------------------------------------

    def test_odoo_s_ranking_counters_and_technical_fields_send_nothing(self):
        first = self._known_customer()
        invoice = self.post_invoice(amount=115.07)
        self.env["account.payment.register"].with_context(active_model="account.move", active_ids=invoice.ids).create(
            {"journal_id": self.company_data["default_journal_bank"].id, "amount": 49.93}
        )._create_payments()
        # What Odoo does after each posted invoice and payment commits (account's _increase_rank):
        # a separate transaction adds them to the counters.
        self.commit_hooks()
        self.customer.sudo().customer_rank += 2
        self.commit_hooks()
        self.customer.sudo().write(
            {"autopost_bills": "always", "invoice_edi_format": False, "comment": "<p>Pays late</p>"}
        )
        self.customer.message_subscribe(partner_ids=self.env.user.partner_id.ids)
        self.commit_hooks()
        self.assertEqual(self.partner_jobs(self.customer), first, "no partner event for counters or technical fields")

        # Becoming a supplier too is news (the role, not the count).
        self.customer.sudo().supplier_rank += 1
        self.commit_hooks()
        last = self.partner_jobs(self.customer) - first
        self.assertEqual(len(last), 1)
        self.assertEqual(last.payload["partner"]["supplier_rank"], 1)

    def test_the_survivor_of_a_merge_is_sent_before_the_merge(self):
        self.backend.max_concurrent = 1
        self._known_customer()
        duplicate = self.customer
        duplicate.write({"phone": "+32 2 555 07 07"})  # the survivor has none: the merge gives it this one
        survivor = self.env["res.partner"].create(
            {"name": "Master Customer (main)", "email": duplicate.email, "customer_rank": 1}
        )
        self.post_invoice(partner=survivor)
        self.commit_hooks()
        self.respond(200)
        self.dispatch()  # the platform knows both, as they are before the merge
        self.receiver.clear()
        self.respond(200)
        wizard = self.env["base.partner.merge.automatic.wizard"].create(
            {"partner_ids": [(6, 0, (duplicate | survivor).ids)], "dst_partner_id": survivor.id}
        )
        wizard.action_merge()
        self.commit_hooks()
        self.assertEqual(survivor.phone, "+32 2 555 07 07", "Odoo's merge completed the survivor")
        self.dispatch()
        sent = [
            (body["type"], body["partner"]["id"], body["partner"].get("phone"))
            for _h, body, _raw in self.received()
            if body["type"] != "partner.exposure"
        ]
        self.assertIn(("partner.upserted", survivor.id, "+32 2 555 07 07"), sent)
        self.assertEqual(sent[-1][:2], ("partner.merged", duplicate.id), "nothing of the survivor after the merge")
        self.assertLess(sent.index(("partner.upserted", survivor.id, "+32 2 555 07 07")), len(sent) - 1)

    # --- merges keep each partner's documents behind it -------------------------------------------

    def _held_behind_a_merged_partner(self, partner_status):
        """A new customer's invoice waits for the customer's event, which the platform answers
        ``partner_status``; then the customer is merged into a known one with Odoo's wizard.
        Returns (the merged customer's event, the invoice's event, the survivor)."""
        self.backend.max_concurrent = 1
        survivor = self.customer
        self._known_customer()
        self.respond(200)
        self.dispatch()
        newcomer = self.env["res.partner"].create(
            {"name": "Newcomer", "email": survivor.email, "customer_rank": 1, "ref": "NEW-1"}
        )
        invoice = self.post_invoice(partner=newcomer, amount=115.07)
        self.commit_hooks()
        partner_job, doc_job = self.partner_jobs(newcomer), self.jobs_of(invoice)
        self.assertEqual(doc_job.depends_on_partner, newcomer.id)
        self.receiver.clear()
        self.answer_by_type({"partner.upserted": partner_status})
        self.dispatch()
        self.assertEqual(partner_job.attempt_count, 1)
        self.assertEqual(doc_job.attempt_count, 0)
        wizard = self.env["base.partner.merge.automatic.wizard"].create(
            {"partner_ids": [(6, 0, (newcomer | survivor).ids)], "dst_partner_id": survivor.id}
        )
        wizard.action_merge()
        self.commit_hooks()
        self.assertFalse(newcomer.exists())
        self.assertEqual(invoice.partner_id, survivor, "Odoo's merge moved the invoice to the survivor")
        self.assertEqual(doc_job.depends_on_partner, partner_job.res_id, "its event still waits for the newcomer")
        self.receiver.clear()
        self.respond(200)
        return partner_job, doc_job, survivor

    def test_a_merge_does_not_let_a_document_overtake_its_partner(self):
        partner_job, doc_job, _survivor = self._held_behind_a_merged_partner(503)
        self.assertEqual(partner_job.state, "pending", "to be retried later")
        self.dispatch()
        self.assertEqual(doc_job.attempt_count, 0, "the invoice still waits for the merged partner's event")
        self.assertNotIn("invoice.posted", [body["type"] for _h, body, _raw in self.received()])

        partner_job._reschedule(fields.Datetime.now())  # its retry comes due
        self.dispatch()
        sent = [(body["type"], body["partner"]["id"]) for _h, body, _raw in self.received()]
        newcomer = partner_job.res_id
        self.assertLess(sent.index(("partner.upserted", newcomer)), sent.index(("invoice.posted", newcomer)))
        self.assertLess(sent.index(("partner.upserted", newcomer)), sent.index(("partner.merged", newcomer)))
        self.assertEqual((partner_job | doc_job).mapped("state"), ["done", "done"])

    def test_a_merge_keeps_a_document_held_behind_its_failed_partner(self):
        partner_job, doc_job, _survivor = self._held_behind_a_merged_partner(422)
        self.assertEqual((partner_job.state, doc_job.state), ("failed", "blocked"))
        self.dispatch()  # the dispatcher also releases holds that nothing justifies any more
        self.assertEqual(doc_job.state, "blocked", "its partner's event still needs a person")
        self.assertNotIn("invoice.posted", [body["type"] for _h, body, _raw in self.received()])

        partner_job.action_retry()
        self.dispatch()
        sent = [(body["type"], body["partner"]["id"]) for _h, body, _raw in self.received()]
        newcomer = partner_job.res_id
        self.assertLess(sent.index(("partner.upserted", newcomer)), sent.index(("invoice.posted", newcomer)))
        self.assertEqual(doc_job.state, "done")
