from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .. import const
from .finance_sync_backend import PAYMENT_AUTHORITY_SECRETS, SECRET_FIELDS


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

    # === SEGREGATION OF DUTIES: a credit authority's secrets are guarded like a payment authority's === #

    def _get_payment_authority_changes(self, vals):
        """Whoever knows a credit authority's secrets can sign credit decisions: changing them needs
        the same rights as for a payment authority."""
        changes = super()._get_payment_authority_changes(vals)
        for backend in self:
            if not (backend.credit_authority or vals.get("credit_authority")):
                continue
            if backend.payment_authority or vals.get("payment_authority"):
                continue  # already counted
            fnames = [
                fname
                for fname in PAYMENT_AUTHORITY_SECRETS
                if fname in vals and (vals[fname] if fname in SECRET_FIELDS else backend._differs(fname, vals))
            ]
            if fnames:
                changes.setdefault(backend, []).extend(self._fields[fname].string for fname in fnames)
        return changes

    def action_regenerate_webhook_token(self):
        if self.filtered("credit_authority"):
            self._check_payment_authority_rights()
        return super().action_regenerate_webhook_token()

    def action_reveal_signing_secret(self):
        if self.filtered("credit_authority"):
            self._check_payment_authority_rights()
        return super().action_reveal_signing_secret()
