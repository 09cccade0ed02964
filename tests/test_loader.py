"""Odoo's own test runner finds every test module, as pytest does."""

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
