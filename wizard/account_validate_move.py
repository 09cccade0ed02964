from odoo import models

from ..utils import approval_override_of, credit_override_of


class ValidateAccountMove(models.TransientModel):
    _inherit = "validate.account.move"

    def validate_move(self):
        """*Confirm entries* with documents their platform has not approved, or invoices of
        customers on credit hold, among them: the override wizard asks for the reason first
        (for both at once when both apply), then finishes this confirmation with its options."""
        Move = self.env["account.move"]
        if self.move_ids._finance_sync_unapproved() and not approval_override_of(self.env):
            self.ensure_one()
            return Move._finance_sync_approval_action(self.move_ids, validate_wizard=self)
        if self.move_ids._finance_sync_credit_held() and not credit_override_of(self.env):
            self.ensure_one()
            return Move._finance_sync_credit_hold_action(self.move_ids, validate_wizard=self)
        return super().validate_move()
