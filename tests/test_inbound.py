"""Inbound webhooks, through Odoo's real HTTP server: verification, refusals that write nothing,
exactly-once effects (also under parallel deliveries), payment authority, technical user."""
# These tests need rows other connections see: they commit, and clean up after.
# pylint: disable=invalid-commit

import json
import pathlib
import re
import threading
import time
import uuid
from contextlib import closing
from datetime import datetime, timedelta, timezone

import requests
from psycopg2.errors import UniqueViolation

import odoo
from odoo import SUPERUSER_ID, api, fields, sql_db
from odoo.exceptions import AccessError
from odoo.tests import HOST, TEST_CURSOR_COOKIE_NAME, BaseCase, HttpCase, get_db_name, tagged
from odoo.tools import mute_logger

from .. import const
from ..engine import inbound, signing
from ..utils import internal
from .common import FinanceSyncCase, captured_logs, registry_shared_with_threads


def iso_now(delta=timedelta()):
    return (datetime.now(timezone.utc) + delta).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def event(event_type, data, occurred_at=None):
    return {"type": event_type, "schema_version": 1, "occurred_at": occurred_at or iso_now(), "data": data}


def signed(secret, body, msg_id=None, timestamp=None, content_type="application/json"):
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    return {"Content-Type": content_type, **signing.build_headers(secret, msg_id, body, timestamp)}


def deliver_in_parallel(url, secret, body, deliveries, prefix):
    """POST ``body`` ``deliveries`` times at once (each delivery its own message id, released
    together behind a barrier), as a platform retrying over several connections would:
    [(status, answer)] in the order they ended; any delivery's exception is raised."""
    results, errors = [], []
    barrier = threading.Barrier(deliveries)

    def deliver(number):
        try:
            headers = signed(secret, body, f"{prefix}_{number}")
            barrier.wait(20)
            response = requests.post(url, data=body, headers=headers, timeout=180)
            results.append((response.status_code, response.json()))
        except Exception as exc:  # raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(deliveries)]
    with registry_shared_with_threads():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(240)
    if errors:
        raise errors[0]
    return results


