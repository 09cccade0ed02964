"""What users may not change or set off, whatever their group. Every attempt is made as a user
through the ORM, as an RPC call would be, and must fail and change nothing."""

from datetime import datetime

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..engine import signing
from ..utils import internal
from .common import FinanceSyncCase

# The context key the module's own methods set; RPC callers can send it with any JSON value.
FORGED_CONTEXT = {"finance_sync_internal_write": True}


class SecurityCase(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.setup_other_company()["company"]
        cls.fs_admin = cls.make_user("fs_sec_admin", "finance_sync.finance_sync_group_admin")
        cls.fs_user = cls.make_user("fs_sec_user", "finance_sync.finance_sync_group_user")

    def assertRefused(self, record, vals, error=AccessError):
        """Writing ``vals`` on ``record`` fails, also with the internal key forged in the context,
        and leaves every field as it was."""
        fnames = list(vals)
        before = record.sudo().read(fnames)
        for label, attempt in (("plain", record), ("forged context", record.with_context(**FORGED_CONTEXT))):
            with self.subTest(label, fields=fnames), self.assertRaises(error):
                attempt.write(vals)
                attempt.flush_recordset()
            record.invalidate_recordset()
        self.assertEqual(record.sudo().read(fnames), before)

    def failed_inbound_event(self):
        """A payment.status delivery for an invoice number that does not exist: stored, failed."""
        payload = {
            "type": "payment.status",
            "schema_version": 1,
            "occurred_at": "2026-01-05T10:00:00Z",
            "data": {
                "invoice": {"number": "INV/1999/0404"},
                "status": "succeeded",
                "amount": "100.00",
                "currency": self.company.currency_id.name,
                "date": "2026-01-05",
                "reference": "pay_immutable",
            },
        }
        Event = self.backend._inbound_env(self.env["finance.sync.inbound.event"])
        event_id, _duplicate = Event._receive(
            self.backend.with_env(Event.env), "msg_immutable", payload, {"Webhook-Id": "msg_immutable"}
        )
        event = self.env["finance.sync.inbound.event"].browse(event_id)
        self.assertEqual(event.state, "failed")
        return event


@tagged("post_install", "-at_install")
class TestInboundEventsAreImmutable(SecurityCase):
    def test_nobody_rewrites_a_stored_delivery(self):
        event = self.failed_inbound_event()
        invoice = self.init_invoice("out_invoice", amounts=[100.0], post=True)
        forged_payload = dict(event.payload, data=dict(event.payload["data"], invoice={"number": invoice.name}))
        attempts = {
            "payload": {"payload": forged_payload},
            "headers": {"headers": {"Webhook-Id": "msg_other"}},
            "webhook id": {"webhook_id": "msg_other"},
            "received facts": {"received_at": datetime(2020, 1, 1), "duplicate_count": 7, "reference": "x"},
            "processing": {"state": "received", "result_message": "fine"},
            "links": {"move_id": invoice.id, "company_id": self.other_company.id},
        }
        for who in (self.fs_admin, self.env.user):
            for label, vals in attempts.items():
                with self.subTest(user=who.login, attempt=label):
                    self.assertRefused(event.with_user(who), vals)
        with self.assertRaises(AccessError):
            event.sudo().write({"payload": forged_payload})
        self.assertEqual(event.payload["data"]["invoice"], {"number": "INV/1999/0404"})

    def test_reprocessing_replays_what_was_received(self):
        event = self.failed_inbound_event()
        self.backend.write(
            {"payment_authority": True, "payment_journal_id": self.company_data["default_journal_bank"].id}
        )
        self.init_invoice("out_invoice", amounts=[100.0], post=True)
        payments_before = self.env["account.payment"].search_count([])
        event.with_user(self.fs_admin).action_reprocess()
        self.assertEqual(event.state, "failed", "still the unknown number it was sent with")
        self.assertEqual(event.process_count, 2)
        self.assertEqual(event.payload["data"]["invoice"], {"number": "INV/1999/0404"})
        self.assertEqual(self.env["account.payment"].search_count([]), payments_before)


@tagged("post_install", "-at_install")
class TestOutboxCannotBeFalsified(SecurityCase):
    def sent_job(self):
        invoice = self._create_invoice(post=True)
        self.respond(500, once=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        self.assertEqual((job.state, job.attempt_count), ("pending", 1))
        return job

    def test_an_administrator_cannot_rewrite_a_job(self):
        job = self.sent_job().with_user(self.fs_admin)
        attempts = {
            "state done": {"state": "done"},
            "body": {"body": '{"event_id": "forged"}'},
            "confirmed": {"confirmed_at": fields.Datetime.now(), "external_id": "ext-forged"},
            "delivery facts": {"done_at": fields.Datetime.now(), "last_status_code": 200, "attempt_count": 0},
            "schedule": {"next_attempt_at": datetime(2099, 1, 1), "lease_until": datetime(2099, 1, 1)},
            "identity": {"event_uuid": "forged", "company_id": self.other_company.id},
        }
        for label, vals in attempts.items():
            with self.subTest(label):
                self.assertRefused(job, vals)
        # What the administrator may do goes through the named transitions.
        job._cancel("Duplicate of another invoice")
        self.assertEqual(job.state, "cancelled")

    def test_the_engine_still_moves_jobs(self):
        job = self.sent_job()
        self.respond(200)
        job.action_send_now()
        self.assertEqual((job.state, job.last_status_code, job.attempt_count), ("done", 200, 2))

    def test_an_administrator_cannot_keep_an_old_secret_valid_or_choose_a_token(self):
        backend = self.backend.with_user(self.fs_admin)
        token = self.backend.sudo().webhook_token
        self.assertRefused(backend, {"signing_secret_rotated_at": datetime(2099, 1, 1)})
        self.assertRefused(backend, {"webhook_token": "a"})
        self.assertRefused(backend, {"paced_until": False, "circuit_reset_at": datetime(2099, 1, 1)})
        self.assertEqual(self.backend.sudo().webhook_token, token)
        with self.assertRaises(AccessError):
            self.env["finance.sync.backend"].with_user(self.fs_admin).create(
                {"name": "Chosen token", "company_ids": [(6, 0, self.company.ids)], "webhook_token": "a"}
            )
        with self.assertRaises(AccessError):
            self.env["finance.sync.backend"].with_user(self.fs_admin).create(
                {
                    "name": "Old secret",
                    "company_ids": [(6, 0, self.company.ids)],
                    "signing_secret_rotated_at": "2099-01-01",
                }
            )

    def test_tokens_are_generated_by_the_regenerate_button(self):
        old = self.backend.sudo().webhook_token
        self.backend.with_user(self.fs_admin).action_regenerate_webhook_token()
        new = self.backend.sudo().webhook_token
        self.assertNotEqual(new, old)
        self.assertGreaterEqual(len(new), 32)
        Backend = self.env["finance.sync.backend"]
        self.assertEqual(Backend._get_by_webhook_token(new), self.backend)
        self.assertFalse(Backend._get_by_webhook_token(old), "the old inbound URL no longer answers")
        self.assertIn("regenerated", self.backend.message_ids[:1].body)
        with self.assertRaises(AccessError):
            self.backend.with_user(self.fs_user).action_regenerate_webhook_token()
        self.assertEqual(self.backend.sudo().webhook_token, new)

    def test_the_responsible_is_an_internal_user(self):
        portal = self.env["res.users"].create(
            {
                "name": "Portal",
                "login": "fs_sec_portal",
                "group_ids": [(6, 0, self.env.ref("base.group_portal").ids)],
            }
        )
        with self.assertRaises(ValidationError), mute_logger("odoo.sql_db"):
            self.backend.with_user(self.fs_admin).write({"user_id": portal.id})
            self.backend.flush_recordset()
        self.backend.invalidate_recordset()
        self.assertNotEqual(self.backend.user_id, portal)
        with self.assertRaises(ValidationError):
            self.env["finance.sync.backend"].with_user(self.fs_admin).create(
                {"name": "Portal responsible", "company_ids": [(6, 0, self.company.ids)], "user_id": portal.id}
            )
        field = self.env["finance.sync.backend"].fields_get(["user_id"])["user_id"]
        self.assertIn("share", str(field["domain"]))
        self.backend.with_user(self.fs_admin).write({"user_id": self.fs_user.id})
        self.assertEqual(self.backend.user_id, self.fs_user)


@tagged("post_install", "-at_install")
class TestCompanyFields(SecurityCase):
    def exception(self):
        invoice = self._create_invoice(post=True)
        return self.env["finance.sync.exception"]._open_or_bump(self.backend, "conflict", "x", document=invoice)

    def test_a_user_cannot_move_an_exception_to_another_company(self):
        user = self.make_user(
            "fs_sec_two_companies",
            "finance_sync.finance_sync_group_user",
            companies=self.company | self.other_company,
        )
        exc = self.exception()
        self.assertEqual(exc.company_id, self.company)
        other_backend = self.create_backend("Other company", companies=self.other_company)
        for vals in ({"company_id": self.other_company.id}, {"backend_id": other_backend.id}):
            with self.subTest(vals=vals):
                self.assertRefused(exc.with_user(user), vals, error=UserError)
        self.assertEqual(exc.company_id, self.company)
        # What users do with exceptions still works.
        exc.with_user(user).write({"state": "in_progress", "user_id": user.id})
        self.assertEqual(exc.state, "in_progress")

    def test_cross_company_links_are_refused(self):
        invoice = self._create_invoice(post=True)
        foreign_set = self.env["finance.sync.mapping.set"].create(
            {"name": "Other company codes", "company_ids": [(6, 0, self.other_company.ids)]}
        )
        shared_set = self.env["finance.sync.mapping.set"].create({"name": "Shared codes", "company_ids": False})
        foreign_journal = self.env["account.journal"].search(
            [("company_id", "=", self.other_company.id), ("type", "=", "bank")], limit=1
        )
        with self.subTest("mapping set of another company"), self.assertRaises(UserError):
            self.backend.mapping_set_id = foreign_set
        self.backend.mapping_set_id = shared_set
        with self.subTest("journal filter of another company"), self.assertRaises(UserError):
            self.backend.journal_ids = foreign_journal
        other_backend = self.create_backend("Other company", companies=self.other_company)
        with self.subTest("binding of a document to another company's backend"), self.assertRaises(UserError):
            internal(self.env["finance.sync.binding"]).create(
                {
                    "backend_id": other_backend.id,
                    "company_id": self.other_company.id,
                    "res_model": "account.move",
                    "res_id": invoice.id,
                    "move_id": invoice.id,
                    "external_id": "ext-cross",
                }
            )
        with self.subTest("exception of another company's backend"), self.assertRaises(UserError):
            self.env["finance.sync.exception"].create(
                {
                    "name": "Cross",
                    "backend_id": other_backend.id,
                    "company_id": self.company.id,
                    "category": "conflict",
                    "fingerprint": "cross",
                }
            )

    def test_company_fields_of_records_written_by_the_engine_cannot_be_written(self):
        event = self.failed_inbound_event()
        invoice = self._create_invoice(post=True)
        binding = self.backend._inbound_env(self.env["finance.sync.binding"])._bind(
            self.backend, invoice, "ext-company"
        )
        external = (
            self.env["finance.sync.external.payment"]
            .sudo()
            .create(
                {
                    "backend_id": self.backend.id,
                    "move_id": invoice.id,
                    "reference": "pay_company",
                    "status": "failed",
                    "currency_id": invoice.currency_id.id,
                }
            )
        )
        for record in (event, binding, external, self.jobs_of(invoice)):
            with self.subTest(record._name):
                self.assertRefused(record.with_user(self.fs_admin), {"company_id": self.other_company.id})


@tagged("post_install", "-at_install")
class TestRightsBeforeSideEffects(SecurityCase):
    def test_a_read_only_user_cannot_send_a_test_ping(self):
        self.respond(200)
        with self.assertRaises(AccessError):
            self.backend.with_user(self.fs_user).action_test_connection()
        self.assertEqual(len(self.receiver.log), 0, "nothing was sent")
        self.backend.with_user(self.fs_admin).action_test_connection()
        self.assertEqual(len(self.receiver.log), 1)


@tagged("post_install", "-at_install")
class TestGeneratedSigningSecretShownOnce(SecurityCase):
    def new_backend(self, **vals):
        return (
            self.env["finance.sync.backend"]
            .with_user(self.fs_admin)
            .create({"name": "Warehouse", "endpoint_url": self.receiver.url_for("/hook"), **vals})
        )

    def test_a_generated_secret_is_shown_once_to_an_administrator_and_the_chatter_says_who(self):
        backend = self.new_backend()
        self.assertTrue(backend.signing_secret_unseen)
        action = backend.action_reveal_signing_secret()
        reveal = self.env[action["res_model"]].with_user(self.fs_admin).browse(action["res_id"])
        self.assertTrue(reveal.secret.startswith("whsec_"))
        self.assertEqual(reveal.secret, backend.sudo()._get_secret("signing"), "the secret Odoo signs with")
        self.assertNotIn(reveal.secret, str(reveal.sudo().read(["secret_encrypted"])), "kept encrypted")
        self.assertFalse(backend.signing_secret_unseen)
        self.assertIn("was shown to", backend.message_ids[0].body)
        with self.assertRaises(UserError):
            backend.action_reveal_signing_secret()
        other_admin = self.make_user("fs_sec_admin2", "finance_sync.finance_sync_group_admin")
        with self.assertRaises(AccessError):
            reveal.with_user(other_admin).read(["secret"])  # only whoever asked sees it
        reveal.action_done()
        self.assertFalse(reveal.exists())

    def test_a_typed_secret_is_never_shown_and_users_cannot_ask(self):
        typed = self.new_backend(signing_secret=signing.generate_secret())
        self.assertFalse(typed.signing_secret_unseen)
        with self.assertRaises(UserError):
            typed.action_reveal_signing_secret()
        generated = self.new_backend()
        with self.assertRaises(AccessError):
            generated.with_user(self.fs_user).action_reveal_signing_secret()
        generated.write({"signing_secret": signing.generate_secret()})
        self.assertFalse(generated.signing_secret_unseen, "a person typed the new one")

    def test_whoever_sees_a_payment_authority_secret_may_manage_payments(self):
        """Knowing a payment authority's secret is signing its payments: only accounting
        administrators who are Finance Sync administrators may see the generated one."""
        bank = self.company_data["default_journal_bank"]
        backend = self.env["finance.sync.backend"].create(
            {
                "name": "Billing",
                "endpoint_url": self.receiver.url_for("/hook"),
                "payment_authority": True,
                "payment_journal_id": bank.id,
            }
        )
        self.assertTrue(backend.signing_secret_unseen)
        with self.assertRaises(AccessError):
            backend.with_user(self.fs_admin).action_reveal_signing_secret()
        self.assertTrue(backend.signing_secret_unseen, "still unseen")
