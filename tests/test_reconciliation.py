"""Business reconciliation: Odoo's control totals of a period against the platform's signed
``reconciliation.report`` (through Odoo's real HTTP server), the mismatch exception, *Re-send*
to a real receiver under the original ids and bodies, and the completeness check with its
backfill."""

from datetime import date, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..engine import payload as payload_lib
from .test_inbound import InboundCase, event
from .test_install import load_migration

PERIOD_FROM, PERIOD_TO = date(2026, 11, 1), date(2026, 11, 30)


def assert_posted(case, record, text):
    """``text`` is in one of the messages of ``record``'s chatter (tracking may come after it)."""
    bodies = [str(body) for body in record.message_ids.mapped("body")]
    case.assertTrue(any(text in body for body in bodies), bodies)


def report(totals, **data):
    return event(
        "reconciliation.report",
        {"period": {"date_from": str(PERIOD_FROM), "date_to": str(PERIOD_TO)}, "totals": totals, **data},
    )


@tagged("post_install", "-at_install")
class TestReconciliation(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Reconciliation = cls.env["finance.sync.reconciliation"]
        cls.currency = cls.company.currency_id.name

    def setUp(self):
        super().setUp()
        self.respond(200)
        # Two invoices in November, one in December (another period), all delivered.
        self.first = self.posted_invoice(100.0, invoice_date=date(2026, 11, 5))
        self.second = self.posted_invoice(250.0, invoice_date=date(2026, 11, 20))
        self.later = self.posted_invoice(75.0, invoice_date=date(2026, 12, 2))
        self.dispatch()
        self.jobs = self.jobs_of(self.first) | self.jobs_of(self.second)
        self.assertEqual(set(self.jobs.mapped("state")), {"done"})
        self.bodies = {headers["webhook-id"]: raw for headers, _body, raw in self.received()}
        self.assertEqual(set(self.bodies), set((self.jobs | self.jobs_of(self.later)).mapped("event_uuid")))
        self.receiver.clear()
        self.respond(200)

    def total(self, invoices):
        return payload_lib.money(sum(invoices.mapped("amount_total")), self.company.currency_id.decimal_places)

    def totals(self, count, invoices):
        """The platform's totals of ``count`` posted invoices summing to those of ``invoices``."""
        amount = self.total(invoices)
        return [{"event_type": "invoice.posted", "currency": self.currency, "count": count, "amount": amount}]

    def reconciliation(self):
        return self.Reconciliation.search(
            [("backend_id", "=", self.backend.id), ("date_from", "=", PERIOD_FROM), ("date_to", "=", PERIOD_TO)]
        )

    def exceptions(self):
        return self.env["finance.sync.exception"].search(
            [("backend_id", "=", self.backend.id), ("category", "=", "reconciliation")]
        )

    def test_capture_records_amount_currency_and_accounting_date(self):
        job = self.jobs_of(self.first)
        self.assertEqual(job.amount, self.first.amount_total)
        self.assertEqual(job.currency_id, self.first.currency_id)
        self.assertEqual(job.document_date, self.first.date)

    def test_odoo_side_alone_before_any_report(self):
        rec = self.Reconciliation.create(
            {
                "backend_id": self.backend.id,
                "company_id": self.company.id,
                "date_from": PERIOD_FROM,
                "date_to": PERIOD_TO,
            }
        )
        self.assertEqual(rec.state, "waiting")
        self.assertEqual(rec.odoo_event_count, 2, "the December invoice belongs to another period")
        (line,) = rec.line_ids
        self.assertEqual((line.event_type, line.currency_code, line.odoo_count), ("invoice.posted", self.currency, 2))
        self.assertAlmostEqual(line.odoo_amount, self.first.amount_total + self.second.amount_total)
        self.assertFalse(line.differs)

    def test_the_form_and_the_dashboard_render(self):
        for model, view in (
            ("finance.sync.reconciliation", "form"),
            ("finance.sync.reconciliation", "pivot"),
            ("finance.sync.backend", "kanban"),
        ):
            arch = self.env[model].get_views([(False, view)])["views"][view]["arch"]
            self.assertTrue(arch)
        kanban = self.env["finance.sync.backend"].get_views([(False, "kanban")])["views"]["kanban"]["arch"]
        self.assertIn("last_reconciliation_state", kanban)
        self.assertIn("late_delivery_count", kanban)

    def test_outcomes_are_recorded_by_the_module_only(self):
        vals = {"backend_id": self.backend.id, "company_id": self.company.id, "date_from": PERIOD_FROM}
        with self.assertRaises(AccessError):
            self.Reconciliation.create({**vals, "date_to": PERIOD_TO, "state": "matched"})
        rec = self.Reconciliation.create({**vals, "date_to": PERIOD_TO})
        for forged in ({"state": "matched"}, {"date_to": PERIOD_FROM}, {"missing_event_ids": []}):
            with self.assertRaises(AccessError):
                rec.write(forged)
        self.assertEqual(rec.state, "waiting")

    def test_jobs_captured_before_the_upgrade_get_their_figures(self):
        job = self.jobs_of(self.first)
        job.flush_recordset()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET amount = NULL, currency_id = NULL, document_date = NULL WHERE id = %s",
            (job.id,),
        )
        job.invalidate_recordset()
        load_migration("19.0.1.2.0").migrate(self.env.cr, "19.0.1.1.1")
        self.assertEqual(
            (job.amount, job.currency_id, job.document_date),
            (self.first.amount_total, self.first.currency_id, self.first.date),
        )

    def test_matching_report_is_matched(self):
        totals = self.totals(2, self.first | self.second)
        response = self.post(report(totals, event_ids=self.jobs.mapped("event_uuid")))
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["state"], "processed")
        rec = self.reconciliation()
        self.assertEqual(rec.state, "matched")
        self.assertEqual((rec.odoo_event_count, rec.platform_event_count, rec.difference_count), (2, 2, 0))
        self.assertFalse(rec.line_ids.filtered("differs"))
        self.assertEqual(rec.report_event_id, self.last_event())
        self.assertEqual(self.last_event().reference, rec.name)
        self.assertFalse(self.exceptions())
        assert_posted(self, rec, "Both sides agree")

    def test_mismatch_is_spelled_out_in_one_deduplicated_exception(self):
        first_job = self.jobs_of(self.first)
        totals = self.totals(1, self.second)
        self.post(report(totals, event_ids=self.jobs_of(self.second).mapped("event_uuid")))
        rec = self.reconciliation()
        self.assertEqual(rec.state, "mismatched")
        self.assertEqual(rec.missing_event_ids, [first_job.event_uuid])
        self.assertEqual(rec.missing_events_text, first_job.event_uuid)
        self.assertEqual(rec.line_ids.differs, True)
        self.assertIn(f"Odoo delivered 2 for {self.total(self.first | self.second)} {self.currency}", rec.difference)
        self.assertIn(f"the platform holds 1 for {self.total(self.second)} {self.currency}", rec.difference)
        self.assertIn(first_job.event_uuid, rec.difference)
        exception = self.exceptions()
        self.assertEqual(len(exception), 1)
        self.assertTrue(self.backend.user_id)
        self.assertEqual(rec.activity_ids.user_id, self.backend.user_id, "the responsible is asked to look")
        self.assertEqual(exception.state, "new")
        self.assertEqual(exception.message, rec.difference)
        self.assertEqual(exception._get_linked_record(), rec)
        self.assertEqual(rec.exception_id, exception)
        # The same disagreement reported again bumps the one exception.
        self.post(report(totals, event_ids=self.jobs_of(self.second).mapped("event_uuid")))
        self.assertEqual(self.exceptions(), exception)
        self.assertEqual(exception.occurrence_count, 2)
        self.assertEqual(len(rec.activity_ids), 1, "one to-do while the period is mismatched")
        self.assertEqual(len(rec.line_ids), 1, "a new report replaces the control totals")
        lines = self.env["finance.sync.reconciliation.line"].search([("reconciliation_id", "=", rec.id)])
        self.assertEqual(lines, rec.line_ids, "the replaced totals are deleted")

    def test_resend_sends_the_original_ids_and_bodies_then_a_matching_report_resolves(self):
        first_job = self.jobs_of(self.first)
        totals = self.totals(1, self.second)
        self.post(report(totals, event_ids=self.jobs_of(self.second).mapped("event_uuid")))
        rec = self.reconciliation()
        rec.action_resend_missing()
        received = self.received()
        self.assertEqual([h["webhook-id"] for h, _b, _r in received], [first_job.event_uuid])
        self.assertEqual(received[0][2], self.bodies[first_job.event_uuid], "the same bytes as the first delivery")
        self.assertEqual(first_job.state, "done")
        assert_posted(self, rec, first_job.event_uuid)
        # The platform now reports both: matched, and the exception resolves itself.
        totals = self.totals(2, self.first | self.second)
        self.post(report(totals, event_ids=self.jobs.mapped("event_uuid")))
        self.assertEqual(rec.state, "matched")
        self.assertEqual(self.exceptions().state, "resolved")
        self.assertFalse(rec.activity_ids, "the to-do of the mismatch is done")

    def test_resend_is_for_administrators_only(self):
        totals = self.totals(1, self.second)
        self.post(report(totals, event_ids=self.jobs_of(self.second).mapped("event_uuid")))
        user = self.make_user("recon_user", "finance_sync.finance_sync_group_user")
        with self.assertRaises(AccessError):
            self.reconciliation().with_user(user).action_resend_missing()
        self.assertEqual(self.jobs_of(self.first).state, "done")
        self.assertFalse(self.received())

    def test_references_the_platform_has_that_odoo_never_sent(self):
        totals = self.totals(3, self.first | self.second)
        self.post(report(totals, documents=[self.first.name, self.second.name, "INV/FOREIGN/0001"]))
        rec = self.reconciliation()
        self.assertEqual(rec.state, "mismatched")
        self.assertEqual(rec.unknown_references, ["INV/FOREIGN/0001"])
        self.assertFalse(rec.missing_event_ids)
        self.assertIn(
            "the platform holds 1 reference(s) Odoo never sent for this period (INV/FOREIGN/0001)", rec.difference
        )

    def test_amounts_differing_per_currency(self):
        totals = [
            {"event_type": "invoice.posted", "currency": self.currency, "count": 2, "amount": "1.00"},
            {"event_type": "invoice.posted", "currency": "EUR", "count": 1, "amount": "10.00"},
        ]
        self.post(report(totals))
        rec = self.reconciliation()
        self.assertEqual(rec.state, "mismatched")
        differing = rec.line_ids.filtered("differs").mapped("currency_code")
        self.assertEqual(sorted(differing), sorted([self.currency, "EUR"]))
        self.assertIn("invoice.posted in EUR: Odoo delivered 0 for 0.00 EUR", rec.difference)

    def test_report_for_a_company_the_backend_does_not_serve_fails_visibly(self):
        other = self.setup_other_company()["company"]
        response = self.post(report([], company_id=other.id))
        self.assertEqual(response.status_code, 202, response.text)
        stored = self.last_event()
        self.assertEqual(stored.state, "failed")
        self.assertIn(f"Company {other.id} is not one of this backend's companies", stored.result_message)
        self.assertEqual(stored.exception_ids.category, "inbound_invalid")
        self.assertFalse(self.reconciliation())

    def test_malformed_report_is_422_and_writes_nothing(self):
        before = self.snapshot()
        reconciliations = self.Reconciliation.search_count([])
        bad = report([{"event_type": "invoice.posted", "currency": "usd", "count": -1, "amount": "1,00"}])
        body = self.assertRefused(self.post(bad), 422, "schema_violation", before)
        paths = {error["path"] for error in body["errors"]}
        self.assertTrue({"/data/totals/0/currency", "/data/totals/0/amount"} <= paths, paths)
        self.assertEqual(self.Reconciliation.search_count([]), reconciliations)

    def test_an_older_report_does_not_replace_a_newer_one(self):
        totals = self.totals(2, self.first | self.second)
        self.post(report(totals))
        stale = report([])
        stale["occurred_at"] = "2026-01-01T00:00:00Z"
        self.post(stale)
        self.assertEqual(self.last_event().state, "ignored")
        self.assertEqual(self.reconciliation().state, "matched")


