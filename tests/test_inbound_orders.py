"""Sales orders platforms create (order.create), posted signed through Odoo's real HTTP server:
the order with its lines, taxes to the cent, pricelist currency, salesperson and team; one order
per external id (repeats, and ten parallel deliveries); the quotation or confirmation policy; the
invoice's events carrying the order's origin; bad inputs refused with nothing written; the Order
source authority; and the refusal of the events in a database without the Sales app (a copy of
the test database taken before Sales was installed, see scripts/test.sh)."""
# The parallel test needs rows other connections see: it commits, and cleans up after.
# pylint: disable=invalid-commit

import json
import os
import subprocess
import sys
import uuid
from contextlib import closing
from decimal import Decimal

import odoo
from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError
from odoo.tests import HOST, BaseCase, get_db_name, tagged
from odoo.tools import config

from ..engine import payload as payload_lib
from ..engine import signing
from .test_inbound import InboundCase, deliver_in_parallel, event


def money(value):
    """An Odoo float amount as a 2-place Decimal (through its shortest text, never Decimal(float))."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


class OrderCase(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write({"order_source": True, "order_confirm_policy": "quotation"})
        cls.mapping_set = cls.env["finance.sync.mapping.set"].create({"name": "CRM codes"})
        cls.backend.mapping_set_id = cls.mapping_set
        Tax = cls.env["account.tax"]
        cls.vat21 = Tax.create(
            {"name": "Sales VAT 21 (CRM)", "amount": 21, "type_tax_use": "sale", "company_id": cls.company.id}
        )
        cls.env["finance.sync.mapping"].create(
            [
                {
                    "set_id": cls.mapping_set.id,
                    "kind": "partner",
                    "partner_id": cls.partner_a.id,
                    "external_code": "acc_1",
                },
                {"set_id": cls.mapping_set.id, "kind": "tax", "tax_id": cls.vat21.id, "external_code": "VAT21"},
            ]
        )
        cls.product_a.default_code = "SEAT"
        cls.product_b.default_code = "SETUP"
        # The order's currency is not the company's: the pricelist in that currency is chosen.
        Currency = cls.env["res.currency"].with_context(active_test=False)
        cls.currency = Currency.search([("name", "=", "EUR" if cls.company.currency_id.name != "EUR" else "USD")])
        cls.currency.active = True
        cls.pricelist = cls.env["product.pricelist"].create(
            {"name": "CRM deals", "currency_id": cls.currency.id, "company_id": cls.company.id}
        )
        cls.rep = cls.make_user("order_rep", "sales_team.group_sale_salesman")
        cls.team = cls.env["crm.team"].sudo().create({"name": "Enterprise deals", "company_id": cls.company.id})

    def order_data(self, external_id=None, **overrides):
        # 3 x 12.10 with 21 % VAT: 36.30 + 7.62 (7.623); 1234.57 less 7.5 %: 1141.98 (1141.97725), no tax.
        data = {
            "external_id": external_id or f"deal_{uuid.uuid4().hex[:12]}",
            "reference": "OPP-0042",
            "date_order": "2026-03-02",
            "currency": self.currency.name,
            "partner": {"code": "acc_1"},
            "salesperson": "order_rep",
            "team": "Enterprise deals",
            "lines": [
                {"description": "Seats", "product": "SEAT", "quantity": "3", "price_unit": "12.10", "taxes": ["VAT21"]},
                {
                    "description": "Onboarding",
                    "product": "SETUP",
                    "quantity": "1",
                    "price_unit": "1234.57",
                    "discount": "7.5",
                    "taxes": [],
                },
            ],
            "totals": {"untaxed": "1178.28", "tax": "7.62", "total": "1185.90"},
        }
        data.update(overrides)
        return data

    def send_order(self, data, msg_id=None):
        response = self.post(event("order.create", data), msg_id=msg_id)
        self.assertEqual(response.status_code, 202, response.text)
        return self.Event.sudo().browse(response.json()["id"])

    def orders(self, external_id):
        bindings = (
            self.env["finance.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", self.backend.id),
                    ("res_model", "=", "sale.order"),
                    ("external_id", "=", external_id),
                ]
            )
        )
        return self.env["sale.order"].browse(bindings.mapped("res_id"))

    def snapshot(self):
        counts = super().snapshot()
        counts["sale.order"] = self.env["sale.order"].sudo().search_count([])
        return counts


@tagged("post_install", "-at_install")
class TestInboundOrders(OrderCase):
    def test_order_is_created_with_taxes_to_the_cent_currency_salesperson_and_team(self):
        data = self.order_data()
        stored = self.send_order(data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        order = self.orders(data["external_id"])
        self.assertEqual(len(order), 1)
        # Odoo's own totals, computed by sale from the lines, taxes and discount.
        self.assertEqual(money(order.amount_untaxed), Decimal("1178.28"))
        self.assertEqual(money(order.amount_tax), Decimal("7.62"))
        self.assertEqual(money(order.amount_total), Decimal("1185.90"))
        self.assertEqual(order.state, "draft", "the policy keeps it a quotation")
        self.assertEqual(order.pricelist_id, self.pricelist)
        self.assertEqual(order.currency_id, self.currency)
        self.assertEqual(order.partner_id, self.partner_a)
        self.assertEqual(order.user_id, self.rep)
        self.assertEqual(order.team_id, self.team)
        self.assertEqual(order.company_id, self.company)
        self.assertEqual(order.client_order_ref, "OPP-0042")
        self.assertEqual(order.origin, data["external_id"])
        seats = order.order_line.filtered(lambda line: line.product_id == self.product_a)
        self.assertEqual(seats.tax_ids, self.vat21)
        self.assertEqual(seats.product_uom_qty, 3)
        self.assertEqual(money(seats.price_unit), Decimal("12.10"))
        self.assertFalse(order.order_line.filtered(lambda line: line.product_id == self.product_b).tax_ids)
        self.assertEqual((stored.res_model, stored.res_id), ("sale.order", order.id))
        self.assertEqual(stored.result_message_code, "order_created")
        self.assertFalse(stored.exception_ids)
        self.assertEqual(order.create_uid, self.inbound_user, "created by the webhook's technical user")

    def test_repeats_of_one_external_id_give_one_order(self):
        data = self.order_data()
        first = self.send_order(data, msg_id="msg_order_first")
        again = self.send_order(data)  # another webhook-id: the platform sent it twice
        replay = self.post(event("order.create", data), msg_id="msg_order_first")  # the same delivery again
        self.assertEqual(replay.status_code, 200, replay.text)
        self.assertTrue(replay.json()["duplicate"])
        order = self.orders(data["external_id"])
        self.assertEqual(len(order), 1)
        self.assertEqual(self.env["sale.order"].search_count([("origin", "=", data["external_id"])]), 1)
        self.assertEqual(first.res_id, order.id)
        self.assertEqual(
            (again.state, again.result_message_code, again.res_id), ("processed", "order_exists", order.id)
        )
        # What makes the creation happen once is kept: nobody deletes the binding by hand.
        binding = self.env["finance.sync.binding"].search([("res_model", "=", "sale.order"), ("res_id", "=", order.id)])
        with self.assertRaises(AccessError):
            binding.unlink()

    def test_confirm_policy_confirms_and_the_invoice_carries_the_origin(self):
        self.backend.order_confirm_policy = "confirm"
        data = self.order_data()
        stored = self.send_order(data)
        order = self.orders(data["external_id"])
        self.assertEqual(order.state, "sale", stored.result_message)
        self.assertEqual(stored.result_message_code, "order_confirmed")
        # Its invoice flows out as any invoice does, with the order's origin.
        self.backend.write({"send_customer_invoices": True})
        invoice = order._create_invoices()
        invoice.action_post()
        self.assertEqual(invoice.invoice_origin, order.name)
        self.assertEqual(money(invoice.amount_total), money(order.amount_total))
        job = self.jobs_of(invoice).filtered(lambda j: j.event_type == "invoice.posted")
        self.assertEqual(len(job), 1)
        payload = job.payload
        self.assertEqual(payload_lib.validate(payload), [])
        self.assertEqual(payload["order"], {"external_id": data["external_id"], "number": order.name})
        self.assertNotIn("origin", payload, "the platform created the order, not the invoice")

    def test_a_totals_difference_keeps_a_quotation_with_a_conflict(self):
        self.backend.order_confirm_policy = "confirm"
        # One cent more tax than Odoo computes: orders agree to the cent.
        data = self.order_data(totals={"untaxed": "1178.28", "tax": "7.63", "total": "1185.91"})
        stored = self.send_order(data)
        order = self.orders(data["external_id"])
        self.assertEqual(order.state, "draft")
        self.assertEqual(stored.result_message_code, "order_totals_differ")
        self.assertEqual(stored.exception_ids.category, "conflict")
        self.assertEqual(stored.exception_ids._get_linked_record(), order)

    def test_unresolvable_codes_create_nothing_and_say_which(self):
        data = self.order_data(
            salesperson="nobody@example.com",
            lines=[{"description": "?", "product": "NO-SUCH", "quantity": "1", "price_unit": "1.07", "taxes": ["X"]}],
        )
        stored = self.send_order(data)
        self.assertEqual(stored.state, "failed")
        self.assertFalse(self.orders(data["external_id"]))
        self.assertFalse(self.env["sale.order"].search_count([("origin", "=", data["external_id"])]))
        text = stored.exception_ids.message
        for needle in ("NO-SUCH", "X", "nobody@example.com"):
            self.assertIn(needle, text)

    def test_bad_inputs_are_refused_with_nothing_written(self):
        before = self.snapshot()
        cases = {
            "schema_violation": self.order_data(lines=[]),
            "amount_precision": self.order_data(totals={"untaxed": "1178.285", "tax": "7.62", "total": "1185.90"}),
        }
        for code, data in cases.items():
            with self.subTest(code=code):
                response = self.post(event("order.create", data))
                self.assertRefused(response, 422, code, before)
                self.assertEqual(self.snapshot(), before)
        missing_totals = self.order_data()
        del missing_totals["totals"]
        self.assertRefused(self.post(event("order.create", missing_totals)), 422, "schema_violation", before)

    def test_a_backend_that_is_no_order_source_is_refused(self):
        other = self.create_backend("CRM without authority", self.secret)
        before = self.snapshot()
        url = f"/finance_sync/webhook/{other.sudo().webhook_token}"
        response = self.post(event("order.create", self.order_data()), url=url)
        self.assertRefused(response, 422, "not_order_source", before)
        self.assertEqual(self.snapshot(), before)

    def test_only_an_accounting_administrator_makes_an_order_source(self):
        sync_admin = self.make_user("orders_sync_admin", "finance_sync.finance_sync_group_admin")
        both = self.make_user(
            "orders_both_admin", "finance_sync.finance_sync_group_admin", "account.group_account_manager"
        )
        other = self.create_backend("CRM to promote", self.secret)
        for vals in ({"order_source": True}, {"order_confirm_policy": "confirm"}):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                other.with_user(sync_admin).write(vals)
        with self.assertRaises(AccessError):
            other.with_user(sync_admin).with_context(finance_sync_internal_write=True).write({"order_source": True})
        with self.assertRaises(AccessError):
            self.env["finance.sync.backend"].with_user(sync_admin).with_context(default_order_source=True).create(
                {"name": "Sneaky CRM", "endpoint_url": self.receiver.url_for("/hook"), "company_ids": self.company.ids}
            )
        with self.assertRaises(AccessError):
            self.backend.with_user(sync_admin).write({"signing_secret": signing.generate_secret()})
        self.assertFalse(other.order_source)
        other.with_user(both).write({"order_source": True, "order_confirm_policy": "confirm"})
        self.assertTrue(other.order_source)
        self.assertTrue(any("Order source" in str(m.body) for m in other.message_ids))


@tagged("post_install", "-at_install")
class TestInboundOrdersWithoutSales(BaseCase):
    """The database scripts/test.sh keeps from before Sales was installed: there, the real
    webhook route (Odoo's WSGI application, in an ``odoo-bin shell`` of that database) refuses
    order events with 422 and writes nothing, and the registry has no sales order."""

    SCRIPT = r"""
import json, uuid
from werkzeug.test import Client
import odoo.http
from odoo.addons.finance_sync.engine import signing
assert "sale.order" not in env, "this database has the Sales app"
secret = signing.generate_secret()
backend = env["finance.sync.backend"].create({
    "name": "CRM without Sales", "endpoint_url": "http://127.0.0.1:9/hook", "signing_secret": secret,
    "state": "active", "company_ids": [(6, 0, env.ref("base.main_company").ids)], "order_source": True,
    "send_customer_invoices": False, "send_vendor_bills": False, "send_credit_notes": False,
})
env.cr.commit()
counts = lambda: [env.cr.execute("SELECT (SELECT count(*) FROM finance_sync_inbound_event),"
                                 " (SELECT count(*) FROM finance_sync_exception),"
                                 " (SELECT count(*) FROM finance_sync_binding)") or env.cr.fetchone()][0]
results = {"before": counts(), "answers": {}}
# The Sales team mapping kind: not offered, and refused, while crm.team is not in the registry;
# the Salesperson (user) kind needs nothing of Sales. Rolled back below.
from odoo.exceptions import ValidationError
Mapping = env["finance.sync.mapping"]
codes = env["finance.sync.mapping.set"].create({"name": "Codes without Sales"})
kinds = {"team_offered": "crm.team" in dict(Mapping._selection_record_ref())}
admin = env.ref("base.user_admin")
for kind, vals in (("sales_team", {"sales_team_res_id": 1}), ("user", {"mapped_user_id": admin.id})):
    try:
        with env.cr.savepoint():
            Mapping.create({"set_id": codes.id, "kind": kind, "external_code": "X", **vals})
        kinds[kind] = "created"
    except ValidationError as exc:
        kinds[kind] = "refused: " + str(exc)
results["kinds"] = kinds
data = {"order.create": {"external_id": "deal_1", "currency": "USD", "partner": {"code": "x"},
                         "lines": [{"description": "a", "product": "p", "quantity": "1", "price_unit": "1.07"}],
                         "totals": {"untaxed": "1.07", "tax": "0.00", "total": "1.07"}},
        "deals.report": {"period": {"date_from": "2026-03-01", "date_to": "2026-03-31"},
                         "deals": [{"external_id": "deal_1", "amount": "1.07", "currency": "USD"}]}}
try:
    client = Client(odoo.http.root)
    for event_type, payload in data.items():
        body = json.dumps({"type": event_type, "schema_version": 1, "occurred_at": "2026-03-02T10:00:00Z",
                           "data": payload}).encode()
        headers = {"Content-Type": "application/json",
                   **signing.build_headers(secret, "msg_" + uuid.uuid4().hex, body)}
        response = client.post("/finance_sync/webhook/" + backend.webhook_token, data=body, headers=headers)
        results["answers"][event_type] = [response.status_code, response.get_json()]
    env.cr.rollback()
    results["after"] = counts()
finally:
    env.cr.rollback()
    env["mail.message"].search([("model", "=", "finance.sync.backend"), ("res_id", "=", backend.id)]).unlink()
    backend.unlink()
    env.cr.commit()
print("RESULT " + json.dumps(results))
"""

    def test_order_events_are_refused_without_the_sales_app(self):
        database = os.environ.get("FINANCE_SYNC_TEST_DB_WITHOUT_SALE")
        self.assertTrue(database, "scripts/test.sh names the database without Sales (make test)")
        odoo_bin = os.path.join(os.path.dirname(next(iter(odoo.__path__))), "odoo-bin")
        command = [sys.executable, odoo_bin, "shell", "-c", config["config"], "-d", database, "--no-http"]
        command += ["--log-level=warn", f"--db-filter=^{database}$"]
        done = subprocess.run(command, input=self.SCRIPT, capture_output=True, text=True, timeout=300, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        self.assertTrue(lines, done.stdout[-2000:] + done.stderr[-4000:])
        results = json.loads(lines[-1][len("RESULT ") :])
        for event_type, (status, body) in results["answers"].items():
            with self.subTest(event_type=event_type):
                self.assertEqual(status, 422, body)
                self.assertEqual(body["error"], "sales_not_installed")
                self.assertIn("Sales app is not installed", body["message"])
        self.assertEqual(len(results["answers"]), 2)
        kinds = results["kinds"]
        self.assertFalse(kinds["team_offered"], "the Record offers no sales team without Sales")
        self.assertTrue(kinds["sales_team"].startswith("refused: "), kinds)
        self.assertIn("Sales app", kinds["sales_team"])
        self.assertEqual(kinds["user"], "created", kinds)
        self.assertEqual(results["after"], results["before"], "nothing written")
        with closing(sql_db.db_connect(database).cursor()) as cr:
            cr.execute("SELECT state FROM ir_module_module WHERE name IN ('sale', 'finance_sync') ORDER BY name")
            states = [row[0] for row in cr.fetchall()]
        self.assertEqual(states[0], "installed", "finance_sync is installed there")
        self.assertNotEqual(states[-1:], ["installed"], "and Sales is not")


@tagged("post_install", "-at_install")
class TestInboundOrderRealConcurrency(BaseCase):
    """Ten deliveries of one new order, each with its own webhook-id, in ten parallel
    transactions through the HTTP server: one order, one binding, ten processed events."""

    DELIVERIES = 10

    def _cursor(self):
        return closing(sql_db.db_connect(get_db_name()).cursor())

    def test_ten_parallel_deliveries_create_one_order(self):
        server = odoo.service.server.server
        self.assertTrue(server, "needs Odoo's HTTP server (--odoo-http)")
        secret = signing.generate_secret()
        external_id = f"par_{uuid.uuid4().hex[:10]}"
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            partner = env["res.partner"].create({"name": "Parallel customer", "ref": f"PAR-{external_id}"})
            product = env["product.product"].create({"name": "Parallel seat", "default_code": f"SEAT-{external_id}"})
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Inbound orders concurrency",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "signing_secret": secret,
                    "state": "active",
                    "company_ids": [(6, 0, company.ids)],
                    "send_customer_invoices": False,
                    "send_vendor_bills": False,
                    "send_credit_notes": False,
                    "order_source": True,
                }
            )
            ids = {"backend": backend.id, "partner": partner.id, "template": product.product_tmpl_id.id}
            url = f"http://{HOST}:{server.httpd.server_port}/finance_sync/webhook/{backend.webhook_token}"
            currency = company.currency_id.name
            cr.commit()
        try:
            data = {
                "external_id": external_id,
                "currency": currency,
                "partner": {"code": f"PAR-{external_id}"},
                "lines": [
                    {
                        "description": "Seat",
                        "product": f"SEAT-{external_id}",
                        "quantity": "3",
                        "price_unit": "10.07",
                        "taxes": [],
                    }
                ],
                "totals": {"untaxed": "30.21", "tax": "0.00", "total": "30.21"},
            }
            body = json.dumps(event("order.create", data)).encode()
            results = deliver_in_parallel(url, secret, body, self.DELIVERIES, "msg_order")
            self.assertEqual(sorted(status for status, _body in results), [202] * self.DELIVERIES, results)
            with self._cursor() as cr:
                cr.execute("SELECT count(*) FROM sale_order WHERE origin = %s", (external_id,))
                self.assertEqual(cr.fetchone()[0], 1, "one order, whatever the number of deliveries")
                cr.execute("SELECT count(*) FROM finance_sync_binding WHERE backend_id = %s", (ids["backend"],))
                self.assertEqual(cr.fetchone()[0], 1)
                cr.execute(
                    "SELECT state, count(*), count(DISTINCT res_id) FROM finance_sync_inbound_event "
                    "WHERE backend_id = %s GROUP BY state",
                    (ids["backend"],),
                )
                self.assertEqual(cr.fetchall(), [("processed", self.DELIVERIES, 1)])
                cr.execute(
                    "SELECT count(*) FROM finance_sync_inbound_event WHERE backend_id = %s "
                    "AND result_message_code = 'order_created'",
                    (ids["backend"],),
                )
                self.assertEqual(cr.fetchone()[0], 1, "one delivery created it, the others answered it")
        finally:
            with self._cursor() as cr:
                cr.execute("SELECT array_agg(id) FROM sale_order WHERE origin = %s", (external_id,))
                order_ids = cr.fetchone()[0] or [0]
                cr.execute("DELETE FROM finance_sync_binding WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_inbound_event WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_exception WHERE backend_id = %s", (ids["backend"],))
                cr.execute(
                    "DELETE FROM mail_message WHERE (model = 'finance.sync.backend' AND res_id = %s) "
                    "OR (model = 'sale.order' AND res_id = ANY(%s))",
                    (ids["backend"], order_ids),
                )
                cr.execute("DELETE FROM sale_order WHERE id = ANY(%s)", (order_ids,))
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (ids["backend"],))
                cr.execute("DELETE FROM sale_order_line WHERE order_id = ANY(%s)", (order_ids,))
                cr.execute("DELETE FROM product_template WHERE id = %s", (ids["template"],))
                cr.execute("DELETE FROM res_partner WHERE id = %s", (ids["partner"],))
                cr.commit()
