from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    # Payments, reconciliations and reversals change what customers owe: their credit exposure
    # is captured before the transaction commits (res.partner._finance_sync_note_exposure). They
    # also change what a payment settles: its status and allocations are compared with what each
    # platform last heard before the transaction commits (account.payment._finance_sync_note_changes).

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        partials._finance_sync_note_exposure()
        partials._finance_sync_note_payments()
        return partials

    def unlink(self):
        self._finance_sync_note_exposure()
        self._finance_sync_note_payments()
        return super().unlink()

    def _finance_sync_note_exposure(self):
        if not self or not self.env["res.partner"]._finance_sync_master_data_enabled():
            return
        lines = (self.debit_move_id | self.credit_move_id).filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        lines.partner_id._finance_sync_note_exposure()

    def _finance_sync_note_payments(self):
        (self.debit_move_id | self.credit_move_id).sudo().move_id.origin_payment_id._finance_sync_note_changes()
