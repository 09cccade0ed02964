from odoo import fields, models


class FinanceSyncJobCancel(models.TransientModel):
    _name = "finance.sync.job.cancel"
    _description = "Cancel Finance Sync Jobs"

    reason = fields.Text(required=True)

    def action_confirm(self):
        jobs = self.env["finance.sync.job"].browse(self.env.context.get("active_ids", []))
        jobs._cancel(self.reason)
        return {"type": "ir.actions.act_window_close"}
