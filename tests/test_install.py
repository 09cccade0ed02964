"""The addon installs, uninstalls cleanly, and its security skeleton holds."""

import os
import subprocess
import sys
import uuid

import odoo
from odoo.exceptions import AccessError
from odoo.tests import TransactionCase, tagged
from odoo.tools import config


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
