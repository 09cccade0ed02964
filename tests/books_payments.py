"""Checks of the payment lifecycle on the realistic books (a mixin of tests/test_books.py):
what platforms last heard of each document is what Odoo holds, and so is the warehouse."""

import secrets
import uuid
from contextlib import closing
from decimal import Decimal

from psycopg2 import sql

from odoo.tools import config

from .books import money
from .common import allocations_in_odoo
from .test_warehouse import SCHEMA, server_connection

INVOICE_TYPES = ("out_invoice", "out_refund", "in_invoice", "in_refund")


def decimals(rows):
    """``rows`` with every text that reads as a number turned into a Decimal (exact): money cast to
    text on either side compares as decimals, whatever its trailing zeros."""

    def value(item):
        if isinstance(item, str):
            try:
                return Decimal(item)
            except ArithmeticError:
                return item
        return item

    return sorted((tuple(value(item) for item in row) for row in rows), key=repr)


class PaymentsOnBooks:
    """The books are written with a PostgreSQL warehouse backend beside the webhook one."""

    @classmethod
    def _before_books(cls):
        super()._before_books()
        suffix = uuid.uuid4().hex[:12]
        cls.wh_db = cls.wh_role = f"fs_whb_{suffix}"
        password = "pw_" + secrets.token_hex(12)
        with closing(server_connection()) as conn, conn.cursor() as cr:
            cr.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(cls.wh_role)), [password])
            cr.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(cls.wh_db), sql.Identifier(cls.wh_role))
            )
        cls.addClassCleanup(cls._drop_books_warehouse)
        cls.wh = cls.env["finance.sync.backend"].create(
            {
                "name": "Books warehouse",
                "transport": "warehouse",
                "warehouse_host": "127.0.0.1",
                "warehouse_port": int(config["db_port"] or 5432),
                "warehouse_database": cls.wh_db,
                "warehouse_user": cls.wh_role,
                "warehouse_password": password,
                "warehouse_sslmode": "disable",
                "warehouse_schema": SCHEMA,
                "signing_enabled": False,
                "company_ids": [(6, 0, cls.company.ids)],
                "state": "active",
            }
        )
        action = cls.wh.action_initialize_warehouse()
        assert action["params"]["type"] == "success", action["params"]["message"]

    @classmethod
    def _drop_books_warehouse(cls):
        with closing(server_connection()) as conn, conn.cursor() as cr:
            cr.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cls.wh_db)))
            cr.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(cls.wh_role)))

    def warehouse(self, query, params=None):
        """Rows of ``query`` in the books' warehouse (``{schema}`` is its schema)."""
        with closing(server_connection(self.wh_db)) as conn, conn.cursor() as cr:
            cr.execute(sql.SQL(query).format(schema=sql.Identifier(SCHEMA)), params)
            return cr.fetchall()

    def odoo(self, query, params=None):
        self.env.flush_all()
        self.env.cr.execute(query, params)
        return self.env.cr.fetchall()

    # --- what the webhook platform last heard ------------------------------------------------

    def test_last_invoice_event_carries_odoos_figures(self):
        last = self.last_delivered(self.books.moves)
        differences = []
        for move, body in last.items():
            document, currency = body["document"], move.currency_id
            expected = {
                "state": move.state,
                "payment_state": move.payment_state,
                "total": money(move.amount_total, currency),
                "residual": money(move.amount_residual, currency),
            }
            got = {
                "state": document["state"],
                "payment_state": document["payment_state"],
                "total": document["amounts"]["total"],
                "residual": document["amounts"]["residual"],
            }
            if got != expected:
                differences.append((move.name, got, expected))
        self.assertFalse(differences, f"{len(differences)} of {len(last)} documents differ: {differences[:5]}")

    def test_last_payment_event_carries_odoos_state_and_settlement(self):
        payments = self.books.payments
        last = self.last_delivered(payments)
        self.assertEqual(set(last), set(payments), "every payment was delivered")
        settled = allocations_in_odoo(self.env, payments)
        differences = []
        for payment, body in last.items():
            document = body["document"]
            got = (
                document["state"],
                document["is_reconciled"],
                {
                    item["id"]: [item["amount"], item["invoice_amount"], item["amount_company_currency"]]
                    for item in document["invoices"]
                },
            )
            expected = (
                payment.state,
                payment.is_reconciled,
                {doc_id: amounts for (pay_id, doc_id), amounts in settled.items() if pay_id == payment.id},
            )
            if got != expected:
                differences.append((payment.name, got, expected))
        self.assertFalse(differences, f"{len(differences)} of {len(last)} payments differ: {differences[:5]}")
        states = {payment.state for payment in payments}
        self.assertTrue({"paid", "canceled"} <= states, states)
        self.assertTrue(any(payment.is_reconciled for payment in payments))

    def test_a_payments_events_are_delivered_in_their_order(self):
        jobs = self.Job.search([("payment_id", "in", self.books.payments.ids), ("backend_id", "=", self.backend.id)])
        for payment, unsorted in jobs.grouped("payment_id").items():
            its_jobs = unsorted.sorted("sequence")
            self.assertEqual(its_jobs.mapped("sequence"), list(range(1, len(its_jobs) + 1)), payment.name)
            self.assertEqual(its_jobs[0].event_type, "payment.posted", payment.name)
            delivered = [job.attempt_ids.filtered(lambda a: a.outcome == "done")[:1].id for job in its_jobs]
            self.assertEqual(delivered, sorted(delivered), f"{payment.name}: delivered in sequence")

    # --- what the warehouse holds ---------------------------------------------------------------

    def test_the_warehouse_equals_odoo(self):
        self.deliver_all(self.wh)
        wh_jobs = self.Job.search([("backend_id", "=", self.wh.id)])
        self.assertEqual(set(wh_jobs.mapped("state")), {"done"}, wh_jobs.mapped("last_error")[:3])
        self.assertEqual(self.warehouse("SELECT DISTINCT outcome FROM {schema}.sync_event"), [("applied",)])
        moves = self.books.moves.filtered(lambda m: m.state == "posted" or m in self.books.cancelled)
        payments = self.books.payments
        company_digits = self.company.currency_id.decimal_places

        # Invoices, bills and credit notes: status, payment status, totals and residuals.
        self.assertEqual(
            decimals(
                self.warehouse(
                    """SELECT odoo_id, status, payment_state, amount_untaxed::text, amount_tax::text,
                              amount_total::text, amount_residual::text, amount_residual_company::text
                         FROM {schema}.fact_invoice"""
                )
            ),
            decimals(
                self.odoo(
                    """SELECT move.id, move.state, move.payment_state,
                              round(move.amount_untaxed, cur.decimal_places)::text,
                              round(move.amount_tax, cur.decimal_places)::text,
                              round(move.amount_total, cur.decimal_places)::text,
                              round(move.amount_residual, cur.decimal_places)::text,
                              round(CASE WHEN move.move_type IN ('out_refund', 'in_invoice')
                                         THEN -move.amount_residual_signed ELSE move.amount_residual_signed END,
                                    %s)::text
                         FROM account_move move JOIN res_currency cur ON cur.id = move.currency_id
                        WHERE move.id IN %s""",
                    [company_digits, tuple(moves.ids)],
                )
            ),
        )
        # Their lines.
        self.assertEqual(
            decimals(
                self.warehouse(
                    """SELECT invoice_id, count(*), sum(subtotal)::text, sum(total)::text
                         FROM {schema}.fact_invoice_line WHERE is_current GROUP BY invoice_id"""
                )
            ),
            decimals(
                self.odoo(
                    """SELECT line.move_id, count(*), round(sum(line.price_subtotal), cur.decimal_places)::text,
                              round(sum(line.price_total), cur.decimal_places)::text
                         FROM account_move_line line JOIN res_currency cur ON cur.id = line.currency_id
                        WHERE line.move_id IN %s AND line.display_type = 'product'
                        GROUP BY line.move_id, cur.decimal_places""",
                    [tuple(moves.ids)],
                )
            ),
        )
        # Payments: status, reconciliation, amount, and what each settles.
        self.assertEqual(
            decimals(self.warehouse("SELECT odoo_id, status, is_reconciled, amount::text FROM {schema}.fact_payment")),
            decimals(
                self.odoo(
                    """SELECT pay.id, pay.state, pay.is_reconciled, round(pay.amount, cur.decimal_places)::text
                         FROM account_payment pay JOIN res_currency cur ON cur.id = pay.currency_id
                        WHERE pay.id IN %s""",
                    [tuple(payments.ids)],
                )
            ),
        )
        self.assertEqual(
            decimals(
                self.warehouse(
                    """SELECT payment_id, invoice_id, amount::text, invoice_amount::text, amount_company::text
                         FROM {schema}.fact_payment_allocation WHERE is_current"""
                )
            ),
            decimals((*key, *amounts) for key, amounts in allocations_in_odoo(self.env, payments).items()),
        )
        # Receivables: what each customer owes, per currency and in the company's, against the
        # receivable lines' residuals (the partner ledger).
        self.assertEqual(
            decimals(
                self.warehouse(
                    """SELECT partner_id, currency,
                              sum(CASE WHEN kind = 'customer_credit_note' THEN -amount_residual
                                       ELSE amount_residual END)::text
                         FROM {schema}.fact_invoice
                        WHERE status = 'posted' AND kind IN ('customer_invoice', 'customer_credit_note')
                        GROUP BY partner_id, currency"""
                )
            ),
            decimals(
                self.odoo(
                    """SELECT move.commercial_partner_id, cur.name,
                              round(sum(CASE WHEN move.move_type = 'out_refund' THEN -move.amount_residual
                                             ELSE move.amount_residual END), cur.decimal_places)::text
                         FROM account_move move JOIN res_currency cur ON cur.id = move.currency_id
                        WHERE move.id IN %s AND move.state = 'posted'
                              AND move.move_type IN ('out_invoice', 'out_refund')
                        GROUP BY move.commercial_partner_id, cur.name, cur.decimal_places""",
                    [tuple(moves.ids)],
                )
            ),
        )
        owed = self.warehouse(
            """SELECT partner_id,
                      sum(CASE WHEN kind = 'customer_credit_note' THEN -amount_residual_company
                               ELSE amount_residual_company END)::text
                 FROM {schema}.fact_invoice
                WHERE status = 'posted' AND kind IN ('customer_invoice', 'customer_credit_note')
                GROUP BY partner_id"""
        )
        ledger = self.odoo(
            """SELECT line.partner_id, round(sum(line.amount_residual), %s)::text
                 FROM account_move_line line
                 JOIN account_account acc ON acc.id = line.account_id AND acc.account_type = 'asset_receivable'
                WHERE line.company_id = %s AND line.parent_state = 'posted'
                GROUP BY line.partner_id""",
            [company_digits, self.company.id],
        )
        self.assertEqual([row for row in decimals(owed) if row[1]], [row for row in decimals(ledger) if row[1]])
