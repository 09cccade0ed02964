import logging
import uuid
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..engine import feeds as feeds_lib
from ..engine import payload as payload_lib
from ..utils import check_access_after_move, check_guarded_fields, check_own_companies
from .finance_sync_document_mixin import PayloadBlocks

_logger = logging.getLogger(__name__)

FEED_KINDS = [
    (feeds_lib.KIND_TRIAL_BALANCE, "Trial balance"),
    (feeds_lib.KIND_AR_AGING, "AR aging"),
    (feeds_lib.KIND_AP_AGING, "AP aging"),
    (feeds_lib.KIND_GL_SUMMARY, "GL summary"),
]
SCHEDULES = [
    ("manual", "Manually (Send now)"),
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("monthly", "Monthly"),
    ("period_close", "On period close"),
]
LOCK_DATES = [
    ("fiscalyear_lock_date", "Global lock date"),
    ("hard_lock_date", "Hard lock date"),
    ("sale_lock_date", "Sales lock date"),
    ("purchase_lock_date", "Purchase lock date"),
]
# Where a feed's figures come from and go to: only a user of that company chooses them.
MOVING_FIELDS = ("company_id", "backend_id")
# Transports that store or forward a feed's runs (a webhook platform, the warehouse's feed tables).
FEED_TRANSPORTS = ("webhook", "warehouse")
# Recorded by the feed itself: who chose its company and backend (never typed).
GUARDED_FIELDS = {"configured_by_id"}


