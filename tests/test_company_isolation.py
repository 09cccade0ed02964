"""Companies are kept apart: every model of the module whose records belong to a company (its own
company field, or a parent that has one) has a company rule, and a user of one company reads,
creates, changes and deletes nothing of another's. Period feeds send a company's ledger only
where a user of that company chose to, and a scheduled run checks it again."""

import uuid
from datetime import date

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..utils import secret_box
from .common import FinanceSyncCase

REFUSED = (AccessError, UserError, ValidationError)
# Relational fields that say nothing about where a record belongs.
NOT_PARENTS = {"create_uid", "write_uid"}
# Models of Odoo's own infrastructure: a link to them does not put a record in a company.
INFRASTRUCTURE = ("res.users", "res.partner", "res.company", "res.currency", "mail.", "ir.")
ADMIN = "finance_sync.finance_sync_group_admin"
ACCOUNTING_ADMIN = "account.group_account_manager"


def company_models(env):
    """{model name: fields that put its records in a company} for every model of the module
    (``finance.sync.*``, not abstract): a field to ``res.company``, or a link to a record that
    belongs to a company (a backend, a mapping set, a feed, an invoice …)."""

    def own_company_fields(model):
        return [
            name
            for name, field in model._fields.items()
            if field.type in ("many2one", "many2many") and field.comodel_name == "res.company"
        ]

    result = {}
    for name in env.registry:
        model = env[name]
        if not name.startswith("finance.sync.") or model._abstract:
            continue
        fnames = own_company_fields(model)
        for fname, field in model._fields.items():
            comodel = field.comodel_name
            if (
                field.type in ("many2one", "many2many")
                and fname not in NOT_PARENTS
                and comodel
                and not comodel.startswith(INFRASTRUCTURE)
                and (own_company_fields(env[comodel]) or comodel in result)
            ):
                fnames.append(fname)
        if fnames:
            result[name] = fnames
    return result


