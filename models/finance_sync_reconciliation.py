import logging
from collections import namedtuple
from decimal import ROUND_HALF_UP, Decimal

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Command

from .. import const
from ..engine import payload as payload_lib
from ..utils import check_guarded_fields, compute_message, internal
from . import finance_sync_outbox as outbox

_logger = logging.getLogger(__name__)

ADMIN_GROUP = "finance_sync.finance_sync_group_admin"
# Event ids and references listed in a difference, beyond which only the count is given.
LISTED_IN_WORDS = 10
# What a reconciliation records: written by its own methods only (a report, a refresh).
FACT_FIELDS = {
    "backend_id",
    "company_id",
    "date_from",
    "date_to",
    "state",
    "report_event_id",
    "report_received_at",
    "report_occurred_at",
    "line_ids",
    "odoo_event_count",
    "platform_event_count",
    "missing_event_ids",
    "missing_event_count",
    "unknown_references",
    "unknown_reference_count",
    "difference_count",
    "difference_code",
    "difference_params",
    "exception_id",
}
# What a person gives to open a period.
OPENING_FIELDS = {"backend_id", "company_id", "date_from", "date_to"}
# What only the module records: never from a person's values, context defaults (default_state),
# personal defaults (ir.default) nor a copy.
OUTCOME_FIELDS = FACT_FIELDS - OPENING_FIELDS


class Total(namedtuple("Total", "event_type currency odoo_count odoo_amount platform_count platform_amount")):
    """One control total of both sides; amounts are Decimals in the currency's precision."""

    __slots__ = ()

    @property
    def differs(self):
        return self.odoo_count != self.platform_count or self.odoo_amount != self.platform_amount


