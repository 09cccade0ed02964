from odoo import fields, models
from odoo.exceptions import UserError

from .. import const
from ..utils import approval_override, credit_override


class FinanceSyncApprovalOverride(models.TransientModel):
    """Post documents their platform has not approved: an accounting administrator says why.
    The posting itself (``account.move._post``) records, on each such document, who overrode
    the approval and the reason; nothing else lets such a document be posted. A customer
    invoice whose customer is also on credit hold needs the second reason too."""

    _name = "finance.sync.approval.override"
    _description = "Finance Sync: post before the platform's approval"

    move_ids = fields.Many2many("account.move", string="Documents", readonly=True)
    waiting_move_ids = fields.Many2many(
        "account.move", compute="_compute_waiting_move_ids", string="Waiting for approval"
    )
    held_move_ids = fields.Many2many(
        "account.move", compute="_compute_waiting_move_ids", string="Customer on credit hold"
    )
    validate_wizard_id = fields.Many2one(
        "validate.account.move",
        readonly=True,
        ondelete="cascade",
        help="The Confirm entries wizard these documents come from: its options apply to the posting.",
    )
    reason = fields.Text(required=True, help="Why these documents are posted before their platform approved them.")
    credit_reason = fields.Text(
        "Credit hold reason", help="Why the invoices of customers on credit hold among them are posted anyway."
    )

    def _compute_waiting_move_ids(self):
        for wizard in self:
            wizard.waiting_move_ids = wizard.move_ids._finance_sync_unapproved()
            wizard.held_move_ids = wizard.move_ids._finance_sync_credit_held()

    def action_confirm(self):
        self.ensure_one()
        if not self.env.user.has_group(const.APPROVAL_OVERRIDE_GROUP):
            raise UserError(self.env["account.move"]._finance_sync_unapproved_error(self.waiting_move_ids))
        reason = (self.reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why these documents are posted before the platform's approval."))
        target = self.validate_wizard_id or self.move_ids
        target = approval_override(target, reason)
        if self.held_move_ids:
            credit_reason = (self.credit_reason or "").strip()
            if not credit_reason:
                raise UserError(self.env._("Say also why the credit hold is overridden."))
            target = credit_override(target, credit_reason)
        result = target.validate_move() if self.validate_wizard_id else target.action_post()
        return result if isinstance(result, dict) else {"type": "ir.actions.act_window_close"}
