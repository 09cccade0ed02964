"""Accounts platforms send (inbound partner.upsert), posted signed through Odoo's real HTTP
server: created once per external id (also under 20 parallel deliveries), matched instead of
duplicated (VAT number, ambiguous evidence and a person's choice), fields each side owns, bank
accounts never trusted for payments, bad input refused with nothing written, the authority only
accounting administrators grant, and no echo back to the platform the change came from."""
# The parallel test needs rows other connections see: it commits, and cleans up after.
# pylint: disable=invalid-commit

import json
import uuid
from contextlib import closing
from datetime import timedelta

import odoo
from odoo import SUPERUSER_ID, api, sql_db
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command
from odoo.tests import HOST, BaseCase, get_db_name, tagged

from ..engine import signing
from .test_inbound import InboundCase, deliver_in_parallel, event, iso_now

IBAN_A = "BE71 0961 2345 6769"
IBAN_B = "DE89370400440532013000"


class AccountCase(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mapping_set = cls.env["finance.sync.mapping.set"].create({"name": "CRM codes"})
        cls.term_30 = cls.env["account.payment.term"].create({"name": "30 days (platform)"})
        cls.tag_key = cls.env["res.partner.category"].create({"name": "Key account (platform)"})
        Mapping = cls.env["finance.sync.mapping"]
        Mapping.create(
            {"set_id": cls.mapping_set.id, "kind": "payment_term", "payment_term_id": cls.term_30.id,
             "external_code": "net30"}
        )  # fmt: skip
        Mapping.create(
            {"set_id": cls.mapping_set.id, "kind": "partner_tag", "partner_category_id": cls.tag_key.id,
             "external_code": "key"}
        )  # fmt: skip
        cls.backend.write(
            {
                "account_source_customers": True,
                "account_source_suppliers": True,
                "mapping_set_id": cls.mapping_set.id,
            }
        )
        cls.Partner = cls.env["res.partner"].with_context(active_test=False)

    def account(self, external_id=None, **overrides):
        data = {
            "external_id": external_id or f"acc_{uuid.uuid4().hex[:10]}",
            "kind": "customer",
            "name": "Nordwind Trading",
            "updated_at": iso_now(),
            "vat": "BE0477472701",
            "company_registry": "0477.472.701",
            "email": "ap@nordwind.example.com",
            "phone": "+32 3 555 01 01",
            "address": {"street": "Kaai 4", "zip": "2000", "city": "Antwerp", "country": "BE"},
            "addresses": [{"type": "invoice", "name": "Accounts payable", "street": "Kaai 6", "city": "Antwerp",
                           "country": "BE"}],
            "contacts": [{"name": "Lena Maes", "email": "lena@nordwind.example.com", "function": "Controller"}],
            "bank_accounts": [{"iban": IBAN_A, "bic": "GEBABEBB"}],
            "payment_term": "net30",
            "tags": ["key"],
        }  # fmt: skip
        data.update(overrides)
        return data

    def send(self, data, msg_id=None, status=202):
        response = self.post(event("partner.upsert", data), msg_id=msg_id)
        self.assertEqual(response.status_code, status, response.text)
        return self.Event.sudo().browse(response.json().get("id"))

    def bound(self, external_id, backend=None):
        binding = (
            self.env["finance.sync.binding"]
            .sudo()
            .search(
                [
                    ("backend_id", "=", (backend or self.backend).id),
                    ("res_model", "=", "res.partner"),
                    ("external_id", "=", external_id),
                ]
            )
        )
        return self.Partner.browse(binding.res_id) if binding else self.Partner

    def count_partners(self):
        self.env.flush_all()
        return self.Partner.search_count([])


@tagged("post_install", "-at_install")
class TestAccountsCreated(AccountCase):
    def test_a_new_account_is_created_once_with_its_codes_and_untrusted_bank_accounts(self):
        data = self.account()
        response = self.post(event("partner.upsert", data))
        self.assertEqual(response.status_code, 202, response.text)
        stored = self.Event.sudo().browse(response.json()["id"])
        self.assertEqual(stored.state, "processed", stored.result_message)
        partner = self.bound(data["external_id"])
        self.assertTrue(partner)
        self.assertEqual(response.json()["partner"], {"model": "res.partner", "id": partner.id})
        self.assertEqual(stored.res_model, "res.partner")
        self.assertEqual(stored.res_id, partner.id)
        self.assertEqual(partner.name, "Nordwind Trading")
        self.assertTrue(partner.is_company)
        self.assertEqual(partner.vat, "BE0477472701")
        self.assertEqual(partner.country_id, self.env.ref("base.be"))
        self.assertEqual(partner.customer_rank, 1)
        self.assertEqual(partner.supplier_rank, 0)
        self.assertEqual(partner.with_company(self.company).property_payment_term_id, self.term_30)
        self.assertEqual(partner.category_id, self.tag_key)
        invoice_address = partner.child_ids.filtered(lambda c: c.type == "invoice")
        self.assertEqual(invoice_address.street, "Kaai 6")
        contact = partner.child_ids.filtered(lambda c: c.type == "contact")
        self.assertEqual((contact.name, contact.email, contact.function), ("Lena Maes", "lena@nordwind.example.com",
                                                                          "Controller"))  # fmt: skip
        bank = partner.bank_ids
        self.assertEqual(bank.sanitized_acc_number, "BE71096123456769")
        self.assertFalse(bank.allow_out_payment, "Odoo does not pay to a platform's bank account untrusted")
        self.assertEqual(bank.bank_id.bic, "GEBABEBB")

        # The same account again (another delivery, a newer change): the same partner.
        before = self.count_partners()
        again = self.send(self.account(data["external_id"], updated_at=iso_now(timedelta(seconds=5))))
        self.assertEqual(again.state, "processed", again.result_message)
        self.assertEqual(again.res_id, partner.id)
        self.assertEqual(self.count_partners(), before, "nothing created the second time")
        self.assertEqual(len(partner.bank_ids), 1)
        self.assertEqual(len(partner.child_ids), 2)

    def test_an_older_change_never_overwrites_a_newer_one(self):
        data = self.account(email="new@nordwind.example.com")
        self.send(data)
        partner = self.bound(data["external_id"])
        older = self.account(
            data["external_id"], email="old@nordwind.example.com", updated_at=iso_now(timedelta(hours=-1))
        )
        stored = self.send(older)
        self.assertEqual(stored.state, "ignored", stored.result_message)
        self.assertEqual(partner.email, "new@nordwind.example.com")

    def test_an_account_source_sends_only_the_kinds_it_may(self):
        self.backend.write({"account_source_suppliers": False})
        data = self.account(kind="supplier")
        before = self.count_partners()
        stored = self.send(data)
        self.assertEqual(stored.state, "failed")
        self.assertIn("not an account source for suppliers", stored.result_message)
        self.assertEqual(self.count_partners(), before)
        # A backend that is no account source at all: refused at the door.
        self.backend.write({"account_source_customers": False})
        snapshot = self.snapshot()
        response = self.post(event("partner.upsert", self.account()))
        self.assertRefused(response, 422, "not_account_source", snapshot)

    def test_unknown_codes_fail_the_event_and_write_nothing(self):
        before = self.count_partners()
        stored = self.send(self.account(tags=["key", "gold"], payment_term="net99"))
        self.assertEqual(stored.state, "failed")
        self.assertIn("partner tag gold", stored.result_message)
        self.assertIn("payment term net99", stored.result_message)
        self.assertEqual(self.count_partners(), before)


@tagged("post_install", "-at_install")
class TestAccountsRefused(AccountCase):
    def assert_refused_account(self, data, path):
        before, partners = self.snapshot(), self.count_partners()
        body = self.assertRefused(self.post(event("partner.upsert", data)), 422, "invalid_account", before)
        self.assertIn(path, [error["path"] for error in body["errors"]], body)
        self.assertEqual(self.count_partners(), partners)

    def test_a_bad_iban_is_422_and_writes_nothing(self):
        data = self.account(bank_accounts=[{"iban": IBAN_A}, {"iban": "BE71 0961 2345 6768"}])
        self.assert_refused_account(data, "/data/bank_accounts/1/iban")

    def test_a_bad_vat_number_is_422_and_writes_nothing(self):
        self.assert_refused_account(self.account(vat="BE0477472702"), "/data/vat")
        self.assert_refused_account(self.account(vat="FR0477472701"), "/data/vat")

    def test_schema_violations_are_422(self):
        before = self.snapshot()
        data = self.account(kind="prospect")
        body = self.assertRefused(self.post(event("partner.upsert", data)), 422, "schema_violation", before)
        self.assertIn("/data/kind", [error["path"] for error in body["errors"]])


@tagged("post_install", "-at_install")
class TestAccountsMatched(AccountCase):
    def test_the_same_company_by_vat_is_bound_not_created(self):
        existing = self.env["res.partner"].create(
            {"name": "Nordwind Trading BV", "vat": "BE 0477.472.701", "country_id": self.env.ref("base.be").id,
             "is_company": True, "email": "old@nordwind.example.com"}
        )  # fmt: skip
        before = self.count_partners()
        data = self.account(bank_accounts=[], contacts=[], addresses=[], vat="0477472701")
        stored = self.send(data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.bound(data["external_id"]), existing)
        self.assertEqual(self.count_partners(), before, "bound, not created")
        self.assertEqual(existing.customer_rank, 1)
        self.assertEqual(existing.supplier_rank, 0, "a customer, not a supplier")
        # Odoo owns the name (the backend's default): not written, a conflict tells a person.
        self.assertEqual(existing.name, "Nordwind Trading BV")
        conflict = stored.exception_ids.filtered(lambda e: e.category == "conflict")
        self.assertTrue(conflict)
        self.assertIn("Company name", conflict.message)
        self.assertEqual((conflict.res_model, conflict.res_id), ("res.partner", existing.id))
        # The platform owns the e-mail (the backend's default): written.
        self.assertEqual(existing.email, "ap@nordwind.example.com")

    def test_ambiguous_evidence_waits_and_a_person_binds_one(self):
        first, second = self.env["res.partner"].create(
            [{"name": "Harbor Logistics SA", "is_company": True, "city": "Antwerp"},
             {"name": "Harbor Logistics NV", "is_company": True, "city": "Ghent"}]
        )  # fmt: skip
        data = self.account(name="Harbor Logistics", vat=None, company_registry=None, bank_accounts=[])
        stored = self.send(data)
        self.assertEqual(stored.state, "failed", "the event waits for a person")
        exception = stored.exception_ids
        self.assertEqual(exception.category, "possible_duplicate")
        self.assertEqual(exception.account_candidate_ids, first | second)
        self.assertIn("Harbor Logistics SA", exception.message)
        self.assertFalse(self.Partner.search([("name", "=", "Harbor Logistics")]), "nothing created")
        self.assertEqual((first.name, second.name), ("Harbor Logistics SA", "Harbor Logistics NV"), "nothing merged")
        self.assertFalse(self.bound(data["external_id"]))

        # A sync user cannot choose, nor write the decision by hand.
        user = self.make_user("fs_dup_user", "finance_sync.finance_sync_group_user")
        with self.assertRaises(AccessError):
            exception.with_user(user).action_account_create()
        with self.assertRaises(AccessError):
            exception.write({"account_decision": "create"})
        # Binding needs a candidate chosen among the listed ones.
        admin = self.make_user("fs_dup_admin", "finance_sync.finance_sync_group_admin")
        outsider = self.env["res.partner"].create({"name": "Someone else", "is_company": True})
        exception.with_user(admin).account_partner_id = outsider
        with self.assertRaises(UserError):
            exception.with_user(admin).action_account_bind()
        exception.with_user(admin).account_partner_id = second
        before = self.count_partners()
        self.assertIs(exception.with_user(admin).action_account_bind(), True)
        self.env.invalidate_all()
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.bound(data["external_id"]), second)
        self.assertEqual(exception.state, "resolved")
        self.assertEqual(exception.account_decision, "bind")
        self.assertEqual(
            self.count_partners(), before + 2, "no new company: only the platform's invoice address and contact"
        )
        self.assertEqual(sorted(second.child_ids.mapped("name")), ["Accounts payable", "Lena Maes"])
        self.assertFalse(first.child_ids)

    def test_ambiguous_evidence_waits_and_a_person_creates_a_new_one(self):
        self.env["res.partner"].create(
            [{"name": "Polar Foods SA", "is_company": True}, {"name": "Polar Foods", "is_company": True}]
        )
        data = self.account(name="Polar Foods", vat=None, company_registry=None, contacts=[], addresses=[])
        stored = self.send(data)
        exception = stored.exception_ids
        self.assertEqual(exception.category, "possible_duplicate")
        before = self.count_partners()
        self.assertIs(exception.action_account_create(), True)
        self.env.invalidate_all()
        self.assertEqual(stored.state, "processed", stored.result_message)
        created = self.bound(data["external_id"])
        self.assertNotIn(created, exception.account_candidate_ids)
        self.assertEqual(created.name, "Polar Foods")
        self.assertEqual(self.count_partners(), before + 1)
        self.assertEqual(exception.state, "resolved")

    def test_one_clear_candidate_by_name_and_mail_domain_is_bound(self):
        existing = self.env["res.partner"].create(
            {"name": "Quartz Media S.A.", "is_company": True, "email": "billing@quartz.example.com"}
        )
        data = self.account(name="Quartz Media", vat=None, company_registry=None, email="ap@quartz.example.com",
                            bank_accounts=[], contacts=[], addresses=[])  # fmt: skip
        stored = self.send(data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.bound(data["external_id"]), existing)


