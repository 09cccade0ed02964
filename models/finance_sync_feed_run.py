from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools.translate import LazyTranslate

_lt = LazyTranslate(__name__)

DELIVERY_STATES = [
    ("pending", "Pending"),
    ("held", "Held"),
    ("failed", "Failed"),
    ("done", "Delivered"),
    ("cancelled", "Cancelled"),
]
# Job states whose stored message says why a run is not delivered (held or failed).
REASON_JOB_STATES = ("blocked", "failed", "dead")
# The labels of the totals each kind of feed computes (engine.feeds.AGING_BUCKETS for aging),
# declared lazily for the extractor and read in the reader's language (``env._``).
TOTAL_LABELS = {
    "opening": _lt("Opening balance"),
    "debit": _lt("Debit"),
    "credit": _lt("Credit"),
    "closing": _lt("Closing balance"),
    "not_due": _lt("Not due"),
    "days_1_30": _lt("1-30 days past due"),
    "days_31_60": _lt("31-60 days past due"),
    "days_61_90": _lt("61-90 days past due"),
    "over_90": _lt("Over 90 days past due"),
    "total": _lt("Total"),
    "count": _lt("Lines"),
}


class FinanceSyncFeedRun(models.Model):
    """One version of a feed's figures for one period, as captured: its parts are outbox jobs
    (``res_model``/``res_id`` name the run) sent, signed and retried like a document's events.
    Written only by the feed that computed it."""

    _name = "finance.sync.feed.run"
    _description = "Finance Sync Feed Run"
    _inherit = ["mail.thread"]
    _order = "date_to desc, feed_id, version desc, id desc"
    _check_company_auto = True

    # === FIELDS === #

    feed_id = fields.Many2one("finance.sync.feed", required=True, ondelete="cascade", readonly=True, index=True)
    backend_id = fields.Many2one(related="feed_id.backend_id", store=True)
    company_id = fields.Many2one(related="feed_id.company_id", store=True)
    kind = fields.Selection(related="feed_id.kind", store=True)
    date_from = fields.Date("From", required=True, readonly=True)
    date_to = fields.Date("To", required=True, readonly=True, help="Last day of the period; aging is as of this day.")
    version = fields.Integer(required=True, readonly=True, help="1 for a period's first run, then one more per change.")
    supersedes_id = fields.Many2one(
        "finance.sync.feed.run", "Supersedes", readonly=True, help="The earlier version of this period it replaces."
    )
    final = fields.Boolean(readonly=True, help="The chosen lock date covered the period's end when it was computed.")
    content_hash = fields.Char(readonly=True, help="SHA-256 of the figures: an unchanged period is not sent again.")
    run_uuid = fields.Char("Run ID", required=True, readonly=True, copy=False, help="Shared by every part of the run.")
    row_count = fields.Integer("Rows", readonly=True)
    part_count = fields.Integer("Parts", readonly=True)
    totals = fields.Json(readonly=True)
    delivery_state = fields.Selection(
        DELIVERY_STATES,
        string="Delivery state",
        compute="_compute_delivery_state",
        help="Where the run's parts stand in the outbox.",
    )
    job_count = fields.Integer("Jobs", compute="_compute_delivery_state")
    delivery_reason = fields.Text(
        "Reason",
        compute="_compute_delivery_reason",
        help="Why the run's parts are held or failed: the message of each such part's job.",
    )
    totals_table = fields.Html("Totals table", compute="_compute_totals_table", sanitize=False)

    # === CONSTRAINTS AND INDEXES === #

    _version_uniq = models.UniqueIndex(
        "(feed_id, date_from, date_to, version)", "A feed has one run per period and version."
    )

    # === COMPUTE METHODS === #

    @api.depends("feed_id.name", "date_from", "date_to", "version")
    def _compute_display_name(self):
        for run in self:
            run.display_name = f"{run.feed_id.name} {run.date_from}..{run.date_to} v{run.version}"

    def _compute_delivery_state(self):
        groups = (
            self.env["finance.sync.job"]
            .sudo()
            ._read_group([("res_model", "=", self._name), ("res_id", "in", self.ids)], ["res_id", "state"], ["__count"])
        )
        states = {}
        for res_id, state, count in groups:
            states.setdefault(res_id, {})[state] = count
        for run in self:
            counts = states.get(run.id, {})
            run.job_count = sum(counts.values())
            if not counts:
                run.delivery_state = False
            elif counts.get("failed") or counts.get("dead"):
                run.delivery_state = "failed"
            elif counts.get("blocked"):
                run.delivery_state = "held"
            elif counts.get("pending"):
                run.delivery_state = "pending"
            elif counts.get("done"):
                run.delivery_state = "done"
            else:
                run.delivery_state = "cancelled"

    @api.depends_context("lang")
    def _compute_delivery_reason(self):
        # The jobs' own stored messages (code and parameters, rendered by compute_message).
        jobs = (
            self.env["finance.sync.job"]
            .sudo()
            .search(
                [("res_model", "=", self._name), ("res_id", "in", self.ids), ("state", "in", REASON_JOB_STATES)],
                order="id",
            )
        )
        reasons = {}
        for job in jobs:
            if job.last_error and job.last_error not in reasons.setdefault(job.res_id, []):
                reasons[job.res_id].append(job.last_error)
        for run in self:
            run.delivery_reason = "\n".join(reasons.get(run.id, [])) or False

    @api.depends("totals")
    @api.depends_context("lang")
    def _compute_totals_table(self):
        for run in self:
            totals = run.totals if isinstance(run.totals, dict) else {}
            if not totals:
                run.totals_table = False
                continue
            rows = Markup("").join(
                Markup('<tr><td>%s</td><td class="text-end font-monospace">%s</td></tr>')
                % (self.env._(TOTAL_LABELS[key]) if key in TOTAL_LABELS else key, value)
                for key, value in totals.items()
            )
            run.totals_table = Markup('<table class="table table-sm w-auto mb-0"><tbody>%s</tbody></table>') % rows

    # === ACTION METHODS === #

    def action_view_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_job_action")
        action["domain"] = [("res_model", "=", self._name), ("res_id", "=", self.id)]
        action["context"] = {}
        return action