class InboundCase(FinanceSyncCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.url = f"/finance_sync/webhook/{cls.backend.sudo().webhook_token}"
        cls.inbound_user = cls.env.ref("finance_sync.user_inbound")
        cls.bank_journal = cls.company_data["default_journal_bank"]
        cls.Event = cls.env["finance.sync.inbound.event"]

    # --- helpers ---------------------------------------------------------------------------

    def post(self, payload=None, *, body=None, secret=None, msg_id=None, timestamp=None, headers=None, url=None):
        """POST an event signed like a platform does; ``body`` overrides the JSON of ``payload``."""
        body = body if body is not None else json.dumps(payload).encode()
        all_headers = signed(secret or self.secret, body, msg_id, timestamp)
        all_headers.update(headers or {})
        response = self.url_open(url or self.url, data=body, headers=all_headers)
        self.env.invalidate_all()
        return response

    def snapshot(self):
        """What a refused delivery must leave untouched."""
        self.env.flush_all()
        models = [
            "finance.sync.inbound.event",
            "finance.sync.exception",
            "finance.sync.binding",
            "finance.sync.external.payment",
            "account.payment",
        ]
        counts = {m: self.env[m].sudo().with_context(active_test=False).search_count([]) for m in models}
        jobs = self.env["finance.sync.job"].sudo().search([])
        counts["confirmed jobs"] = len(jobs.filtered("confirmed_at"))
        statuses = self.env["account.move"].sudo().search([("finance_sync_external_status", "!=", False)])
        counts["external statuses"] = len(statuses)
        return counts

    def assertRefused(self, response, status, code, before):
        self.assertEqual(response.status_code, status, response.text)
        self.assertEqual(response.headers["Content-Type"].split(";")[0], "application/json")
        body = response.json()
        self.assertEqual(body["error"], code, body)
        self.assertTrue(body["message"])
        self.assertEqual(self.snapshot(), before, "a refused delivery writes nothing")
        return body

    def posted_invoice(self, amount=100.0, **kwargs):
        return self.init_invoice("out_invoice", amounts=[amount], post=True, **kwargs)

    def last_event(self):
        return self.Event.sudo().search([], order="id desc", limit=1)


@tagged("post_install", "-at_install")
class TestInboundAccepted(InboundCase):
    def test_acknowledgement_confirms_the_job_and_binds_the_document(self):
        invoice = self.posted_invoice()
        job = self.jobs_of(invoice)
        response = self.post(event("delivery.acknowledged", {"event_id": job.event_uuid, "external_id": "ext-1"}))
        self.assertEqual(response.status_code, 202, response.text)
        body = response.json()
        self.assertEqual(body["status"], "accepted")
        stored = self.Event.sudo().browse(body["id"])
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(body["state"], "processed")
        self.assertEqual(stored.job_id, job)
        self.assertEqual(stored.move_id, invoice)
        self.assertEqual(stored.company_id, invoice.company_id)
        self.assertTrue(job.confirmed_at)
        self.assertEqual(job.external_id, "ext-1")
        self.assertEqual(invoice.finance_sync_binding_ids.mapped("external_id"), ["ext-1"])
        self.assertEqual(invoice.finance_sync_binding_ids.backend_id, self.backend)
        # Stored with its masked headers: the signature never lands in the database.
        self.assertEqual(stored.headers.get("Webhook-Signature"), "***")
        self.assertEqual(stored.payload["data"]["external_id"], "ext-1")

    def test_processing_runs_as_the_technical_user_not_the_superuser(self):
        invoice = self.posted_invoice()
        self.backend.write({"payment_authority": True, "payment_journal_id": self.bank_journal.id})
        payload = event(
            "payment.status",
            {
                "invoice": {"number": invoice.name},
                "status": "succeeded",
                "amount": "100.00",
                "currency": invoice.currency_id.name,
                "date": fields.Date.to_string(invoice.invoice_date),
                "reference": "pay_tech_user",
            },
        )
        self.assertEqual(self.post(payload).status_code, 202)
        stored = self.last_event()
        payment = stored.payment_id
        self.assertTrue(payment)
        self.assertFalse(self.inbound_user.active, "the technical user cannot log in")
        self.assertTrue(self.inbound_user._is_internal())
        self.assertFalse(self.inbound_user._is_system())
        for record in (stored, payment, stored.external_payment_id):
            self.assertEqual(record.create_uid, self.inbound_user, record)
            self.assertNotEqual(record.create_uid.id, SUPERUSER_ID)

    def test_rejection_opens_an_exception_on_job_and_document(self):
        invoice = self.posted_invoice()
        job = self.jobs_of(invoice)
        data = {"event_id": job.event_uuid, "code": "E_TAX", "reason": "Tax code unknown on the platform"}
        self.assertEqual(self.post(event("delivery.rejected", data)).status_code, 202)
        stored = self.last_event()
        exception = stored.exception_ids
        self.assertEqual(exception.category, "rejected")
        self.assertIn("E_TAX", exception.message)
        self.assertIn("Tax code unknown", exception.message)
        self.assertEqual(exception.job_ids, job)
        self.assertEqual(exception.move_id, invoice)
        self.assertEqual(exception.inbound_event_ids, stored)

    def test_invoice_status_is_stored_tracked_and_filterable(self):
        invoice = self.posted_invoice()
        data = {"invoice": {"number": invoice.name}, "status": "disputed", "label": "Disputed by customer"}
        self.assertEqual(self.post(event("invoice.status", data)).status_code, 202)
        self.assertEqual(invoice.finance_sync_external_status, "disputed")
        self.assertEqual(invoice.finance_sync_external_status_label, "Disputed by customer")
        tracked = invoice.message_ids.tracking_value_ids.filtered(
            lambda t: t.field_id.name == "finance_sync_external_status"
        )
        self.assertEqual(tracked.new_value_char, "disputed")
        found = self.env["account.move"].search([("finance_sync_external_status", "=", "disputed")])
        self.assertIn(invoice, found)
        # An older status arriving late is kept out.
        older = event("invoice.status", dict(data, status="open"), occurred_at=iso_now(-timedelta(hours=1)))
        self.assertEqual(self.post(older).status_code, 202)
        self.assertEqual(self.last_event().state, "ignored")
        self.assertEqual(invoice.finance_sync_external_status, "disputed")

    def test_unknown_reference_is_accepted_and_becomes_an_exception(self):
        before = self.snapshot()
        data = {"invoice": {"number": "INV/1999/9999"}, "status": "disputed"}
        response = self.post(event("invoice.status", data))
        self.assertEqual(response.status_code, 202, response.text)
        stored = self.Event.sudo().browse(response.json()["id"])
        self.assertEqual(stored.state, "failed")
        self.assertEqual(stored.exception_ids.category, "inbound_unknown_reference")
        self.assertIn("INV/1999/9999", stored.exception_ids.message)
        after = self.snapshot()
        self.assertEqual(after["finance.sync.inbound.event"], before["finance.sync.inbound.event"] + 1)
        self.assertEqual(after["finance.sync.exception"], before["finance.sync.exception"] + 1)
        self.assertEqual(after["external statuses"], before["external statuses"])

    def test_every_event_type_is_routed_to_a_method_of_the_model_it_is_about(self):
        routes = self.Event._get_handlers()
        self.assertEqual(set(routes), set(inbound.event_types()), "every type a schema accepts is applied")
        for event_type, (model, method) in routes.items():
            with self.subTest(event_type):
                self.assertTrue(callable(getattr(self.env[model], method, None)), f"{model}.{method}")

    def test_reprocessing_a_failed_event_applies_it_and_resolves_its_exception(self):
        invoice = self.posted_invoice()
        data = {"invoice": {"external_id": "ext-late"}, "status": "in_collection"}
        self.assertEqual(self.post(event("invoice.status", data)).status_code, 202)
        failed = self.last_event()
        self.assertEqual(failed.state, "failed")
        exception = failed.exception_ids
        # The acknowledgement that binds ext-late arrives afterwards.
        job = self.jobs_of(invoice)
        ack = event("delivery.acknowledged", {"event_id": job.event_uuid, "external_id": "ext-late"})
        self.assertEqual(self.post(ack).status_code, 202)
        failed.action_reprocess()
        self.assertEqual(failed.state, "processed", failed.result_message)
        self.assertEqual(failed.process_count, 2)
        self.assertEqual(invoice.finance_sync_external_status, "in_collection")
        self.assertEqual(exception.state, "resolved")
        self.assertEqual(failed.create_uid, self.inbound_user)


@tagged("post_install", "-at_install")
class TestInboundExactlyOnce(InboundCase):
    def ack_payload(self):
        invoice = self.posted_invoice()
        job = self.jobs_of(invoice)
        return (
            invoice,
            job,
            json.dumps(event("delivery.acknowledged", {"event_id": job.event_uuid, "external_id": "X"})),
        )

    def test_a_replayed_delivery_answers_duplicate_and_has_no_second_effect(self):
        invoice, job, body = self.ack_payload()
        first = self.post(body=body.encode(), msg_id="msg_replay")
        self.assertEqual(first.status_code, 202)
        confirmed_at = job.confirmed_at
        before = self.snapshot()
        replay = self.post(body=body.encode(), msg_id="msg_replay")
        self.assertEqual(replay.status_code, 200, replay.text)
        self.assertEqual(replay.json(), {"status": "duplicate", "duplicate": True, "id": first.json()["id"]})
        self.assertEqual(self.snapshot(), before)
        stored = self.Event.sudo().browse(first.json()["id"])
        self.assertEqual(stored.duplicate_count, 1)
        self.assertTrue(stored.last_received_at)
        self.assertEqual(job.confirmed_at, confirmed_at)
        self.assertEqual(len(invoice.finance_sync_binding_ids), 1)
        self.assertIn(stored, self.Event.sudo().search([("duplicate_count", ">", 0)]), "'received more than once'")

    def test_ten_parallel_deliveries_have_one_effect(self):
        """Odoo serializes requests on the test cursor inside an HttpCase, so the ten requests
        are concurrent on the wire but applied one after the other; the truly parallel case (ten
        transactions) is TestInboundRealConcurrency below."""
        invoice, job, body = self.ack_payload()
        body = body.encode()
        headers = signed(self.secret, body, "msg_parallel")
        results, errors = [], []
        barrier = threading.Barrier(10)

        def deliver():
            try:
                barrier.wait(10)
                response = requests.post(
                    self.base_url() + self.url,
                    data=body,
                    headers=headers,
                    cookies={TEST_CURSOR_COOKIE_NAME: self.http_request_key},
                    timeout=60,
                )
                results.append((response.status_code, response.json()))
            except Exception as exc:  # reported by the assertion below
                errors.append(exc)

        self.env.flush_all()
        self.env.cr.clear()
        with self.allow_requests():
            threads = [threading.Thread(target=deliver) for _i in range(10)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(90)
        self.env.invalidate_all()
        self.assertEqual(errors, [])
        self.assertEqual(sorted(status for status, _body in results), [200] * 9 + [202])
        self.assertEqual({body["id"] for _status, body in results}, {results[0][1]["id"]})
        stored = self.Event.sudo().search([("webhook_id", "=", "msg_parallel")])
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored.duplicate_count, 9)
        self.assertEqual(len(invoice.finance_sync_binding_ids), 1)
        self.assertTrue(job.confirmed_at)

    def test_the_unique_index_refuses_a_second_row_for_a_webhook_id(self):
        vals = {
            "backend_id": self.backend.id,
            "company_id": self.company.id,
            "webhook_id": "msg_twice",
            "event_type": "invoice.status",
            "payload": {},
        }
        self.Event.sudo().create(vals)
        with self.assertRaises(UniqueViolation), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
            self.Event.sudo().create(vals)
            self.env.flush_all()

    def test_storing_the_same_delivery_twice_stores_it_once(self):
        """What the controller does, without HTTP: the second call finds the stored event."""
        invoice = self.posted_invoice()
        payload = event("invoice.status", {"invoice": {"number": invoice.name}, "status": "disputed"})
        Event = self.backend._inbound_env(self.Event)
        backend = self.backend.with_env(Event.env)
        first_id, first_duplicate = Event._receive(backend, "msg_direct", payload, {"Webhook-Id": "msg_direct"})
        second_id, second_duplicate = Event._receive(backend, "msg_direct", payload, {"Webhook-Id": "msg_direct"})
        self.assertEqual((first_duplicate, second_duplicate), (False, True))
        self.assertEqual(first_id, second_id)
        self.env.invalidate_all()
        self.assertEqual(self.Event.sudo().browse(first_id).duplicate_count, 1)
        self.assertEqual(self.Event.sudo().browse(first_id).create_uid, self.inbound_user)


@tagged("post_install", "-at_install")
class TestInboundRefusals(InboundCase):
    def valid_payload(self):
        return event("invoice.status", {"invoice": {"number": "INV/2000/0001"}, "status": "disputed"})

    def test_signature_failures_are_401_and_write_nothing(self):
        before = self.snapshot()
        body = json.dumps(self.valid_payload()).encode()
        now = int(time.time())
        cases = {
            "wrong secret": ({"secret": signing.generate_secret()}, "bad_signature"),
            "stale timestamp": ({"timestamp": now - 301 - 5}, "stale_timestamp"),
            "future timestamp": ({"timestamp": now + 301 + 5}, "future_timestamp"),
            "not a timestamp": ({"headers": {"webhook-timestamp": "yesterday"}}, "bad_timestamp"),
        }
        for label, (kwargs, code) in cases.items():
            with self.subTest(label):
                self.assertRefused(self.post(body=body, **kwargs), 401, code, before)
        with self.subTest("missing headers"):
            response = self.url_open(self.url, data=body, headers={"Content-Type": "application/json"})
            self.assertRefused(response, 401, "missing_headers", before)
        with self.subTest("tampered body"):
            headers = signed(self.secret, body)
            tampered = body.replace(b"disputed", b"resolved")
            response = self.url_open(self.url, data=tampered, headers=headers)
            self.assertRefused(response, 401, "bad_signature", before)

    def test_several_signatures_are_accepted_when_one_matches(self):
        body = json.dumps(self.valid_payload()).encode()
        headers = signed(self.secret, body)
        wrong = signing.sign(signing.generate_secret(), headers["webhook-id"], int(headers["webhook-timestamp"]), body)
        headers["webhook-signature"] = f"{wrong} {headers['webhook-signature']}"
        self.assertEqual(self.url_open(self.url, data=body, headers=headers).status_code, 202)

    def test_transport_refusals(self):
        before = self.snapshot()
        body = json.dumps(self.valid_payload()).encode()
        with self.subTest("wrong content type"):
            headers = signed(self.secret, body, content_type="text/plain")
            self.assertRefused(
                self.url_open(self.url, data=body, headers=headers), 415, "unsupported_media_type", before
            )
        with self.subTest("form content type"):
            headers = signed(self.secret, body, content_type="application/x-www-form-urlencoded")
            self.assertRefused(
                self.url_open(self.url, data=body, headers=headers), 415, "unsupported_media_type", before
            )
        with self.subTest("oversized body (Content-Length)"):
            big = b'{"pad": "' + b"x" * const.INBOUND_MAX_BODY_BYTES + b'"}'
            self.assertRefused(self.post(body=big), 413, "payload_too_large", before)
        with self.subTest("oversized body (chunked, no Content-Length)"):
            big = b'{"pad": "' + b"x" * const.INBOUND_MAX_BODY_BYTES + b'"}'
            headers = signed(self.secret, big)
            chunks = (big[i : i + 65536] for i in range(0, len(big), 65536))
            response = self.url_open(self.url, data=chunks, headers=headers)
            self.assertNotIn("Content-Length", response.request.headers)
            self.assertRefused(response, 413, "payload_too_large", before)
        with self.subTest("GET"):
            response = self.url_open(self.url)
            body_ = self.assertRefused(response, 405, "method_not_allowed", before)
            self.assertEqual(response.headers["Allow"], "POST", body_)

    def test_unknown_draft_and_archived_backends_answer_the_same_404(self):
        before = self.snapshot()
        draft = self.create_backend("Draft", self.secret, state="draft")
        archived = self.create_backend("Archived", self.secret)
        archived.action_archive()
        answers = set()
        for label, token in {
            "unknown": "no-such-token-" + uuid.uuid4().hex,
            "draft": draft.sudo().webhook_token,
            "archived": archived.sudo().webhook_token,
        }.items():
            with self.subTest(label):
                response = self.post(self.valid_payload(), url=f"/finance_sync/webhook/{token}")
                self.assertRefused(response, 404, "not_found", before)
                answers.add(response.text)
        self.assertEqual(len(answers), 1, "no hint whether the backend exists")

    def test_malformed_json_is_400(self):
        before = self.snapshot()
        for label, body in {"truncated": b'{"type": "invoice.status", ', "not utf-8": b"\xff\xfe{}"}.items():
            with self.subTest(label):
                self.assertRefused(self.post(body=body), 400, "malformed_json", before)

    def test_schema_violations_are_422_with_the_failing_paths(self):
        before = self.snapshot()
        payload = event(
            "payment.status",
            {"invoice": {}, "status": "paid", "amount": 12.5, "date": "2024-01-01", "reference": "p1"},
        )
        body = self.assertRefused(self.post(payload), 422, "schema_violation", before)
        paths = {error["path"] for error in body["errors"]}
        self.assertTrue({"/data", "/data/amount", "/data/status", "/data/invoice"} <= paths, body["errors"])
        self.assertTrue(any("currency" in e["message"] for e in body["errors"] if e["path"] == "/data"))
        with self.subTest("envelope"):
            payload = {"type": "invoice.status", "schema_version": 2, "data": []}
            body = self.assertRefused(self.post(payload), 422, "schema_violation", before)
            self.assertTrue({"", "/schema_version", "/data"} <= {e["path"] for e in body["errors"]}, body["errors"])
        with self.subTest("not an object"):
            self.assertRefused(self.post(["invoice.status"]), 422, "schema_violation", before)

    def test_unknown_event_type_is_422(self):
        before = self.snapshot()
        body = self.assertRefused(self.post(event("invoice.exploded", {})), 422, "unknown_event_type", before)
        self.assertEqual(body["errors"][0]["path"], "/type")

    def test_paused_backend_answers_503_with_retry_after(self):
        before = self.snapshot()
        self.backend.action_pause()
        response = self.post(self.valid_payload())
        self.assertRefused(response, 503, "backend_paused", before)
        self.assertEqual(response.headers["Retry-After"], str(const.INBOUND_PAUSED_RETRY_AFTER))

    def test_backend_without_secret_accepts_nothing(self):
        before = self.snapshot()
        bare = self.create_backend_without_secret("No secret")
        self.assertFalse(bare.has_signing_secret)
        url = f"/finance_sync/webhook/{bare.sudo().webhook_token}"
        self.assertRefused(self.post(self.valid_payload(), url=url), 401, "no_secret", before)

    def test_previous_secret_is_accepted_during_the_rotation_window_only(self):
        old_secret, new_secret = self.secret, signing.generate_secret()
        self.backend.signing_secret = new_secret
        self.assertTrue(self.backend.signing_secret_rotated_at)
        for secret in (old_secret, new_secret):
            self.assertEqual(self.post(self.valid_payload(), secret=secret).status_code, 202)
        # The overlap window ends: as if the rotation happened longer ago than the overlap.
        rotated_at = fields.Datetime.now() - timedelta(hours=self.backend.signing_overlap_hours, minutes=1)
        internal(self.backend).write({"signing_secret_rotated_at": rotated_at})
        before = self.snapshot()
        self.assertRefused(self.post(self.valid_payload(), secret=old_secret), 401, "bad_signature", before)
        self.assertEqual(self.post(self.valid_payload(), secret=new_secret).status_code, 202)


@tagged("post_install", "-at_install")
class TestInboundPayments(InboundCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.backend.write({"payment_authority": True, "payment_journal_id": cls.bank_journal.id})

    def payment_event(self, invoice, reference, amount="100.00", currency=None, status="succeeded", day=None):
        return event(
            "payment.status",
            {
                "invoice": {"number": invoice.name},
                "status": status,
                "amount": amount,
                "currency": currency or invoice.currency_id.name,
                "date": fields.Date.to_string(day or invoice.invoice_date),
                "reference": reference,
            },
        )

    def payments_of(self, invoice):
        return self.env["account.payment"].search([("memo", "=", invoice.name)]) | invoice.matched_payment_ids

    def test_three_deliveries_of_one_payment_register_it_once(self):
        invoice = self.posted_invoice(100.0)
        responses = [self.post(self.payment_event(invoice, "pay_123")) for _i in range(3)]
        self.assertEqual([r.status_code for r in responses], [202, 202, 202])
        events = self.Event.sudo().browse([r.json()["id"] for r in responses])
        self.assertEqual(set(events.mapped("state")), {"processed"})
        external = self.env["finance.sync.external.payment"].search([("reference", "=", "pay_123")])
        self.assertEqual(len(external), 1)
        payment = external.payment_id
        self.assertEqual(len(invoice.matched_payment_ids), 1)
        self.assertEqual(invoice.matched_payment_ids, payment)
        self.assertEqual(payment.amount, 100.0)
        self.assertEqual(payment.journal_id, self.bank_journal)
        self.assertEqual(payment.memo, "pay_123")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertTrue(any("pay_123" in message.body for message in invoice.message_ids))

    def test_a_partial_payment_leaves_the_rest_open(self):
        invoice = self.posted_invoice(100.0)
        self.assertEqual(self.post(self.payment_event(invoice, "pay_part", amount="40.00")).status_code, 202)
        self.assertEqual(invoice.payment_state, "partial")
        self.assertAlmostEqual(invoice.amount_residual, 60.0)

    def test_mismatches_become_conflicts_and_register_nothing(self):
        invoice = self.posted_invoice(100.0)
        other_currency = self.setup_other_currency("EUR" if invoice.currency_id.name != "EUR" else "CHF")
        cases = {
            "amount above the amount due": self.payment_event(invoice, "pay_big", amount="100.01"),
            "other currency": self.payment_event(invoice, "pay_cur", currency=other_currency.name),
        }
        for label, payload in cases.items():
            with self.subTest(label):
                before = self.snapshot()
                response = self.post(payload)
                self.assertEqual(response.status_code, 202)
                stored = self.Event.sudo().browse(response.json()["id"])
                self.assertEqual(stored.state, "failed")
                self.assertEqual(stored.exception_ids.category, "conflict")
                after = self.snapshot()
                self.assertEqual(after["account.payment"], before["account.payment"])
                self.assertEqual(after["finance.sync.external.payment"], before["finance.sync.external.payment"])
        self.assertFalse(invoice.matched_payment_ids)
        self.assertEqual(invoice.payment_state, "not_paid")

    def test_already_paid_invoice_is_a_conflict(self):
        invoice = self.posted_invoice(100.0)
        self._register_payment(invoice)
        self.assertEqual(self.post(self.payment_event(invoice, "pay_late")).status_code, 202)
        stored = self.last_event()
        self.assertEqual(stored.exception_ids.category, "conflict")
        self.assertEqual(len(invoice.matched_payment_ids), 1)

    def test_locked_period_is_a_conflict(self):
        invoice = self.posted_invoice(100.0, invoice_date="2020-01-15")
        self.company.fiscalyear_lock_date = "2020-12-31"
        self.assertEqual(self.post(self.payment_event(invoice, "pay_locked")).status_code, 202)
        stored = self.last_event()
        self.assertEqual(stored.exception_ids.category, "conflict")
        self.assertIn("locked", stored.result_message)
        self.assertFalse(invoice.matched_payment_ids)

    def test_without_payment_authority_the_payment_is_only_recorded(self):
        self.backend.payment_authority = False
        invoice = self.posted_invoice(100.0)
        self.assertEqual(self.post(self.payment_event(invoice, "pay_info")).status_code, 202)
        external = invoice.finance_sync_external_payment_ids
        self.assertEqual(external.status, "succeeded")
        self.assertFalse(external.payment_id)
        self.assertFalse(invoice.matched_payment_ids)

    def test_refund_of_a_registered_payment_warns(self):
        invoice = self.posted_invoice(100.0)
        self.post(self.payment_event(invoice, "pay_ref"))
        self.assertEqual(self.post(self.payment_event(invoice, "pay_ref", status="refunded")).status_code, 202)
        stored = self.last_event()
        self.assertEqual(stored.state, "processed")
        self.assertEqual(stored.exception_ids.category, "conflict")
        self.assertEqual(invoice.finance_sync_external_payment_ids.status, "refunded")


@tagged("post_install", "-at_install")
class TestInboundAccess(InboundCase):
    def test_users_read_events_and_only_administrators_reprocess(self):
        response = self.post(event("invoice.status", {"invoice": {"number": "INV/1/404"}, "status": "x"}))
        stored = self.Event.sudo().browse(response.json()["id"])
        user = self.env["res.users"].create(
            {
                "name": "Sync user",
                "login": "fs_inbound_user",
                "group_ids": [(6, 0, self.env.ref("finance_sync.finance_sync_group_user").ids)],
                "company_ids": [(6, 0, self.company.ids)],
                "company_id": self.company.id,
            }
        )
        as_user = stored.with_user(user)
        self.assertEqual(as_user.state, "failed")
        with self.assertRaises(AccessError):
            as_user.action_reprocess()
        with self.assertRaises(AccessError):
            as_user.unlink()
        other_company = self.setup_other_company()["company"]
        outsider = user.copy(
            {
                "login": "fs_inbound_outsider",
                "company_id": other_company.id,
                "company_ids": [(6, 0, other_company.ids)],
            }
        )
        self.assertFalse(self.Event.with_user(outsider).search([("id", "=", stored.id)]), "multi-company rule")

    def test_the_technical_user_has_only_its_technical_group_and_invoicing(self):
        groups = self.inbound_user.all_group_ids
        self.assertIn(self.env.ref("finance_sync.finance_sync_group_inbound"), groups)
        self.assertIn(self.env.ref("account.group_account_invoice"), groups)
        for xmlid in (
            "base.group_system",
            "base.group_erp_manager",
            "account.group_account_manager",
            "finance_sync.finance_sync_group_user",
        ):
            self.assertNotIn(self.env.ref(xmlid), groups, xmlid)
        self.assertIn(self.company, self.inbound_user.company_ids, "follows the backends' companies")


@tagged("post_install", "-at_install")
class TestInboundSchemas(BaseCase):
    """The plain-Python part: no database."""

    def test_event_types_match_the_schemas_and_the_api_document(self):
        self.assertEqual(set(inbound.event_types()), {key for key, _label in const.INBOUND_EVENT_TYPES})
        openapi = (pathlib.Path(inbound.SCHEMA_DIR).parents[2] / "docs" / "openapi.yaml").read_text()
        referenced = set(re.findall(r"schemas/inbound/v1/([a-z_.]+)\.json", openapi))
        self.assertEqual(referenced, set(inbound.event_types()))

    def test_validation_reports_json_pointers(self):
        payload = event("payment.status", {"invoice": {"number": "A/1"}, "status": "succeeded"})
        payload["data"]["amount"] = "1,5"
        with self.assertRaises(inbound.InvalidEvent) as caught:
            inbound.validate(payload)
        self.assertEqual(caught.exception.code, "schema_violation")
        paths = [v.path for v in caught.exception.violations]
        self.assertIn("/data/amount", paths)
        self.assertIn("/data", paths)  # currency, date and reference are missing
        valid = event(
            "payment.status",
            {
                "invoice": {"external_id": "x/y"},
                "status": "refunded",
                "amount": "1.50",
                "currency": "EUR",
                "date": "2025-01-31",
                "reference": "r",
            },
        )
        self.assertEqual(inbound.validate(valid), "payment.status")
        with self.assertRaises(inbound.MalformedJSON):
            inbound.parse_json(b"{", max_depth=const.INBOUND_MAX_JSON_DEPTH)


@tagged("post_install", "-at_install")
class TestInboundRetention(InboundCase):
    def make_event(self, state, days_ago, webhook_id, **vals):
        return self.Event.sudo().create(
            {
                "backend_id": self.backend.id,
                "company_id": self.company.id,
                "webhook_id": webhook_id,
                "event_type": "invoice.status",
                "payload": {},
                "state": state,
                "received_at": fields.Datetime.now() - timedelta(days=days_ago),
                **vals,
            }
        )

    def test_purge_deletes_old_applied_events_only(self):
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_RETENTION_DAYS, "30")
        old_processed = self.make_event("processed", 40, "old-processed")
        old_ignored = self.make_event("ignored", 40, "old-ignored")
        recent = self.make_event("processed", 10, "recent")
        old_failed = self.make_event("failed", 40, "old-failed")
        exception = self.env["finance.sync.exception"]._open_or_bump(self.backend, "conflict", "still open")
        old_with_open_exception = self.make_event(
            "processed", 40, "old-open-exception", exception_ids=[(6, 0, exception.ids)]
        )
        deleted = self.Event._purge_applied()
        self.assertEqual(deleted, (2, False))
        self.assertFalse((old_processed | old_ignored).exists())
        self.assertEqual(
            (recent | old_failed | old_with_open_exception).exists(), recent | old_failed | old_with_open_exception
        )

    def test_odoos_garbage_collection_purges_in_batches(self):
        old = self.make_event("processed", const.DEFAULT_RETENTION_DAYS + 1, "cron-old")
        older = self.make_event("processed", const.DEFAULT_RETENTION_DAYS + 2, "cron-older")
        recent = self.make_event("processed", 1, "cron-recent")
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_RETENTION_DAYS, "")  # the default applies
        self.patch(const, "INBOUND_PURGE_BATCH", 1)
        self.assertEqual(self.Event._gc_applied_events(), (1, True), "one batch per call, and more are left")
        self.assertFalse(older.exists(), "the oldest first")
        self.env.flush_all()
        with self.enter_registry_test_mode():  # the cron's own cursor is this test's
            self.env.ref("base.autovacuum_job").method_direct_trigger()  # calls again while batches are left
        self.env.invalidate_all()
        self.assertFalse(old.exists())
        self.assertTrue(recent.exists())


