"""The connection test against a platform that checks signatures: the platform's answer quoted
(shortened, masked), the credentials the request carried named (never their value), the secret
pointed at when Odoo generated it and nobody gave it to the platform; *Activate* asks for a
confirmation unless the latest test passed. The platform is the real receiver of tests/common.py."""

from lxml import etree

from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools.safe_eval import safe_eval

from .common import FinanceSyncCase

REFUSAL = {"error": "invalid_signature", "message": "webhook-signature does not verify", "contact": "ops@example.com"}


@tagged("post_install", "-at_install")
class TestConnectionTest(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A new backend as a person creates it: Odoo generates its secret, nobody has seen it.
        cls.draft = cls.env["finance.sync.backend"].create(
            {"name": "Ledger", "endpoint_url": cls.receiver.url_for("/hook"), "company_ids": cls.company.ids}
        )

    def notification(self, backend):
        action = backend.action_test_connection()
        return action["params"]["type"], action["params"]["message"]

    def test_a_refused_signature_shows_the_answer_and_points_at_the_unseen_secret(self):
        self.assertTrue(self.draft.signing_secret_unseen)
        self.respond(401, body=REFUSAL)
        kind, text = self.notification(self.draft)
        self.assertEqual(kind, "danger")
        self.assertIn("HTTP 401", text)
        self.assertIn("refused Odoo's credentials", text)
        self.assertIn("The platform answered:", text)
        self.assertIn("webhook-signature does not verify", text, "the platform's own words")
        self.assertIn("***@***", text, "personal data in the answer is masked")
        self.assertNotIn("ops@example.com", text)
        self.assertIn("signing secret", text, "the credential used, by name")
        self.assertIn("Show the generated secret (once)", text, "where the platform's secret comes from")
        self.assertNotIn(self.draft._get_secret("signing"), text)
        self.assertEqual(self.draft.connection_test_state, "failed")
        chatter = self.draft.message_ids[0].body
        self.assertIn("webhook-signature does not verify", chatter)
        self.assertIn("Show the generated secret (once)", chatter)

    def test_a_refused_token_is_named_masked_and_the_answer_shortened(self):
        token = "tok-0123456789-abcdef"
        self.backend.write({"auth_mode": "bearer", "auth_secret": token})
        self.assertFalse(self.backend.signing_secret_unseen, "typed by a person, who gave it to the platform")
        self.respond(403, body={"detail": f"unknown token {token}", "trace": "x" * 2000})
        kind, text = self.notification(self.backend)
        self.assertEqual(kind, "danger")
        self.assertIn("unknown token ***", text)
        self.assertNotIn(token, text)
        self.assertIn("bearer token (Token / password)", text)
        self.assertIn("Check that the platform holds the same signing secret and credentials", text)
        self.assertNotIn("Show the generated secret", text)
        self.assertIn("…[truncated]", text)
        self.assertLess(len(text), 1500)
        ((headers, _body, _raw),) = self.received()
        self.assertEqual(headers["Authorization"], f"Bearer {token}", "the token named is the one sent")

    def test_a_passed_test_activates_directly_and_another_asks_first(self):
        form = etree.fromstring(self.env["finance.sync.backend"].get_views([(False, "form")])["views"]["form"]["arch"])
        buttons = form.xpath("//header/button[@name='action_activate']")

        def activate_button(backend):
            record = {"state": backend.state, "connection_test_state": backend.connection_test_state}
            (shown,) = [b for b in buttons if not safe_eval(b.get("invisible"), record)]
            return shown.get("confirm")

        self.assertEqual(self.draft.connection_test_state, "never")
        self.assertIn("did not pass", activate_button(self.draft), "never tested: asks first")
        self.respond(401, body=REFUSAL, once=True)
        self.draft.action_test_connection()
        self.assertIn("did not pass", activate_button(self.draft), "failed: asks first")
        self.respond(200)
        self.draft.action_test_connection()
        self.assertEqual(self.draft.connection_test_state, "passed")
        self.assertIsNone(activate_button(self.draft), "passed: activates directly")
        self.draft.endpoint_url = self.receiver.url_for("/other")
        self.assertEqual(self.draft.connection_test_state, "never", "the test vouched for another address")
        self.assertIn("did not pass", activate_button(self.draft))
        with self.assertRaises(AccessError):
            self.draft.write({"connection_test_state": "passed"})
        self.assertEqual(self.draft.action_activate(), True)
        self.assertEqual(self.draft.state, "active")
