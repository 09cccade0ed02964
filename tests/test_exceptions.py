"""Exception queue: dedupe, auto-resolve, actions in bulk, activities, retention, dashboard,
sync status filters, access per group (the browser tour of a missing code is in test_tours.py)."""

import ast
from datetime import timedelta

from freezegun import freeze_time
from lxml import etree

from odoo import fields
from odoo.exceptions import AccessError, ConcurrencyError, UserError
from odoo.tests import tagged
from odoo.tools import mute_logger
from odoo.tools.safe_eval import safe_eval

from .. import const
from ..utils import without_capture
from .common import FinanceSyncCase

HEALTH_ACTIVITY = "finance_sync.mail_activity_type_health_alert"


@tagged("post_install", "-at_install")
class TestExceptionQueue(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Exception = cls.env["finance.sync.exception"]
        cls.finance_user = cls.env["res.users"].create(
            {
                "name": "Finance user",
                "login": "fs_exc_user",
                "group_ids": [(6, 0, [cls.env.ref("finance_sync.finance_sync_group_user").id])],
            }
        )

    def failed_invoice(self, status=400):
        invoice = self._create_invoice(post=True)
        self.respond(status, once=True)
        self.dispatch()
        return invoice, self.jobs_of(invoice)

    def drain(self):
        """Dispatch until nothing is due."""
        self.dispatch()

    def chatter(self, record):
        return "".join(record.message_ids.mapped("body"))

    # --- the exception record ----------------------------------------------------------

    def test_same_problem_recurring_updates_one_record(self):
        invoice = self._create_invoice(post=True)
        first = self.Exception._open_or_bump(self.backend, "transport", "down", document=invoice, fingerprint_key="k")
        with freeze_time(fields.Datetime.now() + timedelta(hours=1)):
            again = self.Exception._open_or_bump(
                self.backend, "transport", "still down", document=invoice, fingerprint_key="k"
            )
        self.assertEqual(first, again)
        self.assertEqual((again.occurrence_count, again.message), (2, "still down"))
        self.assertGreater(again.last_seen, again.first_seen)
        self.assertEqual((again.move_id, again.res_model, again.res_id), (invoice, "account.move", invoice.id))
        again.action_resolve()
        third = self.Exception._open_or_bump(
            self.backend, "transport", "down again", document=invoice, fingerprint_key="k"
        )
        self.assertNotEqual(third, first, "a closed exception is not reopened: a new one tells the new story")

    def test_a_failing_job_recurring_keeps_one_exception(self):
        self.backend.user_id = self.finance_user
        invoice, job = self.failed_invoice(400)
        exc = job.exception_ids
        for _i in range(3):
            self.respond(400, once=True)
            job.action_retry()
            job._send_now()
        self.assertEqual(len(self.Exception.search([("move_id", "=", invoice.id)])), 1)
        self.assertEqual((exc.occurrence_count, exc.category, exc.severity), (4, "rejected", "blocking"))
        self.assertEqual(len(exc.activity_ids), 1, "one activity, not one per occurrence")

    def test_every_record_about_a_document_links_and_opens_it_alike(self):
        invoice, job = self.failed_invoice()
        exc = job.exception_ids
        binding = self.backend._inbound_env(self.env["finance.sync.binding"])._bind(self.backend, invoice, "ext-link")
        binding = binding.with_env(self.env)
        for record in (job, exc, binding):
            with self.subTest(model=record._name):
                self.assertEqual(
                    (record.res_model, record.res_id, record.move_id, record.payment_id),
                    ("account.move", invoice.id, invoice, self.env["account.payment"]),
                )
                action = record.action_open_document()
                self.assertEqual((action["res_model"], action["res_id"]), ("account.move", invoice.id))
        unlinked = self.Exception._open_or_bump(self.backend, "conflict", "no document", fingerprint_key="none")
        with self.assertRaises(UserError):
            unlinked.action_open_document()

    def test_every_category_explains_itself(self):
        for category, _label in const.EXCEPTION_CATEGORIES:
            exc = self.Exception._open_or_bump(self.backend, category, "x", fingerprint_key=category)
            self.assertTrue(exc.explanation and exc.suggested_fix, category)
        self.assertEqual(
            self.Exception.search([("backend_id", "=", self.backend.id)]).mapped("severity").count("warning"),
            8,
            "conflicts, inbound problems, reconciliation mismatches, late deliveries, credit holds, new bank "
            "accounts and business findings warn; the rest "
            "blocks sending",
        )

    def test_an_exception_opened_concurrently_asks_for_a_retry(self):
        exc = self.Exception._open_or_bump(self.backend, "transport", "down", fingerprint_key="race")
        # Another transaction opened it after this one started: this snapshot does not see it.
        self.patch(type(self.Exception), "_find_open", lambda self, fingerprint: self.browse())
        with self.assertRaises(ConcurrencyError), mute_logger("odoo.sql_db"):
            self.Exception._open_or_bump(self.backend, "transport", "down", fingerprint_key="race")
        self.assertEqual(exc.occurrence_count, 1, "the savepoint rolled the failed insert back")

    # --- activities ----------------------------------------------------------------------

    def test_blocking_exception_schedules_an_activity_for_the_responsible(self):
        self.backend.user_id = self.finance_user
        _invoice, job = self.failed_invoice()
        exc = job.exception_ids
        self.assertEqual((exc.severity, exc.user_id), ("blocking", self.finance_user))
        self.assertEqual(exc.activity_ids.user_id, self.finance_user)
        warning = self.Exception._open_or_bump(self.backend, "conflict", "amounts differ", fingerprint_key="w")
        self.assertEqual(warning.severity, "warning")
        self.assertFalse(warning.activity_ids, "warnings do not schedule activities")
        exc.action_resolve()
        self.assertFalse(exc.activity_ids, "closing the exception marks its activity done")

    def test_default_responsible_from_settings_when_backend_has_none(self):
        default = self.env["res.users"].create({"name": "Default", "login": "fs_default"})
        settings = self.env["res.config.settings"].create({"finance_sync_default_user_id": default.id})
        settings.execute()
        self.assertEqual(self.env["ir.config_parameter"].sudo().get_param(const.PARAM_DEFAULT_USER), str(default.id))
        self.backend.user_id = False
        _invoice, job = self.failed_invoice()
        self.assertEqual(job.exception_ids.user_id, default)
        self.assertEqual(job.exception_ids.activity_ids.user_id, default)

    # --- actions ---------------------------------------------------------------------------

    def test_retry_sends_now_and_resolves_itself(self):
        _invoice, job = self.failed_invoice()
        exc = job.exception_ids
        self.assertEqual((job.state, exc.state), ("failed", "new"))
        self.respond(200)
        exc.action_retry()
        self.assertEqual(job.state, "done", "sent in the same request, not at the next cron run")
        self.assertEqual(exc.state, "resolved")
        self.assertTrue(exc.resolved_at)
        self.assertIn(f"Retry requested by {self.env.user.name} for 1 job.", self.chatter(exc))
        self.assertIn("Resolved automatically", self.chatter(exc))
        with self.assertRaises(UserError):
            exc.action_retry()  # nothing left to retry

    def test_cancelling_the_jobs_resolves_the_exception(self):
        _invoice, job = self.failed_invoice()
        job._cancel("Sent by hand to the platform")
        self.assertEqual(job.exception_ids.state, "resolved")

    def test_bulk_retry_resolve_and_ignore_on_a_selection(self):
        excs = self.Exception
        for _i in range(3):
            excs |= self.failed_invoice()[1].exception_ids
        self.assertEqual(len(excs), 3)
        conflict = self.Exception._open_or_bump(self.backend, "conflict", "no job to retry", fingerprint_key="c")
        selection = (excs | conflict).with_user(self.finance_user)
        self.respond(500)
        selection.action_retry()  # the platform still fails: the jobs wait for their next attempt
        self.assertEqual(set(excs.mapped("state")), {"in_progress"})
        self.assertEqual(conflict.state, "new", "nothing was retried for it")
        self.assertEqual(set(excs.job_ids.mapped("state")), {"pending"})
        self.assertEqual(set(excs.job_ids.mapped("attempt_count")), {1}, "attempts start again and were sent")

        wizard = self.env["finance.sync.exception.ignore"].with_user(self.finance_user)
        with self.assertRaises(UserError):
            wizard.with_context(active_ids=excs[:2].ids).create({"reason": "   "}).action_confirm()
        self.assertEqual(set(excs.mapped("state")), {"in_progress"}, "refused without a reason")
        action = excs[:2].with_user(self.finance_user).action_ignore()
        self.assertEqual((action["res_model"], action["context"]["active_ids"]), (wizard._name, excs[:2].ids))
        wizard.with_context(**action["context"]).create({"reason": "Test data, never to be sent"}).action_confirm()
        self.assertEqual(excs[:2].mapped("state"), ["ignored", "ignored"])
        for exc in excs[:2]:
            self.assertIn("Test data, never to be sent", self.chatter(exc))
            self.assertEqual(exc.ignore_reason, "Test data, never to be sent")

        (excs[2] | conflict).with_user(self.finance_user).action_resolve()
        self.assertEqual((excs[2] | conflict).mapped("state"), ["resolved", "resolved"])
        self.assertFalse(excs.activity_ids, "every closed exception's activity is done")
        with self.assertRaises(UserError):
            excs.action_resolve()  # all closed already

    def test_list_offers_the_bulk_actions(self):
        view = self.env.ref("finance_sync.finance_sync_exception_view_list")
        arch = etree.fromstring(self.Exception.get_view(view.id, "list")["arch"])
        self.assertEqual(arch.xpath("//header/button/@name"), ["action_retry", "action_resolve", "action_ignore"])

    def test_retry_is_offered_only_when_there_is_a_job_to_send_again(self):
        """A conflict raised by an inbound document (no job) offers no Retry; the action refuses it
        in words. A rejected delivery (a failed job) offers it until the exception is closed."""
        view = self.env.ref("finance_sync.finance_sync_exception_view_form")
        arch = etree.fromstring(self.Exception.get_views([(view.id, "form")])["views"]["form"]["arch"])
        (button,) = arch.xpath("//header/button[@name='action_retry']")

        def shown(exc):
            values = exc.read(["can_retry", "state", "category", "job_ids"])[0]
            return not safe_eval(button.get("invisible", "False"), values)

        conflict = self.Exception._open_or_bump(self.backend, "conflict", "totals differ", fingerprint_key="bill")
        self.assertFalse(conflict.job_ids)
        self.assertFalse(shown(conflict), "no Retry without a job")
        with self.assertRaisesRegex(UserError, "no failed, dead or blocked job to retry"):
            conflict.with_user(self.finance_user).action_retry()
        self.assertEqual(conflict.state, "new")

        _invoice, job = self.failed_invoice()
        rejected = job.exception_ids
        self.assertEqual((job.state, rejected.category), ("failed", "rejected"))
        self.assertTrue(shown(rejected))
        rejected.with_user(self.finance_user)._ignore("Sent by hand to the platform")
        rejected.invalidate_recordset()
        self.assertFalse(shown(rejected), "closed: nothing to retry from it")

    def test_a_closed_exception_suggests_nothing_more_to_do(self):
        """Once ignored or resolved, an exception no longer tells its reader to press Add mapping
        (or to do anything else); reopened, the fix is back."""
        ignored, resolved = (
            self.Exception._open_or_bump(self.backend, "missing_mapping", "no code", fingerprint_key=key)
            for key in ("ignored", "resolved")
        )
        for user in (self.env.user, self.finance_user):
            self.assertIn("Add mapping", ignored.with_user(user).suggested_fix)
        ignored.with_user(self.finance_user)._ignore("Not sent to this platform")
        resolved.with_user(self.finance_user).action_resolve()
        for user in (self.env.user, self.finance_user):
            for exc, word in ((ignored, "ignored"), (resolved, "resolved")):
                fix = exc.with_user(user).suggested_fix
                self.assertNotIn("Add mapping", fix)
                self.assertNotIn("mapping editor", fix)
                self.assertIn(f"Nothing to do: this exception {'was' if word == 'ignored' else 'is'} {word}", fix)
        ignored.state = "new"
        self.assertIn("Add mapping", ignored.suggested_fix)

    def test_closing_from_the_status_bar_behaves_like_the_buttons(self):
        _invoice, job = self.failed_invoice()
        exc = job.exception_ids.with_user(self.finance_user)
        self.assertTrue(exc.activity_ids)
        with self.assertRaises(UserError):
            exc.write({"state": "ignored"})  # no reason
        exc.write({"state": "resolved"})
        self.assertTrue(exc.resolved_at)
        self.assertFalse(exc.activity_ids)
        exc.write({"state": "in_progress"})  # reopened
        self.assertFalse(exc.resolved_at)

    # --- age ---------------------------------------------------------------------------

    def test_exceptions_group_and_filter_by_age(self):
        now = fields.Datetime.now()
        ages = {"1_day": 0.5, "2_week": 3, "3_month": 10, "4_older": 40}
        excs = self.Exception
        for bucket, days in ages.items():
            with freeze_time(now - timedelta(days=days)):  # first seen that long ago
                exc = self.Exception._open_or_bump(self.backend, "transport", bucket, fingerprint_key=bucket)
            excs |= exc
        self.assertEqual(excs.mapped("age_bucket"), list(ages))
        self.assertTrue(self.Exception.fields_get(["age_bucket"])["age_bucket"]["groupable"])
        groups = dict(self.Exception._read_group([("id", "in", excs.ids)], ["age_bucket"], ["__count"]))
        self.assertEqual(groups, dict.fromkeys(ages, 1))
        by_backend = self.Exception._read_group(
            [("id", "in", excs.ids)], ["backend_id", "category", "age_bucket"], ["__count"]
        )
        self.assertEqual(len(by_backend), 4)
        for bucket, exc in zip(ages, excs, strict=True):
            self.assertEqual(self.Exception.search([("id", "in", excs.ids), ("age_bucket", "in", [bucket])]), exc)
        self.assertEqual(
            self.Exception.search([("id", "in", excs.ids), ("age_bucket", "not in", ["1_day", "2_week"])]), excs[2:]
        )

    # --- dashboard -----------------------------------------------------------------------

    def test_dashboard_health(self):
        self.assertEqual(self.backend.health, "ok")
        self.assertFalse(self.backend.last_success_at)
        invoice = self._create_invoice(post=True)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET create_date = %s WHERE move_id = %s",
            (fields.Datetime.now() - timedelta(minutes=90), invoice.id),
        )
        self.env.invalidate_all()
        self.assertEqual(self.backend.pending_count, 1)
        self.assertGreaterEqual(self.backend.oldest_pending_minutes, 89)
        self.assertEqual(self.backend.health, "critical", "oldest pending above the 60 min threshold")
        self.assertIn("oldest pending job waits", self.backend.health_alert)
        self.respond(503, once=True)
        self.respond(200)
        self.dispatch()
        self.Job.search([("backend_id", "=", self.backend.id)])._reschedule(fields.Datetime.now())
        self.dispatch()
        self.backend.invalidate_recordset()
        self.assertEqual((self.backend.pending_count, self.backend.failures_24h), (0, 1))
        self.assertFalse(self.backend.oldest_pending_at)
        self.assertTrue(self.backend.last_success_at)
        self.assertEqual(self.backend.circuit_state, "closed")
        self.assertEqual(self.backend.health, "warning", "a failure in the last 24 h")
        self.assertFalse(self.backend.health_alert)
        with freeze_time(fields.Datetime.now() + timedelta(hours=25)):
            self.backend.invalidate_recordset()
            self.assertEqual((self.backend.failures_24h, self.backend.health), (0, "ok"))

    def test_dashboard_thresholds_come_from_settings(self):
        self.env["res.config.settings"].create({"finance_sync_alert_backlog": 2}).execute()
        for _i in range(3):
            self._create_invoice(post=True)
        self.assertEqual(self.backend.pending_count, 3)
        self.assertEqual(self.backend.health, "critical")
        self.assertIn("3 jobs wait to be sent (alert above 2)", self.backend.health_alert)
        self.backend.action_pause()
        self.backend.invalidate_recordset()
        self.assertEqual(self.backend.health, "warning", "a paused backend's backlog is expected")

    def test_dashboard_circuit_open_is_failing(self):
        self.backend.write({"circuit_threshold": 2, "max_attempts": 10})
        self._create_invoice(post=True)
        self._create_invoice(post=True)
        self.respond(503)
        self.dispatch()
        self.backend.invalidate_recordset()
        self.assertEqual((self.backend.circuit_state, self.backend.health), ("open", "critical"))
        self.assertIn("circuit is open after 2 consecutive failures", self.backend.health_alert)

    def test_dashboard_alerts_count_one_in_the_singular(self):
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_ALERT_BACKLOG, "0")
        self.backend.write({"circuit_threshold": 1, "max_attempts": 10})
        self._create_invoice(post=True)
        self.respond(503)
        self.dispatch()
        self.backend.invalidate_recordset()
        self.assertEqual((self.backend.circuit_state, self.backend.pending_count), ("open", 1))
        self.assertEqual(
            self.backend.health_alert, "the circuit is open after 1 failure; 1 job waits to be sent (alert above 0)"
        )

    def test_dashboard_reads_all_backends_in_a_fixed_number_of_queries(self):
        others = self.create_backend("Treasury") | self.create_backend("Billing")
        self._create_invoice(post=True)  # every backend gets a job
        self.respond(200)
        self.dispatch(others[0])
        fnames = [
            "health",
            "health_alert",
            "pending_count",
            "failures_24h",
            "oldest_pending_minutes",
            "last_success_at",
            "circuit_state",
            "open_exception_count",
        ]

        def queries(backends):
            backends.read(fnames)  # warm the settings cache
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            values = backends.read(fnames)
            return self.env.cr.sql_log_count - before, values

        one, _values = queries(self.backend)
        three, values = queries(self.backend | others)
        self.assertEqual(one, three, "no query per backend")
        by_name = {v["id"]: v for v in values}
        self.assertTrue(by_name[others[0].id]["last_success_at"])
        self.assertFalse(by_name[self.backend.id]["last_success_at"])
        self.assertEqual([v["pending_count"] for v in values], [1, 0, 1])

    def test_stat_buttons_open_the_jobs_they_count(self):
        """Each stat button of the backend form opens the jobs its number counts: the action's
        domain with the search filter the button asks for gives that many jobs. A dead job whose
        exception a person ignored does not need action any more."""
        self.backend.write({"max_attempts": 1})
        for _i in range(2):
            self._create_invoice(post=True)
        self.respond(503)
        self.dispatch()  # both jobs are dead, each with its exception
        dead = self.Job.search([("backend_id", "=", self.backend.id), ("state", "=", "dead")])
        self.assertEqual(len(dead.exception_ids), 2)
        dead[0].exception_ids._ignore("Sent by hand to the platform")
        for _i in range(2):
            self._create_invoice(post=True)  # two pending
        self.backend.invalidate_recordset()
        self.assertEqual((self.backend.pending_count, self.backend.failed_count), (2, 1))
        arch = etree.fromstring(self.env.ref("finance_sync.finance_sync_backend_view_form").arch)
        search = etree.fromstring(self.env.ref("finance_sync.finance_sync_job_view_search").arch)
        counted = {}
        for button in arch.xpath("//button[@name='action_view_jobs']"):
            count_field = button.xpath(".//field/@name")[0]
            button_context = safe_eval(button.get("context", "{}"))
            action = self.backend.with_context(**button_context).action_view_jobs()
            domain = list(action["domain"])
            for key in action["context"]:
                if key.startswith("search_default_"):
                    (flt,) = search.xpath(f"//filter[@name='{key.removeprefix('search_default_')}']")
                    domain += safe_eval(flt.get("domain"))
            counted[count_field] = (self.backend[count_field], self.Job.search_count(domain))
        self.assertEqual(set(counted), {"job_count", "pending_count", "failed_count"})
        for count_field, (shown, opened) in counted.items():
            self.assertEqual(shown, opened, count_field)

    def test_dashboard_says_what_a_person_needs(self):
        """A draft backend is not active (not healthy); the last success reads as time ago; the
        failure count opens the jobs that failed."""
        draft = self.create_backend("Not yet", state="draft")
        self.assertEqual(draft.health, "inactive")
        self.assertEqual(dict(draft._fields["health"]._description_selection(self.env))["inactive"], "Not active")
        self.backend.write({"max_attempts": 5, "circuit_threshold": 10})
        failing = self._create_invoice(post=True)
        self.respond(503, once=True)
        self.respond(200)
        self.dispatch()
        self._create_invoice(post=True)
        self.dispatch()  # the retried job is not due yet: only the second one goes
        self.backend.invalidate_recordset()
        self.assertEqual((self.backend.failures_24h, self.backend.last_success_ago), (1, "just now"))
        action = self.backend.action_view_recent_failures()
        self.assertEqual(self.Job.search(action["domain"]).move_id, failing)
        with freeze_time(fields.Datetime.now() + timedelta(hours=3, minutes=5)):
            self.backend.invalidate_recordset()
            self.assertEqual(self.backend.last_success_ago, "3 h ago")
        with freeze_time(fields.Datetime.now() + timedelta(days=3, minutes=1)):
            self.backend.invalidate_recordset()
            self.assertEqual(self.backend.last_success_ago, "3 days ago")
            self.assertFalse(self.Job.search(self.backend.action_view_recent_failures()["domain"]))

    def test_an_authentication_refusal_points_at_what_the_backend_sends(self):
        """A 401 on a backend without authentication is about its signature (or credentials the
        platform wants): the fix says so instead of asking for a token nobody configured."""
        self._create_invoice(post=True)
        self.respond(401)
        self.dispatch()
        exc = self.env["finance.sync.exception"].search(
            [("backend_id", "=", self.backend.id), ("category", "=", "authentication")]
        )
        self.assertEqual(self.backend.auth_mode, "none")
        self.assertIn("signing secret", exc.suggested_fix)
        self.assertNotIn("Enter a valid token", exc.suggested_fix)
        self.backend.write({"auth_mode": "bearer", "auth_secret": "tok-123"})
        exc.invalidate_recordset()
        self.assertIn("token or password", exc.suggested_fix)

    def test_http_statuses_are_not_summed_in_grouped_lists(self):
        """A status code is a label, not a quantity: grouped job and attempt lists show no sum."""
        for model, fname in (("finance.sync.job", "last_status_code"), ("finance.sync.attempt", "status_code")):
            self.assertFalse(self.env[model].fields_get([fname], ["aggregator"])[fname].get("aggregator"), model)

    def test_the_dashboard_lists_failing_backends_first_and_inactive_ones_last(self):
        """The dashboard (kanban) is read in its own order: a failing backend comes before a
        healthy one, which comes before a draft one, whatever their sequence and names."""
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_ALERT_BACKLOG, "0")
        self._create_invoice(post=True)  # one pending job, above the alert backlog of 0
        draft = self.create_backend("A draft", state="draft", sequence=1)
        healthy = self.create_backend("B healthy", sequence=2)  # created after: no job
        self.backend.sequence = 3
        self.env.invalidate_all()
        self.assertEqual(
            (self.backend.health, healthy.health, draft.health), ("critical", "ok", "inactive"), "as the cards show"
        )
        action = self.env.ref("finance_sync.finance_sync_dashboard_action")
        arch = etree.fromstring(
            self.env["finance.sync.backend"].get_views([(action.view_id.id, "kanban")])["views"]["kanban"]["arch"]
        )
        order = arch.get("default_order")
        ids = (self.backend | healthy | draft).ids
        for user in (self.env.user, self.finance_user):
            found = (
                self.env["finance.sync.backend"].with_user(user).search_read([("id", "in", ids)], ["name"], order=order)
            )
            self.assertEqual([r["id"] for r in found], [self.backend.id, healthy.id, draft.id], user.name)

    def test_failing_backend_alerts_its_responsible_once(self):
        self.backend.user_id = self.finance_user
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_ALERT_BACKLOG, "0")
        Backend = self.env["finance.sync.backend"]
        activity_type = self.env.ref(HEALTH_ACTIVITY)

        def alerts():
            return self.backend.activity_ids.filtered(lambda a: a.activity_type_id == activity_type)

        Backend._cron_check_health()
        self.assertFalse(alerts(), "healthy: no alert")
        self._create_invoice(post=True)
        self.backend.invalidate_recordset()
        Backend._cron_check_health()
        Backend._cron_check_health()
        self.assertEqual(len(alerts()), 1, "one alert while it lasts")
        self.assertEqual(alerts().user_id, self.finance_user)
        self.assertIn("1 job waits to be sent (alert above 0)", alerts().note)
        self.respond(200)
        self.dispatch()
        self.backend.invalidate_recordset()
        Backend._cron_check_health()
        self.assertFalse(alerts(), "marked done once back under the thresholds")
        cron = self.env.ref("finance_sync.ir_cron_check_health")
        self.assertEqual(cron.code, "model._cron_check_health()")

    # --- sync status on documents --------------------------------------------------------

    def filter_domain(self, view_xmlid, name):
        view = self.env.ref(view_xmlid)
        arch = etree.fromstring(self.env[view.model].get_view(view.id, "search")["arch"])
        (node,) = arch.xpath(f"//filter[@name='{name}']")
        return ast.literal_eval(node.get("domain"))

    def test_sync_status_and_filters_on_invoices(self):
        failed, _job = self.failed_invoice()
        synced = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        pending = self._create_invoice(post=True)
        Move = self.env["account.move"]
        quiet = without_capture(Move).create(
            {
                "move_type": "out_invoice",
                "partner_id": self.partner_a.id,
                "invoice_line_ids": [(0, 0, {"name": "x", "price_unit": 10.0})],
            }
        )
        quiet.action_post()
        draft = self._create_invoice(post=False)
        self.assertEqual(
            [m.finance_sync_status for m in (failed, synced, pending, quiet)],
            ["failed", "synced", "pending", "not_synced"],
        )
        ours = [("id", "in", (failed | synced | pending | quiet | draft).ids)]
        not_synced = self.filter_domain("account.view_account_invoice_filter", "finance_sync_not_synced")
        sync_failed = self.filter_domain("account.view_account_invoice_filter", "finance_sync_failed")
        self.assertEqual(Move.search(ours + sync_failed), failed)
        self.assertEqual(Move.search(ours + not_synced), pending | quiet, "posted, not sent yet; drafts are not due")
        as_user = Move.with_user(self.finance_user)
        self.assertEqual(as_user.search(ours + sync_failed), failed)
        self.assertEqual(
            as_user.search([*ours, ("finance_sync_status", "not in", ["failed", "pending"])]), synced | quiet | draft
        )

    def test_ignoring_the_problem_or_archiving_the_backend_settles_the_document(self):
        """An invoice whose failed job's exception was ignored, or whose backend was archived, no
        longer reads as failed, in its status and in the search filter alike."""
        ignored, job = self.failed_invoice()
        archived, _other_job = self.failed_invoice()
        Move = self.env["account.move"]
        both = [("id", "in", (ignored | archived).ids)]
        self.assertEqual(Move.search([*both, ("finance_sync_status", "in", ["failed"])]), ignored | archived)
        job.exception_ids._ignore("Sent by hand to the platform")
        self.assertEqual(job.state, "failed", "the job itself is left as it is")
        (ignored | archived).invalidate_recordset()
        self.assertEqual((ignored.finance_sync_status, archived.finance_sync_status), ("not_synced", "failed"))
        self.assertEqual(Move.search([*both, ("finance_sync_status", "in", ["failed"])]), archived)
        self.backend.action_archive()
        (ignored | archived).invalidate_recordset()
        self.assertEqual((ignored.finance_sync_status, archived.finance_sync_status), ("not_synced", "not_synced"))
        self.assertFalse(Move.search([*both, ("finance_sync_status", "in", ["failed"])]))
        self.assertEqual(archived.finance_sync_job_count, 1, "its jobs are still there to open")

    def test_sync_status_and_filters_on_payments(self):
        failed = self.init_payment(100.0, post=True)
        self.respond(400, once=True)
        self.dispatch()
        self.assertEqual(self.jobs_of(failed).state, "failed")
        pending = self.init_payment(200.0, post=True)
        self.assertEqual((failed.finance_sync_status, pending.finance_sync_status), ("failed", "pending"))
        Payment = self.env["account.payment"]
        ours = [("id", "in", (failed | pending).ids)]
        view = "account.view_account_payment_search"
        self.assertEqual(Payment.search(ours + self.filter_domain(view, "finance_sync_failed")), failed)
        self.assertEqual(Payment.search(ours + self.filter_domain(view, "finance_sync_not_synced")), pending)

    # --- retention -----------------------------------------------------------------------

    def age(self, jobs, days=200):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET write_date = %s WHERE id IN %s",
            (fields.Datetime.now() - timedelta(days=days), tuple(jobs.ids)),
        )
        self.env.invalidate_all()

    def test_retention_keeps_what_it_must(self):
        self.respond(200)
        posted = self._create_invoice(post=True)
        posted.button_draft()
        posted.action_post()
        self.drain()
        superseded, latest = self.jobs_of(posted)[:2], self.jobs_of(posted)[2]
        self.assertEqual(set(self.jobs_of(posted).mapped("state")), {"done"})

        linked = self._create_invoice(post=True)
        linked.button_draft()
        self.drain()
        linked_old = self.jobs_of(linked)[0]
        exc = self.Exception._open_or_bump(self.backend, "conflict", "x", jobs=linked_old, fingerprint_key="keep")

        cancelled_after = self._create_invoice(post=True)
        self.drain()
        cancelled_after.button_draft()
        last_heard, cancelled = self.jobs_of(cancelled_after)
        cancelled._cancel("Not to be sent")

        failed = self._create_invoice(post=True)
        failed.button_draft()
        self.respond(400, once=True)
        self.drain()
        failed_job = self.jobs_of(failed)[0]
        self.assertEqual(failed_job.state, "failed")

        recent = self._create_invoice(post=True)
        recent.button_draft()
        self.respond(200)
        self.drain()
        recent_superseded = self.jobs_of(recent)[0]

        self.age(self.Job.search([("backend_id", "=", self.backend.id)]) - self.jobs_of(recent))
        attempts = superseded.attempt_ids
        self.assertEqual(len(attempts), 2)
        purged = self.Job._purge_finished(days=90)
        self.assertEqual(purged, (2, False))
        self.assertFalse(superseded.exists(), "old delivered jobs purged")
        self.assertFalse(attempts.exists(), "with their attempt logs")
        self.assertTrue(latest.exists(), "a document's latest job stays: its sequence goes on from it")
        self.assertTrue(linked_old.exists(), "jobs of an open exception stay")
        self.assertTrue(last_heard.exists() and cancelled.exists(), "what the backend last heard stays")
        self.assertTrue(failed_job.exists(), "failed jobs are never purged")
        self.assertTrue(recent_superseded.exists(), "recent jobs stay")

        exc.action_resolve()
        self.assertEqual(self.Job._purge_finished(days=90), (1, False), "released once its exception is closed")
        self.assertFalse(linked_old.exists())
        self.assertEqual(self.Job._purge_finished(days=0), (0, False), "0 days keeps everything")

        # The platform still hears of the old invoice's payment, with the next sequence number.
        self.commit_hooks()
        self._register_payment(posted)
        self.commit_hooks()
        change = self.jobs_of(posted)[-1]
        self.assertEqual((change.event_type, change.sequence), ("invoice.payment_state_changed", 4))

    def test_odoos_garbage_collection_purges_in_batches(self):
        self.respond(200)
        invoices = self._create_invoice(post=True) | self._create_invoice(post=True)
        invoices.button_draft()
        self.drain()
        first_events = self.jobs_of(invoices[0])[0] | self.jobs_of(invoices[1])[0]
        self.age(first_events)
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_RETENTION_DAYS, "30")
        self.patch(const, "PURGE_BATCH_SIZE", 1)
        self.assertEqual(self.Job._gc_finished_jobs(), (1, True), "one batch per call, and more are left")
        self.env.flush_all()
        with self.enter_registry_test_mode():  # the cron's own cursor is this test's
            self.env.ref("base.autovacuum_job").method_direct_trigger()  # calls again while batches are left
        self.env.invalidate_all()
        self.assertFalse(first_events.exists())
        self.assertEqual(len(self.Job.search([("move_id", "in", invoices.ids)])), 2)


