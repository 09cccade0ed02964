"""Business reconciliation: Odoo's control totals of a period against the platform's signed
``reconciliation.report`` (through Odoo's real HTTP server), the mismatch exception, *Re-send*
to a real receiver under the original ids and bodies, and the completeness check with its
backfill."""

import json
import uuid
from contextlib import closing
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import event as example_kind
from hypothesis import strategies as st

from odoo.exceptions import AccessError, UserError
from odoo.fields import Command
from odoo.tests import tagged

from ..engine import payload as payload_lib
from .books import money
from .books_reconciliation import keys_of, platform_data
from .test_inbound import InboundCase, event
from .test_install import load_migration

PERIOD_FROM, PERIOD_TO = date(2026, 11, 1), date(2026, 11, 30)
# Periods of TestReconciliationFigures: one invoice of 12.10; amounts and signs; references;
# property-based examples.
SEPTEMBER = (date(2026, 9, 1), date(2026, 9, 30))
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
AUGUST = (date(2026, 8, 1), date(2026, 8, 31))
JUNE = (date(2026, 6, 1), date(2026, 6, 30))
# Amounts with cents binary floats cannot hold, and any amount with cents.
AWKWARD_CENTS = [Decimal("0.07"), Decimal("12.10"), Decimal("1234.57"), Decimal("0.10"), Decimal("433353.26")]
CENTS = st.one_of(
    st.sampled_from(AWKWARD_CENTS),
    st.integers(min_value=1, max_value=99_999_999).map(lambda cents: Decimal(cents).scaleb(-2)),
)


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
        # Odoo generates a default view for any model: each must be the module's own, showing
        # what a finance user reads there.
        for model, view, shown in (
            (
                "finance.sync.reconciliation",
                "form",
                ("missing_job_ids", "unknown_references_text", "action_resend_missing"),
            ),
            ("finance.sync.reconciliation", "pivot", ("date_to", "difference_count")),
        ):
            arch = self.env[model].get_views([(False, view)])["views"][view]["arch"]
            for name in shown:
                self.assertIn(name, arch, f"the {view} of {model} shows {name}")
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
        assert_posted(self, rec, "queued 1 event again for the platform, under its original id:")
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
            "the platform holds 1 reference Odoo never sent for this period (INV/FOREIGN/0001)", rec.difference
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


