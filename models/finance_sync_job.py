import logging
import uuid

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain
from odoo.tools import SQL

from .. import const
from ..engine import payload as payload_lib
from ..engine import profile as profile_lib
from ..engine.messages import Message, message, selection
from ..utils import check_guarded_fields, compute_message, internal, message_vals, purge_batch, retention_cutoff

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
    body until done, failed, dead or cancelled. Its state changes only through the named
    transitions below (``_mark_*``), never by a direct write elsewhere: ``write`` refuses every
    other caller, administrators and the superuser included, so that the outbox and its
    delivery facts cannot be falsified.
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
    event_type = fields.Selection(const.EVENT_TYPES, required=True, readonly=True)
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
    done_at = fields.Datetime(readonly=True)
    cancel_reason_code = fields.Char(readonly=True)
    cancel_reason_params = fields.Json(readonly=True)
    cancel_reason = fields.Text(compute="_compute_cancel_reason", help="Who cancelled the job, when and why.")
    confirmed_at = fields.Datetime(
        readonly=True, copy=False, help="When the platform acknowledged processing this event (inbound webhook)."
    )
    external_id = fields.Char(
        "External ID", readonly=True, copy=False, help="The platform's id of the document, from its acknowledgement."
    )
    # What business reconciliation totals (finance.sync.reconciliation): the document's amount,
    # currency and accounting date as captured, read from the payload once when the job is written
    # so that period totals are grouped SQL over columns, not JSON parsed row by row.
    amount = fields.Monetary(readonly=True, currency_field="currency_id", help="The document's total as captured.")
    currency_id = fields.Many2one("res.currency", readonly=True)
    document_date = fields.Date(readonly=True, help="The document's accounting date as captured.")
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
    # One sequence per stream of a record (see ``_stream``): a document's events; a partner's
    # master data events (partner.upserted, partner.merged); a partner's credit exposure events.
    # The dispatcher's per-stream order reads its leading columns.
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
        jobs = self.sudo().filtered(lambda j: j.state in ("failed", "dead", "blocked"))
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
        self.flush_model(["res_model", "res_id", "backend_id", "event_type", "sequence"])
        self.env.cr.execute(
            SQL(
                """SELECT backend_id, res_id, max(sequence) FROM finance_sync_job
                    WHERE res_model = %s AND res_id IN %s AND backend_id IN %s AND %s
                    GROUP BY backend_id, res_id""",
                model,
                tuple(records.ids),
                tuple({b.id for _r, b in pairs}),
                self._stream(event_type),
            )
        )
        last = {(bid, rid): seq for bid, rid, seq in self.env.cr.fetchall()}
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
                    SQL(
                        "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
        for position, (rec, backend) in enumerate(pairs):
            seq = last.get((backend.id, rec.id), 0) + 1
            last[(backend.id, rec.id)] = seq
            event_uuid = str(uuid.uuid4())
            envelope = payload_lib.envelope(event_uuid, event_type, now, seq)
            if has_origin and rec.finance_sync_origin_backend_id == backend:
                # The platform created this document: it recognises it by its own id.
                envelope["origin"] = {"external_id": rec.finance_sync_origin_external_id}
            envelopes.append(
                SQL(
                    "(%s, %s, %s, %s, %s, %s, %s, %s::int4)",
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
        self.env.cr.execute(
            SQL(
                """INSERT INTO finance_sync_job (backend_id, company_id, event_uuid, event_type, res_model, res_id,
                        move_id, payment_id, document_ref, document_number, sequence, state, attempt_count,
                        next_attempt_at, payload, amount, document_date, currency_id, depends_on_partner,
                        create_uid, create_date, write_uid, write_date)
                   SELECT e.backend_id, d.company_id, e.event_uuid, %(event_type)s, %(model)s, d.res_id,
                          %(move_id)s, %(payment_id)s, d.document_ref, d.document_number, e.sequence, 'pending', 0,
                          %(now)s,
                          ('{' || concat_ws(',', nullif(e.members, ''), nullif(d.members, '')) || '}')::json,
                          d.amount::numeric, d.document_date::date, d.currency_id::int4, e.depends_on,
                          %(uid)s, %(now)s, %(uid)s, %(now)s
                     FROM (VALUES %(envelopes)s)
                          AS e(position, res_id, variant, backend_id, event_uuid, sequence, members, depends_on)
                     JOIN (VALUES %(documents)s)
                          AS d(res_id, variant, company_id, document_ref, document_number, members, amount,
                               document_date, currency_id)
                          ON d.res_id = e.res_id AND d.variant = e.variant
                    ORDER BY e.position
                   RETURNING id, backend_id, res_id""",
                event_type=event_type,
                model=model,
                move_id=SQL("d.res_id" if model == "account.move" else "NULL::int4"),
                payment_id=SQL("d.res_id" if model == "account.payment" else "NULL::int4"),
                now=now,
                uid=self.env.uid,
                envelopes=SQL(", ").join(envelopes),
                documents=SQL(", ").join(documents),
            )
        )
        rows = self.env.cr.fetchall()
        uncommitted = self.env.cr.postcommit.data.setdefault(const.TRANSACTION_JOBS, {})
        uncommitted.update({(model, backend_id, res_id): job_id for job_id, backend_id, res_id in rows})
        jobs = self.sudo().browse(row[0] for row in rows)
        if depends_on:
            jobs._hold_behind_held_partners()
        self._trigger_dispatch()
        return jobs

    @api.model
    def _stream(self, event_type):
        """SQL: a job of the table is in the stream of ``event_type`` events of its record. A
        partner's credit exposure is a state sent on its own schedule, not a change: its events
        have their own stream (own sequence, own order; see the dispatcher's
        SAME_STREAM_CONDITION), apart from the partner's master data events, so that neither
        holds the other."""
        return SQL("(event_type = %s) = %s", const.EVENT_PARTNER_EXPOSURE, event_type == const.EVENT_PARTNER_EXPOSURE)

    @api.model
    def _trigger_dispatch(self, at=None):
        """Wake every dispatcher worker (after commit), now or ``at``."""
        for cron in self.env["finance.sync.dispatcher"]._get_worker_crons():
            cron._trigger(at)

    # === RETENTION === #

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
        job not cancelled per backend (a stream: a document's events, see ``_stream``). Those two
        carry what a backend last heard of the document (a later reset, cancellation or payment
        status is only sent to backends that heard of it, and only when it changed) and the
        stream's event sequence, which must keep growing for platforms that order events by it."""
        cutoff = retention_cutoff(self.env, days)
        if not cutoff:
            return 0, False
        self.flush_model(["backend_id", "res_model", "res_id", "event_type", "sequence", "state"])
        superseded = SQL(
            """SELECT job.id FROM finance_sync_job job
                WHERE job.state IN ('done', 'cancelled') AND job.write_date < %s
                  AND EXISTS (
                        SELECT 1 FROM finance_sync_job later
                         WHERE later.backend_id = job.backend_id
                           AND later.res_model = job.res_model
                           AND later.res_id = job.res_id
                           AND later.sequence > job.sequence
                           AND (later.event_type = %s) = (job.event_type = %s)
                           AND (job.state = 'cancelled' OR later.state != 'cancelled'))""",
            cutoff,
            const.EVENT_PARTNER_EXPOSURE,
            const.EVENT_PARTNER_EXPOSURE,
        )
        domain = (
            Domain("state", "in", ("done", "cancelled"))
            & Domain("write_date", "<", cutoff)
            & Domain("id", "any!", superseded)
            & Domain("exception_ids", "not any", [("state", "in", const.EXCEPTION_OPEN_STATES)])
        )
        return purge_batch(self, domain, "id", limit)

    # === RENDERING AND FREEZING === #

    def _render(self, backend):
        """The payload as ``backend`` receives it (profile, then mappings) and the required
        mappings it lacks. No side effect: the send path and the preview share it."""
        # The ORM hands out a deep copy of a Json field's value: the profile and the mappings
        # may change it in place without touching the captured payload.
        payload = profile_lib.apply_profile(self._live_payload(), backend._get_profile())
        missing = backend.mapping_set_id._apply(payload) if backend.mapping_set_id else []
        return payload, missing

    def _live_payload(self):
        """The captured payload, completed with what is read when the event is rendered rather
        than captured (a state such as a partner's credit exposure, see ``res.partner``)."""
        payload = self.payload or {}
        if self.event_type == const.EVENT_PARTNER_EXPOSURE:
            partner = self.env["res.partner"].browse(self.res_id).with_company(self.company_id)
            if partner.exists():  # else its schema refuses it: the partner is gone
                payload = partner._finance_sync_exposure_payload(payload)
        return payload

    def _preview(self, backend):
        """(exact body that would be sent, missing mappings, schema errors), sending nothing."""
        payload, missing = self._render(backend)
        return payload_lib.canonical_json(payload).decode("utf-8"), missing, payload_lib.validate(payload)

    def _freeze(self, backend):
        """Render and validate each job's captured payload and store the exact text to send
        (the dispatcher commits it before sending); a job missing required mappings is blocked,
        one failing its schema failed, instead."""
        bodies = []
        for job in self:
            payload, missing = job._render(backend)
            if missing:
                job._mark_blocked(backend, missing)
                continue
            errors = payload_lib.validate(payload, job.event_type)
            if errors:
                note = message("payload_invalid", detail="\n".join(errors[:20]))
                job._mark_failed(0, job.attempt_count, note, "validation")
                continue
            bodies.append(SQL("(%s, %s)", job.id, payload_lib.canonical_json(payload).decode("utf-8")))
        if bodies:  # one statement for the whole batch: every body differs
            self.flush_model(["body", "frozen_at"])
            self.env.cr.execute(
                SQL(
                    """UPDATE finance_sync_job job SET body = frozen.body, frozen_at = %s
                         FROM (VALUES %s) AS frozen(id, body) WHERE job.id = frozen.id""",
                    fields.Datetime.now(),
                    SQL(", ").join(bodies),
                )
            )
            self.invalidate_recordset(["body", "frozen_at"])

    # === STATE TRANSITIONS === #

    def _reschedule(self, at):
        """Due at ``at`` (the dispatcher picks pending jobs once due)."""
        internal(self).write({"next_attempt_at": at})

    def _mark_confirmed(self, external_id):
        """The platform acknowledged processing the event (inbound webhook) under ``external_id``."""
        internal(self).write({"confirmed_at": fields.Datetime.now(), "external_id": external_id})

    def _mark_blocked(self, backend, missing):
        """Hold the job on its missing mappings: one exception per missing record (shared by
        every job it holds), released automatically when the mapping is added."""
        labels = dict(self.env["finance.sync.mapping"]._fields["kind"].selection)
        records = [
            message("missing_mapping_record", kind=selection("finance.sync.mapping", "kind", kind), name=name)
            for kind, _rid, name in missing
        ]
        note = message("missing_mappings", records=records)
        internal(self).write({"state": "blocked", **message_vals("last_error", note)})
        self._hold_dependents()
        document = self._get_document()
        for kind, res_id, name in missing:
            self.env["finance.sync.exception"]._open_or_bump(
                backend=backend,
                category="missing_mapping",
                message=message(
                    "missing_mapping",
                    kind=selection("finance.sync.mapping", "kind", kind),
                    name=name,
                    id=res_id,
                    set=backend.mapping_set_id.name,
                ),
                jobs=self,
                document=document,
                mapping=(kind, res_id),
                name=self.env._("Missing mapping: %(kind)s %(name)s", kind=labels[kind], name=name),
            )

    def _mark_done(self, status, attempt_count):
        """Delivered: the platform answered ``status`` (2xx) at attempt ``attempt_count``.

        The dispatcher's most frequent transition: one statement for the whole group, which also
        tells which jobs have exceptions to resolve (most have none)."""
        if not self:
            return
        now = fields.Datetime.now()
        self.flush_recordset()
        self.env.cr.execute(
            SQL(
                """UPDATE finance_sync_job job
                      SET state = 'done', done_at = %(now)s, last_status_code = %(status)s,
                          attempt_count = %(count)s, last_error_code = NULL, last_error_params = NULL,
                          lease_until = NULL,
                          write_date = %(now)s, write_uid = %(uid)s
                    WHERE job.id IN %(ids)s
                RETURNING job.id,
                          EXISTS (SELECT 1 FROM finance_sync_exception_job_rel rel WHERE rel.job_id = job.id),
                          job.event_type = %(partner_event)s""",
                now=now,
                status=status,
                count=attempt_count,
                uid=self.env.uid,
                ids=tuple(self.ids),
                partner_event=const.EVENT_PARTNER_UPSERTED,
            )
        )
        rows = self.env.cr.fetchall()
        with_exceptions = [job_id for job_id, has_exception, _partner in rows if has_exception]
        partner_jobs = self.browse(job_id for job_id, _has_exception, partner in rows if partner)
        self.invalidate_recordset(
            [
                "state",
                "done_at",
                "last_status_code",
                "attempt_count",
                "last_error_code",
                "last_error_params",
                "lease_until",
                "write_date",
            ]
        )
        self.browse(with_exceptions).exception_ids._resolve_if_fixed()
        partner_jobs._release_dependents()

    def _mark_retry(self, status, attempt_count, error, at):
        """Not delivered, worth another try at ``at`` (same id, same body)."""
        internal(self).write(
            {
                "last_status_code": status,
                "attempt_count": attempt_count,
                **message_vals("last_error", error),
                "next_attempt_at": at,
                "lease_until": False,
            }
        )

    def _mark_paused(self, attempt_count, error):
        """The endpoint is gone (410): the backend is paused and the job waits for it."""
        internal(self).write(
            {
                "last_status_code": 410,
                "attempt_count": attempt_count,
                **message_vals("last_error", error),
                "next_attempt_at": fields.Datetime.now(),
                "lease_until": False,
            }
        )
        self._open_exception("transport", error)

    def _mark_failed(self, status, attempt_count, error, category):
        """Refused for good (trying again unchanged cannot help): a person must act."""
        internal(self).write(
            {
                "state": "failed",
                "last_status_code": status,
                "attempt_count": attempt_count,
                **message_vals("last_error", error),
                "lease_until": False,
            }
        )
        self._open_exception(category, error)
        self._hold_dependents()

    def _mark_dead(self, status, attempt_count, error):
        """Attempts exhausted."""
        note = message("gave_up", count=attempt_count, error=error)
        internal(self).write(
            {
                "state": "dead",
                "last_status_code": status,
                "attempt_count": attempt_count,
                **message_vals("last_error", note),
                "lease_until": False,
            }
        )
        self._open_exception("transport", note)
        self._hold_dependents()

    def _mark_sent_again(self):
        """Done jobs due again now, to deliver their frozen body once more (a person's *Send
        again*): attempts start again; the event id, sequence and body stay."""
        if any(job.state != "done" or not job.body for job in self):
            raise UserError(self.env._("Only delivered (done) events can be sent again."))
        self._mark_pending(reset_attempts=True)

    def _mark_pending(self, reset_attempts=False):
        """Due again now (retry, release of held jobs); wakes the dispatcher after commit."""
        vals = {"state": "pending", "next_attempt_at": fields.Datetime.now(), "lease_until": False}
        if reset_attempts:
            vals["attempt_count"] = 0
        internal(self).write(vals)
        self._trigger_dispatch()

    def _mark_cancelled(self, reason):
        """Cancelled by a person: never sent; later events of its document may go. ``reason``
        is a ``messages.Message``."""
        internal(self).write({"state": "cancelled", **message_vals("cancel_reason", reason), "lease_until": False})
        self.exception_ids._resolve_if_fixed()
        self._release_dependents()
        self._trigger_dispatch()

    def _open_exception(self, category, note):
        """Open, or bump, the exception of each job's document for ``category``, saying ``note``."""
        for job in self:
            self.env["finance.sync.exception"]._open_or_bump(
                backend=job.backend_id,
                category=category,
                message=note,
                jobs=job,
                document=job._get_document(),
                fingerprint_key=f"{job.res_model},{job.res_id}",
            )

    # === DEPENDENCIES (master data: the partner travels before its documents) === #

    def _dependents(self, states):
        """Jobs in ``states`` that wait for these partner jobs (same backend and partner, captured
        after them)."""
        partner_jobs = self.filtered(lambda j: j.event_type == const.EVENT_PARTNER_UPSERTED)
        if not partner_jobs:
            return self.browse()
        domain = Domain.OR(
            Domain("backend_id", "=", job.backend_id.id)
            & Domain("depends_on_partner", "=", job.res_id)
            & Domain("id", ">", job.id)
            for job in partner_jobs
        )
        return self.sudo().search(domain & Domain("state", "in", states))

    def _hold_dependents(self):
        """A partner event that cannot go (blocked, failed, dead) holds the documents waiting for
        it: they are blocked too, with an exception per document that says why and links the
        partner's job, so that retrying it retries the whole chain."""
        for job in self.filtered(lambda j: j.event_type == const.EVENT_PARTNER_UPSERTED):
            job._dependents(("pending",))._hold_behind(job)

    def _hold_behind(self, partner_job):
        """Block these jobs behind ``partner_job`` (an open partner event that cannot go now)."""
        if not self:
            return
        state = selection("finance.sync.job", "state", partner_job.state)
        reason = ""
        if partner_job.last_error_code or partner_job.last_error_params:
            reason = Message(partner_job.last_error_code or "", partner_job.last_error_params or {})
        note = message(
            "waiting_for_partner",
            partner=partner_job.document_ref or str(partner_job.res_id),
            state=state,
            reason=reason or "",
        )
        internal(self).write({"state": "blocked", "lease_until": False, **message_vals("last_error", note)})
        for job in self:
            self.env["finance.sync.exception"]._open_or_bump(
                backend=job.backend_id,
                category="dependency",
                message=note,
                jobs=job | partner_job,
                document=job._get_document(),
                fingerprint_key=f"{job.res_model},{job.res_id}",
            )

    def _hold_behind_held_partners(self):
        """Jobs just captured whose partner's event already waits for a person are held at once."""
        waiting = self.filtered("depends_on_partner")
        if not waiting:
            return
        held = self.sudo().search(
            [
                ("event_type", "=", const.EVENT_PARTNER_UPSERTED),
                ("res_model", "=", "res.partner"),
                ("res_id", "in", list(set(waiting.mapped("depends_on_partner")))),
                ("backend_id", "in", waiting.backend_id.ids),
                ("state", "in", ("blocked", "failed", "dead")),
            ]
        )
        for partner_job in held:
            waiting.filtered(
                lambda j, p=partner_job: (
                    j.backend_id == p.backend_id and j.depends_on_partner == p.res_id and j.id > p.id
                )
            )._hold_behind(partner_job)

    @api.model
    def _release_stale_holds(self):
        """Release jobs held behind a partner event that no longer needs a person (delivered,
        cancelled or retried). The transitions release them as they happen; this catches a
        document captured while another transaction was recording its partner's delivery (each
        saw the other's rows as they were before). Run by the dispatcher every few seconds."""
        self.flush_model(["state", "last_error_code", "depends_on_partner"])
        self.env.cr.execute(
            SQL(
                """SELECT job.id FROM finance_sync_job job
                    WHERE job.state = 'blocked' AND job.last_error_code = 'waiting_for_partner'
                      AND NOT EXISTS (
                            SELECT 1 FROM finance_sync_job dep
                             WHERE dep.backend_id = job.backend_id
                               AND dep.res_model = 'res.partner'
                               AND dep.res_id = job.depends_on_partner
                               AND dep.event_type = %s
                               AND dep.id < job.id
                               AND dep.state IN ('blocked', 'failed', 'dead'))""",
                const.EVENT_PARTNER_UPSERTED,
            )
        )
        stale = self.sudo().browse(row[0] for row in self.env.cr.fetchall())
        if stale:
            stale._mark_pending()
        return stale

    def _release_dependents(self):
        """Partner events delivered or cancelled release the documents they held (due now; the
        dispatcher still sends them only once no earlier partner event is open)."""
        held = self._dependents(("blocked",)).filtered(lambda j: j.last_error_code == "waiting_for_partner")
        if held:
            held._mark_pending()
