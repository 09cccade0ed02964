from odoo import fields, models

from .. import const


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    finance_sync_retention_days = fields.Integer(
        "Keep finished sync records (days)",
        config_parameter=const.PARAM_RETENTION_DAYS,
        default=const.DEFAULT_RETENTION_DAYS,
        help="Delivered and cancelled jobs, their attempt logs and processed inbound events older than this "
        "are purged every night. 0 keeps everything. Unresolved exceptions and their jobs are always kept.",
    )
    finance_sync_default_user_id = fields.Many2one(
        "res.users",
        "Default responsible",
        config_parameter=const.PARAM_DEFAULT_USER,
        domain=[("share", "=", False)],
        help="Gets the activities (blocking sync exceptions, failing backends) of backends without a responsible.",
    )
    finance_sync_alert_backlog = fields.Integer(
        "Backlog alert (jobs)",
        config_parameter=const.PARAM_ALERT_BACKLOG,
        default=const.DEFAULT_ALERT_BACKLOG,
        help="A backend with more pending jobs than this shows as failing on the dashboard and its responsible "
        "gets an activity.",
    )
    finance_sync_alert_age_minutes = fields.Integer(
        "Oldest pending alert (minutes)",
        config_parameter=const.PARAM_ALERT_AGE_MINUTES,
        default=const.DEFAULT_ALERT_AGE_MINUTES,
        help="A backend whose oldest pending job waits longer than this shows as failing on the dashboard and its "
        "responsible gets an activity.",
    )
