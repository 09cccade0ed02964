"""Messages are stored as a code and parameters and rendered when shown, in the reader's
language, through Odoo's code translations (the module's .po files); the template of every code
is in the exported i18n/finance_sync.pot."""

import pathlib

import polib

from odoo.tests import tagged
from odoo.tools.translate import code_translations

from ..engine import messages
from .common import FinanceSyncCase

POT = pathlib.Path(__file__).parent.parent / "i18n" / "finance_sync.pot"

# What a French .po file of the module would hold for a few templates.
FRENCH = {
    "The platform rejected the event (HTTP %(status)s)": "La plateforme a refusé l'événement (HTTP %(status)s)",
    "The platform could not take the event for now (HTTP %(status)s)": (
        "La plateforme n'a pas pu prendre l'événement pour l'instant (HTTP %(status)s)"
    ),
    "Gave up after %(count)s attempts. Last error: %(error)s": (
        "Abandon après %(count)s tentatives. Dernière erreur : %(error)s"
    ),
    "No invoice %(number)s in this backend's companies.": "Aucune facture %(number)s dans les sociétés du backend.",
    "Missing mappings: %(records)s": "Correspondances manquantes : %(records)s",
}


@tagged("post_install", "-at_install")
class TestStoredMessages(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")

    def translate_to_french(self):
        """Load FRENCH as the module's French code translations (as Odoo reads them from fr.po)."""
        translations = dict(code_translations.python_translations)
        translations[("finance_sync", "fr_FR")] = FRENCH
        self.patch(code_translations, "python_translations", translations)

    def test_a_refusal_is_stored_as_a_code_and_shown_in_the_readers_language(self):
        invoice = self._create_invoice(post=True)
        job = self.jobs_of(invoice)
        self.respond(400, body={"error": "unknown customer 42"})
        self.dispatch()
        attempt, exc = job.attempt_ids, job.exception_ids
        self.assertEqual(
            (job.state, job.last_error_code, job.last_error_params["status"]), ("failed", "http_rejected", 400)
        )
        self.assertIn("unknown customer 42", job.last_error_params["detail"])
        self.assertEqual((attempt.error_code, attempt.error_params), (job.last_error_code, job.last_error_params))
        self.assertEqual((exc.message_code, exc.message_params), (job.last_error_code, job.last_error_params))
        self.env.cr.execute(
            """SELECT table_name, column_name FROM information_schema.columns
                WHERE (table_name, column_name) IN (('finance_sync_job', 'last_error'),
                      ('finance_sync_job', 'cancel_reason'), ('finance_sync_attempt', 'error'),
                      ('finance_sync_exception', 'message'),
                      ('finance_sync_inbound_event', 'result_message'))"""
        )
        self.assertEqual(self.env.cr.fetchall(), [], "no sentence is stored, only codes and parameters")

        english = job.last_error
        self.assertTrue(english.startswith("The platform rejected the event (HTTP 400): "), english)
        self.translate_to_french()
        for record, fname in ((job, "last_error"), (attempt, "error"), (exc, "message")):
            with self.subTest(model=record._name):
                shown = record.with_context(lang="fr_FR")[fname]
                self.assertTrue(shown.startswith("La plateforme a refusé l'événement (HTTP 400): "), shown)
                self.assertIn("unknown customer 42", shown, "the platform's words are data: never translated")
                self.assertEqual(record.with_context(lang="en_US")[fname], english)

    def test_a_message_within_a_message_is_shown_in_the_same_language(self):
        self.backend.max_attempts = 1
        invoice = self._create_invoice(post=True)
        job = self.jobs_of(invoice)
        self.respond(500)
        self.dispatch()
        self.assertEqual((job.state, job.last_error_code), ("dead", "gave_up"))
        self.assertEqual(job.last_error_params["error"]["code"], "http_retry")
        self.translate_to_french()
        shown = job.with_context(lang="fr_FR").last_error
        self.assertTrue(
            shown.startswith(
                "Abandon après 1 tentatives. Dernière erreur : "
                "La plateforme n'a pas pu prendre l'événement pour l'instant (HTTP 500)"
            ),
            shown,
        )

    def test_kinds_of_missing_mappings_are_shown_with_their_translated_labels(self):
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Codes"})
        self.backend.mapping_set_id = mapping_set
        mapping_set.policy_ids.filtered(lambda p: p.kind == "partner").policy = "required"
        invoice = self._create_invoice(post=True)
        self.dispatch()
        job = self.jobs_of(invoice)
        partner = invoice.partner_id.commercial_partner_id
        self.assertEqual((job.state, job.last_error_code), ("blocked", "missing_mappings"))
        self.assertEqual(job.last_error, f"Missing mappings: Partner {partner.name}")
        label = self.env["ir.model.fields.selection"].search(
            [("field_id.model", "=", "finance.sync.mapping"), ("field_id.name", "=", "kind"), ("value", "=", "partner")]
        )
        label.with_context(lang="fr_FR").name = "Partenaire"
        self.translate_to_french()
        self.assertEqual(
            job.with_context(lang="fr_FR").last_error, f"Correspondances manquantes : Partenaire {partner.name}"
        )

    def test_an_inbound_result_is_stored_as_a_code(self):
        payload = {
            "type": "invoice.status",
            "schema_version": 1,
            "occurred_at": "2026-01-05T10:00:00Z",
            "data": {"invoice": {"number": "INV/1999/0505"}, "status": "accepted"},
        }
        Event = self.backend._inbound_env(self.env["finance.sync.inbound.event"])
        event_id, _duplicate = Event._receive(self.backend.with_env(Event.env), "msg_fr", payload, {})
        event = self.env["finance.sync.inbound.event"].browse(event_id)
        self.assertEqual(event.state, "failed")
        self.assertEqual(
            (event.result_message_code, event.result_message_params),
            ("inbound_unknown_invoice", {"number": "INV/1999/0505"}),
        )
        self.assertEqual(event.exception_ids.message_code, "inbound_unknown_invoice")
        self.translate_to_french()
        self.assertEqual(
            event.with_context(lang="fr_FR").result_message,
            "Aucune facture INV/1999/0505 dans les sociétés du backend.",
        )

    def test_every_template_is_a_python_term_of_the_exported_template(self):
        terms = {entry.msgid for entry in polib.pofile(str(POT)) if "odoo-python" in entry.comment}
        templates = {**messages.TEMPLATES, **{f"{code} (count 1)": t for code, t in messages.SINGULARS.items()}}
        english = {code: self.env._(template) for code, template in templates.items()}
        self.assertEqual({code for code, text in english.items() if text not in terms}, set())