@tagged("post_install", "-at_install")
class TestEveryModelKeepsCompaniesApart(FinanceSyncCase):
    """As a user of one company only (a Finance Sync and accounting administrator, the most a
    company's user may be), try to read, create, write and delete the records of the other
    company, model by model; count the rows before and after."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = cls.setup_other_company(name="Isolated Co")["company"]
        cls.companies = (cls.company, cls.other)
        cls.users = {
            company: cls.make_user(f"fs_iso_{n}", ADMIN, ACCOUNTING_ADMIN, companies=company)
            for n, company in enumerate(cls.companies)
        }
        cls.records = {company: cls._company_records(company, f"c{n}") for n, company in enumerate(cls.companies)}

    @classmethod
    def _company_records(cls, company, tag):
        """One record of each model, of ``company`` (created as the superuser)."""
        env = cls.env
        backend = cls.create_backend(f"Platform {tag}", companies=company, path=f"/iso-{tag}")
        invoice = cls.init_invoice("out_invoice", amounts=[1234.57], post=True, company=company)
        spare = cls.init_invoice("out_invoice", amounts=[0.07], company=company)  # bound to nothing yet
        job = env["finance.sync.job"].search([("move_id", "=", invoice.id), ("backend_id", "=", backend.id)])
        cls.assertTrue(cls, job, "the invoice was captured for its company's backend")
        env["finance.sync.attempt"]._log(
            [
                {
                    "job_id": job.id,
                    "backend_id": backend.id,
                    "company_id": company.id,
                    "started_at": fields.Datetime.now(),
                    "duration_ms": 7,
                    "status_code": 500,
                    "outcome": "retry",
                    "response_excerpt": "busy",
                    "error_code": False,
                    "error_params": False,
                }
            ]
        )
        exception = env["finance.sync.exception"]._open_or_bump(
            backend, "conflict", "amounts differ", document=invoice, fingerprint_key=tag
        )
        event = (
            env["finance.sync.inbound.event"]
            .sudo()
            .create(
                {
                    "backend_id": backend.id,
                    "company_id": company.id,
                    "webhook_id": f"msg_iso_{tag}",
                    "event_type": "invoice.status",
                    "payload": {"type": "invoice.status"},
                }
            )
        )
        binding = env["finance.sync.binding"].sudo()._bind(backend, invoice, f"ext-iso-{tag}")
        external = (
            env["finance.sync.external.payment"]
            .sudo()
            .create(
                {
                    "backend_id": backend.id,
                    "move_id": invoice.id,
                    "reference": f"pay_iso_{tag}",
                    "status": "failed",
                    "currency_id": invoice.currency_id.id,
                }
            )
        )
        mapping_set = env["finance.sync.mapping.set"].create({"name": f"Codes {tag}", "company_ids": company.ids})
        # One kind left without a policy, so that creating it is possible in principle.
        mapping_set.policy_ids.filtered(lambda p: p.kind == "tax").unlink()
        mapping = env["finance.sync.mapping"].create(
            {"set_id": mapping_set.id, "kind": "partner", "partner_id": cls.partner_a.id, "external_code": f"P-{tag}"}
        )
        reconciliation = env["finance.sync.reconciliation"].create(
            {"backend_id": backend.id, "company_id": company.id, "date_from": "2019-01-01", "date_to": "2019-01-31"}
        )
        line = (
            env["finance.sync.reconciliation.line"]
            .sudo()
            .create(
                {
                    "reconciliation_id": reconciliation.id,
                    "event_type": "invoice.posted",
                    "currency_code": company.currency_id.name,
                    "currency_id": company.currency_id.id,
                }
            )
        )
        feed = env["finance.sync.feed"].create(
            {"name": f"Ledger {tag}", "backend_id": backend.id, "company_id": company.id, "schedule": "manual"}
        )
        run = (
            env["finance.sync.feed.run"]
            .sudo()
            .create(
                {
                    "feed_id": feed.id,
                    "date_from": date(2019, 1, 1),
                    "date_to": date(2019, 1, 31),
                    "version": 1,
                    "run_uuid": str(uuid.uuid4()),
                }
            )
        )
        return {
            "finance.sync.backend": backend,
            "finance.sync.job": job,
            "finance.sync.attempt": env["finance.sync.attempt"].search([("job_id", "=", job.id)]),
            "finance.sync.exception": exception,
            "finance.sync.inbound.event": event,
            "finance.sync.binding": binding,
            "finance.sync.external.payment": external,
            "finance.sync.mapping.set": mapping_set,
            "finance.sync.mapping": mapping,
            "finance.sync.mapping.policy": mapping_set.policy_ids[:1],
            "finance.sync.reconciliation": reconciliation,
            "finance.sync.reconciliation.line": line,
            "finance.sync.feed": feed,
            "finance.sync.feed.run": run,
            "finance.sync.backfill": env["finance.sync.backfill"].create(
                {"backend_id": backend.id, "date_from": "2019-01-01"}
            ),
            "finance.sync.backfill.run": env["finance.sync.backfill.run"]
            .sudo()
            .create({"backend_id": backend.id, "date_from": "2019-01-01", "date_to": "2019-01-31", "state": "done"}),
            "finance.sync.feed.send": env["finance.sync.feed.send"].create(
                {"feed_id": feed.id, "date_from": "2019-01-01", "date_to": "2019-01-31"}
            ),
            "finance.sync.preview": env["finance.sync.preview"].create(
                {"backend_id": backend.id, "document_ref": f"account.move,{invoice.id}"}
            ),
            # A shown secret is its requester's only: the company's own user asked for it.
            "finance.sync.secret.reveal": env["finance.sync.secret.reveal"]
            .with_user(cls.users[company])
            .create({"backend_id": backend.id, "secret_encrypted": secret_box(env).encrypt("whsec_dGVzdA==")}),
            "finance.sync.credit.hold.override": env["finance.sync.credit.hold.override"].create(
                {"move_ids": invoice.ids, "reason": "known customer"}
            ),
            "finance.sync.approval.override": env["finance.sync.approval.override"].create(
                {"move_ids": invoice.ids, "reason": "approved by phone"}
            ),
            "finance.sync.attempt.total": env["finance.sync.attempt.total"]
            .sudo()
            .create({"backend_id": backend.id, "outcome": "done", "bucket": 0, "count": 3, "duration_ms_sum": 12.5}),
            # What creating a record there would take (see ``create_vals``).
            "invoice": invoice,
            "spare": spare,
        }

    def create_vals(self, model, company):
        """Values that create a record of ``model`` in ``company`` (through its parent records)."""
        records = self.records[company]
        backend, feed, invoice = records["finance.sync.backend"], records["finance.sync.feed"], records["invoice"]
        mapping_set = records["finance.sync.mapping.set"]
        return {
            "finance.sync.backend": {
                "name": "Another platform",
                "company_ids": company.ids,
                "endpoint_url": self.receiver.url_for("/iso-new"),
            },
            "finance.sync.job": {
                "backend_id": backend.id,
                "company_id": company.id,
                "event_type": "ping",
                "res_model": "res.partner",
                "res_id": self.partner_a.id,
                "sequence": 99,
            },
            "finance.sync.attempt": {"job_id": records["finance.sync.job"].id, "started_at": fields.Datetime.now()},
            "finance.sync.exception": {
                "name": "Planted",
                "backend_id": backend.id,
                "company_id": company.id,
                "category": "conflict",
                "fingerprint": f"planted-{uuid.uuid4()}",
            },
            "finance.sync.inbound.event": {
                "backend_id": backend.id,
                "company_id": company.id,
                "webhook_id": f"msg_planted_{uuid.uuid4()}",
                "event_type": "invoice.status",
            },
            "finance.sync.binding": {
                "backend_id": backend.id,
                "company_id": company.id,
                "res_model": "account.move",
                "res_id": records["spare"].id,
                "move_id": records["spare"].id,
                "external_id": f"ext-planted-{uuid.uuid4()}",
            },
            "finance.sync.external.payment": {
                "backend_id": backend.id,
                "move_id": invoice.id,
                "reference": f"pay_planted_{uuid.uuid4()}",
                "status": "failed",
                "currency_id": invoice.currency_id.id,
            },
            "finance.sync.mapping.set": {"name": "Planted codes", "company_ids": company.ids},
            "finance.sync.mapping": {
                "set_id": mapping_set.id,
                "kind": "partner",
                "partner_id": self.partner_b.id,
                "external_code": "PLANTED",
            },
            "finance.sync.mapping.policy": {"set_id": mapping_set.id, "kind": "tax", "policy": "required"},
            "finance.sync.reconciliation": {
                "backend_id": backend.id,
                "company_id": company.id,
                "date_from": "2019-02-01",
                "date_to": "2019-02-28",
            },
            "finance.sync.reconciliation.line": {
                "reconciliation_id": records["finance.sync.reconciliation"].id,
                "event_type": "payment.posted",
            },
            "finance.sync.feed": {
                "name": "Planted ledger",
                "backend_id": backend.id,
                "company_id": company.id,
                "kind": "gl_summary",
                "schedule": "daily",
            },
            "finance.sync.feed.run": {
                "feed_id": feed.id,
                "date_from": date(2019, 2, 1),
                "date_to": date(2019, 2, 28),
                "version": 1,
                "run_uuid": str(uuid.uuid4()),
            },
            "finance.sync.backfill": {"backend_id": backend.id, "date_from": "2019-01-01"},
            "finance.sync.backfill.run": {"backend_id": backend.id, "date_from": "2019-01-01", "date_to": "2019-01-31"},
            "finance.sync.feed.send": {"feed_id": feed.id, "date_from": "2019-02-01", "date_to": "2019-02-28"},
            "finance.sync.preview": {"backend_id": backend.id, "document_ref": f"account.move,{invoice.id}"},
            "finance.sync.secret.reveal": {"backend_id": backend.id, "secret_encrypted": "x"},
            "finance.sync.credit.hold.override": {"move_ids": invoice.ids, "reason": "planted"},
            "finance.sync.approval.override": {"move_ids": invoice.ids, "reason": "planted"},
            "finance.sync.attempt.total": {
                "backend_id": backend.id,
                "outcome": "retry",
                "bucket": 1,
                "count": 1,
                "duration_ms_sum": 30.0,
            },
        }[model]

    # What a user may change on a record of their own company (None: nothing by hand).
    WRITES = {
        "finance.sync.backend": {"name": "Renamed platform"},
        "finance.sync.exception": {"state": "in_progress"},
        "finance.sync.mapping.set": {"name": "Renamed codes"},
        "finance.sync.mapping": {"label": "relabelled"},
        "finance.sync.mapping.policy": {"policy": "default", "default_code": "DEFAULT"},
        "finance.sync.feed": {"name": "Renamed ledger"},
        "finance.sync.backfill": {"date_from": "2019-01-02"},
        "finance.sync.feed.send": {"date_to": "2019-01-30"},
        "finance.sync.credit.hold.override": {"reason": "changed"},
        "finance.sync.approval.override": {"reason": "changed"},
    }
    # Records only the module writes (and whose rights no user has): a write is refused anyway.
    FORBIDDEN_WRITES = {
        "finance.sync.job": {"document_ref": "forged"},
        "finance.sync.attempt": {"duration_ms": 1},
        "finance.sync.inbound.event": {"reference": "forged"},
        "finance.sync.binding": {"external_id": "forged"},
        "finance.sync.external.payment": {"message": "forged"},
        "finance.sync.reconciliation": {"date_to": "2019-01-30"},
        "finance.sync.reconciliation.line": {"differs": True},
        "finance.sync.feed.run": {"row_count": 99},
        "finance.sync.backfill.run": {"done_count": 99},
        "finance.sync.attempt.total": {"count": 99},
        "finance.sync.preview": {"document_ref": False},
        "finance.sync.secret.reveal": {"secret_encrypted": "forged"},
    }

    def rows(self, model):
        return self.env[model].sudo().with_context(active_test=False).search_count([])

    def attempt(self, operation):
        """Run ``operation`` as a request would (rolled back when it fails); whether it was refused."""
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.sql_db", "odoo.models.unlink"):
                operation()
                self.env.flush_all()
        except REFUSED:
            return True
        finally:
            self.env.invalidate_all()
        return False

    def test_every_company_bound_model_has_a_company_rule(self):
        bound = company_models(self.env)
        # The fixtures above cover every such model: a new one must be added here (and get a rule).
        self.assertEqual(set(bound), set(self.WRITES) | set(self.FORBIDDEN_WRITES))
        Rule = self.env["ir.rule"].sudo()
        for model in bound:
            with self.subTest(model=model):
                rules = Rule.search([("model_id.model", "=", model), ("domain_force", "ilike", "company_ids")])
                self.assertTrue(rules, f"{model} belongs to companies through {bound[model]} but has no company rule")

    def test_a_user_of_one_company_reaches_nothing_of_another(self):
        for owner, intruder in (self.companies, self.companies[::-1]):
            for model in company_models(self.env):
                with self.subTest(model=model, owner=owner.name):
                    self.check_kept_apart(model, owner, intruder)

    def check_kept_apart(self, model, owner, intruder):
        user = self.users[intruder]
        theirs, mine = self.records[owner][model], self.records[intruder][model]
        Model = self.env[model].with_user(user)
        before = self.rows(model)
        vals = self.WRITES.get(model) or self.FORBIDDEN_WRITES[model]
        snapshot = theirs.sudo().read(list(vals))
        # Read: not found, not readable; their own company's record is.
        self.assertFalse(Model.search([("id", "=", theirs.id)]), "found in a search")
        self.assertTrue(Model.search([("id", "=", mine.id)]), "the user's own record is found (control)")
        self.assertTrue(self.attempt(lambda: theirs.with_user(user).read(["display_name"])), "read")
        # Write, unlink, create: refused and nothing changed.
        self.assertTrue(self.attempt(lambda: theirs.with_user(user).write(vals)), "written")
        self.assertEqual(theirs.sudo().read(list(vals)), snapshot, "changed")
        self.assertTrue(self.attempt(lambda: theirs.with_user(user).unlink()), "deleted")
        self.assertTrue(theirs.sudo().exists())
        self.assertTrue(
            self.attempt(lambda: Model.create(self.create_vals(model, owner))),
            "created in the other company",
        )
        self.assertEqual(self.rows(model), before, "rows before and after")
        if model in self.WRITES:  # control: the same change on the user's own record goes through
            self.assertFalse(self.attempt(lambda: mine.with_user(user).write(self.WRITES[model])))


@tagged("post_install", "-at_install")
class TestFeedsSendOnlyTheirCompany(FinanceSyncCase):
    """A backend that serves two companies (a group's BI platform): an administrator of one of
    them may not make a feed send the other's ledger, by any path, and a scheduled run checks again
    who chose the feed's company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = cls.setup_other_company(name="Sister Co")["company"]
        cls.group_backend = cls.create_backend(
            "Group BI", companies=cls.company | cls.other, path="/group", send_customer_invoices=False
        )
        cls.admin_one = cls.make_user("fs_feed_admin_one", ADMIN, companies=cls.company)
        cls.admin_both = cls.make_user("fs_feed_admin_both", ADMIN, companies=cls.company | cls.other)
        cls.Feed = cls.env["finance.sync.feed"]

    def feed_vals(self, company, **vals):
        return {
            "name": "Group ledger",
            "backend_id": self.group_backend.id,
            "company_id": company.id,
            "kind": "gl_summary",
            "schedule": "daily",
            "next_run_date": fields.Date.today(),
            **vals,
        }

    def feed_jobs(self, company):
        return self.Job.search([("res_model", "=", "finance.sync.feed.run"), ("company_id", "=", company.id)])

    def refused(self, operation):
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                operation()
                self.env.flush_all()
        except AccessError:
            return True
        finally:
            self.env.invalidate_all()
        return False

    @staticmethod
    def imported(model, fnames, rows):
        """Import ``rows`` as the web client does; an import Odoo refuses raises AccessError here."""
        result = model.load(fnames, rows)
        if not result["ids"]:
            raise AccessError(str(result["messages"]))
        return result["ids"]

    def test_an_administrator_of_one_company_cannot_point_a_feed_at_another(self):
        Feed = self.Feed.with_user(self.admin_one)
        feed = Feed.create(self.feed_vals(self.company))
        feeds_before = self.Feed.sudo().search_count([])
        attempts = {
            "write the company": lambda: feed.write({"company_id": self.other.id}),
            "create for it": lambda: Feed.create(self.feed_vals(self.other)),
            "create by a context default": lambda: Feed.with_context(default_company_id=self.other.id).create(
                {k: v for k, v in self.feed_vals(self.other).items() if k != "company_id"}
            ),
            "copy into it": lambda: feed.copy({"company_id": self.other.id}),
            "import": lambda: self.imported(
                Feed,
                ["name", "backend_id/.id", "company_id/.id", "kind", "schedule"],
                [["Imported", str(self.group_backend.id), str(self.other.id), "gl_summary", "daily"]],
            ),
            "say who chose it": lambda: feed.write({"configured_by_id": self.admin_both.id}),
        }
        for label, operation in attempts.items():
            with self.subTest(label):
                self.assertTrue(self.refused(operation))
        self.assertEqual(feed.company_id, self.company)
        self.assertEqual(self.Feed.sudo().search_count([]), feeds_before, "no feed of the other company")
        # Nothing of the other company goes out, even once the cron runs.
        self.Feed._cron_run_feeds()
        self.assertFalse(self.feed_jobs(self.other))
        self.assertTrue(self.feed_jobs(self.company), "the administrator's own company's feed is sent")

    def test_a_user_of_both_companies_may(self):
        feed = self.Feed.with_user(self.admin_both).create(self.feed_vals(self.company))
        feed.write({"company_id": self.other.id})
        self.assertEqual(feed.configured_by_id, self.admin_both)
        self.Feed._cron_run_feeds()
        self.assertEqual(len(self.feed_jobs(self.other)), 2, "this month and the month before")

    def test_a_scheduled_run_checks_who_chose_the_company(self):
        """A feed set before the checks above existed (written straight into the database here) or
        whose backend no longer serves its company is not sent: the feed says why, the backend's
        responsible gets a to-do."""
        planted = self.Feed.with_user(self.admin_one).create(self.feed_vals(self.company, name="Planted"))
        self.env.flush_all()
        self.env.cr.execute("UPDATE finance_sync_feed SET company_id = %s WHERE id = %s", (self.other.id, planted.id))
        self.env.invalidate_all()
        with self.assertLogs("odoo.addons.finance_sync.models.finance_sync_feed", "WARNING"):
            self.Feed._cron_run_feeds()
        planted = planted.sudo()
        self.assertFalse(self.feed_jobs(self.other), "company 2's ledger is not sent")
        self.assertFalse(planted.run_ids)
        self.assertIn("does not work in", planted.message_ids[0].body)
        self.assertEqual(planted.activity_ids.user_id, self.group_backend.user_id)
        # Chosen by a user of that company: sent, until the backend stops serving the company.
        legit = self.Feed.with_user(self.admin_both).create(self.feed_vals(self.other, name="Sister ledger")).sudo()
        self.group_backend.write({"company_ids": [(3, self.other.id)]})
        with self.assertLogs("odoo.addons.finance_sync.models.finance_sync_feed", "WARNING"):
            self.Feed._cron_run_feeds()
        self.assertFalse(legit.run_ids)
        self.assertIn("no longer serves", legit.message_ids[0].body)
        self.assertFalse(self.feed_jobs(self.other))


@tagged("post_install", "-at_install")
class TestSharedRecordsChangeOnlyWithAllTheirCompanies(FinanceSyncCase):
    """A backend sends every company it serves: only users of all of them change it. A mapping set
    is given or taken a company only by that company's users."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = cls.setup_other_company(name="Third Co")["company"]
        cls.admin_one = cls.make_user("fs_shared_admin_one", ADMIN, companies=cls.company)
        cls.admin_both = cls.make_user("fs_shared_admin_both", ADMIN, companies=cls.company | cls.other)

    def refused(self, operation):
        try:
            with self.env.cr.savepoint(), mute_logger("odoo.sql_db"):
                operation()
                self.env.flush_all()
        except AccessError:
            return True
        finally:
            self.env.invalidate_all()
        return False

    def test_a_backend_of_two_companies(self):
        shared = self.create_backend("Group platform", companies=self.company | self.other, path="/shared")
        url = shared.endpoint_url
        mine = self.backend.with_user(self.admin_one)
        for label, operation in {
            "redirect the shared backend": lambda: shared.with_user(self.admin_one).write(
                {"endpoint_url": self.receiver.url_for("/mine")}
            ),
            "pause it": lambda: shared.with_user(self.admin_one).action_pause(),
            "test it": lambda: shared.with_user(self.admin_one).action_test_connection(),
            "delete it": lambda: shared.with_user(self.admin_one).unlink(),
            "add the other company to one's own backend": lambda: mine.write({"company_ids": [(4, self.other.id)]}),
            "create a backend for both": lambda: (
                self.env["finance.sync.backend"]
                .with_user(self.admin_one)
                .create({"name": "Both", "company_ids": (self.company | self.other).ids})
            ),
        }.items():
            with self.subTest(label):
                self.assertTrue(self.refused(operation))
        self.assertEqual((shared.endpoint_url, shared.state), (url, "active"))
        self.assertEqual(self.backend.company_ids, self.company)
        self.assertEqual(len(self.receiver.log), 0, "no test ping went out")
        self.assertTrue(shared.with_user(self.admin_one).read(["name"]), "it is still read by both companies")
        shared.with_user(self.admin_both).write({"endpoint_url": self.receiver.url_for("/moved")})
        self.assertTrue(shared.endpoint_url.endswith("/moved"))

    def test_a_mapping_set_gets_or_loses_only_ones_own_companies(self):
        Set = self.env["finance.sync.mapping.set"]
        codes = Set.with_user(self.admin_one).create({"name": "Mine", "company_ids": self.company.ids})
        shared = Set.create({"name": "Group", "company_ids": (self.company | self.other).ids})
        for label, operation in {
            "give it the other company": lambda: codes.write({"company_ids": [(4, self.other.id)]}),
            "take the other company off a shared one": lambda: shared.with_user(self.admin_one).write(
                {"company_ids": [(3, self.other.id)]}
            ),
            "create one for the other company": lambda: Set.with_user(self.admin_one).create(
                {"name": "Theirs", "company_ids": (self.company | self.other).ids}
            ),
        }.items():
            with self.subTest(label):
                self.assertTrue(self.refused(operation))
        self.assertEqual(shared.company_ids, self.company | self.other)
        self.assertEqual(codes.company_ids, self.company)
        policy = shared.policy_ids[:1].with_user(self.admin_one)
        policy.write({"policy": "pass_through"})  # a shared set is shared: its policies too
        other_set = Set.create({"name": "Theirs only", "company_ids": self.other.ids})
        other_set.policy_ids.filtered(lambda p: p.kind == policy.kind).unlink()  # room for the moved one
        mapping = (
            self.env["finance.sync.mapping"]
            .create({"set_id": codes.id, "kind": "partner", "partner_id": self.partner_a.id, "external_code": "A"})
            .with_user(self.admin_one)
        )
        for record in (policy, mapping):
            with self.subTest(f"move a {record._name} into the other company's set"):
                self.assertTrue(self.refused(lambda r=record: r.write({"set_id": other_set.id})))
                self.assertNotEqual(record.sudo().set_id, other_set)