@tagged("post_install", "-at_install")
class TestAccountsOwnership(AccountCase):
    def create_bound(self, **overrides):
        data = self.account(**overrides)
        self.send(data)
        return data, self.bound(data["external_id"])

    def test_a_different_value_of_a_field_odoo_owns_is_a_conflict_or_ignored(self):
        data, partner = self.create_bound()
        changed = dict(data, name="Nordwind Trading International", email="ar@nordwind.example.com",
                       updated_at=iso_now(timedelta(seconds=5)))  # fmt: skip
        stored = self.send(changed)
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(partner.name, "Nordwind Trading", "Odoo owns the name")
        self.assertEqual(partner.email, "ar@nordwind.example.com", "the platform owns the e-mail")
        conflict = stored.exception_ids.filtered(lambda e: e.category == "conflict")
        self.assertIn("Company name", conflict.message)
        self.assertNotIn("E-mail", conflict.message)

        self.backend.account_conflict_policy = "ignore"
        ignored = self.send(dict(changed, name="Nordwind Trading Group", updated_at=iso_now(timedelta(seconds=9))))
        self.assertEqual(ignored.state, "processed")
        self.assertFalse(ignored.exception_ids)
        self.assertEqual(partner.name, "Nordwind Trading")

        self.backend.account_owns_name = True
        owned = self.send(dict(changed, name="Nordwind Trading Group", updated_at=iso_now(timedelta(seconds=12))))
        self.assertEqual(owned.state, "processed")
        self.assertEqual(partner.name, "Nordwind Trading Group")

    def test_a_new_bank_account_on_a_supplier_is_news_and_never_trusted(self):
        data, partner = self.create_bound(kind="supplier")
        self.assertEqual(partner.supplier_rank, 1)
        # Odoo owns bank accounts (the default): a new one is a conflict, nothing is added.
        changed = dict(data, bank_accounts=[{"iban": IBAN_B}], updated_at=iso_now(timedelta(seconds=5)))
        stored = self.send(changed)
        self.assertEqual(partner.bank_ids.mapped("sanitized_acc_number"), ["BE71096123456769"])
        self.assertIn("Bank accounts", stored.exception_ids.filtered(lambda e: e.category == "conflict").message)

        # Once the platform owns them: added untrusted, and a person is told.
        self.backend.account_owns_bank_accounts = True
        stored = self.send(dict(changed, updated_at=iso_now(timedelta(seconds=9))))
        self.assertEqual(stored.state, "processed", stored.result_message)
        new = partner.bank_ids.filtered(lambda b: b.sanitized_acc_number == IBAN_B)
        self.assertTrue(new)
        self.assertFalse(new.allow_out_payment)
        news = stored.exception_ids.filtered(lambda e: e.category == "bank_account")
        self.assertTrue(news)
        self.assertIn(IBAN_B, news.message)
        self.assertTrue(partner.activity_ids, "an activity for a person on the supplier")
        # A trusted account stays trusted; the platform cannot trust one.
        self.assertFalse(partner.bank_ids.filtered("allow_out_payment"))


