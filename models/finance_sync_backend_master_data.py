from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .. import const


class FinanceSyncBackend(models.Model):
    """Master data and credit settings of a backend: whether it receives customers and suppliers
    (and their credit exposure), and whether its credit decisions apply in Odoo."""

    _inherit = "finance.sync.backend"

    send_master_data = fields.Boolean(
        "Master data",
        tracking=True,
        help="Customers and suppliers (partner.upserted when they change, partner.merged, archiving) and the "
        "customers' credit exposure (partner.exposure). A document's partner is always delivered before the "
        "document itself.",
    )
    exposure_interval = fields.Integer(
        "Exposure interval (min)",
        default=const.DEFAULT_EXPOSURE_INTERVAL_MINUTES,
        tracking=True,
        help="At most one credit exposure event per customer this often; each carries the figures of the "
        "moment it is rendered, just before it is sent.",
    )
    credit_authority = fields.Boolean(
        "Credit authority",
        tracking=True,
        help="The platform decides customers' credit: its partner.credit events set the credit limit and the "
        "credit hold in Odoo. Only accounting administrators may change this.",
    )

    _exposure_interval_positive = models.Constraint(
        "CHECK(exposure_interval >= 0)", "The exposure interval cannot be negative."
    )

    @api.constrains("send_master_data", "transport")
    def _check_master_data_transport(self):
        if self.filtered(lambda b: b.send_master_data and b.transport == "warehouse"):
            raise ValidationError(
                self.env._("The warehouse stores documents only: master data goes to webhook platforms.")
            )
