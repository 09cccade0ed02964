import logging
from datetime import timedelta

from markupsafe import Markup
from psycopg2.errors import UniqueViolation

from odoo import api, fields, models
from odoo.exceptions import ConcurrencyError, UserError
from odoo.fields import Domain
from odoo.tools import SQL
from odoo.tools.translate import LazyTranslate

from .. import const
from ..engine.mapping import KIND_FIELDS, MAPPING_KINDS, missing_mapping_key
from ..utils import check_guarded_fields, compute_message, internal, message_vals

_logger = logging.getLogger(__name__)
_lt = LazyTranslate(__name__)

BLOCKING_CATEGORIES = {
    "missing_mapping",
    "validation",
    "rejected",
    "transport",
    "authentication",
    "warehouse_schema",
    "dependency",
    "approval_rejected",
    "possible_duplicate",
}
# What an exception is about and where it belongs: set when it is raised or bumped, never by
# hand (moving an exception to another backend or company would take it out of its queue).
FACT_FIELDS = {
    "backend_id",
    "company_id",
    "category",
    "fingerprint",
    "message_code",
    "message_params",
    "job_ids",
    "inbound_event_ids",
    "res_model",
    "res_id",
    "move_id",
    "payment_id",
    "mapping_kind",
    "mapping_res_id",
    "first_seen",
    "last_seen",
    "occurrence_count",
}


