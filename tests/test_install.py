"""The addon installs, uninstalls cleanly, and its security skeleton holds."""

import importlib.util
import os
import pathlib
import subprocess
import sys
import uuid

import odoo
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL, config, sql

from .common import FinanceSyncCase


@tagged("post_install", "-at_install")
class TestSecuritySkeleton(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.group_user = cls.env.ref("finance_sync.finance_sync_group_user")
        cls.group_admin = cls.env.ref("finance_sync.finance_sync_group_admin")
        cls.internal = cls.env["res.users"].create(
            {"name": "Plain internal", "login": "fs_plain", "group_ids": [(6, 0, [cls.env.ref("base.group_user").id])]}
        )

    def test_groups_form_one_privilege_with_implied_chain(self):
        privilege = self.env.ref("finance_sync.res_groups_privilege_finance_sync")
        self.assertEqual(self.group_user.privilege_id, privilege)
        self.assertEqual(self.group_admin.privilege_id, privilege)
        self.assertIn(self.group_user, self.group_admin.implied_ids)
        self.assertIn(self.env.ref("base.group_user"), self.group_user.implied_ids)
        # Granting Administrator grants User through the chain.
        self.internal.group_ids = [(4, self.group_admin.id)]
        self.assertTrue(self.internal.has_group("finance_sync.finance_sync_group_user"))

    def test_plain_internal_user_cannot_read_backends(self):
        backend = self.env["finance.sync.backend"].create({"name": "Warehouse"})
        with self.assertRaises(AccessError):
            backend.with_user(self.internal).read(["name"])
        with self.assertRaises(AccessError):
            self.env["finance.sync.backend"].with_user(self.internal).search([])

    def test_user_reads_but_only_admin_configures_backends(self):
        backend = self.env["finance.sync.backend"].create({"name": "Warehouse"})
        self.internal.group_ids = [(4, self.group_user.id)]
        as_user = backend.with_user(self.internal)
        self.assertEqual(as_user.name, "Warehouse")
        with self.assertRaises(AccessError):
            as_user.write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.env["finance.sync.backend"].with_user(self.internal).create({"name": "Other"})
        self.internal.group_ids = [(4, self.group_admin.id)]
        as_user.write({"name": "Renamed"})
        self.assertEqual(backend.name, "Renamed")


MODULE_STATE = "SELECT state FROM ir_module_module WHERE name = 'finance_sync'"
LEFTOVERS = """
    SELECT (SELECT count(*) FROM ir_model WHERE model LIKE 'finance.sync.%'),
           (SELECT count(*) FROM ir_model_data WHERE module = 'finance_sync'),
           (SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'finance\\_sync\\_%')
"""
UNINSTALL = "env['ir.module.module'].search([('name', '=', 'finance_sync')]).button_immediate_uninstall()\n"


@tagged("post_install", "-at_install")
class TestInstallUninstall(TransactionCase):
    """Install into a brand-new database and uninstall again, in a separate Odoo process:
    uninstalling inside the shared test database would break every other test."""

    def _odoo(self, db, *args, stdin=None):
        odoo_bin = os.path.join(os.path.dirname(odoo.__path__[0]), "odoo-bin")
        cmd = [sys.executable, odoo_bin, *args, "-c", config["config"], "-d", db, "--log-level=warn"]
        return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=900, check=False)

    def _sql(self, db, query):
        res = subprocess.run(["psql", "-d", db, "-tAc", query], capture_output=True, text=True, check=True)
        return res.stdout.strip()

    def test_install_then_uninstall_leaves_nothing(self):
        db = f"{config['db_name'][0]}_u{uuid.uuid4().hex[:6]}"
        try:
            res = self._odoo(db, "-i", "finance_sync", "--stop-after-init", "--no-http")
            self.assertEqual(res.returncode, 0, res.stderr[-3000:])
            self.assertEqual(self._sql(db, MODULE_STATE), "installed")
            self.assertGreater(int(self._sql(db, LEFTOVERS).split("|")[0]), 0)
            res = self._odoo(db, "shell", "--no-http", stdin=UNINSTALL)
            self.assertEqual(res.returncode, 0, res.stderr[-3000:])
            self.assertEqual(self._sql(db, MODULE_STATE), "uninstalled")
            # No model, no XML id (groups, views, crons, menus), no table is left behind.
            self.assertEqual(self._sql(db, LEFTOVERS), "0|0|0")
        finally:
            subprocess.run(["dropdb", "--if-exists", "--force", db], check=False, capture_output=True)


