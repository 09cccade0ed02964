"""Outbound: capture into the outbox, dispatch to a real HTTP receiver, retries, ordering."""

import base64
import hashlib
import hmac
import json
import logging
import socket
import xmlrpc.client
from datetime import datetime, timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from ..engine import payload as payload_lib
from ..utils import without_capture
from .common import FinanceSyncCase, allocations_in_odoo


def expected_signature(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@tagged("post_install", "-at_install")
class TestCapture(FinanceSyncCase):
    def test_posting_writes_one_job_per_active_backend_in_the_same_transaction(self):
        other = self.create_backend("Treasury")
        self.create_backend("Draft one", state="draft")
        invoice = self._create_invoice(post=False)
        self.assertFalse(self.Job.search([("move_id", "=", invoice.id)]), "drafts never leave Odoo")
        invoice.action_post()
        jobs = self.Job.search([("move_id", "=", invoice.id)])
        self.assertEqual(jobs.backend_id, self.backend | other)
        self.assertEqual(set(jobs.mapped("event_type")), {"invoice.posted"})
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(jobs.mapped("sequence"), [1, 1])
        self.assertEqual(len(set(jobs.mapped("event_uuid"))), 2)

    def test_rolled_back_posting_leaves_no_job(self):
        invoice = self._create_invoice(post=False)
        with self.assertRaises(ValidationError), self.env.cr.savepoint():
            invoice.action_post()
            self.assertTrue(self.jobs_of(invoice), "the job exists inside the posting's transaction")
            raise ValidationError(self.env._("posting fails after the capture"))
        self.env.invalidate_all()
        self.assertEqual(invoice.state, "draft")
        self.assertFalse(self.jobs_of(invoice))

    def test_payload_is_canonical_v1_and_valid(self):
        invoice = self._create_invoice(post=True)
        job = self.jobs_of(invoice)
        payload = job.payload
        self.assertEqual(payload_lib.validate(payload), [])
        self.assertEqual(payload["event_id"], job.event_uuid)
        self.assertEqual(payload["schema_version"], 1)
        doc = payload["document"]
        self.assertEqual(doc["number"], invoice.name)
        self.assertEqual(doc["kind"], "customer_invoice")
        self.assertEqual(doc["amounts"]["total"], payload_lib.money(invoice.amount_total, 2))
        self.assertIsInstance(doc["amounts"]["total"], str, "money is never a float")
        self.assertEqual(payload["partner"]["name"], invoice.partner_id.name)
        self.assertEqual(payload["company"]["currency"], self.company.currency_id.name)
        self.assertEqual(len(payload["lines"]), len(invoice.invoice_line_ids))
        self.assertEqual(payload["lines"][0]["account"]["code"], invoice.invoice_line_ids[0].account_id.code)
        floaty = json.loads(json.dumps(payload))
        floaty["document"]["amounts"]["total"] = float(invoice.amount_total)
        self.assertEqual(len(payload_lib.validate(floaty)), 1, "a float amount is refused by the schema")

    def test_lifecycle_events_follow_the_document(self):
        invoice = self._create_invoice(post=True)
        invoice.button_draft()
        invoice.action_post()
        invoice.button_cancel()  # posted -> draft -> cancel
        jobs = self.jobs_of(invoice)
        self.assertEqual(
            jobs.mapped("event_type"),
            [
                "invoice.posted",
                "invoice.reset_to_draft",
                "invoice.posted",
                "invoice.reset_to_draft",
                "invoice.cancelled",
            ],
        )
        self.assertEqual(jobs.mapped("sequence"), [1, 2, 3, 4, 5])
        for job in jobs:
            self.assertEqual(payload_lib.validate(job.payload), [], job.event_type)

    def test_draft_cancelled_without_posting_sends_nothing(self):
        invoice = self._create_invoice(post=False)
        invoice.button_cancel()
        self.assertFalse(self.jobs_of(invoice))

    def test_credit_note_links_to_reversed_invoice(self):
        invoice = self._create_invoice(post=True)
        refund = self._reverse_invoice(invoice, post=True)
        job = self.jobs_of(refund)
        self.assertEqual(job.event_type, "invoice.posted")
        self.assertEqual(job.payload["document"]["kind"], "customer_credit_note")
        self.assertEqual(job.payload["document"]["reversed_entry"]["id"], invoice.id)
        self.assertEqual(payload_lib.validate(job.payload), [])

    def test_payment_and_payment_state_events(self):
        invoice = self._create_invoice(post=True)
        self.commit_hooks()
        payment = self._register_payment(invoice)
        self.commit_hooks()
        self.assertEqual(invoice.payment_state, "paid")
        events = self.jobs_of(invoice).mapped("event_type")
        self.assertEqual(events, ["invoice.posted", "invoice.payment_state_changed"])
        change = self.jobs_of(invoice)[-1]
        self.assertEqual(change.payload["document"]["payment_state"], "paid")
        self.assertEqual(change.payload["payments"][0]["id"], payment.id)
        pay_job = self.jobs_of(payment)
        self.assertEqual(pay_job.event_type, "payment.posted")
        self.assertEqual(pay_job.payload["document"]["kind"], "customer_payment")
        self.assertEqual(payload_lib.validate(pay_job.payload), [])
        self.assertEqual(payload_lib.validate(change.payload), [])
        payment.action_cancel()
        self.assertEqual(self.jobs_of(payment)[-1].event_type, "payment.cancelled")

    def test_documents_captured_together_get_the_payloads_they_get_alone(self):
        """A capture renders shared blocks (company, partner, journal, accounts, currencies) once
        for all its documents: each payload is still the one the document gets on its own."""
        paid = self._create_invoice(post=True)
        payment = self._register_payment(paid)
        refund = self._reverse_invoice(self._create_invoice(post=True), post=True)
        moves = paid | refund | self._create_invoice(post=True)
        together = moves._finance_sync_payloads()
        for move in moves:
            self.assertEqual(together[move.id], move._finance_sync_payloads()[move.id], move.name)
        self.assertEqual([p["id"] for p in together[paid.id]["payments"]], [payment.id])
        self.assertEqual(len(together[paid.id]["reconciliation"]), 1)
        self.assertEqual(together[refund.id]["reconciliation"][0]["counterpart"]["id"], refund.reversed_entry_id.id)
        pays = payment | self._register_payment(self._create_invoice(post=True))
        self.assertEqual(pays._finance_sync_payloads(), {p.id: p._finance_sync_payloads()[p.id] for p in pays})

    def test_scope_filters_kinds_journals_and_start_date(self):
        self.backend.write({"send_vendor_bills": False, "start_date": fields.Date.today() + timedelta(days=30)})
        bill = self._create_invoice(move_type="in_invoice", post=True)
        early = self._create_invoice(post=True)
        self.assertFalse(self.jobs_of(bill))
        self.assertFalse(self.jobs_of(early))
        self.backend.write(
            {"start_date": False, "journal_ids": [(6, 0, self.company_data["default_journal_purchase"].ids)]}
        )
        sale = self._create_invoice(post=True)
        self.assertFalse(self.jobs_of(sale), "only the purchase journal is in scope")

    def test_backend_of_company_a_never_gets_company_b_documents(self):
        other = self.setup_other_company(name="Company B")
        backend_b = self.create_backend("B platform", companies=other["company"], path="/b")
        invoice_b = self._create_invoice(
            post=True,
            company_id=other["company"].id,
            journal_id=other["default_journal_sale"].id,
            invoice_line_ids=[self._prepare_invoice_line(price_unit=100.0)],
        )
        invoice_a = self._create_invoice(post=True)
        self.assertEqual(self.Job.search([("move_id", "=", invoice_b.id)]).backend_id, backend_b)
        self.assertEqual(self.Job.search([("move_id", "=", invoice_a.id)]).backend_id, self.backend)
        self.respond(200)
        self.respond(200, path="/b")
        self.dispatch()
        self.dispatch(backend_b)
        by_path = {}
        for req, _resp in self.receiver.log:
            by_path.setdefault(req.path, []).append(json.loads(req.get_data())["company"]["id"])
        self.assertEqual(by_path, {"/hook": [self.company.id], "/b": [other["company"].id]})


@tagged("post_install", "-at_install")
class TestDispatch(FinanceSyncCase):
    def post_invoice(self):
        invoice = self._create_invoice(post=True)
        return invoice, self.jobs_of(invoice)

    def test_success_with_verifiable_standard_webhooks_signature(self):
        _invoice, job = self.post_invoice()
        self.respond(200)
        self.assertEqual(self.dispatch(), 1)
        self.assertEqual(job.state, "done")
        ((headers, body, raw),) = self.received()
        self.assertEqual(headers["webhook-id"], job.event_uuid)
        self.assertEqual(headers["Idempotency-Key"], job.event_uuid)
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(
            headers["webhook-signature"],
            expected_signature(self.secret, job.event_uuid, headers["webhook-timestamp"], raw),
        )
        self.assertEqual(raw.decode(), job.body, "the job shows exactly what was sent")
        self.assertEqual(body["event_id"], job.event_uuid)
        self.assertEqual(job.attempt_ids.status_code, 200)
        self.assertEqual(job.attempt_ids.outcome, "done")

    def test_500_then_success_reuses_event_id(self):
        _invoice, job = self.post_invoice()
        self.respond(500, once=True)
        self.respond(200)
        self.dispatch()
        self.assertEqual((job.state, job.attempt_count, job.last_status_code), ("pending", 1, 500))
        self.assertGreater(job.next_attempt_at, fields.Datetime.now())
        self.assertEqual(self.dispatch(), 0, "not due before its backoff")
        job._reschedule(fields.Datetime.now())
        self.dispatch()
        self.assertEqual(job.state, "done")
        ids = self.received_event_ids()
        self.assertEqual(ids, [job.event_uuid, job.event_uuid])
        bodies = [raw for _h, _b, raw in self.received()]
        self.assertEqual(bodies[0], bodies[1], "a retry sends the same frozen body")

    def test_429_honours_retry_after(self):
        _invoice, job = self.post_invoice()
        self.respond(429, headers={"Retry-After": "120"})
        with freeze_time("2026-03-01 10:00:00"):
            job._reschedule(datetime(2026, 3, 1, 10, 0, 0))
            self.dispatch()
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.next_attempt_at, datetime(2026, 3, 1, 10, 2, 0))

    def test_backoff_grows_exponentially(self):
        _invoice, job = self.post_invoice()
        self.backend.write({"max_attempts": 10, "circuit_threshold": 10})
        self.respond(503)
        start = datetime(2026, 3, 1, 10, 0, 0)
        delays = []
        for _i in range(4):
            with freeze_time(start):
                job._reschedule(start)
                self.dispatch()
                delays.append((job.next_attempt_at - start).total_seconds())
        for attempt, delay in enumerate(delays, start=1):
            nominal = 30 * 2 ** (attempt - 1)
            self.assertTrue(nominal * 0.8 <= delay <= nominal * 1.2, (attempt, delay))
        self.assertEqual(job.attempt_count, 4)

    def test_timeout_retries(self):
        _invoice, job = self.post_invoice()
        self.backend.timeout = 1  # raised to 10 s by Odoo's test harness; the handler outlasts it

        def slow(request):
            import time

            time.sleep(10.5)
            return Response("late", status=200)

        from werkzeug import Response

        self.receiver.expect_request("/hook", method="POST").respond_with_handler(slow)
        self.dispatch()
        self.assertEqual(job.state, "pending")
        self.assertEqual(job.last_status_code, 0)
        self.assertIn("timed out", job.last_error.lower())

    def test_connection_refused_retries(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.backend.endpoint_url = f"http://127.0.0.1:{port}/hook"
        _invoice, job = self.post_invoice()
        self.dispatch()
        self.assertEqual((job.state, job.attempt_count, job.last_status_code), ("pending", 1, 0))
        self.assertTrue(job.last_error)

    def test_a_failed_connection_reads_in_words_and_the_trace_stays_in_the_attempt_log(self):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.backend.write({"endpoint_url": f"http://127.0.0.1:{port}/hook", "max_attempts": 1})
        _invoice, job = self.post_invoice()
        self.dispatch()
        exc = job.exception_ids
        self.assertEqual((job.state, exc.category), ("dead", "transport"))
        for shown in (job.last_error, exc.message):
            self.assertIn(f"connection refused on 127.0.0.1:{port}", shown)
            self.assertNotIn("object at 0x", shown)
            self.assertNotIn("Errno", shown)
        self.assertIn("Errno 111", job.attempt_ids.error, "the attempt log keeps the raw detail")

    def test_400_fails_immediately_with_the_platform_message(self):
        invoice, job = self.post_invoice()
        self.respond(400, body={"error": "unknown customer 42"})
        self.dispatch()
        self.assertEqual(job.state, "failed")
        self.assertIn("unknown customer 42", job.last_error)
        exc = job.exception_ids
        self.assertEqual((exc.category, exc.severity, exc.move_id), ("rejected", "blocking", invoice))

    def test_max_attempts_then_dead_with_exception(self):
        self.backend.write({"max_attempts": 2, "circuit_threshold": 10})
        _invoice, job = self.post_invoice()
        self.respond(502)
        self.dispatch()
        job._reschedule(fields.Datetime.now())
        self.dispatch()
        self.assertEqual((job.state, job.attempt_count), ("dead", 2))
        self.assertEqual(job.exception_ids.category, "transport")
        self.assertEqual(len(job.attempt_ids), 2)
        self.assertEqual(
            job.attempt_ids.sorted("id").mapped("outcome"), ["retry", "gave_up"], "the last try does not say Will retry"
        )
        self.backend.invalidate_recordset()
        self.assertEqual(self.backend.consecutive_failures, 2, "giving up is still a failure for the circuit")

    def test_410_pauses_the_backend(self):
        _invoice, job = self.post_invoice()
        self.respond(410)
        self.dispatch()
        self.assertEqual(self.backend.state, "paused")
        self.assertEqual(job.state, "pending", "the event waits for the backend to be resumed")

    def test_redirect_is_not_followed(self):
        _invoice, job = self.post_invoice()
        self.respond(302, headers={"Location": self.receiver.url_for("/elsewhere")})
        self.dispatch()
        self.assertEqual(job.state, "failed")
        self.assertEqual([req.path for req, _r in self.receiver.log], ["/hook"])

    def test_paused_backend_sends_nothing_but_keeps_capturing(self):
        self.backend.action_pause()
        _invoice, job = self.post_invoice()
        self.assertEqual(job.state, "pending")
        self.respond(200)
        self.assertEqual(self.dispatch(), 0)
        self.assertFalse(self.receiver.log)
        self.backend.action_resume()
        self.dispatch()
        self.assertEqual(job.state, "done")

    def test_ordering_per_document(self):
        invoice, first = self.post_invoice()
        invoice.button_draft()
        second = self.jobs_of(invoice)[1]
        self.respond(400, once=True)
        self.respond(200)
        self.dispatch()
        self.assertEqual(first.state, "failed")
        self.assertEqual(second.state, "pending")
        self.dispatch()
        self.assertEqual(second.state, "pending", "waits while the earlier event is not through")
        self.assertEqual(len(self.receiver.log), 1)
        first.action_retry()
        self.dispatch()
        self.assertEqual((first.state, second.state), ("done", "done"), "the second goes once the first is through")
        self.assertEqual(self.received_event_ids(), [first.event_uuid, first.event_uuid, second.event_uuid])
        self.assertEqual(first.exception_ids.state, "resolved", "resolved itself once the job went through")

    def test_circuit_breaker_opens_then_probes_with_one_job(self):
        self.backend.write({"circuit_threshold": 2, "circuit_cooldown": 60, "max_concurrent": 1})
        jobs = self.post_invoice()[1] | self.post_invoice()[1] | self.post_invoice()[1]
        self.respond(503)
        now = datetime(2026, 3, 1, 10, 0, 0)
        with freeze_time(now):
            jobs._reschedule(now)
            self.dispatch()
            self.backend.invalidate_recordset()
            self.assertEqual(self.backend.circuit_state, "open")
        self.assertEqual(len(self.receiver.log), 2, "stopped sending when the circuit opened")
        with freeze_time(now + timedelta(seconds=30)):
            jobs._reschedule(now)
            self.assertEqual(self.dispatch(), 0, "cooling down")
        self.receiver.clear()
        self.respond(200)
        with freeze_time(now + timedelta(seconds=61)):
            self.assertEqual(self.dispatch(), 3, "one probe, then the rest once it went through")
            self.backend.invalidate_recordset()
            self.assertEqual(self.backend.circuit_state, "closed")
        self.assertEqual(set(jobs.mapped("state")), {"done"})

    def test_circuit_opens_under_concurrency_after_the_first_wave(self):
        self.backend.write({"circuit_threshold": 2, "circuit_cooldown": 60, "max_concurrent": 4})
        jobs = self.Job
        for _i in range(10):
            jobs |= self.post_invoice()[1]
        self.respond(503)
        self.assertEqual(self.dispatch(), 4, "the first wave fails; nothing more is sent")
        self.backend.invalidate_recordset()
        self.assertEqual(self.backend.circuit_state, "open")
        self.assertEqual(len(self.receiver.log), 4)

    def test_send_now_and_cancel_buttons(self):
        _invoice, job = self.post_invoice()
        self.respond(200)
        job._reschedule(fields.Datetime.now() + timedelta(hours=1))
        job.action_send_now()
        self.assertEqual(job.state, "done")
        _invoice2, job2 = self.post_invoice()
        wizard = self.env["finance.sync.job.cancel"].with_context(active_ids=job2.ids).create({"reason": "duplicate"})
        wizard.action_confirm()
        self.assertEqual(job2.state, "cancelled")
        self.assertIn("duplicate", job2.cancel_reason)


@tagged("post_install", "-at_install")
class TestCredentials(FinanceSyncCase):
    def test_secrets_are_encrypted_write_only_and_not_logged(self):
        token = "tok-SuperSecret-123456"
        self.backend.write({"auth_mode": "bearer", "auth_secret": token})
        stored = self.backend.sudo().auth_secret_encrypted
        self.assertTrue(stored)
        self.assertNotIn(token, stored)
        self.assertFalse(self.backend.auth_secret, "never read back")
        self.assertTrue(self.backend.has_auth_secret)
        self.env.cr.execute(
            "SELECT auth_secret_encrypted, signing_secret_encrypted FROM finance_sync_backend WHERE id=%s",
            (self.backend.id,),
        )
        self.assertNotIn(token, str(self.env.cr.fetchone()))

        user = self.env["res.users"].create(
            {
                "name": "Finance user",
                "login": "fs_user_cred",
                "group_ids": [(6, 0, [self.env.ref("finance_sync.finance_sync_group_admin").id])],
            }
        )
        with self.assertRaises(AccessError):
            self.backend.with_user(user).read(["auth_secret_encrypted"])
        self.assertNotIn("auth_secret_encrypted", self.backend.with_user(user).fields_get())

        invoice = self._create_invoice(post=True)
        self.respond(500, body={"echo": f"Bearer {token}"})
        with self.assertLogs("odoo.addons.finance_sync", level=logging.DEBUG) as logs:
            logging.getLogger("odoo.addons.finance_sync").debug("start")
            self.dispatch()
        ((headers, _body, _raw),) = self.received()
        self.assertEqual(headers["Authorization"], f"Bearer {token}")
        self.assertNotIn(token, "\n".join(logs.output))
        job = self.jobs_of(invoice)
        self.assertNotIn(token, job.attempt_ids.response_excerpt)
        self.assertNotIn(token, job.last_error or "")

    def test_export_leaves_credentials_out(self):
        self.backend.write({"auth_mode": "bearer", "auth_secret": "tok-export-secret"})
        exportable = self.env["finance.sync.backend"].sudo().fields_get(attributes=["exportable"])
        self.assertFalse(exportable["auth_secret_encrypted"]["exportable"])
        self.assertFalse(exportable["signing_secret_encrypted"]["exportable"])

    def test_signing_secret_rotation_keeps_previous_for_overlap(self):
        new = "whsec_" + base64.b64encode(b"n" * 32).decode()
        with freeze_time("2026-03-01 10:00:00"):
            self.backend.signing_secret = new
            self.assertEqual(self.backend._get_inbound_secrets(), [new, self.secret])
        with freeze_time("2026-03-02 10:00:01"):
            self.assertEqual(self.backend._get_inbound_secrets(), [new])

    def test_endpoint_url_guard(self):
        from unittest.mock import patch

        for url in ("http://127.0.0.1/x", "https://169.254.169.254/latest", "https://10.0.0.5/hook", "ftp://x/y"):
            with (
                self.subTest(url=url),
                self.assertRaises(ValidationError),
                patch("odoo.addons.finance_sync.models.finance_sync_backend.allow_private_endpoints", lambda: False),
            ):
                self.backend.endpoint_url = url
                self.backend.flush_recordset()

    def test_neutralize_pauses_and_blanks(self):
        self.backend.write({"auth_mode": "bearer", "auth_secret": "tok"})
        self.env.flush_all()
        from odoo.modules.neutralize import get_neutralization_queries

        for query in get_neutralization_queries(["finance_sync"]):
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertEqual(self.backend.state, "paused")
        self.assertFalse(self.backend.sudo().auth_secret_encrypted)
        self.assertFalse(self.backend.sudo().signing_secret_encrypted)


@tagged("post_install", "-at_install")
class TestCronAndConnection(FinanceSyncCase):
    def test_cron_drains_the_outbox_two_requests_at_a_time(self):
        self.backend.max_concurrent = 2
        invoices = [self._create_invoice(post=True) for _i in range(5)]
        self.respond(200)
        cron = self.env.ref("finance_sync.ir_cron_dispatch")
        with self.enter_registry_test_mode():
            cron.method_direct_trigger()
        jobs = self.Job.search([("move_id", "in", [inv.id for inv in invoices])])
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        self.assertEqual(sorted(self.received_event_ids()), sorted(jobs.mapped("event_uuid")))

    def test_posting_triggers_the_dispatcher(self):
        cron = self.env.ref("finance_sync.ir_cron_dispatch")
        before = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self._create_invoice(post=True)
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), before)

    def test_test_connection_sends_a_signed_ping(self):
        self.respond(200, body={"pong": True})
        action = self.backend.action_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        ((headers, body, raw),) = self.received()
        self.assertEqual(body["type"], "ping")
        self.assertEqual(payload_lib.validate(body), [])
        self.assertEqual(
            headers["webhook-signature"],
            expected_signature(self.secret, headers["webhook-id"], headers["webhook-timestamp"], raw),
        )
        self.assertFalse(self.Job.search([("backend_id", "=", self.backend.id)]), "a ping is not an outbox event")

    def test_test_connection_reports_failure(self):
        self.respond(503)
        action = self.backend.action_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("503", action["params"]["message"])

    def test_test_connection_says_what_failed_in_words(self):
        """A refused connection reads as such, with the address, not as urllib3's trace, in the
        notification and in the chatter (which adds the system's own error, never a repr)."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.backend.endpoint_url = f"http://127.0.0.1:{port}/hook"
        action = self.backend.action_test_connection()
        text = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn(f"connection refused on 127.0.0.1:{port}", text)
        self.assertNotIn("object at 0x", text)
        self.assertNotIn("HTTPConnection", text)
        chatter = self.backend.message_ids[0].body
        self.assertIn(f"connection refused on 127.0.0.1:{port}", chatter)
        self.assertIn("[Errno 111] Connection refused", chatter, "the system's own error is kept in the chatter")
        self.assertNotIn("object at 0x", chatter)
        self.assertNotIn("HTTPConnectionPool", chatter)


@tagged("post_install", "-at_install")
class TestCaptureWithoutSyncRights(FinanceSyncCase):
    def test_accountant_without_finance_sync_groups_posts_and_the_event_is_captured(self):
        accountant = self.env["res.users"].create(
            {
                "name": "Accountant",
                "login": "fs_accountant",
                "company_id": self.company.id,
                "company_ids": [(6, 0, self.company.ids)],
                "group_ids": [(6, 0, [self.env.ref("account.group_account_invoice").id])],
            }
        )
        self.assertFalse(accountant.has_group("finance_sync.finance_sync_group_user"))
        invoice = self._create_invoice(post=False)
        invoice.with_user(accountant).action_post()
        job = self.jobs_of(invoice)
        self.assertEqual((job.event_type, job.state), ("invoice.posted", "pending"))
        with self.assertRaises(AccessError):
            job.with_user(accountant).read(["state"])


@tagged("post_install", "-at_install")
class TestBackfill(FinanceSyncCase):
    def test_existing_documents_are_sent_once_oldest_first_to_that_backend_only(self):
        other = self.create_backend("Treasury", path="/treasury")
        old = self.env["account.move"]
        for day in ("2026-03-05", "2026-03-01", "2026-03-03"):
            move = self._create_invoice(post=False, invoice_date=day, date=day)
            without_capture(move).action_post()
            old |= move
        outside = self._create_invoice(post=False, invoice_date="2026-05-01", date="2026-05-01")
        without_capture(outside).action_post()
        sent = self._create_invoice(post=True, invoice_date="2026-03-02", date="2026-03-02")  # heard already
        self.assertFalse(self.Job.search([("move_id", "in", old.ids)]))
        wizard = self.env["finance.sync.backfill"].create(
            {"backend_id": self.backend.id, "date_from": "2026-03-01", "date_to": "2026-03-31"}
        )
        self.assertEqual((wizard.invoice_count, wizard.payment_count), (3, 0))
        wizard.action_confirm()
        jobs = self.Job.search([("move_id", "in", (old | outside | sent).ids), ("backend_id", "=", self.backend.id)])
        self.assertEqual(
            jobs.filtered(lambda j: j.move_id in old).sorted("id").move_id.mapped("date"),
            sorted(old.mapped("date")),
            "oldest first",
        )
        self.assertEqual(jobs.filtered(lambda j: j.move_id == sent).mapped("sequence"), [1], "nothing twice")
        self.assertFalse(jobs.filtered(lambda j: j.move_id == outside))
        self.assertFalse(self.Job.search([("move_id", "in", old.ids), ("backend_id", "=", other.id)]), "only this one")
        self.assertIn("3 invoices or credit notes", self.backend.message_ids[0].body)
        again = self.env["finance.sync.backfill"].create(
            {"backend_id": self.backend.id, "date_from": "2026-03-01", "date_to": "2026-03-31"}
        )
        self.assertEqual(again.invoice_count, 0)
        with self.assertRaises(UserError):
            again.action_confirm()

    def test_payments_posted_while_the_backend_was_a_draft_are_sent_too(self):
        self.backend.state = "draft"
        payment = self.init_payment(150.0, post=True)
        self.backend.state = "active"
        self.assertFalse(self.jobs_of(payment))
        wizard = self.env["finance.sync.backfill"].create(
            {"backend_id": self.backend.id, "date_from": payment.date, "date_to": payment.date}
        )
        self.assertEqual(wizard.payment_count, 1)
        wizard.action_confirm()
        self.assertEqual(self.jobs_of(payment).event_type, "payment.posted")

    def test_only_who_configures_the_backend_may_backfill(self):
        user = self.make_user("fs_bf_user", "finance_sync.finance_sync_group_user")
        with self.assertRaises(AccessError):
            self.env["finance.sync.backfill"].with_user(user).create(
                {"backend_id": self.backend.id, "date_from": "2026-01-01", "date_to": "2026-12-31"}
            )


@tagged("post_install", "-at_install")
class TestPaymentLifecycle(FinanceSyncCase):
    """A payment's state and what it settles reach the platform as they change: the register
    wizard posts then reconciles in one transaction (one event with the final figures), a later
    reconciliation or unreconciliation is a ``payment.updated``, and an invoice's residual is news
    even when its payment status stays partial."""

    def invoice(self, price_unit, **kwargs):
        invoice = self._create_invoice_one_line(price_unit=price_unit, tax_ids=[], post=True, **kwargs)
        self.commit_hooks()
        return invoice

    def settlement(self, payment):
        """What the payment's last captured event says it is and settles."""
        document = self.jobs_of(payment)[-1].payload["document"]
        return (
            document["state"],
            document["is_reconciled"],
            {
                (payment.id, item["id"]): [item["amount"], item["invoice_amount"], item["amount_company_currency"]]
                for item in document["invoices"]
            },
        )

    def odoo_settlement(self, payment):
        """The same, from Odoo's stored fields and partial reconciliations."""
        payment.invalidate_recordset()
        return payment.state, payment.is_reconciled, allocations_in_odoo(self.env, payment)

    def test_the_register_wizard_posts_once_with_what_the_payment_settles(self):
        invoice = self.invoice(1234.57)
        payment = self._register_payment(invoice)
        self.commit_hooks()
        job = self.jobs_of(payment)
        self.assertEqual(job.event_type, "payment.posted", "one event: posted, then reconciled, in one transaction")
        self.assertTrue(payment.is_reconciled)
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))
        self.assertEqual(self.settlement(payment)[2], {(payment.id, invoice.id): ["1234.57", "1234.57", "1234.57"]})
        self.assertEqual(payload_lib.validate(job.payload), [])

    def test_a_vendor_payment_settles_its_bills(self):
        bill = self.invoice(98.07, move_type="in_invoice")
        payment = self._register_payment(bill)
        self.commit_hooks()
        self.assertEqual(payment.payment_type, "outbound")
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))
        self.assertEqual(set(self.settlement(payment)[2]), {(payment.id, bill.id)})

    def test_later_reconciliation_and_unreconciliation_follow_in_order(self):
        first, second = self.invoice(1234.57), self.invoice(0.07)
        payment = self.init_payment(1300.10, post=True, date=fields.Date.today())
        self.commit_hooks()
        self.assertEqual(self.settlement(payment), ("in_process", False, {}))

        receivable = self.company_data["default_account_receivable"]
        lines = (payment.move_id | first | second).line_ids.filtered(lambda line: line.account_id == receivable)
        lines.reconcile()
        self.commit_hooks()
        self.assertEqual(self.jobs_of(payment).mapped("event_type"), ["payment.posted", "payment.updated"])
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))
        self.assertEqual(
            self.settlement(payment)[2],
            {(payment.id, first.id): ["1234.57"] * 3, (payment.id, second.id): ["0.07"] * 3},
        )

        self.commit_hooks()  # nothing changed: nothing more
        self.assertEqual(len(self.jobs_of(payment)), 2)

        first.line_ids.filtered(lambda line: line.account_id == receivable).remove_move_reconcile()
        self.commit_hooks()
        jobs = self.jobs_of(payment)
        self.assertEqual(jobs.mapped("event_type"), ["payment.posted", "payment.updated", "payment.updated"])
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))
        self.assertEqual(set(self.settlement(payment)[2]), {(payment.id, second.id)})

        payment.action_draft()
        payment.action_cancel()
        self.commit_hooks()
        jobs = self.jobs_of(payment)
        self.assertEqual(
            jobs.mapped("event_type")[3:], ["payment.reset_to_draft", "payment.cancelled"], "nothing sent unposted"
        )
        self.assertEqual(jobs.mapped("sequence"), [1, 2, 3, 4, 5])
        for job in jobs:
            self.assertEqual(payload_lib.validate(job.payload), [], job.event_type)
        # The platform gets them in that order.
        self.respond(200)
        for _round in range(6):
            self.dispatch()
        self.assertEqual(set(jobs.mapped("state")), {"done"})
        received = [(b["sequence"], b["type"]) for _h, b, _r in self.received() if b["document"]["id"] == payment.id]
        self.assertEqual(received, [(job.sequence, job.event_type) for job in jobs])

    def test_a_bank_statement_match_makes_it_paid(self):
        payment = self.init_payment(45.67, post=True, date=fields.Date.today())
        self.commit_hooks()
        self.assertEqual(self.settlement(payment), ("in_process", False, {}))
        statement_line = self.env["account.bank.statement.line"].create(
            {
                "payment_ref": payment.name,
                "journal_id": payment.journal_id.id,
                "partner_id": payment.partner_id.id,
                "amount": 45.67,
            }
        )
        # As the bank reconciliation does it (its widget is not in Community).
        _st_liquidity, st_suspense, _other = statement_line.with_context(
            skip_account_move_synchronization=True
        )._seek_for_lines()
        liquidity, _counterpart, _writeoff = payment._seek_for_lines()
        st_suspense.account_id = liquidity.account_id
        (st_suspense + liquidity).reconcile()
        self.commit_hooks()
        self.assertEqual(payment.state, "paid")
        self.assertEqual(self.jobs_of(payment).mapped("event_type"), ["payment.posted", "payment.updated"])
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))

    def test_a_rejected_payment_is_news(self):
        payment = self.init_payment(12.10, post=True, date=fields.Date.today())
        self.commit_hooks()
        payment.action_reject()
        self.commit_hooks()
        self.assertEqual(self.jobs_of(payment).mapped("event_type"), ["payment.posted", "payment.updated"])
        self.assertEqual(self.settlement(payment), ("rejected", False, {}))
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))

    def test_one_event_per_change_per_transaction_across_savepoints(self):
        first, second = self.invoice(12.10), self.invoice(0.07)
        payment = self.init_payment(12.17, post=True, date=fields.Date.today())
        self.commit_hooks()
        receivable = self.company_data["default_account_receivable"]
        (payment.move_id | first).line_ids.filtered(lambda line: line.account_id == receivable).reconcile()
        with self.env.cr.savepoint():  # Odoo runs the pre-commit hooks here too
            pass
        (payment.move_id | second).line_ids.filtered(lambda line: line.account_id == receivable).reconcile()
        self.commit_hooks()
        jobs = self.jobs_of(payment)
        self.assertEqual(jobs.mapped("event_type"), ["payment.posted", "payment.updated"])
        self.assertEqual(self.settlement(payment), self.odoo_settlement(payment))
        self.assertEqual(len(self.settlement(payment)[2]), 2, "the event carries the end of the transaction")

    def test_a_second_partial_payment_is_news_for_the_invoice(self):
        invoice = self.invoice(1234.57)
        first = self._register_payment(invoice, amount=500.10, payment_difference_handling="open")
        self.commit_hooks()
        second = self._register_payment(invoice, amount=300.07, payment_difference_handling="open")
        self.commit_hooks()
        self.assertEqual(invoice.payment_state, "partial")
        jobs = self.jobs_of(invoice)
        self.assertEqual(
            jobs.mapped("event_type"),
            ["invoice.posted", "invoice.payment_state_changed", "invoice.payment_state_changed"],
        )
        residuals = [job.payload["document"]["amounts"]["residual"] for job in jobs]
        self.assertEqual(residuals, ["1234.57", "734.47", "434.40"])
        self.assertEqual(residuals[-1], payload_lib.money(invoice.amount_residual, 2))
        self.assertEqual(self.settlement(first)[2], {(first.id, invoice.id): ["500.10"] * 3})
        self.assertEqual(self.settlement(second)[2], {(second.id, invoice.id): ["300.07"] * 3})

    def test_a_payment_in_another_currency_allocates_in_each_currency(self):
        foreign = self.setup_other_currency("EUR", rates=[("2000-01-01", 0.8123)])
        invoice = self.invoice(99.99, currency_id=foreign.id)
        payment = self._register_payment(invoice)
        self.commit_hooks()
        state, reconciled, settled = self.settlement(payment)
        self.assertEqual((state, reconciled, settled), self.odoo_settlement(payment))
        ((amount, invoice_amount, company_amount),) = settled.values()
        self.assertEqual((amount, invoice_amount), ("99.99", "99.99"))
        self.assertEqual(company_amount, payload_lib.money(abs(payment.amount_company_currency_signed), 2))
        item = self.jobs_of(payment).payload["document"]["invoices"][0]
        self.assertEqual((item["currency"], item["invoice_currency"]), ("EUR", "EUR"))


