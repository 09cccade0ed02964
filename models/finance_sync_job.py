import logging
import uuid

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain

from .. import const
from ..engine import payload as payload_lib
from ..engine import profile as profile_lib
from ..engine.messages import message
from ..utils import check_guarded_fields, compute_message, purge_batch, retention_cutoff
from . import finance_sync_outbox as outbox

_logger = logging.getLogger(__name__)

ADMIN_GROUP = "finance_sync.finance_sync_group_admin"


class JsonText(fields.Json):
    """A Json field stored as PostgreSQL ``json``: the text as written, checked but not
    decomposed into ``jsonb``. Captured events are written once, during the posting that
    produces them, and always read back whole, so the decomposition would only make posting
    slower (by about a fifth of the outbox row's cost); ``->`` still reads into them."""

    _column_type = ("json", "json")


class FinanceSyncJob(models.Model):
    """One event for one backend: the transactional outbox row.

    Written in the same transaction as the business change that caused it, sent by the
    dispatcher (``finance.sync.dispatcher``), retried with the same event id and the same frozen
    body until done, failed, dead or cancelled. Its state changes only through its named
    transitions (``_mark_*``, in ``finance_sync_job_state.py``, which also applies the outcomes
    the dispatcher hands over), never by a direct write elsewhere: ``write`` refuses every other
    caller, administrators and the superuser included, so that the outbox and its delivery facts
    cannot be falsified. The SQL over its table is in ``finance_sync_outbox.py``.
    """

    _name = "finance.sync.job"
    _inherit = ["finance.sync.document.link", "mail.thread"]
    _description = "Finance Sync Job"
    _order = "id desc"
    _rec_name = "event_uuid"
    _check_company_auto = True

    # === FIELDS === #

    # No single-column indexes on backend_id or company_id: the unique indexes below lead with
    # backend_id, and company filters (record rules) match most rows. Each index is one more
    # write for every job captured, claimed and delivered.
    backend_id = fields.Many2one(
        "finance.sync.backend", required=True, ondelete="restrict", readonly=True, check_company=True
    )
    company_id = fields.Many2one("res.company", required=True, readonly=True)
    event_uuid = fields.Char("Event ID", required=True, readonly=True, copy=False, default=lambda s: str(uuid.uuid4()))
    event_type = fields.Selection(const.EVENT_TYPES, string="Event type", required=True, readonly=True)
    res_model = fields.Char(required=True)
    res_id = fields.Many2oneReference(required=True)
    document_ref = fields.Char("Document", readonly=True)
    document_number = fields.Char(
        "Document number",
        readonly=True,
        help="The document's number exactly as this event carries it (document.number): what a platform's "
        "reconciliation report lists among its documents.",
    )
    sequence = fields.Integer(
        required=True,
        readonly=True,
        help="Order of this event in its stream: the events of one document, the master data events of one partner "
        "(created, changed, merged), or the credit exposure events of one partner. Each stream has its own "
        "sequence and is sent in that order.",
    )
    state = fields.Selection(const.JOB_STATES, required=True, default="pending", index=True, readonly=True)
    attempt_count = fields.Integer("Attempts", readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", default=fields.Datetime.now, required=True, readonly=True)
    last_status_code = fields.Integer(
        "Last HTTP status", readonly=True, aggregator=False, help="Empty when no HTTP answer was received."
    )
    last_error_code = fields.Char(readonly=True)
    last_error_params = fields.Json(readonly=True)
    last_error = fields.Text(compute="_compute_last_error", help="Why the last attempt did not deliver the event.")
    payload = JsonText(readonly=True, help="Canonical event as captured, before mappings.")
    body = fields.Text(
        "Sent body",
        readonly=True,
        help="The exact JSON sent; frozen (rendered, validated and committed) before the first attempt, "
        "then re-sent byte for byte.",
    )
    frozen_at = fields.Datetime("Body frozen", readonly=True)
    sent_at = fields.Datetime("First sent", readonly=True)
    lease_until = fields.Datetime(
        "Claimed until",
        readonly=True,
        copy=False,
        help="A dispatcher worker is sending this job; if it dies, the job is due again after this moment.",
    )
    done_at = fields.Datetime(string="Done at", readonly=True)
    cancel_reason_code = fields.Char(readonly=True)
    cancel_reason_params = fields.Json(readonly=True)
    cancel_reason = fields.Text(
        string="Cancel reason", compute="_compute_cancel_reason", help="Who cancelled the job, when and why."
    )
    confirmed_at = fields.Datetime(
        string="Confirmed at",
        readonly=True,
        copy=False,
        help="When the platform acknowledged processing this event (inbound webhook).",
    )
    external_id = fields.Char(
        "External ID", readonly=True, copy=False, help="The platform's id of the document, from its acknowledgement."
    )
    # What business reconciliation totals (finance.sync.reconciliation): the document's amount,
    # currency and accounting date as captured, read from the payload once when the job is written
    # so that period totals are grouped SQL over columns, not JSON parsed row by row.
    amount = fields.Monetary(readonly=True, currency_field="currency_id", help="The document's total as captured.")
    currency_id = fields.Many2one("res.currency", readonly=True)
    document_date = fields.Date(
        string="Document date", readonly=True, help="The document's accounting date as captured."
    )
    partner_id = fields.Many2one(
        "res.partner", "Partner", compute="_compute_partner_id", help="The partner of the event's invoice or payment."
    )
    attempt_ids = fields.One2many("finance.sync.attempt", "job_id", readonly=True)
    exception_ids = fields.Many2many(
        "finance.sync.exception", "finance_sync_exception_job_rel", "job_id", "exception_id", readonly=True
    )
    depends_on_partner = fields.Integer(
        "Waits for partner (id)",
        readonly=True,
        index="btree_not_null",
        aggregator=False,
        help="Master data: the partner this event waits for. It is not sent while a partner.upserted event of "
        "that partner captured before it is still open on the same backend, so that the platform knows the "
        "partner before its documents. A plain id rather than a link: merging the partner into another one "
        "(which re-points every link to it) does not change what the event waits for, and capturing an event "
        "locks nothing of the partner.",
    )
    depends_on_partner_id = fields.Many2one(
        "res.partner",
        "Waits for partner",
        compute="_compute_depends_on_partner_id",
        search="_search_depends_on_partner_id",
        help="The partner this event waits for (empty once that partner was merged into another one).",
    )

    # === CONSTRAINTS AND INDEXES === #

    _event_uniq = models.UniqueIndex("(backend_id, event_uuid)", "This event already exists for this backend.")
    # One sequence per stream of a record (see ``finance_sync_outbox.stream_of``): a document's
    # events; a partner's master data events (partner.upserted, partner.merged); a partner's
    # credit exposure events. The dispatcher's per-stream order reads its leading columns.
    _document_sequence_uniq = models.UniqueIndex(
        f"(backend_id, res_model, res_id, (event_type = '{const.EVENT_PARTNER_EXPOSURE}'), sequence)",
        "Two events of one stream cannot share a sequence number.",
    )
    # What the dispatcher claims (frozen) and freezes (not yet): each search reads only its own
    # rows, however many of the other kind wait.
    _due_frozen_idx = models.Index("(backend_id, next_attempt_at, id) WHERE state = 'pending' AND body IS NOT NULL")
    _due_unfrozen_idx = models.Index("(backend_id, next_attempt_at, id) WHERE state = 'pending' AND body IS NULL")
    _attempts_positive = models.Constraint("CHECK(attempt_count >= 0)", "Attempts cannot be negative.")

    # === COMPUTE METHODS === #

    @api.depends("depends_on_partner")
    def _compute_depends_on_partner_id(self):
        partners = self.env["res.partner"].sudo().with_context(active_test=False)
        existing = set(partners.browse(set(self.mapped("depends_on_partner")) - {0}).exists().ids)
        for job in self:
            found = job.depends_on_partner in existing
            job.depends_on_partner_id = self.env["res.partner"].browse(job.depends_on_partner if found else ())

    def _search_depends_on_partner_id(self, operator, value):
        if operator in Domain.NEGATIVE_OPERATORS:
            return NotImplemented
        condition = ("display_name", operator, value) if isinstance(value, str) else ("id", operator, value)
        partners = self.env["res.partner"].with_context(active_test=False)._search([condition])
        return Domain("depends_on_partner", "in", partners)

    @api.depends("event_uuid", "event_type", "document_ref")
    def _compute_display_name(self):
        labels = dict(const.EVENT_TYPES)
        for job in self:
            job.display_name = f"{labels.get(job.event_type, job.event_type)} · {job.document_ref or job.res_id}"

    @api.depends("move_id.partner_id", "payment_id.partner_id")
    def _compute_partner_id(self):
        for job in self:
            job.partner_id = job.payment_id.partner_id or job.move_id.partner_id

    @api.depends("last_error_code", "last_error_params")
    @api.depends_context("lang")
    def _compute_last_error(self):
        compute_message(self, "last_error")

    @api.depends("cancel_reason_code", "cancel_reason_params")
    @api.depends_context("lang")
    def _compute_cancel_reason(self):
        compute_message(self, "cancel_reason")

    # === CRUD METHODS === #

    def write(self, vals):
        check_guarded_fields(self, vals)
        return super().write(vals)

    # === ACTION METHODS === #

    # Users read jobs but never write them directly: these actions check read access on the
    # jobs they were given (record rules included), then act as the system.

    def action_send_now(self):
        """Make the jobs due now and dispatch them in this request."""
        self.check_access("read")
        if not self.sudo().filtered(lambda j: j.state == "pending"):
            raise UserError(self.env._("Only pending jobs can be sent."))
        self._send_now()
        return True

    def _send_now(self):
        """Send the pending ones among these jobs right away (the circuit, a paused backend and
        per-document order still apply). Callers check access first."""
        jobs = self.sudo().filtered(lambda j: j.state == "pending")
        if jobs:
            jobs._reschedule(fields.Datetime.now())
            self.env["finance.sync.dispatcher"]._dispatch(backends=jobs.backend_id, job_ids=jobs.ids)

    def action_retry(self):
        """Re-queue failed, dead or blocked jobs: same event id, attempts start again."""
        self.check_access("read")
        jobs = self.sudo().filtered(lambda j: j.state in outbox.HELD_STATES)
        if not jobs:
            raise UserError(self.env._("Only failed, dead or blocked jobs can be retried."))
        jobs._mark_pending(reset_attempts=True)
        return True

    def action_send_again(self):
        """Deliver done events again (Finance Sync administrators): the same event id and the same
        frozen body, byte for byte, so that a platform deduplicating on the event id takes each
        once and the warehouse recognises an event it applied. Each job's chatter says who sent
        it again; the events go now (per-document order and the backend's state still apply)."""
        if not self.env.user.has_group(ADMIN_GROUP):
            raise AccessError(self.env._("Only Finance Sync administrators may send a delivered event again."))
        self.check_access("read")
        jobs = self.sudo()
        if not jobs or any(job.state != "done" for job in jobs):
            raise UserError(self.env._("Only delivered (done) events can be sent again."))
        user = self.env.user
        notes = {
            job.id: self.env._(
                "%(user)s sent this event again, with the same event id and body as delivered on %(date)s (UTC).",
                user=user.name,
                date=str(job.done_at or ""),
            )
            for job in jobs
        }
        jobs._mark_sent_again()
        jobs._message_log_batch(notes, author_id=user.partner_id.id)
        jobs._send_now()
        return True

    def action_cancel(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Cancel jobs"),
            "res_model": "finance.sync.job.cancel",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    def _cancel(self, reason):
        if not (reason or "").strip():
            raise UserError(self.env._("Give a reason to cancel a job."))
        self.check_access("read")
        jobs = self.sudo().filtered(lambda j: j.state not in ("done", "cancelled"))
        if len(jobs) != len(self):
            raise UserError(self.env._("Done or already cancelled jobs cannot be cancelled."))
        jobs._mark_cancelled(
            message("job_cancelled", user=self.env.user.name, date=str(fields.Datetime.now()), reason=reason.strip())
        )

    # === CAPTURE (same transaction as the business change) === #

    @api.model
    def _order_origins(self, moves, pairs):
        """{(move id, backend id): {"external_id", "number"}} for the invoices among ``moves``
        invoiced from a sales order that the backend's platform created (``order.create``), for
        the (move, backend) ``pairs`` captured. Empty without Odoo's Sales app."""
        if "sale.order" not in self.env or not pairs:
            return {}
        orders_of = {move.id: move.sudo().invoice_line_ids.sale_line_ids.order_id for move in moves}
        order_ids = {order.id for orders in orders_of.values() for order in orders}
        if not order_ids:
            return {}
        bindings = (
            self.env["finance.sync.binding"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "sale.order"),
                    ("res_id", "in", list(order_ids)),
                    ("backend_id", "in", list({backend.id for _rec, backend in pairs})),
                ]
            )
        )
        known = {(binding.backend_id.id, binding.res_id): binding.external_id for binding in bindings}
        origins = {}
        for rec, backend in pairs:
            for order in orders_of.get(rec.id, ()):
                if (backend.id, order.id) in known:
                    origins[rec.id, backend.id] = {"external_id": known[backend.id, order.id], "number": order.name}
                    break
        return origins

    @api.model
    def _enqueue(self, event_type, records, payloads, backends_by_record, depends_on=None):
        """Create one job per (record, backend), in the current transaction.

        Each document's snapshot is serialised and sent to the database once, however many
        backends receive it (once per way of masking personal data among them: a row keeps what
        its backend receives, ``engine.profile.mask_personal_data``); a backend's copy only adds
        its envelope (event id, sequence), joined to the snapshot by the single INSERT that writes
        all rows (in the order of ``records``,
        then of each one's backends): capturing for a second or third
        backend costs a short row, not another payload or ORM create (jobs have no computed,
        tracked or constrained field that the ORM would have to handle; their database
        constraints apply).

        :param records: account.move or account.payment recordset
        :param payloads: {record id: canonical payload without envelope ids}
        :param backends_by_record: {record id: finance.sync.backend recordset}
        :param depends_on: optional {(record id, backend id): partner id} whose earlier partner
            events must be delivered first (see ``depends_on_partner``)
        """
        depends_on = depends_on or {}
        pairs = [(rec, backend) for rec in records for backend in backends_by_record.get(rec.id, ())]
        if not pairs:
            return self.browse()
        model = records._name
        # Next sequence per (backend, document) in the event's stream, one query for the whole batch.
        last = outbox.next_sequences(self.env, model, records.ids, {b.id for _r, b in pairs}, event_type)
        now = fields.Datetime.now()
        # A row keeps what its backend receives of personal data (its profile's masking, see
        # engine/profile.py), no more: backends whose profiles mask alike share one snapshot of a
        # document (a variant), the others get their own.
        personal = {backend.id: profile_lib.personal_key(backend._get_profile()) for _rec, backend in pairs}
        variants = {key: number for number, key in enumerate(dict.fromkeys(personal.values()))}
        documents = []
        for rec in records:
            if rec.id not in backends_by_record:
                continue
            # Amount, date and currency of a document (partner events describe no document).
            amount, document_date = payload_lib.document_figures(payloads[rec.id])
            currency_id = (rec.currency_id.id or None) if amount is not None else None
            for key in dict.fromkeys(personal[backend.id] for backend in backends_by_record[rec.id]):
                snapshot = profile_lib.mask_personal_data(payloads[rec.id], dict(key))
                documents.append(
                    (
                        rec.id,
                        variants[key],
                        rec.company_id.id,
                        rec.display_name,
                        payload_lib.document_number(payloads[rec.id]),
                        payload_lib.json_object_members(snapshot),
                        amount,
                        document_date,
                        currency_id,
                    )
                )
        envelopes = []
        has_origin = model == "account.move"  # documents a platform created carry its id back
        order_origins = self._order_origins(records, pairs) if has_origin else {}
        for position, (rec, backend) in enumerate(pairs):
            seq = last.get((backend.id, rec.id), 0) + 1
            last[(backend.id, rec.id)] = seq
            event_uuid = str(uuid.uuid4())
            envelope = payload_lib.envelope(event_uuid, event_type, now, seq)
            if has_origin and rec.finance_sync_origin_backend_id == backend:
                # The platform created this document: it recognises it by its own id.
                envelope["origin"] = {"external_id": rec.finance_sync_origin_external_id}
            if (rec.id, backend.id) in order_origins:
                # Invoiced from a sales order this platform created (order.create): its own id of the order.
                envelope["order"] = order_origins[rec.id, backend.id]
            envelopes.append(
                (
                    position,
                    rec.id,
                    variants[personal[backend.id]],
                    backend.id,
                    event_uuid,
                    seq,
                    payload_lib.json_object_members(envelope),
                    depends_on.get((rec.id, backend.id)),
                )
            )
        rows = outbox.insert_jobs(self.env, event_type, model, documents, envelopes, now)
        uncommitted = self.env.cr.postcommit.data.setdefault(const.TRANSACTION_JOBS, {})
        uncommitted.update({(model, backend_id, res_id): job_id for job_id, backend_id, res_id in rows})
        jobs = self.sudo().browse(row[0] for row in rows)
        if depends_on:
            jobs._hold_behind_held_partners()
        self._trigger_dispatch()
        return jobs

    @api.model
    def _trigger_dispatch(self, at=None):
        """Wake every dispatcher worker (after commit), now or ``at``."""
        outbox.wake(self.env, at)

    # === NEED ACTION === #

    @api.model
    def _need_action_domain(self):
        """Jobs a person must act on: failed, dead or blocked, unless a person ignored their
        exception and none of their exceptions is open (the jobs' search filter ``Need action``
        says the same)."""
        return Domain("state", "in", ("failed", "dead", "blocked")) & (
            Domain("exception_ids", "not any", [("state", "=", "ignored")])
            | Domain("exception_ids", "any", [("state", "in", const.EXCEPTION_OPEN_STATES)])
        )

    # === RETENTION === #

    def unlink(self):
        # The attempt log goes with its jobs (ondelete cascade, in the database): count its
        # attempts into the totals first, so the Prometheus counters never go down.
        self.env["finance.sync.attempt.total"]._fold_jobs(self.ids)
        return super().unlink()

    @api.autovacuum
    def _gc_finished_jobs(self):
        """Odoo's daily garbage collection (``ir.autovacuum``) purges finished jobs, one batch per
        call, calling again while batches are left (see ``_purge_finished``)."""
        return self._purge_finished(limit=const.PURGE_BATCH_SIZE)

    @api.model
    def _purge_finished(self, days=None, limit=None):
        """Delete finished (done or cancelled) jobs older than the retention period with their
        attempt logs (the oldest ``limit`` of them, or all); return (deleted, whether more are
        left). Never purged: jobs still pending, blocked, failed or dead; jobs
        linked to an exception that is not closed; and each stream's latest job and latest
        job not cancelled per backend (a stream: a document's events, see
        ``finance_sync_outbox.stream_of``). Those two carry what a backend last heard of the
        document (a later reset, cancellation or payment status is only sent to backends that
        heard of it, and only when it changed) and the stream's event sequence, which must keep
        growing for platforms that order events by it."""
        cutoff = retention_cutoff(self.env, days)
        if not cutoff:
            return 0, False
        self.flush_model(["backend_id", "res_model", "res_id", "event_type", "sequence", "state"])
        superseded = outbox.superseded(cutoff)
        domain = (
            Domain("state", "in", ("done", "cancelled"))
            & Domain("write_date", "<", cutoff)
            & Domain("id", "any!", superseded)
            & Domain("exception_ids", "not any", [("state", "in", const.EXCEPTION_OPEN_STATES)])
        )
        return purge_batch(self, domain, "id", limit)

    # === RENDERING === #

    def _render(self, backend):
        """The payload as ``backend`` receives it and the required mappings it lacks (see
        ``finance_sync_outbox.render``: the dispatcher freezes what it renders)."""
        return outbox.render(self, backend)

    def _preview(self, backend):
        """(exact body that would be sent, missing mappings, schema errors), sending nothing."""
        return outbox.preview(self, backend)
