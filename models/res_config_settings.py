from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from .. import const
from ..engine import metrics as metrics_lib
from ..utils import secret_box


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
    finance_sync_dispatcher_workers = fields.Integer(
        "Dispatcher workers",
        default=const.DEFAULT_DISPATCHER_WORKERS,
        help="Dispatcher crons that send in parallel, each in a cron thread of any Odoo server on this database. "
        "Add cron threads (--max-cron-threads) or Odoo servers to give them room to run.",
    )
    finance_sync_delivery_sla_minutes = fields.Integer(
        "Deliver within (minutes)",
        config_parameter=const.PARAM_DELIVERY_SLA_MINUTES,
        default=0,
        help="Events of documents not delivered this long after posting open one Late delivery exception per "
        "backend, resolved by itself once they are delivered. 0 turns the check off.",
    )
    finance_sync_metrics_token = fields.Char(
        "Metrics token",
        groups="base.group_system",
        help="Bearer token of GET /finance_sync/metrics (Prometheus): at least 32 characters, random (Generate "
        "makes one). Write-only: leave empty to keep the current one. Stored encrypted.",
    )
    finance_sync_metrics_token_set = fields.Boolean("Metrics token set", compute="_compute_metrics_token_set")

    def _compute_metrics_token_set(self):
        is_set = bool(self.env["ir.config_parameter"].sudo().get_param(const.PARAM_METRICS_TOKEN))
        for settings in self:
            settings.finance_sync_metrics_token_set = is_set

    # The worker crons themselves are the setting: no parameter to drift from them.
    @api.model
    def get_values(self):
        res = super().get_values()
        res["finance_sync_dispatcher_workers"] = len(self.env["finance.sync.dispatcher"]._get_worker_crons()) or 1
        return res

    def set_values(self):
        token = self.finance_sync_metrics_token or ""
        if token:
            self._check_metrics_token(token)
        res = super().set_values()
        if self.env.user.has_group("base.group_system"):
            self.env["finance.sync.dispatcher"]._set_worker_count(self.finance_sync_dispatcher_workers)
            if token:
                self._store_metrics_token(token)
                self.finance_sync_metrics_token = False
                self.invalidate_recordset(["finance_sync_metrics_token_set"])
        return res

    def action_finance_sync_generate_metrics_token(self):
        """Replace the metrics token with a random one and show it once (system administrators):
        the monitoring system needs it; it is not shown again."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("Only system administrators may set the metrics token."))
        token = metrics_lib.generate_token()
        self._store_metrics_token(token)
        self.invalidate_recordset(["finance_sync_metrics_token_set"])  # the form says "set" at once
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("New metrics token"),
                "message": self.env._(
                    "Give this bearer token to the monitoring system now; it is not shown again: %s", token
                ),
                "type": "warning",
                "sticky": True,
            },
        }

    @api.model
    def _check_metrics_token(self, token):
        """Raise ValidationError, saying why, when ``token`` is too weak to guard the metrics."""
        problem = metrics_lib.token_problem(token)
        reasons = {
            "short": self.env._("it has %(length)s characters; it needs at least %(min)s."),
            "spaces": self.env._("it holds spaces or control characters, which a bearer token cannot carry."),
            "weak": self.env._("it repeats too few different characters to be guessed only by chance."),
        }
        if problem:
            reason = reasons[problem] % {"length": len(token), "min": metrics_lib.TOKEN_MIN_LENGTH}
            raise ValidationError(
                self.env._(
                    "Metrics token refused: %s Type a long random token, or press Generate to have one made.",
                    reason,
                )
            )

    def _store_metrics_token(self, token):
        self._check_metrics_token(token)
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_METRICS_TOKEN, secret_box(self.env).encrypt(token))
