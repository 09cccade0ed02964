"""Delivery SLA (Settings, Deliver within): one grouped late-delivery exception per backend,
resolved by itself once the documents are delivered to the (real, local) receiver; the
dashboard's late deliveries and last reconciliation."""

import uuid
from datetime import date, timedelta

from odoo import fields
from odoo.tests import tagged

from .. import const
from ..utils import internal
from .common import FinanceSyncCase


@tagged("post_install", "-at_install")
class TestDeliverySla(FinanceSyncCase):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_DELIVERY_SLA_MINUTES, "30")

    def age(self, jobs, minutes):
        """Make ``jobs`` look captured ``minutes`` ago."""
        jobs.flush_recordset()
        self.env.cr.execute(
            "UPDATE finance_sync_job SET create_date = %s WHERE id IN %s",
            (fields.Datetime.now() - timedelta(minutes=minutes), tuple(jobs.ids)),
        )
        jobs.invalidate_recordset(["create_date"])

    def late_exceptions(self, backend=None):
        return self.env["finance.sync.exception"].search(
            [("backend_id", "=", (backend or self.backend).id), ("category", "=", "late_delivery")]
        )

    def test_late_documents_open_one_grouped_exception_resolved_once_delivered(self):
        self.respond(503)  # the platform is down: nothing gets through
        invoices = [self.init_invoice("out_invoice", amounts=[a], post=True) for a in (10.0, 20.0, 30.0)]
        self.dispatch()
        jobs = self.Job.browse([j.id for inv in invoices for j in self.jobs_of(inv)])
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.age(jobs[:2], 45)  # two of them are late, the third is recent
        cron = self.env["finance.sync.backend"]
        cron._cron_check_late_deliveries()
        exception = self.late_exceptions()
        self.assertEqual(len(exception), 1)
        self.assertEqual(exception.job_ids, jobs[:2])
        self.assertIn("2 events of documents posted more than 30 minutes ago are not delivered yet", exception.message)
        self.assertEqual(self.backend.late_delivery_count, 2)
        late_action = self.backend.action_view_late_deliveries()
        self.assertEqual(self.Job.search(late_action["domain"]), jobs[:2])
        # The third one is late too by the next run: the same exception, bumped, now with all three.
        self.age(jobs[2], 45)
        cron._cron_check_late_deliveries()
        self.assertEqual(self.late_exceptions(), exception)
        self.assertEqual(exception.occurrence_count, 2)
        self.assertEqual(exception.job_ids, jobs)
        self.assertIn("3 events of documents", exception.message)
        # The platform is back: delivered, the exception resolves itself.
        self.receiver.clear()
        self.respond(200)
        jobs._reschedule(fields.Datetime.now())
        self.dispatch()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(len(self.received()), 3)
        self.assertEqual(exception.state, "resolved")
        self.backend.invalidate_recordset(["late_delivery_count"])
        self.assertEqual(self.backend.late_delivery_count, 0)

    def test_only_documents_count(self):
        """A partner's exposure event waits for its coalescing interval on purpose, and partner
        events and feed runs are not documents posted: none of them is a late delivery."""
        partner = self.env["res.partner"].create({"name": "Exposure only"})
        event_id = str(uuid.uuid4())
        job = internal(self.Job.sudo()).create(
            {
                "backend_id": self.backend.id,
                "company_id": self.company.id,
                "event_uuid": event_id,
                "event_type": const.EVENT_PARTNER_EXPOSURE,
                "res_model": "res.partner",
                "res_id": partner.id,
                "sequence": 1,
                "payload": self.backend._prepare_ping_payload(event_id),
            }
        )
        self.age(job, 600)
        self.env["finance.sync.backend"]._cron_check_late_deliveries()
        self.assertFalse(self.late_exceptions())
        self.assertEqual(self.backend.late_delivery_count, 0)
        # The same wait for an invoice is late.
        internal(job).write({"res_model": "account.move", "res_id": self.init_invoice("out_invoice", amounts=[5.0]).id})
        self.backend.invalidate_recordset(["late_delivery_count"])
        self.env["finance.sync.backend"]._cron_check_late_deliveries()
        self.assertEqual(self.late_exceptions().job_ids, job)

    def test_no_sla_no_late_delivery_and_open_ones_close(self):
        self.respond(503)
        invoice = self.init_invoice("out_invoice", amounts=[10.0], post=True)
        self.age(self.jobs_of(invoice), 600)
        self.env["finance.sync.backend"]._cron_check_late_deliveries()
        exception = self.late_exceptions()
        self.assertEqual(exception.state, "new")
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_DELIVERY_SLA_MINUTES, "0")
        self.env["finance.sync.backend"]._cron_check_late_deliveries()
        self.assertEqual(exception.state, "resolved")
        self.assertEqual(self.backend.late_delivery_count, 0)

    def test_the_cron_runs_the_check(self):
        self.respond(503)
        invoice = self.init_invoice("out_invoice", amounts=[10.0], post=True)
        self.age(self.jobs_of(invoice), 45)
        cron = self.env.ref("finance_sync.ir_cron_finance_sync_late_deliveries")
        with self.enter_registry_test_mode():
            cron.method_direct_trigger()
        self.assertEqual(self.late_exceptions().job_ids, self.jobs_of(invoice))

    def test_each_backend_has_its_own_exception(self):
        other = self.create_backend("Treasury", path="/treasury")
        self.respond(503)
        self.respond(503, path="/treasury")
        invoice = self.init_invoice("out_invoice", amounts=[10.0], post=True)
        self.age(self.jobs_of(invoice) | self.jobs_of(invoice, other), 45)
        self.env["finance.sync.backend"]._cron_check_late_deliveries()
        self.assertEqual(len(self.late_exceptions()), 1)
        self.assertEqual(len(self.late_exceptions(other)), 1)
        self.assertEqual(self.late_exceptions(other).job_ids, self.jobs_of(invoice, other))

    def test_dashboard_shows_the_latest_reconciliation(self):
        Reconciliation = self.env["finance.sync.reconciliation"]
        self.assertEqual(self.backend.last_reconciliation_state, "none")
        vals = {"backend_id": self.backend.id, "company_id": self.company.id}
        october = {"date_from": date(2026, 10, 1), "date_to": date(2026, 10, 31), "state": "matched"}
        internal(Reconciliation).create({**vals, **october})  # an outcome, as the module records it
        latest = Reconciliation.create({**vals, "date_from": date(2026, 11, 1), "date_to": date(2026, 11, 30)})
        self.backend.invalidate_recordset(["last_reconciliation_state", "last_reconciliation_id"])
        self.assertEqual(self.backend.last_reconciliation_state, "waiting")
        self.assertEqual(self.backend.last_reconciliation_id, latest)
        self.assertEqual(self.backend.action_view_reconciliations()["domain"], [("backend_id", "=", self.backend.id)])
