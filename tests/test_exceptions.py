"""Exception queue: dedupe, auto-resolve, actions in bulk, activities, retention, dashboard,
sync status filters, access per group, and a browser tour."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import FinanceSyncCase


@tagged("post_install", "-at_install")
class TestExceptionQueue(FinanceSyncCase):
    def failed_invoice(self, status=400):
        invoice = self._create_invoice(post=True)
        self.respond(status, once=True)
        self.dispatch()
        return invoice, self.jobs_of(invoice)

    def test_same_problem_recurring_updates_one_record(self):
        Exception_ = self.env["finance.sync.exception"]
        invoice = self._create_invoice(post=True)
        first = Exception_._raise(self.backend, "transport", "down", document=invoice, fingerprint_key="k")
        with freeze_time(fields.Datetime.now() + timedelta(hours=1)):
            again = Exception_._raise(self.backend, "transport", "still down", document=invoice, fingerprint_key="k")
        self.assertEqual(first, again)
        self.assertEqual((again.occurrence_count, again.message), (2, "still down"))
        self.assertGreater(again.last_seen, again.first_seen)
        again.action_resolve()
        third = Exception_._raise(self.backend, "transport", "down again", document=invoice, fingerprint_key="k")
        self.assertNotEqual(third, first, "a closed exception is not reopened: a new one tells the new story")
        self.assertTrue(third.explanation and third.suggested_fix)

    def test_blocking_exception_schedules_an_activity_for_the_responsible(self):
        responsible = self.env["res.users"].create(
            {
                "name": "Resp",
                "login": "fs_resp",
                "group_ids": [(6, 0, [self.env.ref("finance_sync.finance_sync_group_user").id])],
            }
        )
        self.backend.user_id = responsible
        _invoice, job = self.failed_invoice()
        exc = job.exception_ids
        self.assertEqual(exc.severity, "blocking")
        self.assertEqual(exc.activity_ids.user_id, responsible)
        exc.action_resolve()
        self.assertFalse(exc.activity_ids, "closing the exception marks its activity done")

    def test_default_responsible_from_settings_when_backend_has_none(self):
        default = self.env["res.users"].create({"name": "Default", "login": "fs_default"})
        settings = self.env["res.config.settings"].create({"finance_sync_default_user_id": default.id})
        settings.execute()
        self.backend.user_id = False
        _invoice, job = self.failed_invoice()
        self.assertEqual(job.exception_ids.user_id, default)
        self.assertEqual(job.exception_ids.activity_ids.user_id, default)

    def test_retry_sends_now_and_resolves_itself(self):
        _invoice, job = self.failed_invoice()
        exc = job.exception_ids
        self.respond(200)
        exc.action_retry()
        self.assertEqual(job.state, "done")
        self.assertEqual(exc.state, "resolved")
        self.assertIn("Retry requested", exc.message_ids.mapped("body")[-2] + "".join(exc.message_ids.mapped("body")))

    def test_bulk_retry_and_ignore(self):
        excs = self.env["finance.sync.exception"]
        for _i in range(3):
            excs |= self.failed_invoice()[1].exception_ids
        self.assertEqual(len(excs), 3)
        self.respond(500)
        excs.action_retry()  # the platform still fails: nothing resolves, the jobs wait for a retry
        self.assertEqual(set(excs.mapped("state")), {"in_progress"})
        self.assertEqual(set(excs.job_ids.mapped("state")), {"pending"})
        wizard = self.env["finance.sync.exception.ignore"].with_context(active_ids=excs.ids)
        with self.assertRaises(UserError):
            excs._ignore("   ")
        wizard.create({"reason": "Test data, never to be sent"}).action_confirm()
        self.assertEqual(set(excs.mapped("state")), {"ignored"})
        for exc in excs:
            self.assertIn("Test data, never to be sent", "".join(exc.message_ids.mapped("body")))

    def test_dashboard_health(self):
        self.assertEqual(self.backend.health, "ok")
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
        self.respond(503, once=True)
        self.respond(200)
        self.dispatch()
        self.Job.search([("backend_id", "=", self.backend.id)]).write({"next_attempt_at": fields.Datetime.now()})
        self.dispatch()
        self.backend.invalidate_recordset()
        self.assertEqual((self.backend.pending_count, self.backend.failures_24h), (0, 1))
        self.assertTrue(self.backend.last_success_at)
        self.assertEqual(self.backend.health, "warning", "a failure in the last 24 h")

    def test_sync_status_and_filters_on_invoices(self):
        failed, _job = self.failed_invoice()
        pending = self._create_invoice(post=True)
        synced = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        Move = self.env["account.move"]
        self.assertEqual(failed.finance_sync_status, "failed")
        self.assertEqual(synced.finance_sync_status, "synced")
        ids = (pending | failed | synced).ids
        self.assertEqual(Move.search([("id", "in", ids), ("finance_sync_status", "in", ["failed"])]), failed)
        self.assertEqual(
            Move.search([("id", "in", ids), ("finance_sync_status", "in", ["not_synced", "pending"])]),
            Move.browse(),
            "the pending one went out with the last dispatch",
        )
        quiet = Move.with_context(finance_sync_no_capture=True).create(
            {
                "move_type": "out_invoice",
                "partner_id": self.partner_a.id,
                "invoice_line_ids": [(0, 0, {"name": "x", "price_unit": 10.0})],
            }
        )
        quiet.with_context(finance_sync_no_capture=True).action_post()
        self.assertEqual(quiet.finance_sync_status, "not_synced")
        self.assertEqual(
            Move.search([("id", "in", ids + quiet.ids), ("finance_sync_status", "in", ["not_synced"])]), quiet
        )

    def test_retention_keeps_what_it_must(self):
        old = fields.Datetime.now() - timedelta(days=200)
        done_job = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        done_job = self.jobs_of(done_job)
        _inv, failed_job = self.failed_invoice()
        linked_done = self._create_invoice(post=True)
        self.dispatch()
        linked_done = self.jobs_of(linked_done)
        exc = self.env["finance.sync.exception"]._raise(
            self.backend, "conflict", "x", jobs=linked_done, fingerprint_key="keep"
        )
        recent = self._create_invoice(post=True)
        self.dispatch()
        recent = self.jobs_of(recent)
        self.env.flush_all()
        (done_job | failed_job | linked_done).invalidate_recordset()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET write_date = %s WHERE id IN %s",
            (old, tuple((done_job | failed_job | linked_done).ids)),
        )
        self.env.invalidate_all()
        attempts = done_job.attempt_ids
        self.assertTrue(attempts)
        purged = self.Job._cron_purge(days=90)
        self.assertEqual(purged, 1)
        self.assertFalse(done_job.exists(), "old delivered job purged")
        self.assertFalse(attempts.exists(), "with its attempt log")
        self.assertTrue(failed_job.exists(), "failed jobs are never purged")
        self.assertTrue(linked_done.exists(), "jobs of an open exception stay")
        self.assertTrue(recent.exists(), "recent jobs stay")
        exc.action_resolve()
        self.assertEqual(self.Job._cron_purge(days=90), 1)
        self.assertEqual(self.Job._cron_purge(days=0), 0, "0 days keeps everything")


@tagged("post_install", "-at_install")
class TestExceptionAccess(FinanceSyncCase):
    def test_finance_user_handles_exceptions_but_not_configuration(self):
        user = self.env["res.users"].create(
            {
                "name": "Finance user",
                "login": "fs_fin_user",
                "group_ids": [(6, 0, [self.env.ref("finance_sync.finance_sync_group_user").id])],
            }
        )
        plain = self.env["res.users"].create(
            {"name": "Plain", "login": "fs_plain2", "group_ids": [(6, 0, [self.env.ref("base.group_user").id])]}
        )
        invoice = self._create_invoice(post=True)
        self.respond(400, once=True)
        self.dispatch()
        exc = self.jobs_of(invoice).exception_ids
        as_user = exc.with_user(user)
        self.assertTrue(self.jobs_of(invoice).with_user(user).read(["state"]))
        as_user.write({"state": "in_progress"})
        self.respond(200)
        as_user.action_retry()
        self.assertEqual(exc.state, "resolved")
        with self.assertRaises(AccessError):
            self.backend.with_user(user).write({"name": "x"})
        with self.assertRaises(AccessError):
            self.backend.with_user(user).read(["auth_secret_encrypted"])
        with self.assertRaises(AccessError):
            self.jobs_of(invoice).with_user(user).write({"state": "pending"})
        for model in ("finance.sync.exception", "finance.sync.job", "finance.sync.backend"):
            with self.assertRaises(AccessError):
                self.env[model].with_user(plain).search([])


@tagged("post_install", "-at_install")
class TestExceptionTour(FinanceSyncCase, HttpCase):
    def test_user_adds_the_missing_mapping_from_the_exception(self):
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Tour codes"})
        mapping_set.policy_ids.filtered(lambda p: p.kind == "partner").policy = "required"
        self.backend.mapping_set_id = mapping_set
        invoice = self._create_invoice(post=True)
        self.respond(200)
        self.dispatch()
        job = self.jobs_of(invoice)
        exc = job.exception_ids
        self.assertEqual((job.state, exc.category, exc.state), ("blocked", "missing_mapping", "new"))
        self.assertFalse(self.receiver.log)

        self.env["res.users"].create(
            {
                "name": "Implementation partner",
                "login": "fs_tour",
                "password": "fs_tour_password",
                "company_id": self.company.id,
                "company_ids": [(6, 0, self.company.ids)],
                "group_ids": [(6, 0, [self.env.ref("finance_sync.finance_sync_group_admin").id])],
            }
        )
        self.start_tour("/odoo", "finance_sync_fix_exception", login="fs_tour", password="fs_tour_password")

        self.env.invalidate_all()
        mapping = self.env["finance.sync.mapping"].search([("set_id", "=", mapping_set.id)])
        self.assertEqual(
            (mapping.kind, mapping.partner_id, mapping.external_code),
            ("partner", invoice.partner_id.commercial_partner_id, "CUST-TOUR"),
            "made in the browser",
        )
        self.assertEqual((job.state, exc.state), ("done", "resolved"), "sent from the browser after the release")
        ((_headers, body, _raw),) = self.received()
        self.assertEqual(body["partner"]["code"], "CUST-TOUR")
