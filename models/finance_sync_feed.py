import logging
import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

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
AGING_ACCOUNT_TYPES = {feeds_lib.KIND_AR_AGING: "asset_receivable", feeds_lib.KIND_AP_AGING: "liability_payable"}
# Where a feed's figures come from and go to: only a user of that company chooses them.
MOVING_FIELDS = ("company_id", "backend_id")
# Recorded by the feed itself: who chose its company and backend (never typed).
GUARDED_FIELDS = {"configured_by_id"}


def _bucket(as_of):
    """SQL: the index in ``AGING_BUCKETS`` of a line ``l`` by its days past due (due date: its
    maturity, else its date) as of ``as_of``: one ``width_bucket`` on the buckets' first days."""
    firsts = [low for _name, low, _high in feeds_lib.AGING_BUCKETS if low is not None]
    return SQL("width_bucket(%s::date - COALESCE(l.date_maturity, l.date), %s::int[])", as_of, firsts)


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
    backend_id = fields.Many2one("finance.sync.backend", required=True, ondelete="cascade", tracking=True, index=True)
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
        help="Period-close feeds send the months from this day on (the month before the feed's creation without it)."
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
            if feed.backend_id.transport != "webhook":
                raise ValidationError(self.env._("Period feeds are sent to webhook backends only."))

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
        if self.backend_id.transport != "webhook":
            raise UserError(self.env._("Period feeds are sent to webhook backends only."))
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

    def _get_figures(self, date_from, date_to):
        """(rows, totals) of this feed's kind for the period, amounts as decimal strings."""
        self.ensure_one()
        self.env["account.move.line"].flush_model()
        self.env["account.partial.reconcile"].flush_model()
        if self.kind == feeds_lib.KIND_TRIAL_BALANCE:
            return self._get_trial_balance(date_from, date_to)
        if self.kind in feeds_lib.AGING_KINDS:
            return self._get_aging(date_to)
        return self._get_gl_summary(date_from, date_to)

    def _get_money(self):
        """A function formatting an amount (text or number) in the company's currency precision,
        read once: rows are many, the currency one."""
        places = self.company_id.currency_id.decimal_places
        return lambda value: payload_lib.money(Decimal(value or 0), places)

    def _get_refs(self, model, ids, code_field):
        """{id: {id, code, name}} of records of ``model``, read in one go in the feed's company."""
        records = self.env[model].sudo().with_company(self.company_id).browse(sorted(i for i in ids if i))
        return {r.id: {"id": r.id, "code": r[code_field] or None, "name": r.name} for r in records}

    def _get_trial_balance(self, date_from, date_to):
        """Per account: the balance before the period (opening), the period's debits and credits,
        and the balance at its end (closing), over posted lines of the company, in its currency."""
        money = self._get_money()
        places = self.company_id.currency_id.decimal_places
        self.env.cr.execute(
            SQL(
                """SELECT l.account_id,
                          COALESCE(SUM(l.balance) FILTER (WHERE l.date < %(date_from)s), 0)::text,
                          COALESCE(SUM(l.debit) FILTER (WHERE l.date >= %(date_from)s), 0)::text,
                          COALESCE(SUM(l.credit) FILTER (WHERE l.date >= %(date_from)s), 0)::text,
                          COALESCE(SUM(l.balance), 0)::text
                     FROM account_move_line l
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s AND l.date <= %(date_to)s
                    GROUP BY l.account_id
                   HAVING SUM(l.balance) FILTER (WHERE l.date < %(date_from)s) <> 0
                       OR SUM(l.debit) FILTER (WHERE l.date >= %(date_from)s) <> 0
                       OR SUM(l.credit) FILTER (WHERE l.date >= %(date_from)s) <> 0
                    ORDER BY l.account_id""",
                date_from=date_from,
                date_to=date_to,
                company=self.company_id.id,
            )
        )
        figures = self.env.cr.fetchall()
        accounts = self._get_refs("account.account", {f[0] for f in figures}, "code")
        columns = ("opening", "debit", "credit", "closing")
        sums = dict.fromkeys(columns, Decimal(0))
        splits = self._get_analytic_splits(date_from, date_to) if self.analytic_split else {}
        analytics = self._get_refs(
            "account.analytic.account",
            {int(i) for by_key in splits.values() for key in by_key if key for i in key.split(",") if i.isdigit()},
            "code",
        )
        rows = []
        for account_id, *amounts in figures:
            exact = dict(zip(columns, (Decimal(amount) for amount in amounts), strict=True))
            for column in columns:
                sums[column] += exact[column]
            if not self.analytic_split:
                rows.append({"account": accounts[account_id], **{c: money(v) for c, v in exact.items()}})
                continue
            by_key = splits.get(account_id) or {None: [Decimal(0)] * 3}
            keys = sorted(by_key, key=lambda key: (key is not None, key or ""))
            shares = {
                column: feeds_lib.allocate(exact[column], [by_key[key][index] for key in keys], places)
                for index, column in enumerate(columns[:3])
            }
            for position, key in enumerate(keys):
                opening, debit, credit = (shares[column][position] for column in columns[:3])
                if not (opening or debit or credit):
                    continue
                ids = [int(i) for i in (key or "").split(",") if i.isdigit()]
                rows.append(
                    {
                        "account": accounts[account_id],
                        "analytic": [analytics[i] for i in ids if i in analytics],
                        "opening": money(opening),
                        "debit": money(debit),
                        "credit": money(credit),
                        "closing": money(opening + debit - credit),
                    }
                )
        return rows, {column: money(total) for column, total in sums.items()}

    def _get_analytic_splits(self, date_from, date_to):
        """{account id: {distribution key or None: [opening, debit, credit]}}: each line's amounts
        shared out by its analytic distribution (a key names one account per plan, "12,15"), what
        the distribution leaves unassigned under None; exact, rounded by the caller."""
        self.env.cr.execute(
            SQL(
                """SELECT l.account_id, s.key,
                          COALESCE(SUM(l.balance * s.share) FILTER (WHERE l.date < %(date_from)s), 0)::text,
                          COALESCE(SUM(l.debit * s.share) FILTER (WHERE l.date >= %(date_from)s), 0)::text,
                          COALESCE(SUM(l.credit * s.share) FILTER (WHERE l.date >= %(date_from)s), 0)::text
                     FROM account_move_line l
                    CROSS JOIN LATERAL (
                            SELECT d.key, d.value::numeric / 100 AS share
                              FROM jsonb_each_text(l.analytic_distribution) d
                             UNION ALL
                            SELECT NULL, 1 - COALESCE(
                                       (SELECT SUM(e.value::numeric) FROM jsonb_each_text(l.analytic_distribution) e), 0
                                   ) / 100
                          ) s
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s AND l.date <= %(date_to)s
                      AND s.share <> 0
                    GROUP BY l.account_id, s.key""",
                date_from=date_from,
                date_to=date_to,
                company=self.company_id.id,
            )
        )
        splits = defaultdict(dict)
        for account_id, key, opening, debit, credit in self.env.cr.fetchall():
            splits[account_id][key] = [Decimal(opening), Decimal(debit), Decimal(credit)]
        return splits

    def _get_aging(self, as_of):
        """Per partner: the residual of the company's posted receivable (AR) or payable (AP) lines
        dated up to ``as_of``, as it stood that day (reconciliations dated later ignored), by days
        overdue on the due date. AP amounts are what the company owes (positive)."""
        money = self._get_money()
        sign = 1 if self.kind == feeds_lib.KIND_AR_AGING else -1
        places = self.company_id.currency_id.decimal_places
        names = [name for name, _low, _high in feeds_lib.AGING_BUCKETS]
        # A line's residual as of ``as_of`` is its residual today (Odoo's ``amount_residual``:
        # balance less its partial reconciliations) with the reconciliations dated later added
        # back (few: none at today's date). One aggregate over the lines by partner and bucket, as
        # cheap as the partner ledger's own grouped sum, then one row per partner with the buckets
        # as columns, rounded to the currency and written as text by the database.
        lines = SQL(
            """account_move_line l JOIN account_account a ON a.id = l.account_id
                WHERE l.parent_state = 'posted' AND l.company_id = %(company)s
                  AND l.date <= %(as_of)s AND a.account_type = %(account_type)s""",
            company=self.company_id.id,
            as_of=as_of,
            account_type=AGING_ACCOUNT_TYPES[self.kind],
        )
        bucket = _bucket(as_of)
        columns = SQL(", ").join(
            SQL("ROUND(%s * COALESCE(SUM(b.amount) FILTER (WHERE b.bucket = %s), 0), %s)::text", sign, index, places)
            for index in range(len(names))
        )
        self.env["res.partner"].flush_model(["name", "ref"])
        self.env.cr.execute(
            SQL(
                """WITH later AS (
                        SELECT p.debit_move_id AS line_id, p.amount
                          FROM account_partial_reconcile p
                         WHERE p.company_id = %(company)s AND p.max_date > %(as_of)s
                         UNION ALL
                        SELECT p.credit_move_id, -p.amount
                          FROM account_partial_reconcile p
                         WHERE p.company_id = %(company)s AND p.max_date > %(as_of)s
                   ), b AS (
                        SELECT x.partner_id, x.bucket, SUM(x.amount) AS amount
                          FROM (SELECT l.partner_id, %(bucket)s AS bucket, l.amount_residual AS amount
                                  FROM %(lines)s
                                 UNION ALL
                                SELECT l.partner_id, %(bucket)s, later.amount
                                  FROM later CROSS JOIN %(lines)s AND l.id = later.line_id) x
                         GROUP BY x.partner_id, x.bucket
                   )
                   SELECT b.partner_id, partner.name, partner.ref, %(columns)s,
                          ROUND(%(sign)s * SUM(b.amount), %(places)s)::text
                     FROM b
                     LEFT JOIN res_partner partner ON partner.id = b.partner_id
                    GROUP BY b.partner_id, partner.name, partner.ref
                   HAVING bool_or(b.amount <> 0)
                    ORDER BY b.partner_id NULLS LAST""",
                company=self.company_id.id,
                as_of=as_of,
                bucket=bucket,
                lines=lines,
                columns=columns,
                sign=sign,
                places=places,
            )
        )
        keys = [*names, "total"]
        sums = [Decimal(0)] * len(keys)
        rows = []
        for partner_id, name, ref, *amounts in self.env.cr.fetchall():
            row = {"partner": {"id": partner_id, "code": ref or None, "name": name} if partner_id else None}
            row.update(zip(keys, amounts, strict=True))
            for index, amount in enumerate(amounts):
                sums[index] += Decimal(amount)
            rows.append(row)
        return rows, {key: money(total) for key, total in zip(keys, sums, strict=True)}

    def _get_gl_summary(self, date_from, date_to):
        """Per journal, account and day of the period: debit, credit and number of posted lines."""
        money = self._get_money()
        self.env.cr.execute(
            SQL(
                """SELECT l.date, l.journal_id, l.account_id,
                          SUM(l.debit)::text, SUM(l.credit)::text, COUNT(*)
                     FROM account_move_line l
                    WHERE l.parent_state = 'posted' AND l.company_id = %(company)s
                      AND l.date BETWEEN %(date_from)s AND %(date_to)s
                    GROUP BY l.date, l.journal_id, l.account_id
                    ORDER BY l.date, l.journal_id, l.account_id""",
                company=self.company_id.id,
                date_from=date_from,
                date_to=date_to,
            )
        )
        figures = self.env.cr.fetchall()
        accounts = self._get_refs("account.account", {f[2] for f in figures}, "code")
        journals = self._get_refs("account.journal", {f[1] for f in figures}, "code")
        debit = credit = Decimal(0)
        count = 0
        rows = []
        for day, journal_id, account_id, line_debit, line_credit, line_count in figures:
            debit += Decimal(line_debit)
            credit += Decimal(line_credit)
            count += line_count
            rows.append(
                {
                    "date": payload_lib.iso_date(day),
                    "journal": journals[journal_id],
                    "account": accounts[account_id],
                    "debit": money(line_debit),
                    "credit": money(line_credit),
                    "count": line_count,
                }
            )
        return rows, {"debit": money(debit), "credit": money(credit), "count": count}