@tagged("post_install", "-at_install")
class TestInboundRealConcurrency(BaseCase):
    """Ten deliveries of one webhook-id in ten parallel transactions through the HTTP server:
    one is stored and applied, the others answer duplicate. Needs committed data (the server's
    transactions must see it), removed at the end."""

    DELIVERIES = 10

    def _cursor(self):
        return closing(sql_db.db_connect(get_db_name()).cursor())

    def test_parallel_transactions_store_and_apply_once(self):
        server = odoo.service.server.server
        if server is None:
            self.skipTest("needs Odoo's HTTP server (--odoo-http)")
        secret = signing.generate_secret()
        with self._cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            backend = env["finance.sync.backend"].create(
                {
                    "name": "Inbound concurrency",
                    "endpoint_url": "http://127.0.0.1:9/hook",
                    "signing_secret": secret,
                    "state": "active",
                    "company_ids": [(6, 0, company.ids)],
                }
            )
            partner = env["res.partner"].create({"name": "Inbound concurrency"})
            event_uuid = str(uuid.uuid4())
            job = env["finance.sync.job"].create(
                {
                    "backend_id": backend.id,
                    "company_id": company.id,
                    "event_uuid": event_uuid,
                    "event_type": "ping",
                    "res_model": "res.partner",
                    "res_id": partner.id,
                    "sequence": 1,
                    "state": "done",
                    "payload": {},
                }
            )
            ids = {"backend": backend.id, "partner": partner.id, "job": job.id}
            url = f"http://{HOST}:{server.httpd.server_port}/finance_sync/webhook/{backend.webhook_token}"
            cr.commit()
        try:
            body = json.dumps(event("delivery.acknowledged", {"event_id": event_uuid, "external_id": "ext-c"})).encode()
            headers = signed(secret, body, "msg_real_parallel")
            results, errors = [], []
            barrier = threading.Barrier(self.DELIVERIES)

            def deliver():
                try:
                    barrier.wait(10)
                    response = requests.post(url, data=body, headers=headers, timeout=120)
                    results.append((response.status_code, response.json()))
                except Exception as exc:  # reported by the assertion below
                    errors.append(exc)

            threads = [threading.Thread(target=deliver) for _i in range(self.DELIVERIES)]
            with captured_logs() as records, registry_shared_with_threads():
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(150)
            self.assertEqual(errors, [])
            # The race is expected: no failed query, no error, and the body in no log line.
            logged = [(r.name, r.levelname, r.getMessage()) for r in records]
            self.assertFalse([line for line in logged if line[1] in ("WARNING", "ERROR", "CRITICAL")], logged)
            self.assertFalse([line for line in logged if "ext-c" in line[2]], logged)
            statuses = sorted(status for status, _body in results)
            self.assertEqual(statuses, [200] * (self.DELIVERIES - 1) + [202], results)
            with self._cursor() as cr:
                cr.execute(
                    "SELECT count(*), sum(duplicate_count), min(state) FROM finance_sync_inbound_event "
                    "WHERE backend_id = %s",
                    (ids["backend"],),
                )
                self.assertEqual(cr.fetchone(), (1, self.DELIVERIES - 1, "processed"))
                cr.execute("SELECT count(*) FROM finance_sync_binding WHERE backend_id = %s", (ids["backend"],))
                self.assertEqual(cr.fetchone()[0], 1)
                cr.execute(
                    "SELECT external_id, confirmed_at IS NOT NULL FROM finance_sync_job WHERE id = %s", (ids["job"],)
                )
                self.assertEqual(cr.fetchone(), ("ext-c", True))
        finally:
            with self._cursor() as cr:
                cr.execute("DELETE FROM finance_sync_binding WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_inbound_event WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_exception WHERE backend_id = %s", (ids["backend"],))
                cr.execute("DELETE FROM finance_sync_job WHERE backend_id = %s", (ids["backend"],))
                cr.execute(
                    "DELETE FROM mail_message WHERE model = 'finance.sync.backend' AND res_id = %s", (ids["backend"],)
                )
                cr.execute("DELETE FROM finance_sync_backend WHERE id = %s", (ids["backend"],))
                cr.execute("DELETE FROM res_partner WHERE id = %s", (ids["partner"],))
                cr.commit()