@tagged("post_install", "-at_install")
class TestExceptionAccess(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.user = cls.env["res.users"].create(
            {
                "name": "Finance user",
                "login": "fs_fin_user",
                "group_ids": [(6, 0, [cls.env.ref("finance_sync.finance_sync_group_user").id])],
            }
        )
        cls.plain = cls.env["res.users"].create(
            {"name": "Plain", "login": "fs_plain2", "group_ids": [(6, 0, [cls.env.ref("base.group_user").id])]}
        )
        cls.backend.auth_mode = "bearer"
        cls.backend.auth_secret = "s3cret-token"

    def test_finance_user_handles_exceptions_but_not_configuration(self):
        invoice = self._create_invoice(post=True)
        self.respond(400, once=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        exc = job.exception_ids
        as_user = exc.with_user(self.user)
        self.assertTrue(job.with_user(self.user).read(["state", "last_error"]))
        self.assertTrue(job.attempt_ids.with_user(self.user).read(["status_code"]))
        self.assertTrue(
            self.backend.with_user(self.user).read(
                ["name", "health", "pending_count", "failures_24h", "last_success_at", "circuit_state"]
            )
        )
        as_user.write({"state": "in_progress", "user_id": self.user.id})
        self.respond(200)
        as_user.action_retry()
        self.assertEqual(exc.state, "resolved")
        other = self.env["finance.sync.exception"]._open_or_bump(self.backend, "conflict", "x", fingerprint_key="u")
        self.env["finance.sync.exception.ignore"].with_user(self.user).with_context(active_ids=other.ids).create(
            {"reason": "Known difference"}
        ).action_confirm()
        self.assertEqual(other.state, "ignored")

        for fname in ("auth_secret_encrypted", "signing_secret_encrypted", "webhook_token"):
            with self.assertRaises(AccessError, msg=fname):
                self.backend.with_user(self.user).read([fname])
        self.assertFalse(self.backend.with_user(self.user).auth_secret, "write-only: never read back")
        with self.assertRaises(AccessError):
            self.backend.with_user(self.user).write({"name": "x"})
        with self.assertRaises(AccessError):
            self.backend.with_user(self.user).action_pause()
        with self.assertRaises(AccessError):
            job.with_user(self.user).write({"state": "pending"})
        with self.assertRaises(AccessError):
            exc.with_user(self.user).unlink()
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Codes"})
        self.assertTrue(mapping_set.with_user(self.user).read(["name"]))
        with self.assertRaises(AccessError):
            mapping_set.with_user(self.user).write({"name": "x"})
        with self.assertRaises(AccessError):
            self.env["finance.sync.mapping"].with_user(self.user).create(
                {"set_id": mapping_set.id, "kind": "partner", "partner_id": self.partner_a.id, "external_code": "P"}
            )

    def test_plain_internal_user_has_no_access(self):
        for model in (
            "finance.sync.exception",
            "finance.sync.job",
            "finance.sync.attempt",
            "finance.sync.backend",
            "finance.sync.mapping",
        ):
            with self.assertRaises(AccessError, msg=model):
                self.env[model].with_user(self.plain).search([])
        with self.assertRaises(AccessError):
            self.env["account.move"].with_user(self.plain).search([("finance_sync_status", "in", ["failed"])])


@tagged("post_install", "-at_install")
class TestAdviceFollowsTheReadersRights(FinanceSyncCase):
    """An exception's *How to fix it* says what its reader can do: the fix itself to whoever holds
    the right it needs, whom to ask (and what is left to them) to the others."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.make_user("fs_advice_admin", "finance_sync.finance_sync_group_admin")
        cls.editor = cls.make_user("fs_advice_editor", "finance_sync.finance_sync_group_mapping_editor")
        cls.finance_user = cls.make_user("fs_advice_user", "finance_sync.finance_sync_group_user")
        cls.backend.user_id = cls.admin  # the backend's responsible: the one to ask

    def failed_inbound_exception(self):
        """A failed payment.status for an invoice number that does not exist: stored, failed,
        excepted (a succeeded one is a business finding, tests/test_business_findings.py)."""
        payload = {
            "type": "payment.status",
            "schema_version": 1,
            "occurred_at": "2026-01-05T10:00:00Z",
            "data": {
                "invoice": {"number": "INV/1999/0505"},
                "status": "failed",
                "amount": "12.10",
                "currency": self.company.currency_id.name,
                "date": "2026-01-05",
                "reference": "pay_advice",
            },
        }
        Event = self.backend._inbound_env(self.env["finance.sync.inbound.event"])
        event_id, _duplicate = Event._receive(
            self.backend.with_env(Event.env), "msg_advice", payload, {"Webhook-Id": "msg_advice"}
        )
        event = self.env["finance.sync.inbound.event"].browse(event_id)
        self.assertEqual(event.state, "failed")
        return event.exception_ids

    def test_a_finance_user_is_told_whom_to_ask_an_administrator_what_to_press(self):
        exc = self.failed_inbound_exception()
        self.assertEqual(exc.category, "inbound_unknown_reference")
        as_admin = exc.with_user(self.admin).suggested_fix
        as_user = exc.with_user(self.finance_user).suggested_fix
        self.assertIn("reprocess the event", as_admin)
        self.assertNotEqual(as_user, as_admin)
        self.assertIn(self.admin.name, as_user, "the backend's responsible is the one to ask")
        self.assertIn("only Finance Sync administrators may", as_user)
        # The advice matches the rights: the user cannot reprocess, the administrator can.
        with self.assertRaises(AccessError):
            exc.with_user(self.finance_user).action_reprocess_inbound()
        self.assertTrue(exc.with_user(self.admin).action_reprocess_inbound())

    def test_every_category_tells_each_reader_something_they_can_do(self):
        admin_only = (
            "Initialize warehouse on the backend (",
            "re-send the events",
            "Enter a valid token",
            "resume a paused backend",
            "reprocess the event.",
        )
        for category, _label in const.EXCEPTION_CATEGORIES:
            exc = self.env["finance.sync.exception"]._open_or_bump(
                self.backend, category, "x", fingerprint_key=f"advice-{category}"
            )
            for user in (self.admin, self.editor, self.finance_user):
                with self.subTest(category=category, user=user.login):
                    fix = exc.with_user(user).suggested_fix
                    self.assertTrue(fix)
                    if user != self.admin:
                        for instruction in admin_only:
                            self.assertNotIn(instruction, fix)
            mapping_fix = {u: exc.with_user(u).suggested_fix for u in (self.editor, self.finance_user)}
            if category == "missing_mapping":
                self.assertIn("Press Add mapping", mapping_fix[self.editor], "editors add codes themselves")
                self.assertIn(f"Ask {self.admin.name}", mapping_fix[self.finance_user])
