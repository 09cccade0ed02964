"""The demo (``make run``) tells the story of docs/screens.md, and every button on its records works.

The test database has no demo data: the module's demo files are loaded into the test company
here, Odoo's own demo partners they name given as test partners. Then each ``action_*`` button
the form view of a demo record shows (its groups and its ``invisible`` condition as the web
client reads them) is clicked as a Finance Sync and accounting administrator."""

from lxml import etree

from odoo import SUPERUSER_ID, api
from odoo.modules.module import get_manifest
from odoo.tests import tagged
from odoo.tools.convert import convert_file
from odoo.tools.safe_eval import safe_eval

from .. import const
from .common import FinanceSyncCase
from .test_actions import module_actions

# Every demo file, in the manifest's order (a new one is tested as soon as it is declared).
DEMO_FILES = tuple(get_manifest("finance_sync")["demo"])
# Odoo's demo partners the demo files name, and who stands for them here.
DEMO_PARTNERS = {
    "base.res_partner_12": "Azure Interior",
    "base.res_partner_2": "Deco Addict",
    "base.res_partner_3": "Gemini Furniture",
    "base.res_partner_4": "Ready Mat",
    "base.res_partner_18": "Lumber Inc",
    "base.res_partner_1": "Wood Corner",
}
# The models whose demo records have form views with the module's buttons.
MODELS = (
    "finance.sync.backend",
    "finance.sync.job",
    "finance.sync.exception",
    "finance.sync.reconciliation",
    "finance.sync.mapping.set",
    "finance.sync.feed",
    "account.move",
    "res.partner",
)


def load_demo(env, company):
    """Load the demo files into ``company`` as Odoo loads demo data (once, as the superuser)."""
    Partner = env["res.partner"]
    idref = {xmlid: Partner.create({"name": name, "is_company": True}).id for xmlid, name in DEMO_PARTNERS.items()}
    idref["base.main_company"] = company.id
    demo_env = api.Environment(env.cr, SUPERUSER_ID, {"allowed_company_ids": company.ids, "lang": "en_US"})
    for path in DEMO_FILES:
        convert_file(demo_env, "finance_sync", path, idref, mode="init", noupdate=True)


def form_values(record, fields):
    """The values the web client evaluates a form's ``invisible`` conditions with."""
    values = record.read(list(fields))[0]
    for name, value in values.items():
        if isinstance(value, tuple):  # many2one: (id, name)
            values[name] = value[0]
    return values


