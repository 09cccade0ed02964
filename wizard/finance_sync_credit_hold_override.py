from odoo import fields, models
from odoo.exceptions import UserError

from ..utils import credit_override


class FinanceSyncCreditHoldOverride(models.TransientModel):
    """Post invoices of customers on credit hold anyway: the user says why. The posting itself
    (``account.move._post``) records, on each held invoice, who overrode the hold, the
    platform's reason and the user's; nothing else lets a held invoice be posted."""

    _name = "finance.sync.credit.hold.override"
    _description = "Finance Sync: override a credit hold"

    move_ids = fields.Many2many("account.move", string="Invoices", readonly=True)
    held_move_ids = fields.Many2many("account.move", compute="_compute_held_move_ids", string="Held invoices")
    validate_wizard_id = fields.Many2one(
        "validate.account.move",
        readonly=True,
        ondelete="cascade",
        help="The Confirm entries wizard these invoices come from: its options apply to the posting.",
    )
    reason = fields.Text(required=True, help="Why these invoices are posted although the customer is on credit hold.")

    def _compute_held_move_ids(self):
        for wizard in self:
            wizard.held_move_ids = wizard.move_ids._finance_sync_credit_held()

    def action_confirm(self):
        self.ensure_one()
        reason = (self.reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why the credit hold is overridden."))
        if self.validate_wizard_id:
            result = credit_override(self.validate_wizard_id, reason).validate_move()
        else:
            result = credit_override(self.move_ids, reason).action_post()
        return result if isinstance(result, dict) else {"type": "ir.actions.act_window_close"}
