"""The outbox keeps of personal data what each platform receives, no more: a captured event is
masked by its backend's payload profile when it is written, not only when it is sent, although
one capture serves several backends with different profiles."""

import json

from odoo.tests import tagged

from .common import FinanceSyncCase

IBAN = "NL91ABNA0417164300"
EMAIL = "payables@privacy.example"
VAT = "BE0477472701"


@tagged("post_install", "-at_install")
class TestCapturedPersonalData(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Three platforms, three profiles: the shared backend's defaults (e-mail left out, bank
        # accounts masked), one that receives everything, one that masks e-mail and VAT and
        # leaves bank accounts out.
        cls.backend.write({"send_master_data": True})
        cls.everything = cls.create_backend(
            "Everything",
            path="/everything",
            send_master_data=True,
            profile_partner_email="send",
            profile_bank_account="send",
        )
        cls.masked = cls.create_backend(
            "Masked",
            path="/masked",
            send_master_data=True,
            profile_partner_email="mask",
            profile_partner_vat="mask",
            profile_bank_account="omit",
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Privacy Customer", "email": EMAIL, "vat": VAT, "customer_rank": 1}
        )
        cls.env["res.partner.bank"].create({"partner_id": cls.customer.id, "acc_number": IBAN})
        cls.expected = {  # what each platform receives, written out by hand
            cls.backend: {"email": None, "vat": VAT, "number": "**************4300"},
            cls.everything: {"email": EMAIL, "vat": VAT, "number": IBAN},
            cls.masked: {"email": "********************mple", "vat": "********2701", "number": None},
        }

    def setUp(self):
        super().setUp()
        self.commit_hooks()

    @staticmethod
    def path(backend):
        return "/" + backend.endpoint_url.rpartition("/")[2]

    def stored(self, job):
        """The job's row as the database holds it (not through the ORM)."""
        self.env.flush_all()
        self.env.cr.execute("SELECT payload::text FROM finance_sync_job WHERE id = %s", [job.id])
        return self.env.cr.fetchone()[0]

    def partner_job(self, backend):
        return self.Job.search(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "=", self.customer.id),
                ("backend_id", "=", backend.id),
                ("event_type", "=", "partner.upserted"),
            ],
            order="sequence desc",
            limit=1,
        )

    def test_each_backend_s_row_keeps_what_it_receives(self):
        invoice = self.init_invoice("out_invoice", partner=self.customer, amounts=[1234.57], post=True)
        self.commit_hooks()
        for backend, expected in self.expected.items():
            with self.subTest(backend=backend.name):
                partner_row = self.stored(self.partner_job(backend))
                invoice_row = self.stored(self.jobs_of(invoice, backend))
                partner = json.loads(partner_row)["partner"]
                self.assertEqual(partner["email"], expected["email"])
                self.assertEqual(partner["vat"], expected["vat"])
                self.assertEqual(partner["bank_accounts"][0]["number"], expected["number"])
                self.assertEqual(json.loads(invoice_row)["partner"]["email"], expected["email"])
                for secret in (EMAIL, IBAN):
                    if secret not in expected.values():
                        self.assertNotIn(secret, partner_row)
                        self.assertNotIn(secret, invoice_row)
        # What is stored is what is sent: the same personal data.
        for backend in self.expected:
            self.respond(200, path=self.path(backend))
            self.dispatch(backend)
        for backend in self.expected:
            path = self.path(backend)
            sent = [
                json.loads(req.get_data())
                for req, _resp in self.receiver.log
                if req.path == path and json.loads(req.get_data())["type"] == "partner.upserted"
            ]
            with self.subTest(sent_to=backend.name):
                self.assertEqual(len(sent), 1)
                self.assertEqual(sent[0]["partner"], json.loads(self.stored(self.partner_job(backend)))["partner"])

    def test_a_change_a_platform_never_receives_is_no_news_to_it(self):
        """Compared as stored (masked): a new e-mail goes to the platform that receives e-mails and
        to the one that sees its masked end change, not to the one that never gets it."""
        self.init_invoice("out_invoice", partner=self.customer, amounts=[12.10], post=True)
        self.commit_hooks()
        before = {backend: self.partner_job(backend) for backend in self.expected}
        self.customer.email = "ap@privacy.example.org"
        self.commit_hooks()
        after = {backend: self.partner_job(backend) for backend in self.expected}
        self.assertEqual(after[self.backend], before[self.backend], "e-mails are left out: nothing new")
        self.assertNotEqual(after[self.everything], before[self.everything])
        self.assertEqual(json.loads(self.stored(after[self.everything]))["partner"]["email"], "ap@privacy.example.org")
        self.assertNotEqual(after[self.masked], before[self.masked], "its masked e-mail ends differently")
