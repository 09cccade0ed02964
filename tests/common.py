"""Shared fixtures: a chart of accounts (AccountTestInvoicingCommon), a real HTTP receiver on
127.0.0.1 standing in for the external platform, and an active backend pointing at it."""

import json
import logging
import threading
import time
import uuid
from contextlib import closing, contextmanager
from unittest.mock import patch

from pytest_httpserver import HTTPServer
from werkzeug import Response

from odoo import SUPERUSER_ID, api, sql_db
from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.fields import Command
from odoo.modules.registry import DummyRLock, Registry

from .. import const
from ..engine import signing
from ..engine.scheduler import own_transactions
from ..models.res_partner import TRANSACTION_PARTNER_JOBS


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


# Levels while a request is checked: this module's lines, and the errors of the HTTP layer and of
# the database layer (tracebacks of failed requests, failed queries), whatever the run's levels.
CAPTURED_LEVELS = {"odoo.addons.finance_sync": logging.INFO, "odoo.http": logging.ERROR, "odoo.sql_db": logging.ERROR}


@contextmanager
def captured_logs():
    """Every record logged meanwhile (see ``CAPTURED_LEVELS``)."""
    handler = _Records()
    loggers = {logging.getLogger(name): level for name, level in CAPTURED_LEVELS.items()}
    levels = {logger: logger.level for logger in loggers}
    for logger, level in loggers.items():
        logger.setLevel(level)
    logging.getLogger().addHandler(handler)
    try:
        yield handler.records
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)


# A company with Odoo's generic chart of accounts, committed once into the test database before
# the tests run (scripts/test.sh, ``prepare_shared_company``): every test class starts from it
# instead of creating a company and loading a chart of its own (a few seconds a class). Each
# class's transaction is rolled back, so each finds it as it was committed. Without it (Odoo's own
# test runner), each class creates its company as AccountTestInvoicingCommon does.
SHARED_COMPANY = "finance_sync test company"


def prepare_shared_company(env):
    """Create and commit the shared test company, with its chart of accounts, unless it exists."""
    Company = env["res.company"].sudo()
    if Company.search_count([("name", "=", SHARED_COMPANY)]):
        return
    company = Company.create({"name": SHARED_COMPANY})
    template = env["account.chart.template"]._guess_chart_template(company.country_id)
    env["account.chart.template"].try_loading(template, company=company, install_demo=False)
    if not company.account_fiscal_country_id:
        company.account_fiscal_country_id = env.ref("base.us")
    env.cr.commit()  # pylint: disable=invalid-commit - run by scripts/test.sh before the tests, never in one


class FinanceSyncCase(AccountTestInvoicingCommon):
    @classmethod
    def get_default_groups(cls):
        return super().get_default_groups() | cls.env.ref("finance_sync.finance_sync_group_admin")

    @classmethod
    def setup_independent_company(cls, **kwargs):
        shared = cls.env["res.company"].search([("name", "=", SHARED_COMPANY)], limit=1)
        if shared and not kwargs and not cls.chart_template and not cls.country_code:
            cls.env.user.company_ids = [Command.link(shared.id)]
            return shared
        return super().setup_independent_company(**kwargs)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.receiver = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        cls.receiver.start()
        cls.addClassCleanup(cls.receiver.stop)
        cls.secret = signing.generate_secret()
        cls.company = cls.company_data["company"]
        cls.backend = cls.create_backend("Warehouse", cls.secret)
        cls.Job = cls.env["finance.sync.job"]

    @classmethod
    def create_backend(cls, name, secret=None, companies=None, path="/hook", **vals):
        return cls.env["finance.sync.backend"].create(
            {
                "name": name,
                "endpoint_url": cls.receiver.url_for(path),
                "signing_secret": secret or signing.generate_secret(),
                "company_ids": [(6, 0, (companies or cls.company).ids)],
                "state": "active",
                **vals,
            }
        )

    @classmethod
    def create_backend_without_secret(cls, name):
        """An active backend that signs nothing and has no secret: it accepts no delivery."""
        return cls.env["finance.sync.backend"].create(
            {
                "name": name,
                "signing_enabled": False,
                "endpoint_url": cls.receiver.url_for("/hook"),
                "company_ids": [(6, 0, cls.company.ids)],
                "state": "active",
            }
        )

    @classmethod
    def make_user(cls, login, *group_xmlids, companies=None):
        """An internal user of ``companies`` (default: the test company) with these groups."""
        companies = companies or cls.company
        return cls.env["res.users"].create(
            {
                "name": login,
                "login": login,
                "email": f"{login}@example.com",
                "company_id": companies[:1].id,
                "company_ids": [(6, 0, companies.ids)],
                "group_ids": [(6, 0, [cls.env.ref(xmlid).id for xmlid in ("base.group_user", *group_xmlids)])],
            }
        )

    def setUp(self):
        super().setUp()
        self.receiver.clear()

    # --- receiver helpers ------------------------------------------------------------

    def respond(self, status=200, body=None, headers=None, path="/hook", once=False):
        """Answer POSTs on ``path`` with ``status`` (once: only the next one)."""
        response = Response(
            json.dumps(body if body is not None else {"ok": status < 300}),
            status=status,
            headers=headers or {},
            content_type="application/json",
        )
        expect = self.receiver.expect_oneshot_request if once else self.receiver.expect_request
        expect(path, method="POST").respond_with_response(response)

    def received(self):
        """[(headers, parsed body, raw body)] of every request the receiver got, in order."""
        return [
            (req.headers, json.loads(req.get_data() or b"null"), req.get_data()) for req, _resp in self.receiver.log
        ]

    def received_event_ids(self):
        return [body["event_id"] for _h, body, _raw in self.received()]

    # --- Odoo helpers ------------------------------------------------------------------

    def dispatch(self, backend=None):
        """Send what is due to ``backend`` (default: the shared one); return the attempts made."""
        return self.env["finance.sync.dispatcher"]._dispatch(backends=(backend or self.backend).sudo())

    def jobs_of(self, record, backend=None):
        field = "move_id" if record._name == "account.move" else "payment_id"
        return self.Job.search(
            [(field, "=", record.id), ("backend_id", "=", (backend or self.backend).id)], order="sequence"
        )

    def commit_hooks(self):
        """Run what runs just before a commit (payment status changes are reported there), and
        end what the module remembers until the transaction's commit: what follows is like a
        new transaction."""
        self.env.flush_all()
        self.env.cr.precommit.run()
        self.env.cr.postcommit.data.pop(TRANSACTION_PARTNER_JOBS, None)
        self.env.cr.postcommit.data.pop(const.TRANSACTION_JOBS, None)


