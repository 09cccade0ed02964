import logging

from odoo import api, fields, models

_logger = logging.getLogger(__name__)


class FinanceSyncBackend(models.Model):
    """A connection to one external platform (BI warehouse, treasury engine, billing
    or payment platform, middleware) that receives this company's finance events."""

    _name = "finance.sync.backend"
    _description = "Finance Sync Backend"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "sequence, name, id"

    name = fields.Char(required=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_ids = fields.Many2many(
        "res.company",
        string="Companies",
        required=True,
        default=lambda self: self.env.company,
        tracking=True,
        help="Documents of these companies are sent to this platform; no other company's.",
    )
    environment = fields.Selection(
        [("production", "Production"), ("staging", "Staging"), ("test", "Test")],
        required=True,
        default="test",
        tracking=True,
    )
    state = fields.Selection(
        [("draft", "Draft"), ("active", "Active"), ("paused", "Paused")],
        required=True,
        default="draft",
        tracking=True,
        copy=False,
    )
    user_id = fields.Many2one(
        "res.users",
        string="Responsible",
        default=lambda self: self.env.user,
        tracking=True,
        help="Gets an activity when a blocking sync exception is raised for this backend.",
    )

    # === ACTION METHODS === #

    def action_activate(self):
        self.state = "active"

    def action_pause(self):
        self.state = "paused"

    @api.model
    def _get_active_backends(self, company):
        return self.search([("state", "=", "active"), ("company_ids", "in", company.ids)])