# Plain-language explanation and suggested fix per category, declared lazily so that Odoo's
# extractor exports them, and read in the reader's language (``env._``). The fix is what the reader
# can do: ``FIXES`` for those who hold the right the fix needs (``FIX_RIGHTS``), ``ASK_FIXES`` for
# the others, who are told whom to ask (``%(who)s``) and what they may do themselves.
EXPLANATIONS = {
    "missing_mapping": _lt(
        "The document uses a record (account, tax, partner, …) that has no code on this platform yet, "
        "so it was held back instead of being sent with a wrong code."
    ),
    "validation": _lt("The data Odoo prepared does not match the format the platform expects, so it was not sent."),
    "rejected": _lt("The platform received the document and refused it. Its own message is shown below."),
    "transport": _lt(
        "Odoo could not deliver the document: the platform did not answer, answered with an error, "
        "or its address no longer exists."
    ),
    "authentication": _lt("The platform refused Odoo's credentials."),
    "conflict": _lt("The platform reported data that contradicts Odoo (amounts, currency, state)."),
    "inbound_unknown_reference": _lt("The platform sent an update about a document Odoo cannot find."),
    "inbound_invalid": _lt("The platform sent an update Odoo could not apply."),
    "warehouse_schema": _lt(
        "The warehouse database has no finance_sync tables, or tables of another version than this module "
        "writes, so the event was not applied: initialize the warehouse."
    ),
    "reconciliation": _lt(
        "The platform's figures for a period differ from what Odoo delivered: events missing on one side, "
        "or totals that differ per event type and currency."
    ),
    "late_delivery": _lt(
        "Documents posted longer ago than the delivery target of Settings (Deliver within) are not delivered yet."
    ),
    "dependency": _lt(
        "The platform must know the document's partner before the document, and the partner's own event "
        "could not be delivered, so the document waits for it."
    ),
    "credit_hold": _lt(
        "A platform with credit authority put the customer on credit hold, so the invoice was kept as draft "
        "instead of being posted."
    ),
    "approval_rejected": _lt(
        "The platform that created this document rejected or withdrew it after it was posted in Odoo. Odoo never "
        "undoes a posted entry on a platform's word: a person decides."
    ),
    "possible_duplicate": _lt(
        "A platform sent a customer or supplier that may be a partner Odoo has already, and the evidence "
        "(VAT number, registry number, e-mail domain, name) does not say which. Nothing was created or merged."
    ),
    "bank_account": _lt(
        "A platform gave a supplier a new bank account. Odoo does not pay to it until a person trusts it: "
        "changed bank details are a classic payment-fraud path."
    ),
    "business": _lt(
        "A platform's records and Odoo's disagree on a business fact: an invoice the platform reported paid is "
        "still unpaid in Odoo past its due date, a payment names no invoice Odoo knows, or a deal the platform "
        "won has no sales order."
    ),
}
FIXES = {
    "missing_mapping": _lt(
        "Press Add mapping on this exception and type the platform's code for the record. The held documents "
        "are sent automatically once it exists."
    ),
    "validation": _lt("Check the listed fields on the document; correct them, then press Retry."),
    "rejected": _lt("Correct the document or the platform's configuration as the message says, then press Retry."),
    "transport": _lt(
        "Check that the platform is up and that the backend's endpoint URL is right, then press Retry. "
        "Resume the backend if it was paused."
    ),
    "authentication": _lt(
        "Enter a valid token or password on the backend (Configuration › Backends), then press Retry."
    ),
    "conflict": _lt("Compare the document in Odoo with the platform and correct the side that is wrong."),
    "inbound_unknown_reference": _lt(
        "Check the reference the platform used; link or create the document, then reprocess the event."
    ),
    "inbound_invalid": _lt("Read the message below, fix the cause, then reprocess the event."),
    "warehouse_schema": _lt("Press Initialize warehouse on the backend (Configuration › Backends), then press Retry."),
    "reconciliation": _lt(
        "Open the reconciliation (Open document): re-send the events the platform lacks, check the references "
        "Odoo never sent, then ask the platform for a new report. A matching report resolves this exception."
    ),
    "late_delivery": _lt(
        "Look at the linked jobs: resume a paused backend, fix what holds them or check that the platform is up. "
        "This exception resolves itself once they are delivered."
    ),
    "dependency": _lt(
        "Open the partner's job to see why it was not delivered and fix that; then press Retry: the partner "
        "goes first and the document follows."
    ),
    "credit_hold": _lt(
        "Post the invoice with Confirm if it should be posted: it asks why the hold is overridden and records the "
        "reason in the invoice's chatter (this exception then resolves itself). Or wait until the credit platform "
        "lifts the hold and reprocess the event."
    ),
    "approval_rejected": _lt(
        "Open the document (Open document). If the platform is right, reverse it (Credit Note): this exception "
        "then resolves itself. If Odoo is right, tell the platform and resolve this exception."
    ),
    "possible_duplicate": _lt(
        "Compare the possible duplicates with the platform's account: choose the right one and press Bind to "
        "this partner, or press Create a new one. The waiting event is then applied."
    ),
    "bank_account": _lt(
        "Call the supplier on a number you already know and confirm the account; then allow outgoing payments "
        "(Send Money) on it in the partner's bank accounts, and resolve this exception."
    ),
    "business": _lt(
        "Compare both sides (Open document shows Odoo's record; the message names the platform's reference) and "
        "correct the one that is wrong: register the payment, link it to its invoice, or create the order. This "
        "finding resolves itself once both sides agree."
    ),
}
ADMIN_GROUP = "finance_sync.finance_sync_group_admin"
MAPPING_EDITOR_GROUP = "finance_sync.finance_sync_group_mapping_editor"
# Categories whose to-do goes to someone who may apply the fix (the right of FIX_RIGHTS) when
# the backend's responsible may not, and how many such users a reader is told to ask at most.
ROUTED_CATEGORIES = ("missing_mapping",)
ASK_NAMES = 3
# States of a job that Retry sends again.
RETRYABLE_JOB_STATES = ("failed", "dead", "blocked")
# The group a category's fix needs (buttons and settings only its members have): reprocessing an
# inbound event, re-sending events, the backend's configuration, adding a mapping.
FIX_RIGHTS = {
    "missing_mapping": MAPPING_EDITOR_GROUP,
    "transport": ADMIN_GROUP,
    "authentication": ADMIN_GROUP,
    "inbound_unknown_reference": ADMIN_GROUP,
    "inbound_invalid": ADMIN_GROUP,
    "warehouse_schema": ADMIN_GROUP,
    "reconciliation": ADMIN_GROUP,
    "late_delivery": ADMIN_GROUP,
    "credit_hold": ADMIN_GROUP,
    "possible_duplicate": ADMIN_GROUP,
}
ASK_FIXES = {
    "missing_mapping": _lt(
        "Ask %(who)s to add the platform's code for the record (Add mapping on this exception). The held "
        "documents are sent automatically once it exists."
    ),
    "transport": _lt(
        "If the platform was down, press Retry once it is up again. If the backend's endpoint URL is wrong or "
        "the backend was paused, ask %(who)s to correct or resume it, then press Retry."
    ),
    "authentication": _lt(
        "Ask %(who)s to check the backend's credentials and signing secret against the ones the platform "
        "issued; then press Retry."
    ),
    "inbound_unknown_reference": _lt(
        "Check the reference the platform used and tell %(who)s which document it means; once the document "
        "exists, they reprocess the event (only Finance Sync administrators may)."
    ),
    "inbound_invalid": _lt(
        "Read the message below. Once its cause is fixed, ask %(who)s to reprocess the event (only Finance "
        "Sync administrators may)."
    ),
    "warehouse_schema": _lt("Ask %(who)s to press Initialize warehouse on the backend; once it is done, press Retry."),
    "reconciliation": _lt(
        "Open the reconciliation (Open document) to see the differences, and ask %(who)s to send the events the "
        "platform lacks again and to ask the platform for a new report. A matching report resolves this exception."
    ),
    "late_delivery": _lt(
        "Look at the linked jobs: press Retry on the failed ones. If the backend is paused or its settings hold "
        "them, ask %(who)s. This exception resolves itself once they are delivered."
    ),
    "credit_hold": _lt(
        "Post the invoice with Confirm if it should be posted: it asks why the hold is overridden and records the "
        "reason in the invoice's chatter (this exception then resolves itself). Or wait until the credit platform "
        "lifts the hold and ask %(who)s to reprocess the event (only Finance Sync administrators may)."
    ),
    "possible_duplicate": _lt(
        "Tell %(who)s which partner the platform's account is (or that it is a new one): only Finance Sync "
        "administrators bind it or create it."
    ),
}
# An authentication refusal points at what the backend really sends: credentials, or only the
# signature when it has no authentication (a 401 then means the platform expects other ones).
# The fix of a closed exception: nothing left to do.
CLOSED_FIXES = {
    "resolved": _lt("Nothing to do: this exception is resolved."),
    "ignored": _lt(
        "Nothing to do: this exception was ignored (see the reason). Set it back to New if the problem needs fixing "
        "after all."
    ),
}
AUTHENTICATION_FIXES = {
    "none": _lt(
        "The backend sends no credentials, only its signature: give the platform the backend's signing secret "
        "(or set the one the platform issued), or choose the authentication the platform expects, then press "
        "Retry."
    ),
    "signed": _lt(
        "Check that the backend's token or password and its signing secret are the ones the platform issued "
        "(Configuration › Backends), then press Retry."
    ),
}


