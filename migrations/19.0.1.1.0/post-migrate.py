"""Retention moved to Odoo's garbage collection (``@api.autovacuum``): the two purge crons go
(Odoo keeps records of ``noupdate`` data that the module stops declaring).

Drop the single-column indexes the models no longer declare (Odoo keeps an index a field
stops asking for): the outbox's backend and company, the attempt log's backend. Composite
indexes leading with the backend serve those lookups, and every index costs a write per job
captured, claimed and delivered."""

from odoo import SUPERUSER_ID, api
from odoo.tools import sql

OBSOLETE = {
    "finance_sync_job": ("finance_sync_job__backend_id_index", "finance_sync_job__company_id_index"),
    "finance_sync_attempt": ("finance_sync_attempt__backend_id_index",),
}

OBSOLETE_CRONS = ("finance_sync.ir_cron_purge_jobs", "finance_sync.ir_cron_inbound_purge")


def migrate(cr, version):
    for table, indexes in OBSOLETE.items():
        for index in indexes:
            sql.drop_index(cr, index, table)
    env = api.Environment(cr, SUPERUSER_ID, {})
    for xmlid in OBSOLETE_CRONS:
        cron = env.ref(xmlid, raise_if_not_found=False)
        if cron:
            cron.unlink()
