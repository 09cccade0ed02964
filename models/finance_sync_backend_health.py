from datetime import timedelta

from odoo import api, fields, models

from .. import const

HEALTH_ACTIVITY_TYPE = "finance_sync.mail_activity_type_health_alert"
# Attempt outcomes that count as failures on the dashboard.
FAILED_OUTCOMES = ("retry", "gave_up", "failed", "pause")


class FinanceSyncBackend(models.Model):
    """A backend's health, as the dashboard and the alerting cron see it: job counts, failures
    of the last day, open exceptions, and whether it is failing by the thresholds of Settings.
    Computed in a fixed number of queries for any number of backends."""

    _inherit = "finance.sync.backend"

    job_count = fields.Integer(compute="_compute_job_stats")
    pending_count = fields.Integer(compute="_compute_job_stats")
    failed_count = fields.Integer(compute="_compute_job_stats")
    # --- health (dashboard) ---------------------------------------------------------------
    failures_24h = fields.Integer("Failures (24 h)", compute="_compute_health")
    oldest_pending_at = fields.Datetime("Oldest pending since", compute="_compute_job_stats")
    oldest_pending_minutes = fields.Integer("Oldest pending (min)", compute="_compute_job_stats")
    open_exception_count = fields.Integer("Open exceptions", compute="_compute_health")
    health = fields.Selection(
        [("inactive", "Not active"), ("ok", "Healthy"), ("warning", "Needs attention"), ("critical", "Failing")],
        compute="_compute_health",
        help="Failing: circuit open, or backlog / oldest pending job above the alert thresholds in Settings. "
        "Needs attention: open exceptions or failures in the last 24 hours, or paused. "
        "Not active: a draft backend, which sends and receives nothing.",
    )
    last_success_ago = fields.Char("Last success", compute="_compute_last_success_ago")
    health_alert = fields.Char("Why failing", compute="_compute_health")

    # === COMPUTE METHODS === #

    def _compute_job_stats(self):
        """Job counts per state and the oldest pending job, for all backends in one query."""
        groups = self.env["finance.sync.job"]._read_group(
            [("backend_id", "in", self._origin.ids)], ["backend_id", "state"], ["__count", "create_date:min"]
        )
        counts, oldest = {}, {}
        for backend, state, count, first_created in groups:
            counts[backend.id, state] = count
            if state == "pending":
                oldest[backend.id] = first_created
        now = fields.Datetime.now()
        for backend in self:
            bid = backend._origin.id
            backend.job_count = sum(c for (b, _s), c in counts.items() if b == bid)
            backend.pending_count = counts.get((bid, "pending"), 0)
            backend.failed_count = sum(counts.get((bid, s), 0) for s in ("failed", "dead", "blocked"))
            since = oldest.get(bid)
            backend.oldest_pending_at = since or False
            backend.oldest_pending_minutes = int((now - since).total_seconds() // 60) if since else 0

    def _compute_health(self):
        """Dashboard health of all backends in a fixed number of queries (job counts, failures,
        open exceptions, circuit), never one per backend."""
        now = fields.Datetime.now()
        ids = self._origin.ids
        failures = dict(
            self.env["finance.sync.attempt"]._read_group(
                [
                    ("backend_id", "in", ids),
                    ("outcome", "in", FAILED_OUTCOMES),
                    ("started_at", ">=", now - timedelta(hours=24)),
                ],
                ["backend_id"],
                ["__count"],
            )
        )
        exceptions = dict(
            self.env["finance.sync.exception"]._read_group(
                [("backend_id", "in", ids), ("state", "in", const.EXCEPTION_OPEN_STATES)],
                ["backend_id"],
                ["__count"],
            )
        )
        max_backlog, max_age = self._get_alert_thresholds()
        for backend in self:
            backend.failures_24h = failures.get(backend._origin, 0)
            backend.open_exception_count = exceptions.get(backend._origin, 0)
            alerts = []
            if backend.circuit_state == "open":
                alerts.append(
                    self.env._("the circuit is open after %s consecutive failures", backend.consecutive_failures)
                )
            if backend.state == "active" and backend.pending_count > max_backlog:
                alerts.append(
                    self.env._(
                        "%(n)s jobs wait to be sent (alert above %(max)s)", n=backend.pending_count, max=max_backlog
                    )
                )
            if backend.state == "active" and backend.oldest_pending_minutes > max_age:
                alerts.append(
                    self.env._(
                        "the oldest pending job waits for %(n)s minutes (alert above %(max)s)",
                        n=backend.oldest_pending_minutes,
                        max=max_age,
                    )
                )
            if backend.state == "draft":
                backend.health = "inactive"
            elif alerts:
                backend.health = "critical"
            elif backend.open_exception_count or backend.failures_24h or backend.state == "paused":
                backend.health = "warning"
            else:
                backend.health = "ok"
            backend.health_alert = "; ".join(alerts) if alerts else False

    @api.depends("last_success_at")
    def _compute_last_success_ago(self):
        now = fields.Datetime.now()
        for backend in self:
            backend.last_success_ago = backend.last_success_at and self._time_ago(now - backend.last_success_at)

    @api.model
    def _time_ago(self, elapsed):
        """How long ago, in words ("just now", "5 min ago", "3 h ago", "2 days ago")."""
        minutes = int(elapsed.total_seconds() // 60)
        if minutes < 1:
            return self.env._("just now")
        if minutes < 60:
            return self.env._("%s min ago", minutes)
        if minutes < 48 * 60:
            return self.env._("%s h ago", minutes // 60)
        return self.env._("%s days ago", minutes // (24 * 60))

    # === ACTIONS === #

    def action_view_recent_failures(self):
        """The jobs whose delivery failed during the last 24 hours (the dashboard's count is of
        their failed attempts)."""
        self.ensure_one()
        action = self.action_view_jobs()
        action["domain"] = [
            ("backend_id", "=", self.id),
            (
                "attempt_ids",
                "any",
                [
                    ("outcome", "in", FAILED_OUTCOMES),
                    ("started_at", ">=", fields.Datetime.now() - timedelta(hours=24)),
                ],
            ),
        ]
        action["name"] = self.env._("Failed in the last 24 hours")
        return action

    @api.model
    def _get_alert_thresholds(self):
        """(backlog, oldest pending minutes) above which a backend is failing (Settings)."""
        params = self.env["ir.config_parameter"].sudo()

        def read(key, default):
            value = (params.get_param(key) or "").strip()
            return int(value) if value.isdigit() else default

        return (
            read(const.PARAM_ALERT_BACKLOG, const.DEFAULT_ALERT_BACKLOG),
            read(const.PARAM_ALERT_AGE_MINUTES, const.DEFAULT_ALERT_AGE_MINUTES),
        )

    # === ACTION METHODS === #

    def action_view_exceptions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_exception_action")
        action["domain"] = [("backend_id", "=", self.id)]
        return action

    # === CRON === #

    @api.model
    def _cron_check_health(self):
        """Alert the responsible of each backend that is failing (circuit open, or backlog or
        oldest pending job above the thresholds of Settings) with one activity on the backend
        while it lasts, marked done once the backend is back under the thresholds."""
        activity_type = self.env.ref(HEALTH_ACTIVITY_TYPE, raise_if_not_found=False)
        if not activity_type:
            return
        backends = self.sudo().search([("state", "in", ("active", "paused"))])
        alerts = (
            self.env["mail.activity"]
            .sudo()
            .search(
                [
                    ("res_model", "=", self._name),
                    ("res_id", "in", backends.ids),
                    ("activity_type_id", "=", activity_type.id),
                ]
            )
            .grouped("res_id")
        )
        default_user = self.env["finance.sync.exception"]._default_responsible()
        for backend in backends:
            alert = alerts.get(backend.id)
            if backend.health == "critical" and not alert:
                user = backend.user_id or default_user
                if user:
                    backend.activity_schedule(
                        HEALTH_ACTIVITY_TYPE,
                        summary=self.env._("Sync failing: %s", backend.name),
                        note=self.env._("%(name)s: %(why)s.", name=backend.name, why=backend.health_alert),
                        user_id=user.id,
                    )
            elif backend.health != "critical" and alert:
                alert.action_feedback(feedback=self.env._("Back under the alert thresholds."))
