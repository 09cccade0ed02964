"""Jobs record the number their events carry (``document.number``) beside the display name
(``document_ref``, e.g. "BILL/2026/11/0033 (SUP-0288)"), and reconciliation matches a
platform's documents on that number: fill the new column of the jobs captured before, from their
captured payloads, so that periods before the upgrade are reconciled on the right references."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["finance.sync.reconciliation"]._fill_job_numbers()
