"""Browser tours, one per kind of user, each read back from the database and the platform's
receiver afterwards: proof that the browser really did it.

- An administrator connects a first platform: new backend, the generated secret shown once,
  a successful connection test, a code added in the mappings list.
- A finance user who may edit mappings gets the to-do of an invoice held for a missing code,
  adds the code from the exception, sends the event and finds the invoice synced.
- An administrator finds a period the platform disagrees with and sends the missing event again.
- On a phone, the same to-do opens the exceptions as cards, the explanation first.
- A finance user whose platform is down finds the invoice waiting with the cause, and the
  backend of their *Sync failing* to-do, its environment's ribbon kept.
"""

import json
import logging
import socket
import unittest

from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from ..engine import signing
from .common import FinanceSyncCase

TODO = "mail.mail_activity_data_todo"
BROWSER_STARTS = 3  # a cold Chromium on a busy machine may miss Odoo's 10 s start window once

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestTours(FinanceSyncCase, HttpCase):
    def browser_js(self, *args, **kwargs):
        """Odoo skips a browser test whose Chromium did not open its debugging port within 10 s;
        these tours are what proves the screens work, so a slow start is tried again instead."""
        for attempt in range(1, BROWSER_STARTS):
            try:
                return super().browser_js(*args, **kwargs)
            except unittest.SkipTest as skip:
                if "devtools port" not in str(skip):
                    raise
                _logger.warning("Chromium did not start (attempt %s of %s): starting it again", attempt, BROWSER_STARTS)
        return super().browser_js(*args, **kwargs)

    def test_an_administrator_connects_a_first_platform(self):
        self.backend.action_archive()  # the dashboard starts empty
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Ledger codes"})
        customer = self.env["res.partner"].create({"name": "Tour Ledger Customer"})
        admin = self.make_user("fs_tour_admin", "finance_sync.finance_sync_group_admin")
        self.respond(200)
        # The platform's settings page, where the person pastes the secret they were shown.
        self.receiver.expect_request("/settings", method="POST").respond_with_data("")

        self.start_tour(
            "/odoo/action-finance_sync.finance_sync_dashboard_action",
            "finance_sync_first_backend",
            login=admin.login,
            cookies={"finance_sync_platform": self.receiver.url_for("/")},
        )

        self.env.invalidate_all()
        backend = self.env["finance.sync.backend"].search([("name", "=", "Ledger platform")])
        self.assertEqual(
            (backend.endpoint_url, backend.company_ids, backend.state, backend.create_uid),
            (self.receiver.url_for("/hook"), self.company, "draft", admin),
        )
        (settings, ping) = [request for request, _response in self.receiver.log]
        self.assertEqual(settings.path, "/settings")
        shown = settings.get_data(as_text=True)
        self.assertTrue(shown.startswith(signing.SECRET_PREFIX), "the browser showed the secret")
        self.assertEqual(shown, backend._get_secret("signing"), "the one Odoo signs with")
        self.assertEqual(ping.path, "/hook")
        self.assertEqual(
            signing.verify([shown], ping.headers, ping.get_data()),
            ping.headers["webhook-id"],
            "the test request verifies with the secret the person gave the platform",
        )
        self.assertEqual(json.loads(ping.get_data())["type"], "ping")

        self.assertFalse(backend.signing_secret_unseen)
        self.assertFalse(self.env["finance.sync.secret.reveal"].search([]), "closed: not kept")
        with self.assertRaises(UserError):
            backend.with_user(admin).action_reveal_signing_secret()
        history = "".join(backend.message_ids.mapped("body"))
        self.assertIn(f"The generated signing secret was shown to {admin.name}", history)
        self.assertIn("Connection test: HTTP 200", history)

        mapping = self.env["finance.sync.mapping"].search([("set_id", "=", mapping_set.id)])
        self.assertEqual(
            (mapping.kind, mapping.partner_id, mapping.external_code, mapping.create_uid),
            ("partner", customer, "CUST-LEDGER", admin),
            "added inline in the list",
        )

    def test_a_finance_user_fixes_a_missing_code_from_their_to_do(self):
        editor = self.make_user("fs_tour_editor", "finance_sync.finance_sync_group_mapping_editor")
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Tour codes"})
        mapping_set.policy_ids.filtered(lambda p: p.kind == "partner").policy = "required"
        self.backend.write({"mapping_set_id": mapping_set.id, "user_id": editor.id})
        customer = self.env["res.partner"].create({"name": "Tour Held Customer"})
        invoice = self._create_invoice(partner_id=customer.id, post=True)
        self.respond(200)
        self.dispatch()
        job = self.jobs_of(invoice)
        exc = job.exception_ids
        self.assertEqual((job.state, exc.category, exc.state), ("blocked", "missing_mapping", "new"))
        self.assertEqual(exc.activity_ids.user_id, editor, "the to-do is the backend's responsible's")
        self.assertEqual(invoice.finance_sync_status, "held")
        self.assertFalse(self.receiver.log)

        self.start_tour("/odoo", "finance_sync_missing_code", login=editor.login)

        self.env.invalidate_all()
        mapping = self.env["finance.sync.mapping"].search([("set_id", "=", mapping_set.id)])
        self.assertEqual(
            (mapping.kind, mapping.partner_id, mapping.external_code, mapping.create_uid),
            ("partner", customer, "CUST-TOUR", editor),
            "added from the exception",
        )
        self.assertEqual((job.state, exc.state), ("done", "resolved"))
        self.assertFalse(exc.activity_ids, "the to-do is done")
        done = exc.message_ids.filtered(lambda m: m.mail_activity_type_id == self.env.ref(TODO))
        self.assertEqual(len(done), 1, "its completion is in the exception's history")
        self.assertEqual(invoice.finance_sync_status, "synced")
        ((_headers, body, _raw),) = self.received()
        self.assertEqual((body["partner"]["code"], body["document"]["id"]), ("CUST-TOUR", invoice.id))

    def test_on_a_phone_the_to_do_opens_the_exceptions_as_cards(self):
        editor = self.make_user("fs_tour_phone", "finance_sync.finance_sync_group_mapping_editor")
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Phone codes"})
        mapping_set.policy_ids.filtered(lambda p: p.kind == "partner").policy = "required"
        self.backend.write({"mapping_set_id": mapping_set.id, "user_id": editor.id})
        customer = self.env["res.partner"].create({"name": "Tour Phone Customer"})
        invoice = self._create_invoice(partner_id=customer.id, post=True)
        self.respond(200)
        self.dispatch()
        exc = self.jobs_of(invoice).exception_ids
        self.assertEqual(exc.activity_ids.user_id, editor)
        self.browser_size, self.touch_enabled = "390x844", True
        self.start_tour("/odoo", "finance_sync_missing_code_phone", login=editor.login)

    def test_an_administrator_resends_what_a_platform_lacks(self):
        admin = self.make_user("fs_tour_recon", "finance_sync.finance_sync_group_admin")
        self.respond(200)
        kept = self._create_invoice(post=True)
        lost = self._create_invoice(post=True)
        self.dispatch()
        original = {headers["webhook-id"]: raw for headers, _body, raw in self.received()}
        self.receiver.clear()
        self.respond(200)
        lost_job = self.jobs_of(lost)
        period = {"date_from": min(kept.date, lost.date), "date_to": max(kept.date, lost.date)}
        rec = self.env["finance.sync.reconciliation"].create(
            {"backend_id": self.backend.id, "company_id": self.company.id, **period}
        )
        kept_job = self.jobs_of(kept)
        total = {"event_type": "invoice.posted", "currency": kept.currency_id.name, "count": 1}
        rec._reconcile({"totals": [{**total, "amount": str(kept.amount_total)}], "event_ids": [kept_job.event_uuid]})
        self.assertEqual(rec.state, "mismatched")

        self.start_tour(
            "/odoo/action-finance_sync.finance_sync_reconciliation_action",
            "finance_sync_reconciliation",
            login=admin.login,
        )

        self.env.invalidate_all()
        ((headers, _body, raw),) = self.received()
        self.assertEqual(headers["webhook-id"], lost_job.event_uuid)
        self.assertEqual(raw, original[lost_job.event_uuid], "the original body, byte for byte")
        self.assertEqual(lost_job.state, "done")
        self.assertIn(admin.name, "".join(rec.message_ids.mapped("body")))

    def test_a_finance_user_sees_why_an_invoice_waits_for_a_failing_platform(self):
        user = self.make_user(
            "fs_tour_failing", "account.group_account_invoice", "finance_sync.finance_sync_group_user"
        )
        with socket.socket() as sock:  # a loopback port nothing listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.backend.write(
            {"endpoint_url": f"http://127.0.0.1:{port}/hook", "circuit_threshold": 1, "user_id": user.id}
        )
        self.create_backend("Treasury", user_id=user.id)
        self._create_invoice(post=True, invoice_line_ids=[self._prepare_invoice_line(price_unit=12.10)])
        self.dispatch()
        self.env["finance.sync.backend"]._cron_check_health()
        invoice = self._create_invoice(post=True, invoice_line_ids=[self._prepare_invoice_line(price_unit=1234.57)])
        self.dispatch()
        self.assertEqual(invoice.finance_sync_status, "pending")

        self.start_tour(
            f"/odoo/action-account.action_move_out_invoice_type/{invoice.id}",
            "finance_sync_failing_platform",
            login=user.login,
        )