def create_ping_jobs(env, backend, partners, events_per_partner=1):
    """``events_per_partner`` ping events for each partner (a document),
    sequences 1..n, as the outbox holds them. Returns {event id: (partner id, sequence)}."""
    vals, index = [], {}
    for partner in partners:
        for sequence in range(1, events_per_partner + 1):
            event_id = str(uuid.uuid4())
            index[event_id] = (partner.id, sequence)
            vals.append(
                {
                    "backend_id": backend.id,
                    "company_id": backend.company_ids[:1].id,
                    "event_uuid": event_id,
                    "event_type": "ping",
                    "res_model": "res.partner",
                    "res_id": partner.id,
                    "sequence": sequence,
                    "payload": backend._prepare_ping_payload(event_id),
                }
            )
    env["finance.sync.job"].create(vals)
    return index


def registry_shared_with_threads():
    """A context in which threads of the test's own (workers, HTTP requests served by Odoo) may
    use the loaded registry: Odoo's own test runner holds the registry lock while it runs tests,
    and HttpCase lifts it the same way for its server threads."""
    return patch.object(Registry, "_lock", DummyRLock())


def run_dispatchers(db, backend_id, workers=2, budget=60, wait=120):
    """Run ``workers`` dispatcher passes over ``backend_id`` at once, each in a thread with its own
    connection to ``db``, committing its claims and outcomes as it goes like the cron does; return
    the exceptions they raised (none expected)."""
    errors = []
    barrier = threading.Barrier(workers)

    def worker():
        try:
            with closing(sql_db.db_connect(db).cursor()) as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                barrier.wait()
                env["finance.sync.dispatcher"]._run(
                    time.monotonic() + budget, *own_transactions(cr), backend_ids=[backend_id]
                )
        except Exception as exc:  # returned to the test, which asserts there is none
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _i in range(workers)]
    with registry_shared_with_threads():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(wait)
    return errors


def settled_in_odoo(env, payments):
    """{(payment id, document id): (amount in the payment's currency, in the document's, in the
    company's)} as money strings, from Odoo's partial reconciliations between each payment's
    receivable or payable lines and invoices, bills or credit notes: a grouped read written here,
    independent of the module's payload code."""
    env.flush_all()
    env.cr.execute(
        """SELECT pay.id, doc.id,
                  round(sum(CASE WHEN part.debit_move_id = line.id THEN part.debit_amount_currency
                                 ELSE part.credit_amount_currency END), pay_cur.decimal_places)::text,
                  round(sum(CASE WHEN part.debit_move_id = line.id THEN part.credit_amount_currency
                                 ELSE part.debit_amount_currency END), doc_cur.decimal_places)::text,
                  round(sum(part.amount), company_cur.decimal_places)::text
             FROM account_payment pay
             JOIN account_move_line line ON line.move_id = pay.move_id
             JOIN account_account acc ON acc.id = line.account_id
                  AND acc.account_type IN ('asset_receivable', 'liability_payable')
             JOIN account_partial_reconcile part ON line.id IN (part.debit_move_id, part.credit_move_id)
             JOIN account_move_line other ON other.id = CASE WHEN part.debit_move_id = line.id
                                                             THEN part.credit_move_id ELSE part.debit_move_id END
             JOIN account_move doc ON doc.id = other.move_id
                  AND doc.move_type IN ('out_invoice', 'out_refund', 'in_invoice', 'in_refund')
             JOIN res_currency pay_cur ON pay_cur.id = pay.currency_id
             JOIN res_currency doc_cur ON doc_cur.id = doc.currency_id
             JOIN res_company company ON company.id = pay.company_id
             JOIN res_currency company_cur ON company_cur.id = company.currency_id
            WHERE pay.id IN %s
            GROUP BY pay.id, doc.id, pay_cur.decimal_places, doc_cur.decimal_places, company_cur.decimal_places""",
        [tuple(payments.ids)],
    )
    return {(pay_id, doc_id): amounts for pay_id, doc_id, *amounts in env.cr.fetchall()}


def allocations_in_odoo(env, payments):
    """{(payment id, document id): [amounts]} of every document Odoo counts as settled by each
    payment (``reconciled_invoice_ids``, ``reconciled_bill_ids``): the amounts of their partial
    reconciliations (``settled_in_odoo``), or None each for a document linked to the payment
    without one (a payment reset and cancelled keeps its link to the invoice it paid)."""
    settled = settled_in_odoo(env, payments)
    linked = {
        (payment.id, move.id)
        for payment in payments
        for move in payment.reconciled_invoice_ids | payment.reconciled_bill_ids
    }
    assert set(settled) <= linked, set(settled) - linked
    return {key: list(settled.get(key, (None, None, None))) for key in linked}
