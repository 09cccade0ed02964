"""Business reconciliation on realistic books (mixin of ``tests/test_books.TestRealisticBooks``).

A platform that received every event of the books silently drops about 1 % of them (a vendor
bill's and a reversal credit note's among them), then reports each month's figures, computed here
from the bodies it kept, with Decimal, as a platform would: the reconciliation names exactly what
it lacks, by document and event id, and *Re-send* closes the gap. Odoo's side of each month is
checked against Odoo's own books (a grouped read of ``account.move`` and ``account.payment``)."""

import json
import random
from collections import defaultdict
from datetime import date
from decimal import Decimal

from .books import money
from .test_inbound import event

SEED = 2611  # which events the platform drops (reproducible)
DROP_SHARE = Decimal("0.01")


def body_figures(body):
    """(event type, currency, amount, accounting date, document number) of a delivered event's
    body, read as a platform reads it (None for an event of no document)."""
    document = body.get("document") or {}
    if not document.get("date"):
        return None
    amount = (document.get("amounts") or {}).get("total", document.get("amount"))
    return body["type"], document["currency"], Decimal(amount), date.fromisoformat(document["date"]), document["number"]


def platform_data(bodies, date_from, date_to, event_ids=True, documents=True):
    """The ``data`` of the reconciliation.report of a platform holding ``bodies`` (parsed events)
    for the period: its count and Decimal sum per event type and currency of the events of the
    period, and the event ids and document numbers it holds."""
    totals = defaultdict(lambda: [0, Decimal(0)])
    held_ids, held_numbers = [], []
    for body in bodies:
        figures = body_figures(body)
        if not figures or not date_from <= figures[3] <= date_to:
            continue
        event_type, currency, amount, _day, number = figures
        totals[event_type, currency][0] += 1
        totals[event_type, currency][1] += amount
        held_ids.append(body["event_id"])
        if number and number not in held_numbers:
            held_numbers.append(number)
    data = {
        "period": {"date_from": str(date_from), "date_to": str(date_to)},
        "totals": [
            {"event_type": event_type, "currency": currency, "count": count, "amount": format(amount, "f")}
            for (event_type, currency), (count, amount) in sorted(totals.items())
        ],
    }
    if event_ids:
        data["event_ids"] = held_ids
    if documents:
        data["documents"] = held_numbers
    return data


def keys_of(bodies, date_from, date_to):
    """{(event type, currency)} of the events of ``bodies`` in the period."""
    return {figures[:2] for figures in map(body_figures, bodies) if figures and date_from <= figures[3] <= date_to}