class FinanceSyncException(models.Model):
    """A sync problem a person must look at. One open record per fingerprint: the same
    problem recurring bumps ``last_seen`` and the count instead of creating another."""

    _name = "finance.sync.exception"
    _description = "Finance Sync Exception"
    _inherit = ["finance.sync.document.link", "mail.thread", "mail.activity.mixin"]
    _order = "state_rank, last_seen desc, id desc"
    _check_company_auto = True

    name = fields.Char("Summary", required=True, tracking=True)
    backend_id = fields.Many2one(
        "finance.sync.backend",
        required=True,
        readonly=True,
        index=True,
        ondelete="cascade",
        tracking=True,
        check_company=True,
    )
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True, help="The document's company, or the backend's."
    )
    category = fields.Selection(const.EXCEPTION_CATEGORIES, required=True, readonly=True, tracking=True)
    severity = fields.Selection([("blocking", "Blocking"), ("warning", "Warning")], required=True, default="blocking")
    state = fields.Selection(
        [("new", "New"), ("in_progress", "In progress"), ("resolved", "Resolved"), ("ignored", "Ignored")],
        required=True,
        default="new",
        tracking=True,
        index=True,
    )
    state_rank = fields.Integer(compute="_compute_state_rank", store=True)
    user_id = fields.Many2one("res.users", "Responsible", tracking=True)
    fingerprint = fields.Char(required=True, index=True, readonly=True)
    message_code = fields.Char(readonly=True)
    message_params = fields.Json(readonly=True)
    message = fields.Text("Details", compute="_compute_message")
    explanation = fields.Text(compute="_compute_explanation")
    suggested_fix = fields.Text(compute="_compute_explanation")
    job_ids = fields.Many2many(
        "finance.sync.job",
        "finance_sync_exception_job_rel",
        "exception_id",
        "job_id",
        string="Jobs",
        readonly=True,
    )
    job_count = fields.Integer(compute="_compute_job_count")
    can_retry = fields.Boolean(
        compute="_compute_can_retry", help="Whether a failed, dead or blocked job of this exception can be sent again."
    )
    inbound_event_ids = fields.Many2many(
        "finance.sync.inbound.event",
        "finance_sync_exception_inbound_rel",
        "exception_id",
        "inbound_event_id",
        string="Inbound events",
        readonly=True,
    )
    move_id = fields.Many2one(ondelete="cascade")
    payment_id = fields.Many2one(ondelete="cascade")
    mapping_kind = fields.Selection(
        MAPPING_KINDS, "Unmapped kind", readonly=True, help="Missing mapping: the kind of the record without a code."
    )
    mapping_res_id = fields.Integer(
        "Unmapped record ID", readonly=True, help="Missing mapping: the id of the record without a code."
    )
    first_seen = fields.Datetime(string="First seen", required=True, readonly=True, default=fields.Datetime.now)
    last_seen = fields.Datetime(string="Last seen", required=True, readonly=True, default=fields.Datetime.now)
    occurrence_count = fields.Integer("Occurrences", default=1, readonly=True)
    resolved_at = fields.Datetime(string="Resolved at", readonly=True)
    age_bucket = fields.Selection(
        [("1_day", "Under a day"), ("2_week", "Under a week"), ("3_month", "Under a month"), ("4_older", "Older")],
        "Age",
        compute="_compute_age_bucket",
        search="_search_age_bucket",
        help="Time since the problem was first seen.",
    )
    ignore_reason = fields.Text(string="Ignore reason", readonly=True, tracking=True)

    _open_fingerprint_uniq = models.UniqueIndex(
        "(fingerprint) WHERE state IN ('new', 'in_progress')", "An open exception with this fingerprint exists."
    )
    _mapping_idx = models.Index("(mapping_kind, mapping_res_id) WHERE mapping_kind IS NOT NULL")

    # === COMPUTE METHODS === #

    @api.depends("state")
    def _compute_state_rank(self):
        ranks = {"new": 0, "in_progress": 1, "resolved": 2, "ignored": 3}
        for exc in self:
            exc.state_rank = ranks.get(exc.state, 9)

    # Age buckets by days since first seen: (key, lower bound included, upper bound excluded).
    AGE_BUCKETS = (("1_day", 0, 1), ("2_week", 1, 7), ("3_month", 7, 30), ("4_older", 30, None))

    @api.depends("first_seen")
    def _compute_age_bucket(self):
        now = fields.Datetime.now()
        for exc in self:
            days = (now - exc.first_seen).total_seconds() / 86400 if exc.first_seen else 0
            exc.age_bucket = next(key for key, _low, high in self.AGE_BUCKETS if high is None or days < high)

    def _search_age_bucket(self, operator, value):
        if operator not in ("in", "not in"):
            return NotImplemented
        now = fields.Datetime.now()
        domain = Domain.FALSE
        for key, low, high in self.AGE_BUCKETS:
            if key not in value:
                continue
            part = Domain("first_seen", "<=", now - timedelta(days=low)) if low else Domain.TRUE
            if high is not None:
                part &= Domain("first_seen", ">", now - timedelta(days=high))
            domain |= part
        return domain if operator == "in" else ~domain

    def _field_to_sql(self, alias, field_expr, query=None):
        """``age_bucket`` as SQL, so that lists, pivots and graphs can group by age although it
        is not stored (a stored age would be stale the next day)."""
        if field_expr == "age_bucket":
            first_seen = super()._field_to_sql(alias, "first_seen", query)
            now = fields.Datetime.now()
            whens = SQL(" ").join(
                SQL("WHEN %s > %s THEN %s", first_seen, now - timedelta(days=high), key)
                for key, _low, high in self.AGE_BUCKETS
                if high is not None
            )
            return SQL("(CASE %s ELSE %s END)", whens, self.AGE_BUCKETS[-1][0])
        return super()._field_to_sql(alias, field_expr, query)

    @api.depends("message_code", "message_params")
    @api.depends_context("lang")
    def _compute_message(self):
        compute_message(self, "message")

    @api.depends("category", "state", "backend_id.auth_mode", "backend_id.user_id")
    @api.depends_context("uid", "lang")
    def _compute_explanation(self):
        """What happened, and what the reader can do about it: the fix itself for those who hold
        the right it needs, otherwise whom to ask and what they may do themselves; nothing once
        the exception is closed."""
        may = {group: self.env.user.has_group(group) for group in set(FIX_RIGHTS.values())}
        for exc in self:
            explanation = EXPLANATIONS.get(exc.category)
            group = FIX_RIGHTS.get(exc.category)
            if exc.state in CLOSED_FIXES:
                fix = self.env._(CLOSED_FIXES[exc.state])
            elif group and not may[group]:
                fix = self.env._(ASK_FIXES[exc.category]) % {"who": exc._whom_to_ask(group)}
            elif exc.category == "authentication" and exc.backend_id:
                fix = self.env._(AUTHENTICATION_FIXES["none" if exc.backend_id.auth_mode == "none" else "signed"])
            else:
                fix = FIXES.get(exc.category) and self.env._(FIXES[exc.category])
            exc.explanation = explanation and self.env._(explanation)
            exc.suggested_fix = fix or False

    def _whom_to_ask(self, group):
        """Who may apply this exception's fix, in words: its responsible or the backend's when they
        hold the right (``group``), else the users who do, by name (a few of them)."""
        self.ensure_one()
        for responsible in (self.sudo().user_id, self.backend_id.sudo().user_id):
            if responsible and responsible != self.env.user and responsible.has_group(group):
                return responsible.name
        fixers = (self._fixers(group, self.backend_id.sudo()) - self.env.user)[:ASK_NAMES]
        if fixers:
            names = fixers.mapped("name")
            if len(names) == 1:
                return names[0]
            return self.env._("%(names)s or %(last)s", names=", ".join(names[:-1]), last=names[-1])
        if group == MAPPING_EDITOR_GROUP:
            return self.env._("a Finance Sync mapping editor or administrator")
        return self.env._("a Finance Sync administrator")

    @api.model
    def _fixers(self, group, backend):
        """The active internal users of ``backend``'s companies who hold ``group``, the module's
        administrators first (then by id): those a to-do may go to and a reader may ask."""
        admins = self.env.ref(ADMIN_GROUP).sudo().all_user_ids
        holders = self.env.ref(group).sudo().all_user_ids
        companies = backend.company_ids
        usable = holders.filtered(lambda u: u.active and not u.share and (not companies or u.company_ids & companies))
        return (usable & admins).sorted("id") | usable.sorted("id")

    @api.model
    def _responsible_for(self, backend, category):
        """Who gets a new exception and its to-do: the backend's responsible (or Settings' default);
        for a missing mapping, whose fix needs a right of its own, someone who holds it: the
        responsible when they do, else Settings' default when they do, else an administrator (or
        a mapping editor) of the backend's companies."""
        user = backend.user_id or self._default_responsible()
        group = FIX_RIGHTS.get(category)
        if category not in ROUTED_CATEGORIES or not group or (user and user.has_group(group)):
            return user
        default = self._default_responsible()
        if default and default.has_group(group):
            return default
        return self._fixers(group, backend)[:1] or user

    def _compute_job_count(self):
        for exc in self:
            exc.job_count = len(exc.job_ids)

    def _compute_can_retry(self):
        for exc in self:
            exc.can_retry = exc.state in const.EXCEPTION_OPEN_STATES and any(
                job.state in RETRYABLE_JOB_STATES for job in exc.job_ids
            )

    # === CRUD METHODS === #

    def write(self, vals):
        """Closing goes through here whichever way it is done (buttons, the clickable status bar,
        an import): the closing time is kept, activities are marked done, and ignoring needs a
        reason. What the exception is about (FACT_FIELDS) is only written when it is raised again."""
        check_guarded_fields(self, vals, FACT_FIELDS)
        state = vals.get("state")
        reason_given = (vals.get("ignore_reason") or "").strip()
        if state == "ignored" and not reason_given and any(e.state != "ignored" and not e.ignore_reason for e in self):
            raise UserError(self.env._("Give a reason to ignore an exception: use the Ignore button."))
        closing = self.env["finance.sync.exception"]
        if state in ("resolved", "ignored"):
            closing = self.filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES)
            vals = dict(vals, resolved_at=vals.get("resolved_at") or fields.Datetime.now())
        elif state in const.EXCEPTION_OPEN_STATES:
            vals = dict(vals, resolved_at=False)
            if any(exc.state == "ignored" for exc in self):
                vals["ignore_reason"] = False  # reopened: ignoring again needs a new reason
        res = super().write(vals)
        if closing:
            label = dict(self._fields["state"].selection)[state]
            closing.activity_ids.action_feedback(feedback=self.env._("Exception %s.", label))
        return res

    # === ACTION METHODS === #

    def action_retry(self):
        """Re-queue the failed, dead or blocked jobs of these exceptions and send them right away,
        so the person who fixed the cause sees the outcome at once (the exception resolves itself
        when they go through, or is bumped again when they fail). Works on a selection: the
        exceptions without such a job are left as they are."""
        jobs = self.job_ids.filtered(lambda j: j.state in RETRYABLE_JOB_STATES)
        if not jobs:
            raise UserError(self.env._("There is no failed, dead or blocked job to retry on these exceptions."))
        retried = self.filtered(lambda e: e.job_ids & jobs)
        retried.filtered(lambda e: e.state == "new").state = "in_progress"
        for exc in retried:
            count = len(exc.job_ids & jobs)
            if count == 1:
                body = self.env._("Retry requested by %(user)s for 1 job.", user=self.env.user.name)
            else:
                body = self.env._("Retry requested by %(user)s for %(n)s jobs.", user=self.env.user.name, n=count)
            exc.message_post(body=body)
        jobs.action_retry()
        jobs._send_now()
        return self._retry_outcome(jobs)

    def _retry_outcome(self, jobs):
        """What a retry did, in words: a notification (a retry that re-blocks says which codes are
        still missing, instead of silently bumping the count)."""
        jobs.invalidate_recordset(["state"])
        still_missing = jobs.filtered(lambda j: j.state == "blocked").exception_ids.filtered(
            lambda e: e.category == "missing_mapping" and e.state in const.EXCEPTION_OPEN_STATES
        )
        failed = jobs.filtered(lambda j: j.state in ("failed", "dead"))
        if still_missing:
            kind, message = "warning", self.env._("Still missing: %s", ", ".join(still_missing.mapped("name")))
        elif failed:
            kind, message = "danger", self.env._("Sent again, still refused: see the exception for the reason.")
        else:
            done = jobs.filtered(lambda j: j.state == "done")
            kind, message = "success", self.env._("Delivered: %(done)s of %(all)s.", done=len(done), all=len(jobs))
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"title": self.env._("Retry"), "message": message, "type": kind},
        }

    def action_resolve(self):
        if not self.filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES):
            raise UserError(self.env._("These exceptions are already closed."))
        self._close("resolved")
        return True

    def action_ignore(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Ignore exceptions"),
            "res_model": "finance.sync.exception.ignore",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    def _ignore(self, reason):
        reason = (reason or "").strip()
        if not reason:
            raise UserError(self.env._("Give a reason to ignore an exception."))
        opened = self.filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES)
        if not opened:
            raise UserError(self.env._("These exceptions are already closed."))
        opened.write({"state": "ignored", "ignore_reason": reason})
        for exc in opened:
            exc.message_post(body=Markup("%s<br/>%s") % (self.env._("Ignored. Reason:"), reason))

    def action_add_mapping(self):
        """Open a new mapping, prefilled with the record this exception says is missing."""
        self.ensure_one()
        kind, res_id = self.mapping_kind, self.mapping_res_id
        if not kind:
            raise UserError(self.env._("This exception is not about a missing mapping."))
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Add mapping"),
            "res_model": "finance.sync.mapping",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_set_id": self.backend_id.mapping_set_id.id,
                "default_kind": kind,
                f"default_{KIND_FIELDS[kind][0]}": res_id,
            },
        }

    def action_view_jobs(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id("finance_sync.finance_sync_job_action")
        action["domain"] = [("id", "in", self.job_ids.ids)]
        return action

    def action_reprocess_inbound(self):
        """Apply the failed inbound events of these exceptions again (after fixing the cause)."""
        events = self.inbound_event_ids.filtered(lambda e: e.state == "failed")
        if not events:
            raise UserError(self.env._("There is no failed inbound event to reprocess on these exceptions."))
        events.action_reprocess()
        self.filtered(lambda e: e.state == "new").state = "in_progress"
        return True

    # === BUSINESS METHODS === #

    def _close(self, state):
        """Close the open ones among these exceptions (see write for what closing does)."""
        self.filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES).write({"state": state})

    def _resolve_if_fixed(self):
        """Resolve open exceptions whose linked jobs have all gone through (done or cancelled)."""
        for exc in self.filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES and e.job_ids):
            if all(job.state in ("done", "cancelled") for job in exc.job_ids):
                exc._close("resolved")
                exc.message_post(body=self.env._("Resolved automatically: every linked job went through."))

    def _resolve_if_inbound_applied(self):
        """Resolve open exceptions whose inbound events have all been applied since (and whose
        jobs, if any, went through)."""
        for exc in self.sudo().filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES and e.inbound_event_ids):
            events_done = all(event.state in ("processed", "ignored") for event in exc.inbound_event_ids)
            jobs_done = all(job.state in ("done", "cancelled") for job in exc.job_ids)
            if events_done and jobs_done:
                exc._close("resolved")
                exc.message_post(body=self.env._("Resolved automatically: every linked inbound event was applied."))

    @api.model
    def _resolve_findings(self, backend, fingerprint_keys):
        """Resolve the open business findings of ``backend`` whose cause is gone (their
        ``fingerprint_key`` among ``fingerprint_keys``), saying so in their chatter."""
        if not fingerprint_keys:
            return
        fingerprints = [f"{backend.id}|business|{key}" for key in fingerprint_keys]
        findings = self.sudo().search(
            [("fingerprint", "in", fingerprints), ("state", "in", const.EXCEPTION_OPEN_STATES)]
        )
        for finding in findings:
            finding._close("resolved")
            finding.message_post(body=self.env._("Resolved automatically: the records on both sides agree now."))

    @api.model
    def _default_responsible(self):
        """The default responsible of Settings (an active user), or no user."""
        user_id = (self.env["ir.config_parameter"].sudo().get_param(const.PARAM_DEFAULT_USER) or "").strip()
        users = self.env["res.users"].sudo().browse(int(user_id)).exists() if user_id.isdigit() else None
        return users.filtered("active") if users else self.env["res.users"]

    @api.model
    def _find_open(self, fingerprint):
        """The open exception with this fingerprint, as this transaction sees it."""
        return self.sudo().search(
            [("fingerprint", "=", fingerprint), ("state", "in", const.EXCEPTION_OPEN_STATES)], limit=1
        )

    @api.model
    def _open_or_bump(
        self,
        backend,
        category,
        message,
        jobs=None,
        document=None,
        fingerprint_key="",
        name=None,
        mapping=None,
        todo=True,
    ):
        """Open an exception, or bump the open one with the same fingerprint (``backend``,
        ``category`` and ``fingerprint_key``). ``message`` says what happened: a
        ``messages.Message``, or a text that has no translation (the platform's own words).
        ``mapping`` is the ``(kind, record id)`` of a
        record without a code: one exception per such record (its fingerprint key). ``todo``
        False: a blocking exception gives its responsible no to-do (the document carries one)."""
        jobs = jobs or self.env["finance.sync.job"]
        if mapping:
            fingerprint_key = missing_mapping_key(*mapping)
        fingerprint = f"{backend.id}|{category}|{fingerprint_key}"
        now = fields.Datetime.now()
        existing = self._find_open(fingerprint)
        if existing:
            internal(existing).write(
                {
                    "last_seen": now,
                    "occurrence_count": existing.occurrence_count + 1,
                    **(message_vals("message", message) if message else {}),
                    "job_ids": [(4, job.id) for job in jobs],
                }
            )
            return existing
        labels = dict(const.EXCEPTION_CATEGORIES)
        doc_label = document.display_name if document else ""
        vals = {
            "name": name or (f"{labels[category]}: {doc_label}" if doc_label else labels[category]),
            "backend_id": backend.id,
            "company_id": (document.company_id.id if document and "company_id" in document else False)
            or backend.company_ids[:1].id,
            "category": category,
            "severity": "blocking" if category in BLOCKING_CATEGORIES else "warning",
            "fingerprint": fingerprint,
            **message_vals("message", message),
            "job_ids": [(6, 0, jobs.ids)],
            "first_seen": now,
            "last_seen": now,
            "user_id": self._responsible_for(backend.sudo(), category).id,
        }
        vals.update(self._document_link_vals(document))
        if mapping:
            vals.update(mapping_kind=mapping[0], mapping_res_id=mapping[1])
        try:
            with self.env.cr.savepoint():
                exc = self.sudo().create(vals)
        except UniqueViolation:
            # Another transaction opened the same exception after this one started: its row is
            # invisible to this snapshot. Start again on a fresh one (requests and the dispatcher
            # retry on ConcurrencyError), where the recurrence bumps that exception.
            raise ConcurrencyError(f"finance_sync: exception {fingerprint} opened concurrently") from None
        _logger.info("finance_sync: exception %s (%s) on backend %s", exc.id, category, backend.id)
        if exc.severity == "blocking" and exc.user_id and todo:
            exc.activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Sync blocked: %s", exc.name)[:200],
                note=exc.explanation,
                user_id=exc.user_id.id,
            )
        return exc
