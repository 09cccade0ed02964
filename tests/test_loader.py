"""Odoo's own test runner finds every test module, as pytest does."""

import ast
import pathlib

from odoo.tests import TransactionCase, tagged
from odoo.tests.loader import get_test_modules


@tagged("post_install", "-at_install")
class TestOdooRunnerFindsTheSuite(TransactionCase):
    def test_odoos_loader_returns_every_test_module(self):
        found = {module.__name__.rpartition(".")[2] for module in get_test_modules("finance_sync")}
        on_disk = {path.stem for path in pathlib.Path(__file__).parent.glob("test_*.py")}
        self.assertIn("test_loader", on_disk)
        self.assertEqual(found, on_disk, "tests/__init__.py must import every test module")
        # Under pytest a module this process imported already is an attribute of the package,
        # whatever tests/__init__.py says: read what the file itself imports.
        package = pathlib.Path(__file__).with_name("__init__.py")
        imported = {
            alias.name
            for node in ast.parse(package.read_text()).body
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        self.assertEqual(imported, on_disk, "tests/__init__.py must import every test module")
