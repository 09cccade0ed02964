from psycopg2 import errors as pg_errors

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError

from .. import const
from ..utils import check_guarded_fields


class FinanceSyncExternalPayment(models.Model):
    """A payment a platform reported for an invoice (``payment.status`` events), one per
    (backend, platform reference). When the backend is the payment authority, the payment it
    registered in Odoo is linked here: that link is what makes registration happen once, so
    only the processing of inbound events writes these records."""

    _name = "finance.sync.external.payment"
    _description = "Finance Sync External Payment"
    _order = "date desc, id desc"
    _rec_name = "reference"
    _check_company_auto = True

    backend_id = fields.Many2one(
        "finance.sync.backend", required=True, readonly=True, index=True, ondelete="cascade", check_company=True
    )
    company_id = fields.Many2one(related="move_id.company_id", store=True, index=True)
    move_id = fields.Many2one("account.move", "Invoice", required=True, readonly=True, index=True, ondelete="cascade")
    reference = fields.Char("Platform reference", required=True, readonly=True)
    status = fields.Selection(const.EXTERNAL_PAYMENT_STATUSES, required=True, readonly=True)
    status_at = fields.Datetime("Status time", readonly=True, help="When the platform reported the latest status.")
    amount = fields.Monetary(currency_field="currency_id", readonly=True)
    currency_id = fields.Many2one("res.currency", required=True, readonly=True)
    date = fields.Date(readonly=True)
    message = fields.Text(readonly=True)
    payment_id = fields.Many2one(
        "account.payment",
        "Registered payment",
        readonly=True,
        index="btree_not_null",
        ondelete="set null",
        check_company=True,
    )

    _reference_uniq = models.UniqueIndex(
        "(backend_id, reference)", "A platform payment reference is recorded once per backend."
    )

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    @api.model
    def _create_once(self, vals):
        """Create the record of a new reference. When a concurrent transaction created the same
        one first, its row is invisible to this snapshot: let Odoo retry the whole transaction."""
        try:
            with self.env.cr.savepoint():
                record = self.create(vals)
                record.flush_recordset()
        except pg_errors.UniqueViolation as exc:
            if exc.diag.constraint_name != type(self)._reference_uniq.full_name(self):
                raise
            raise ConcurrencyError(f"payment reference {vals['reference']} recorded concurrently") from exc
        return record
