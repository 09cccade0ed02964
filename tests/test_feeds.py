"""Period feeds: figures checked against independent queries, versions, finality, parts, codes
through mappings, and delivery to a real receiver on 127.0.0.1, signed."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from lxml import html

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged

from ..engine import feeds, signing
from ..engine import payload as payload_lib
from .common import FinanceSyncCase

FEB = (date(2025, 2, 1), date(2025, 2, 28))
RUN_FORM = "finance_sync.finance_sync_feed_run_view_form"
MAR = (date(2025, 3, 1), date(2025, 3, 31))


def dec(value):
    return Decimal(value)


@tagged("post_install", "-at_install")
class TestFeeds(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Feed = cls.env["finance.sync.feed"]
        cls.Run = cls.env["finance.sync.feed.run"]
        cls.Line = cls.env["account.move.line"]
        cls.feeds = {
            kind: cls.Feed.create(
                {
                    "name": f"{kind} feed",
                    "backend_id": cls.backend.id,
                    "company_id": cls.company.id,
                    "kind": kind,
                    "schedule": "manual",
                    "lock_date_field": "sale_lock_date",
                }
            )
            for kind in ("trial_balance", "ar_aging", "ap_aging", "gl_summary")
        }
        cls.partner_c = cls.env["res.partner"].create({"name": "partner_c", "ref": "PC-1"})

    # --- helpers --------------------------------------------------------------------------

    def invoice(self, amount, day, partner=None, move_type="out_invoice", due=None, post=True, **kwargs):
        return self._create_invoice_one_line(
            price_unit=amount,
            tax_ids=[],
            move_type=move_type,
            invoice_date=day,
            partner_id=(partner or self.partner_a).id,
            invoice_payment_term_id=False,
            invoice_date_due=due or day,
            post=post,
            **kwargs,
        )

    def feed_jobs(self, run):
        return self.Job.search([("res_model", "=", run._name), ("res_id", "=", run.id)], order="sequence")

    def run_feed(self, kind, period, feed=None):
        return (feed or self.feeds[kind])._run_period(*period)

    def posted_lines(self, company=None, **conditions):
        domain = [("parent_state", "=", "posted"), ("company_id", "=", (company or self.company).id)]
        return domain + [(field, op, value) for field, (op, value) in conditions.items()]

    # --- trial balance ------------------------------------------------------------------------

    def test_trial_balance_balances_and_equals_the_posted_lines(self):
        self.invoice(1000, "2025-01-15")
        self.invoice(250, "2025-02-03")
        self.invoice(400, "2025-02-20", partner=self.partner_b, move_type="in_invoice")
        self.invoice(99999, "2025-02-21", post=False)  # drafts never count
        self.invoice(777, "2025-03-02")  # after the period
        run = self.run_feed("trial_balance", FEB)
        rows, totals = run.feed_id._get_figures(*FEB)
        self.assertEqual(run.totals, totals)
        self.assertEqual(dec(totals["debit"]), dec(totals["credit"]), "debits equal credits")
        self.assertEqual(dec(totals["opening"]), 0)
        self.assertEqual(dec(totals["closing"]), 0)
        for row in rows:
            self.assertEqual(dec(row["closing"]), dec(row["opening"]) + dec(row["debit"]) - dec(row["credit"]))
        # An independent computation: grouped reads of the posted lines.
        before = dict(self.Line._read_group(self.posted_lines(date=("<", FEB[0])), ["account_id"], ["balance:sum"]))
        during = {
            account: (debit, credit)
            for account, debit, credit in self.Line._read_group(
                [*self.posted_lines(date=(">=", FEB[0])), ("date", "<=", FEB[1])],
                ["account_id"],
                ["debit:sum", "credit:sum"],
            )
        }
        accounts = set(before) | set(during)
        self.assertEqual({row["account"]["id"] for row in rows}, {a.id for a in accounts})
        for row in rows:
            account = self.env["account.account"].browse(row["account"]["id"])
            self.assertEqual(row["account"]["code"], account.code)
            self.assertEqual(dec(row["opening"]), dec(payload_lib.money(before.get(account, 0.0))))
            debit, credit = during.get(account, (0.0, 0.0))
            self.assertEqual(dec(row["debit"]), dec(payload_lib.money(debit)))
            self.assertEqual(dec(row["credit"]), dec(payload_lib.money(credit)))
        self.assertEqual(dec(totals["debit"]), dec("650.00"), "250 sold and 400 bought in February, drafts aside")

    def test_a_run_shows_its_totals_as_a_table_of_labels_and_amounts(self):
        invoice = self.invoice(1234.57, "2025-02-03")
        run = self.run_feed("trial_balance", FEB)
        table = html.fromstring(run.totals_table)
        cells = {row.xpath("string(td[1])"): row.xpath("string(td[2])") for row in table.xpath("//tr[count(td) = 2]")}
        labels = {"opening": "Opening balance", "debit": "Debit", "credit": "Credit", "closing": "Closing balance"}
        self.assertEqual(set(cells), {labels[key] for key in run.totals}, "every total, by its label")
        self.assertEqual(dec(cells["Debit"]), dec(str(invoice.amount_total)), "the one invoice's receivable")
        self.assertEqual(dec(cells["Credit"]), dec(cells["Debit"]))
        view = self.env["finance.sync.feed.run"].get_view(self.env.ref(RUN_FORM).id)
        self.assertIn('name="totals_table"', view["arch"])
        self.assertNotIn('name="totals"', view["arch"], "no raw JSON on the card")

    def test_trial_balance_split_by_analytic_account_keeps_each_accounts_figures(self):
        plan = self.env["account.analytic.plan"].create({"name": "Departments"})
        sales, support = self.env["account.analytic.account"].create(
            [{"name": "Sales", "code": "SAL", "plan_id": plan.id}, {"name": "Support", "plan_id": plan.id}]
        )
        income = self.company_data["default_account_revenue"]
        self._create_invoice(
            invoice_date="2025-02-03",
            partner_id=self.partner_a.id,
            invoice_line_ids=[
                self._prepare_invoice_line(
                    price_unit=100.01,
                    tax_ids=[],
                    account_id=income.id,
                    analytic_distribution={str(sales.id): 60, str(support.id): 40},
                ),
                self._prepare_invoice_line(price_unit=50, tax_ids=[], account_id=income.id),
                self._prepare_invoice_line(
                    price_unit=10, tax_ids=[], account_id=income.id, analytic_distribution={str(sales.id): 50}
                ),
            ],
            post=True,
        )
        feed = self.feeds["trial_balance"]
        plain_rows, plain_totals = feed._get_figures(*FEB)
        feed.analytic_split = True
        rows, totals = feed._get_figures(*FEB)
        self.assertEqual(totals, plain_totals, "the split moves amounts between rows, never in or out")
        income_rows = {
            tuple(a["id"] for a in row["analytic"]): row for row in rows if row["account"]["id"] == income.id
        }
        self.assertEqual(income_rows[(sales.id,)]["credit"], "65.01", "60 % of 100.01 and 50 % of 10")
        self.assertEqual(income_rows[(support.id,)]["credit"], "40.00")
        self.assertEqual(income_rows[()]["credit"], "55.00", "the line without distribution, and the other half")
        self.assertEqual(income_rows[(sales.id,)]["analytic"], [{"id": sales.id, "code": "SAL", "name": "Sales"}])
        for plain in plain_rows:
            mine = [row for row in rows if row["account"]["id"] == plain["account"]["id"]]
            for column in ("opening", "debit", "credit", "closing"):
                self.assertEqual(sum(dec(row[column]) for row in mine), dec(plain[column]), column)
        for row in rows:
            self.assertEqual(dec(row["closing"]), dec(row["opening"]) + dec(row["debit"]) - dec(row["credit"]))
        run = self.run_feed("trial_balance", FEB)
        self.assertEqual(payload_lib.validate(self.feed_jobs(run).payload), [])
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Analytic codes"})
        self.env["finance.sync.mapping"].create(
            {"set_id": mapping_set.id, "kind": "analytic", "analytic_account_id": sales.id, "external_code": "DEP-S"}
        )
        self.backend.mapping_set_id = mapping_set
        rendered, missing = self.feed_jobs(run)._render(self.backend)
        self.assertEqual(missing, [])
        codes = {a["id"]: a["code"] for row in rendered["rows"] for a in row.get("analytic", [])}
        self.assertEqual(codes, {sales.id: "DEP-S", support.id: None}, "mapped; Support has no code of its own")

    # --- aging -------------------------------------------------------------------------------

    def aging_by_partner(self, kind, as_of):
        rows, totals = self.feeds[kind]._get_figures(as_of, as_of)
        for row in rows:
            buckets = sum(dec(row[b]) for b in ("not_due", "days_1_30", "days_31_60", "days_61_90", "over_90"))
            self.assertEqual(buckets, dec(row["total"]), "the buckets add up to the partner's total")
        self.assertEqual(sum(dec(r["total"]) for r in rows), dec(totals["total"]))
        return {(row["partner"] or {}).get("id"): row for row in rows}, totals

    def open_balances(self, account_type, sign=1):
        """{partner id: open residual} of the company's posted lines of ``account_type``, by
        Odoo's own residual field."""
        groups = self.Line._read_group(
            self.posted_lines(**{"account_id.account_type": ("=", account_type)}),
            ["partner_id"],
            ["amount_residual:sum"],
        )
        return {
            partner.id: dec(payload_lib.money(sign * residual)) for partner, residual in groups if abs(residual) > 0.001
        }

    def test_ar_aging_equals_each_partners_open_receivable(self):
        today = fields.Date.today()
        self.invoice(100, today, due=today)
        self.invoice(200, fields.Date.subtract(today, days=50), due=fields.Date.subtract(today, days=45))
        paid = self.invoice(300, fields.Date.subtract(today, days=100), due=fields.Date.subtract(today, days=95))
        self._register_payment(paid, amount=120, payment_date=today)
        self.invoice(500, today, partner=self.partner_c, due=fields.Date.add(today, days=30))
        rows, _totals = self.aging_by_partner("ar_aging", today)
        expected = self.open_balances("asset_receivable")
        self.assertEqual({pid: dec(row["total"]) for pid, row in rows.items()}, expected)
        row_a = rows[self.partner_a.id]
        self.assertEqual(dec(row_a["not_due"]), dec("100.00"))
        self.assertEqual(dec(row_a["days_31_60"]), dec("200.00"))
        self.assertEqual(dec(row_a["over_90"]), dec("180.00"), "300 less the 120 paid")
        self.assertEqual(dec(rows[self.partner_c.id]["not_due"]), dec("500.00"))
        self.assertEqual(rows[self.partner_c.id]["partner"]["code"], "PC-1")

    def test_ap_aging_is_what_the_company_owes(self):
        today = fields.Date.today()
        self.invoice(80, fields.Date.subtract(today, days=10), move_type="in_invoice", partner=self.partner_b)
        self.invoice(30, today, move_type="in_refund", partner=self.partner_b)
        rows, totals = self.aging_by_partner("ap_aging", today)
        self.assertEqual(
            {pid: dec(row["total"]) for pid, row in rows.items()}, self.open_balances("liability_payable", -1)
        )
        self.assertEqual(dec(rows[self.partner_b.id]["days_1_30"]), dec("80.00"))
        self.assertEqual(dec(rows[self.partner_b.id]["not_due"]), dec("-30.00"))
        self.assertEqual(dec(totals["total"]), dec("50.00"))

    def test_aging_of_a_past_date_ignores_later_reconciliations(self):
        invoice = self.invoice(1000, "2025-01-10", due="2025-01-31")
        self._register_payment(invoice, amount=400, payment_date="2025-03-05")
        february, _t = self.aging_by_partner("ar_aging", FEB[1])
        self.assertEqual(dec(february[self.partner_a.id]["total"]), dec("1000.00"), "paid after February's end")
        self.assertEqual(dec(february[self.partner_a.id]["days_1_30"]), dec("1000.00"))
        march, _t = self.aging_by_partner("ar_aging", MAR[1])
        self.assertEqual(dec(march[self.partner_a.id]["total"]), dec("600.00"))
        self.assertEqual({pid: dec(r["total"]) for pid, r in march.items()}, self.open_balances("asset_receivable"))
        self._register_payment(invoice, amount=600, payment_date="2025-04-02")
        april, _t = self.aging_by_partner("ar_aging", date(2025, 4, 30))
        self.assertNotIn(self.partner_a.id, april, "settled: no row")
        march_again, _t = self.aging_by_partner("ar_aging", MAR[1])
        self.assertEqual(dec(march_again[self.partner_a.id]["total"]), dec("600.00"), "March's figures stay")

    # --- companies and currencies ---------------------------------------------------------------

    def test_companies_and_currencies_never_mix(self):
        other = self.setup_other_company()["company"]
        eur = self.setup_other_currency("EUR")
        today = fields.Date.today()
        foreign = self.invoice(300, today, currency_id=eur.id)
        self.assertNotEqual(foreign.amount_residual, foreign.amount_residual_signed, "a real conversion")
        self.invoice(100, today)
        self._create_invoice_one_line(
            price_unit=5000,
            tax_ids=[],
            invoice_date=today,
            company_id=other.id,
            journal_id=self.env["account.journal"]
            .search([("company_id", "=", other.id), ("type", "=", "sale")], limit=1)
            .id,
            post=True,
        )
        rows, _totals = self.aging_by_partner("ar_aging", today)
        self.assertEqual(
            dec(rows[self.partner_a.id]["total"]),
            dec(payload_lib.money(foreign.amount_residual_signed + 100)),
            "in the company's currency, without the other company's 5000",
        )
        _tb_rows, tb_totals = self.feeds["trial_balance"]._get_figures(*feeds.month_bounds(today))
        self.assertEqual(
            dec(tb_totals["debit"]), dec(payload_lib.money(foreign.amount_total_signed + 100)), "one company's lines"
        )
        backend_2 = self.create_backend("Other company's platform", companies=other)
        feed_2 = self.Feed.create(
            {"name": "Other TB", "backend_id": backend_2.id, "company_id": other.id, "kind": "trial_balance"}
        )
        other_rows, other_totals = feed_2._get_figures(*feeds.month_bounds(today))
        self.assertEqual(dec(other_totals["debit"]), dec("5000.00"))
        self.assertEqual(sum(dec(r["debit"]) for r in other_rows), dec("5000.00"))
        run = feed_2._run_period(*feeds.month_bounds(today))
        self.assertEqual(self.feed_jobs(run).company_id, other)
        self.assertEqual(self.feed_jobs(run).payload["company"]["id"], other.id)
        with self.assertRaises(ValidationError):
            self.Feed.create({"name": "Wrong", "backend_id": self.backend.id, "company_id": other.id})
        mine = self.run_feed("trial_balance", feeds.month_bounds(today))
        user = self.make_user("feed_reader_one_company", "finance_sync.finance_sync_group_user")
        self.assertEqual(self.Run.with_user(user).search([]), mine, "another company's runs stay out of sight")
        self.assertEqual(self.Feed.with_user(user).search([]), self.Feed.search([("company_id", "=", self.company.id)]))

    # --- versions, finality, parts ---------------------------------------------------------------

    def test_unchanged_is_not_sent_again_and_a_change_is_a_new_version(self):
        self.invoice(250, "2025-02-03")
        first = self.run_feed("trial_balance", FEB)
        self.assertEqual((first.version, first.supersedes_id, first.final), (1, self.Run, False))
        jobs = self.feed_jobs(first)
        self.assertEqual(len(jobs), 1)
        self.assertEqual(jobs.event_type, "feed.trial_balance")
        self.assertFalse(self.run_feed("trial_balance", FEB), "unchanged: no run")
        self.assertEqual(self.Job.search_count([("res_model", "=", self.Run._name)]), 1, "and no job")
        self.invoice(40, "2025-02-27")  # a late entry
        second = self.run_feed("trial_balance", FEB)
        self.assertEqual((second.version, second.supersedes_id), (2, first))
        self.assertNotEqual(second.content_hash, first.content_hash)
        payload = self.feed_jobs(second).payload
        self.assertEqual(payload["feed"]["supersedes"], {"run_id": first.run_uuid, "version": 1})
        self.assertEqual(payload["feed"]["version"], 2)
        self.assertEqual(payload["period"], {"date_from": "2025-02-01", "date_to": "2025-02-28"})
        other_period = self.run_feed("trial_balance", MAR)
        self.assertEqual(other_period.version, 1, "versions count per period")

    def test_final_once_the_chosen_lock_date_covers_the_period(self):
        self.invoice(250, "2025-02-03")
        first = self.run_feed("trial_balance", FEB)
        self.company.sale_lock_date = date(2025, 2, 27)
        self.assertFalse(self.run_feed("trial_balance", FEB), "a lock date before the period's end changes nothing")
        self.company.sale_lock_date = FEB[1]
        final = self.run_feed("trial_balance", FEB)
        self.assertTrue(final.final)
        self.assertEqual(final.content_hash, first.content_hash, "same figures, now final")
        self.assertIs(self.feed_jobs(final).payload["feed"]["final"], True)
        self.assertFalse(self.run_feed("trial_balance", FEB))
        self.feeds["trial_balance"].lock_date_field = "purchase_lock_date"
        self.assertFalse(self.feeds["trial_balance"]._run_period(*MAR).final, "another lock date is not the chosen one")

    def test_large_runs_go_in_numbered_parts_of_one_run(self):
        for day in ("2025-02-03", "2025-02-04", "2025-02-05"):
            self.invoice(10, day)
        feed = self.feeds["gl_summary"]
        feed.part_size = 4
        rows, totals = feed._get_figures(*FEB)
        self.assertEqual(len(rows), 6, "3 days x (income, receivable)")
        self.assertEqual(totals["count"], 6)
        run = self.run_feed("gl_summary", FEB)
        jobs = self.feed_jobs(run)
        self.assertEqual((run.part_count, run.row_count), (2, 6))
        self.assertEqual(jobs.mapped("sequence"), [1, 2])
        self.assertEqual([j.payload["feed"]["part"] for j in jobs], [1, 2])
        self.assertEqual({j.payload["feed"]["parts"] for j in jobs}, {2})
        self.assertEqual({j.payload["feed"]["run_id"] for j in jobs}, {run.run_uuid})
        self.assertEqual(len({j.event_uuid for j in jobs}), 2, "each part is its own event")
        self.assertEqual([r for j in jobs for r in j.payload["rows"]], rows, "the parts reassemble the rows")
        for job in jobs:
            self.assertEqual(payload_lib.validate(job.payload), [])
            self.assertEqual(job.payload["totals"], totals)
        by_day = defaultdict(int)
        for row in rows:
            by_day[row["date"]] += row["count"]
        self.assertEqual(dict(by_day), {"2025-02-03": 2, "2025-02-04": 2, "2025-02-05": 2})

    # --- delivery and mappings ---------------------------------------------------------------------

    def test_every_kind_reaches_the_receiver_signed_and_valid(self):
        self.invoice(250, "2025-02-03")
        self.invoice(60, "2025-02-10", move_type="in_invoice", partner=self.partner_b)
        runs = self.Run
        for kind in self.feeds:
            runs |= self.run_feed(kind, FEB)
        self.respond(200)
        self.dispatch()
        received = [(h, b, raw) for h, b, raw in self.received() if b["type"].startswith("feed.")]
        self.assertEqual(sorted(b["type"] for _h, b, _r in received), sorted(f"feed.{k}" for k in self.feeds))
        for headers, body, raw in received:
            self.assertEqual(signing.verify([self.secret], headers, raw), body["event_id"])
            self.assertEqual(payload_lib.validate(body), [], body["type"])
            self.assertEqual(body["company"]["id"], self.company.id)
            self.assertEqual(body["feed"]["part"], body["sequence"])
        self.assertEqual(set(runs.mapped("delivery_state")), {"done"})
        ar = next(b for _h, b, _r in received if b["type"] == "feed.ar_aging")
        self.assertEqual([r["partner"]["id"] for r in ar["rows"]], [self.partner_a.id])
        self.assertEqual(ar["rows"][0]["days_1_30"], "250.00", "due on February 3rd, 25 days before the 28th")

    def test_codes_go_through_the_backends_mappings(self):
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Platform codes"})
        self.backend.mapping_set_id = mapping_set
        income = self.company_data["default_account_revenue"]
        Mapping = self.env["finance.sync.mapping"]
        Mapping.create({"set_id": mapping_set.id, "kind": "account", "account_id": income.id, "external_code": "REV"})
        Mapping.create(
            {"set_id": mapping_set.id, "kind": "partner", "partner_id": self.partner_a.id, "external_code": "C-A"}
        )
        sales_journal = self.company_data["default_journal_sale"]
        Mapping.create(
            {"set_id": mapping_set.id, "kind": "journal", "journal_id": sales_journal.id, "external_code": "J-S"}
        )
        mapping_set.policy_ids.filtered(lambda p: p.kind == "partner").policy = "required"
        self.invoice(250, "2025-02-03")
        tb = self.run_feed("trial_balance", FEB)
        ar = self.run_feed("ar_aging", FEB)
        self.run_feed("gl_summary", FEB)
        self.respond(200)
        self.dispatch()
        bodies = {b["type"]: b for _h, b, _r in self.received() if b["type"].startswith("feed.")}
        codes = {r["account"]["id"]: r["account"]["code"] for r in bodies["feed.trial_balance"]["rows"]}
        self.assertEqual(codes[income.id], "REV")
        captured = {r["account"]["id"]: r["account"]["code"] for r in self.feed_jobs(tb).payload["rows"]}
        self.assertEqual(captured[income.id], income.code, "captured with Odoo's codes, mapped when sent")
        self.assertEqual(bodies["feed.ar_aging"]["rows"][0]["partner"]["code"], "C-A")
        self.assertEqual({r["journal"]["code"] for r in bodies["feed.gl_summary"]["rows"]}, {"J-S"})
        self.assertIn("REV", {r["account"]["code"] for r in bodies["feed.gl_summary"]["rows"]})
        self.assertEqual(self.feed_jobs(ar).state, "done")
        # A partner without a code holds the run (required policy): one exception about it.
        self.invoice(90, "2025-02-05", partner=self.partner_c)
        held = self.run_feed("ar_aging", FEB)
        self.dispatch()
        job = self.feed_jobs(held)
        self.assertEqual(job.state, "blocked")
        self.assertEqual(held.delivery_state, "held")
        exception = job.exception_ids
        self.assertEqual((exception.category, exception.mapping_res_id), ("missing_mapping", self.partner_c.id))
        self.assertEqual(exception.company_id, self.company)
        # The run says why it is held: the partner without a code, as the job's stored message says.
        self.assertIn("Missing mappings", held.delivery_reason)
        self.assertIn(self.partner_c.name, held.delivery_reason)
        self.assertFalse(ar.delivery_reason, "a delivered run has nothing to explain")
        view = self.env["finance.sync.feed.run"].get_view(self.env.ref(RUN_FORM).id)
        self.assertIn('name="delivery_reason"', view["arch"])

    # --- schedule, Send now, rights ----------------------------------------------------------------

    def test_cron_runs_due_feeds_once_per_schedule(self):
        today = fields.Date.today()
        self.invoice(70, today)
        feed = self.feeds["trial_balance"]
        feed.write({"schedule": "daily", "next_run_date": today})
        cron = self.env.ref("finance_sync.ir_cron_run_feeds")
        with self.enter_registry_test_mode():
            cron.method_direct_trigger()
        feed.invalidate_recordset()
        runs = feed.run_ids
        self.assertEqual(
            sorted((r.date_from, r.date_to) for r in runs),
            sorted([feeds.previous_month(today), feeds.month_bounds(today)]),
        )
        self.assertEqual(feed.next_run_date, fields.Date.add(today, days=1))
        self.Feed._cron_run_feeds()
        self.assertEqual(feed.run_ids, runs, "not due again today")
        feed.next_run_date = today
        self.Feed._cron_run_feeds()
        self.assertEqual(feed.run_ids, runs, "due, but nothing changed: nothing sent")

    def test_a_failing_scheduled_feed_is_told_and_does_not_stop_the_others(self):
        today = fields.Date.today()
        self.invoice(70, today)
        broken, working = self.feeds["ar_aging"], self.feeds["trial_balance"]
        (broken | working).write({"schedule": "monthly", "next_run_date": today})
        original = type(self.Feed)._get_figures

        def figures(feed, date_from, date_to):
            if feed == broken:
                raise ValueError("figures unavailable")
            return original(feed, date_from, date_to)

        self.patch(type(self.Feed), "_get_figures", figures)
        with self.assertLogs("odoo.addons.finance_sync.models.finance_sync_feed", "ERROR"):
            self.Feed._cron_run_feeds()
        self.assertTrue(working.run_ids, "the other feed ran")
        self.assertFalse(broken.run_ids)
        self.assertEqual(broken.next_run_date, today, "still due: tried again at the next run")
        self.assertIn("figures unavailable", broken.message_ids[0].body)
        activity = broken.activity_ids
        self.assertEqual((len(activity), activity.user_id), (1, self.backend.user_id))
        with self.assertLogs("odoo.addons.finance_sync.models.finance_sync_feed", "ERROR"):
            self.Feed._cron_run_feeds()
        self.assertEqual(len(broken.activity_ids), 1, "one to-do, however many failures")

    def test_period_close_feed_sends_each_closed_month_final(self):
        feed = self.feeds["ar_aging"]
        feed.write({"schedule": "period_close", "start_date": date(2025, 1, 1)})
        self.invoice(250, "2025-01-20")
        self.Feed._cron_run_feeds()
        self.assertFalse(feed.run_ids, "nothing closed yet")
        self.company.sale_lock_date = FEB[1]
        self.Feed._cron_run_feeds()
        self.assertEqual(sorted(feed.run_ids.mapped("date_to")), [date(2025, 1, 31), FEB[1]])
        self.assertTrue(all(feed.run_ids.mapped("final")))
        self.Feed._cron_run_feeds()
        self.assertEqual(len(feed.run_ids), 2, "a month is closed once")

    def test_send_now_wizard_and_rights(self):
        self.invoice(250, "2025-02-03")
        feed = self.feeds["trial_balance"]
        action = feed.action_send_now()
        wizard = (
            self.env[action["res_model"]]
            .with_context(action["context"])
            .create({"date_from": FEB[0], "date_to": FEB[1]})
        )
        self.assertEqual(wizard.action_send()["params"]["type"], "success")
        self.assertEqual(len(feed.run_ids), 1)
        self.assertIn("version 1", feed.message_ids[0].body)
        run = feed.run_ids
        self.assertEqual(run.part_count, 1)
        self.assertGreater(run.row_count, 1)
        self.assertIn(f", {run.row_count} rows in 1 part.", feed.message_ids[0].body)
        again = self.env[action["res_model"]].create({"feed_id": feed.id, "date_from": FEB[0], "date_to": FEB[1]})
        self.assertEqual(again.action_send()["params"]["type"], "info")
        admin = self.make_user("feed_admin", "finance_sync.finance_sync_group_admin")
        self.invoice(30, "2025-02-04")
        by_admin = (
            self.env["finance.sync.feed.send"]
            .with_user(admin)
            .create({"feed_id": feed.id, "date_from": FEB[0], "date_to": FEB[1]})
        )
        self.assertEqual(by_admin.action_send()["params"]["type"], "success", "no accounting rights needed")
        self.assertEqual(feed.run_ids.mapped("version"), [2, 1])
        user = self.make_user("feed_reader", "finance_sync.finance_sync_group_user")
        self.assertTrue(feed.with_user(user).run_ids, "finance users see runs")
        with self.assertRaises(AccessError):
            self.Feed.with_user(user).create({"name": "Mine", "backend_id": self.backend.id})
        with self.assertRaises(AccessError):
            self.env["finance.sync.feed.send"].with_user(user).create(
                {"feed_id": feed.id, "date_from": FEB[0], "date_to": FEB[1]}
            )