def load_migration(version, stage="post"):
    """The ``stage``-migrate module of ``version`` (migrations/<version>/<stage>-migrate.py)."""
    script = pathlib.Path(__file__).parent.parent / "migrations" / version / f"{stage}-migrate.py"
    spec = importlib.util.spec_from_file_location(f"finance_sync_{stage}_migrate_{version.replace('.', '_')}", script)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


@tagged("post_install", "-at_install")
class TestMigrations(TransactionCase):
    def test_upgrade_drops_the_purge_crons_and_the_indexes_the_module_no_longer_declares(self):
        migration = load_migration("19.0.1.1.0")
        obsolete = [(table, index) for table, indexes in migration.OBSOLETE.items() for index in indexes]
        for table, index in obsolete:  # as a database installed with an earlier version has them
            self.env.cr.execute(SQL("CREATE INDEX %s ON %s (id)", SQL.identifier(index), SQL.identifier(table)))
        model = self.env["ir.model"]._get("finance.sync.job")
        crons = self.env["ir.cron"]
        for xmlid in migration.OBSOLETE_CRONS:
            cron = self.env.ref(xmlid, raise_if_not_found=False)
            if not cron:
                cron = self.env["ir.cron"].create(
                    {"name": xmlid, "model_id": model.id, "state": "code", "code": "model"}
                )
                module, name = xmlid.split(".")
                self.env["ir.model.data"].create(
                    {"module": module, "name": name, "model": "ir.cron", "res_id": cron.id, "noupdate": True}
                )
            crons |= cron

        migration.migrate(self.env.cr, "19.0.1.0.0")

        self.assertFalse(crons.exists(), "retention runs in Odoo's garbage collection now")

        self.env.cr.execute("SELECT indexname FROM pg_indexes WHERE indexname IN %s", [tuple(i for _t, i in obsolete)])
        self.assertEqual(self.env.cr.fetchall(), [])
        self.env.cr.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'finance_sync_job'")
        indexes = {row[0] for row in self.env.cr.fetchall()}
        self.assertIn("finance_sync_job_event_uniq", indexes, "the unique indexes serving backend lookups stay")
        self.assertIn("finance_sync_job_document_sequence_uniq", indexes)


@tagged("post_install", "-at_install")
class TestSettingsPage(TransactionCase):
    def test_every_setting_shows_all_its_words_and_links_to_the_backends(self):
        """The settings renderer drops text lying bare inside a <setting> (a unit such as "days"
        vanished that way): every word of the module's settings sits in an element."""
        from lxml import etree

        view = self.env.ref("finance_sync.res_config_settings_view_form")
        arch = etree.fromstring(view.arch)
        settings = arch.xpath("//app[@name='finance_sync']//setting")
        self.assertTrue(settings)
        for setting in settings:
            texts = [setting.text, *(child.tail for child in setting)]
            bare = [text.strip() for text in texts if text and text.strip()]
            self.assertFalse(bare, f"bare text in the setting {setting.get('string')!r}")
        action = self.env.ref("finance_sync.finance_sync_backend_action")
        self.assertTrue(arch.xpath(f"//setting//button[@type='action'][@name='{action.id}']"))
        self.assertTrue(
            arch.xpath("//field[@name='finance_sync_retention_days']/following-sibling::span[text()='days']")
        )

    def test_every_list_of_the_module_explains_itself_when_empty(self):
        """Each window action of the module over its own records has a help text for its empty
        state (Odoo's fallback is a bare 'Create new document')."""
        actions = self.env["ir.actions.act_window"].search([("res_model", "=like", "finance.sync.%")])
        xmlids = actions.get_external_id()
        owned = actions.filtered(lambda a: xmlids[a.id].startswith("finance_sync."))
        self.assertGreaterEqual(len(owned), 7)
        self.assertFalse(owned.filtered(lambda a: not a.help).mapped("name"))