@tagged("post_install", "-at_install")
class TestCompleteness(InboundCase):
    def test_documents_never_captured_are_listed_and_backfilled_in_order(self):
        self.respond(200)
        late = self.create_backend("Late platform", path="/late", state="draft")
        self.respond(200, path="/late")
        # Posted while the backend was a draft: it heard nothing of them.
        second = self.posted_invoice(40.0, invoice_date=date(2026, 11, 9))
        first = self.posted_invoice(30.0, invoice_date=date(2026, 11, 3))
        outside = self.posted_invoice(20.0, invoice_date=date(2026, 12, 3))
        late.action_activate()
        rec = self.env["finance.sync.reconciliation"].create(
            {"backend_id": late.id, "company_id": self.company.id, "date_from": PERIOD_FROM, "date_to": PERIOD_TO}
        )
        self.assertEqual(rec.missing_document_count, 2)
        listed = rec.action_view_missing_documents()
        self.assertEqual(set(listed["domain"][0][2]), {first.id, second.id})
        # A finance user may look, not backfill.
        user = self.make_user("recon_viewer", "finance_sync.finance_sync_group_user")
        wizard_action = rec.action_backfill()
        self.assertEqual(wizard_action["context"]["default_date_from"], PERIOD_FROM)
        wizard = self.env["finance.sync.backfill"].with_context(wizard_action["context"]).create({})
        with self.assertRaises(AccessError):
            wizard.with_user(user).action_confirm()
        wizard.action_confirm()
        jobs = self.Job.search([("backend_id", "=", late.id)], order="id")
        self.assertEqual(jobs.mapped("move_id").ids, [first.id, second.id], "captured in accounting-date order")
        assert_posted(self, late, "sent the existing documents")
        self.dispatch(late)
        # Sent concurrently (order is kept per document, not across documents).
        self.assertEqual(
            sorted(body["document"]["number"] for _h, body, _r in self.received()), sorted([first.name, second.name])
        )
        self.assertNotIn(outside.name, [body["document"]["number"] for _h, body, _r in self.received()])
        rec.invalidate_recordset(["missing_document_count"])
        self.assertEqual(rec.missing_document_count, 0)
        with self.assertRaises(UserError):
            self.env["finance.sync.backfill"].with_context(wizard_action["context"]).create({}).action_confirm()

    def test_companies_never_mix(self):
        self.respond(200, path="/both")
        other = self.setup_other_company()["company"]
        both = self.create_backend("Group platform", self.secret, path="/both", companies=self.company | other)
        mine = self.posted_invoice(30.0, invoice_date=date(2026, 11, 3))
        theirs = self.init_invoice(
            "out_invoice", amounts=[70.0], invoice_date=date(2026, 11, 4), post=True, company=other
        )
        self.dispatch(both)
        self.assertEqual((self.jobs_of(mine, both) | self.jobs_of(theirs, both)).mapped("state"), ["done", "done"])
        url = f"/finance_sync/webhook/{both.sudo().webhook_token}"
        self.assertEqual(self.post(report([]), url=url).status_code, 202)
        self.assertEqual(self.last_event().state, "failed", "a report for several companies must name one")
        self.assertIn("must name one", self.last_event().result_message)
        self.post(report([], company_id=other.id), url=url)
        rec = self.env["finance.sync.reconciliation"].search([("backend_id", "=", both.id)])
        self.assertEqual(rec.company_id, other)
        self.assertEqual(rec.odoo_event_count, 1)
        self.assertAlmostEqual(rec.line_ids.odoo_amount, theirs.amount_total)
        self.assertEqual(rec.line_ids.currency_code, theirs.currency_id.name)

    def test_reconciliation_company_must_be_the_backends(self):
        other = self.setup_other_company()["company"]
        with self.assertRaises(UserError):
            self.env["finance.sync.reconciliation"].create(
                {
                    "backend_id": self.backend.id,
                    "company_id": other.id,
                    "date_from": PERIOD_FROM,
                    "date_to": PERIOD_FROM + timedelta(days=1),
                }
            )