class FinanceSyncFeed(models.Model):
    """Period figures (trial balance, aging, ledger summary) of one company sent to one backend
    on a schedule, each run through the outbox like a document's events."""

    _name = "finance.sync.feed"
    _description = "Finance Sync Period Feed"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "backend_id, name, id"
    _check_company_auto = True

    # === FIELDS === #

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True, tracking=True)
    backend_id = fields.Many2one(
        "finance.sync.backend",
        required=True,
        ondelete="cascade",
        tracking=True,
        index=True,
        domain=[("transport", "in", FEED_TRANSPORTS)],
        help="A webhook platform, or a PostgreSQL warehouse (its feed tables, see the warehouse's documentation).",
    )
    company_id = fields.Many2one(
        "res.company",
        required=True,
        default=lambda self: self.env.company,
        tracking=True,
        help="Figures of this company only, in its currency; one feed per company.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    kind = fields.Selection(
        FEED_KINDS,
        required=True,
        default=feeds_lib.KIND_TRIAL_BALANCE,
        tracking=True,
        help="Trial balance: per account, opening, debit, credit and closing of the period. "
        "AR / AP aging: per partner, open receivables / payables at the period's end by days overdue. "
        "GL summary: per journal, account and day, debit, credit and number of lines.",
    )
    schedule = fields.Selection(
        SCHEDULES,
        required=True,
        default="monthly",
        tracking=True,
        help="Daily and weekly: the month in progress and the month before. Monthly: the month before. "
        "On period close: each month once the lock date below covers its last day. An unchanged period is "
        "never sent again; a changed one goes out as a new version.",
    )
    lock_date_field = fields.Selection(
        LOCK_DATES,
        "Period closed by",
        required=True,
        default="fiscalyear_lock_date",
        tracking=True,
        help="A period is final (final: true) once this lock date of the company covers its last day.",
    )
    next_run_date = fields.Date(
        "Next run",
        default=fields.Date.context_today,
        tracking=True,
        help="Day of the next scheduled run (daily, weekly and monthly feeds).",
    )
    start_date = fields.Date(
        string="Start date",
        help="Period-close feeds send the months from this day on (the month before the feed's creation without it).",
    )
    part_size = fields.Integer(
        "Rows per part",
        default=feeds_lib.DEFAULT_PART_SIZE,
        required=True,
        help="A run with more rows is sent in numbered parts of this many rows, under one run id.",
    )
    analytic_split = fields.Boolean(
        "Split by analytic account",
        tracking=True,
        help="Trial balance: one row per account and analytic distribution key (one analytic account per "
        "plan), amounts shared out by the distribution's percentages; what it leaves unassigned has no "
        "analytic account. Each account's rows add up to its own figures, to the cent.",
    )
    configured_by_id = fields.Many2one(
        "res.users",
        "Company and backend chosen by",
        readonly=True,
        copy=False,
        help="Who last chose this feed's company or backend. A run sends the figures only while that person "
        "still works in the company and the backend still serves it.",
    )
    run_ids = fields.One2many("finance.sync.feed.run", "feed_id", string="Runs", readonly=True)
    run_count = fields.Integer(compute="_compute_run_count")

    # === CONSTRAINTS === #

    _part_size_positive = models.Constraint("CHECK(part_size > 0)", "A part holds at least one row.")

    # === COMPUTE METHODS === #

    def _compute_run_count(self):
        Run = self.env["finance.sync.feed.run"]
        counts = dict(Run._read_group([("feed_id", "in", self.ids)], ["feed_id"], ["__count"]))
        for feed in self:
            feed.run_count = counts.get(feed, 0)

    @api.constrains("backend_id", "company_id")
    def _check_backend(self):
        for feed in self:
            if feed.company_id not in feed.backend_id.company_ids:
                raise ValidationError(
                    self.env._(
                        "The backend %(backend)s does not serve %(company)s: choose one of its companies.",
                        backend=feed.backend_id.name,
                        company=feed.company_id.name,
                    )
                )
            if feed.backend_id.transport not in FEED_TRANSPORTS:
                raise ValidationError(self.env._("Period feeds are sent to webhook and warehouse backends only."))

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            check_guarded_fields(self, vals, GUARDED_FIELDS)
            vals["configured_by_id"] = self.env.uid
        feeds = super().create(vals_list)
        feeds._check_own_company()
        return feeds

    def write(self, vals):
        check_guarded_fields(self, vals, GUARDED_FIELDS)
        moving = not self.env.su and set(MOVING_FIELDS) & vals.keys()
        if moving:
            vals = {**vals, "configured_by_id": self.env.uid}
        res = super().write(vals)
        if moving:
            self._check_own_company()
            check_access_after_move(self, vals, MOVING_FIELDS)
        return res

    def _check_own_company(self):
        """A person may only make a feed send the figures of a company they work in (a backend
        may serve other companies too: that is no reason to send their ledgers)."""
        check_own_companies(
            self.env, self.company_id, self.env._("A feed may send the figures of its company only to its own users")
        )

    # === ACTION METHODS === #

    def action_send_now(self):
        """Open the period picker of *Send now*."""
        self.ensure_one()
        date_from, date_to = feeds_lib.previous_month(fields.Date.context_today(self))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Send now"),
            "res_model": "finance.sync.feed.send",
            "view_mode": "form",
            "target": "new",
            "context": {"default_feed_id": self.id, "default_date_from": date_from, "default_date_to": date_to},
        }

    def action_view_runs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_feed_run_action")
        action["domain"] = [("feed_id", "=", self.id)]
        return action

    # === CRON === #

    @api.model
    def _cron_run_feeds(self):
        """Run the scheduled feeds that are due, each company's in its own environment; one failing
        feed is logged and skipped, never blocks the others."""
        today = fields.Date.context_today(self)
        feeds = self.sudo().search([("schedule", "!=", "manual"), ("backend_id.state", "in", ("active", "paused"))])
        for feed in feeds:
            try:
                with self.env.cr.savepoint():
                    feed.with_company(feed.company_id)._run_scheduled(today)
            except UserError as error:  # refused as it stands (see _check_may_send): told, no trace
                _logger.warning("finance_sync: feed %s not sent: %s", feed.id, error)
                feed._notify_failure(error)
            except Exception as error:  # one feed's error must not stop the others: logged, and told
                _logger.exception("finance_sync: feed %s could not run", feed.id)
                feed._notify_failure(error)
        return True

    def _notify_failure(self, error):
        """Say on the feed why its scheduled run failed, and give the backend's responsible a
        to-do (one open at a time per feed)."""
        self.ensure_one()
        summary = self.env._("Period feed not sent: %s", self.name)[:200]
        note = self.env._("The scheduled run failed and will be tried again at the next run: %s", error)
        self.message_post(body=note)
        user = self.backend_id.user_id
        if user and not self.activity_ids.filtered(lambda activity: activity.summary == summary):
            self.activity_schedule("mail.mail_activity_data_todo", summary=summary, note=note, user_id=user.id)

    def _run_scheduled(self, today):
        """Send the periods due today for this feed; return the runs created."""
        self.ensure_one()
        runs = self.env["finance.sync.feed.run"]
        if self.schedule == "period_close":
            periods = feeds_lib.closed_periods(self._get_lock_date(), self._get_last_final_end())
        elif self.next_run_date and self.next_run_date > today:
            return runs
        else:
            periods = feeds_lib.scheduled_periods(self.schedule, today)
            self.next_run_date = feeds_lib.next_run_date(self.schedule, today)
        for date_from, date_to in periods:
            runs |= self._run_period(date_from, date_to)
        return runs

    # === BUSINESS METHODS === #

    def _check_may_send(self):
        """Raise UserError unless the figures of the feed's company may go to its backend now: the
        backend still serves the company, and the person who chose the feed's company and backend
        (its creator, for feeds set up before that was recorded) still works in it. The scheduled
        run is the superuser's; the decision to send a company's ledger is a person's, and it holds
        only as long as their access to that company does."""
        self.ensure_one()
        company = self.company_id
        if company not in self.backend_id.sudo().company_ids:
            raise UserError(
                self.env._(
                    "Feed %(feed)s is not sent: backend %(backend)s no longer serves %(company)s.",
                    feed=self.name,
                    backend=self.backend_id.sudo().name,
                    company=company.name,
                )
            )
        chooser = (self.configured_by_id or self.create_uid).sudo().with_context(active_test=False)
        if chooser and not chooser._is_superuser() and company not in chooser.company_ids:
            raise UserError(
                self.env._(
                    "Feed %(feed)s is not sent: %(user)s, who chose its company and backend, does not work in "
                    "%(company)s. A user of %(company)s must set the feed up again.",
                    feed=self.name,
                    user=chooser.name,
                    company=company.name,
                )
            )

    def _get_lock_date(self):
        self.ensure_one()
        return self.company_id.sudo()[self.lock_date_field]

    def _get_last_final_end(self):
        """End of the last period sent as final, else the day before the first period to send."""
        self.ensure_one()
        last = (
            self.env["finance.sync.feed.run"]
            .sudo()
            .search([("feed_id", "=", self.id), ("final", "=", True)], order="date_to desc", limit=1)
        )
        if last:
            return last.date_to
        start = self.start_date or feeds_lib.previous_month(fields.Date.to_date(self.create_date))[0]
        return start - timedelta(days=1)

    def _run_period(self, date_from, date_to):
        """Compute the figures of the period and capture them for the backend, unless they are
        what was last sent for this period (same content, same finality). Return the new run, or
        an empty recordset when nothing changed."""
        self.ensure_one()
        if date_from > date_to:
            raise UserError(self.env._("The period must end on or after its first day."))
        if self.backend_id.transport not in FEED_TRANSPORTS:
            raise UserError(self.env._("Period feeds are sent to webhook and warehouse backends only."))
        self._check_may_send()
        Run = self.env["finance.sync.feed.run"].sudo()
        company = self.company_id
        rows, totals = self._get_figures(date_from, date_to)
        final = feeds_lib.is_final(self._get_lock_date(), date_to)
        digest = feeds_lib.content_hash(self.kind, company.id, date_from, date_to, rows, totals)
        previous = Run.search(
            [("feed_id", "=", self.id), ("date_from", "=", date_from), ("date_to", "=", date_to)],
            order="version desc",
            limit=1,
        )
        if previous and previous.content_hash == digest and previous.final == final:
            _logger.info("finance_sync: feed %s unchanged for %s..%s, nothing sent", self.id, date_from, date_to)
            return Run
        parts = feeds_lib.split_parts(rows, self.part_size)
        run = Run.create(
            {
                "feed_id": self.id,
                "date_from": date_from,
                "date_to": date_to,
                "version": previous.version + 1 if previous else 1,
                "supersedes_id": previous.id,
                "content_hash": digest,
                "final": final,
                "row_count": len(rows),
                "part_count": len(parts),
                "run_uuid": str(uuid.uuid4()),
                "totals": totals,
            }
        )
        self._capture(run, parts, totals)
        return run

    def _capture(self, run, parts, totals):
        """One outbox job per part of ``run``, in order (the dispatcher sends a run's parts one
        after the other, as it does a document's events)."""
        Job = self.env["finance.sync.job"].sudo()
        header = {
            "company": PayloadBlocks().company(self.company_id),
            "period": {
                "date_from": payload_lib.iso_date(run.date_from),
                "date_to": payload_lib.iso_date(run.date_to),
            },
            "totals": totals,
        }
        feed_block = {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "run_id": run.run_uuid,
            "version": run.version,
            "supersedes": {"run_id": run.supersedes_id.run_uuid, "version": run.supersedes_id.version}
            if run.supersedes_id
            else None,
            "final": run.final,
            "content_hash": run.content_hash,
            "parts": len(parts),
            "row_count": run.row_count,
        }
        event_type = feeds_lib.event_type(self.kind)
        for number, rows in enumerate(parts, start=1):
            payload = {**header, "feed": {**feed_block, "part": number}, "rows": rows}
            Job._enqueue(event_type, run, {run.id: payload}, {run.id: self.backend_id})