@tagged("post_install", "-at_install")
class TestReconciliationFigures(InboundCase):
    """Figures as finance keeps them, on documents delivered once for the class: decimal amounts
    compared in the currency's precision, the sign of credit notes, the references events carry
    (vendor bills, reversals, payments), what a mismatch names, who records an outcome, and
    properties over any amounts and any events dropped."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Reconciliation = cls.env["finance.sync.reconciliation"]
        cls.currency = cls.company.currency_id
        cls.other_currency = cls.setup_other_currency("EUR")
        # September: one invoice of 12.10.
        cls.twelve_ten = cls.document("out_invoice", "12.10", date(2026, 9, 15))
        # October: invoices of 12.10 and 7.83 and a credit note of 0.07: 20.00 as the events
        # carry them (19.86 if the credit note were signed).
        cls.october = (
            cls.document("out_invoice", "12.10", date(2026, 10, 3))
            | cls.document("out_invoice", "7.83", date(2026, 10, 9))
            | cls.document("out_refund", "0.07", date(2026, 10, 20))
        )
        # August: a vendor bill with its supplier's reference, an invoice and its reversal, an
        # invoice and its payment.
        cls.bill = cls.document("in_invoice", "1234.57", date(2026, 8, 4), ref="SUP-0288")
        cls.reversed_invoice = cls.document("out_invoice", "99.99", date(2026, 8, 6))
        reversal = (
            cls.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=cls.reversed_invoice.ids)
            .create({"journal_id": cls.reversed_invoice.journal_id.id, "date": date(2026, 8, 10)})
        )
        cls.reversal = cls.env["account.move"].browse(reversal.refund_moves()["res_id"])
        cls.reversal.filtered(lambda m: m.state == "draft").action_post()
        cls.paid = cls.document("out_invoice", "250.01", date(2026, 8, 12))
        cls.payment = cls._register_payment(cls.paid, payment_date=date(2026, 8, 20))
        cls.env.flush_all()
        cls.env.cr.precommit.run()  # payment statuses are captured just before the commit
        cls.receiver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
        for _round in range(10):
            if not cls.env["finance.sync.dispatcher"]._dispatch(backends=cls.backend.sudo()):
                break
        cls.receiver.clear()
        cls.jobs = cls.env["finance.sync.job"].search([("backend_id", "=", cls.backend.id)], order="id")
        assert set(cls.jobs.mapped("state")) == {"done"}, cls.jobs.mapped("state")

    @classmethod
    def document(cls, move_type, amount, day, currency=None, **vals):
        """A posted document of one untaxed line of ``amount`` (a decimal string)."""
        partner = cls.partner_b if move_type.startswith("in_") else cls.partner_a
        move = cls.env["account.move"].create(
            {
                "move_type": move_type,
                "partner_id": partner.id,
                "invoice_date": day,
                "date": day,
                "currency_id": (currency or cls.company.currency_id).id,
                "invoice_line_ids": [
                    Command.create({"name": "Line", "price_unit": float(amount), "tax_ids": [Command.set([])]})
                ],
                **vals,
            }
        )
        move.action_post()
        assert money(move.amount_total, move.currency_id) == amount, (move.amount_total, amount)
        return move

    def bodies(self, jobs=None):
        """The parsed bodies delivered (of ``jobs``, else of every job of the class)."""
        return [json.loads(job.body) for job in (jobs if jobs is not None else self.jobs)]

    def report(self, period, totals=None, **data):
        """POST the platform's report of ``period``; the response."""
        payload = {"period": {"date_from": str(period[0]), "date_to": str(period[1])}, "totals": totals or [], **data}
        return self.post(event("reconciliation.report", payload))

    def reconciliation(self, period):
        return self.Reconciliation.search(
            [("backend_id", "=", self.backend.id), ("date_from", "=", period[0]), ("date_to", "=", period[1])]
        )

    def posted_total(self, count, amount):
        return [{"event_type": "invoice.posted", "currency": self.currency.name, "count": count, "amount": amount}]

    # --- 1. decimal money, in the currency's precision ---------------------------------------

    def test_one_invoice_of_12_10_reported_as_12_10_is_matched(self):
        response = self.report(SEPTEMBER, self.posted_total(1, "12.10"))
        self.assertEqual(response.status_code, 202, response.text)
        rec = self.reconciliation(SEPTEMBER)
        self.assertEqual(rec.state, "matched", rec.difference)
        self.assertFalse(rec.line_ids.differs)
        self.assertEqual(rec._odoo_totals(), {("invoice.posted", self.currency.name): (1, Decimal("12.10"))})

    def test_odoo_sums_are_exact_decimals_read_as_text(self):
        """433353.26 is 433353.26000000000931322574615478515625 as a float: Odoo's side is the
        exact sum (a grouped read of the invoices as the oracle)."""
        self.document("out_invoice", "433341.16", date(2026, 9, 20))
        self.document("out_invoice", "0.07", date(2026, 9, 21))
        self.respond(200)
        self.dispatch()
        rec = self.Reconciliation.create(
            {
                "backend_id": self.backend.id,
                "company_id": self.company.id,
                "date_from": SEPTEMBER[0],
                "date_to": SEPTEMBER[1],
            }
        )
        ((total, count),) = self.env["account.move"]._read_group(
            [("date", ">=", SEPTEMBER[0]), ("date", "<=", SEPTEMBER[1]), ("state", "=", "posted")],
            aggregates=["amount_total:sum", "__count"],
        )
        oracle = Decimal(money(total, self.currency))
        self.assertEqual(oracle, Decimal("433353.33"))
        self.assertEqual(rec._odoo_totals()[("invoice.posted", self.currency.name)], (count, oracle))
        self.report(SEPTEMBER, self.posted_total(3, "433353.33"))
        self.assertEqual(rec.state, "matched", rec.difference)

    def test_an_amount_finer_than_its_currency_is_refused_and_writes_nothing(self):
        before = self.snapshot()
        reconciliations = self.Reconciliation.search_count([])
        body = self.assertRefused(
            self.report(SEPTEMBER, self.posted_total(1, "12.101")), 422, "amount_precision", before
        )
        self.assertEqual([error["path"] for error in body["errors"]], ["/data/totals/0/amount"])
        self.assertEqual(self.Reconciliation.search_count([]), reconciliations)

    # --- 4. one sign convention, every form the schema allows -------------------------------

    def assert_matched(self, period, count, amount):
        response = self.report(period, self.posted_total(count, amount))
        self.assertEqual(response.status_code, 202, response.text)
        rec = self.reconciliation(period)
        self.assertEqual(rec.state, "matched", rec.difference)
        return rec

    def test_form_with_the_currency_precision(self):
        self.assert_matched(OCTOBER, 3, "20.00")

    def test_form_with_fewer_decimals(self):
        self.assert_matched(SEPTEMBER, 1, "12.1")

    def test_form_without_decimals(self):
        self.assert_matched(OCTOBER, 3, "20")

    def test_form_with_trailing_zeros_beyond_the_precision(self):
        self.assert_matched(SEPTEMBER, 1, "12.100000")

    def test_form_zero_for_what_neither_side_holds(self):
        totals = [
            *self.posted_total(3, "20.00"),
            {"event_type": "payment.posted", "currency": self.currency.name, "count": 0, "amount": "0"},
            {"event_type": "payment.posted", "currency": "EUR", "count": 0, "amount": "0.00"},
        ]
        self.report(OCTOBER, totals)
        self.assertEqual(self.reconciliation(OCTOBER).state, "matched")

    def test_credit_notes_count_positive_as_their_events_carry_them(self):
        credit_note = self.october.filtered(lambda m: m.move_type == "out_refund")
        body = self.bodies(self.jobs.filtered(lambda j: j.move_id == credit_note))[0]
        self.assertEqual(body["document"]["amounts"]["total"], "0.07", "the event carries the credit note positive")
        self.report(OCTOBER, self.posted_total(3, "19.86"))  # the credit note signed: not this convention
        rec = self.reconciliation(OCTOBER)
        self.assertEqual(rec.state, "mismatched")
        self.assertIn(f"Odoo delivered 3 for 20.00 {self.currency.name}", rec.difference)

    def test_a_negative_amount_is_refused(self):
        before = self.snapshot()
        body = self.assertRefused(self.report(OCTOBER, self.posted_total(3, "-20.00")), 422, "schema_violation", before)
        self.assertIn("/data/totals/0/amount", {error["path"] for error in body["errors"]})

    # --- 2. documents by the number their events carry ------------------------------------

    def test_bills_reversals_and_payments_are_matched_on_the_number_their_events_carry(self):
        self.assertNotEqual(self.bill.display_name, self.bill.name)
        self.assertIn("SUP-0288", self.bill.display_name)
        self.assertNotEqual(self.reversal.display_name, self.reversal.name)
        for document in (self.bill, self.reversal, self.payment):
            job = self.jobs.filtered(lambda j, d=document: (j.move_id or j.payment_id) == d)[:1]
            self.assertEqual(job.document_number, document.name)
        data = platform_data(self.bodies(), *AUGUST, event_ids=False)
        self.assertIn(self.payment.name, data["documents"])
        self.assertEqual(self.report(AUGUST, data["totals"], documents=data["documents"]).status_code, 202)
        rec = self.reconciliation(AUGUST)
        self.assertEqual(rec.state, "matched", rec.difference)
        self.assertFalse(rec.unknown_references)
        self.assertFalse(rec.missing_event_ids)

    def test_documents_the_platform_lacks_are_named_by_their_events(self):
        lacking = self.jobs.filtered(lambda j: j.move_id == self.bill or j.payment_id == self.payment)
        kept = self.bodies(self.jobs - lacking)
        data = platform_data(kept, *AUGUST, event_ids=False)
        self.report(AUGUST, data["totals"], documents=[*data["documents"], "INV/FOREIGN/0001"])
        rec = self.reconciliation(AUGUST)
        self.assertEqual(rec.state, "mismatched")
        self.assertCountEqual(rec.missing_event_ids, lacking.mapped("event_uuid"))
        self.assertEqual(rec.unknown_references, ["INV/FOREIGN/0001"], "the one reference really unknown")

    def test_jobs_captured_before_the_upgrade_get_their_numbers(self):
        self.jobs.flush_recordset()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET document_number = NULL WHERE id IN %s", (tuple(self.jobs.ids),)
        )
        self.jobs.invalidate_recordset(["document_number"])
        load_migration("19.0.1.3.0").migrate(self.env.cr, "19.0.1.2.0")
        for job in self.jobs:
            self.assertEqual(job.document_number, (job.move_id or job.payment_id).name, job.document_ref)
        data = platform_data(self.bodies(), *AUGUST, event_ids=False)
        self.report(AUGUST, data["totals"], documents=data["documents"])
        self.assertEqual(self.reconciliation(AUGUST).state, "matched")

    # --- 3. a mismatch names documents ----------------------------------------------------

    def test_a_mismatch_names_each_missing_document_with_a_link(self):
        lacking = self.jobs.filtered(lambda j: j.move_id == self.bill)
        self.assertEqual(len(lacking), 1)
        kept = self.bodies(self.jobs - lacking)
        data = platform_data(kept, *AUGUST)
        self.report(AUGUST, data["totals"], event_ids=data["event_ids"])
        rec = self.reconciliation(AUGUST)
        self.assertEqual(rec.state, "mismatched")
        self.assertEqual(rec.missing_job_ids, lacking)
        expected = (
            f"{self.bill.name} ({self.partner_b.display_name}, 1234.57 {self.currency.name}, 2026-08-04; "
            f"invoice.posted, event {lacking.event_uuid})"
        )
        self.assertIn(expected, rec.difference)
        self.assertIn(expected, rec.exception_id.message)
        self.assertEqual(rec.missing_job_ids.partner_id, self.partner_b)
        action = rec.missing_job_ids.action_open_document()
        self.assertEqual((action["res_model"], action["res_id"]), ("account.move", self.bill.id))
        # The form lists them with the document's figures and a button that opens it.
        arch = self.Reconciliation.get_views([(False, "form")])["views"]["form"]["arch"]
        for column in ("document_number", "partner_id", "amount", "document_date", "event_uuid"):
            self.assertIn(f'name="{column}"', arch)
        self.assertIn('name="action_open_document"', arch)
        # A finance user (no accounting rights beyond reading) sees them too.
        user = self.make_user("recon_reader", "finance_sync.finance_sync_group_user")
        self.assertEqual(rec.with_user(user).missing_job_ids.mapped("document_number"), [self.bill.name])

    # --- 24.4. outcomes and control totals are the module's ----------------------------------

    def administrator(self):
        return self.make_user("recon_admin", "finance_sync.finance_sync_group_admin", "account.group_account_manager")

    def opening(self, period=JUNE):
        return {
            "backend_id": self.backend.id,
            "company_id": self.company.id,
            "date_from": period[0],
            "date_to": period[1],
        }

    def test_an_administrator_cannot_create_an_outcome(self):
        Reconciliation = self.Reconciliation.with_user(self.administrator())
        forged = {"state": "matched", "platform_event_count": 3, "difference_count": 0, "missing_event_ids": []}
        for fname, value in forged.items():
            with self.subTest(values=fname), self.assertRaises(AccessError):
                Reconciliation.create({**self.opening(), fname: value})
            with self.subTest(context_default=fname), self.assertRaises(AccessError):
                Reconciliation.with_context(**{f"default_{fname}": value}).create(self.opening())
        with self.assertRaises(AccessError):
            Reconciliation.with_context(
                default_line_ids=[Command.create({"event_type": "invoice.posted", "platform_count": 1})]
            ).create(self.opening())
        self.assertFalse(self.reconciliation(JUNE))
        rec = Reconciliation.with_context(default_date_from=JUNE[0]).create(self.opening())
        self.assertEqual(rec.state, "waiting", "the opening fields may come from defaults")

    def test_an_administrators_personal_default_gives_no_outcome(self):
        admin = self.administrator()
        self.env["ir.default"].with_user(admin).set(
            "finance.sync.reconciliation", "state", "matched", user_id=True, company_id=True
        )
        with self.assertRaises(AccessError):
            self.Reconciliation.with_user(admin).create(self.opening())
        self.assertFalse(self.reconciliation(JUNE))

    def test_an_administrator_cannot_write_or_copy_an_outcome(self):
        self.report(SEPTEMBER, self.posted_total(1, "99.99"))
        rec = self.reconciliation(SEPTEMBER).with_user(self.administrator())
        self.assertEqual(rec.state, "mismatched")
        for forged in ({"state": "matched"}, {"platform_event_count": 1}, {"line_ids": [Command.clear()]}):
            with self.subTest(forged=forged), self.assertRaises(AccessError):
                rec.write(forged)
        with self.assertRaises(AccessError):
            rec.copy({**self.opening(), "state": "matched"})
        copied = rec.copy(self.opening())
        self.assertEqual(copied.state, "waiting", "a copy opens a period; it takes no outcome")
        self.assertFalse(copied.report_event_id or copied.difference_count or copied.platform_event_count)
        self.assertFalse(copied.line_ids.filtered("platform_count"))
        self.assertEqual(rec.state, "mismatched")

    def test_an_administrator_cannot_create_change_or_delete_a_control_total(self):
        self.report(SEPTEMBER, self.posted_total(1, "99.99"))
        admin = self.administrator()
        rec = self.reconciliation(SEPTEMBER)
        line = rec.line_ids.with_user(admin)
        Line = self.env["finance.sync.reconciliation.line"].with_user(admin)
        with self.assertRaises(AccessError):
            line.write({"platform_amount": 12.10, "differs": False})
        with self.assertRaises(AccessError):
            Line.create({"reconciliation_id": rec.id, "event_type": "payment.posted", "platform_count": 1})
        with self.assertRaises(AccessError):
            line.copy()
        with self.assertRaises(AccessError):
            line.unlink()
        self.assertEqual(rec.line_ids, line)
        self.assertEqual((line.platform_amount, line.differs), (99.99, True))
        # The module itself still replaces them with each report.
        self.report(SEPTEMBER, self.posted_total(1, "12.10"))
        self.assertEqual(rec.state, "matched")
        self.assertFalse(line.exists())

    # --- properties ------------------------------------------------------------------------

    @settings(
        max_examples=20,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        documents=st.lists(
            st.tuples(st.sampled_from(["out_invoice", "out_refund", "in_invoice"]), CENTS, st.booleans()),
            min_size=1,
            max_size=4,
        ),
        data=st.data(),
    )
    def test_property_matched_exactly_when_the_platform_holds_what_odoo_delivered(self, documents, data):
        """Any amounts with cents, in either currency, any events dropped: matched exactly when
        the platform holds what Odoo delivered, the difference names exactly what it lacks, and
        Re-send always closes the gap. Each example is undone afterwards."""
        with closing(self.env.cr.savepoint()):
            self.receiver.clear()
            self.respond(200)
            moves = self.env["account.move"]
            for day, (move_type, amount, foreign) in enumerate(documents, start=1):
                currency = self.other_currency if foreign else self.currency
                moves |= self.document(move_type, format(amount, "f"), date(2026, 6, day), currency=currency)
            self.dispatch()
            jobs = self.Job.search([("move_id", "in", moves.ids), ("backend_id", "=", self.backend.id)])
            self.assertEqual(set(jobs.mapped("state")), {"done"})
            dropped = data.draw(st.sets(st.sampled_from(jobs.mapped("event_uuid"))), label="dropped")
            delivered = {job.event_uuid: json.loads(job.body) for job in jobs}
            kept = [body for event_id, body in delivered.items() if event_id not in dropped]
            unknown = str(uuid.uuid4()) if data.draw(st.booleans(), label="unknown") else None
            example_kind(f"{len(dropped)} of {len(jobs)} dropped" + (", one unknown" if unknown else ""))
            report = platform_data(kept, *JUNE)
            report["event_ids"] += [unknown] if unknown else []
            self.assertEqual(self.post(event("reconciliation.report", report)).status_code, 202)
            rec = self.reconciliation(JUNE)
            self.assertEqual(rec.state, "matched" if not (dropped or unknown) else "mismatched", rec.difference)
            self.assertCountEqual(rec.missing_event_ids or [], dropped)
            self.assertEqual(rec.unknown_references or [], [unknown] if unknown else [])
            lost = [delivered[event_id] for event_id in dropped]
            differing = {(line.event_type, line.currency_code) for line in rec.line_ids.filtered("differs")}
            self.assertEqual(differing, keys_of(lost, *JUNE))
            for event_id in dropped:
                number = delivered[event_id]["document"]["number"]
                self.assertIn(f"{number} (", rec.difference)
                self.assertIn(event_id, rec.difference)
            if not dropped:
                return
            self.receiver.clear()
            self.respond(200)
            rec.action_resend_missing()
            received = self.received()
            self.assertEqual({headers["webhook-id"] for headers, _body, _raw in received}, dropped)
            kept += [body for _headers, body, _raw in received]
            report = platform_data(kept, *JUNE)
            self.post(event("reconciliation.report", report))
            self.assertEqual(rec.state, "matched", rec.difference)
            self.assertEqual(rec.exception_id.state, "resolved")
            self.assertFalse(rec.activity_ids)
