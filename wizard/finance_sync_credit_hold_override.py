from markupsafe import Markup

from odoo import fields, models
from odoo.exceptions import UserError


class FinanceSyncCreditHoldOverride(models.TransientModel):
    """Post invoices of customers on credit hold anyway: the user says why, and each invoice's
    chatter records who overrode the hold, the platform's reason and the user's."""

    _name = "finance.sync.credit.hold.override"
    _description = "Finance Sync: override a credit hold"

    move_ids = fields.Many2many("account.move", string="Invoices", readonly=True)
    held_move_ids = fields.Many2many("account.move", compute="_compute_held_move_ids", string="Held invoices")
    reason = fields.Text(required=True, help="Why these invoices are posted although the customer is on credit hold.")

    def _compute_held_move_ids(self):
        for wizard in self:
            wizard.held_move_ids = wizard.move_ids._finance_sync_credit_held()

    def action_confirm(self):
        self.ensure_one()
        reason = (self.reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why the credit hold is overridden."))
        held = self.move_ids._finance_sync_credit_held()
        self.move_ids.with_context(finance_sync_credit_override=True).action_post()
        for move in held:
            move.message_post(
                body=Markup("%s<br/>%s")
                % (
                    self.env._(
                        "%(user)s posted this invoice although %(customer)s is on credit hold (%(hold)s).",
                        user=self.env.user.name,
                        customer=move.commercial_partner_id.display_name,
                        hold=move.finance_sync_credit_hold_reason or self.env._("no reason given"),
                    ),
                    self.env._("Reason: %s", reason),
                ),
                subtype_xmlid="mail.mt_note",
            )
        return {"type": "ir.actions.act_window_close"}
