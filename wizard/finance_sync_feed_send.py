from odoo import fields, models


class FinanceSyncFeedSend(models.TransientModel):
    """*Send now*: compute a feed for a chosen period and capture it, unless it is unchanged."""

    _name = "finance.sync.feed.send"
    _description = "Finance Sync: Send a Feed Now"

    feed_id = fields.Many2one("finance.sync.feed", required=True, readonly=True, ondelete="cascade")
    kind = fields.Selection(related="feed_id.kind")
    date_from = fields.Date("From", required=True, help="First day of the period.")
    date_to = fields.Date("To", required=True, help="Last day of the period (aging: the day it is as of).")

    def action_send(self):
        self.ensure_one()
        feed = self.feed_id
        feed.check_access("write")  # administrators of the feed only
        run = feed.with_company(feed.company_id)._run_period(self.date_from, self.date_to)
        if run:
            values = {
                "user": self.env.user.name,
                "period": f"{run.date_from}..{run.date_to}",
                "version": run.version,
                "rows": run.row_count,
            }
            if run.row_count == 1:
                body = self.env._("Sent by %(user)s: %(period)s, version %(version)s, 1 row.", **values)
            elif run.part_count == 1:
                body = self.env._(
                    "Sent by %(user)s: %(period)s, version %(version)s, %(rows)s rows in 1 part.", **values
                )
            else:
                body = self.env._(
                    "Sent by %(user)s: %(period)s, version %(version)s, %(rows)s rows in %(parts)s parts.",
                    parts=run.part_count,
                    **values,
                )
            feed.message_post(body=body)
            message, kind = self.env._("Version %s of the period is queued.", run.version), "success"
        else:
            message, kind = self.env._("Nothing changed since the last version sent: nothing sent."), "info"
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Send now"),
                "message": message,
                "type": kind,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