@tagged("post_install", "-at_install")
class TestAccountsEcho(AccountCase):
    def test_a_change_from_a_platform_is_not_sent_back_to_it(self):
        self.backend.send_master_data = True
        other = self.create_backend("ERP mirror", send_master_data=True)
        data = self.account()
        self.send(data)
        partner = self.bound(data["external_id"])
        Job = self.env["finance.sync.job"].sudo()

        def upserted(backend):
            return Job.search(
                [("backend_id", "=", backend.id), ("res_model", "=", "res.partner"), ("res_id", "=", partner.id),
                 ("event_type", "=", "partner.upserted")]
            )  # fmt: skip

        self.assertTrue(upserted(other), "the other platforms hear of the new customer")
        self.assertFalse(upserted(self.backend), "not sent back to the platform it came from")
        # A change made in Odoo goes to the platform too.
        partner.write({"phone": "+32 3 555 09 09"})
        self.commit_hooks()
        self.assertTrue(upserted(self.backend), "a change made in Odoo is news to every platform")


@tagged("post_install", "-at_install")
class TestAccountSourceRights(AccountCase):
    """The account source is an authority: a Finance Sync administrator alone cannot grant it or
    change what it depends on, on any path; an accounting administrator who is also a Finance
    Sync administrator can."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sync_admin = cls.make_user("fs_acc_sync_admin", "finance_sync.finance_sync_group_admin")
        cls.accountant = cls.make_user(
            "fs_acc_accountant", "finance_sync.finance_sync_group_admin", "account.group_account_manager"
        )
        cls.plain = cls.create_backend("Plain CRM")
        cls.tag_vip = cls.env["res.partner.category"].create({"name": "VIP (platform)"})

    def paths(self):
        forged = {"finance_sync_internal_write": True}
        return {
            "make a platform an account source": lambda env: (
                env["finance.sync.backend"].browse(self.plain.id).write({"account_source_customers": True})
            ),
            "the same with a forged context": lambda env: (
                env["finance.sync.backend"]
                .with_context(**forged)
                .browse(self.plain.id)
                .write({"account_source_suppliers": True})
            ),
            "create one": lambda env: env["finance.sync.backend"].create(
                {"name": "New CRM", "account_source_suppliers": True}
            ),
            "create one through a context default": lambda env: (
                env["finance.sync.backend"]
                .with_context(default_account_source_customers=True)
                .create({"name": "Defaulted CRM"})
            ),
            "create one through a default of one's own": lambda env: (
                env["ir.default"].set("finance.sync.backend", "account_source_suppliers", True, user_id=True),
                env["finance.sync.backend"].create({"name": "Saved default CRM"}),
            ),
            "copy an account source": lambda env: env["finance.sync.backend"].browse(self.backend.id).copy(),
            "let the platform own bank accounts": lambda env: (
                env["finance.sync.backend"].browse(self.backend.id).write({"account_owns_bank_accounts": True})
            ),
            "let the platform own the payment terms": lambda env: (
                env["finance.sync.backend"].browse(self.backend.id).write({"account_owns_payment_terms": True})
            ),
            "ignore conflicts silently": lambda env: (
                env["finance.sync.backend"].browse(self.backend.id).write({"account_conflict_policy": "ignore"})
            ),
            "withdraw it": lambda env: (
                env["finance.sync.backend"].browse(self.backend.id).write({"account_source_customers": False})
            ),
            "its signing secret": lambda env: (
                env["finance.sync.backend"].browse(self.backend.id).write({"signing_secret": signing.generate_secret()})
            ),
            "its webhook token": lambda env: (
                env["finance.sync.backend"].browse(self.backend.id).action_regenerate_webhook_token()
            ),
            "its companies": lambda env: (
                env["finance.sync.backend"]
                .browse(self.backend.id)
                .write({"company_ids": [Command.set(self.company.ids)], "mapping_set_id": False})
            ),
            "its mapping set's codes": lambda env: (
                env["finance.sync.mapping"]
                .search([("set_id", "=", self.mapping_set.id), ("external_code", "=", "net30")])
                .write({"external_code": "net45"})
            ),
            "a new code in its mapping set": lambda env: env["finance.sync.mapping"].create(
                {
                    "set_id": self.mapping_set.id,
                    "kind": "partner_tag",
                    "partner_category_id": self.tag_vip.id,
                    "external_code": "vip",
                }
            ),
        }

    def test_a_finance_sync_administrator_alone_cannot_and_an_accounting_administrator_can(self):
        failures = []
        for label, path in self.paths().items():
            for user, allowed in ((self.sync_admin, False), (self.accountant, True)):
                env = self.env(user=user)
                with self.env.cr.savepoint(flush=False) as savepoint:
                    try:
                        path(env)
                        env.flush_all()
                        error = None
                    except AccessError as exc:
                        error = exc
                    savepoint.rollback()
                self.env.invalidate_all()
                if allowed and error:
                    failures.append(f"{label} as {user.login}: refused: {error}")
                elif not allowed and not error:
                    failures.append(f"{label} as {user.login}: not refused")
                elif error and "account source" not in str(error):
                    failures.append(f"{label} as {user.login}: the refusal does not name the account source")
        self.assertFalse(failures, "\n" + "\n".join(failures))
        self.assertTrue(self.backend.account_source_customers)
        self.assertFalse(self.plain.account_source_customers or self.plain.account_source_suppliers)


@tagged("post_install", "-at_install")
class TestAccountsRealConcurrency(BaseCase):
    """Twenty deliveries of one new account, each with its own webhook-id, in twenty parallel
    transactions through the HTTP server: one partner, one binding, twenty events. Needs
    committed data (the server's transactions must see it), removed at the end."""

    DELIVERIES = 20

    def _cursor(self):
        return closing(sql_db.db_connect(get_db_name()).cursor())

    def test_twenty_parallel_deliveries_create_one_partner(self):
        server = odoo.service.server.server
        if server is None:
            self.skipTest("needs Odoo's HTTP server (--odoo-http)")
        secret = signing.generate_secret()
        external_id = f"par_{uuid.uuid4().hex[:10]}"
        name = f"Parallel Account {external_id}"
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Inbound accounts concurrency",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "signing_secret": secret,
                    "state": "active",
                    "company_ids": [(6, 0, company.ids)],
                    "send_customer_invoices": False,
                    "send_vendor_bills": False,
                    "send_credit_notes": False,
                    "account_source_customers": True,
                }
            )
            backend_id = backend.id
            url = f"http://{HOST}:{server.httpd.server_port}/finance_sync/webhook/{backend.webhook_token}"
            cr.commit()
        try:
            data = {
                "external_id": external_id,
                "kind": "customer",
                "name": name,
                "updated_at": iso_now(),
                "email": "ap@parallel.example.com",
                "bank_accounts": [{"iban": IBAN_A}],
            }
            body = json.dumps(event("partner.upsert", data)).encode()
            results = deliver_in_parallel(url, secret, body, self.DELIVERIES, "msg_acc")
            self.assertEqual(sorted(status for status, _body in results), [202] * self.DELIVERIES, results)
            with self._cursor() as cr:
                cr.execute("SELECT count(*) FROM res_partner WHERE name = %s", (name,))
                self.assertEqual(cr.fetchone()[0], 1, "one partner, whatever the number of deliveries")
                cr.execute(
                    "SELECT count(*) FROM res_partner_bank b JOIN res_partner p ON p.id = b.partner_id "
                    "WHERE p.name = %s",
                    (name,),
                )
                self.assertEqual(cr.fetchone()[0], 1)
                cr.execute("SELECT count(*) FROM finance_sync_binding WHERE backend_id = %s", (backend_id,))
                self.assertEqual(cr.fetchone()[0], 1)
                cr.execute(
                    "SELECT state, count(*), count(DISTINCT res_id) FROM finance_sync_inbound_event "
                    "WHERE backend_id = %s GROUP BY state",
                    (backend_id,),
                )
                self.assertEqual(cr.fetchall(), [("processed", self.DELIVERIES, 1)])
                cr.execute(
                    "SELECT count(*) FROM finance_sync_inbound_event WHERE backend_id = %s "
                    "AND result_message_code = 'account_created'",
                    (backend_id,),
                )
                self.assertEqual(cr.fetchone()[0], 1, "one delivery created it, the others found it")
        finally:
            with self._cursor() as cr:
                cr.execute("SELECT array_agg(id) FROM res_partner WHERE name = %s", (name,))
                partner_ids = cr.fetchone()[0] or [0]
                cr.execute("DELETE FROM finance_sync_binding WHERE backend_id = %s", (backend_id,))
                cr.execute("DELETE FROM finance_sync_inbound_event WHERE backend_id = %s", (backend_id,))
                cr.execute("DELETE FROM finance_sync_exception WHERE backend_id = %s", (backend_id,))
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (backend_id,))
                cr.execute(
                    "DELETE FROM mail_message WHERE (model = 'finance.sync.backend' AND res_id = %s) "
                    "OR (model = 'res.partner' AND res_id = ANY(%s))",
                    (backend_id, partner_ids),
                )
                cr.execute("DELETE FROM res_partner_bank WHERE partner_id = ANY(%s)", (partner_ids,))
                cr.execute("DELETE FROM res_partner WHERE id = ANY(%s)", (partner_ids,))
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (backend_id,))
                cr.commit()
