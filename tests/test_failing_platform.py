"""A failing platform explained where people look: the cause of the latest failure in words, since
when, the next automatic try and what to do, on the invoice's banner (a waiting state, not an
error), on the dashboard card and in the *Sync failing* to-do; the environment's ribbon stays,
and the to-do opens its own backend. The platform is down for real: a loopback port nothing
listens on (the browser tour of the banner is in test_tours.py)."""

import socket

from lxml import etree

from odoo import fields
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .common import FinanceSyncCase

HEALTH_ACTIVITY = "finance_sync.mail_activity_type_health_alert"


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@tagged("post_install", "-at_install")
class TestFailingPlatform(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.port = closed_port()
        cls.address = f"127.0.0.1:{cls.port}"
        cls.backend.write({"endpoint_url": f"http://{cls.address}/hook", "circuit_threshold": 2, "max_attempts": 10})
        cls.other = cls.create_backend("Treasury")

    def fail_twice(self):
        """Two invoices the platform does not take: the circuit opens."""
        self._create_invoice(post=True, invoice_line_ids=[self._prepare_invoice_line(price_unit=12.10)])
        self._create_invoice(post=True, invoice_line_ids=[self._prepare_invoice_line(price_unit=0.07)])
        self.dispatch()
        self.backend.invalidate_recordset()

    def test_a_new_invoice_waits_with_the_cause_the_next_try_and_advice(self):
        self.fail_twice()
        attempts = self.env["finance.sync.attempt"].search([("backend_id", "=", self.backend.id)])
        self.assertEqual(set(attempts.mapped("outcome")), {"retry"})
        self.assertEqual(self.backend.circuit_state, "open")
        self.assertIn(f"connection refused on {self.address}", self.backend.failure_cause)
        self.assertEqual(self.backend.failing_since, min(attempts.mapped("started_at")))
        self.assertIn("Nothing is lost", self.backend.failure_advice)
        self.assertIn("Close circuit", self.backend.failure_advice)
        self.assertEqual(self.backend.next_try_at, self.backend.circuit_open_until)

        invoice = self._create_invoice(post=True, invoice_line_ids=[self._prepare_invoice_line(price_unit=1234.57)])
        self.dispatch()  # the circuit is open: nothing goes to the platform
        self.assertFalse(self.jobs_of(invoice).attempt_ids)
        invoice.invalidate_recordset()
        self.assertEqual(invoice.finance_sync_status, "pending", "a waiting state, not an error")
        self.assertFalse(invoice.finance_sync_problem, "no exception: nothing for a person to fix yet")
        waiting = invoice.finance_sync_waiting
        self.assertIn(f"Waiting for {self.backend.name}", waiting)
        self.assertIn(f"connection refused on {self.address}", waiting)
        self.assertIn("Next automatic try", waiting)
        self.assertIn("Nothing is lost", waiting)
        self.assertNotIn("Treasury", waiting, "the backend that delivers does not make it wait")
        self.assertNotIn("[Errno", waiting, "the technical trace stays in the attempt log")

        # The platform is back: the cause goes away with the first delivery.
        self.backend.write({"endpoint_url": self.receiver.url_for("/hook")})
        # The failures happened earlier than the reset (stored to the second: the same second
        # would still count them).
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE finance_sync_attempt SET started_at = started_at - interval '1 minute' WHERE backend_id = %s",
            [self.backend.id],
        )
        self.env.invalidate_all()
        self.backend.action_reset_circuit()
        self.Job.search([("backend_id", "=", self.backend.id)])._reschedule(fields.Datetime.now())
        self.respond(200)
        self.dispatch()
        self.dispatch(self.other)
        self.env.invalidate_all()
        self.assertEqual(invoice.finance_sync_status, "synced")
        self.assertFalse(invoice.finance_sync_waiting)
        self.assertFalse(self.backend.failure_cause)

    def test_the_dashboard_and_the_to_do_give_the_same_cause_and_advice(self):
        self.fail_twice()
        self.assertEqual(self.backend.health, "critical")
        self.assertIn(f"connection refused on {self.address}", self.backend.failure_summary)
        self.assertIn(", since ", self.backend.failure_summary)
        self.env["finance.sync.backend"]._cron_check_health()
        activity = self.backend.activity_ids.filtered(lambda a: a.activity_type_id == self.env.ref(HEALTH_ACTIVITY))
        self.assertEqual(len(activity), 1)
        note = activity.note and str(activity.note)
        self.assertIn("the circuit is open after 2 consecutive failures", note)
        self.assertIn(f"connection refused on {self.address}", note)
        self.assertIn("Nothing is lost", note)
        views = self.env["finance.sync.backend"].get_views([(False, "kanban")])["views"]
        card = etree.fromstring(views["kanban"]["arch"])
        self.assertTrue(card.xpath("//div[@name='failure_cause']//field[@name='failure_summary']"))
        self.assertTrue(card.xpath("//div[@name='failure_cause']//field[@name='failure_advice']"))

    def test_the_sync_failing_to_do_opens_its_own_backend(self):
        self.fail_twice()
        self.env["finance.sync.backend"]._cron_check_health()
        self.assertTrue(self.backend.activity_ids)
        # The activities menu opens the model's list with the "my activities" filter of its
        # search view (mail's ActivityMenu: search_default_filter_activities_my).
        Backend = self.env["finance.sync.backend"].with_user(self.backend.user_id)
        search = etree.fromstring(Backend.get_views([(False, "search")])["views"]["search"]["arch"])
        (mine,) = search.xpath("//filter[@name='filter_activities_my']")
        domain = safe_eval(mine.get("domain"), {"uid": self.backend.user_id.id})
        self.assertEqual(Backend.search(domain), self.backend, "its own backend, not every backend")
        # With one such backend, the menu opens its form (static/src/activity_menu).
        groups = self.env["res.users"].with_user(self.backend.user_id)._get_activity_groups()
        (group,) = [g for g in groups if g["model"] == "finance.sync.backend"]
        self.assertEqual(group["finance_sync_backend_ids"], self.backend.ids)

    def test_the_environment_ribbon_stays_while_the_platform_fails(self):
        self.fail_twice()
        form = etree.fromstring(self.env["finance.sync.backend"].get_views([(False, "form")])["views"]["form"]["arch"])
        ribbons = form.xpath("//widget[@name='web_ribbon']")
        record = {"active": True, "environment": "test", "circuit_state": self.backend.circuit_state}
        shown = [r.get("title") for r in ribbons if not safe_eval(r.get("invisible") or "False", record)]
        self.assertEqual(shown, ["Test"])
        (failing,) = form.xpath("//div[contains(@class, 'o_finance_sync_failing')]")
        self.assertFalse(safe_eval(failing.get("invisible"), {**record, "state": "active", "failure_cause": "x"}))
