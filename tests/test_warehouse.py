"""The PostgreSQL warehouse transport end to end: a second database on the local PostgreSQL
server stands in for the warehouse (created for these tests, dropped after them), and the real
dispatcher delivers invoices, credit notes, payments, resets and cancellations into it."""

import json
import re
import secrets
import socket
import uuid
from contextlib import closing
from datetime import date
from pathlib import Path
from unittest.mock import patch

import psycopg2
from lxml import etree
from psycopg2 import sql

from odoo import fields, sql_db
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import config
from odoo.tools.safe_eval import safe_eval

from ..engine import classify, scheduler
from ..engine.transport import OutboundRequest, get_transport
from ..engine.warehouse import schema as warehouse_schema
from ..utils import internal
from .common import FinanceSyncCase, allocations_in_odoo

SCHEMA = "finance_sync"


def server_connection(dbname="postgres"):
    """An autocommit connection to the test server, with Odoo's own credentials."""
    _name, info = sql_db.connection_info_for(dbname)
    conn = psycopg2.connect(**info)
    conn.autocommit = True
    return conn


def documented_queries():
    """The SQL examples docs/warehouse.md offers BI tools, in their order."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "warehouse.md").read_text(encoding="utf-8")
    section = text[text.index("Three queries to start from") :]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)[:3]


def documented_feed_queries():
    """The SQL docs/warehouse.md offers BI tools for the latest final period figures: trial
    balance, aging, general ledger, in their order."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "warehouse.md").read_text(encoding="utf-8")
    section = text[text.index("The latest final figures, per company and period") :]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.DOTALL)[:3]


FEB = (date(2025, 2, 1), date(2025, 2, 28))
FEED_TABLES = ("feed_run", "feed_run_part", "fact_trial_balance", "fact_aging", "fact_gl_summary", "sync_event")


