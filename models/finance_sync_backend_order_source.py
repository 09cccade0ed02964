"""A backend as an *Order source*: its platform (a CRM, a subscription platform) creates sales
orders in Odoo (``order.create``) and reports its won deals (``deals.report``).

Sales orders belong to Odoo's *Sales* app, which this module does not depend on: everything that
touches ``sale.order`` runs only while that model exists (``"sale.order" in env``), and the
webhook refuses both events while it does not (``_may_receive``). Making a backend an order
source, and its confirmation policy, is an accounting administrator's decision, guarded by the
backend's one guard (``AUTHORITY_FIELDS``)."""

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import const


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

    order_source = fields.Boolean(
        "Creates sales orders",
        tracking=True,
        help="The platform (a CRM or subscription platform) may create sales orders in Odoo (order.create), once "
        "per external id, and report its won deals (deals.report). Needs Odoo's Sales app. Only accounting "
        "administrators may change this.",
    )
    order_confirm_policy = fields.Selection(
        const.ORDER_CONFIRM_POLICIES,
        "Created orders",
        default="quotation",
        required=True,
        tracking=True,
        help="Keep as quotation: a salesperson confirms it. Confirm the order: confirmed when created, unless "
        "Odoo's totals differ from the platform's (then it stays a quotation, with an exception).",
    )
    created_order_count = fields.Integer(compute="_compute_created_order_count")

    # === COMPUTE METHODS === #

    def _compute_created_order_count(self):
        counts = dict(
            self.env["finance.sync.binding"]._read_group(
                [("backend_id", "in", self.ids), ("res_model", "=", "sale.order")], ["backend_id"], ["__count"]
            )
        )
        for backend in self:
            backend.created_order_count = counts.get(backend, 0)

    # === ACTION METHODS === #

    def action_view_created_orders(self):
        """The sales orders this backend's platform created (Sales installed only)."""
        self.ensure_one()
        if not self._sales_installed():
            raise UserError(self.env._("Install Odoo's Sales app to see the orders a platform created."))
        bindings = self.env["finance.sync.binding"].search(
            [("backend_id", "=", self.id), ("res_model", "=", "sale.order")]
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Orders created by %s", self.name),
            "res_model": "sale.order",
            "view_mode": "list,form",
            "domain": [("id", "in", bindings.mapped("res_id"))],
            "context": {"create": False},
        }

    # === BUSINESS METHODS === #

    @api.model
    def _sales_installed(self):
        """Whether Odoo's Sales app is installed (its model is in the registry)."""
        return "sale.order" in self.env
