"""Realistic books (tests/books.py), built once and shared by the finance-grade checks: the
fixture holds what it promises (every ingredient that made features fail from outside, read back
from Odoo's own stored fields), and what platforms last heard of each document is what Odoo
holds."""

from decimal import Decimal

from odoo.tests import tagged

from .books import FIRST_DAY, TODAY, RealisticBooksCase
from .books_payments import PaymentsOnBooks
from .books_reconciliation import ReconciliationOnBooks
from .test_inbound import InboundCase


def not_binary_exact(amount):
    """The amount (a decimal with cents) has no exact binary floating-point representation."""
    return Decimal(float(amount)) != Decimal(str(amount))


@tagged("post_install", "-at_install")
class TestRealisticBooks(PaymentsOnBooks, ReconciliationOnBooks, RealisticBooksCase, InboundCase):
    """One build of the books for every check on them (through Odoo's HTTP server where a
    platform speaks): checks of a feature live in a mixin of ``tests/books_<feature>.py``
    added to this class's bases."""

    def test_months_of_documents_in_two_currencies(self):
        books = self.books
        posted = books.moves.filtered(lambda m: m.state == "posted")
        months = {(m.date.year, m.date.month) for m in posted}
        self.assertGreaterEqual(len(months), 5)
        self.assertTrue(all(FIRST_DAY <= m.date <= TODAY for m in posted))
        self.assertEqual(set(posted.currency_id.mapped("name")), {self.company.currency_id.name, books.foreign.name})
        self.assertEqual(set(posted.mapped("move_type")), {"out_invoice", "in_invoice", "out_refund", "in_refund"})

    def test_amounts_with_cents_floats_cannot_hold(self):
        totals = [Decimal(str(m.amount_total)) for m in self.books.invoices]
        self.assertTrue(any(total != total.to_integral_value() for total in totals))
        self.assertGreater(sum(not_binary_exact(t) for t in totals), len(totals) // 2)

    def test_payments_partial_full_grouped_late_and_cancelled(self):
        books = self.books
        states = set(books.invoices.mapped("payment_state"))
        self.assertTrue({"not_paid", "partial", "paid", "reversed"} <= states, states)
        live = books.payments - books.cancelled_payments
        self.assertTrue(live.filtered(lambda p: len(p.reconciled_invoice_ids) > 1), "a payment of several invoices")
        self.assertTrue(
            live.filtered(lambda p: any(p.date.month != inv.date.month for inv in p.reconciled_invoice_ids)),
            "a payment after its invoice's month",
        )
        self.assertEqual(books.cancelled_payments.state, "canceled")
        self.assertTrue(live.filtered(lambda p: p.currency_id == books.foreign))

    def test_exchange_differences_are_booked(self):
        exchange_journal = self.company.currency_exchange_journal_id
        moves = self.env["account.move"].search([("journal_id", "=", exchange_journal.id), ("state", "=", "posted")])
        self.assertTrue(moves, "payments at another rate than their invoice book exchange differences")

    def test_reversals_resets_cancellations_and_vendor_references(self):
        books = self.books
        reversals = books.credit_notes.filtered("reversed_entry_id")
        self.assertTrue(reversals)
        self.assertIn("Reversal of", reversals[0].display_name)
        self.assertTrue(books.credit_notes - reversals, "standalone credit notes")
        self.assertTrue(all(bill.ref and bill.ref in bill.display_name for bill in books.bills))
        self.assertEqual(set(books.cancelled.mapped("state")), {"cancel"})
        self.assertEqual(set(books.reset_and_reposted.mapped("state")), {"posted"})

    def test_instalments_analytics_and_child_contacts(self):
        books = self.books
        instalments = books.invoices.filtered(
            lambda m: (
                m.state == "posted" and len(m.line_ids.filtered(lambda line: line.display_type == "payment_term")) > 1
            )
        )
        self.assertTrue(instalments, "an invoice due in instalments")
        self.assertTrue(books.invoices.invoice_line_ids.filtered("analytic_distribution"))
        self.assertTrue(books.invoices.filtered(lambda m: m.partner_id.parent_id), "invoices to an invoice address")
        self.assertEqual(set(books.addresses.mapped("type")), {"invoice", "delivery"})
        self.assertEqual(len(set(books.customers.mapped("property_payment_term_id"))), 6)

    # --- what the platform last heard is what Odoo holds ----------------------------------

    def test_every_document_was_delivered(self):
        jobs = self.Job.search([("backend_id", "=", self.backend.id)])
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        sent = self.books.moves.filtered(lambda m: m.state == "posted" or m in self.books.cancelled)
        self.assertEqual(set(jobs.move_id.ids), set(sent.ids))
