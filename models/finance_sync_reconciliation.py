import logging
from collections import namedtuple
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from markupsafe import Markup
from psycopg2.errors import UniqueViolation

from odoo import api, fields, models
from odoo.exceptions import AccessError, ConcurrencyError, UserError
from odoo.fields import Command

from .. import const
from ..engine import inbound
from ..engine import payload as payload_lib
from ..engine.messages import message, selection
from ..errors import InboundRefusal
from ..utils import check_guarded_fields, compute_message, internal, message_vals
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
        rec.message_post(
            body=self.env._(
                "%(user)s queued %(n)s event(s) again for the platform, under their original ids: %(events)s",
                user=self.env.user.name,
                n=len(jobs),
                events=_listed(jobs.mapped("event_uuid")),
            )
        )
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

    @api.model
    def _check_report_precision(self, data):
        """Refuse, before anything is stored, a report whose amount is finer than its currency
        allows ("12.101" EUR): raise ``inbound.InvalidEvent`` (``amount_precision``, 422).
        Trailing zeros are fine ("12.100"); a currency Odoo does not know is left to the
        comparison (Odoo delivered nothing in it)."""
        totals = data.get("totals") or ()
        currencies = self._currencies({total["currency"] for total in totals})
        for index, total in enumerate(totals):
            currency = currencies.get(total["currency"])
            if currency and inbound.excess_decimals(total["amount"], currency.decimal_places):
                reason = (
                    f"amount {total['amount']} has more decimal places than {currency.name} allows "
                    f"({currency.decimal_places})"
                )
                raise inbound.InvalidEvent(
                    "amount_precision", reason, [inbound.SchemaViolation(f"/data/totals/{index}/amount", reason)]
                )

    def _reconcile(self, data, event=None):
        """Compare the platform's report ``data`` with what Odoo delivered for the period, record
        the outcome and open, bump or resolve the reconciliation's exception."""
        self.ensure_one()
        platform = {}
        for total in data.get("totals") or ():
            key = (total["event_type"], total["currency"])
            count, amount = platform.get(key, (0, Decimal(0)))
            platform[key] = (count + total["count"], amount + Decimal(total["amount"]))
        odoo = self._odoo_totals()
        currencies = self._currencies({code for _t, code in (*odoo, *platform) if code})
        totals = self._totals(odoo, platform, currencies)
        differences = [
            message(
                "reconciliation_totals_differ",
                event_type=total.event_type,
                currency=total.currency,
                odoo_count=total.odoo_count,
                odoo_amount=self._money(total.odoo_amount, total.currency, currencies),
                platform_count=total.platform_count,
                platform_amount=self._money(total.platform_amount, total.currency, currencies),
            )
            for total in totals
            if total.differs
        ]
        missing, unknown = self._compare_references(data)
        if missing:
            differences.append(self._missing_message(missing))
        if unknown:
            differences.append(
                message(
                    "reconciliation_unknown_references",
                    count=len(unknown),
                    references=_listed(unknown),
                )
            )
        note = message("reconciliation_mismatch", period=self._period_label(), differences=differences)
        vals = {
            "state": "mismatched" if differences else "matched",
            "line_ids": self._line_commands(totals, currencies),
            "odoo_event_count": sum(count for count, _amount in odoo.values()),
            "platform_event_count": sum(count for count, _amount in platform.values()),
            "missing_event_ids": missing or False,
            "missing_event_count": len(missing),
            "unknown_references": unknown or False,
            "unknown_reference_count": len(unknown),
            "difference_count": len(differences),
            **message_vals("difference", note if differences else None),
        }
        if event:
            vals.update(
                report_event_id=event.id,
                report_received_at=event.received_at,
                report_occurred_at=event.occurred_at,
            )
        internal(self).write(vals)
        self._settle_exception(note if differences else None)
        labels = dict(self._fields["state"]._description_selection(self.env))
        self.message_post(
            body=Markup("%s<br/>%s") % (labels[self.state], self.difference or self.env._("Both sides agree."))
        )

    def _compare_references(self, data):
        """(event ids Odoo delivered that the platform lacks, references the platform holds that
        Odoo never sent for the period), from the event ids or document numbers the report lists
        (nothing when it lists neither). Documents are matched on exactly the number the events
        carry (``document.number``); with documents only, an event is missing when the platform
        holds no document of its number (an event without a number cannot be named so)."""
        if "event_ids" not in data and "documents" not in data:
            return [], []
        events = self._odoo_events()
        missing, unknown = [], []
        if "event_ids" in data:
            held = set(data["event_ids"])
            missing = [event_id for event_id, _number in events if event_id not in held]
            unknown = sorted(held - {event_id for event_id, _number in events})
        if "documents" in data:
            held_documents = set(data["documents"])
            if "event_ids" not in data:
                missing = [event_id for event_id, number in events if number and number not in held_documents]
            unknown += sorted(held_documents - {number for _event_id, number in events})
        return missing, unknown

    def _missing_message(self, missing):
        """The difference naming the events ``missing`` on the platform by their documents:
        number, partner, amount, accounting date, event type and id (the first
        ``LISTED_IN_WORDS``; the form lists them all, with a link to each document)."""
        jobs = {job.event_uuid: job for job in self._jobs_of_events(missing[:LISTED_IN_WORDS])}
        currencies = {job.currency_id.name: job.currency_id for job in jobs.values() if job.currency_id}
        items = []
        for event_id in missing[:LISTED_IN_WORDS]:
            job = jobs.get(event_id)
            if not job:  # purged since: only its id is known
                items.append(message("reconciliation_missing_event", event_id=event_id))
                continue
            items.append(
                message(
                    "reconciliation_missing_document",
                    number=job.document_number or job.document_ref or "",
                    partner=job.partner_id.display_name or "",
                    # One document's amount, read back from its numeric column (a float that
                    # round-trips): shown in its currency's precision.
                    amount=self._money(job.amount, job.currency_id.name, currencies) if job.currency_id else "",
                    date=str(job.document_date or ""),
                    event_type=job.event_type,
                    event_id=event_id,
                )
            )
        if len(missing) > LISTED_IN_WORDS:
            items.append(message("reconciliation_more", count=len(missing) - LISTED_IN_WORDS))
        return message("reconciliation_missing_documents", count=len(missing), documents=items)

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

    # === INBOUND REPORT === #

    @api.model
    def _apply_report(self, event, data):
        """Record a platform's ``reconciliation.report`` (inbound event ``event``); returns the
        inbound handler's (state, message)."""
        backend = event.backend_id
        company = self._report_company(backend, data)
        date_from = date.fromisoformat(data["period"]["date_from"])
        date_to = date.fromisoformat(data["period"]["date_to"])
        if date_from > date_to:
            raise InboundRefusal(
                "inbound_invalid", message("reconciliation_bad_period", date_from=str(date_from), date_to=str(date_to))
            )
        domain = [
            ("backend_id", "=", backend.id),
            ("company_id", "=", company.id),
            ("date_from", "=", date_from),
            ("date_to", "=", date_to),
        ]
        rec = self.search(domain, limit=1)
        if not rec:
            try:
                with self.env.cr.savepoint():
                    rec = self.create(
                        {"backend_id": backend.id, "company_id": company.id, "date_from": date_from, "date_to": date_to}
                    )
            except UniqueViolation:
                # Another report opened this period after this transaction began: start again on
                # a fresh snapshot (Odoo retries the request on ConcurrencyError), which finds it.
                raise ConcurrencyError(
                    f"finance_sync: reconciliation of {date_from}..{date_to} opened concurrently"
                ) from None
        internal(event).write({"company_id": company.id, "reference": rec.name})
        if rec.report_occurred_at and event.occurred_at and event.occurred_at < rec.report_occurred_at:
            return "ignored", message("inbound_status_older", date=str(rec.report_occurred_at))
        rec._reconcile(data, event)
        return "processed", message(
            "reconciliation_recorded",
            period=rec._period_label(),
            state=selection(self._name, "state", rec.state),
        )

    @api.model
    def _report_company(self, backend, data):
        company_id = data.get("company_id")
        if company_id is None:
            if len(backend.company_ids) != 1:
                raise InboundRefusal("inbound_invalid", message("reconciliation_company_required"))
            return backend.company_ids
        company = backend.company_ids.filtered(lambda c: c.id == company_id)
        if not company:
            raise InboundRefusal("inbound_invalid", message("reconciliation_unknown_company", company=company_id))
        return company


def _listed(items):
    """The first ``LISTED_IN_WORDS`` items, comma separated, with "…" when there are more."""
    return ", ".join(items[:LISTED_IN_WORDS]) + (", …" if len(items) > LISTED_IN_WORDS else "")
