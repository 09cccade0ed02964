"""A backend's delivery health: the limits its requests keep to (timeout, concurrency, tries, all
within the dispatcher's time budget), the pacing a platform asks for (429, Retry-After), the
circuit breaker, and health as the dashboard and the alerting cron see it."""

import logging
from datetime import timedelta

from psycopg2 import errors

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, config, format_datetime

from .. import const
from ..engine import budget, classify
from ..engine.circuit import Circuit
from ..engine.messages import DETAIL
from ..engine.metrics import FAILED_OUTCOMES
from ..engine.transport import DEFAULT_TIMEOUT
from ..utils import internal, render_message

_logger = logging.getLogger(__name__)

HEALTH_ACTIVITY_TYPE = "finance_sync.mail_activity_type_health_alert"
# Attempt outcomes that count as failures on the dashboard.
# The dashboard's order: failing backends first, then those that need attention, the healthy
# ones, and the inactive (draft) ones last.
HEALTH_RANKS = {"critical": 0, "warning": 1, "ok": 2, "inactive": 3}
FAILURE_FIELDS = ("failure_cause", "failing_since", "failure_summary", "failure_advice", "next_try_at")


class FinanceSyncBackend(models.Model):
    """A backend's health, as the dashboard and the alerting cron see it: job counts, failures
    of the last day, open exceptions, the circuit, and whether it is failing by the thresholds of
    Settings. Computed in a fixed number of queries for any number of backends."""

    _inherit = "finance.sync.backend"

    # === FIELDS === #

    # --- delivery limits and pacing --------------------------------------------------------
    timeout = fields.Integer(
        "Timeout (s)",
        default=DEFAULT_TIMEOUT,
        help="How long one request may wait for the platform's answer. It must fit the dispatcher's time budget, "
        "which follows the server's cron time limit.",
    )
    max_concurrent = fields.Integer(
        "Max concurrent requests",
        default=const.DEFAULT_MAX_CONCURRENT,
        help="Requests sent to this platform at the same time by one dispatcher worker (1 = one at a time). "
        "Events of one document always go one after the other, in order.",
    )
    max_attempts = fields.Integer(
        string="Max attempts",
        default=const.DEFAULT_MAX_ATTEMPTS,
        help="Tries of one event, with growing waits between them; after the last one the event waits for a "
        "person (an exception tells who and why).",
    )
    paced_until = fields.Datetime(
        "Slowed down until",
        readonly=True,
        copy=False,
        help="The platform answered 429 or sent Retry-After: no request to it starts before this moment.",
    )

    # --- circuit breaker -----------------------------------------------------------------
    # Derived from the attempt log, never written by the dispatcher: two workers sending for
    # the same backend never update a shared row (no serialization failures, no lost counts).
    circuit_state = fields.Selection(
        [("closed", "Delivering"), ("open", "Stopped after failures"), ("half_open", "Trying again")],
        string="Circuit state",
        compute="_compute_circuit",
        help="Open: too many consecutive transport failures; nothing is sent until the cool-down passes, "
        "then one job probes the platform.",
    )
    circuit_threshold = fields.Integer(
        "Failures before opening",
        default=const.DEFAULT_CIRCUIT_THRESHOLD,
        help="Consecutive failures to reach the platform after which sending stops for the cool-down.",
    )
    circuit_cooldown = fields.Integer(
        "Cool-down (s)",
        default=const.DEFAULT_CIRCUIT_COOLDOWN,
        help="Seconds without sending after the circuit opens; then one event tries the platform again.",
    )
    circuit_reset_at = fields.Datetime(
        readonly=True, copy=False, help="Failures before this moment no longer count (Close circuit button)."
    )
    consecutive_failures = fields.Integer(
        string="Consecutive failures",
        compute="_compute_circuit",
        help="Failed requests in a row since the last success.",
    )
    circuit_open_until = fields.Datetime(
        "Stopped until", compute="_compute_circuit", help="When the platform is tried again."
    )
    last_success_at = fields.Datetime(
        string="Last success at", compute="_compute_circuit", help="When the platform last accepted an event."
    )

    # --- why the platform fails, in words (dashboard, to-do, the documents' banners) ---------
    failure_cause = fields.Char(
        "Why it fails",
        compute="_compute_failure",
        help="What went wrong with the latest attempt, when the platform did not take it (no answer, refused "
        "connection, HTTP 5xx, …).",
    )
    failing_since = fields.Datetime(
        compute="_compute_failure", help="The first of the attempts that failed in a row, up to the latest."
    )
    failure_summary = fields.Char("Failing", compute="_compute_failure", help="The cause and since when.")
    failure_advice = fields.Char(
        "What to do", compute="_compute_failure", help="What a person can check or do about the failure."
    )
    next_try_at = fields.Datetime(
        "Next automatic try",
        compute="_compute_failure",
        help="When Odoo tries the failing platform again by itself (the end of the cool-down, or the next "
        "waiting event's turn).",
    )

    # --- health (dashboard) ---------------------------------------------------------------
    job_count = fields.Integer(compute="_compute_job_stats")
    pending_count = fields.Integer(compute="_compute_job_stats")
    failed_count = fields.Integer(compute="_compute_job_stats")
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
    health_rank = fields.Integer(
        compute="_compute_health_rank",
        help="Failing 0, needs attention 1, healthy 2, not active 3: the dashboard lists backends in this order.",
    )
    last_success_ago = fields.Char("Last success", compute="_compute_last_success_ago")
    health_alert = fields.Char("Why failing", compute="_compute_health")

    # === CONSTRAINTS === #

    @api.constrains("timeout", "max_concurrent")
    def _check_delivery_settings(self):
        limit = budget.server_limit(
            config["limit_time_real_cron"], config["limit_time_real"], config["limit_time_cpu"], bool(config["workers"])
        )
        for backend in self:
            if not budget.fits(backend.timeout, limit):
                raise ValidationError(
                    self.env._(
                        "The timeout of %(name)s (%(timeout)s s) does not fit the dispatcher's time budget: "
                        "a dispatcher run lasts at most %(budget)s s under this server's cron time limit of "
                        "%(limit)s s (limit_time_real_cron, or limit_time_real), and must have room for two "
                        "rounds of requests. Lower the timeout to %(max)s s or less, or raise the server's limit.",
                        name=backend.name,
                        timeout=backend.timeout,
                        budget=int(budget.run_budget(limit)),
                        limit=int(limit),
                        max=int(budget.run_budget(limit) // 2),
                    )
                )
            if backend.max_concurrent > const.MAX_CONCURRENT_LIMIT:
                raise ValidationError(
                    self.env._(
                        "%(name)s: at most %(max)s concurrent requests per backend.",
                        name=backend.name,
                        max=const.MAX_CONCURRENT_LIMIT,
                    )
                )

    # === COMPUTE METHODS === #

    def _compute_circuit(self):
        now = fields.Datetime.now()
        facts = self.env["finance.sync.attempt"]._circuit_facts(self._origin)
        for backend in self:
            failures, latest, last_success = facts.get(backend._origin.id) or (0, None, None)
            circuit = Circuit(backend.circuit_threshold, backend.circuit_cooldown, failures, latest)
            backend.circuit_state = circuit.state(now)
            backend.consecutive_failures = failures
            backend.circuit_open_until = circuit.open_until() or False
            backend.last_success_at = last_success or False

    def _compute_failure(self):
        """The cause of the latest failure of the backends whose latest attempt failed in transport,
        since when they fail, what to do and when Odoo tries again (a fixed number of queries)."""
        facts = self.env["finance.sync.attempt"]._failure_facts(self._origin)
        failing = self.browse(facts)
        next_due = {
            backend.id: due
            for backend, due in self.env["finance.sync.job"]
            .sudo()
            ._read_group(
                [("backend_id", "in", failing.ids), ("state", "=", "pending")], ["backend_id"], ["next_attempt_at:min"]
            )
        }
        now = fields.Datetime.now()
        for backend in self:
            fact = facts.get(backend._origin.id)
            if not fact:
                backend.update(dict.fromkeys(FAILURE_FIELDS, False))
                continue
            code, params, _latest, since = fact
            params = {key: value for key, value in params.items() if key != DETAIL}
            cause = render_message(self.env, code, params) if code else self.env._("the platform did not answer")
            due = next_due.get(backend._origin.id)
            tries = [t for t in (now, backend.circuit_open_until, backend.paced_until, due) if t]
            backend.failure_cause = cause
            backend.failing_since = since
            since_text = format_datetime(self.env, since, tz=self.env.context.get("tz"), dt_format="short")
            backend.failure_summary = render_message(self.env, "failing_since", {"cause": cause, "since": since_text})
            backend.failure_advice = render_message(self.env, classify.advice_for(code), {})
            backend.next_try_at = max(tries)

    def _compute_job_stats(self):
        """Job counts per state, the jobs that need action and the oldest pending job, for all
        backends in two queries."""
        Job = self.env["finance.sync.job"]
        groups = Job._read_group(
            [("backend_id", "in", self._origin.ids)], ["backend_id", "state"], ["__count", "create_date:min"]
        )
        need_action = dict(
            Job._read_group(
                Domain("backend_id", "in", self._origin.ids) & Job._need_action_domain(), ["backend_id"], ["__count"]
            )
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
            backend.failed_count = need_action.get(backend._origin, 0)
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
            alerts = backend._health_alerts(max_backlog, max_age)
            if backend.state == "draft":
                backend.health = "inactive"
            elif alerts:
                backend.health = "critical"
            elif backend.open_exception_count or backend.failures_24h or backend.state == "paused":
                backend.health = "warning"
            else:
                backend.health = "ok"
            backend.health_alert = "; ".join(alerts) if alerts else False

    def _health_alert_note(self):
        """The *Sync failing* to-do's text, in its reader's language and time zone: why the backend
        is failing, the cause of its latest failure since when, and what to do."""
        self.ensure_one()
        note = self.env._("%(name)s: %(why)s.", name=self.name, why=self.health_alert)
        if self.failure_summary:
            note = f"{note} {self.failure_summary}. {self.failure_advice}"
        return note

    def _health_alerts(self, max_backlog, max_age):
        """Why this backend is failing, in words (an empty list when it is not): its circuit, its
        backlog above ``max_backlog`` jobs, its oldest pending job above ``max_age`` minutes."""
        self.ensure_one()
        alerts = []
        if self.circuit_state == "open":
            failures = self.consecutive_failures
            if failures == 1:
                alerts.append(self.env._("the circuit is open after 1 failure"))
            else:
                alerts.append(self.env._("the circuit is open after %s consecutive failures", failures))
        if self.state == "active" and self.pending_count > max_backlog:
            if self.pending_count == 1:
                alerts.append(self.env._("1 job waits to be sent (alert above %s)", max_backlog))
            else:
                alerts.append(
                    self.env._(
                        "%(n)s jobs wait to be sent (alert above %(max)s)", n=self.pending_count, max=max_backlog
                    )
                )
        if self.state == "active" and self.oldest_pending_minutes > max_age:
            if self.oldest_pending_minutes == 1:
                alerts.append(self.env._("the oldest pending job waits for 1 minute (alert above %s)", max_age))
            else:
                alerts.append(
                    self.env._(
                        "the oldest pending job waits for %(n)s minutes (alert above %(max)s)",
                        n=self.oldest_pending_minutes,
                        max=max_age,
                    )
                )
        return alerts

    def _compute_health_rank(self):
        for backend in self:
            backend.health_rank = HEALTH_RANKS.get(backend.health, len(HEALTH_RANKS))

    def _field_to_sql(self, alias, field_expr, query=None):
        """``health_rank`` as SQL, so that the dashboard can sort by it although health is not
        stored (it moves with time, jobs and attempts): the health of the backends the user sees,
        computed as the dashboard shows it (a fixed number of queries), as a CASE on their ids."""
        if field_expr != "health_rank":
            return super()._field_to_sql(alias, field_expr, query)
        backend_id = super()._field_to_sql(alias, "id", query)
        whens = [SQL("WHEN %s = %s THEN %s", backend_id, b.id, b.health_rank) for b in self.search([])]
        if not whens:
            return SQL("%s", len(HEALTH_RANKS))
        return SQL("(CASE %s ELSE %s END)", SQL(" ").join(whens), len(HEALTH_RANKS))

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

    # === ACTION METHODS === #

    def action_reset_circuit(self):
        self.check_access("write")
        internal(self).write({"circuit_reset_at": fields.Datetime.now()})
        self.message_post(body=self.env._("Circuit closed by hand: earlier failures no longer count."))
        self.env["finance.sync.job"]._trigger_dispatch()
        return True

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

    def action_view_exceptions(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_exception_action")
        action["domain"] = [("backend_id", "=", self.id)]
        return action

    # === BUSINESS METHODS === #

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

    def _pace(self, until):
        """No request to this platform starts before ``until`` (it answered 429 / Retry-After).

        Two servers told to slow down at once both write the backend's pacing: under Odoo's
        REPEATABLE READ the later one's update fails (serialization failure) once the first one
        commits. That is no error: the other server's pacing is written, and this worker follows
        its own in memory meanwhile. The update runs in a savepoint, its failure unlogged, and
        :return: whether the pacing was written (False: try again in the next transaction).
        """
        self.ensure_one()
        self.flush_recordset(["paced_until"])
        try:
            with self.env.cr.savepoint(flush=False):
                self.env.cr.execute(
                    """UPDATE finance_sync_backend SET paced_until = GREATEST(COALESCE(paced_until, %s), %s)
                        WHERE id = %s""",
                    (until, until, self.id),
                    log_exceptions=False,
                )
        except errors.SerializationFailure:
            _logger.debug("finance_sync: backend %s paced by another transaction meanwhile; retried later", self.id)
            return False
        finally:
            self.invalidate_recordset(["paced_until"])
        return True

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
                        note=backend.with_context(lang=user.lang, tz=user.tz)._health_alert_note(),
                        user_id=user.id,
                    )
            elif backend.health != "critical" and alert:
                alert.action_feedback(feedback=self.env._("Back under the alert thresholds."))