@tagged("post_install", "-at_install")
class TestSendAgain(FinanceSyncCase, HttpCase):
    """Finance Sync administrators deliver a done event again: same event id, same frozen body,
    recorded in the job's chatter. Nobody else can, by the button, over RPC or around it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.make_user("fs_again_admin", "finance_sync.finance_sync_group_admin")
        cls.editor = cls.make_user("fs_again_editor", "finance_sync.finance_sync_group_mapping_editor")
        for user in (cls.admin, cls.editor):
            user.sudo().password = f"{user.login}-Pw-2026"

    def delivered_job(self):
        invoice = self._create_invoice(post=True)
        job = self.jobs_of(invoice)
        self.respond(200)
        self.dispatch()
        self.assertEqual(job.state, "done")
        self.receiver.clear()
        return job

    def rpc(self, user, method, *args):
        return self.xmlrpc_object.execute_kw(
            self.env.cr.dbname, user.id, f"{user.login}-Pw-2026", "finance.sync.job", method, list(args)
        )

    def test_an_administrator_sends_a_delivered_event_again_byte_for_byte(self):
        job = self.delivered_job()
        body, delivered_at = job.body, job.done_at
        self.respond(200)
        self.assertIs(job.with_user(self.admin).action_send_again(), True)
        self.assertEqual((job.state, job.event_uuid, job.body), ("done", job.event_uuid, body))
        ((headers, _parsed, raw),) = self.received()
        self.assertEqual(headers["webhook-id"], job.event_uuid)
        self.assertEqual(raw.decode(), body, "the frozen body, byte for byte")
        self.assertEqual(len(job.attempt_ids), 2)
        note = job.message_ids.filtered(lambda m: m.author_id == self.admin.partner_id)
        self.assertEqual(len(note), 1)
        self.assertIn(self.admin.name, note.body)
        self.assertIn(str(delivered_at), note.body)

    def test_over_rpc_too(self):
        job = self.delivered_job()
        self.respond(200)
        self.assertIs(self.rpc(self.admin, "action_send_again", job.ids), True)
        self.assertEqual(len(self.received()), 1)
        self.assertEqual(job.state, "done")

    def test_nobody_else_sends_again_nor_goes_around_the_button(self):
        job = self.delivered_job()
        self.respond(200)
        with self.assertRaises(AccessError):
            job.with_user(self.editor).action_send_again()
        with mute_logger("odoo.http", "odoo.addons.rpc.controllers.xmlrpc"):
            with self.assertRaises(xmlrpc.client.Fault) as refused:
                self.rpc(self.editor, "action_send_again", job.ids)
            self.assertIn("Only Finance Sync administrators", refused.exception.faultString)
            for user, method, args in (
                (self.editor, "write", (job.ids, {"state": "pending"})),
                (self.admin, "write", (job.ids, {"state": "pending"})),
                (self.admin, "_mark_sent_again", (job.ids,)),
                (self.admin, "_mark_pending", (job.ids,)),
            ):
                with self.subTest(user=user.login, method=method), self.assertRaises(xmlrpc.client.Fault):
                    self.rpc(user, method, *args)
        job.invalidate_recordset()
        self.assertEqual((job.state, len(job.attempt_ids)), ("done", 1))
        self.assertFalse(self.received(), "nothing was sent")

    def test_only_done_events_are_sent_again(self):
        invoice = self._create_invoice(post=True)
        pending = self.jobs_of(invoice)
        with self.assertRaises(UserError):
            pending.with_user(self.admin).action_send_again()
        self.assertEqual(pending.state, "pending")
