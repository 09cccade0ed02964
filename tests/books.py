"""Realistic books: months of a company's invoicing, generated from a seed.

Tests of money compare the module's answers with Odoo's own figures on books like a real
company's, not on a few round amounts:

- five months of customer invoices and vendor bills, one to four lines each, with prices and
  quantities whose amounts have cents binary floats cannot hold (12.10, 0.07, 1234.57 ...),
  discounts, two taxes and analytic distributions;
- two currencies: the company's and a second one whose rate moves twice a month, so payments
  at another rate than their invoice's book exchange differences;
- twelve customers on different payment terms (one in instalments), each with an invoice and a
  delivery address; suppliers whose bills carry their own references (``SUP-0042``);
- full and partial payments, payments dated after the end of their invoice's month, payments
  of several invoices at once;
- credit notes: reversals of posted invoices (``RINV/... (Reversal of: ...)``) and standalone
  ones, a bill refund; invoices reset to draft and posted again; cancelled invoices; a payment
  reset and cancelled.

Everything goes through Odoo's own paths (``action_post``, the payment register wizard, the
reversal wizard, ``button_draft`` / ``button_cancel``), so the module captures it as it would
in production. The generator is deterministic for a seed; its size is a parameter, so a test
takes what it needs.
"""

import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from odoo.fields import Command

from .. import const
from ..models.res_partner import TRANSACTION_PARTNER_JOBS
from .common import FinanceSyncCase

# The months the books cover, and the day the world stands on (payments may fall after the last
# month's end, never after this day).
FIRST_DAY = date(2026, 7, 1)
MONTHS = 5
TODAY = date(2026, 12, 5)
FOREIGN_CURRENCY = "EUR"

# Prices in cents: many of these amounts have no exact binary representation.
PRICE_CENTS = (7, 10, 99, 1210, 1999, 3333, 4567, 12345, 23456, 123457, 98765, 250001)
QUANTITIES = ("1", "2", "3", "0.5", "7", "12", "1.25")
DISCOUNTS = ("0", "0", "0", "2.5", "10")
PAYMENT_TERMS = (
    "account.account_payment_term_immediate",
    "account.account_payment_term_15days",
    "account.account_payment_term_30days",
    "account.account_payment_term_45days",
    "account.account_payment_term_end_following_month",
    "account.account_payment_term_advance_60days",  # instalments: 30 % now, the balance in 60 days
)


def month_starts(first=FIRST_DAY, months=MONTHS):
    """The first day of each month of the books."""
    starts = []
    year, month = first.year, first.month
    for _i in range(months):
        starts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def month_end(day):
    """The last day of ``day``'s month."""
    following = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    return following - timedelta(days=1)


@dataclass
class Books:
    """What the generator made; tests read their figures from Odoo, not from here."""

    company: object
    foreign: object  # res.currency: the second currency
    customers: object  # res.partner (commercial entities)
    suppliers: object
    addresses: object  # the customers' invoice and delivery contacts
    invoices: object = None  # account.move: every customer invoice, whatever its state now
    bills: object = None
    credit_notes: object = None  # customer credit notes (reversals and standalone)
    bill_refunds: object = None
    payments: object = None  # account.payment
    reset_and_reposted: object = None  # invoices reset to draft, then posted again
    cancelled: object = None  # invoices reset to draft, then cancelled
    cancelled_payments: object = None
    periods: list = field(default_factory=list)  # [(first day, last day)] of each month

    @property
    def moves(self):
        """Every invoice, bill and credit note of the books."""
        return self.invoices | self.bills | self.credit_notes | self.bill_refunds

    def in_period(self, records, period):
        """``records`` whose accounting date falls in ``period`` (first day, last day)."""
        first, last = period
        return records.filtered(lambda r: first <= r.date <= last)