class FinanceSyncReconciliation(models.Model):
    """Whether Odoo and a platform agree on one period of one company: Odoo's control totals of
    the events it delivered (documents by accounting date; count and sum of amounts per event
    type and currency, from the outbox in one grouped query), against the platform's own
    figures, sent as a signed ``reconciliation.report``. A mismatch is spelled out and opens one
    ``reconciliation`` exception per reconciliation; *Re-send* queues the events the platform
    lacks again under their original ids and bodies."""

    _name = "finance.sync.reconciliation"
    _description = "Finance Sync Reconciliation"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date_to desc, date_from desc, id desc"
    _check_company_auto = True

    # === FIELDS === #

    name = fields.Char(compute="_compute_name", store=True)
    backend_id = fields.Many2one(
        "finance.sync.backend", required=True, ondelete="cascade", check_company=True, tracking=True
    )
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company, tracking=True)
    date_from = fields.Date("From", required=True, tracking=True, help="First day of the period (accounting dates).")
    date_to = fields.Date("To", required=True, tracking=True, help="Last day of the period (accounting dates).")
    state = fields.Selection(
        const.RECONCILIATION_STATES,
        required=True,
        default="waiting",
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
        help="Waiting for report: the platform has not reported its figures for this period yet. "
        "Matched: both sides agree. Mismatched: the differences are listed below.",
    )
    report_event_id = fields.Many2one(
        "finance.sync.inbound.event", "Platform report", readonly=True, copy=False, ondelete="set null"
    )
    report_received_at = fields.Datetime("Report received", readonly=True, copy=False)
    report_occurred_at = fields.Datetime("Report issued", readonly=True, copy=False)
    line_ids = fields.One2many("finance.sync.reconciliation.line", "reconciliation_id", "Control totals", readonly=True)
    odoo_event_count = fields.Integer("Events delivered", readonly=True, copy=False)
    platform_event_count = fields.Integer("Events on the platform", readonly=True, copy=False)
    missing_event_ids = fields.Json(
        "Events missing on the platform",
        readonly=True,
        copy=False,
        help="Ids of events Odoo delivered that the platform lacks.",
    )
    missing_event_count = fields.Integer("Missing on the platform", readonly=True, copy=False)
    missing_job_ids = fields.Many2many(
        "finance.sync.job",
        string="Events missing on the platform (documents)",
        compute="_compute_missing_job_ids",
        help="The delivered events the platform lacks, with their documents: number, partner, amount and date.",
    )
    unknown_references = fields.Json(
        "References never sent",
        readonly=True,
        copy=False,
        help="Event ids or document numbers the platform holds, unknown here.",
    )
    unknown_reference_count = fields.Integer("Never sent by Odoo", readonly=True, copy=False)
    missing_events_text = fields.Text("Event ids missing on the platform", compute="_compute_reference_texts")
    unknown_references_text = fields.Text("References Odoo never sent", compute="_compute_reference_texts")
    difference_count = fields.Integer(
        "Differences",
        readonly=True,
        copy=False,
        aggregator="sum",
        help="Totals that differ, plus missing and unknown events.",
    )
    difference_code = fields.Char(readonly=True, copy=False)
    difference_params = fields.Json(readonly=True, copy=False)
    difference = fields.Text("Difference", compute="_compute_difference")
    exception_id = fields.Many2one("finance.sync.exception", readonly=True, copy=False, ondelete="set null")
    missing_document_count = fields.Integer(
        "Documents never captured",
        compute="_compute_missing_document_count",
        help="Documents posted in the period within the backend's scope that have no event for it "
        "(posted while it was a draft or before it existed, or outside its scope then).",
    )

    # === CONSTRAINTS AND INDEXES === #

    _period_uniq = models.UniqueIndex(
        "(backend_id, company_id, date_from, date_to)", "This period is already reconciled for this backend."
    )
    _period_order = models.Constraint("CHECK(date_from <= date_to)", "A period ends on or after its first day.")

    # === COMPUTE METHODS === #

    @api.depends("backend_id.name", "date_from", "date_to")
    def _compute_name(self):
        for rec in self:
            rec.name = f"{rec.backend_id.name or ''}: {rec._period_label()}"

    @api.depends("difference_code", "difference_params")
    @api.depends_context("lang")
    def _compute_difference(self):
        compute_message(self, "difference")

    @api.depends("missing_event_ids", "unknown_references")
    def _compute_reference_texts(self):
        for rec in self:
            rec.missing_events_text = "\n".join(rec.missing_event_ids or [])
            rec.unknown_references_text = "\n".join(rec.unknown_references or [])

    @api.depends("missing_event_ids", "backend_id")
    def _compute_missing_job_ids(self):
        # One search for every record; the reader's record rules apply.
        wanted = {event_id for rec in self for event_id in rec.missing_event_ids or ()}
        jobs = self.env["finance.sync.job"]
        if wanted:
            jobs = jobs.search(
                [("backend_id", "in", self.backend_id.ids), ("event_uuid", "in", list(wanted))],
                order="document_date, id",
            )
        for rec in self:
            held = set(rec.missing_event_ids or ())
            rec.missing_job_ids = jobs.filtered(
                lambda j, r=rec, h=held: j.backend_id == r.backend_id and j.event_uuid in h
            )

    def _compute_missing_document_count(self):
        for rec in self:
            invoices, payments = rec._missing_documents()
            rec.missing_document_count = len(invoices) + len(payments)

    # === CONSTRAINT METHODS === #

    @api.constrains("backend_id", "company_id")
    def _check_backend_company(self):
        for rec in self:
            if rec.company_id not in rec.backend_id.company_ids:
                raise UserError(self.env._("The company must be one of the backend's companies."))

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        # Defaults a person can set (context keys such as default_state, personal defaults of
        # ir.default) never give an outcome: they reach create after its check of the values,
        # so they are checked here, where every creation (and a new form) takes them.
        defaults = super().default_get(fields)
        if not self.env.su:
            forged = {
                fname
                for fname in OUTCOME_FIELDS & set(defaults)
                if not self._fields[fname].default or defaults[fname] != self._fields[fname].default(self)
            }
            check_guarded_fields(self, forged, OUTCOME_FIELDS)
        return defaults

    @api.model_create_multi
    def create(self, vals_list):
        # A person opens a period (backend, company, dates); its outcome is only ever recorded
        # by the module (values here, defaults in default_get; a copy takes none of it). Data
        # files (run as the superuser) may load recorded outcomes (demo).
        if not self.env.su:
            for vals in vals_list:
                check_guarded_fields(self, set(vals) - OPENING_FIELDS, FACT_FIELDS)
        records = super().create(vals_list)
        # A period opened by hand or by a first report shows Odoo's side at once; records created
        # with their outcome (demo data, imports) keep the figures they were given.
        records.filtered(lambda r: r.state == "waiting" and not r.line_ids)._refresh_odoo_totals()
        return records

    def write(self, vals):
        check_guarded_fields(self, vals, FACT_FIELDS)
        return super().write(vals)

    # === ACTION METHODS === #

    def action_refresh(self):
        """Compute Odoo's side again (and compare it with the last report, if any)."""
        self.check_access("read")
        for rec in self.sudo():
            payload = (rec.report_event_id.payload or {}).get("data")
            if payload:
                rec._reconcile(payload)
            else:
                rec._refresh_odoo_totals()
        return True

    def action_resend_missing(self):
        """Queue the events Odoo delivered and the platform lacks again, under their original
        event ids and with their original bodies (the platform's dedupe by webhook-id makes a
        repeat harmless), and send them now."""
        self.ensure_one()
        if not self.env.user.has_group(ADMIN_GROUP):
            raise AccessError(self.env._("Only Finance Sync administrators may send events again."))
        self.check_access("read")
        rec = self.sudo()
        jobs = rec._missing_jobs().filtered(lambda j: j.state == "done")
        if not jobs:
            raise UserError(self.env._("No delivered event of this period is missing on the platform."))
        jobs._mark_pending(reset_attempts=True)
        user, events = self.env.user.name, _listed(jobs.mapped("event_uuid"))
        if len(jobs) == 1:
            body = self.env._(
                "%(user)s queued 1 event again for the platform, under its original id: %(events)s",
                user=user,
                events=events,
            )
        else:
            body = self.env._(
                "%(user)s queued %(n)s events again for the platform, under their original ids: %(events)s",
                user=user,
                n=len(jobs),
                events=events,
            )
        rec.message_post(body=body)
        jobs._send_now()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_job_action")
        action["domain"] = [("id", "in", jobs.ids)]
        return action

    def action_view_missing_documents(self):
        """The documents of the period the backend never received an event for."""
        self.ensure_one()
        invoices, payments = self._missing_documents()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Documents never sent"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", (invoices | payments.move_id).ids)],
        }

    def action_backfill(self):
        """Send the documents of the period the backend never received (administrators)."""
        self.ensure_one()
        action = self.backend_id.action_backfill()
        action["context"] = dict(action["context"], default_date_from=self.date_from, default_date_to=self.date_to)
        return action

    def action_view_exception(self):
        self.ensure_one()
        return self.exception_id._get_records_action()

    # === BUSINESS METHODS === #

    def _period_label(self):
        self.ensure_one()
        return f"{self.date_from or ''} – {self.date_to or ''}"

    def _delivered_filter(self):
        """The SQL condition of this reconciliation's delivered events (alias ``job``)."""
        self.ensure_one()
        return outbox.delivered(self.backend_id.id, self.company_id.id, self.date_from, self.date_to)

    def _odoo_totals(self):
        """{(event type, currency code): (count, exact sum of amounts as a Decimal)} of the
        events delivered for the period: one grouped query over the outbox. The amounts are
        ``numeric``, summed by PostgreSQL and read as text: Odoo's cursor would hand the sum over
        as a float (433353.26 becoming 433353.26000000000931...)."""
        rows = outbox.delivered_totals(self.env, self._delivered_filter())
        return {(etype, code or ""): (count, Decimal(total)) for etype, code, count, total in rows}

    def _odoo_events(self):
        """[(event id, document number as the event carries it)] of the events delivered for the
        period (the number is None for an event of no numbered document)."""
        return outbox.delivered_events(self.env, self._delivered_filter())

    def _missing_jobs(self):
        self.ensure_one()
        return self._jobs_of_events(self.missing_event_ids or [])

    def _jobs_of_events(self, event_ids):
        """The jobs of this backend with these event ids (as the system), in accounting-date order."""
        if not event_ids:
            return self.env["finance.sync.job"]
        return (
            self.env["finance.sync.job"]
            .sudo()
            .search(
                [("backend_id", "=", self.backend_id.id), ("event_uuid", "in", list(event_ids))],
                order="document_date, id",
            )
        )

    def _missing_documents(self):
        """(invoices, payments) of the period and this company that the backend has no event
        for: the completeness check, Odoo's side alone (``finance.sync.backfill``)."""
        self.ensure_one()
        if not (self.backend_id and self.date_from and self.date_to):
            return self.env["account.move"], self.env["account.payment"]
        wizard = self.env["finance.sync.backfill"].new(
            {"backend_id": self.backend_id.id, "date_from": self.date_from, "date_to": self.date_to}
        )
        invoices, payments = wizard._documents()
        return (
            invoices.filtered(lambda m: m.company_id == self.company_id),
            payments.filtered(lambda p: p.company_id == self.company_id),
        )

    def _currencies(self, codes):
        """{code: res.currency} for these ISO codes, archived currencies included (one query)."""
        found = self.env["res.currency"].with_context(active_test=False).search([("name", "in", list(codes))])
        return {currency.name: currency for currency in found}

    @staticmethod
    def _rounded(amount, code, currencies):
        """``amount`` (a Decimal) in the precision of the currency ``code`` (unchanged for a code
        Odoo does not know)."""
        if code not in currencies:
            return amount
        return amount.quantize(Decimal(1).scaleb(-currencies[code].decimal_places), rounding=ROUND_HALF_UP)

    def _totals(self, odoo, platform, currencies):
        """[Total] of every event type and currency on either side, in key order. Both sides are
        Decimals compared in the currency's precision, never through a float: "12.1", "12.10"
        and "12.100" all equal Odoo's 12.10."""
        totals = []
        for key in sorted(set(odoo) | set(platform)):
            odoo_count, odoo_amount = odoo.get(key, (0, Decimal(0)))
            platform_count, platform_amount = platform.get(key, (0, Decimal(0)))
            totals.append(
                Total(
                    *key,
                    odoo_count,
                    self._rounded(odoo_amount, key[1], currencies),
                    platform_count,
                    self._rounded(platform_amount, key[1], currencies),
                )
            )
        return totals

    def _line_commands(self, totals, currencies, reported=True):
        """The control total lines: Odoo's side, and the platform's when it reported. Their
        amounts are for display (Monetary); what differs was decided on the Decimals."""
        commands = [Command.clear()]
        for total in totals:
            commands.append(
                Command.create(
                    {
                        "event_type": total.event_type,
                        "currency_code": total.currency,
                        "currency_id": currencies[total.currency].id if total.currency in currencies else False,
                        "odoo_count": total.odoo_count,
                        "odoo_amount": float(total.odoo_amount),
                        "platform_count": total.platform_count,
                        "platform_amount": float(total.platform_amount),
                        "differs": reported and total.differs,
                    }
                )
            )
        return commands

    def _refresh_odoo_totals(self):
        """Odoo's side alone, while no report has come (or to show it before one)."""
        for rec in self:
            odoo = rec._odoo_totals()
            currencies = rec._currencies({code for _t, code in odoo if code})
            internal(rec).write(
                {
                    "line_ids": rec._line_commands(rec._totals(odoo, {}, currencies), currencies, reported=False),
                    "odoo_event_count": sum(count for count, _amount in odoo.values()),
                }
            )

    def _money(self, amount, code, currencies):
        digits = currencies[code].decimal_places if code in currencies else 2
        return f"{payload_lib.money(amount, digits)} {code}".strip()

    def _settle_exception(self, note):
        """Open or bump the reconciliation's one exception with ``note``, or resolve it."""
        Exception_ = self.env["finance.sync.exception"]
        if note:
            exception = Exception_._open_or_bump(
                backend=self.backend_id,
                category="reconciliation",
                message=note,
                document=self,
                fingerprint_key=f"reconciliation:{self.id}",
            )
            internal(self).write({"exception_id": exception.id})
            self._ask_responsible()
            return
        exception = Exception_._find_open(f"{self.backend_id.id}|reconciliation|reconciliation:{self.id}")
        if exception:
            exception._close("resolved")
            exception.message_post(body=self.env._("Resolved automatically: the platform's report now matches."))
        self.activity_ids.filtered(lambda a: a.activity_type_id == self._todo_type()).action_feedback(
            feedback=self.env._("The platform's report now matches.")
        )

    def _todo_type(self):
        return self.env.ref("mail.mail_activity_data_todo")

    def _ask_responsible(self):
        """One to-do on a mismatched period for the backend's responsible (or the default one of
        Settings), while it is mismatched."""
        if self.activity_ids.filtered(lambda a: a.activity_type_id == self._todo_type()):
            return
        user = self.backend_id.user_id or self.env["finance.sync.exception"]._default_responsible()
        if user:
            self.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Reconciliation mismatch: %s", self.name)[:200],
                note=self.difference,
                user_id=user.id,
            )

    @api.model
    def _fill_job_figures(self):
        """Record the amount, currency and accounting date of jobs captured before the outbox
        kept them, from their captured payloads (one statement; for the upgrade that adds the
        columns). Returns how many jobs were filled."""
        return outbox.fill_figures(self.env)

    @api.model
    def _fill_job_numbers(self):
        """Record the document number of jobs captured before the outbox kept it apart from the
        display name (``document_ref``), from their captured payloads: exactly the number their
        events carry (one statement; for the upgrade that adds the column). Returns how many
        jobs were filled."""
        return outbox.fill_numbers(self.env)


def _listed(items):
    """The first ``LISTED_IN_WORDS`` items, comma separated, with "…" when there are more."""
    return ", ".join(items[:LISTED_IN_WORDS]) + (", …" if len(items) > LISTED_IN_WORDS else "")
