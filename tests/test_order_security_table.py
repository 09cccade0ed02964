"""What a signed ``order.create`` can steer into the order Odoo writes as the superuser, against
one table, through Odoo's real HTTP server (see SECURITY.md, *Orders written as the superuser*).

Each row changes one value of a valid order (a partner, product, tax, currency, salesperson or
team of another company, archived, not named by the mappings, of the wrong use, or a field name
the schema does not know) and says how it must end: ``422`` and the refusal's code (nothing
stored at all), or ``failed`` (the event is kept, an ``inbound_invalid`` exception names the
code, and no order, line or binding is written). Every row is checked for nothing written.

To check a new case, add a row to ``ROWS``: ``change(case, data)`` edits the order's data in
place (``case`` offers the records made in ``setUpClass``).
"""

from collections.abc import Callable
from dataclasses import dataclass

from odoo.tests import tagged
from odoo.tools import html2plaintext

from .test_inbound import event
from .test_inbound_orders import OrderCase


@dataclass(frozen=True)
class Row:
    label: str
    change: Callable
    status: int  # 422: refused before anything is stored; 202: stored, then failed
    answer: str  # the refusal's error code (422), or the text the exception must name (202)


def line(data, **values):
    data["lines"][0].update(values)


def mapped(kind, field, attribute, code):
    """A row's change: map ``code`` to ``case.<attribute>`` in the backend's set, then use it."""

    def change(case, data):
        case.env["finance.sync.mapping"].create(
            {"set_id": case.mapping_set.id, "kind": kind, field: case.records[attribute].id, "external_code": code}
        )
        if kind == "partner":
            data["partner"] = {"code": code}
        elif kind == "tax":
            line(data, taxes=[code])
        elif kind == "user":
            data["salesperson"] = code
        else:
            data["team"] = code

    return change


ROWS = [
    # --- field names: the schema names every field; nothing else reaches the order ------------
    Row("a field the schema does not know", lambda c, d: d.update(company_id=1), 422, "schema_violation"),
    Row("a company", lambda c, d: d.update(company="Other"), 422, "schema_violation"),
    Row("a pricelist id", lambda c, d: d.update(pricelist_id=1), 422, "schema_violation"),
    Row("a fiscal position", lambda c, d: d.update(fiscal_position_id=1), 422, "schema_violation"),
    Row("payment terms", lambda c, d: d.update(payment_term_id=1), 422, "schema_violation"),
    Row("a line's account", lambda c, d: line(d, account="400000"), 422, "schema_violation"),
    Row("a line's analytic", lambda c, d: line(d, analytic_distribution={"1": 100}), 422, "schema_violation"),
    Row("a line's tax ids", lambda c, d: line(d, tax_ids=[1]), 422, "schema_violation"),
    Row("a negative discount", lambda c, d: line(d, discount="-5"), 422, "schema_violation"),
    Row("a discount over 100 %", lambda c, d: line(d, discount="150"), 202, "150"),
    # --- partner ---------------------------------------------------------------------------------
    Row("a partner of another company", mapped("partner", "partner_id", "their_partner", "P-OTHER"), 202, "P-OTHER"),
    Row("an archived partner", mapped("partner", "partner_id", "old_partner", "P-OLD"), 202, "P-OLD"),
    Row("a partner no mapping names", lambda c, d: d.update(partner={"code": "P-NOBODY"}), 202, "P-NOBODY"),
    # --- products: by internal reference, in the company, active ---------------------------------
    Row("a product of another company", lambda c, d: line(d, product="THEIR-SEAT"), 202, "THEIR-SEAT"),
    Row("an archived product", lambda c, d: line(d, product="OLD-SEAT"), 202, "OLD-SEAT"),
    Row("a product that cannot be sold", lambda c, d: line(d, product="BUY-ONLY"), 202, "BUY-ONLY"),
    # --- taxes: the company's active sales taxes ---------------------------------------------------
    Row("a tax of another company", mapped("tax", "tax_id", "their_tax", "T-OTHER"), 202, "T-OTHER"),
    Row("an archived tax", mapped("tax", "tax_id", "old_tax", "T-OLD"), 202, "T-OLD"),
    Row("a purchase tax", mapped("tax", "tax_id", "purchase_tax", "T-PURCHASE"), 202, "T-PURCHASE"),
    # --- currency and pricelist ----------------------------------------------------------------
    Row("an inactive currency", lambda c, d: d.update(currency=c.records["inactive_currency"].name), 202, "currency"),
    Row(
        "a currency only another company has a pricelist in",
        lambda c, d: d.update(currency=c.records["their_currency"].name),
        202,
        "pricelist",
    ),
    # --- salesperson and team ------------------------------------------------------------------
    Row("a salesperson of another company", mapped("user", "mapped_user_id", "their_rep", "U-OTHER"), 202, "U-OTHER"),
    Row("an archived salesperson", mapped("user", "mapped_user_id", "old_rep", "U-OLD"), 202, "U-OLD"),
    Row(
        "a team of another company", mapped("sales_team", "sales_team_res_id", "their_team", "S-OTHER"), 202, "S-OTHER"
    ),
    Row("an archived team", mapped("sales_team", "sales_team_res_id", "old_team", "S-OLD"), 202, "S-OLD"),
    Row("a salesperson nobody is", lambda c, d: d.update(salesperson="ceo@example.com"), 202, "ceo@example.com"),
]