@tagged("post_install", "-at_install")
class TestBackendFormBeforeSave(TransactionCase):
    def test_a_new_backend_shows_no_runtime_data_and_no_inbound_url_yet(self):
        """A new, unsaved backend has no jobs, circuit or last success to show, and its inbound
        token changes on save: the form hides them until the record exists (evaluated as the
        web client does, on the values of a new record)."""
        from lxml import etree

        from odoo.tools.safe_eval import safe_eval

        Backend = self.env["finance.sync.backend"]
        arch = etree.fromstring(self.env.ref("finance_sync.finance_sync_backend_view_form").arch)
        new = dict(Backend.default_get(list(Backend._fields)), id=False, active=True)
        saved = dict(new, id=1, state="active", circuit_state="closed")
        values = dict.fromkeys(Backend._fields, False) | {"context": {}}
        runtime = [
            arch.xpath("//div[@name='button_box']")[0],
            arch.xpath("//group[@name='runtime']")[0],
            arch.xpath("//field[@name='webhook_token']")[0],
            arch.xpath("//field[@name='inbound_url']")[0],
        ]
        for node in runtime:
            self.assertTrue(safe_eval(node.get("invisible"), values | new), node.get("name"))
            self.assertFalse(safe_eval(node.get("invisible"), values | saved), node.get("name"))
        ribbons = {node.get("title"): node.get("invisible") for node in arch.xpath("//widget[@name='web_ribbon']")}

        def shown(environment):
            record = values | saved | {"environment": environment}
            return {title for title, expr in ribbons.items() if not safe_eval(expr, record)}

        self.assertEqual(shown("test"), {"Test"})
        self.assertEqual(shown("production"), set())

    def test_every_field_of_the_backend_form_explains_itself(self):
        """Every field a person sees on the backend form has a help text (its tooltip)."""
        from lxml import etree

        Backend = self.env["finance.sync.backend"]
        arch = etree.fromstring(self.env.ref("finance_sync.finance_sync_backend_view_form").arch)
        shown = {
            node.get("name")
            for node in arch.xpath("//sheet//field[not(ancestor::field)]")
            if node.get("invisible") not in ("1", "True") and node.get("widget") != "statinfo"
        }
        described = Backend.fields_get(list(shown), ["help"])
        self.assertFalse(sorted(name for name in shown - {"name"} if not described[name].get("help")))


@tagged("post_install", "-at_install")
class TestUpgradeToCodesAndFields(FinanceSyncCase):
    def test_upgrade_fills_the_fields_that_replace_parsing_fingerprints_and_keeps_old_messages(self):
        partner = self.partner_a
        invoice = self._create_invoice(post=True)
        exc = self.env["finance.sync.exception"]._open_or_bump(
            self.backend, "missing_mapping", "no code", document=invoice, mapping=("partner", partner.id)
        )
        other = self.env["finance.sync.exception"]._open_or_bump(self.backend, "transport", "down", fingerprint_key="t")
        event = (
            self.env["finance.sync.inbound.event"]
            .sudo()
            .create(
                {
                    "backend_id": self.backend.id,
                    "company_id": self.company.id,
                    "webhook_id": "msg_migrated",
                    "event_type": "invoice.status",
                    "move_id": invoice.id,
                }
            )
        )
        self.env.flush_all()
        # As a database of the previous version has them: the fingerprint only, no reference.
        self.env.cr.execute(
            "UPDATE finance_sync_exception SET mapping_kind = NULL, mapping_res_id = NULL WHERE id IN %s",
            [(exc.id, other.id)],
        )
        self.env.cr.execute(
            "UPDATE finance_sync_inbound_event SET res_model = NULL, res_id = NULL WHERE id = %s", [event.id]
        )
        # ... and messages stored as sentences, in the language of whoever caused them.
        self.env.cr.execute("ALTER TABLE finance_sync_exception ADD COLUMN message text")
        self.env.cr.execute(
            """UPDATE finance_sync_exception SET message = 'Plateforme injoignable',
                      message_code = NULL, message_params = NULL WHERE id = %s""",
            [other.id],
        )
        self.env.invalidate_all()

        load_migration("19.0.1.1.1").migrate(self.env.cr, "19.0.1.1.0")
        self.env.invalidate_all()

        self.assertEqual((exc.mapping_kind, exc.mapping_res_id), ("partner", partner.id))
        self.assertEqual((other.mapping_kind, other.mapping_res_id), (False, 0))
        self.assertEqual((event.res_model, event.res_id), ("account.move", invoice.id))
        self.assertEqual((other.message_code, other.message_params), (False, {"detail": "Plateforme injoignable"}))
        self.assertEqual(other.message, "Plateforme injoignable", "shown as it was written")
        self.assertEqual(exc.message_params, {"detail": "no code"}, "messages stored as codes are left alone")
        self.assertFalse(sql.column_exists(self.env.cr, "finance_sync_exception", "message"))


@tagged("post_install", "-at_install")
class TestPhone(TransactionCase):
    def test_exceptions_open_as_cards_on_a_phone(self):
        """On a small screen the web client opens an action's mobile view mode: the exceptions
        have a kanban for it, whose cards carry what the list shows."""
        action = self.env.ref("finance_sync.finance_sync_exception_action")
        self.assertEqual(action.mobile_view_mode, "kanban")
        self.assertIn("kanban", action.view_mode.split(","))
        arch = self.env["finance.sync.exception"].get_view(view_type="kanban")["arch"]
        for fname in ("name", "state", "backend_id", "category", "last_seen", "occurrence_count"):
            self.assertIn(f'name="{fname}"', arch, fname)
