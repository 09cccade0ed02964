from odoo import models

from ..utils import credit_override_of


class ValidateAccountMove(models.TransientModel):
    _inherit = "validate.account.move"

    def validate_move(self):
        """*Confirm entries* with invoices of customers on credit hold among them: the override
        wizard asks for the reason first, then finishes this confirmation with its options."""
        if self.move_ids._finance_sync_credit_held() and not credit_override_of(self.env):
            self.ensure_one()
            return self.env["account.move"]._finance_sync_credit_hold_action(self.move_ids, validate_wizard=self)
        return super().validate_move()