class ReconciliationOnBooks:
    """Checks of business reconciliation on the books (``TestRealisticBooks``)."""

    # --- helpers --------------------------------------------------------------------------

    def delivered_events(self):
        """[(job, parsed body)] of every event of a document delivered to the shared backend."""
        jobs = self.Job.search([("backend_id", "=", self.backend.id), ("state", "=", "done")], order="id")
        pairs = [(job, json.loads(job.body)) for job in jobs]
        return [(job, body) for job, body in pairs if body_figures(body)]

    def month_of(self, body):
        """The month of the books ``body``'s document belongs to (None after the last one: a
        payment of the world's first days of December)."""
        day = body_figures(body)[3]
        return next((period for period in self.books.periods if period[0] <= day <= period[1]), None)

    def reconciliation_of(self, period):
        return self.env["finance.sync.reconciliation"].search(
            [("backend_id", "=", self.backend.id), ("date_from", "=", period[0]), ("date_to", "=", period[1])]
        )

    def report_period(self, bodies, period, **options):
        response = self.post(event("reconciliation.report", platform_data(bodies, *period, **options)))
        self.assertEqual(response.status_code, 202, response.text)
        self.assertEqual(response.json()["state"], "processed", response.text)
        return self.reconciliation_of(period)

    def choose_drops(self, delivered):
        """{event id} a platform silently drops: about 1 % of each month's events (at least
        one), one month kept whole, and among the dropped the posting of a vendor bill and of
        a reversal credit note."""
        rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not secrets
        by_month = defaultdict(list)
        for _job, body in delivered:
            if self.month_of(body):
                by_month[self.month_of(body)].append(body)
        clean = rng.choice(self.books.periods)
        dropped = set()
        for period, bodies in sorted(by_month.items()):
            if period == clean:
                continue
            share = max(1, int((len(bodies) * DROP_SHARE).to_integral_value()))
            dropped |= {body["event_id"] for body in rng.sample(bodies, share)}

        def posting(kind, reversal):
            candidates = [
                body
                for _job, body in delivered
                if body["type"] == "invoice.posted"
                and body["document"]["kind"] == kind
                and bool(body["document"]["reversed_entry"]) == reversal
                and self.month_of(body) not in (clean, None)
            ]
            return rng.choice(candidates)["event_id"] if candidates else None

        dropped |= {posting("vendor_bill", False), posting("customer_credit_note", True)} - {None}
        return dropped, clean

    def assert_names_documents(self, rec, jobs):
        """The reconciliation's difference and its exception's message name each of ``jobs``
        (the first ten are spelled out) by number, partner, amount, date and event id."""
        self.assertLessEqual(len(jobs), 10, "a platform that drops 1 % of a month's events")
        for job in jobs:
            document = job.payment_id or job.move_id
            currency = document.currency_id
            amount = job.payment_id.amount if job.payment_id else job.move_id.amount_total
            for text in (rec.difference, rec.exception_id.message):
                for part in (document.name, document.partner_id.display_name, money(amount, currency), job.event_uuid):
                    self.assertIn(part, text)
                self.assertIn(str(document.date), text)

    # --- a platform that drops events --------------------------------------------------------

    def test_reconciliation_names_exactly_what_a_platform_dropped_and_resend_closes_the_gap(self):
        delivered = self.delivered_events()
        jobs = {job.event_uuid: job for job, _body in delivered}
        dropped, clean = self.choose_drops(delivered)
        self.assertGreater(len(dropped), 2)
        kinds = {(body["document"]["kind"], bool(body["document"].get("reversed_entry"))) for _j, body in delivered}
        self.assertTrue({("vendor_bill", False), ("customer_credit_note", True)} <= kinds)
        dropped_bodies = [body for _job, body in delivered if body["event_id"] in dropped]
        self.assertIn("vendor_bill", {body["document"]["kind"] for body in dropped_bodies})
        self.assertTrue(any(body["document"].get("reversed_entry") for body in dropped_bodies))
        kept = [body for _job, body in delivered if body["event_id"] not in dropped]

        mismatched = {}
        for period in self.books.periods:
            expected = {body["event_id"] for body in dropped_bodies if self.month_of(body) == period}
            rec = self.report_period(kept, period)
            if not expected:
                self.assertEqual(period, clean)
                self.assertEqual(rec.state, "matched", rec.difference)
                self.assertFalse(rec.exception_id)
                self.assertFalse(rec.line_ids.filtered("differs"))
                continue
            self.assertEqual(rec.state, "mismatched", period)
            self.assertCountEqual(rec.missing_event_ids, expected, "exactly the dropped events, no more, no fewer")
            self.assertFalse(rec.unknown_references, "every reference the platform holds is Odoo's")
            self.assertEqual(set(rec.missing_job_ids.mapped("event_uuid")), expected)
            missing_jobs = rec.missing_job_ids.sorted(lambda j: (j.document_date, j.id))
            self.assertEqual(
                set(missing_jobs.mapped("document_number")),
                {(jobs[event_id].move_id or jobs[event_id].payment_id).name for event_id in expected},
            )
            self.assert_names_documents(rec, missing_jobs)
            differing = {(line.event_type, line.currency_code) for line in rec.line_ids.filtered("differs")}
            lost = [body for body in dropped_bodies if body["event_id"] in expected]
            self.assertEqual(differing, keys_of(lost, *period), "only the totals the dropped events belong to")
            self.assertEqual(rec.exception_id.state, "new")
            self.assertEqual(len(rec.activity_ids), 1)
            mismatched[period] = (rec, expected)
        self.assertEqual(len(mismatched), len(self.books.periods) - 1)

        # Re-send: the platform takes what it receives, then reports what it now holds.
        for period, (rec, expected) in mismatched.items():
            self.receiver.clear()
            self.respond(200)
            rec.action_resend_missing()
            received = self.received()
            self.assertEqual({headers["webhook-id"] for headers, _body, _raw in received}, expected)
            for headers, _body, raw in received:
                self.assertEqual(raw.decode(), jobs[headers["webhook-id"]].body, "the same bytes as delivered first")
            kept += [body for _headers, body, _raw in received]
            exception, todo = rec.exception_id, rec.activity_ids
            self.assertEqual(self.report_period(kept, period), rec)
            self.assertEqual(rec.state, "matched", rec.difference)
            self.assertFalse(rec.missing_event_ids)
            self.assertEqual(exception.state, "resolved")
            self.assertFalse(rec.activity_ids, "no to-do left open")
            self.assertFalse(todo.active, "the to-do is marked done")
            self.assertTrue(todo.date_done)

    def test_a_platform_keeping_document_numbers_is_matched_on_the_numbers_events_carry(self):
        """Vendor bills ("BILL/… (SUP-0042)"), reversals ("RINV/… (Reversal of: …)") and payments
        are known by their number: a platform listing documents only is matched, and one that
        lacks a few documents is told exactly which events."""
        delivered = self.delivered_events()
        bill = self.books.bills.filtered(lambda m: m.state == "posted")[:1]
        reversal = self.books.credit_notes.filtered("reversed_entry_id")[:1]
        payment = (self.books.payments - self.books.cancelled_payments)[:1]
        self.assertNotEqual(bill.display_name, bill.name)
        self.assertNotEqual(reversal.display_name, reversal.name)
        lost_documents = {bill.name, reversal.name, payment.name}
        kept = [body for _job, body in delivered if body["document"]["number"] not in lost_documents]
        lost = [(job, body) for job, body in delivered if body["document"]["number"] in lost_documents]
        self.assertEqual(
            {(job.move_id or job.payment_id) for job, _body in lost}, {bill, reversal, payment}, "all their events"
        )
        for period in self.books.periods:
            expected = {body["event_id"] for _job, body in lost if self.month_of(body) == period}
            rec = self.report_period(kept, period, event_ids=False)
            self.assertFalse(rec.unknown_references, "every number the platform holds is one Odoo sent")
            self.assertCountEqual(rec.missing_event_ids or [], expected)
            self.assertEqual(rec.state, "mismatched" if expected else "matched", rec.difference)
            if expected:
                self.assert_names_documents(rec, rec.missing_job_ids)

    # --- Odoo's side against Odoo's books ----------------------------------------------------

    def test_odoo_side_of_each_month_is_what_the_books_hold(self):
        """Odoo's control totals of each month, against a grouped read of the posted invoices,
        bills and credit notes (their amount_total per move_type and currency: a credit note
        counts positive) and of the payments delivered; the other events' totals against the
        bodies delivered."""
        delivered = self.delivered_events()
        Move, Payment = self.env["account.move"], self.env["account.payment"]
        posted_jobs = [(job, body) for job, body in delivered if body["type"] == "invoice.posted"]
        # A posting superseded since (the document was reset to draft, then posted again or
        # cancelled) is no longer in the books: its figures are the ones delivered then.
        last_posting = {}
        for job, _body in posted_jobs:
            last_posting[job.move_id] = max(last_posting.get(job.move_id, job), job, key=lambda j: j.sequence)
        superseded = [
            body for job, body in posted_jobs if job.move_id.state != "posted" or last_posting[job.move_id] != job
        ]
        self.assertTrue(superseded, "the books reset and cancel invoices")
        delivered_moves = Move.browse({job.move_id.id for job, _body in posted_jobs})
        delivered_payments = Payment.browse(
            {job.payment_id.id for job, body in delivered if body["type"] == "payment.posted"}
        )
        for period in self.books.periods:
            first, last = period
            oracle = defaultdict(lambda: [0, Decimal(0)])
            groups = Move._read_group(
                [
                    ("id", "in", delivered_moves.ids),
                    ("state", "=", "posted"),
                    ("date", ">=", first),
                    ("date", "<=", last),
                ],
                ["move_type", "currency_id"],
                ["amount_total:sum", "__count"],
            )
            self.assertGreater(len({move_type for move_type, _c, _s, _n in groups}), 1)
            for _move_type, currency, total, count in groups:
                oracle["invoice.posted", currency.name][0] += count
                oracle["invoice.posted", currency.name][1] += Decimal(money(total, currency))
            for body in superseded:
                event_type, code, amount, day, _number = body_figures(body)
                if first <= day <= last:
                    oracle[event_type, code][0] += 1
                    oracle[event_type, code][1] += amount
            for currency, total, count in Payment._read_group(
                [("id", "in", delivered_payments.ids), ("date", ">=", first), ("date", "<=", last)],
                ["currency_id"],
                ["amount:sum", "__count"],
            ):
                oracle["payment.posted", currency.name][0] += count
                oracle["payment.posted", currency.name][1] += Decimal(money(total, currency))
            others = [body for _job, body in delivered if body["type"] not in ("invoice.posted", "payment.posted")]
            for total in platform_data(others, first, last)["totals"]:
                oracle[total["event_type"], total["currency"]] = [total["count"], Decimal(total["amount"])]

            rec = self.env["finance.sync.reconciliation"].create(
                {"backend_id": self.backend.id, "company_id": self.company.id, "date_from": first, "date_to": last}
            )
            odoo = rec._odoo_totals()
            self.assertEqual(set(odoo), set(oracle), period)
            for key, (count, amount) in oracle.items():
                self.assertEqual(odoo[key][0], count, key)
                self.assertEqual(odoo[key][1], amount, key)
            lines = {(line.event_type, line.currency_code): line for line in rec.line_ids}
            self.assertEqual(
                {key: line.odoo_count for key, line in lines.items()}, {k: v[0] for k, v in oracle.items()}
            )
            # A report of exactly the books' figures is matched.
            report = {
                "period": {"date_from": str(first), "date_to": str(last)},
                "totals": [
                    {"event_type": t, "currency": c, "count": n, "amount": format(a, "f")}
                    for (t, c), (n, a) in oracle.items()
                ],
            }
            self.assertEqual(self.post(event("reconciliation.report", report)).status_code, 202)
            self.assertEqual(rec.state, "matched", rec.difference)