@tagged("post_install", "-at_install")
class TestOrderSecurityTable(OrderCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        other = cls.setup_other_company()
        their = other["company"]
        Tax, Product = cls.env["account.tax"], cls.env["product.product"]
        Currency = cls.env["res.currency"].with_context(active_test=False)
        used = {cls.company.currency_id.name, cls.currency.name, their.currency_id.name}
        spare = Currency.search([("name", "not in", list(used))], limit=2, order="name")
        spare[1].active = True
        cls.records = {
            "their_partner": cls.env["res.partner"].create({"name": "Their customer", "company_id": their.id}),
            "old_partner": cls.env["res.partner"].create({"name": "Old customer", "active": False}),
            "their_tax": Tax.create({"name": "Their VAT", "amount": 7, "company_id": their.id}),
            "old_tax": Tax.create({"name": "Old VAT", "amount": 9, "company_id": cls.company.id, "active": False}),
            "purchase_tax": Tax.create(
                {"name": "Input VAT", "amount": 21, "type_tax_use": "purchase", "company_id": cls.company.id}
            ),
            "their_rep": cls.make_user("sec_their_rep", "sales_team.group_sale_salesman", companies=their),
            "old_rep": cls.make_user("sec_old_rep", "sales_team.group_sale_salesman"),
            "their_team": cls.env["crm.team"].sudo().create({"name": "Their team", "company_id": their.id}),
            "old_team": cls.env["crm.team"].sudo().create({"name": "Old team", "company_id": cls.company.id}),
            "inactive_currency": spare[0],
            "their_currency": spare[1],
        }
        cls.records["old_rep"].active = False
        cls.records["old_team"].active = False
        Product.create({"name": "Their seat", "default_code": "THEIR-SEAT", "company_id": their.id})
        Product.create({"name": "Old seat", "default_code": "OLD-SEAT", "active": False})
        Product.create({"name": "Bought seat", "default_code": "BUY-ONLY", "sale_ok": False})
        cls.env["product.pricelist"].create({"name": "Theirs", "currency_id": spare[1].id, "company_id": their.id})

    def test_every_row(self):
        # Each row's mapping codes are its own: rows do not see each other's changes but through
        # the set, where every code is distinct.
        for row in ROWS:
            with self.subTest(row=row.label):
                data = self.order_data()
                row.change(self, data)
                before = self.snapshot()
                response = self.post(event("order.create", data))
                if row.status == 422:
                    self.assertRefused(response, 422, row.answer, before)
                    continue
                self.assertEqual(response.status_code, 202, response.text)
                self.assertEqual(response.json()["state"], "failed", response.text)
                stored = self.Event.sudo().browse(response.json()["id"])
                self.assertIn(row.answer, stored.exception_ids.message)
                self.assertEqual(stored.exception_ids.category, "inbound_invalid")
                after = self.snapshot()
                self.assertEqual(after["sale.order"], before["sale.order"], "no order written")
                self.assertEqual(after["finance.sync.binding"], before["finance.sync.binding"])
                self.assertFalse(self.orders(data["external_id"]))
                self.assertFalse(
                    self.env["sale.order.line"].sudo().search_count([("order_id.origin", "=", data["external_id"])])
                )

    def test_the_note_is_text_not_markup(self):
        note = 'Call <a href="https://evil.example/x">here</a><img src="https://evil.example/p.gif"/> & "sign"'
        data = self.order_data(note=note)
        self.send_order(data)
        order = self.orders(data["external_id"])
        self.assertNotIn("<a", str(order.note))
        self.assertNotIn("<img", str(order.note))
        self.assertEqual(html2plaintext(order.note), note, "every character kept, as text")

    def test_confirmation_sends_no_mail_and_the_chatter_names_the_backend(self):
        self.backend.order_confirm_policy = "confirm"
        self.partner_a.email = "customer.a@example.com"
        self.env.flush_all()
        mails_before = self.env["mail.mail"].sudo().search([]).ids
        data = self.order_data()
        stored = self.send_order(data)
        order = self.orders(data["external_id"])
        self.assertEqual(order.state, "sale", stored.result_message)
        # Nothing is queued for the customer (no confirmation mail, no portal invitation), and
        # the customer is not made a follower who would receive the order's later messages.
        new_mails = self.env["mail.mail"].sudo().search([("id", "not in", mails_before)])
        self.assertNotIn(self.partner_a, new_mails.recipient_ids)
        # The one mail is Odoo's own assignment notice to the salesperson: an internal user of the
        # company, the one the mappings (or its login) name.
        self.assertEqual(new_mails.recipient_ids, self.rep.partner_id)
        self.assertFalse([m for m in new_mails if "customer.a@example.com" in (m.email_to or "")])
        self.assertNotIn(self.partner_a, order.message_partner_ids)
        self.assertFalse(order.access_token and order.message_ids.filtered(lambda m: m.message_type == "email"))
        # The chatter says where it came from, as a note, written by the webhook's technical user.
        notes = order.message_ids.filtered(lambda m: self.backend.name in str(m.body))
        self.assertEqual(len(notes), 1)
        self.assertIn(data["external_id"], str(notes.body))
        self.assertTrue(notes.subtype_id.internal)
        self.assertEqual(notes.author_id, self.inbound_user.partner_id)