@tagged("post_install", "-at_install")
class TestDemo(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        before = {model: set(cls.env[model].with_context(active_test=False).search([]).ids) for model in MODELS}
        load_demo(cls.env, cls.company)
        cls.demo = {
            model: cls.env[model].with_context(active_test=False).search([("id", "not in", list(ids))])
            for model, ids in before.items()
        }
        cls.admin = cls.make_user(
            "fs_demo_admin",
            "finance_sync.finance_sync_group_admin",
            "finance_sync.finance_sync_group_mapping_editor",
            "account.group_account_manager",
        )

    def ref(self, name):
        return self.env.ref(f"finance_sync.{name}")

    def test_the_connections_are_those_of_the_screens_in_their_states(self):
        backends = self.demo["finance.sync.backend"]
        self.assertEqual(
            {b.name: (b.state, b.health) for b in backends},
            {
                "Ledger platform": ("active", "ok"),
                "Data warehouse": ("active", "warning"),  # an invoice held for a missing code
                "Treasury platform": ("active", "warning"),  # bills it gave up on or refused
                "Payments hub": ("active", "critical"),  # nothing answers: its circuit opened
                "Billing platform": ("paused", "warning"),
                "Expense platform": ("draft", "inactive"),
                "CRM (demo)": ("draft", "inactive"),  # an account source with a possible duplicate waiting
                "CRM orders (demo)": ("draft", "inactive"),
                "Group billing platform (demo)": ("draft", "inactive"),  # serves its companies by code
                "Event broker (demo)": ("paused", "warning"),  # paused: a demo needs no broker
            },
        )
        for backend in backends.filtered(lambda b: b.transport == "webhook"):
            self.assertTrue(backend.endpoint_url.startswith("http://127.0.0.1:"), backend.name)
        self.assertEqual(self.ref("demo_backend_payments_hub").circuit_state, "open")
        states = set(self.demo["finance.sync.job"].mapped("state"))
        self.assertTrue({"pending", "blocked", "done", "failed", "dead"} <= states, states)

    def test_the_problems_of_the_story_are_open_and_reach_a_person(self):
        held = self.ref("demo_exception_held")
        self.assertEqual((held.category, held.state), ("missing_mapping", "new"))
        self.assertEqual(held.move_id, self.ref("demo_invoice_held"))
        self.assertEqual(self.ref("demo_invoice_held").partner_id.name, "Gemini Furniture")
        self.assertEqual(self.ref("demo_exception_gave_up").state, "new")
        self.assertEqual(self.ref("demo_exception_set_aside").state, "ignored")
        self.assertEqual(self.ref("demo_job_gave_up").state, "dead")
        self.assertEqual(self.ref("demo_job_gave_up").attempt_ids.mapped("outcome"), ["gave_up", "retry"])

    def test_november_lacks_a_delivered_invoice_and_says_so(self):
        matched, november = self.ref("demo_reconciliation_matched"), self.ref("demo_reconciliation_mismatched")
        self.assertEqual(matched.state, "matched")
        self.assertEqual(november.state, "mismatched")
        job = november.missing_job_ids
        self.assertEqual(len(job), 1)
        self.assertEqual(job.state, "done")
        self.assertTrue(november.date_from <= job.move_id.date <= november.date_to)
        # The platform's totals lack exactly that invoice, as Odoo's own invoice says it.
        line = november.line_ids.filtered(lambda line: line.event_type == const.EVENT_INVOICE_POSTED)
        self.assertEqual(line.odoo_count - line.platform_count, 1)
        self.assertAlmostEqual(line.odoo_amount - line.platform_amount, job.move_id.amount_total, places=2)
        # The mismatch opened its exception and a to-do for the warehouse's responsible.
        self.assertEqual((november.exception_id.category, november.exception_id.state), ("reconciliation", "new"))
        todo = november.activity_ids
        self.assertEqual(todo.user_id, november.backend_id.user_id)

    def test_resend_missing_events_queues_the_delivered_invoice_again(self):
        november = self.ref("demo_reconciliation_mismatched")
        job = november.missing_job_ids
        action = november.with_user(self.admin).action_resend_missing()
        self.assertEqual(action["res_model"], "finance.sync.job")
        self.assertEqual(action["domain"], [("id", "in", job.ids)])
        # Nothing listens at the demo's address: the event waits for the next try, same id.
        self.env.invalidate_all()
        self.assertEqual((job.state, job.attempt_ids[:1].outcome), ("pending", "retry"))

    def test_every_button_of_the_demo_records_works(self):
        own = set(module_actions(self.env))
        clicked, problems = [], []
        for model in MODELS:
            view = self.env[model].with_user(self.admin).get_views([(False, "form")])
            fields = view["models"][model]["fields"]
            buttons = [
                button
                for button in etree.fromstring(view["views"]["form"]["arch"]).iter("button")
                if button.get("type") == "object"
                and (model, button.get("name")) in own
                and not any(parent.tag == "field" for parent in button.iterancestors())
            ]
            for record in self.demo[model].with_user(self.admin):
                context = {"context": {}, "uid": self.admin.id, **form_values(record, fields)}
                for button in buttons:
                    # Shown when neither the button nor what holds it is invisible.
                    if any(
                        safe_eval(el.get("invisible") or "False", context) for el in (button, *button.iterancestors())
                    ):
                        continue
                    name = button.get("name")
                    extra = safe_eval(button.get("context") or "{}", context)
                    with self.env.cr.savepoint() as savepoint:
                        try:
                            result = getattr(record.with_context(**extra), name)()
                        except Exception as exc:  # every failure is listed
                            problems.append(f"{record.display_name}: {name}: {type(exc).__name__}: {exc}")
                        else:
                            if not (result is True or isinstance(result, dict)):
                                problems.append(f"{record.display_name}: {name} returned {result!r}")
                            clicked.append((model, name))
                        savepoint.rollback()
                    self.env.invalidate_all()
        self.assertEqual(problems, [])
        for expected in (
            ("finance.sync.reconciliation", "action_resend_missing"),
            ("finance.sync.backend", "action_test_connection"),
            ("finance.sync.exception", "action_add_mapping"),
            ("account.move", "action_finance_sync_retry"),
        ):
            self.assertIn(expected, clicked)


@tagged("post_install", "-at_install")
class TestFirstSteps(FinanceSyncCase):
    """What a newcomer meets: where Odoo lands after installing, the Apps page, the problems on a
    phone, the empty states."""

    def test_after_installing_odoo_opens_the_dashboard(self):
        root = self.env.ref("finance_sync.finance_sync_menu_root")
        self.assertTrue(root.web_icon)
        self.assertEqual(root.action, self.env.ref("finance_sync.finance_sync_dashboard_action"))
        # What Apps opens once a module is installed (ir.module.module._button_immediate_function).
        landing = self.env["ir.module.module"].next()
        self.assertEqual(landing["url"], "/odoo/action-finance_sync.finance_sync_dashboard_action")

    def test_the_apps_page_presents_every_part_and_asks_no_install(self):
        module = self.env["ir.module.module"].search([("name", "=", "finance_sync")])
        page = module.description_html.lower()
        self.assertNotIn("press <i>install</i>", page)
        parts = ("warehouse", "period feeds", "reconciliation", "credit hold", "billing and subscription platforms")
        for part in parts:
            self.assertIn(part, page)
        self.assertNotIn("install", module.summary.lower())

    def test_the_problem_form_explains_before_its_metadata(self):
        views = self.env["finance.sync.exception"].get_views([(False, "form")])
        arch = etree.fromstring(views["views"]["form"]["arch"])
        sheet = arch.find(".//sheet")
        order = [el for el in sheet.iter() if el.get("name") in ("explanation", "backend_id")]
        self.assertEqual([el.get("name") for el in order], ["explanation", "backend_id"])

    def test_the_mapping_sets_empty_state_names_only_mapping_kinds(self):
        help_text = self.env.ref("finance_sync.finance_sync_mapping_set_action").help.lower()
        self.assertNotIn("product", help_text)
        for kind in ("accounts", "taxes", "journals", "partners", "currencies", "payment methods"):
            self.assertIn(kind, help_text)
