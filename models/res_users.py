from odoo import models


class ResUsers(models.Model):
    """The activities menu knows which backends hold the user's to-dos, so that a *Sync failing*
    to-do opens its own backend's form when there is one (static/src/activity_menu)."""

    _inherit = "res.users"

    def _get_activity_groups(self):
        groups = super()._get_activity_groups()
        for group in groups:
            if group.get("model") == "finance.sync.backend":
                activities = self.env["mail.activity"].search(
                    [("user_id", "=", self.env.uid), ("res_model", "=", "finance.sync.backend")]
                )
                backends = self.env["finance.sync.backend"].browse(set(activities.mapped("res_id"))).exists()
                group["finance_sync_backend_ids"] = backends._filtered_access("read").ids
        return groups
