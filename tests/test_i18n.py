"""The translation template shipped in i18n/ is what Odoo exports from the code today."""

import io
import pathlib
import re

from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import trans_export

POT = pathlib.Path(__file__).parent.parent / "i18n" / "finance_sync.pot"
DATES = re.compile(r'^"(POT-Creation-Date|PO-Revision-Date): .*\\n"$', re.MULTILINE)


def without_dates(text):
    return DATES.sub("", text)


@tagged("post_install", "-at_install")
class TestTranslationTemplate(TransactionCase):
    def test_the_pot_file_is_current(self):
        buffer = io.BytesIO()
        self.assertTrue(trans_export(False, ["finance_sync"], buffer, "po", self.env))
        exported = buffer.getvalue().decode("utf-8")
        self.assertIn('msgid "Finance Sync"', exported, "the export holds the module's terms")
        self.assertEqual(
            without_dates(POT.read_text(encoding="utf-8")),
            without_dates(exported),
            "i18n/finance_sync.pot is out of date: export it again (docs/development.md, Translations)",
        )
