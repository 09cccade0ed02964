from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .. import const
from ..utils import without_context_defaults


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

    @api.model
    def default_get(self, fields):
        # A context default never makes a platform the credit authority (see create).
        return super(FinanceSyncBackend, without_context_defaults(self, {"credit_authority"})).default_get(fields)

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("credit_authority") for vals in vals_list):
            self._check_payment_authority_rights()
        backends = super().create(vals_list)
        for backend in backends.filtered("credit_authority"):
            backend._post_security_change(self.env._("created this backend as a credit authority"))
        return backends

    def write(self, vals):
        changed = self.filtered(
            lambda b: "credit_authority" in vals and b.credit_authority != bool(vals["credit_authority"])
        )
        if changed:
            # Credit limits and holds decide who may buy on credit: the same people who may make a
            # platform the payment authority decide which platform sets them.
            self._check_payment_authority_rights()
        res = super().write(vals)
        for backend in changed:
            backend._post_security_change(self.env._("changed Credit authority"), notify=True)
        return res

    # === SEGREGATION OF DUTIES === #

    def _is_authority(self, vals=None):
        """Whoever knows a credit authority's secrets can sign credit decisions: they are guarded
        like a payment authority's."""
        return super()._is_authority(vals) or bool(self.credit_authority or (vals or {}).get("credit_authority"))
