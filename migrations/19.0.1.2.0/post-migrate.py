"""Jobs record their document's amount, currency and accounting date when they are captured, so
that a reconciliation's control totals are one grouped query over the outbox: fill the three
columns of the jobs captured before, from their captured payloads, so that periods before the
upgrade can be reconciled too."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["finance.sync.reconciliation"]._fill_job_figures()