def free_port():
    """A local TCP port nothing listens on."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install")
class TestWarehouse(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        suffix = uuid.uuid4().hex[:12]
        cls.wh_db, cls.wh_role = f"fs_wh_{suffix}", f"fs_wh_{suffix}"
        cls.wh_password = "pw_" + secrets.token_hex(12)
        with closing(server_connection()) as conn, conn.cursor() as cr:
            cr.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(cls.wh_role)), [cls.wh_password]
            )
            cr.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(cls.wh_db), sql.Identifier(cls.wh_role))
            )
        cls.addClassCleanup(cls._drop_warehouse)
        cls.wh = cls.create_warehouse_backend("BI warehouse")

    @classmethod
    def create_warehouse_backend(cls, name):
        return cls.env["finance.sync.backend"].create(
            {
                "name": name,
                "transport": "warehouse",
                "warehouse_host": "127.0.0.1",
                "warehouse_port": int(config["db_port"] or 5432),
                "warehouse_database": cls.wh_db,
                "warehouse_user": cls.wh_role,
                "warehouse_password": cls.wh_password,
                "warehouse_sslmode": "disable",  # the test server has no TLS; private endpoints are allowed here
                "warehouse_schema": SCHEMA,
                "signing_enabled": False,
                "company_ids": [(6, 0, cls.company.ids)],
                "state": "active",
            }
        )

    @classmethod
    def _drop_warehouse(cls):
        with closing(server_connection()) as conn, conn.cursor() as cr:
            cr.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(cls.wh_db)))
            cr.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(cls.wh_role)))

    def setUp(self):
        super().setUp()
        self.query(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))

    # --- the form ------------------------------------------------------------------------

    def test_the_form_shows_a_warehouse_what_it_uses(self):
        """A PostgreSQL backend's form hides what only webhooks use (endpoint, authentication,
        signing, the inbound webhook and the authorities that come through it, the documents a
        platform creates) and shows its port as a number, not 5,432. A webhook backend's form
        shows them. The payload profile stays: the warehouse stores the lines, analytics and
        partner details it lets through."""
        arch = etree.fromstring(self.wh.get_views([(False, "form")])["views"]["form"]["arch"])

        names = {n.get("name") for n in arch.xpath("//field[not(ancestor::field)]")}
        write_only = {"warehouse_password", "auth_secret", "signing_secret"}

        def visible(node, values):
            while node is not None:
                if safe_eval(node.get("invisible") or "False", values):
                    return False
                node = node.getparent()
            return True

        def shown(backend, fname):
            """Whether the form shows ``fname`` (one of its places) for ``backend``."""
            values = {**backend.read(sorted(names - write_only))[0], **dict.fromkeys(write_only, False)}
            nodes = arch.xpath(f"//field[@name='{fname}'][not(ancestor::field)]")
            self.assertTrue(nodes, fname)
            return any(visible(node, values) for node in nodes)

        webhook_only = (
            "endpoint_url",
            "auth_mode",
            "signing_enabled",
            "signing_secret",
            "webhook_token",
            "inbound_url",
            "payment_authority",
            "credit_authority",
            "document_source_invoices",
            "document_source_bills",
        )
        for fname in webhook_only:
            self.assertFalse(shown(self.wh, fname), fname)
            self.assertTrue(shown(self.backend, fname), fname)
        for fname in ("warehouse_host", "warehouse_port", "timeout", "profile_lines", "profile_partner_vat"):
            self.assertTrue(shown(self.wh, fname), fname)
        (port,) = arch.xpath("//field[@name='warehouse_port']")
        options = safe_eval(port.get("options") or "{}", {"false": False, "true": True})  # the web client's words
        # Odoo 19's integer field reads ``enable_formatting`` (web/static/src/views/fields/integer/
        # integer_field.js); an option it does not know would leave 5,432 on the form.
        self.assertIs(options.get("enable_formatting"), False, "5432, not 5,432")

    # --- helpers ------------------------------------------------------------------------

    def query(self, statement, params=None):
        """Run ``statement`` in the warehouse as its owner (``{schema}`` in a text statement is the
        warehouse schema); the rows it returns, if any."""
        if isinstance(statement, str):
            statement = sql.SQL(statement).format(schema=sql.Identifier(SCHEMA))
        with closing(server_connection(self.wh_db)) as conn, conn.cursor() as cr:
            cr.execute(statement, params)
            return cr.fetchall() if cr.description else None

    def rows(self, table, columns, order="odoo_id"):
        return self.query(f"SELECT {columns} FROM {{schema}}.{table} ORDER BY {order}")  # noqa: S608 - test constants

    def initialize(self):
        action = self.wh.action_initialize_warehouse()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])

    def deliver(self, backend=None):
        """Dispatch until nothing more is due (events of one document go one after the other)."""
        total = 0
        for _round in range(10):
            sent = self.dispatch(backend or self.wh)
            total += sent
            if not sent:
                break
        return total

    def snapshot(self):
        """Every warehouse row, to compare before and after."""
        tables = (
            "fact_invoice",
            "fact_invoice_line",
            "fact_payment",
            "fact_payment_allocation",
            "fact_reconciliation",
            "sync_event",
        )
        return {
            table: self.query(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {{schema}}.{table} t")  # noqa: S608
            for table in tables
        }

    # --- period feeds -------------------------------------------------------------------

    def feed(self, kind, **vals):
        return self.env["finance.sync.feed"].create(
            {
                "name": f"{kind} to the warehouse",
                "backend_id": self.wh.id,
                "company_id": self.company.id,
                "kind": kind,
                "schedule": "manual",
                "lock_date_field": "sale_lock_date",
                **vals,
            }
        )

    def feed_jobs(self, runs):
        return self.Job.search([("res_model", "=", runs._name), ("res_id", "in", runs.ids)], order="id")

    def odoo(self, query, *params):
        """Rows of ``query`` over Odoo's own tables (amounts rounded in SQL, as text)."""
        self.env.flush_all()
        self.env.cr.execute(query, params)
        return self.env.cr.fetchall()

    def odoo_trial_balance(self, date_from, date_to):
        """{account code: (opening, debit, credit, closing)} of the company's posted lines."""
        rows = self.odoo(
            """SELECT account_id,
                      round(COALESCE(sum(balance) FILTER (WHERE date < %s), 0), 2)::text,
                      round(COALESCE(sum(debit) FILTER (WHERE date >= %s), 0), 2)::text,
                      round(COALESCE(sum(credit) FILTER (WHERE date >= %s), 0), 2)::text,
                      round(sum(balance), 2)::text
                 FROM account_move_line
                WHERE parent_state = 'posted' AND company_id = %s AND date <= %s
                GROUP BY account_id""",
            date_from,
            date_from,
            date_from,
            self.company.id,
            date_to,
        )
        Account = self.env["account.account"].with_company(self.company)
        return {Account.browse(account_id).code: tuple(amounts) for account_id, *amounts in rows}

    def documented_rows(self, number):
        """The rows of the documented feed query ``number``, amounts as the warehouse writes them
        (text, not the float Odoo's driver makes of a numeric)."""
        query = documented_feed_queries()[number].strip().rstrip(";")
        wrapped = sql.SQL("SELECT row_to_json(q)::text FROM ({}) q").format(sql.SQL(query))
        return [list(json.loads(text, parse_float=str).values()) for (text,) in self.query(wrapped)]

    def warehouse_trial_balance(self):
        return {code: tuple(amounts) for _company, _from, _to, code, *amounts in self.documented_rows(0)}

    def test_the_documented_feed_queries_give_odoos_latest_final_figures(self):
        """Trial balance, AR/AP aging and GL summary of February, final, delivered to the
        warehouse: the BI queries of docs/warehouse.md return Odoo's own figures (grouped reads of
        the posted lines), with cents, an invoice in another currency, and an aging at February's
        end that ignores a payment of March."""
        self.initialize()
        eur = self.setup_other_currency("EUR")
        old = self._create_invoice_one_line(
            price_unit=1234.57,
            tax_ids=[],
            invoice_date="2025-01-15",
            invoice_date_due="2025-01-31",
            invoice_payment_term_id=False,
            post=True,
        )
        foreign = self._create_invoice_one_line(
            price_unit=12.10,
            currency_id=eur.id,
            partner_id=self.partner_b.id,
            invoice_date="2025-02-03",
            invoice_payment_term_id=False,
            post=True,
        )
        self.assertNotEqual(foreign.amount_total, abs(foreign.amount_total_signed), "a real conversion")
        self._create_invoice_one_line(
            price_unit=0.07,
            tax_ids=[],
            move_type="in_invoice",
            partner_id=self.partner_b.id,
            invoice_date="2025-02-20",
            invoice_payment_term_id=False,
            post=True,
        )
        self._create_invoice_one_line(price_unit=999.99, invoice_date="2025-02-21", post=False)  # a draft
        self._register_payment(old, amount=400.33, payment_date="2025-03-05")
        self.company.sale_lock_date = FEB[1]
        kinds = ("trial_balance", "ar_aging", "ap_aging", "gl_summary")
        runs = self.env["finance.sync.feed.run"].union(*(self.feed(kind)._run_period(*FEB) for kind in kinds))
        self.assertEqual(runs.mapped("final"), [True] * 4)
        self.commit_hooks()
        self.deliver()
        jobs = self.feed_jobs(runs)
        self.assertEqual(set(jobs.mapped("state")), {"done"}, jobs.mapped("last_error"))
        self.assertEqual(
            sorted(self.query("SELECT kind, is_complete, version FROM {schema}.feed_run")),
            sorted((kind, True, 1) for kind in kinds),
        )

        self.assertEqual(self.warehouse_trial_balance(), self.odoo_trial_balance(*FEB))
        self.assertEqual(
            {tuple(row[:3]) for row in self.documented_rows(0)},
            {(self.company.id, *(str(day) for day in FEB))},
        )

        aging = {
            (kind, partner_id): tuple(amounts)
            for _company, _as_of, kind, partner_id, _name, *amounts in self.documented_rows(1)
        }
        expected = {}
        for kind, account_type, sign in (("ar_aging", "asset_receivable", 1), ("ap_aging", "liability_payable", -1)):
            for partner_id, total in self.odoo(
                """SELECT l.partner_id, round(%s * sum(l.balance), 2)::text
                     FROM account_move_line l JOIN account_account a ON a.id = l.account_id
                    WHERE l.parent_state = 'posted' AND l.company_id = %s AND l.date <= %s
                      AND a.account_type = %s
                    GROUP BY l.partner_id HAVING round(sum(l.balance), 2) <> 0""",
                sign,
                self.company.id,
                FEB[1],
                account_type,
            ):
                expected[(kind, partner_id)] = total
        self.assertEqual({key: amounts[-1] for key, amounts in aging.items()}, expected)
        self.assertEqual(
            aging[("ar_aging", self.partner_a.id)][1],
            f"{old.amount_total_signed:.2f}",
            "due on January 31: 1-30 days past due at February's end, the March payment ignored",
        )
        self.assertEqual(aging[("ar_aging", self.partner_b.id)][0], f"{foreign.amount_total_signed:.2f}", "not due")

        gl = {
            (journal, account): (debit, credit, lines)
            for _company, _from, _to, journal, account, debit, credit, lines in self.documented_rows(2)
        }
        rows = self.odoo(
            """SELECT journal_id, account_id, round(sum(debit), 2)::text, round(sum(credit), 2)::text, count(*)
                 FROM account_move_line
                WHERE parent_state = 'posted' AND company_id = %s AND date BETWEEN %s AND %s
                GROUP BY journal_id, account_id""",
            self.company.id,
            *FEB,
        )
        Account = self.env["account.account"].with_company(self.company)
        Journal = self.env["account.journal"]
        self.assertEqual(
            gl,
            {
                (Journal.browse(journal).code, Account.browse(account).code): (debit, credit, count)
                for journal, account, debit, credit, count in rows
            },
        )

    def test_a_feed_version_is_seen_whole_and_supersedes_the_older_once_complete(self):
        """A run in parts is invisible to the BI queries until its last part is applied; then it
        supersedes the older version (kept, marked). Delivered again, nothing changes; the older
        version arriving late stays superseded."""
        self.initialize()
        self.one_thread()
        self._create_invoice_one_line(price_unit=1234.57, tax_ids=[], invoice_date="2025-02-03", post=True)
        self.company.sale_lock_date = FEB[1]
        feed = self.feed("trial_balance", part_size=1)
        first = feed._run_period(*FEB)
        self.commit_hooks()
        self.deliver()
        v1 = self.warehouse_trial_balance()
        self.assertEqual(v1, self.odoo_trial_balance(*FEB))

        self._create_invoice_one_line(
            price_unit=0.07, tax_ids=[], move_type="in_invoice", invoice_date="2025-02-20", post=True
        )
        second = feed._run_period(*FEB)
        self.assertEqual((second.version, second.final), (2, True))
        self.assertGreater(second.part_count, 2)
        self.commit_hooks()
        # The warehouse refuses the part of the new expense (0.07): the run's other parts land.
        self.query("ALTER TABLE {schema}.fact_trial_balance ADD CONSTRAINT not_0_07 CHECK (closing <> 0.07)")
        self.deliver()
        jobs = self.feed_jobs(second)
        self.assertIn("failed", jobs.mapped("state"))
        received, complete = self.query("SELECT parts_received, is_complete FROM {schema}.feed_run WHERE version = 2")[
            0
        ]
        self.assertEqual((complete, received < second.part_count), (False, True))
        self.assertEqual(self.warehouse_trial_balance(), v1, "a half-loaded version is not seen")
        self.query("ALTER TABLE {schema}.fact_trial_balance DROP CONSTRAINT not_0_07")
        jobs.filtered(lambda job: job.state == "failed").action_retry()
        self.deliver()
        self.assertEqual(set(self.feed_jobs(second).mapped("state")), {"done"})
        self.assertEqual(self.warehouse_trial_balance(), self.odoo_trial_balance(*FEB))
        self.assertNotEqual(self.warehouse_trial_balance(), v1)
        self.assertEqual(
            self.query("SELECT version, is_complete, superseded_by::text FROM {schema}.feed_run ORDER BY version"),
            [(1, True, second.run_uuid), (2, True, None)],
        )
        self.assertEqual(
            self.query("SELECT version, count(*) FROM {schema}.fact_trial_balance GROUP BY version ORDER BY 1"),
            [(1, first.row_count), (2, second.row_count)],
            "the older version is kept",
        )

        snapshot = {
            table: self.query(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {{schema}}.{table} t")  # noqa: S608
            for table in FEED_TABLES
        }
        jobs = self.feed_jobs(first | second)
        jobs._mark_pending()  # the same events again
        self.deliver()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(
            {job.attempt_ids.sorted("id")[-1].response_excerpt for job in jobs}, {"duplicate"}, "recognised by id"
        )
        self.assertEqual(
            {
                table: self.query(f"SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {{schema}}.{table} t")  # noqa: S608
                for table in FEED_TABLES
            },
            snapshot,
        )

    def test_an_older_feed_version_arriving_late_never_becomes_the_latest(self):
        self.initialize()
        self._create_invoice_one_line(price_unit=12.10, tax_ids=[], invoice_date="2025-02-03", post=True)
        self.company.sale_lock_date = FEB[1]
        feed = self.feed("trial_balance")
        first = feed._run_period(*FEB)
        self._create_invoice_one_line(
            price_unit=0.07, tax_ids=[], move_type="in_invoice", invoice_date="2025-02-20", post=True
        )
        second = feed._run_period(*FEB)
        self.commit_hooks()
        transport = self.wh._get_transport()
        self.addCleanup(transport.close)

        def send(run):
            for job in self.feed_jobs(run):
                body = json.dumps(job.payload).encode()
                result = transport.send(OutboundRequest(url="", body=body, headers={}))
                self.assertEqual(result.status, 200, result.error)

        send(second)
        send(first)  # late
        self.assertEqual(
            self.query("SELECT version, is_complete, superseded_by::text FROM {schema}.feed_run ORDER BY version"),
            [(1, True, second.run_uuid), (2, True, None)],
        )
        self.assertEqual(self.warehouse_trial_balance(), self.odoo_trial_balance(*FEB))
        self.assertEqual(self.query("SELECT version FROM {schema}.feed_run_latest_final"), [(2,)])

    def test_a_feed_part_contradicting_its_run_fails_alone(self):
        self.initialize()
        self._create_invoice_one_line(price_unit=12.10, tax_ids=[], invoice_date="2025-02-03", post=True)
        run = self.feed("ar_aging")._run_period(*FEB)
        self.commit_hooks()
        self.deliver()
        job = self.feed_jobs(run)
        self.assertEqual(job.state, "done")
        forged = {**job.payload, "event_id": str(uuid.uuid4())}
        forged["feed"] = {**forged["feed"], "version": 7}
        result = self.wh._get_transport().send(OutboundRequest(url="", body=json.dumps(forged).encode(), headers={}))
        self.assertIsNone(result.status)
        self.assertIn("another run", str(result.error))
        self.assertEqual(
            self.query("SELECT event_id::text FROM {schema}.sync_event WHERE type LIKE 'feed.%'"),
            [(job.event_uuid,)],
            "nothing of it kept",
        )
        self.assertEqual(self.query("SELECT version FROM {schema}.feed_run"), [(1,)])

    # --- initialization -----------------------------------------------------------------

    def test_initialize_from_an_empty_database_then_report_the_version(self):
        action = self.wh.action_test_connection()
        self.assertEqual(action["params"]["type"], "warning", "reached, to be set up: not a failure")
        self.assertEqual(action["params"]["title"], "Connected, not ready yet")
        self.assertIn("not initialized", action["params"]["message"])
        self.initialize()
        latest = warehouse_schema.latest_version()
        self.assertEqual(
            self.query("SELECT version FROM {schema}.schema_migrations ORDER BY version"),
            [(version,) for version in range(1, latest + 1)],
        )
        action = self.wh.action_initialize_warehouse()
        self.assertIn("up to date", action["params"]["message"])
        action = self.wh.action_test_connection()
        self.assertEqual(action["params"]["type"], "success", action["params"]["message"])
        self.assertIn(f"Schema version {latest} found", action["params"]["message"])
        self.assertIn("may write", action["params"]["message"])

    def test_each_connection_test_outcome_in_its_own_words_with_the_servers_reason(self):
        """Against the real server: unreachable, SSL required but not offered (this cluster has no
        SSL), a wrong password, a missing database, then a reachable warehouse. No outcome speaks
        of an event applied again (a test has no event)."""
        port = int(config["db_port"] or 5432)
        free = free_port()
        cases = [
            (
                {"warehouse_port": free},
                f"Could not reach the warehouse's database server at 127.0.0.1:{free}",
                "Connection refused",
            ),
            (
                {"warehouse_sslmode": "require"},
                "does not offer SSL, but the SSL mode is require",
                "server does not support SSL, but SSL was required",
            ),
            (
                {"warehouse_password": "not-" + self.wh_password},
                f"refused the user {self.wh_role}: check the user name and the password",
                "password authentication failed",
            ),
            (
                {"warehouse_database": self.wh_db + "_missing"},
                f"has no database {self.wh_db}_missing: create it",
                "does not exist",
            ),
        ]
        restore = {"warehouse_port": port, "warehouse_sslmode": "disable", "warehouse_database": self.wh_db}
        for vals, words, reason in cases:
            with self.subTest(words):
                self.wh.write(vals)
                action = self.wh.action_test_connection()
                text = action["params"]["message"]
                self.assertEqual((action["params"]["type"], action["params"]["title"]), ("danger", "Connection failed"))
                self.assertIn(words, text)
                self.assertIn("The server said:", text)
                self.assertIn(reason, text, "the server's own reason")
                self.assertNotIn("applied again", text)
                self.assertNotIn("Connected as", text)
                self.assertNotIn(self.wh_password[3:], text)
                self.assertEqual(self.wh.connection_test_state, "failed")
                self.wh.write({**restore, "warehouse_password": self.wh_password})
        self.initialize()
        action = self.wh.action_test_connection()
        self.assertEqual((action["params"]["type"], action["params"]["title"]), ("success", "Connection OK"))
        self.assertEqual(self.wh.connection_test_state, "passed")

    def test_a_newer_warehouse_schema_is_refused_and_left_untouched(self):
        self.initialize()
        newer = warehouse_schema.latest_version() + 1
        self.query("INSERT INTO {schema}.schema_migrations (version, name) VALUES (%s, 'future')", [newer])
        action = self.wh.action_initialize_warehouse()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn(f"version {newer}, newer than this module knows", action["params"]["message"])
        self.assertEqual(self.query("SELECT max(version) FROM {schema}.schema_migrations"), [(newer,)])
        invoice = self._create_invoice(post=True)
        self.deliver()
        job = self.jobs_of(invoice, self.wh)
        self.assertEqual(job.state, "failed")
        self.assertIn("newer than this module knows", job.last_error)

    def test_events_before_initialization_fail_and_say_to_initialize(self):
        invoice = self._create_invoice(post=True)
        self.deliver()
        job = self.jobs_of(invoice, self.wh)
        self.assertEqual(job.state, "failed")
        self.assertIn("initialize the warehouse", job.last_error)
        exception = job.exception_ids
        self.assertEqual(exception.category, "warehouse_schema")
        self.assertIn("initialize the warehouse", exception.explanation)
        self.initialize()
        job.action_retry()
        self.deliver()
        self.assertEqual(job.state, "done")

    # --- delivery -----------------------------------------------------------------------

    def test_documents_land_in_the_star_schema(self):
        self.initialize()
        invoice = self._create_invoice(post=True)
        refunded = self._create_invoice(post=True)
        refund = self._reverse_invoice(refunded, post=True)
        reset = self._create_invoice(post=True)
        cancelled = self._create_invoice(post=True)
        self.commit_hooks()
        payment = self._register_payment(invoice)
        self.commit_hooks()
        reset.button_draft()
        cancelled.button_cancel()
        self.deliver()
        jobs = self.Job.search([("backend_id", "=", self.wh.id)])
        self.assertEqual(set(jobs.mapped("state")), {"done"}, jobs.mapped("last_error"))

        columns = "odoo_id, kind, number, amount_total::text, amount_residual::text, payment_state, status"
        invoices = {row[0]: row[1:] for row in self.rows("fact_invoice", columns)}
        moves = invoice | refunded | refund | reset | cancelled
        self.assertEqual(set(invoices), set(moves.ids))
        for move in moves:
            _kind, number, total, _residual, _payment_state, status = invoices[move.id]
            self.assertEqual(total, f"{move.amount_total:.2f}", move.name)
            self.assertEqual(number, move.name)
            self.assertEqual(status, move.state)
        self.assertEqual(invoices[invoice.id][3:5], ("0.00", "paid"))
        self.assertEqual(invoices[refund.id][0], "customer_credit_note")
        self.assertEqual(invoices[reset.id][5], "draft", "a reset to draft changes the status, nothing is deleted")
        self.assertEqual(invoices[cancelled.id][5], "cancel")

        lines = self.query(
            "SELECT invoice_id, count(*), sum(subtotal)::text FROM {schema}.fact_invoice_line "
            "WHERE is_current GROUP BY invoice_id"
        )
        untaxed = {move.id: f"{move.amount_untaxed:.2f}" for move in moves}
        for invoice_id, _count, subtotal in lines:
            self.assertEqual(f"{float(subtotal):.2f}", untaxed[invoice_id])
        posted_state = self.jobs_of(payment, self.wh)[-1].payload["document"]["state"]
        self.assertEqual(
            self.rows("fact_payment", "odoo_id, amount::text, status"),
            [(payment.id, f"{payment.amount:.2f}", posted_state)],
            "a payment's status is the one its last event carried",
        )
        links = self.query(
            "SELECT document_model, document_id, counterpart_model, counterpart_id FROM {schema}.fact_reconciliation"
        )
        self.assertIn(("account.move", invoice.id, "account.move", payment.move_id.id), links, "paid by the payment")
        self.assertIn(("account.move", refund.id, "account.move", refunded.id), links, "the credit note settles")
        partners = self.rows("dim_partner", "odoo_id, name")
        self.assertIn((invoice.partner_id.id, invoice.partner_id.name), partners)
        accounts = dict(self.rows("dim_account", "odoo_id, code"))
        line = invoice.invoice_line_ids[0]
        self.assertEqual(accounts[line.account_id.id], line.account_id.code)
        self.assertEqual(
            sorted(self.rows("sync_event", "event_id::text", order="event_id")),
            sorted((event_id,) for event_id in jobs.mapped("event_uuid")),
        )

    def test_the_documented_bi_queries_agree_with_odoo(self):
        """The three queries docs/warehouse.md offers BI users, run as written on delivered data."""
        self.initialize()
        paid = self._create_invoice(post=True)
        open_invoice = self._create_invoice(post=True)
        refund = self._reverse_invoice(self._create_invoice(post=True), post=True)
        self.commit_hooks()
        payment = self._register_payment(paid)
        self.commit_hooks()
        self.deliver()
        open_receivables, revenue, payments = documented_queries()
        moves = self.env["account.move"].search(
            [("partner_id", "=", self.partner_a.id), ("move_type", "=", "out_invoice"), ("state", "=", "posted")]
        )
        open_moves = moves.filtered("amount_residual")
        self.assertIn(open_invoice, open_moves)
        self.assertEqual(
            [(name, cur, f"{amount:.2f}", count) for name, cur, amount, count in self.query(open_receivables)],
            [
                (
                    self.partner_a.name,
                    open_invoice.currency_id.name,
                    f"{sum(open_moves.mapped('amount_residual')):.2f}",
                    len(open_moves),
                )
            ],
        )
        expected = {}
        for line in (moves | refund).invoice_line_ids:
            sign = -1 if line.move_id.move_type == "out_refund" else 1
            key = (line.move_id.invoice_date.replace(day=1), line.account_id.code)
            expected[key] = expected.get(key, 0.0) + sign * line.price_subtotal
        self.assertEqual(
            {(month, code): f"{amount:.2f}" for month, code, _name, amount in self.query(revenue)},
            {key: f"{amount:.2f}" for key, amount in expected.items()},
        )
        self.assertEqual(
            [(journal, kind, f"{amount:.2f}", count) for journal, kind, _cur, count, amount in self.query(payments)],
            [(payment.journal_id.name, "customer_payment", f"{payment.amount:.2f}", 1)],
        )

    def test_redelivering_the_same_events_changes_nothing(self):
        self.initialize()
        invoice = self._create_invoice(post=True)
        self.commit_hooks()
        self._register_payment(invoice)
        self.commit_hooks()
        self.deliver()
        before = self.snapshot()
        jobs = self.Job.search([("backend_id", "=", self.wh.id)])
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        jobs._mark_pending()  # sent again: same ids, same bodies
        self.deliver()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(self.snapshot(), before)
        outcomes = jobs.attempt_ids.sorted("id")[-len(jobs) :].mapped("response_excerpt")
        self.assertEqual(set(outcomes), {"duplicate"})

    def test_an_older_event_never_overwrites_newer_state(self):
        self.initialize()
        invoice = self._create_invoice(post=True)
        invoice.button_draft()
        self.deliver()
        posted = self.jobs_of(invoice, self.wh)[0]
        self.assertEqual(self.rows("fact_invoice", "status, last_sequence"), [("draft", 2)])
        # A second backend feeding the same warehouse brings the posting (sequence 1) late.
        late = self.create_warehouse_backend("BI warehouse, second feed")
        older_id = str(uuid.uuid4())
        older = self.Job.sudo().create(
            {
                "backend_id": late.id,
                "company_id": self.company.id,
                "event_uuid": older_id,
                "event_type": posted.event_type,
                "res_model": posted.res_model,
                "res_id": posted.res_id,
                "sequence": 1,
                "payload": {**posted.payload, "event_id": older_id},
            }
        )
        self.deliver(late)
        self.assertEqual(older.state, "done")
        self.assertEqual(self.rows("fact_invoice", "status, last_sequence"), [("draft", 2)])
        self.assertEqual(
            self.query("SELECT outcome FROM {schema}.sync_event WHERE event_id = %s", [older_id]),
            [("skipped",)],
        )

    def test_payments_follow_their_state_and_what_they_settle(self):
        """A payment row is not frozen at *in process*: its status, its reconciliation and what it
        settles follow Odoo as the register wizard, a later reconciliation and an
        unreconciliation change them; so do the invoices' residuals."""
        self.initialize()
        first = self._create_invoice_one_line(price_unit=1234.57, tax_ids=[], post=True)
        second = self._create_invoice_one_line(price_unit=0.07, tax_ids=[], post=True)
        self.commit_hooks()
        partial = self._register_payment(first, amount=500.10, payment_difference_handling="open")
        self.commit_hooks()
        standalone = self.init_payment(800.11, post=True, date=fields.Date.today())
        self.commit_hooks()
        receivable = self.company_data["default_account_receivable"]
        (standalone.move_id | first | second).line_ids.filtered(lambda line: line.account_id == receivable).reconcile()
        self.commit_hooks()
        self.deliver()
        payments, moves = partial | standalone, first | second
        self.assert_warehouse_equals_odoo(payments, moves)
        self.assertEqual(
            {key[1] for key in self.allocations()}, {first.id, second.id}, "the standalone payment settles both"
        )

        second.line_ids.filtered(lambda line: line.account_id == receivable).remove_move_reconcile()
        self.commit_hooks()
        self.deliver()
        self.assert_warehouse_equals_odoo(payments, moves)
        gone = self.query("SELECT payment_id, invoice_id FROM {schema}.fact_payment_allocation WHERE NOT is_current")
        self.assertEqual(gone, [(standalone.id, second.id)], "kept, no longer current")
        self.assertEqual(set(self.Job.search([("backend_id", "=", self.wh.id)]).mapped("state")), {"done"})

    def allocations(self):
        return {
            (pay_id, doc_id): [amount, invoice_amount, company_amount]
            for pay_id, doc_id, amount, invoice_amount, company_amount in self.query(
                """SELECT payment_id, invoice_id, amount::text, invoice_amount::text, amount_company::text
                     FROM {schema}.fact_payment_allocation WHERE is_current"""
            )
        }

    def assert_warehouse_equals_odoo(self, payments, moves):
        payments.invalidate_recordset()
        moves.invalidate_recordset()
        self.assertEqual(
            self.rows("fact_payment", "odoo_id, status, is_reconciled, amount::text"),
            [(p.id, p.state, p.is_reconciled, f"{p.amount:.2f}") for p in payments.sorted("id")],
        )
        self.assertEqual(self.allocations(), allocations_in_odoo(self.env, payments))
        self.assertEqual(
            self.rows("fact_invoice", "odoo_id, payment_state, amount_residual::text"),
            [(m.id, m.payment_state, f"{m.amount_residual:.2f}") for m in moves.sorted("id")],
        )

    def test_send_again_restores_what_the_warehouse_lost(self):
        """A warehouse restored from an older backup lost an applied event: *Send again* delivers
        it once more under its id (nothing to forge); sent again when the warehouse has it, it
        changes nothing."""
        self.initialize()
        invoice = self._create_invoice(post=True)
        self.deliver()
        job = self.jobs_of(invoice, self.wh)

        def held():
            return (
                self.rows("fact_invoice", "odoo_id, status, amount_total::text, last_event_id::text"),
                self.rows("fact_invoice_line", "odoo_id, subtotal::text, is_current"),
                self.rows("sync_event", "event_id::text, outcome", order="event_id"),
            )

        before = held()
        self.assertEqual(before[0], [(invoice.id, "posted", f"{invoice.amount_total:.2f}", job.event_uuid)])
        self.query("DELETE FROM {schema}.fact_invoice_line")
        self.query("DELETE FROM {schema}.fact_invoice")
        self.query("DELETE FROM {schema}.sync_event")
        job.action_send_again()
        self.assertEqual(job.state, "done")
        self.assertEqual(held(), before)
        self.assertEqual(job.attempt_ids.sorted("id")[-1].response_excerpt, "applied")
        snapshot = self.snapshot()
        job.action_send_again()
        self.assertEqual(self.snapshot(), snapshot, "sent again when the warehouse has it: nothing changes")
        self.assertEqual(job.attempt_ids.sorted("id")[-1].response_excerpt, "duplicate")

    # --- batches ------------------------------------------------------------------------

    def one_thread(self, backend=None):
        """One sending thread for ``backend``: its due events go out as one batch."""
        (backend or self.wh).write({"max_concurrent": 1, "circuit_threshold": 100})

    def transactions(self, event_ids):
        """How many warehouse transactions applied these events (``applied_at`` is the
        transaction's start time)."""
        return self.query(
            "SELECT count(DISTINCT applied_at) FROM {schema}.sync_event WHERE event_id::text = ANY(%s)",
            [list(event_ids)],
        )[0][0]

    def invoices_in_warehouse(self):
        return self.rows("fact_invoice", "odoo_id, amount_total::text, status, last_sequence")

    def test_a_bad_event_fails_alone_and_the_rest_of_its_batch_is_applied(self):
        self.initialize()
        self.one_thread()
        good = self._create_invoice_one_line(price_unit=12.10, tax_ids=[], post=True)
        bad = self._create_invoice_one_line(price_unit=1234.57, tax_ids=[], post=True)
        other = self._create_invoice_one_line(price_unit=0.07, tax_ids=[], post=True)
        self.commit_hooks()
        self.query("ALTER TABLE {schema}.fact_invoice ADD CONSTRAINT not_1234_57 CHECK (amount_total <> 1234.57)")
        self.deliver()
        (good_job, bad_job, other_job) = (self.jobs_of(move, self.wh) for move in (good, bad, other))
        self.assertEqual((good_job.state, other_job.state, bad_job.state), ("done", "done", "failed"))
        self.assertIn('violates check constraint "not_1234_57"', bad_job.last_error)
        self.assertEqual(bad_job.exception_ids.category, "rejected")
        self.assertEqual((good_job.attempt_count, bad_job.attempt_count, other_job.attempt_count), (1, 1, 1))
        self.assertEqual(
            self.invoices_in_warehouse(),
            [(move.id, f"{move.amount_total:.2f}", "posted", 1) for move in (good | other).sorted("id")],
        )
        self.assertEqual(
            self.query("SELECT DISTINCT invoice_id FROM {schema}.fact_invoice_line ORDER BY 1"),
            [(move.id,) for move in (good | other).sorted("id")],
            "nothing of the bad event was kept",
        )
        self.assertEqual(
            self.rows("sync_event", "event_id::text, outcome", order="event_id"),
            sorted((job.event_uuid, "applied") for job in good_job | other_job),
        )
        self.assertEqual(self.transactions([good_job.event_uuid, other_job.event_uuid]), 1, "one transaction")

    def test_a_batch_delivered_twice_is_applied_once(self):
        self.initialize()
        self.one_thread()
        moves = self.env["account.move"]
        for price in (12.10, 0.07, 1234.57):
            moves |= self._create_invoice_one_line(price_unit=price, tax_ids=[], post=True)
        self.commit_hooks()
        self.deliver()
        jobs = self.Job.search([("backend_id", "=", self.wh.id)])
        self.assertEqual((len(jobs), set(jobs.mapped("state"))), (3, {"done"}))
        self.assertEqual(self.transactions(jobs.mapped("event_uuid")), 1, "one transaction")
        before = self.snapshot()
        jobs._mark_pending()  # the same batch again: same ids, same bodies
        self.deliver()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(
            self.invoices_in_warehouse(), [(m.id, f"{m.amount_total:.2f}", "posted", 1) for m in moves.sorted("id")]
        )
        self.assertEqual(self.query("SELECT count(*) FROM {schema}.sync_event"), [(3,)])
        last = [job.attempt_ids.sorted("id")[-1] for job in jobs]
        self.assertEqual([(a.status_code, a.response_excerpt) for a in last], [(200, "duplicate")] * 3)

    def test_a_documents_events_keep_their_order_across_batches_and_older_never_overwrites(self):
        self.initialize()
        self.one_thread()
        invoice = self._create_invoice_one_line(price_unit=12.10, tax_ids=[], post=True)
        other = self._create_invoice_one_line(price_unit=0.07, tax_ids=[], post=True)
        invoice.button_draft()
        invoice.invoice_line_ids.price_unit = 1234.57
        invoice.action_post()
        self.commit_hooks()
        self.deliver()
        jobs = self.jobs_of(invoice, self.wh)
        self.assertEqual((jobs.mapped("sequence"), set(jobs.mapped("state"))), ([1, 2, 3], {"done"}))
        self.assertEqual(
            self.invoices_in_warehouse(),
            [(invoice.id, "1234.57", "posted", 3), (other.id, f"{other.amount_total:.2f}", "posted", 1)],
        )
        # Each event of the document in a batch of its own, one after the other, none skipped;
        # the first batch also carried the other invoice.
        applied = self.query(
            "SELECT sequence, outcome, applied_at FROM {schema}.sync_event WHERE document_id = %s ORDER BY sequence",
            [invoice.id],
        )
        self.assertEqual(
            [(sequence, outcome) for sequence, outcome, _at in applied],
            [(1, "applied"), (2, "applied"), (3, "applied")],
        )
        moments = [at for _sequence, _outcome, at in applied]
        self.assertEqual(moments, sorted(set(moments)), "three transactions, in the document's order")
        self.assertEqual(self.transactions([jobs[0].event_uuid, self.jobs_of(other, self.wh).event_uuid]), 1)

        # A second feed of the same warehouse brings the first posting late, in one batch with a
        # new invoice: the late event is skipped, the new one applied.
        late = self.create_warehouse_backend("BI warehouse, second feed")
        self.one_thread(late)
        fresh = self._create_invoice_one_line(price_unit=0.07, tax_ids=[], post=True)
        self.commit_hooks()
        older_id = str(uuid.uuid4())
        self.Job.sudo().create(
            {
                "backend_id": late.id,
                "company_id": self.company.id,
                "event_uuid": older_id,
                "event_type": jobs[0].event_type,
                "res_model": jobs[0].res_model,
                "res_id": jobs[0].res_id,
                "sequence": 1,
                "payload": {**jobs[0].payload, "event_id": older_id},
            }
        )
        self.deliver(late)
        late_jobs = self.Job.search([("backend_id", "=", late.id)])
        self.assertEqual((len(late_jobs), set(late_jobs.mapped("state"))), (2, {"done"}))
        self.assertEqual(
            self.invoices_in_warehouse(),
            [
                (invoice.id, "1234.57", "posted", 3),
                (other.id, f"{other.amount_total:.2f}", "posted", 1),
                (fresh.id, f"{fresh.amount_total:.2f}", "posted", 1),
            ],
        )
        self.assertEqual(
            self.query("SELECT outcome FROM {schema}.sync_event WHERE event_id = %s", [older_id]), [("skipped",)]
        )
        self.assertEqual(self.transactions(late_jobs.mapped("event_uuid")), 1, "one transaction")

    def test_a_backlog_goes_in_full_batches_whatever_the_freeze_batch(self):
        """The dispatcher freezes enough bodies at once to give every request slot a full batch:
        with batches of 3 and two slots, six events go in two warehouse transactions of three,
        even when a webhook's freeze batch is one event."""
        self.initialize()
        self.wh.write({"max_concurrent": 2, "circuit_threshold": 100})
        moves = self.env["account.move"]
        for price in (12.10, 0.07, 1234.57, 45.61, 3.33, 99.99):
            moves |= self._create_invoice_one_line(price_unit=price, tax_ids=[], post=True)
        self.commit_hooks()
        transport = type(self.wh._get_transport())
        with patch.object(transport, "max_batch", 3), patch.object(scheduler, "FREEZE_BATCH", 1):
            self.deliver()
        jobs = self.Job.search([("backend_id", "=", self.wh.id)])
        self.assertEqual((len(jobs), set(jobs.mapped("state"))), (6, {"done"}))
        self.assertEqual(self.transactions(jobs.mapped("event_uuid")), 2, "two full batches")
        self.assertEqual(
            self.invoices_in_warehouse(), [(m.id, f"{m.amount_total:.2f}", "posted", 1) for m in moves.sorted("id")]
        )

    def test_a_connection_lost_mid_batch_applies_nothing_of_it_and_all_of_it_goes_again(self):
        self.initialize()
        self.one_thread()
        moves = self.env["account.move"]
        for price in (12.10, 1234.57, 0.07):
            moves |= self._create_invoice_one_line(price_unit=price, tax_ids=[], post=True)
        self.commit_hooks()
        # The warehouse's server ends the connection while it writes the second invoice, once.
        self.query("CREATE SEQUENCE {schema}.kill_once")
        self.query(
            """CREATE FUNCTION {schema}.kill_once() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
               BEGIN
                   IF NEW.amount_total = 1234.57 AND nextval('finance_sync.kill_once') = 1 THEN
                       PERFORM pg_terminate_backend(pg_backend_pid());
                   END IF;
                   RETURN NEW;
               END $$"""
        )
        self.query(
            "CREATE TRIGGER kill_once BEFORE INSERT OR UPDATE ON {schema}.fact_invoice "
            "FOR EACH ROW EXECUTE FUNCTION {schema}.kill_once()"
        )
        self.deliver()
        jobs = self.Job.search([("backend_id", "=", self.wh.id)])
        self.assertEqual(
            [(job.state, job.attempt_count) for job in jobs], [("pending", 1)] * 3, "every event goes again"
        )
        for job in jobs:
            self.assertIn("Could not reach the warehouse database", job.last_error)
        self.assertEqual(self.invoices_in_warehouse(), [], "nothing of the batch was applied")
        self.assertEqual(self.query("SELECT count(*) FROM {schema}.fact_invoice_line"), [(0,)])
        self.assertEqual(self.query("SELECT count(*) FROM {schema}.sync_event"), [(0,)])

        internal(jobs).write({"next_attempt_at": fields.Datetime.now()})  # the retry comes due
        self.deliver()
        self.assertEqual([(job.state, job.attempt_count) for job in jobs], [("done", 2)] * 3)
        self.assertEqual(
            self.invoices_in_warehouse(),
            [(m.id, f"{m.amount_total:.2f}", m.state, 1) for m in moves.sorted("id")],
            "the warehouse equals Odoo",
        )

    # --- failures -----------------------------------------------------------------------

    def test_a_data_error_fails_the_job_with_the_message_and_no_password(self):
        self.initialize()
        # A constraint named after the password: the database quotes it in its message.
        self.query(
            sql.SQL("ALTER TABLE {}.fact_invoice ADD CONSTRAINT {} CHECK (amount_total < 0)").format(
                sql.Identifier(SCHEMA), sql.Identifier(self.wh_password)
            )
        )
        invoice = self._create_invoice(post=True)
        self.deliver()
        job = self.jobs_of(invoice, self.wh)
        self.assertEqual(job.state, "failed")
        self.assertIn("violates check constraint", job.last_error)
        self.assertNotIn(self.wh_password, job.last_error)
        self.assertNotIn(self.wh_password, job.attempt_ids.error or "")
        self.assertEqual(job.exception_ids.category, "rejected")
        self.assertEqual(self.rows("fact_invoice", "odoo_id"), [], "nothing of the event was kept")
        self.assertEqual(self.rows("sync_event", "event_id", order="event_id"), [])

    def test_connection_refused_is_retried(self):
        self.initialize()
        self.wh.warehouse_port = free_port()
        invoice = self._create_invoice(post=True)
        self.deliver()
        job = self.jobs_of(invoice, self.wh)
        self.assertEqual((job.state, job.attempt_count), ("pending", 1))
        self.assertIn("Could not reach the warehouse database", job.last_error)

    # --- settings -----------------------------------------------------------------------

    def test_password_is_write_only_and_encrypted(self):
        self.assertFalse(self.wh.warehouse_password)
        self.assertTrue(self.wh.has_warehouse_password)
        self.assertNotIn(self.wh_password, self.wh.sudo().warehouse_password_encrypted)

    def test_bad_settings_are_refused(self):
        with self.assertRaises(ValidationError):
            self.wh.warehouse_schema = "Bad-Name"
        with self.assertRaises(ValidationError):
            self.wh.warehouse_schema = "pg_catalog"
        with self.assertRaises(ValidationError):
            self.wh.warehouse_port = 70000
        with self.assertRaises(ValidationError):
            self.wh.warehouse_host = "user@host"
        with patch(
            "odoo.addons.finance_sync.models.finance_sync_backend_warehouse.allow_private_endpoints", lambda: False
        ):
            with self.assertRaisesRegex(ValidationError, "encrypted"):
                self.wh.warehouse_sslmode = "disable"
            with self.assertRaisesRegex(ValidationError, "internal address"):
                self.wh.write({"warehouse_host": "127.0.0.1", "warehouse_sslmode": "require"})
            with self.assertRaisesRegex(ValidationError, "refused"):
                self.wh.write({"warehouse_host": "169.254.169.254", "warehouse_sslmode": "require"})

    # --- connection policy: never Odoo's own database, encrypted where required ------------------

    def own_database_target(self, odoo_host=None, **vals):
        """A target on this test server, as the warehouse's own login sees it."""
        port = int(self.wh.warehouse_port)
        odoo = self.wh._odoo_database()
        return warehouse_schema.Target(
            **{
                "host": "127.0.0.1",
                "port": port,
                "database": self.env.cr.dbname,
                "user": self.wh_role,
                "password": self.wh_password,
                "sslmode": "disable",
                "require_tls": False,
                "odoo_database": warehouse_schema.OdooDatabase(
                    name=odoo.name, host=odoo_host or odoo.host, port=odoo.port, cluster=odoo.cluster
                ),
                **vals,
            }
        )

    def odoo_schemas(self):
        self.env.cr.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'finance_sync%'")
        return [row[0] for row in self.env.cr.fetchall()]

    def test_odoos_own_database_is_never_the_warehouse(self):
        own = self.env.cr.dbname
        for host in (
            "127.0.0.1",
            "localhost",
            "LOCALHOST.",
            "::1",
            "::ffff:127.0.0.1",
            "",
            "/var/run/postgresql",
            socket.gethostname(),
        ):
            with (
                self.subTest(host=host),
                self.assertRaisesRegex(ValidationError, "Odoo's own database"),
                self.env.cr.savepoint(),
            ):
                self.wh.write({"warehouse_host": host, "warehouse_database": own})
                self.env.flush_all()
            self.env.invalidate_all()
        self.assertEqual(self.wh.warehouse_database, self.wh_db)
        # The public schema of any database is refused too.
        with self.assertRaisesRegex(ValidationError, "default schema"):
            self.wh.warehouse_schema = "public"

    def test_a_warehouse_set_to_odoos_database_before_sends_nothing_there(self):
        """Saved before the check existed (written straight into the database here): the
        dispatcher checks the policy again when it prepares to send, and again when it connects."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE finance_sync_backend SET warehouse_database = %s WHERE id = %s", (self.env.cr.dbname, self.wh.id)
        )
        self.env.invalidate_all()
        with self.assertRaisesRegex(UserError, "Odoo's own database"):
            self.wh.action_initialize_warehouse()
        invoice = self._create_invoice(post=True)
        self.deliver()
        job = self.jobs_of(invoice, self.wh)
        self.assertEqual(job.state, "failed")
        self.assertIn("Odoo's own database", job.last_error)
        self.assertEqual(self.odoo_schemas(), [], "nothing was created in Odoo's database")

    def test_odoos_database_reached_under_another_name_is_recognised_on_connection(self):
        """Odoo reaches its database as ``db.odoo.invalid`` (a container's service name, say) while
        the warehouse is set to 127.0.0.1: the settings do not tell, the connection does (the same
        cluster and database), and it is closed before anything is done."""
        target = self.own_database_target(odoo_host="db.odoo.invalid")
        target.check_policy()  # the names alone do not give it away
        with self.assertRaisesRegex(warehouse_schema.TargetRefused, "Odoo's own database"):
            target.connect()
        result = get_transport("warehouse", target=target, source=self.env.cr.dbname).send(
            OutboundRequest(url="", body=b"{}", headers={})
        )
        self.assertIsNone(result.status)
        self.assertEqual(classify.classify_error(result.error).outcome, classify.FAILED)
        self.assertIn("Odoo's own database", str(result.error))
        self.assertEqual(self.odoo_schemas(), [])
        # The warehouse database on the same server is another database: connected.
        with closing(self.own_database_target(database=self.wh_db).connect()) as conn:
            self.assertFalse(conn.closed)

    def test_an_unencrypted_connection_is_refused_again_when_sending(self):
        """Saved with SSL mode disable while the server allowed it (development): once the server no
        longer does, the policy is checked again before sending and on every connection."""
        self.initialize()
        target = self.own_database_target(database=self.wh_db)
        with closing(target.connect()):
            pass  # allowed while the server allows private endpoints
        with patch(
            "odoo.addons.finance_sync.models.finance_sync_backend_warehouse.allow_private_endpoints", lambda: False
        ):
            _target, refusal = self.wh._warehouse_target()
            self.assertEqual(refusal.note.code, "warehouse_tls_required")
            self.assertEqual(self.wh._prepare_sender().refusal.note.code, "warehouse_tls_required")
            transport = self.wh._get_transport()
            self.assertTrue(transport.target.require_tls)
            result = transport.send(OutboundRequest(url="", body=b"{}", headers={}))
            self.assertIn("must be encrypted", str(result.error))
            invoice = self._create_invoice(post=True)
            self.deliver()
        job = self.jobs_of(invoice, self.wh)
        self.assertEqual(job.state, "failed")
        self.assertIn("must be encrypted", job.last_error)
        self.assertEqual(self.rows("fact_invoice", "odoo_id"), [], "nothing reached the warehouse")
        with self.assertRaisesRegex(warehouse_schema.TargetRefused, "must be encrypted"):
            self.own_database_target(database=self.wh_db, require_tls=True).connect()
