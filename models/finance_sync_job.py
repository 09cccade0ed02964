import copy
import logging
import uuid
from datetime import timedelta

from psycopg2.errors import SerializationFailure

from odoo import _, api, fields, models
from odoo.exceptions import ConcurrencyError, UserError
from odoo.fields import Domain
from odoo.tools import SQL

from .. import const
from ..engine import backoff, classify
from ..engine import payload as payload_lib
from ..engine import profile as profile_lib
from ..utils import purge_in_batches, retention_cutoff
from .finance_sync_mapping import missing_mapping_key

_logger = logging.getLogger(__name__)

# Claim due jobs of one backend. A job is due when it is pending, its time has come, and no
# earlier event of the same document is still open on that backend (per-document ordering).
# SKIP LOCKED: two workers never claim the same row, and neither waits for the other.
CLAIM_QUERY = """
    SELECT job.id
      FROM finance_sync_job job
     WHERE job.backend_id = %(backend_id)s
       AND job.state = 'pending'
       AND job.next_attempt_at <= %(now)s
       AND NOT EXISTS (
            SELECT 1
              FROM finance_sync_job prev
             WHERE prev.backend_id = job.backend_id
               AND prev.res_model = job.res_model
               AND prev.res_id = job.res_id
               AND prev.sequence < job.sequence
               AND prev.state IN %(open_states)s)
     ORDER BY job.next_attempt_at, job.id
     LIMIT %(limit)s
       FOR UPDATE OF job SKIP LOCKED
"""


