"""Drop the single-column indexes the models no longer declare (Odoo keeps an index a field
stops asking for): the outbox's backend and company, the attempt log's backend. Composite
indexes leading with the backend serve those lookups, and every index costs a write per job
captured, claimed and delivered."""

from odoo.tools import sql

OBSOLETE = {
    "finance_sync_job": ("finance_sync_job__backend_id_index", "finance_sync_job__company_id_index"),
    "finance_sync_attempt": ("finance_sync_attempt__backend_id_index",),
}


def migrate(cr, version):
    for table, indexes in OBSOLETE.items():
        for index in indexes:
            sql.drop_index(cr, index, table)
