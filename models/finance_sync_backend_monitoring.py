import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

from .. import const
from ..engine import metrics as metrics_lib
from ..engine.messages import message

_logger = logging.getLogger(__name__)

# Jobs whose document waits for delivery: pings are not documents.
LATE_STATES = ("pending", "blocked", "failed", "dead")


class FinanceSyncBackend(models.Model):
    """A backend as operations teams watch it: its last business reconciliation, its late
    deliveries (the Deliver within setting), and the Prometheus metrics of every backend. Each is
    computed in a fixed number of grouped queries for any number of backends."""

    _inherit = "finance.sync.backend"

    last_reconciliation_id = fields.Many2one(
        "finance.sync.reconciliation", "Last reconciliation", compute="_compute_last_reconciliation"
    )
    last_reconciliation_state = fields.Selection(
        [("none", "No reconciliation"), *const.RECONCILIATION_STATES],
        "Reconciliation",
        compute="_compute_last_reconciliation",
        help="The outcome of the latest period reconciled with the platform.",
    )
    late_delivery_count = fields.Integer(
        "Late deliveries",
        compute="_compute_late_delivery_count",
        help="Events of documents captured longer ago than the Deliver within setting and not delivered yet.",
    )

    # === COMPUTE METHODS === #

    def _compute_last_reconciliation(self):
        latest = self._latest_reconciliations(self._origin.ids)
        Reconciliation = self.env["finance.sync.reconciliation"]
        for backend in self:
            rec_id, state = latest.get(backend._origin.id, (False, "none"))
            backend.last_reconciliation_id = Reconciliation.browse(rec_id)
            backend.last_reconciliation_state = state

    def _compute_late_delivery_count(self):
        late = self._late_deliveries(self._origin.ids)
        for backend in self:
            backend.late_delivery_count = late.get(backend._origin.id, (0, None))[0]

    # === ACTION METHODS === #

    def action_view_reconciliations(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_reconciliation_action")
        action["domain"] = [("backend_id", "=", self.id)]
        return action

    def action_view_late_deliveries(self):
        self.ensure_one()
        action = self.action_view_jobs()
        action["domain"] = self._late_domain(self._delivery_sla_cutoff() or fields.Datetime.now())
        action["name"] = self.env._("Late deliveries")
        return action

    # === BUSINESS METHODS === #

    @api.model
    def _latest_reconciliations(self, backend_ids):
        """{backend id: (reconciliation id, state)} of each backend's latest period (one query)."""
        if not backend_ids:
            return {}
        Reconciliation = self.env["finance.sync.reconciliation"]
        Reconciliation.flush_model(["backend_id", "state", "date_to", "date_from"])
        query = Reconciliation._search([("backend_id", "in", list(backend_ids))])
        self.env.cr.execute(
            SQL(
                """SELECT DISTINCT ON (rec.backend_id) rec.backend_id, rec.id, rec.state
                     FROM finance_sync_reconciliation rec
                    WHERE rec.id IN %s
                 ORDER BY rec.backend_id, rec.date_to DESC, rec.date_from DESC, rec.id DESC""",
                query.subselect(),
            )
        )
        return {backend_id: (rec_id, state) for backend_id, rec_id, state in self.env.cr.fetchall()}

    @api.model
    def _delivery_sla_cutoff(self):
        """Documents captured before this moment and not delivered are late; None without an SLA."""
        minutes = self._delivery_sla_minutes()
        return fields.Datetime.now() - timedelta(minutes=minutes) if minutes else None

    @api.model
    def _delivery_sla_minutes(self):
        value = (self.env["ir.config_parameter"].sudo().get_param(const.PARAM_DELIVERY_SLA_MINUTES) or "").strip()
        return int(value) if value.isdigit() else 0

    def _late_domain(self, cutoff):
        return [
            ("backend_id", "in", self.ids),
            ("state", "in", LATE_STATES),
            # Documents only: a partner's exposure waits for its interval on purpose, and
            # partner events and feed runs are not documents posted.
            ("res_model", "in", ("account.move", "account.payment")),
            ("event_type", "!=", const.EVENT_PING),
            ("create_date", "<", cutoff),
        ]

    @api.model
    def _late_deliveries(self, backend_ids):
        """{backend id: (late jobs, oldest capture time)} (one grouped query; nothing without an SLA)."""
        cutoff = self._delivery_sla_cutoff()
        if not cutoff or not backend_ids:
            return {}
        groups = (
            self.env["finance.sync.job"]
            .sudo()
            ._read_group(self.browse(backend_ids)._late_domain(cutoff), ["backend_id"], ["__count", "create_date:min"])
        )
        return {backend.id: (count, oldest) for backend, count, oldest in groups}

    # === CRON === #

    @api.model
    def _cron_check_late_deliveries(self):
        """Open (or bump) one grouped ``late_delivery`` exception per backend whose documents wait
        longer than the Deliver within setting; it resolves itself once they are delivered (its jobs
        go through), or here when nothing is late any more (the setting was raised or removed)."""
        Exception_ = self.env["finance.sync.exception"].sudo()
        backends = self.sudo().with_context(active_test=False).search([])
        # Draft and archived backends send nothing: their deliveries are not late, only settled.
        late = self._late_deliveries(backends.filtered(lambda b: b.active and b.state != "draft").ids)
        minutes = self._delivery_sla_minutes()
        cutoff = self._delivery_sla_cutoff()
        for backend in backends:
            count, oldest = late.get(backend.id, (0, None))
            fingerprint = f"{backend.id}|late_delivery|"
            if not count:
                exception = Exception_._find_open(fingerprint)
                if exception:
                    exception._close("resolved")
                    exception.message_post(body=self.env._("Resolved automatically: no delivery is late any more."))
                continue
            jobs = (
                self.env["finance.sync.job"]
                .sudo()
                .search(backend._late_domain(cutoff), order="create_date, id", limit=const.LATE_DELIVERY_JOBS_LINKED)
            )
            Exception_._open_or_bump(
                backend=backend,
                category="late_delivery",
                message=message("late_delivery", count=count, minutes=minutes, since=str(oldest)),
                jobs=jobs,
                name=self.env._("Late delivery: %s", backend.name),
            )
            _logger.info("finance_sync: %s late deliveries on backend %s", count, backend.id)

    # === METRICS === #

    @api.model
    def _finance_sync_metrics(self):
        """The Prometheus text exposition of every backend (any company), in a fixed number of
        grouped queries whatever the number of backends, jobs or exceptions."""
        backends = self.sudo().with_context(active_test=False).search([], order="id")
        ids = backends.ids
        Job = self.env["finance.sync.job"].sudo()
        jobs = Job._read_group([("backend_id", "in", ids)], ["backend_id", "state"], ["__count", "create_date:min"])
        attempts = self.env["finance.sync.attempt.total"].sudo()._every_attempt(ids)
        exceptions = (
            self.env["finance.sync.exception"]
            .sudo()
            ._read_group(
                [("backend_id", "in", ids), ("state", "in", const.EXCEPTION_OPEN_STATES)],
                ["backend_id", "category"],
                ["__count"],
            )
        )
        reconciliations = self.sudo()._latest_reconciliations(ids)
        late = self._late_deliveries(ids)
        now = fields.Datetime.now()
        facts = {
            backend.id: metrics_lib.BackendFacts(
                name=backend.name,
                state=backend.state,
                # Both computed for every backend at once (one query for the circuits).
                circuit_open=backend.circuit_state == "open",
                last_success=backend.last_success_at or None,
                late_deliveries=late.get(backend.id, (0, None))[0],
            )
            for backend in backends
        }
        for backend, state, count, oldest in jobs:
            facts[backend.id].jobs[state] = count
            if state == "pending" and oldest:
                facts[backend.id].oldest_pending_seconds = max(0.0, (now - oldest).total_seconds())
        for (backend_id, outcome, bucket), (count, duration_ms) in attempts.items():
            fact = facts[backend_id]
            fact.attempts[outcome] = fact.attempts.get(outcome, 0) + count
            fact.duration_buckets[min(bucket, len(fact.duration_buckets) - 1)] += count
            fact.duration_sum_ms += duration_ms
        for backend, category, count in exceptions:
            facts[backend.id].open_exceptions[category] = count
        for backend_id, (_rec_id, state) in reconciliations.items():
            facts[backend_id].reconciliation = state
        return metrics_lib.render(
            list(facts.items()),
            job_states=("pending", "blocked", "failed", "dead"),
            categories=[key for key, _label in const.EXCEPTION_CATEGORIES],
            reconciliation_states=["none", *(key for key, _label in const.RECONCILIATION_STATES)],
        )
