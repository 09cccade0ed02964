"""An event that waits for its partner's master data keeps the partner's id as a plain number
(``depends_on_partner``) instead of a link (``depends_on_partner_id``). A link is a foreign key:
Odoo's partner merge re-points every foreign key to the surviving partner, which let a document
overtake its merged partner's pending event, and inserting a row that references another one
takes a lock on it. The column keeps its values under its new name; its foreign key and index go
(the field of the old name is computed now, for display)."""


def migrate(cr, version):
    cr.execute(
        """SELECT 1 FROM information_schema.columns
            WHERE table_name = 'finance_sync_job' AND column_name = 'depends_on_partner_id'"""
    )
    if not cr.fetchone():
        return
    cr.execute("ALTER TABLE finance_sync_job DROP CONSTRAINT IF EXISTS finance_sync_job_depends_on_partner_id_fkey")
    cr.execute("DELETE FROM ir_model_constraint WHERE name = 'finance_sync_job_depends_on_partner_id_fkey'")
    cr.execute("DROP INDEX IF EXISTS finance_sync_job__depends_on_partner_id_index")
    cr.execute("ALTER TABLE finance_sync_job RENAME COLUMN depends_on_partner_id TO depends_on_partner")
