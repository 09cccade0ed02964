"""GET /finance_sync/metrics through Odoo's real HTTP server: the bearer token of Settings
(stored encrypted), 401 otherwise, the Prometheus text, and a query count that does not grow with
the number of backends, jobs or exceptions."""

import re

from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, tagged

from .. import const
from ..engine import metrics as metrics_lib
from ..utils import secret_box
from .common import FinanceSyncCase

TOKEN = "metrics-token-0123456789abcdef-9QzXwV"


def sample(text, name, **labels):
    """The value of the series ``name`` whose labels include ``labels`` (exactly one)."""
    found = []
    for line in text.splitlines():
        match = re.match(r"^(\w+)\{(.*)\} (\S+)$", line)
        if not match or match[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2]))
        if all(have.get(key) == str(value) for key, value in labels.items()):
            found.append(float(match[3]))
    assert len(found) == 1, (name, labels, found)
    return found[0]


@tagged("post_install", "-at_install")
class TestMetrics(FinanceSyncCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        settings = cls.env["res.config.settings"].create({"finance_sync_metrics_token": TOKEN})
        settings.execute()

    def get(self, token=TOKEN, scheme="Bearer"):
        headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
        return self.url_open("/finance_sync/metrics", headers=headers)

    def test_the_token_is_stored_encrypted_and_write_only(self):
        stored = self.env["ir.config_parameter"].sudo().get_param(const.PARAM_METRICS_TOKEN)
        self.assertTrue(stored)
        self.assertNotIn(TOKEN, stored)
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.finance_sync_metrics_token)
        self.assertTrue(settings.finance_sync_metrics_token_set)
        # Saving the settings without typing a token keeps the current one.
        settings.execute()
        self.assertEqual(self.get().status_code, 200)

    def test_neutralize_forgets_the_token(self):
        from odoo.modules.neutralize import get_neutralization_queries

        for query in get_neutralization_queries(["finance_sync"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.env["ir.config_parameter"].sudo().get_param(const.PARAM_METRICS_TOKEN))
        self.assertEqual(self.get().status_code, 401)

    def test_refused_without_the_right_bearer_token(self):
        for token, scheme in ((None, "Bearer"), ("wrong", "Bearer"), (TOKEN, "Basic"), ("", "Bearer")):
            response = self.get(token, scheme)
            self.assertEqual(response.status_code, 401, (token, scheme))
            self.assertEqual(response.json()["error"], "unauthorized")
            self.assertNotIn("finance_sync_jobs", response.text)
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_METRICS_TOKEN, False)
        self.assertEqual(self.get().status_code, 401, "no token configured: nobody reads the metrics")

    def test_post_is_not_allowed(self):
        response = self.url_open("/finance_sync/metrics", data=b"{}", headers={"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(response.status_code, 405)

    def test_prometheus_text_per_backend(self):
        self.respond(200, once=True)
        self.respond(500)
        delivered = self.init_invoice("out_invoice", amounts=[10.0], post=True)
        self.dispatch()  # delivered
        failing = self.init_invoice("out_invoice", amounts=[20.0], post=True)
        self.dispatch()  # 500: retried later, a failure
        self.assertEqual(self.jobs_of(delivered).state, "done")
        self.assertEqual(self.jobs_of(failing).state, "pending")
        self.env["finance.sync.exception"]._open_or_bump(self.backend, "transport", "down", jobs=self.jobs_of(failing))
        quiet = self.create_backend('Quiet "one"', path="/quiet")
        self.env.flush_all()

        response = self.get()
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.headers["Content-Type"], metrics_lib.CONTENT_TYPE)
        text = response.text
        b = {"backend_id": self.backend.id}
        self.assertIn("# TYPE finance_sync_deliveries_total counter", text)
        self.assertEqual(sample(text, "finance_sync_jobs", state="pending", **b), 1)
        self.assertEqual(sample(text, "finance_sync_jobs", state="dead", **b), 0)
        self.assertEqual(sample(text, "finance_sync_deliveries_total", **b), 1)
        self.assertEqual(sample(text, "finance_sync_failures_total", **b), 1)
        self.assertGreater(sample(text, "finance_sync_last_success_timestamp_seconds", **b), 1.7e9)
        self.assertGreaterEqual(sample(text, "finance_sync_oldest_pending_age_seconds", **b), 0)
        self.assertEqual(sample(text, "finance_sync_open_exceptions", category="transport", **b), 1)
        self.assertEqual(sample(text, "finance_sync_reconciliation_status", status="none", **b), 1)
        # A name with a double quote is escaped, and a backend with nothing yet shows zeros.
        q = {"backend_id": quiet.id}
        self.assertIn('backend="Quiet \\"one\\""', text)
        self.assertEqual(sample(text, "finance_sync_jobs", state="pending", **q), 0)
        self.assertEqual(sample(text, "finance_sync_last_success_timestamp_seconds", **q), 0)

    def test_counters_never_go_down_when_the_attempt_log_is_purged(self):
        """Counters count every attempt ever made: deleting finished jobs (retention) takes their
        attempt log, whose counts are folded into the totals first."""
        self.respond(200, once=True)
        self.respond(503)
        delivered = self.init_invoice("out_invoice", amounts=[12.10], post=True)
        self.dispatch()
        failing = self.init_invoice("out_invoice", amounts=[0.07], post=True)
        self.dispatch()
        self.env.flush_all()
        b = {"backend_id": self.backend.id}
        names = (
            ("finance_sync_deliveries_total", {}),
            ("finance_sync_failures_total", {}),
            ("finance_sync_retries_total", {}),
            ("finance_sync_attempts_total", {"outcome": "done"}),
            ("finance_sync_attempts_total", {"outcome": "retry"}),
            ("finance_sync_attempt_duration_seconds_count", {}),
            ("finance_sync_attempt_duration_seconds_sum", {}),
        )
        before = self.get().text
        # The oracle: the attempt log itself, read before it goes.
        self.env.cr.execute(
            "SELECT outcome, count(*), sum(duration_ms) FROM finance_sync_attempt WHERE backend_id = %s GROUP BY 1",
            [self.backend.id],
        )
        logged = {outcome: (count, ms) for outcome, count, ms in self.env.cr.fetchall()}
        self.assertEqual(sample(before, "finance_sync_attempts_total", outcome="done", **b), logged["done"][0])
        self.assertEqual(sample(before, "finance_sync_retries_total", **b), logged["retry"][0])
        self.assertAlmostEqual(
            sample(before, "finance_sync_attempt_duration_seconds_sum", **b),
            sum(ms for _count, ms in logged.values()) / 1000,
            places=3,
        )
        (self.jobs_of(delivered) | self.jobs_of(failing)).sudo().unlink()
        self.env.flush_all()
        self.env.cr.execute("SELECT count(*) FROM finance_sync_attempt WHERE backend_id = %s", [self.backend.id])
        self.assertEqual(self.env.cr.fetchone()[0], 0, "the attempt log went with its jobs")
        after = self.get().text
        for name, labels in names:
            self.assertEqual(sample(after, name, **labels, **b), sample(before, name, **labels, **b), name)
        # New attempts add to what was folded.
        self.respond(200)
        self.init_invoice("out_invoice", amounts=[1234.57], post=True)
        self.dispatch()
        self.env.flush_all()
        later = self.get().text
        self.assertEqual(
            sample(later, "finance_sync_attempt_duration_seconds_count", **b),
            sample(before, "finance_sync_attempt_duration_seconds_count", **b) + 1,
        )

    def test_duration_histogram_matches_the_attempt_log(self):
        """Each bucket counts the attempts no longer than its bound (an independent count in SQL)."""
        quiet = self.create_backend("Histogram", path="/histogram")
        job = self.jobs_of(self.init_invoice("out_invoice", amounts=[12.10], post=True), quiet)
        self.assertEqual(len(job), 1)
        durations = [0, 24, 25, 26, 99, 100, 101, 999, 1000, 1001, 29999, 30000, 30001, 120000]
        now = fields.Datetime.now()
        self.env["finance.sync.attempt"]._log(
            [
                {
                    "job_id": job.id,
                    "backend_id": quiet.id,
                    "company_id": self.company.id,
                    "started_at": now,
                    "duration_ms": duration,
                    "status_code": 200,
                    "outcome": "done",
                    "response_excerpt": None,
                    "error_code": None,
                    "error_params": None,
                }
                for duration in durations
            ]
        )
        # Half of them folded into the totals, as the purge does: the histogram is the same.
        self.env["finance.sync.attempt.total"]._fold_jobs(job.ids)
        self.env.cr.execute(
            "DELETE FROM finance_sync_attempt WHERE job_id = %s AND COALESCE(duration_ms, 0) < 1000", [job.id]
        )
        self.env.cr.execute("SELECT count(*) FROM finance_sync_attempt WHERE job_id = %s", [job.id])
        self.assertEqual(self.env.cr.fetchone()[0], 6, "those of 1 s and more are left in the log")
        text = self.get().text
        b = {"backend_id": quiet.id}
        for bound in (*metrics_lib.DURATION_BOUNDS_MS, None):
            expected = sum(1 for duration in durations if bound is None or duration <= bound)
            le = f"{bound / 1000:g}" if bound is not None else "+Inf"
            # The folded totals hold all 14; the log still holds those of 1 s and more: counted twice.
            again = sum(1 for duration in durations if duration >= 1000 and (bound is None or duration <= bound))
            self.assertEqual(
                sample(text, "finance_sync_attempt_duration_seconds_bucket", le=le, **b), expected + again, le
            )

    def test_circuit_open_and_late_deliveries(self):
        self.backend.circuit_threshold = 1
        self.respond(503)
        self.init_invoice("out_invoice", amounts=[12.10], post=True)
        self.dispatch()
        self.env.flush_all()
        self.assertEqual(self.backend.circuit_state, "open")
        b = {"backend_id": self.backend.id}
        text = self.get().text
        self.assertEqual(sample(text, "finance_sync_circuit_open", **b), 1)
        self.assertEqual(sample(text, "finance_sync_late_deliveries", **b), 0, "no Deliver within setting")
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_DELIVERY_SLA_MINUTES, "5")
        self.env.cr.execute(
            "UPDATE finance_sync_job SET create_date = (now() at time zone 'UTC') - interval '1 hour'"
            " WHERE backend_id = %s",
            [self.backend.id],
        )
        self.env.invalidate_all()
        text = self.get().text
        self.assertEqual(
            sample(text, "finance_sync_late_deliveries", **b),
            self.Job.search_count(self.backend._late_domain(self.backend._delivery_sla_cutoff())),
        )
        self.assertGreaterEqual(sample(text, "finance_sync_late_deliveries", **b), 1)

    def test_query_count_does_not_grow_with_backends_and_jobs(self):
        Backend = self.env["finance.sync.backend"]

        def queries():
            self.env.flush_all()
            self.env.invalidate_all()
            self.env.registry.clear_cache("stable")  # settings are cached until a write elsewhere clears them
            before = self.env.cr.sql_log_count
            text = Backend._finance_sync_metrics()
            return self.env.cr.sql_log_count - before, text

        self.init_invoice("out_invoice", amounts=[10.0], post=True)
        few, _text = queries()
        backends = [self.create_backend(f"Platform {n}", path=f"/p{n}") for n in range(4)]
        for _n in range(3):
            self.init_invoice("out_invoice", amounts=[10.0], post=True)
        for backend in backends:
            self.env["finance.sync.exception"]._open_or_bump(backend, "transport", "down")
        self.env["finance.sync.reconciliation"].create(
            {
                "backend_id": backends[0].id,
                "company_id": self.company.id,
                "date_from": "2026-11-01",
                "date_to": "2026-11-30",
            }
        )
        many, text = queries()
        self.assertEqual(many, few)
        self.assertEqual(
            many, 8, "backends, their fields, jobs, attempts, exceptions, reconciliations, the SLA setting, circuits"
        )
        self.assertEqual(sample(text, "finance_sync_jobs", state="pending", backend_id=backends[3].id), 3)
        self.assertEqual(
            sample(text, "finance_sync_reconciliation_status", status="waiting", backend_id=backends[0].id), 1
        )

    # --- the token: long, random, refused otherwise ----------------------------------------------

    def test_a_short_or_weak_token_is_refused_and_says_why(self):
        for token, why in (
            ("x", "it has 1 characters; it needs at least 32"),
            ("metrics-token-2024", "it needs at least 32"),
            ("a" * 40, "too few different characters"),
            ("ab" * 32, "too few different characters"),
            ("metrics token with spaces 0123456789", "spaces or control characters"),
        ):
            with self.subTest(token=token), self.assertRaisesRegex(ValidationError, why):
                self.env["res.config.settings"].create({"finance_sync_metrics_token": token}).execute()
        self.assertEqual(self.get().status_code, 200, "the token in place is kept")
        self.assertEqual(self.get("x").status_code, 401)

    def test_the_setting_says_whether_a_token_is_set_and_offers_generate(self):
        arch = etree.fromstring(self.env["res.config.settings"].get_views([(False, "form")])["views"]["form"]["arch"])
        setting = arch.xpath("//setting[.//field[@name='finance_sync_metrics_token']]")[0]
        indicator = setting.xpath(".//field[@name='finance_sync_metrics_token_set']")
        self.assertTrue(indicator and not indicator[0].get("invisible"), "whether a token is set, shown")
        self.assertTrue(setting.xpath(".//button[@name='action_finance_sync_generate_metrics_token']"))
        token_field = setting.xpath(".//field[@name='finance_sync_metrics_token']")[0]
        self.assertEqual(token_field.get("password"), "True", "never shown")
        self.assertFalse(token_field.get("placeholder"), "no sentence cut off in a narrow input")
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_METRICS_TOKEN, False)
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.finance_sync_metrics_token_set)
        settings.action_finance_sync_generate_metrics_token()
        self.assertTrue(settings.finance_sync_metrics_token_set, "the same form says so at once")
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_METRICS_TOKEN, False)
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.finance_sync_metrics_token_set)
        settings.finance_sync_metrics_token = TOKEN
        settings.execute()
        self.assertTrue(settings.finance_sync_metrics_token_set)

    def test_generate_makes_a_strong_token_and_shows_it_once(self):
        action = self.env["res.config.settings"].create({}).action_finance_sync_generate_metrics_token()
        token = action["params"]["message"].rpartition(": ")[2]
        self.assertGreaterEqual(len(token), 32)
        self.assertIsNone(metrics_lib.token_problem(token))
        self.assertEqual(self.get(token).status_code, 200)
        self.assertEqual(self.get().status_code, 401, "the former token no longer opens the metrics")
        self.assertNotIn(token, self.env["ir.config_parameter"].sudo().get_param(const.PARAM_METRICS_TOKEN))
        fs_admin = self.make_user("fs_metrics_admin", "finance_sync.finance_sync_group_admin")
        with self.assertRaises(AccessError):
            self.env["res.config.settings"].with_user(fs_admin).action_finance_sync_generate_metrics_token()

    def test_a_weak_token_set_before_opens_nothing(self):
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_METRICS_TOKEN, secret_box(self.env).encrypt("x"))
        with self.assertLogs("odoo.addons.finance_sync.controllers.metrics", "WARNING"):
            self.assertEqual(self.get("x").status_code, 401)

    def test_one_token_shows_every_company_s_backends(self):
        """As SECURITY.md says: the token is the database's, for system administrators' monitoring."""
        other = self.setup_other_company(name="Metrics Co")["company"]
        theirs = self.create_backend("Other company's platform", companies=other, path="/theirs")
        self.env.flush_all()
        self.assertIn(f'backend_id="{theirs.id}"', self.get().text)
