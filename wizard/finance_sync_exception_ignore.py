from odoo import fields, models


class FinanceSyncExceptionIgnore(models.TransientModel):
    _name = "finance.sync.exception.ignore"
    _description = "Ignore Finance Sync Exceptions"

    reason = fields.Text(required=True)

    def action_confirm(self):
        exceptions = self.env["finance.sync.exception"].browse(self.env.context.get("active_ids", []))
        exceptions._ignore(self.reason)
        return {"type": "ir.actions.act_window_close"}