class BooksGenerator:
    """Builds :class:`Books` for a test class (an ``AccountTestInvoicingCommon``) in its company.

    :param case: the test class (its ``env``, ``company_data`` and helpers are used)
    :param seed: the random seed; the same seed gives the same books
    :param invoices_per_month: customer invoices per month (bills are a third of that)
    """

    def __init__(self, case, seed=2026, invoices_per_month=24, months=MONTHS):
        self.case = case
        self.env = case.env
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self.invoices_per_month = invoices_per_month
        self.months = month_starts(months=months)
        self.company = case.company_data["company"]

    # --- public -------------------------------------------------------------------------

    def build(self):
        foreign = self._foreign_currency()
        customers, addresses = self._customers()
        suppliers = self._suppliers()
        books = Books(
            company=self.company,
            foreign=foreign,
            customers=customers,
            suppliers=suppliers,
            addresses=addresses,
            periods=[(start, month_end(start)) for start in self.months],
        )
        products = self._products()
        analytic = self.analytic = self._analytic_accounts()
        invoice_vals, bill_vals = [], []
        for start in self.months:
            for _i in range(self.invoices_per_month):
                invoice_vals.append(self._move_vals("out_invoice", start, customers, products, analytic, foreign))
            for _i in range(max(1, self.invoices_per_month // 3)):
                bill_vals.append(self._move_vals("in_invoice", start, suppliers, products, analytic, foreign))
        Move = self.env["account.move"].with_company(self.company)
        books.invoices = Move.create(invoice_vals)
        books.bills = Move.create(bill_vals)
        (books.invoices | books.bills).action_post()
        self._commit()
        self._analyze()
        books.credit_notes, books.bill_refunds = self._credit_notes(books, products, foreign)
        self._commit()
        books.reset_and_reposted, books.cancelled = self._resets_and_cancellations(books)
        self._commit()
        books.payments, books.cancelled_payments = self._payments(books)
        self._commit()
        return books

    def _commit(self):
        """End a business transaction as a commit would: what runs just before it (payment
        status changes are captured there) runs, and what the module keeps until the commit is
        forgotten. Each step of the books is one transaction, as it would be in production."""
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.cr.postcommit.data.pop(TRANSACTION_PARTNER_JOBS, None)
        self.env.cr.postcommit.data.pop(const.TRANSACTION_JOBS, None)

    def _analyze(self):
        """Let PostgreSQL's planner see the books' size. The test's transaction is never
        committed, so the tables' statistics still describe a nearly empty database, and some of
        Odoo's reconciliation queries (joins on ``debit_move_id OR credit_move_id``) then take
        nested loops that cost minutes on a few thousand lines. ANALYZE counts the rows the
        transaction itself wrote."""
        self.env.flush_all()
        self.env.cr.execute(
            "ANALYZE account_move, account_move_line, account_partial_reconcile, account_payment, finance_sync_job"
        )

    # --- master data --------------------------------------------------------------------

    def _foreign_currency(self):
        """The second currency, its rate moving on the 1st and the 16th of every month (and on
        the world's today), in this company."""
        rates = [("2026-01-01", 0.9120)]
        rate = Decimal("0.9120")
        for start in [*self.months, date(TODAY.year, TODAY.month, 1)]:
            for day in (start, start.replace(day=16)):
                rate += Decimal(self.rng.randint(-180, 180)) / 10000
                rates.append((str(day), float(rate)))
        return self.case.setup_other_currency(FOREIGN_CURRENCY, rates=rates)

    def _customers(self):
        terms = [self.env.ref(xmlid) for xmlid in PAYMENT_TERMS]
        vals = []
        for i in range(12):
            vals.append(
                {
                    "name": f"Customer {i + 1:02d} {self.rng.choice(('Ltd', 'GmbH', 'SAS', 'BV'))}",
                    "is_company": True,
                    "email": f"ap@customer{i + 1:02d}.example.com",
                    "ref": f"C{1000 + i}",
                    "street": f"{self.rng.randint(1, 200)} Market Street",
                    "city": "Springfield",
                    "property_payment_term_id": terms[i % len(terms)].id,
                }
            )
        customers = self.env["res.partner"].create(vals)
        addresses = self.env["res.partner"].create(
            [
                {"name": f"{customer.name}, {kind}", "type": kind, "parent_id": customer.id, "city": "Shelbyville"}
                for customer in customers
                for kind in ("invoice", "delivery")
            ]
        )
        return customers, addresses

    def _suppliers(self):
        return self.env["res.partner"].create(
            [
                {
                    "name": f"Supplier {i + 1:02d} Inc",
                    "is_company": True,
                    "ref": f"S{2000 + i}",
                    "property_supplier_payment_term_id": self.env.ref(PAYMENT_TERMS[(i + 2) % len(PAYMENT_TERMS)]).id,
                }
                for i in range(6)
            ]
        )

    def _products(self):
        case = self.case
        return [
            case._create_product(
                name=f"Article {code}",
                default_code=code,
                lst_price=0.0,
                taxes_id=[Command.set(taxes.ids)],
                supplier_taxes_id=[Command.set(case.tax_purchase_a.ids)],
            )
            for code, taxes in (
                ("ART-100", case.tax_sale_a),
                ("ART-200", case.tax_sale_a),
                ("ART-300", case.tax_sale_b),
                ("SRV-400", case.tax_sale_a),
                ("SRV-500", case.tax_sale_a | case.tax_sale_b),
            )
        ]

    def _analytic_accounts(self):
        plan = self.env["account.analytic.plan"].create({"name": "Departments"})
        return self.env["account.analytic.account"].create(
            [
                {"name": name, "code": code, "plan_id": plan.id, "company_id": self.company.id}
                for name, code in (("Sales", "SAL"), ("Support", "SUP"), ("Projects", "PRJ"))
            ]
        )

    # --- documents ----------------------------------------------------------------------

    def _move_vals(self, move_type, start, partners, products, analytic, foreign):
        rng = self.rng
        day = start + timedelta(days=rng.randrange((month_end(start) - start).days + 1))
        partner = rng.choice(partners)
        if move_type == "out_invoice" and rng.random() < 0.3:
            # Some invoices go to the customer's invoice address (a child contact).
            partner = partner.child_ids.filtered(lambda c: c.type == "invoice")[:1] or partner
        vals = {
            "move_type": move_type,
            "partner_id": partner.id,
            "invoice_date": day,
            "date": day,
            "currency_id": (foreign if rng.random() < 0.25 else self.company.currency_id).id,
            "invoice_line_ids": [self._line(products, analytic) for _i in range(rng.randint(1, 4))],
        }
        if move_type == "in_invoice":
            vals["ref"] = f"SUP-{rng.randint(1, 9999):04d}"
        return vals

    def _line(self, products, analytic):
        rng = self.rng
        product = rng.choice(products)
        line = {
            "product_id": product.id,
            "quantity": float(rng.choice(QUANTITIES)),
            "price_unit": rng.choice(PRICE_CENTS) / 100,
            "discount": float(rng.choice(DISCOUNTS)),
        }
        if rng.random() < 0.4:
            first, second = rng.sample(list(analytic), 2)
            line["analytic_distribution"] = {str(first.id): 60.0, str(second.id): 40.0}
        return Command.create(line)

    def _credit_notes(self, books, products, foreign):
        """Reversals of some posted invoices (full credit notes, reconciled with them by Odoo),
        standalone credit notes, and a refund of a bill."""
        rng = self.rng
        reversed_invoices = books.invoices.browse(rng.sample(books.invoices.ids, max(2, len(books.invoices) // 25)))
        credit_notes = self.env["account.move"]
        for invoice in reversed_invoices:
            reversal = (
                self.env["account.move.reversal"]
                .with_company(self.company)
                .with_context(active_model="account.move", active_ids=invoice.ids)
                .create(
                    {"journal_id": invoice.journal_id.id, "date": invoice.date + timedelta(days=rng.randint(1, 20))}
                )
            )
            action = reversal.refund_moves()
            credit_notes |= self.env["account.move"].browse(action["res_id"])
        credit_notes.filtered(lambda m: m.state == "draft").action_post()
        standalone = self.env["account.move"].create(
            [
                self._move_vals("out_refund", start, books.customers, products, self.analytic, foreign)
                for start in self.months[1:]
            ]
        )
        bill = rng.choice(books.bills)
        bill_refund = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=bill.ids)
            .create({"journal_id": bill.journal_id.id, "date": bill.date})
        )
        bill_refunds = self.env["account.move"].browse(bill_refund.refund_moves()["res_id"])
        (standalone | bill_refunds).action_post()
        return credit_notes | standalone, bill_refunds

    def _resets_and_cancellations(self, books):
        """A few invoices reset to draft and posted again (one with a changed price), a few
        reset and cancelled."""
        open_invoices = books.invoices.filtered(lambda m: m.payment_state == "not_paid" and not m.reversal_move_ids)
        chosen = open_invoices.browse(self.rng.sample(open_invoices.ids, 6))
        reposted, cancelled = chosen[:4], chosen[4:]
        reposted.button_draft()
        line = reposted[0].invoice_line_ids[:1]
        line.price_unit = line.price_unit + 0.07
        reposted.action_post()
        cancelled.button_draft()
        cancelled.button_cancel()
        return reposted, cancelled

    def _payments(self, books):
        """Full, partial and grouped payments of invoices and bills, some after their month,
        some at another rate than the invoice's; one payment reset and cancelled. Payments go
        out in weekly runs (on Fridays), as a finance team makes them: a run registers its
        full payments together."""
        rng = self.rng
        payments = self.env["account.payment"]
        bank = self.case.company_data["default_journal_bank"]
        payable = (books.invoices | books.bills).filtered(
            lambda m: m.state == "posted" and m.payment_state == "not_paid"
        )
        grouped, runs = {}, {}
        for move in payable:
            draw = rng.random()
            if draw < 0.3:
                continue  # still open
            day = payment_run(move.invoice_date + timedelta(days=rng.randint(0, 45)))
            if draw < 0.45:
                # Partial: a share with cents, in the document's currency; half of them get a
                # second partial payment two weeks later (instalments paid as they fall due).
                payments |= self._pay_share(move, day, bank)
                if draw < 0.375 and move.payment_state == "partial":
                    payments |= self._pay_share(move, payment_run(day + timedelta(days=14)), bank)
            elif draw < 0.6 and move.move_type == "out_invoice":
                # Paid together with the customer's other invoices of the same currency.
                key = (move.commercial_partner_id.id, move.currency_id.id)
                grouped.setdefault(key, (day, self.env["account.move"]))
                grouped[key] = (max(grouped[key][0], day), grouped[key][1] | move)
            else:
                key = (day, move.move_type)
                runs[key] = runs.get(key, self.env["account.move"]) | move
        for (day, _move_type), moves in sorted(runs.items()):
            payments |= self._register(moves, day, bank)
        for day, moves in grouped.values():
            payments |= self._register(moves, day, bank, group=True)
        # One payment reset to draft and cancelled: its invoice is open again.
        cancelled = payments.filtered(lambda p: p.state in ("in_process", "paid"))[:1]
        cancelled.action_draft()
        cancelled.action_cancel()
        return payments, cancelled

    def _pay_share(self, move, day, bank):
        """Pay 15 to 85 % of what ``move`` still owes on ``day``, in its currency."""
        share = Decimal(self.rng.randint(15, 85)) / 100
        amount = (Decimal(str(move.amount_residual)) * share).quantize(Decimal("0.01"))
        return self._register(move, day, bank, amount=float(amount))

    def _register(self, moves, day, bank, amount=None, group=False):
        vals = {"payment_date": day, "journal_id": bank.id, "group_payment": group}
        if amount is not None:
            vals.update(amount=amount, payment_difference_handling="open")
        wizard = (
            self.env["account.payment.register"]
            .with_company(self.company)
            .with_context(active_model="account.move", active_ids=moves.ids)
            .create(vals)
        )
        payments = wizard._create_payments()
        self._commit()
        return payments


def money(amount, currency):
    """Odoo's stored ``amount`` as the decimal string of ``currency``'s precision."""
    return f"{Decimal(str(currency.round(amount))):.{currency.decimal_places}f}"


def payment_run(day):
    """The payment run that pays what falls due on ``day``: the Friday on or after it, or the
    world's today when that Friday has not come yet."""
    return min(TODAY, day + timedelta(days=(4 - day.weekday()) % 7))


def build_books(case, **kwargs):
    """Realistic books in ``case``'s company (see :class:`BooksGenerator` for the options)."""
    return BooksGenerator(case, **kwargs).build()


class RealisticBooksCase(FinanceSyncCase):
    """A test class on realistic books, built once for the class after its backends exist, so
    that the module captures every document as it happens. A mixin that needs something in
    place before the books are written (another backend, a mapping) extends
    ``_before_books``; every event is delivered to the shared receiver (answering 200) once the
    books are written."""

    books_options = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._before_books()
        cls.books = build_books(cls, **cls.books_options)
        cls._after_books()

    @classmethod
    def _before_books(cls):
        """Hook: set up what must exist before the first document is posted."""

    @classmethod
    def _after_books(cls):
        """Deliver what the books produced to the receiver (answering 200)."""
        cls.receiver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
        cls.deliver_all(cls.backend)
        cls.receiver.clear()

    @classmethod
    def deliver_all(cls, backend):
        """Dispatch until nothing more is due for ``backend`` (a document's events go one after
        the other, a partner's before its documents)."""
        dispatcher = cls.env["finance.sync.dispatcher"]
        for _round in range(50):
            if not dispatcher._dispatch(backends=backend.sudo()):
                return
        raise AssertionError("the outbox did not drain in 50 rounds")

    def last_delivered(self, records):
        """{record: parsed body of the last event delivered for it}, from the bodies sent."""
        field = "move_id" if records._name == "account.move" else "payment_id"
        jobs = self.Job.search(
            [(field, "in", records.ids), ("backend_id", "=", self.backend.id), ("state", "=", "done")],
            order="sequence",
        )
        return {job[field]: json.loads(job.body) for job in jobs}