class FinanceSyncJob(models.Model):
    """One event for one backend: the transactional outbox row.

    Written in the same transaction as the business change that caused it, sent by the
    dispatcher cron, retried with the same event id until done, failed, dead or cancelled.
    """

    _name = "finance.sync.job"
    _description = "Finance Sync Job"
    _order = "id desc"
    _rec_name = "event_uuid"
    _check_company_auto = True

    # === FIELDS === #

    backend_id = fields.Many2one("finance.sync.backend", required=True, ondelete="restrict", index=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    event_uuid = fields.Char("Event ID", required=True, readonly=True, copy=False, default=lambda s: str(uuid.uuid4()))
    event_type = fields.Selection(const.EVENT_TYPES, required=True, readonly=True)
    res_model = fields.Char("Document model", required=True, readonly=True)
    res_id = fields.Many2oneReference("Document ID", model_field="res_model", required=True, readonly=True)
    move_id = fields.Many2one("account.move", "Invoice", index="btree_not_null", readonly=True, ondelete="set null")
    payment_id = fields.Many2one(
        "account.payment", "Payment", index="btree_not_null", readonly=True, ondelete="set null"
    )
    document_ref = fields.Char("Document", readonly=True)
    sequence = fields.Integer(required=True, readonly=True, help="Order of this event among the document's events.")
    state = fields.Selection(const.JOB_STATES, required=True, default="pending", index=True, readonly=True)
    attempt_count = fields.Integer("Attempts", readonly=True)
    next_attempt_at = fields.Datetime("Next attempt", default=fields.Datetime.now, required=True, readonly=True)
    last_status_code = fields.Integer("Last HTTP status", readonly=True)
    last_error = fields.Text(readonly=True)
    payload = fields.Json(readonly=True, help="Canonical event as captured, before mappings.")
    body = fields.Text("Sent body", readonly=True, help="The exact JSON sent; frozen at the first attempt.")
    sent_at = fields.Datetime("First sent", readonly=True)
    done_at = fields.Datetime(readonly=True)
    cancel_reason = fields.Text(readonly=True)
    confirmed_at = fields.Datetime(
        readonly=True, copy=False, help="When the platform acknowledged processing this event (inbound webhook)."
    )
    external_id = fields.Char(
        "External ID", readonly=True, copy=False, help="The platform's id of the document, from its acknowledgement."
    )
    attempt_ids = fields.One2many("finance.sync.attempt", "job_id", readonly=True)
    exception_ids = fields.Many2many(
        "finance.sync.exception", "finance_sync_exception_job_rel", "job_id", "exception_id", readonly=True
    )

    # === CONSTRAINTS AND INDEXES === #

    _event_uniq = models.UniqueIndex("(backend_id, event_uuid)", "This event already exists for this backend.")
    _document_sequence_uniq = models.UniqueIndex(
        "(backend_id, res_model, res_id, sequence)", "Two events of one document cannot share a sequence number."
    )
    _due_idx = models.Index("(backend_id, next_attempt_at, id) WHERE state = 'pending'")
    _attempts_positive = models.Constraint("CHECK(attempt_count >= 0)", "Attempts cannot be negative.")

    # === COMPUTE METHODS === #

    @api.depends("event_uuid", "event_type", "document_ref")
    def _compute_display_name(self):
        labels = dict(const.EVENT_TYPES)
        for job in self:
            job.display_name = f"{labels.get(job.event_type, job.event_type)} · {job.document_ref or job.res_id}"

    # === ACTION METHODS === #

    # Users read jobs but never write them directly: these actions check read access on the
    # jobs they were given (record rules included), then act as the system.

    def action_send_now(self):
        """Make the jobs due now and dispatch them in this request."""
        self.check_access("read")
        if not self.sudo().filtered(lambda j: j.state == "pending"):
            raise UserError(_("Only pending jobs can be sent."))
        self._send_now()
        return True

    def _send_now(self):
        """Send the pending ones among these jobs right away, backend by backend (the circuit,
        a paused backend and per-document order still apply). Callers check access first."""
        jobs = self.sudo().filtered(lambda j: j.state == "pending")
        jobs.write({"next_attempt_at": fields.Datetime.now()})
        for backend, backend_jobs in jobs.grouped("backend_id").items():
            jobs._dispatch_backend(backend, job_ids=backend_jobs.ids)

    def action_retry(self):
        """Re-queue failed, dead or blocked jobs: same event id, attempts start again."""
        self.check_access("read")
        jobs = self.sudo().filtered(lambda j: j.state in ("failed", "dead", "blocked"))
        if not jobs:
            raise UserError(_("Only failed, dead or blocked jobs can be retried."))
        jobs.write({"state": "pending", "attempt_count": 0, "next_attempt_at": fields.Datetime.now()})
        self._trigger_dispatch()
        return True

    def action_cancel(self):
        return {
            "type": "ir.actions.act_window",
            "name": _("Cancel jobs"),
            "res_model": "finance.sync.job.cancel",
            "view_mode": "form",
            "target": "new",
            "context": {"active_model": self._name, "active_ids": self.ids},
        }

    def _cancel(self, reason):
        if not (reason or "").strip():
            raise UserError(_("Give a reason to cancel a job."))
        self.check_access("read")
        jobs = self.sudo().filtered(lambda j: j.state not in ("done", "cancelled"))
        if len(jobs) != len(self):
            raise UserError(_("Done or already cancelled jobs cannot be cancelled."))
        stamp = _(
            "Cancelled by %(user)s on %(date)s: %(reason)s",
            user=self.env.user.name,
            date=fields.Datetime.now(),
            reason=reason.strip(),
        )
        jobs.write({"state": "cancelled", "cancel_reason": stamp})
        jobs.exception_ids._check_auto_resolve()
        self._trigger_dispatch()  # later events of the same documents may now go

    def action_open_document(self):
        self.ensure_one()
        return self.env[self.res_model].browse(self.res_id)._get_records_action()

    # === CAPTURE (same transaction as the business change) === #

    @api.model
    def _enqueue(self, event_type, records, payloads, backends_by_record):
        """Create one job per (record, backend).

        :param records: account.move or account.payment recordset
        :param payloads: {record id: canonical payload without envelope ids}
        :param backends_by_record: {record id: finance.sync.backend recordset}
        """
        pairs = [(rec, backend) for rec in records for backend in backends_by_record.get(rec.id, ())]
        if not pairs:
            return self.browse()
        model = records._name
        # Next sequence per (backend, document), one query for the whole batch.
        self.flush_model(["res_model", "res_id", "backend_id", "sequence"])
        self.env.cr.execute(
            """SELECT backend_id, res_id, max(sequence) FROM finance_sync_job
                WHERE res_model = %s AND res_id IN %s AND backend_id IN %s GROUP BY backend_id, res_id""",
            (model, tuple(records.ids), tuple({b.id for _r, b in pairs})),
        )
        last = {(bid, rid): seq for bid, rid, seq in self.env.cr.fetchall()}
        now = fields.Datetime.now()
        vals_list = []
        for rec, backend in pairs:
            seq = last.get((backend.id, rec.id), 0) + 1
            last[(backend.id, rec.id)] = seq
            event_uuid = str(uuid.uuid4())
            payload = dict(
                payloads[rec.id],
                event_id=event_uuid,
                type=event_type,
                schema_version=const.SCHEMA_VERSION,
                occurred_at=payload_lib.iso_datetime(now),
                sequence=seq,
            )
            vals_list.append(
                {
                    "backend_id": backend.id,
                    "company_id": rec.company_id.id,
                    "event_uuid": event_uuid,
                    "event_type": event_type,
                    "res_model": model,
                    "res_id": rec.id,
                    "move_id": rec.id if model == "account.move" else False,
                    "payment_id": rec.id if model == "account.payment" else False,
                    "document_ref": rec.display_name,
                    "sequence": seq,
                    "payload": payload,
                    "next_attempt_at": now,
                }
            )
        jobs = self.sudo().create(vals_list)
        self._trigger_dispatch()
        return jobs

    @api.model
    def _trigger_dispatch(self, at=None):
        cron = self.env.ref("finance_sync.ir_cron_dispatch", raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(at)

    # === DISPATCH === #

    @api.model
    def _cron_dispatch(self):
        """Drain the outbox: every active backend, in batches, committing after each batch."""
        backends = self.env["finance.sync.backend"].sudo().search([("state", "=", "active")])
        if self.env.context.get("cron_id"):
            due = self.search_count(
                [
                    ("backend_id", "in", backends.ids),
                    ("state", "=", "pending"),
                    ("next_attempt_at", "<=", fields.Datetime.now()),
                ]
            )
            cron = self.env["ir.cron"]
            cron._commit_progress(remaining=due)
            for backend in backends:
                if not self._drain_backend(backend, cron._commit_progress):
                    return
        else:  # called by hand (shell, tests): one transaction, the caller commits
            for backend in backends:
                while self._dispatch_backend(backend)[1]:
                    pass
        self._schedule_next_wakeup(backends)

    @api.model
    def _drain_backend(self, backend, commit, max_conflicts=5):
        """Send ``backend``'s due jobs batch after batch; ``commit(processed)`` commits each batch
        and returns the time left (0: stop). Returns False when time ran out."""
        conflicts = 0
        while True:
            try:
                processed, more = self._dispatch_backend(backend)
            except (SerializationFailure, ConcurrencyError):
                # REPEATABLE READ: another worker committed rows this transaction's snapshot still
                # saw as due, and locking them failed (nothing was sent), or opened the same sync
                # exception at the same time (the batch is sent again with the same event ids,
                # which platforms deduplicate). Retry on a fresh snapshot.
                self.env.cr.rollback()
                conflicts += 1
                if conflicts > max_conflicts:
                    raise
                continue
            if not commit(processed):
                return False
            if not more:
                return True

    # === RETENTION === #

    @api.model
    def _cron_purge(self, days=None):
        """Delete finished (done or cancelled) jobs older than the retention period with their
        attempt logs, in batches. Never purged: jobs still pending, blocked, failed or dead; jobs
        linked to an exception that is not closed; and each document's latest job and latest
        job not cancelled per backend. Those two carry what a backend last heard of the
        document (a later reset, cancellation or payment status is only sent to backends that
        heard of it, and only when it changed) and the document's event sequence, which must
        keep growing for platforms that order events by it."""
        cutoff = retention_cutoff(self.env, days)
        if not cutoff:
            return 0
        self.flush_model(["backend_id", "res_model", "res_id", "sequence", "state"])
        superseded = SQL(
            """SELECT job.id FROM finance_sync_job job
                WHERE job.state IN ('done', 'cancelled') AND job.write_date < %s
                  AND EXISTS (
                        SELECT 1 FROM finance_sync_job later
                         WHERE later.backend_id = job.backend_id
                           AND later.res_model = job.res_model
                           AND later.res_id = job.res_id
                           AND later.sequence > job.sequence
                           AND (job.state = 'cancelled' OR later.state != 'cancelled'))""",
            cutoff,
        )
        domain = (
            Domain("state", "in", ("done", "cancelled"))
            & Domain("write_date", "<", cutoff)
            & Domain("id", "any!", superseded)
            & Domain("exception_ids", "not any", [("state", "in", const.EXCEPTION_OPEN_STATES)])
        )
        return purge_in_batches(self, domain, "id", const.PURGE_BATCH_SIZE)

    @api.model
    def _schedule_next_wakeup(self, backends):
        """Wake the cron when the earliest retry is due rather than waiting for the next minute."""
        first = self.search(
            [("backend_id", "in", backends.ids), ("state", "=", "pending")], order="next_attempt_at", limit=1
        )
        if first and first.next_attempt_at > fields.Datetime.now():
            self._trigger_dispatch(first.next_attempt_at)

    @api.model
    def _claim(self, backend, limit, job_ids=None):
        self.flush_model()  # the query reads states and times written earlier in this transaction
        query = CLAIM_QUERY
        params = {
            "backend_id": backend.id,
            "now": fields.Datetime.now(),
            "open_states": const.JOB_OPEN_STATES,
            "limit": limit,
        }
        if job_ids:
            query = query.replace("AND job.state = 'pending'", "AND job.state = 'pending' AND job.id IN %(job_ids)s")
            params["job_ids"] = tuple(job_ids)
        self.env.cr.execute(query, params)
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _dispatch_backend(self, backend, job_ids=None):
        """Claim and send one batch of ``backend``'s due jobs.

        :return: (number of jobs processed, whether more may be due)
        """
        backend = backend.sudo()  # runs as the system: crons, and buttons after their access check
        now = fields.Datetime.now()
        if backend.state != "active":
            return 0, False
        limit, failures = backend._circuit_allows(now)
        if not limit:
            return 0, False
        jobs = self.sudo()._claim(backend, limit, job_ids)
        if not jobs:
            return 0, False
        attempts = []
        processed = 0
        # A probe (limit 1) reopens the circuit on its first failure.
        circuit = {"failures": failures, "threshold": backend.circuit_threshold if limit > 1 else 1}
        with backend._open_transport() as transport:
            for job in jobs:
                processed += 1
                if job.with_company(job.company_id)._send_one(backend, transport, attempts, circuit):
                    break  # circuit opened or backend paused: the rest of the batch stays due
        jobs.env["finance.sync.attempt"].create(attempts)
        stopped = processed < len(jobs)
        return processed, len(jobs) == limit and not stopped and backend.state == "active"

    def _send_one(self, backend, transport, attempts, circuit):
        """Send one claimed job and record the outcome. Return True to stop the batch."""
        self.ensure_one()
        now = fields.Datetime.now()
        if not self.body:
            body = self._prepare_body(backend)
            if body is None:
                return False  # blocked or failed before sending; nothing left the building
            self.write({"body": body, "sent_at": now})
        result = backend._send(transport, self.event_uuid, self.body.encode("utf-8"))
        if result.status is not None:
            verdict = classify.classify_status(result.status, result.body_excerpt)
        else:
            verdict = classify.classify_error(result.error)
        excerpt = backend._mask(result.body_excerpt)[: const.RESPONSE_EXCERPT_LIMIT]
        error = backend._mask(verdict.message) if verdict.outcome != classify.DONE else False
        attempts.append(
            {
                "job_id": self.id,
                "started_at": now,
                "duration_ms": result.duration_ms,
                "status_code": result.status or 0,
                "outcome": verdict.outcome,
                "response_excerpt": excerpt,
                "error": error,
            }
        )
        self.attempt_count += 1
        self.last_status_code = result.status or 0
        circuit["failures"] = circuit["failures"] + 1 if verdict.outcome == classify.RETRY else 0
        circuit_opened = circuit["failures"] >= circuit["threshold"]
        if verdict.outcome == classify.DONE:
            self._finish("done")
        elif verdict.outcome == classify.PAUSE:
            backend.state = "paused"
            backend.message_post(body=_("Paused: the platform answered 410 Gone for event %s.", self.event_uuid))
            self.write({"last_error": error, "next_attempt_at": now})
            self._raise_exception("transport", error)
            return True
        elif verdict.outcome == classify.FAILED:
            self._finish("failed", error=error, category=verdict.category or "rejected")
        elif self.attempt_count >= backend.max_attempts:
            self._finish(
                "dead",
                error=_("Gave up after %(n)s attempts. Last error: %(err)s", n=self.attempt_count, err=error),
                category="transport",
            )
        else:
            retry_after = backoff.parse_retry_after(result.retry_after, now)
            delay = backoff.next_delay(self.attempt_count, retry_after=retry_after, base=const.BACKOFF_BASE_SECONDS)
            self.write({"last_error": error, "next_attempt_at": now + timedelta(seconds=delay)})
        return circuit_opened

    def _render(self, backend):
        """The payload as ``backend`` receives it (profile, then mappings) and the required
        mappings it lacks. No side effect: the send path and the preview share it."""
        payload = profile_lib.apply_profile(copy.deepcopy(self.payload or {}), backend._get_profile())
        missing = backend.mapping_set_id._apply(payload) if backend.mapping_set_id else []
        return payload, missing

    def _preview(self, backend):
        """(exact body that would be sent, missing mappings, schema errors), sending nothing."""
        payload, missing = self._render(backend)
        return payload_lib.canonical_json(payload).decode("utf-8"), missing, payload_lib.validate(payload)

    def _prepare_body(self, backend):
        """Render and validate the captured payload; return the exact text to send, or None
        after blocking (missing mappings) or failing (schema errors) the job."""
        payload, missing = self._render(backend)
        if missing:
            self._block(backend, missing)
            return None
        errors = payload_lib.validate(payload, self.event_type)
        if errors:
            self._finish("failed", error="\n".join(errors[:20]), category="validation")
            return None
        return payload_lib.canonical_json(payload).decode("utf-8")

    def _block(self, backend, missing):
        """Hold the job on its missing mappings: one exception per missing record (shared by
        every job it holds), released automatically when the mapping is added."""
        labels = dict(self.env["finance.sync.mapping"]._fields["kind"].selection)
        self.write(
            {
                "state": "blocked",
                "last_error": _(
                    "Missing mappings: %s", ", ".join(f"{labels[kind]} {name}" for kind, _rid, name in missing)
                ),
            }
        )
        document = self.env[self.res_model].browse(self.res_id)
        for kind, res_id, name in missing:
            self.env["finance.sync.exception"]._raise(
                backend=backend,
                category="missing_mapping",
                message=_(
                    "%(kind)s %(name)s (id %(id)s) has no code in mapping set %(set)s, which requires one.",
                    kind=labels[kind],
                    name=name,
                    id=res_id,
                    set=backend.mapping_set_id.name,
                ),
                jobs=self,
                document=document,
                fingerprint_key=missing_mapping_key(kind, res_id),
                name=_("Missing mapping: %(kind)s %(name)s", kind=labels[kind], name=name),
            )

    def _finish(self, state, error=False, category=None):
        vals = {"state": state, "last_error": error or False}
        if state == "done":
            vals["done_at"] = fields.Datetime.now()
        self.write(vals)
        if state == "done":
            self.exception_ids._check_auto_resolve()
        elif state in ("failed", "dead"):
            self._raise_exception(category or "transport", error)

    def _raise_exception(self, category, message):
        for job in self:
            self.env["finance.sync.exception"]._raise(
                backend=job.backend_id,
                category=category,
                message=message,
                jobs=job,
                document=job.env[job.res_model].browse(job.res_id),
                fingerprint_key=f"{job.res_model},{job.res_id}",
            )
