from odoo import api, fields, models

from .. import const
from ..utils import check_guarded_fields

# What a deletion changes, named in its refusal.
FIGURES = ("odoo_count", "odoo_amount", "platform_count", "platform_amount")


class FinanceSyncReconciliationLine(models.Model):
    """One control total of a reconciliation: an event type in a currency, as Odoo delivered it
    and as the platform reported it. Written by the reconciliation's own methods alone (created,
    replaced and deleted with each report): no one else creates, changes, copies or deletes one,
    administrators included. Its amounts are for display; the comparison is made on decimals
    (``finance.sync.reconciliation._totals``)."""

    _name = "finance.sync.reconciliation.line"
    _description = "Finance Sync Reconciliation Control Total"
    _order = "reconciliation_id, event_type, currency_code"

    reconciliation_id = fields.Many2one(
        "finance.sync.reconciliation", required=True, ondelete="cascade", index=True, readonly=True
    )
    company_id = fields.Many2one(related="reconciliation_id.company_id", store=True)
    event_type = fields.Char(
        string="Event type", required=True, readonly=True, help="Event type, as sent (invoice.posted, ...)."
    )
    event_label = fields.Char("Event", compute="_compute_event_label")
    currency_code = fields.Char("Currency", readonly=True)
    currency_id = fields.Many2one("res.currency", "Currency (record)", readonly=True)
    odoo_count = fields.Integer("Odoo count", readonly=True)
    odoo_amount = fields.Monetary("Odoo amount", readonly=True)
    platform_count = fields.Integer("Platform count", readonly=True)
    platform_amount = fields.Monetary("Platform amount", readonly=True)
    differs = fields.Boolean(readonly=True, help="The platform reported other figures than Odoo delivered.")

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        # Data files (run as the superuser) may load recorded totals (demo), as reconciliations.
        if not self.env.su:
            for vals in vals_list:
                check_guarded_fields(self, {"reconciliation_id", *vals})
        return super().create(vals_list)

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    def unlink(self):
        check_guarded_fields(self, FIGURES)
        return super().unlink()

    def _compute_event_label(self):
        labels = dict(const.EVENT_TYPES)
        for line in self:
            line.event_label = labels.get(line.event_type, line.event_type)
